"""FHIR R4 Appointment for visits (spec §8.4): read and search by patient, validated with fhir.resources R4B
models; gated and audited like the scheduling API."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from tests.helpers import scheduling_api_world

NY = ZoneInfo("America/New_York")


@pytest.fixture
def w(client, session, settings):
    return scheduling_api_world(client, session, settings)


def _book(client, w, i=0, days=2):
    day = datetime.now(NY).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    body = {
        "provider_id": str(w["provider"].id),
        "patient_id": str(w["patients"][i].patient_id),
        "start": datetime.combine(day, time(10), tzinfo=NY).isoformat(),
        "visit_type": "therapy_session",
    }
    r = client.post("/api/v1/appointments", headers=w["patient_headers"][i], json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_read_and_search_a_patients_visits(client, w, session):
    first = _book(client, w)
    second = _book(client, w, days=9)
    client.post(
        f"/api/v1/appointments/{second['id']}/cancel",
        headers=w["patient_headers"][0],
        json={"reason": "travel"},
    )
    pid = w["patients"][0].patient_id
    r = client.get(f"/fhir/Appointment/{first['id']}", headers=w["patient_headers"][0])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    Appointment.model_validate(body)
    assert body["status"] == "booked" and body["minutesDuration"] == 50
    assert [p["actor"]["reference"] for p in body["participant"]] == [
        f"Patient/{pid}",
        f"Practitioner/{w['provider'].id}",
    ]
    assert body["start"].endswith("Z") and datetime.fromisoformat(body["start"]).tzinfo is not None
    # the practitioner reference resolves
    assert (
        client.get(
            f"/fhir/{body['participant'][1]['actor']['reference']}", headers=w["patient_headers"][0]
        ).status_code
        == 200
    )

    for headers in (w["patient_headers"][0], w["headers"]["therapist"], w["headers"]["admin"]):
        r = client.get("/fhir/Appointment", params={"patient": str(pid)}, headers=headers)
        assert r.status_code == 200, r.text
        bundle = Bundle.model_validate(r.json())
        by_id = {e.resource.id: e.resource for e in bundle.entry or []}
        assert set(by_id) == {first["id"], second["id"]}
        assert by_id[second["id"]].status == "cancelled"
        assert by_id[second["id"]].cancelationReason.text == "travel"
    cancelled = client.get(
        "/fhir/Appointment",
        params={"subject": f"Patient/{pid}", "status": "cancelled"},
        headers=w["headers"]["admin"],
    ).json()
    assert [e["resource"]["id"] for e in cancelled["entry"]] == [second["id"]]
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("appointment.%"))).all()
    assert "appointment.read" in actions and "appointment.list" in actions


def test_another_patient_gets_404_and_bad_searches_are_outcomes(client, w):
    appt = _book(client, w)
    r = client.get(f"/fhir/Appointment/{appt['id']}", headers=w["patient_headers"][1])
    assert r.status_code == 404
    OperationOutcome.model_validate(r.json())
    other = client.get(
        "/fhir/Appointment",
        params={"patient": str(w["patients"][0].patient_id)},
        headers=w["patient_headers"][1],
    ).json()
    assert other["total"] == 0  # a patient's search is their own visits only
    for params in ({}, {"patient": "nope"}, {"patient": str(uuid.uuid4()), "status": "maybe"}):
        r = client.get("/fhir/Appointment", params=params, headers=w["headers"]["admin"])
        assert r.status_code == 422, (params, r.text)
        OperationOutcome.model_validate(r.json())
    assert client.get(f"/fhir/Appointment/{appt['id']}").status_code == 401


def _put(client, headers, resource, at=None):
    return client.put(f"/fhir/Appointment/{at or resource['id']}", headers=headers, json=resource)


def test_an_integrator_cancels_and_reschedules_with_put(client, w, session):
    """PUT with a new status or start runs the scheduling service's cancel / reschedule: the same rules,
    notices and audit as /api/v1; the answer is the resource as stored."""
    appt = _book(client, w)
    headers = w["patient_headers"][0]
    resource = client.get(f"/fhir/Appointment/{appt['id']}", headers=headers).json()

    same = _put(client, headers, resource)  # nothing asked: the visit as it is
    assert same.status_code == 200 and same.json()["status"] == "booked"

    later = datetime.fromisoformat(appt["start"]) + timedelta(hours=2)
    moved = _put(client, headers, resource | {"start": later.astimezone(NY).isoformat()})
    assert moved.status_code == 200, moved.text
    Appointment.model_validate(moved.json())
    assert datetime.fromisoformat(moved.json()["start"]) == later
    api = client.get(f"/api/v1/appointments/{appt['id']}", headers=headers).json()
    assert datetime.fromisoformat(api["start"]) == later and api["status"] == "booked"

    cancel = moved.json() | {"status": "cancelled", "cancelationReason": {"text": "feeling better"}}
    r = _put(client, headers, cancel)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancelationReason"]["text"] == "feeling better"
    api = client.get(f"/api/v1/appointments/{appt['id']}", headers=headers).json()
    assert api["status"] == "cancelled"
    assert _put(client, headers, cancel).status_code == 200  # sent again: already so
    again = _put(client, headers, cancel | {"status": "booked"})
    assert again.status_code == 409, again.text
    OperationOutcome.model_validate(again.json())

    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_id == appt["id"]).order_by(AuditEvent.occurred_at)
    ).all()
    assert "appointment.reschedule" in actions and "appointment.cancel" in actions


def test_put_refuses_what_a_visit_cannot_do(client, w):
    appt = _book(client, w)
    headers = w["patient_headers"][0]
    resource = client.get(f"/fhir/Appointment/{appt['id']}", headers=headers).json()
    other = str(uuid.uuid4())
    cases = {
        "resourceType": resource | {"resourceType": "Patient"},
        "id": resource | {"id": other},
        "status": resource | {"status": "maybe"},
        "participant": resource
        | {"participant": [{"actor": {"reference": f"Practitioner/{other}"}}, resource["participant"][0]]},
        "appointmentType": resource | {"appointmentType": {"text": "Psychiatric evaluation"}},
        "start": resource | {"start": "tomorrow"},
    }
    for field, body in cases.items():
        r = _put(client, headers, body, at=appt["id"])
        assert r.status_code == 422, (field, r.text)
        outcome = OperationOutcome.model_validate(r.json())
        assert field in r.text, (field, r.text)
        assert outcome.issue
    both = resource | {"status": "cancelled", "start": "2031-01-06T15:00:00Z"}
    assert _put(client, headers, both).status_code == 422
    nul = resource | {"status": "cancelled", "cancelationReason": {"text": "a\x00b"}}
    assert _put(client, headers, nul).status_code == 422
    not_an_object = client.put(f"/fhir/Appointment/{appt['id']}", headers=headers, json=[1, 2])
    assert not_an_object.status_code in (400, 422)
    # a no-show before the visit has started: the service's rule, 409
    early = _put(client, w["headers"]["therapist"], resource | {"status": "noshow"})
    assert early.status_code == 409, early.text
    # another patient cannot see it, so cannot change it
    assert _put(client, w["patient_headers"][1], resource | {"status": "cancelled"}).status_code == 404
    assert client.get(f"/api/v1/appointments/{appt['id']}", headers=headers).json()["status"] == "booked"


def test_a_page_of_a_search_reports_every_match_in_total(client, w):
    for days in (2, 9, 16):
        _book(client, w, days=days)
    pid = str(w["patients"][0].patient_id)
    page = client.get(
        "/fhir/Appointment", params={"patient": pid, "_count": 2}, headers=w["headers"]["admin"]
    )
    assert page.status_code == 200, page.text
    bundle = Bundle.model_validate(page.json())
    assert len(bundle.entry or []) == 2 and bundle.total == 3
    whole = client.get("/fhir/Appointment", params={"patient": pid}, headers=w["patient_headers"][0]).json()
    assert whole["total"] == 3 and len(whole["entry"]) == 3


def test_times_at_the_ends_of_the_calendar_are_422_not_500(client, w):
    """Review finding: 0001-01-01T00:00:00+14:00 overflowed converting to UTC (scheduling.service._utc) when a
    FHIR create or update named it; /api/v1 refused it in its schema."""
    appt = _book(client, w)
    headers = w["patient_headers"][0]
    resource = client.get(f"/fhir/Appointment/{appt['id']}", headers=headers).json()
    for start in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        moved = _put(client, headers, resource | {"start": start})
        assert moved.status_code == 422 and "out of range" in moved.text, moved.text
        create = {
            "resourceType": "Appointment",
            "start": start,
            "appointmentType": {"coding": [{"code": "therapy_session"}]},
            "participant": resource["participant"],
        }
        made = client.post("/fhir/Appointment", headers=headers, json=create)
        assert made.status_code == 422 and "out of range" in made.text, made.text
