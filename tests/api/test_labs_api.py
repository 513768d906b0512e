"""Labs over the API (issue #7): lab orders, the HL7 v2 ORU^R01 endpoint (ACK, 422 naming the field, 415,
403), manual results with their alert, alerts list and acknowledgement."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.identity import service as identity
from careweave.labs import service as labs
from careweave.labs.models import LabAlert, LabMessage, LabResult, MonitoringPlan
from tests.builders import join_team, make_prescription, make_user
from tests.helpers import bearer

HL7 = Path(__file__).parent.parent / "data" / "hl7"
MEDIA = {"Content-Type": "x-application/hl7-v2+er7"}


@pytest.fixture
def w(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    users = {
        "ana": make_user(session, settings, Role.PATIENT, state="NY"),
        "ben": make_user(session, settings, Role.PSYCHIATRIST),
        "dee": make_user(session, settings, Role.ADMIN),
        "cara": make_user(session, settings, Role.THERAPIST),
        "eve": make_user(session, settings, Role.THERAPIST),
    }
    pid = identity.actor_for(session, users["ana"]).patient_id
    join_team(session, pid, users["ben"])
    join_team(session, pid, users["cara"])  # on the team; medications not shared with her
    rx = make_prescription(session, patient_id=pid, prescriber=users["ben"], started_on=date.today())
    labs.start_monitoring(
        session,
        prescription_id=rx.id,
        patient_id=pid,
        protocol="lithium",
        started_on=date.today(),
        actor=identity.actor_for(session, users["ben"]),
    )
    session.commit()
    return {
        "pid": pid,
        "users": users,
        "h": {k: bearer(client, u.email) for k, u in users.items()},
    }


def message(pid) -> str:  # type: ignore[no-untyped-def]
    return (HL7 / "oru_r01_lithium.hl7").read_text().replace("{patient_id}", str(pid))


def test_lab_orders(client, w):
    r = client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["ben"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body) == 28 and body[0]["status"] == "ordered" and body[0]["overdue"] is False
    assert {o["loinc"] for o in body} >= {"14334-7", "11579-0", "17861-6", "58410-2"}
    assert client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["ana"]).status_code == 200
    assert client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["dee"]).status_code == 404


def test_hl7_ingest_ack_and_alert(client, session, w):
    r = client.post(
        "/api/v1/lab-results/hl7v2", content=message(w["pid"]), headers={**w["h"]["dee"], **MEDIA}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("x-application/hl7-v2+er7")
    assert r.text.startswith("MSH|") and "\rMSA|AA|LI-0001" in r.text
    alerts = client.get("/api/v1/lab-alerts", headers=w["h"]["ben"]).json()
    assert [a["code"] for a in alerts] == ["lithium.toxicity"] and alerts[0]["severity"] == "critical"
    ack = client.post(f"/api/v1/lab-alerts/{alerts[0]['id']}/acknowledge", headers=w["h"]["ben"])
    assert ack.status_code == 200 and ack.json()["acknowledged_at"]
    assert client.get("/api/v1/lab-alerts", headers=w["h"]["ben"]).json() == []
    assert len(client.get("/api/v1/lab-alerts?all=true", headers=w["h"]["ben"]).json()) == 1
    results = client.get(f"/api/v1/patients/{w['pid']}/lab-results", headers=w["h"]["ben"]).json()
    assert results[0]["value"] == 1.6 and results[0]["source"] == "hl7v2"


def test_hl7_malformed_422_nothing_stored(client, session, w):
    bad = (HL7 / "oru_r01_malformed_value.hl7").read_text().replace("{patient_id}", str(w["pid"]))
    r = client.post(
        "/api/v1/lab-results/hl7v2", content=bad, headers={**w["h"]["ben"], "Content-Type": "text/plain"}
    )
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "labs.malformed_hl7v2" and err["fields"][0]["field"] == "OBX[1]-5"
    # a unit the protocol cannot read fails the whole message, after earlier writes: all rolled back
    unit = message(w["pid"]).replace("mmol/L^millimole per liter^UCUM", "g/dL")
    assert (
        client.post("/api/v1/lab-results/hl7v2", content=unit, headers={**w["h"]["ben"], **MEDIA}).status_code
        == 422
    )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(LabResult)) == 0


def test_hl7_refusals(client, w):
    r = client.post(
        "/api/v1/lab-results/hl7v2", content=message(w["pid"]), headers={**w["h"]["ana"], **MEDIA}
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/lab-results/hl7v2",
        content=message(w["pid"]),
        headers={**w["h"]["ben"], "Content-Type": "application/json"},
    )
    assert r.status_code == 415
    assert (
        client.post("/api/v1/lab-results/hl7v2", content=message(w["pid"]), headers=MEDIA).status_code == 401
    )


def test_manual_result(client, w):
    body = {"loinc": "14334-7", "value": 0.7, "unit": "mmol/L", "observed_at": "2026-01-05T09:00:00Z"}
    r = client.post(f"/api/v1/patients/{w['pid']}/lab-results", json=body, headers=w["h"]["ben"])
    assert r.status_code == 201, r.text
    assert r.json()["result"]["source"] == "manual" and r.json()["alert"] is None
    r = client.post(
        f"/api/v1/patients/{w['pid']}/lab-results", json={**body, "value": 1.5}, headers=w["h"]["ben"]
    )
    assert r.json()["alert"]["code"] == "lithium.toxicity"
    assert (
        client.post(f"/api/v1/patients/{w['pid']}/lab-results", json=body, headers=w["h"]["ana"]).status_code
        == 403
    )


def count(session, model) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def test_hl7_therapist_without_consent_refused_nothing_stored(client, session, w):
    """Issue #7 review: a therapist without consent posted a lithium result (200 AA) that raised alerts."""
    r = client.post(
        "/api/v1/lab-results/hl7v2", content=message(w["pid"]), headers={**w["h"]["cara"], **MEDIA}
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "consent_required"
    # a therapist off the team gets exactly the unknown-patient answer
    hidden = client.post(
        "/api/v1/lab-results/hl7v2", content=message(w["pid"]), headers={**w["h"]["eve"], **MEDIA}
    )
    unknown = client.post(
        "/api/v1/lab-results/hl7v2",
        content=message("00000000-0000-4000-8000-000000000000"),
        headers={**w["h"]["eve"], **MEDIA},
    )
    assert hidden.status_code == unknown.status_code == 422
    strip = lambda body: {k: v for k, v in body["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(hidden.json()) == strip(unknown.json())
    assert (
        count(session, LabResult) == 0 and count(session, LabAlert) == 0 and count(session, LabMessage) == 0
    )


def test_hl7_two_patients_422(client, session, w, settings):
    other = identity.actor_for(session, make_user(session, settings, Role.PATIENT, state="NY")).patient_id
    session.commit()
    text = message(w["pid"]).strip().replace("\n", "\r")
    second = text.split("\r")[1:]
    second[0] = second[0].replace(str(w["pid"]), str(other))
    two = text + "\r" + "\r".join(second)
    r = client.post("/api/v1/lab-results/hl7v2", content=two, headers={**w["h"]["dee"], **MEDIA})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"][0]["field"] == "PID"
    assert count(session, LabResult) == 0 and count(session, LabMessage) == 0


def test_manual_result_non_finite_422(client, session, w):
    for raw in (
        '{"loinc": "14334-7", "value": NaN, "unit": "mmol/L", "observed_at": "2026-01-05T09:00:00Z"}',
        '{"loinc": "14334-7", "value": Infinity, "unit": "mmol/L", "observed_at": "2026-01-05T09:00:00Z"}',
    ):
        r = client.post(
            f"/api/v1/patients/{w['pid']}/lab-results",
            content=raw,
            headers={**w["h"]["ben"], "Content-Type": "application/json"},
        )
        assert r.status_code == 422, r.text
        assert "value" in r.text
    assert count(session, LabResult) == 0


def test_overdue_is_the_patients_day(client, session, w):
    """Issue #7 review: the API marked items overdue by the UTC day. At 02:00 UTC it is still the previous day in
    New York (the patient's zone): an order due that day is not overdue yet."""
    # yesterday 02:00 UTC: in the past, so the bearer tokens are still valid at both instants below
    at = (datetime.now(UTC) - timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
    local_day = at.date() - timedelta(days=1)  # the date in New York at 02:00 UTC
    rx = make_prescription(
        session, patient_id=w["pid"], prescriber=w["users"]["ben"], code="valproate", started_on=local_day
    )
    labs.start_monitoring(
        session,
        prescription_id=rx.id,
        patient_id=w["pid"],
        protocol="valproate",
        started_on=local_day,
        actor=identity.actor_for(session, w["users"]["ben"]),
    )
    session.commit()
    client.app.state.clock = FixedClock(at)
    body = client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["ben"]).json()
    due_today = [o for o in body if o["due_on"] == local_day.isoformat()]
    assert due_today and not any(o["overdue"] for o in due_today)
    client.app.state.clock = FixedClock(at + timedelta(hours=5))  # 02:00 in New York the next day
    body = client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["ben"]).json()
    assert all(o["overdue"] for o in body if o["due_on"] == local_day.isoformat())


def test_ben_endpoint(client, session, w):
    rx = make_prescription(session, patient_id=w["pid"], prescriber=w["users"]["ben"], code="clozapine")
    plan = labs.start_monitoring(
        session,
        prescription_id=rx.id,
        patient_id=w["pid"],
        protocol="clozapine",
        started_on=date.today(),
        actor=identity.actor_for(session, w["users"]["ben"]),
    )
    lithium = session.scalars(select(MonitoringPlan).where(MonitoringPlan.protocol == "lithium")).one()
    session.commit()
    url = f"/api/v1/monitoring-plans/{plan.id}/ben"
    assert client.post(url, json={"ben": True}, headers=w["h"]["cara"]).status_code == 403  # no consent
    assert client.post(url, json={"ben": True}, headers=w["h"]["eve"]).status_code == 404  # not on the team
    assert (
        client.post(url, json={"ben": True}, headers=w["h"]["ana"]).status_code == 403
    )  # not the prescriber
    assert client.post(url, json={"ben": True}, headers=w["h"]["dee"]).status_code == 404
    r = client.post(url, json={"ben": True}, headers=w["h"]["ben"])
    assert r.status_code == 200, r.text
    assert r.json()["ben"] is True and r.json()["protocol"] == "clozapine"
    # an ANC of 1,200/µL is no neutropenia alert now (spec §6.4: ≥ 1,000/µL in BEN)
    body = {"loinc": "751-8", "value": 1200, "unit": "/uL", "observed_at": datetime.now(UTC).isoformat()}
    res = client.post(f"/api/v1/patients/{w['pid']}/lab-results", json=body, headers=w["h"]["ben"])
    assert res.status_code == 201, res.text
    assert res.json()["alert"] is None
    assert (
        client.post(
            f"/api/v1/monitoring-plans/{lithium.id}/ben", json={"ben": True}, headers=w["h"]["ben"]
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/monitoring-plans/00000000-0000-4000-8000-000000000000/ben",
            json={"ben": True},
            headers=w["h"]["ben"],
        ).status_code
        == 404
    )
