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
