"""Plan and note pages (issue #6): a clinician starts and edits the plan (reason required, history with
who/when/why and the changes), writes, signs and adds to SOAP/DAP notes, keeps psychotherapy notes apart;
the patient reads the plain-language plan and says "I have read this plan"."""

from __future__ import annotations

import re
from datetime import date, timedelta

from careweave.core.actor import Role
from careweave.identity import service as identity
from careweave.identity.models import User
from tests.builders import join_team, make_user
from tests.helpers import CSRF_RE, web_login


def _login(client, settings, user: User) -> None:
    client.cookies.clear()
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    web_login(client, user.email)


def _world(session, settings):
    ana = make_user(session, settings, Role.PATIENT, state="NY", timezone="America/New_York")
    cara = make_user(session, settings, Role.THERAPIST, name="Cara Therapist")
    ben = make_user(session, settings, Role.PSYCHIATRIST, name="Ben Psychiatrist")
    pid = identity.actor_for(session, ana).patient_id
    join_team(session, pid, cara)
    join_team(session, pid, ben)
    session.commit()
    return ana, cara, ben, pid


def test_clinician_writes_the_plan_and_the_patient_acknowledges(client, session, settings):
    ana, cara, _ben, pid = _world(session, settings)
    _login(client, settings, cara)
    page = client.get(f"/patients/{pid}/plan")
    assert page.status_code == 200, page.text
    assert "No plan yet" in page.text and "Start the plan" in page.text
    token = CSRF_RE.search(page.text).group(1)
    form = {
        "csrf_token": token,
        "base_version": "0",
        "problem_code_0": "F32.1",
        "problem_description_0": "Major depressive disorder, single episode, moderate",
        "goal_instrument_0": "PHQ-9",
        "goal_comparator_0": "below",
        "goal_target_0": "5",
        "goal_due_0": str(date.today() + timedelta(days=90)),
        "int_discipline_0": "therapy",
        "int_owner_user_id_0": str(cara.id),
        "int_description_0": "Weekly CBT",
        "review_date": str(date.today() + timedelta(days=30)),
        "reason": "",
    }
    # the reason is required: the form comes back with the entries kept and the field named
    r = client.post(f"/patients/{pid}/plan", data=form)
    assert r.status_code == 422 and 'role="alert"' in r.text and "reason" in r.text
    assert 'value="F32.1"' in r.text
    r = client.post(
        f"/patients/{pid}/plan", data={**form, "reason": "Plan agreed at intake"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    assert "Saved as version 1" in page.text and "Weekly CBT" in page.text
    assert "Cara Therapist" in page.text and "Plan agreed at intake" in page.text
    # a stale form (still based on version 0) is refused
    stale = client.post(f"/patients/{pid}/plan", data={**form, "reason": "Second try here"})
    assert stale.status_code == 409 and "changed since you opened it" in stale.text
    r = client.post(
        f"/patients/{pid}/plan",
        data={**form, "base_version": "1", "goal_target_0": "10", "reason": "Target revised after review"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/patients/{pid}/plan")
    assert "Version 2" in page.text and "Changed (goals)" in page.text and "target" in page.text

    _login(client, settings, ana)
    mine = client.get("/my/plan")
    assert mine.status_code == 200
    assert "Depression (moderate)" in mine.text and "F32.1" not in mine.text
    assert "depression questionnaire (PHQ-9)" in mine.text and "Therapy with Cara Therapist" in mine.text
    token = CSRF_RE.search(mine.text).group(1)
    r = client.post(
        "/my/plan/acknowledge", data={"csrf_token": token, "version": "2"}, follow_redirects=False
    )
    assert r.status_code == 303
    done = client.get(r.headers["location"])
    assert "You read this plan" in done.text and "I have read this plan" not in done.text
    # a patient has no clinician plan page
    assert client.get(f"/patients/{pid}/plan").status_code == 404


def test_notes_page_sign_addenda_and_psychotherapy_notes(client, session, settings):
    _ana, cara, ben, pid = _world(session, settings)
    _login(client, settings, cara)
    page = client.get(f"/patients/{pid}/notes?format=DAP")
    assert page.status_code == 200
    assert "Psychotherapy notes (only you can see these)" in page.text
    assert 'name="D"' in page.text and 'name="S"' not in page.text
    token = CSRF_RE.search(page.text).group(1)
    bad = client.post(
        f"/patients/{pid}/notes", data={"csrf_token": token, "kind": "progress", "format": "DAP", "D": "x"}
    )
    assert bad.status_code == 422 and "sections.A" in bad.text
    r = client.post(
        f"/patients/{pid}/notes",
        data={
            "csrf_token": token,
            "kind": "progress",
            "format": "DAP",
            "D": "Low mood",
            "A": "MDD",
            "P": "CBT",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/patients/{pid}/notes",
        data={"csrf_token": token, "kind": "psychotherapy", "body": "Private process note"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/patients/{pid}/notes")
    assert "Private process note" in page.text and "Sign this note" in page.text
    note_id = re.search(r'action="/notes/([0-9a-f-]{36})/sign"', page.text).group(1)
    r = client.post(f"/notes/{note_id}/sign", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(
        f"/notes/{note_id}/addenda",
        data={"csrf_token": token, "body": "PHQ-9 today 14"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "Addendum added" in page.text and "PHQ-9 today 14" in page.text and "Signed " in page.text

    # Ben, on the team without any consent: sees neither Cara's note nor her psychotherapy note
    _login(client, settings, ben)
    page = client.get(f"/patients/{pid}/notes")
    assert page.status_code == 200
    assert "Low mood" not in page.text and "Private process note" not in page.text
    assert "Notes (0)" in page.text
