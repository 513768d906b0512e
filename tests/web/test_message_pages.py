"""Messaging pages (issue #6): a patient writes to their care team (told the inbox is not monitored 24/7),
the therapist sees the unread count and replies, read receipts show "Seen by …"; a crisis message shows the
crisis panel; a clinician thread shows what the patient's consent allows; outsiders get nothing."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from careweave.consent import service as consent
from careweave.core.actor import Role
from careweave.identity import service as identity
from careweave.safety.models import SafetyAlert
from tests.builders import join_team, make_user
from tests.helpers import CSRF_RE, web_login


@pytest.fixture
def world(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    ana = make_user(session, settings, Role.PATIENT, name="Ana Testpatient")
    cara = make_user(session, settings, Role.THERAPIST, name="Cara Therapist")
    ben = make_user(session, settings, Role.PSYCHIATRIST, name="Ben Psychiatrist")
    stranger = make_user(session, settings, Role.THERAPIST, name="Sam Stranger")
    pid = identity.actor_for(session, ana).patient_id
    join_team(session, pid, cara)
    join_team(session, pid, ben, basis="referral")
    session.commit()
    return {"pid": pid, "ana": ana, "cara": cara, "ben": ben, "stranger": stranger}


def _as(client: TestClient, user) -> TestClient:
    c = TestClient(client.app, raise_server_exceptions=False)
    assert web_login(c, user.email).status_code == 303
    return c


def _token(page) -> str:
    return CSRF_RE.search(page.text).group(1)


def test_patient_and_therapist_exchange_messages(client, world):
    ana = _as(client, world["ana"])
    page = ana.get("/messages/new")
    assert page.status_code == 200
    assert "not monitored 24/7" in page.text and "988" in page.text and "911" in page.text
    assert "Cara Therapist" in page.text and "Sam Stranger" not in page.text
    r = ana.post(
        "/messages/new",
        data={
            "csrf_token": _token(page),
            "subject": "Sleep",
            "body": "I have trouble sleeping.\nAny advice?",
            "participants": str(world["cara"].id),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    thread = ana.get(url)
    assert "trouble sleeping" in thread.text and "not monitored 24/7" in thread.text
    assert 'hx-get="' in thread.text  # polls for new messages
    cara = _as(client, world["cara"])
    inbox = cara.get("/messages")
    assert "Sleep" in inbox.text and '1<span class="visually-hidden"> unread' in inbox.text
    assert "Ana Testpatient" in inbox.text
    page = cara.get(url)
    assert "trouble sleeping" in page.text and "not monitored" not in page.text
    r = cara.post(
        url, data={"csrf_token": _token(page), "body": "Let's talk on Tuesday."}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "No unread messages" in cara.get("/messages").text
    # the patient sees the therapist read their message, and the reply as unread
    assert '1<span class="visually-hidden"> unread' in ana.get("/messages").text
    seen = ana.get(url)
    assert "Seen by Cara Therapist" in seen.text and "Tuesday" in seen.text
    # someone outside the thread gets a not-found page
    assert _as(client, world["stranger"]).get(url).status_code == 404
    assert _as(client, world["ben"]).get(url).status_code == 404


def test_crisis_message_shows_the_crisis_panel(client, session, world):
    ana = _as(client, world["ana"])
    page = ana.get("/messages/new")
    r = ana.post(
        "/messages/new",
        data={
            "csrf_token": _token(page),
            "subject": "Tonight",
            "body": "I want to die",
            "participants": str(world["cara"].id),
        },
    )
    assert r.status_code == 200
    assert 'role="alert"' in r.text and "tel:988" in r.text and "tel:911" in r.text
    alert = session.scalars(select(SafetyAlert).where(SafetyAlert.patient_id == world["pid"])).one()
    assert alert.level == "moderate" and alert.reason == "message_crisis_language"
    url = re.search(r'action="(/messages/[0-9a-f-]{36})"', r.text).group(1)
    r = ana.post(url, data={"csrf_token": _token(r), "body": "I'm going to kill myself"})
    assert r.status_code == 200 and "tel:988" in r.text and "alerted <strong>now</strong>" in r.text
    session.expire_all()
    assert session.get(SafetyAlert, alert.id).level == "high"
    # the therapist sees the flag
    assert "Crisis language" in _as(client, world["cara"]).get(url).text


def test_clinician_thread_shows_the_consent_banner(client, session, world, clock):
    cara = _as(client, world["cara"])
    page = cara.get(f"/messages/new?patient_id={world['pid']}&kind=clinician")
    assert page.status_code == 200 and "Ben Psychiatrist" in page.text
    data = {
        "csrf_token": _token(page),
        "kind": "clinician",
        "patient_id": str(world["pid"]),
        "subject": "Medication question",
        "body": "Could you review?",
        "participants": str(world["ben"].id),
    }
    refused = cara.post("/messages/new", data=data)
    assert refused.status_code == 403 and "not consented" in refused.text
    ana = identity.actor_for(session, world["ana"])
    consent.grant(session, ana, world["pid"], consent.GrantIn(None, True, ("progress_notes",)), clock=clock)
    session.commit()
    r = cara.post("/messages/new", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    thread = cara.get(r.headers["location"])
    assert "Only what the patient has consented to share may be discussed here" in thread.text
    assert "Visit (progress) notes" in thread.text and "Ben Psychiatrist" in thread.text
    assert "not monitored" not in thread.text
    # the patient does not see clinicians' threads
    assert _as(client, world["ana"]).get(r.headers["location"]).status_code == 404
