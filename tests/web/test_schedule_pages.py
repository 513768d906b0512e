"""Scheduling pages (issue #5): a patient picks a time shown in their own zone and books it, sees it under
their visits, downloads the calendar file, moves and cancels it; a clinician sets weekly hours."""

from __future__ import annotations

import re

from careweave.core.clock import SystemClock
from careweave.identity.models import User
from tests.builders import scheduling_world
from tests.helpers import CSRF_RE, web_login


def _login(client, session, settings, user_id):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    web_login(client, session.get(User, user_id).email)


def test_patient_books_moves_and_cancels_from_the_pages(client, session, settings):
    world = scheduling_world(session, settings, SystemClock(), patients=1)
    session.commit()
    patient = world["patients"][0]
    provider = world["provider"]
    _login(client, session, settings, patient.user_id)
    page = client.get(f"/book/{provider.id}?visit_type=therapy_session&week=1")
    assert page.status_code == 200
    assert "Los Angeles" in page.text and "New York" in page.text  # both zones labelled
    starts = re.findall(r'name="start" value="([^"]+)"', page.text)
    assert starts, page.text
    token = CSRF_RE.search(page.text).group(1)
    r = client.post(
        f"/book/{provider.id}",
        data={"csrf_token": token, "start": starts[0], "visit_type": "therapy_session"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    listing = client.get(r.headers["location"])
    assert "Your visit is booked" in listing.text and "Tess Therapist" in listing.text
    assert re.search(r"(PST|PDT)", listing.text)
    appt_id = re.search(r"/appointments/([0-9a-f-]{36})/calendar\.ics", listing.text).group(1)
    ics = client.get(f"/appointments/{appt_id}/calendar.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VEVENT" in ics.content
    # booking the same time again is refused with a clear message (not a 500)
    again = client.post(
        f"/book/{provider.id}",
        data={"csrf_token": token, "start": starts[0], "visit_type": "therapy_session"},
        follow_redirects=False,
    )
    assert again.status_code == 409 and "no longer available" in again.text
    # move it to the next time shown
    move_page = client.get(f"/book/{provider.id}?reschedule={appt_id}&week=1")
    new_start = re.findall(r'name="start" value="([^"]+)"', move_page.text)[0]
    r = client.post(
        f"/book/{provider.id}",
        data={
            "csrf_token": token,
            "start": new_start,
            "visit_type": "therapy_session",
            "reschedule": appt_id,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/appointments/{appt_id}/cancel", data={"csrf_token": token, "reason": ""}, follow_redirects=False
    )
    assert r.status_code == 303
    listing = client.get("/appointments").text
    assert "cancelled" in listing and "Join visit" not in listing


def test_clinician_sets_weekly_hours(client, session, settings):
    world = scheduling_world(session, settings, SystemClock(), patients=0)
    session.commit()
    _login(client, session, settings, world["therapist"].user_id)
    page = client.get("/schedule/availability")
    assert page.status_code == 200 and "Weekly hours" in page.text
    token = CSRF_RE.search(page.text).group(1)
    r = client.post(
        "/schedule/availability",
        data={
            "csrf_token": token,
            "timezone": "America/Chicago",
            "weekday_0": "1",
            "start_0": "10:00",
            "end_0": "14:00",
            "buffer_minutes": "5",
            "min_notice_hours": "24",
            "horizon_days": "30",
            "late_cancel_hours": "12",
            "ex_date_0": "2026-12-24",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    again = client.get("/schedule/availability?saved=true")
    assert "Saved" in again.text and 'value="10:00"' in again.text and "2026-12-24" in again.text
    bad = client.post(
        "/schedule/availability",
        data={
            "csrf_token": token,
            "timezone": "Mars/Base",
            "weekday_0": "1",
            "start_0": "14:00",
            "end_0": "10:00",
        },
    )
    assert bad.status_code == 422 and "timezone" in bad.text
    odd = client.post("/schedule/availability", data={"csrf_token": token, "provider_id": "not-an-id"})
    assert odd.status_code == 422  # a malformed id is bad input, not a server error
