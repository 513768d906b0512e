"""Measurement-based care pages (issue #8): the registry with its filters and CSV, a patient's page with the
chart and its data table, reviews decided from the page, minutes with the timer, billing CSV, check-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.identity import service as identity
from careweave.outcomes import reviews
from careweave.outcomes import service as outcomes
from careweave.patients import service as patients
from careweave.screening import service as screening
from tests.builders import join_team, make_user
from tests.conftest import MemoryMailer
from tests.helpers import csrf, web_login


@pytest.fixture
def world(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    users = {
        "admin": make_user(session, settings, Role.ADMIN),
        "cm": make_user(session, settings, Role.CARE_MANAGER, name="Casey Manager"),
        "consultant": make_user(session, settings, Role.PSYCHIATRIST, name="Dr Cole Consultant"),
        "psych": make_user(session, settings, Role.PSYCHIATRIST, name="Dr Pat Treating"),
        "patient": make_user(session, settings, Role.PATIENT, state="NY", name="Flora Flat"),
    }
    pid = patients.patient_id_for_user(session, users["patient"].id)
    join_team(session, pid, users["psych"])
    now = datetime.now(UTC)
    start = FixedClock(now - timedelta(weeks=11))
    outcomes.start_episode(
        session,
        identity.actor_for(session, users["admin"]),
        pid,
        clock=start,
        care_manager_user_id=users["cm"].id,
        consultant_user_id=users["consultant"].id,
        started_on=start.now().date(),
    )
    me = identity.actor_for(session, users["patient"])
    for weeks_ago, answers in (
        (11, [2, 2, 2, 2, 2, 2, 3, 3, 0]),
        (5, [2, 2, 2, 2, 2, 2, 3, 2, 0]),
        (0, [2, 2, 2, 2, 2, 2, 3, 2, 0]),
    ):
        screening.submit_screening(
            session,
            me,
            pid,
            instrument="phq-9",
            answers=answers,
            clock=FixedClock(now - timedelta(weeks=weeks_ago)),
            settings=settings,
            mailer=MemoryMailer(),
        )
    session.commit()
    return {"users": users, "pid": pid}


def test_registry_flags_the_flat_patient_and_exports_csv(client, world):
    web_login(client, world["users"]["cm"].email)
    page = client.get("/registry?flag=not_improving")
    assert page.status_code == 200
    assert "Flat, Flora" in page.text and "Not improving" in page.text
    csv_text = client.get("/registry.csv?flag=not_improving")
    assert csv_text.headers["content-type"].startswith("text/csv")
    assert "Flat, Flora" in csv_text.text and "not_improving" in csv_text.text
    assert client.get("/registry?flag=bogus").status_code == 422


def test_patient_page_chart_review_and_acceptance(client, session, world):
    pid = world["pid"]
    web_login(client, world["users"]["consultant"].email)
    page = client.get(f"/patients/{pid}/outcomes")
    assert page.status_code == 200
    assert "<svg" in page.text and "PHQ-9 scores" in page.text and "Not improving" in page.text
    token = csrf(client, f"/patients/{pid}/outcomes")
    r = client.post(
        f"/patients/{pid}/outcomes/reviews",
        data={
            "csrf_token": token,
            "recommendation": "increase_dose",
            "detail": "Raise the dose",
            "change_discipline": "psychiatry",
            "change_description": "Sertraline 100 mg daily",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    review = reviews.list_reviews(
        session,
        identity.actor_for(session, world["users"]["consultant"]),
        pid,
        clock=FixedClock(datetime.now(UTC)),
    )[0]
    client.cookies.clear()
    web_login(client, world["users"]["psych"].email)
    token = csrf(client, f"/patients/{pid}/outcomes")
    r = client.post(
        f"/patients/{pid}/outcomes/reviews/{review.id}",
        data={"csrf_token": token, "decision": "accept"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    plan = client.get(f"/patients/{pid}/plan")
    assert "Sertraline 100 mg daily" in plan.text and "Caseload review" in plan.text
    events = client.get(f"/patients/{pid}/outcomes").text
    assert "Review: Increase the medication dose" in events, events[events.find("Events") :][:1500]
    assert "Plan v1" in events, events[events.find("Events") :][:1500]


def test_minutes_with_the_timer_and_billing_csv(client, world):
    pid = world["pid"]
    web_login(client, world["users"]["cm"].email)
    token = csrf(client, f"/patients/{pid}/outcomes")
    started = client.post(
        f"/patients/{pid}/outcomes/timer", data={"csrf_token": token}, follow_redirects=False
    )
    assert started.status_code == 303 and "timer=" in started.headers["location"]
    r = client.post(
        f"/patients/{pid}/outcomes/minutes",
        data={"csrf_token": token, "minutes_spent": "40", "activity": "follow_up"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    bad = client.post(
        f"/patients/{pid}/outcomes/minutes",
        data={"csrf_token": token, "minutes_spent": "0", "activity": "follow_up"},
    )
    assert bad.status_code == 422 and "Minutes must be 1 to 600" in bad.text
    month = datetime.now(UTC).strftime("%Y-%m")
    page = client.get(f"/billing/cocm?month={month}")
    assert "Flat, Flora" in page.text or "Flora" in page.text
    csv_text = client.get(f"/billing/cocm?month={month}&format=csv").text
    assert "99492x1" in csv_text  # 40 minutes in the first month of activity


def test_patient_sees_a_due_check_in(client, session, world):
    outcomes.request_measure(
        session,
        identity.actor_for(session, world["users"]["cm"]),
        world["pid"],
        instrument="gad-7",
        clock=FixedClock(datetime.now(UTC)),
    )
    session.commit()
    web_login(client, world["users"]["patient"].email)
    assert "Check-in due" in client.get("/patient").text
    page = client.get("/checkins")
    assert 'href="/screening/gad-7"' in page.text and 'href="/screening/phq-9"' in page.text
