"""Intake → screening → safety → care pathway through the JSON API (issue #3)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.core.actor import Role
from careweave.identity import service as identity
from careweave.patients import service as patients
from careweave.safety import service as safety
from careweave.safety.models import SafetyAlert
from careweave.screening.models import ScreeningResponse
from tests.builders import join_team, make_user
from tests.helpers import bearer, enrolled_headers


def _patient(client, session, settings):
    user = make_user(session, settings, Role.PATIENT)
    pid = patients.patient_id_for_user(session, user.id)
    session.commit()
    return pid, bearer(client, user.email)


def _clinician(client, session, settings, clock, role=Role.PSYCHIATRIST):
    return enrolled_headers(client, session, settings, clock, role)


def test_intake_partial_updates_and_validation(client, session, settings):
    pid, headers = _patient(client, session, settings)
    url = f"/api/v1/patients/{pid}/intake"
    first = client.get(url, headers=headers)
    assert first.status_code == 200
    assert "state" in first.json()["missing"]
    r = client.put(
        url, headers=headers, json={"state": "TX", "timezone": "America/Chicago", "language": "es"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "TX"
    r = client.put(
        url,
        headers=headers,
        json={
            "treatment_preference": "both",
            "goals": ["symptom_relief"],
            "current_medications": ["Sertraline 50 mg"],
            "history": {
                "bipolar": False,
                "psychosis": False,
                "trauma": True,
                "mood_elevation": False,
                "antidepressant_trials": 1,
            },
            "coverage": {"type": "self_pay"},
            "birth_date": "1991-02-03",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["language"] == "es"  # earlier fields kept
    assert body["history"]["trauma"] is True
    assert body["missing"] == []
    done = client.put(url, headers=headers, json={"complete": True})
    assert done.json()["completed_at"] is not None
    for bad, field in (
        ({"treatment_preference": "pills"}, "treatment_preference"),
        ({"state": "ZZ"}, "state"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"history": {"bipolar": "maybe"}}, "history.bipolar"),
        ({"colour": "red"}, "colour"),
    ):
        r = client.put(url, headers=headers, json=bad)
        assert r.status_code == 422, bad
        assert field in {f["field"] for f in r.json()["error"]["fields"]}, r.json()


def test_instruments_are_listed_with_items_in_order(client):
    codes = {i["code"] for i in client.get("/api/v1/instruments").json()}
    assert codes == {"phq-2", "phq-9", "gad-2", "gad-7", "mdq", "audit-c", "c-ssrs-screener", "pcl-5"}
    phq9 = client.get("/api/v1/instruments/phq-9").json()
    assert len(phq9["items"]) == 9
    assert phq9["items"][8]["loinc"] == "44260-8"
    assert [o["value"] for o in phq9["items"][0]["options"]] == [0, 1, 2, 3]
    assert client.get("/api/v1/instruments/nope").status_code == 404


def test_bad_answers_are_422_naming_the_item_and_nothing_is_stored(client, session, settings):
    pid, headers = _patient(client, session, settings)
    url = f"/api/v1/patients/{pid}/screenings"
    r = client.post(
        url, headers=headers, json={"instrument": "phq-9", "answers": [0, 1, 2, 3, 4, 0, 0, 0, 0]}
    )
    assert r.status_code == 422
    assert "answers[4]" in {f["field"] for f in r.json()["error"]["fields"]}
    r = client.post(url, headers=headers, json={"instrument": "phq-9", "answers": [0, 1]})
    assert r.status_code == 422
    r = client.post(url, headers=headers, json={"instrument": "phq-9", "answers": [True] * 9})
    assert r.status_code == 422
    r = client.post(url, headers=headers, json={"instrument": "phq-11", "answers": [0]})
    assert r.status_code == 422
    assert session.scalars(select(ScreeningResponse).where(ScreeningResponse.patient_id == pid)).all() == []


def test_screening_flow_to_a_recommendation(client, session, settings):
    pid, headers = _patient(client, session, settings)
    client.put(f"/api/v1/patients/{pid}/intake", headers=headers, json={"treatment_preference": "unsure"})
    url = f"/api/v1/patients/{pid}/screenings"
    r = client.post(url, headers=headers, json={"instrument": "phq-2", "answers": [2, 2]})
    assert r.status_code == 201, r.text
    assert r.json()["positive"] is True
    assert r.json()["next_instruments"][0] == "phq-9"
    r = client.post(
        url, headers=headers, json={"instrument": "phq-9", "answers": [2, 2, 2, 2, 2, 2, 2, 2, 0]}
    )
    body = r.json()
    assert (body["total"], body["severity"], body["crisis"]) == (16, "moderately_severe", False)
    pathway = client.get(f"/api/v1/patients/{pid}/care-pathway", headers=headers).json()
    assert pathway["pathway"] == "both"
    assert pathway["urgency"] == "routine"
    assert pathway["reasons"]
    assert pathway["rule_trace"][0]["rule"].startswith("step0")
    history = client.get(url, headers=headers).json()
    assert [h["instrument"] for h in history] == ["phq-2", "phq-9"]


def test_item_9_raises_an_alert_cssrs_high_stops_scheduling(client, session, settings, clock, mailer):
    pid, headers = _patient(client, session, settings)
    dr, dr_headers = _clinician(client, session, settings, clock)
    safety.set_roster(
        session, identity.actor_for(session, make_user(session, settings, Role.ADMIN)), [dr.id], clock=clock
    )
    session.commit()
    url = f"/api/v1/patients/{pid}/screenings"
    r = client.post(
        url, headers=headers, json={"instrument": "phq-9", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 1]}
    )
    body = r.json()
    assert body["crisis"] is True
    assert "suicide_item_positive" in body["flags"]
    assert body["next_instruments"][0] == "c-ssrs-screener"
    alert = session.get(SafetyAlert, uuid.UUID(body["safety_alert_id"]))
    assert (alert.level, alert.assigned_user_id) == ("moderate", dr.id)
    r = client.post(
        url, headers=headers, json={"instrument": "c-ssrs-screener", "answers": [1, 1, 1, 1, 0, 0]}
    )
    assert r.json()["risk_level"] == "high"
    session.refresh(alert)
    assert alert.level == "high"
    pathway = client.get(f"/api/v1/patients/{pid}/care-pathway", headers=headers).json()
    assert (pathway["pathway"], pathway["urgency"], pathway["self_scheduling_allowed"]) == (
        "urgent",
        "emergency",
        False,
    )
    queue = client.get("/api/v1/safety-alerts", headers=dr_headers).json()
    assert [(a["id"], a["level"]) for a in queue] == [(str(alert.id), "high")]
    assert client.get("/api/v1/safety-alerts", headers=headers).status_code == 403
    ack = client.post(
        f"/api/v1/safety-alerts/{alert.id}/acknowledge", headers=dr_headers, json={"note": "called"}
    )
    assert ack.status_code == 200
    assert client.post(f"/api/v1/safety-alerts/{alert.id}/acknowledge", headers=dr_headers).status_code == 409
    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.patient_id == pid)))
    assert {
        "screening.submitted",
        "safety_alert.raised",
        "safety_alert.updated",
        "safety_alert.acknowledged",
        "care_pathway.viewed",
    } <= actions
    assert any("safety alert" in m.subject.lower() for m in mailer.sent)


def test_patient_cannot_post_for_another_patient(client, session, settings):
    _, headers = _patient(client, session, settings)
    other, _ = _patient(client, session, settings)
    r = client.post(
        f"/api/v1/patients/{other}/screenings",
        headers=headers,
        json={"instrument": "phq-2", "answers": [0, 0]},
    )
    assert r.status_code == 404
    assert client.get(f"/api/v1/patients/{other}/care-pathway", headers=headers).status_code == 404
    assert client.get(f"/api/v1/patients/{other}/intake", headers=headers).status_code == 404


def test_clinician_overrides_with_a_reason(client, session, settings, clock):
    pid, headers = _patient(client, session, settings)
    client.post(
        f"/api/v1/patients/{pid}/screenings", headers=headers, json={"instrument": "phq-2", "answers": [0, 1]}
    )
    dr, dr_headers = _clinician(client, session, settings, clock, role=Role.THERAPIST)
    join_team(session, uuid.UUID(str(pid)), dr)
    session.commit()
    url = f"/api/v1/patients/{pid}/care-pathway/override"
    assert (
        client.post(url, headers=dr_headers, json={"pathway": "therapy", "reason": "short"}).status_code
        == 422
    )
    r = client.post(
        url, headers=dr_headers, json={"pathway": "therapy", "reason": "Prefers weekly CBT; reviewed."}
    )
    assert r.status_code == 201, r.text
    assert r.json()["pathway"] == "therapy"
    assert r.json()["override"]["reason"] == "Prefers weekly CBT; reviewed."
    assert (
        client.post(
            url, headers=headers, json={"pathway": "both", "reason": "I want both please"}
        ).status_code
        == 404
    )


def test_patient_asks_for_help_now(client, session, settings, clock):
    pid, headers = _patient(client, session, settings)
    r = client.post(f"/api/v1/patients/{pid}/safety-help", headers=headers)
    assert r.status_code == 201
    assert r.json()["level"] == "high"
    pathway = client.get(f"/api/v1/patients/{pid}/care-pathway", headers=headers).json()
    assert (pathway["pathway"], pathway["urgency"], pathway["self_scheduling_allowed"]) == (
        "urgent",
        "emergency",
        False,
    )
    fired = {s["rule"] for s in pathway["rule_trace"] if s["fired"]}
    assert "step0.emergency.imminent_risk_reported" in fired
    other, _ = _patient(client, session, settings)
    assert client.post(f"/api/v1/patients/{other}/safety-help", headers=headers).status_code == 404
