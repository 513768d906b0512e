"""Calendar invitations (RFC 5545): parsed back with icalendar; an update keeps the UID and raises SEQUENCE."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from icalendar import Calendar

from careweave.scheduling.ics import PRODID, appointment_ics
from careweave.scheduling.models import Appointment
from careweave.scheduling.reminders import (
    format_visit_time,
    is_late,
    reminder_key,
    reminder_times,
    short_name,
)

START = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)  # 9:00 AM EST


def _appointment(**changes: object) -> Appointment:
    fields: dict[str, object] = {
        "id": uuid.UUID("00000000-0000-4000-8000-000000000001"),
        "provider_id": uuid.uuid4(),
        "patient_id": uuid.uuid4(),
        "visit_type": "therapy_session",
        "start_at": START,
        "end_at": START + timedelta(minutes=50),
        "block_end_at": START + timedelta(minutes=60),
        "status": "booked",
        "ics_uid": "00000000-0000-4000-8000-000000000001@careweave",
        "ics_sequence": 0,
        "created_at": START - timedelta(days=3),
        "updated_at": START - timedelta(days=2),
    }
    fields.update(changes)
    return Appointment(**fields)


def _parse(data: bytes) -> tuple[Calendar, object]:
    cal = Calendar.from_ical(data)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


def _ics(appt: Appointment, **kw: object) -> bytes:
    args: dict[str, object] = {
        "provider_name": "Dr. Ben Testpsych",
        "patient_name": "Ana",
        "visit_type_name": "Therapy session",
        "base_url": "http://testserver/",
    }
    args.update(kw)
    return appointment_ics(appt, **args)  # type: ignore[arg-type]


def test_request_has_the_rfc5545_fields():
    cal, event = _parse(_ics(_appointment(), attendee_email="ana@test.careweave.example"))
    assert str(cal["version"]) == "2.0"
    assert str(cal["prodid"]) == PRODID
    assert str(cal["method"]) == "REQUEST"
    assert str(event["uid"]) == "00000000-0000-4000-8000-000000000001@careweave"
    assert int(event["sequence"]) == 0
    assert event.decoded("dtstart") == START
    assert event.decoded("dtend") == START + timedelta(minutes=50)
    assert event.decoded("dtstamp") == START - timedelta(days=2)
    assert str(event["status"]) == "CONFIRMED"
    url = "http://testserver/visits/00000000-0000-4000-8000-000000000001"
    assert str(event["location"]) == url
    assert str(event["url"]) == url
    assert str(event["organizer"]) == "mailto:no-reply@careweave.invalid"
    assert str(event["attendee"]) == "mailto:ana@test.careweave.example"


def test_times_are_written_in_utc():
    text = _ics(_appointment()).decode()
    assert "DTSTART:20260303T140000Z" in text
    assert "DTEND:20260303T145000Z" in text


def test_an_offset_start_is_converted_to_utc():
    est = timezone(timedelta(hours=-5))
    _, event = _parse(_ics(_appointment(start_at=datetime(2026, 3, 3, 9, 0, tzinfo=est))))
    assert event.decoded("dtstart") == START


def test_summary_names_the_clinician_and_nothing_clinical():
    _, event = _parse(_ics(_appointment()))
    assert str(event["summary"]) == "Careweave video visit with Dr. Ben Testpsych"
    assert "Therapy" not in str(event["summary"])
    assert "Video visit: Therapy session" in str(event["description"])


def test_clinician_copy_names_the_patient():
    _, event = _parse(_ics(_appointment(), audience="clinician", patient_name="Ana T."))
    assert str(event["summary"]) == "Careweave video visit with Ana T."


def test_an_update_keeps_the_uid_and_raises_the_sequence():
    first = _appointment()
    moved = _appointment(
        start_at=START + timedelta(days=1), end_at=START + timedelta(days=1, minutes=50), ics_sequence=1
    )
    _, before = _parse(_ics(first))
    _, after = _parse(_ics(moved, dtstamp=START - timedelta(hours=1)))
    assert str(after["uid"]) == str(before["uid"])
    assert int(after["sequence"]) == int(before["sequence"]) + 1
    assert after.decoded("dtstart") == START + timedelta(days=1)
    assert after.decoded("dtstamp") == START - timedelta(hours=1)


def test_cancel_has_method_cancel_and_status_cancelled():
    cancelled = _appointment(status="cancelled", ics_sequence=2)
    cal, event = _parse(_ics(cancelled, method="CANCEL"))
    assert str(cal["method"]) == "CANCEL"
    assert str(event["status"]) == "CANCELLED"
    assert int(event["sequence"]) == 2
    assert str(event["uid"]) == cancelled.ics_uid


def test_unknown_method_and_naive_times_are_refused():
    with pytest.raises(ValueError, match="method"):
        _ics(_appointment(), method="PUBLISH")
    with pytest.raises(ValueError, match="naive"):
        _ics(_appointment(start_at=datetime(2026, 3, 3, 14, 0)))


# ---------------------------------------------------------------- the pure reminder rules


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/New_York", "Tue 3 Mar 2026, 9:00 AM EST"),
        ("America/Los_Angeles", "Tue 3 Mar 2026, 6:00 AM PST"),
        ("Europe/London", "Tue 3 Mar 2026, 2:00 PM GMT"),
        ("America/Sao_Paulo", "Tue 3 Mar 2026, 11:00 AM UTC-03"),
        ("Not/AZone", "Tue 3 Mar 2026, 2:00 PM UTC"),
    ],
)
def test_visit_time_is_shown_in_the_readers_zone_with_its_label(zone, expected):
    assert format_visit_time(START, zone) == expected


def test_visit_time_after_the_dst_change_uses_daylight_time():
    assert format_visit_time(datetime(2026, 3, 9, 0, 30, tzinfo=UTC), "America/New_York") == (
        "Sun 8 Mar 2026, 8:30 PM EDT"
    )


def test_reminder_times_skip_those_already_past():
    now = START - timedelta(hours=3)  # booked 3 h ahead: no 24-hour reminder
    assert reminder_times(START, [1440, 60], now) == [(60, START - timedelta(hours=1))]
    assert reminder_times(START, [1440, 60], START - timedelta(minutes=30)) == []
    assert reminder_times(START, [60, 1440, 60], START - timedelta(days=2)) == [
        (1440, START - timedelta(days=1)),
        (60, START - timedelta(hours=1)),
    ]


def test_a_late_reminder_gives_way_to_the_closer_one():
    offsets = [1440, 60]
    assert not is_late(START - timedelta(hours=24), START, 1440, offsets)
    assert is_late(START - timedelta(minutes=40), START, 1440, offsets)  # the 1-hour one is due: send that
    assert not is_late(START - timedelta(minutes=40), START, 60, offsets)
    assert is_late(START, START, 60, offsets)  # the visit has started


def test_reminder_key_carries_the_visit_time():
    appointment_id = uuid.UUID("00000000-0000-4000-8000-000000000001")
    assert reminder_key(appointment_id, START, 60) == (
        "reminder:00000000-0000-4000-8000-000000000001:20260303T1400Z:60"
    )


def test_short_name():
    assert short_name("Ana", None, "Testpatient") == "Ana T."
    assert short_name("Anastasia", "Ana", "") == "Ana"
    assert short_name("", None, "") == "your patient"
