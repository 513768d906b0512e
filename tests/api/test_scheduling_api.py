"""The scheduling API (issue #5): availability, slots with both zones, booking (201/409/422 with reasons),
cancel/reschedule/no-show, series with per-occurrence results, waitlist, calendar file, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.api.test_bad_input import assert_error
from tests.helpers import scheduling_api_world

NY = ZoneInfo("America/New_York")


@pytest.fixture
def world(client, session, settings):
    return scheduling_api_world(client, session, settings)


def next_weekday_10am(days_ahead: int = 2) -> datetime:
    day = datetime.now(NY).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(10), tzinfo=NY)


def booking(w, i=0, start=None, visit_type="therapy_session"):
    return {
        "provider_id": str(w["provider"].id),
        "patient_id": str(w["patients"][i].patient_id),
        "start": (start or next_weekday_10am()).isoformat(),
        "visit_type": visit_type,
    }


def test_visit_types_and_availability_round_trip(client, world):
    r = client.get("/api/v1/visit-types", headers=world["patient_headers"][0])
    assert r.status_code == 200
    assert {v["code"]: v["duration_minutes"] for v in r.json()}["therapy_session"] == 50
    pid = world["provider"].id
    body = {
        "timezone": "America/Chicago",
        "weekly": [{"weekday": 0, "start": "09:00", "end": "12:00", "visit_types": ["therapy_session"]}],
        "exceptions": [{"date": "2026-12-24", "available": False}],
        "buffer_minutes": 15,
    }
    r = client.put(f"/api/v1/providers/{pid}/availability", headers=world["headers"]["therapist"], json=body)
    assert r.status_code == 200, r.text
    got = client.get(f"/api/v1/providers/{pid}/availability", headers=world["patient_headers"][0]).json()
    assert got["timezone"] == "America/Chicago" and got["buffer_minutes"] == 15
    assert got["weekly"] == body["weekly"] and got["exceptions"][0]["date"] == "2026-12-24"
    # a patient cannot change a clinician's hours (and learns nothing)
    r = client.put(f"/api/v1/providers/{pid}/availability", headers=world["patient_headers"][0], json=body)
    assert_error(r, 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"weekly": [{"weekday": 7, "start": "09:00", "end": "10:00"}]}, "weekday"),
        ({"weekly": [{"weekday": 0, "start": "9am", "end": "10:00"}]}, "start"),
        ({"weekly": [{"weekday": 0, "start": "11:00", "end": "10:00"}]}, "weekly[0]"),
        (
            {
                "weekly": [
                    {"weekday": 0, "start": "09:00", "end": "11:00"},
                    {"weekday": 0, "start": "10:00", "end": "12:00"},
                ]
            },
            "weekly[1]",
        ),
        (
            {"weekly": [{"weekday": 0, "start": "09:00", "end": "10:00", "visit_types": ["spa"]}]},
            "visit_types",
        ),
        ({"buffer_minutes": 7}, "buffer_minutes"),
        ({"exceptions": [{"date": "2026-12-24", "start": "10:00"}]}, "exceptions[0]"),
    ],
)
def test_bad_availability_is_422_naming_the_field(client, world, change, field):
    body = {
        "timezone": "America/New_York",
        "weekly": [{"weekday": 0, "start": "09:00", "end": "17:00"}],
        **change,
    }
    r = client.put(
        f"/api/v1/providers/{world['provider'].id}/availability", headers=world["headers"]["admin"], json=body
    )
    err = assert_error(r, 422)
    assert any(field in f["field"] for f in err["fields"]), err


def test_slots_book_conflict_and_lifecycle(client, world):
    pid = world["provider"].id
    start = next_weekday_10am()
    window = {
        "start": (start - timedelta(hours=2)).isoformat(),
        "end": (start + timedelta(hours=4)).isoformat(),
    }
    r = client.get(
        f"/api/v1/providers/{pid}/slots",
        params={**window, "visit_type": "therapy_session"},
        headers=world["patient_headers"][0],
    )
    assert r.status_code == 200, r.text
    listing = r.json()
    assert listing["timezone"] == "America/Los_Angeles" and listing["provider_timezone"] == "America/New_York"
    first = listing["slots"][0]
    assert first["start_local"].endswith(("-08:00", "-07:00"))
    assert ("PST" in first["label"]) or ("PDT" in first["label"])
    r = client.post(
        "/api/v1/appointments", headers=world["patient_headers"][0], json=booking(world, 0, start)
    )
    assert r.status_code == 201, r.text
    appt = r.json()
    assert appt["status"] == "booked" and appt["visit_url"] == f"/visits/{appt['id']}"
    assert "7:00 AM" in appt["patient_label"]  # 10:00 in New York is 7:00 in Los Angeles
    assert "10:00 AM" in appt["provider_label"]
    # the other patient gets a clean 409
    r = client.post(
        "/api/v1/appointments", headers=world["patient_headers"][1], json=booking(world, 1, start)
    )
    assert_error(r, 409, "slot_taken")
    # calendar file
    ics = client.get(f"/api/v1/appointments/{appt['id']}.ics", headers=world["patient_headers"][0])
    assert ics.status_code == 200 and b"UID:" in ics.content and b"SEQUENCE:0" in ics.content
    # reschedule: same id, sequence + 1
    moved_to = start + timedelta(hours=2)
    r = client.post(
        f"/api/v1/appointments/{appt['id']}/reschedule",
        headers=world["patient_headers"][0],
        json={"start": moved_to.isoformat()},
    )
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["start"]) == moved_to.astimezone(UTC)
    assert (
        b"SEQUENCE:1"
        in client.get(f"/api/v1/appointments/{appt['id']}.ics", headers=world["patient_headers"][0]).content
    )
    # the other patient cannot see, move or cancel it
    for method, path in (("get", ""), ("post", "/cancel"), ("post", "/no-show"), ("post", "/complete")):
        r = getattr(client, method)(
            f"/api/v1/appointments/{appt['id']}{path}", headers=world["patient_headers"][1]
        )
        assert_error(r, 404)
    listed = client.get("/api/v1/appointments", headers=world["headers"]["therapist"]).json()
    assert [a["id"] for a in listed] == [appt["id"]]
    assert client.get("/api/v1/appointments", headers=world["patient_headers"][1]).json() == []
    # no-show and completed before the start are refused
    for path in ("no-show", "complete"):
        err = assert_error(
            client.post(f"/api/v1/appointments/{appt['id']}/{path}", headers=world["headers"]["therapist"]),
            409,
        )
        assert "after its start" in err["message"]
    r = client.post(
        f"/api/v1/appointments/{appt['id']}/cancel",
        headers=world["patient_headers"][0],
        json={"reason": "travel"},
    )
    assert r.status_code == 200 and r.json()[0]["status"] == "cancelled"
    assert_error(
        client.post(f"/api/v1/appointments/{appt['id']}/cancel", headers=world["patient_headers"][0]), 409
    )


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"start": "2026-03-03T10:00:00"}, 422, "start"),  # naive
        ({"start": 1700000000}, 422, "start"),  # a number is not a time
        ({"visit_type": "Spa Day"}, 422, "visit_type"),
        ({"visit_type": "spa_day"}, 422, "visit_type"),
        ({"provider_id": "not-a-uuid"}, 422, "provider_id"),
        ({"extra": 1}, 422, "extra"),
    ],
)
def test_bad_booking_input(client, world, change, status, field):
    r = client.post(
        "/api/v1/appointments", headers=world["patient_headers"][0], json={**booking(world), **change}
    )
    err = assert_error(r, status)
    assert any(field in f["field"] for f in err["fields"]), err


def test_booking_refusals_say_why(client, world):
    h = world["patient_headers"][0]
    r = client.post(
        "/api/v1/appointments", headers=h, json=booking(world, visit_type="medication_management_20")
    )
    err = assert_error(r, 422, "ineligible")
    assert "medication management" in err["message"]
    saturday = next_weekday_10am()
    while saturday.weekday() != 5:
        saturday += timedelta(days=1)
    err = assert_error(
        client.post("/api/v1/appointments", headers=h, json=booking(world, start=saturday)), 422
    )
    assert "not available" in err["message"]
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=10)
    soon -= timedelta(minutes=soon.minute % 5)
    err = assert_error(client.post("/api/v1/appointments", headers=h, json=booking(world, start=soon)), 422)
    assert "too soon" in err["message"] or "not available" in err["message"]
    r = client.post(
        "/api/v1/appointments",
        headers=h,
        json={**booking(world), "provider_id": "00000000-0000-0000-0000-000000000000"},
    )
    assert_error(r, 404)


def test_series_per_occurrence_and_waitlist(client, world):
    h0, h1 = world["patient_headers"]
    start = next_weekday_10am()
    # patient 1 takes the second week's slot first
    r = client.post("/api/v1/appointments", headers=h1, json=booking(world, 1, start + timedelta(weeks=1)))
    assert r.status_code == 201
    r = client.post(
        "/api/v1/appointment-series",
        headers=h0,
        json={**booking(world, 0, start), "every_weeks": 1, "count": 4},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert [o["status"] for o in body["occurrences"]] == ["booked", "conflict", "booked", "booked"]
    assert body["booked"] == 3 and body["occurrences"][1]["reason"]
    assert_error(
        client.post(
            "/api/v1/appointment-series", headers=h0, json={**booking(world, 0, start), "every_weeks": 1}
        ),
        422,
    )
    # waitlist: patient 1 waits; patient 0 cancels the third occurrence; patient 1 is offered it
    third = body["occurrences"][2]
    r = client.post(
        "/api/v1/waitlist",
        headers=h1,
        json={
            "patient_id": str(world["patients"][1].patient_id),
            "provider_id": str(world["provider"].id),
            "visit_type": "therapy_session",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(weeks=3)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    client.post(f"/api/v1/appointments/{third['appointment_id']}/cancel", headers=h0)
    waiting = client.get("/api/v1/waitlist", headers=h1).json()
    (offer,) = waiting[0]["offers"]
    assert offer["status"] == "open" and offer["start_at"].startswith(third["start"][:16])
    r = client.post(f"/api/v1/waitlist/offers/{offer['id']}/accept", headers=h1)
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/waitlist", headers=h1).json() == []  # booked: no longer waiting
    assert_error(client.delete(f"/api/v1/waitlist/{entry['id']}", headers=h0), 404)


def test_slots_for_a_visit_type_the_provider_does_not_offer_is_422_like_booking(client, world):
    """The therapist offers therapy only: asking for medication-management slots is refused as booking one
    would be (naming visit_type), not answered with an empty list."""
    start = next_weekday_10am()
    r = client.get(
        f"/api/v1/providers/{world['provider'].id}/slots",
        params={
            "start": start.isoformat(),
            "end": (start + timedelta(days=1)).isoformat(),
            "visit_type": "medication_management_30",
        },
        headers=world["patient_headers"][0],
    )
    err = assert_error(r, 422)
    assert "does not offer medication management (30 min) visits" in err["message"]
    assert [f["field"] for f in err["fields"]] == ["visit_type"]
    r = client.post(
        "/api/v1/appointments",
        headers=world["patient_headers"][0],
        json=booking(world, 0, start, visit_type="medication_management_30"),
    )
    assert_error(r, 422)
