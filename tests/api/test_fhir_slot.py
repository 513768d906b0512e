"""FHIR R4 Schedule and Slot over a clinician's free time (spec §8.4): the free slots the scheduling API offers,
as R4B-valid resources; a booked time disappears; bad searches are OperationOutcomes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot

from tests.helpers import scheduling_api_world


@pytest.fixture
def w(client, session, settings):
    return scheduling_api_world(client, session, settings)


def _search(client, w, **params):
    params = {"schedule": f"Schedule/{w['provider'].id}", "service-type": "therapy_session", **params}
    return client.get("/fhir/Slot", params=params, headers=w["patient_headers"][0])


def test_free_slots_as_fhir_and_a_booked_one_disappears(client, w):
    r = _search(client, w)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json"), r.text
    bundle = Bundle.model_validate(r.json())
    slots = [e.resource for e in bundle.entry or []]
    assert slots, "the world's clinician has free time this week"
    for s in slots:
        Slot.model_validate(s.model_dump())
        assert s.status == "free" and s.schedule.reference == f"Schedule/{w['provider'].id}"
    # the same times as the scheduling API's
    api = client.get(
        f"/api/v1/providers/{w['provider'].id}/slots",
        params={
            "start": slots[0].start.isoformat(),
            "end": (slots[0].start + timedelta(days=1)).isoformat(),
            "visit_type": "therapy_session",
        },
        headers=w["patient_headers"][0],
    ).json()
    assert datetime.fromisoformat(api["slots"][0]["start"]) == slots[0].start
    booked = client.post(
        "/api/v1/appointments",
        headers=w["patient_headers"][0],
        json={
            "provider_id": str(w["provider"].id),
            "patient_id": str(w["patients"][0].patient_id),
            "start": slots[0].start.isoformat(),
            "visit_type": "therapy_session",
        },
    )
    assert booked.status_code == 201, booked.text
    again = _search(client, w).json()
    assert slots[0].id not in {e["resource"]["id"] for e in again.get("entry", [])}

    schedule = client.get(f"/fhir/Schedule/{w['provider'].id}", headers=w["patient_headers"][0])
    assert schedule.status_code == 200
    Schedule.model_validate(schedule.json())
    assert schedule.json()["actor"][0]["reference"] == f"Practitioner/{w['provider'].id}"


def test_a_window_given_with_prefixes(client, w):
    start = datetime.now().date() + timedelta(days=1)
    r = _search(client, w, start=[f"ge{start.isoformat()}", f"lt{(start + timedelta(days=3)).isoformat()}"])
    assert r.status_code == 200, r.text
    for e in r.json().get("entry", []):
        moment = datetime.fromisoformat(e["resource"]["start"])
        assert start.isoformat() <= moment.date().isoformat() <= (start + timedelta(days=3)).isoformat()


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"schedule": "nope"}, 422, "schedule"),
        ({"service-type": ""}, 422, "service-type"),
        ({"start": ["ge2026-13-40"]}, 422, "start"),
        ({"start": ["ge2027-01-01", "lt2027-03-01"]}, 422, "start"),
        ({"service-type": "surgery"}, 422, "visit_type"),
    ],
)
def test_bad_searches(client, w, params, status, field):
    r = _search(client, w, **params)
    assert r.status_code == status, r.text
    outcome = OperationOutcome.model_validate(r.json())
    assert outcome.issue and field in r.text, r.text


def test_unknown_clinician(client, w):
    r = client.get(
        "/fhir/Slot",
        params={"schedule": str(uuid.uuid4()), "service-type": "therapy_session"},
        headers=w["patient_headers"][0],
    )
    assert r.status_code == 404
    assert client.get(f"/fhir/Schedule/{uuid.uuid4()}", headers=w["patient_headers"][0]).status_code == 404


def test_book_a_slot_through_fhir_and_the_second_claim_is_refused(client, w):
    """POST /fhir/Appointment with a Slot reference books it through the scheduling service; the same slot again
    is a 409 OperationOutcome; the slot is gone from the next search."""
    found = _search(client, w).json()["entry"][0]["resource"]
    pid = str(w["patients"][0].patient_id)
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{found['id']}"}],
        "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}],
    }
    r = client.post(
        "/fhir/Appointment",
        json=body,
        headers={**w["patient_headers"][0], "content-type": "application/fhir+json"},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "booked" and created["start"] == found["start"]
    assert r.headers["location"].endswith(f"/fhir/Appointment/{created['id']}")
    assert found["id"] not in {e["resource"]["id"] for e in _search(client, w).json().get("entry", [])}
    again = client.post("/fhir/Appointment", json=body, headers=w["patient_headers"][0])
    assert again.status_code == 409, again.text
    OperationOutcome.model_validate(again.json())


def test_book_by_start_and_visit_type(client, w):
    found = _search(client, w).json()["entry"][1]["resource"]
    body = {
        "resourceType": "Appointment",
        "start": found["start"],
        "appointmentType": {"coding": [{"code": "therapy_session"}]},
        "participant": [
            {"actor": {"reference": f"Patient/{w['patients'][0].patient_id}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{w['provider'].id}"}, "status": "accepted"},
        ],
    }
    r = client.post("/fhir/Appointment", json=body, headers=w["patient_headers"][0])
    assert r.status_code == 201, r.text
    assert r.json()["participant"][1]["actor"]["reference"] == f"Practitioner/{w['provider'].id}"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"resourceType": "Patient"}, "resourceType"),
        ({"status": "cancelled"}, "status"),
        ({"participant": []}, "participant"),
        ({"participant": "nope"}, "participant"),
        ({"start": "tomorrow"}, "start"),
        ({"start": "2026-12-01T10:00:00"}, "start"),
        ({"appointmentType": {"coding": {"code": 1}}}, "appointmentType"),
        ({"slot": [{"reference": "Slot/not-a-slot"}]}, "slot"),
        ({"slot": [{"reference": 5}]}, "slot"),
        ({"participant": [{"actor": "Patient/x"}]}, "participant"),
        ({"appointmentType": {"text": "therapy\u0000session"}}, "appointmentType"),
    ],
)
def test_a_bad_create_names_the_field(client, w, change, field):
    body = {
        "resourceType": "Appointment",
        "start": "2026-12-01T15:00:00Z",
        "appointmentType": {"coding": [{"code": "therapy_session"}]},
        "participant": [
            {"actor": {"reference": f"Patient/{w['patients'][0].patient_id}"}},
            {"actor": {"reference": f"Practitioner/{w['provider'].id}"}},
        ],
        **change,
    }
    r = client.post("/fhir/Appointment", json=body, headers=w["patient_headers"][0])
    assert r.status_code == 422, r.text
    OperationOutcome.model_validate(r.json())
    assert field in r.text


def test_another_patient_cannot_book_for_someone_else(client, w):
    found = _search(client, w).json()["entry"][2]["resource"]
    body = {
        "resourceType": "Appointment",
        "slot": [{"reference": f"Slot/{found['id']}"}],
        "participant": [{"actor": {"reference": f"Patient/{w['patients'][0].patient_id}"}}],
    }
    r = client.post("/fhir/Appointment", json=body, headers=w["patient_headers"][1])
    assert r.status_code in (403, 404), r.text


@pytest.mark.parametrize(
    "params",
    [
        {"start": "ge9999-12-31"},
        {"service-type": "therapy\x00session"},
    ],
)
def test_odd_slot_searches_are_refused_not_500(client, w, params):
    r = _search(client, w, **params)
    assert r.status_code in (400, 422), r.text
    OperationOutcome.model_validate(r.json())
