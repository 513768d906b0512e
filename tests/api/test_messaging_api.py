"""Messaging API (issue #6): a patient and their care team exchange messages with unread counts and read
receipts; someone who left the team can no longer read or post; a clinician thread needs the patient's consent;
a patient's crisis language raises a safety alert and returns the crisis panel; notices carry no content."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from careweave.careteam import service as careteam
from careweave.careteam.models import CareTeamMember
from careweave.consent import service as consent
from careweave.core.actor import Role
from careweave.core.clock import SystemClock
from careweave.identity import service as identity
from careweave.jobs import queue
from careweave.jobs.models import Job
from careweave.jobs.queue import WorkerContext
from careweave.notify.sms import Sms
from careweave.patients.models import Patient
from careweave.safety.models import SafetyAlert
from tests.api.test_bad_input import assert_error
from tests.builders import join_team, make_user
from tests.conftest import MemoryMailer
from tests.helpers import bearer


class RecordingSms:
    def __init__(self) -> None:
        self.sent: list[Sms] = []

    def send(self, sms: Sms) -> None:
        self.sent.append(sms)


@pytest.fixture
def world(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    ana = make_user(session, settings, Role.PATIENT, name="Ana Testpatient", phone="+12125550100")
    cara = make_user(session, settings, Role.THERAPIST, name="Cara Therapist")
    ben = make_user(session, settings, Role.PSYCHIATRIST, name="Ben Psychiatrist")
    cm = make_user(session, settings, Role.CARE_MANAGER, name="Cleo Manager")
    stranger = make_user(session, settings, Role.THERAPIST, name="Sam Stranger")
    pid = identity.actor_for(session, ana).patient_id
    join_team(session, pid, cara)  # chosen by the patient
    join_team(session, pid, ben, basis="referral")  # joined through a referral: sees nothing without consent
    join_team(session, pid, cm, basis="referral")
    session.commit()
    users = {"ana": ana, "cara": cara, "ben": ben, "cm": cm, "stranger": stranger}
    return {
        "pid": pid,
        "users": users,
        "h": {k: bearer(client, u.email) for k, u in users.items()},
    }


def _thread(
    client, w, who="ana", participants=("cara",), kind="patient", body="Hello, a question about my visit"
):
    payload = {
        "patient_id": str(w["pid"]),
        "participants": [str(w["users"][p].id) for p in participants],
        "subject": "Question",
        "kind": kind,
    }
    if body:
        payload["body"] = body
    return client.post("/api/v1/threads", headers=w["h"][who], json=payload)


def _unread(client, w, who, thread_id):
    rows = client.get("/api/v1/threads", headers=w["h"][who]).json()
    return next(t["unread_count"] for t in rows if t["id"] == thread_id)


def test_patient_and_team_exchange_messages_with_unread_counts_and_receipts(client, session, world):
    r = _thread(client, world)
    assert r.status_code == 201, r.text
    thread = r.json()
    tid = thread["id"]
    assert thread["kind"] == "patient" and thread["notice"] and "988" in thread["notice"]
    assert "not monitored 24/7" in thread["notice"] and "911" in thread["notice"]
    assert {p["name"] for p in thread["participants"]} == {"Ana Testpatient", "Cara Therapist"}
    assert thread["consent"] is None and len(thread["messages"]) == 1
    # the therapist has one unread; the patient none
    assert _unread(client, world, "cara", tid) == 1
    assert _unread(client, world, "ana", tid) == 0
    first = thread["messages"][0]["id"]
    assert (
        client.get(f"/api/v1/threads/{tid}", headers=world["h"]["ana"]).json()["messages"][0]["seen_by"] == []
    )
    # the therapist reads: unread 0, and the patient sees the receipt
    r = client.post(f"/api/v1/threads/{tid}/read", headers=world["h"]["cara"])
    assert r.status_code == 200 and r.json()["unread_count"] == 0
    assert _unread(client, world, "cara", tid) == 0
    got = client.get(f"/api/v1/threads/{tid}", headers=world["h"]["ana"]).json()
    assert got["messages"][0]["seen_by"] == [str(world["users"]["cara"].id)]
    receipt = next(p for p in got["participants"] if p["name"] == "Cara Therapist")
    assert receipt["last_read_message_id"] == first
    # a reply: the patient has one unread
    r = client.post(
        f"/api/v1/threads/{tid}/messages", headers=world["h"]["cara"], json={"body": "Happy to help."}
    )
    assert r.status_code == 201, r.text
    assert r.json()["crisis"] is None and r.json()["message"]["sender_name"] == "Cara Therapist"
    assert _unread(client, world, "ana", tid) == 1
    # others see nothing: another patient's clinician, an admin-less stranger, a team member not in the thread
    for who in ("stranger", "ben"):
        assert_error(client.get(f"/api/v1/threads/{tid}", headers=world["h"][who]), 404)
        assert_error(
            client.post(f"/api/v1/threads/{tid}/messages", headers=world["h"][who], json={"body": "hi"}), 404
        )
        assert tid not in {t["id"] for t in client.get("/api/v1/threads", headers=world["h"][who]).json()}


def test_participants_must_be_on_the_care_team(client, world):
    r = _thread(client, world, participants=("cara", "stranger"))
    assert_error(r, 422, field="participants[1]")
    r = _thread(client, world, participants=())
    assert_error(r, 422, field="participants")
    # a clinician off the team cannot start a thread about the patient
    r = _thread(client, world, who="stranger", participants=("cara",))
    assert_error(r, 404)
    # bad input names the field
    r = client.post("/api/v1/threads", headers=world["h"]["ana"], json={"patient_id": str(world["pid"])})
    assert_error(r, 422)
    r = _thread(client, world, kind="clinician", participants=("cara", "ben"))
    assert_error(r, 422, field="kind")


def test_a_clinician_who_left_the_team_can_no_longer_read_or_post(client, session, world, clock):
    tid = _thread(client, world, participants=("cara", "ben")).json()["id"]
    assert client.get(f"/api/v1/threads/{tid}", headers=world["h"]["ben"]).status_code == 200
    member = session.scalars(
        select(CareTeamMember).where(
            CareTeamMember.patient_id == world["pid"], CareTeamMember.user_id == world["users"]["ben"].id
        )
    ).one()
    careteam.end_member(session, identity.actor_for(session, world["users"]["ben"]), member.id, clock=clock)
    session.commit()
    assert_error(client.get(f"/api/v1/threads/{tid}", headers=world["h"]["ben"]), 404)
    assert_error(
        client.post(
            f"/api/v1/threads/{tid}/messages", headers=world["h"]["ben"], json={"body": "still here?"}
        ),
        404,
    )
    assert_error(client.post(f"/api/v1/threads/{tid}/read", headers=world["h"]["ben"]), 404)
    assert tid not in {t["id"] for t in client.get("/api/v1/threads", headers=world["h"]["ben"]).json()}
    # and cannot be added to a new one
    assert_error(_thread(client, world, participants=("cara", "ben")), 422, field="participants[1]")
    # the patient still sees the thread and who was in it
    got = client.get(f"/api/v1/threads/{tid}", headers=world["h"]["ana"]).json()
    assert {p["name"] for p in got["participants"]} >= {"Ben Psychiatrist"}


def test_clinician_thread_needs_the_patients_consent(client, session, world, clock):
    r = _thread(client, world, who="cara", participants=("ben",), kind="clinician", body="About our patient")
    err = assert_error(r, 403, code="consent_required")
    assert "consent" in err["message"]
    # a single clinician is not a clinician thread
    assert_error(
        _thread(client, world, who="cara", participants=(), kind="clinician"), 422, field="participants"
    )
    # the patient shares visit notes with the care team
    ana = identity.actor_for(session, world["users"]["ana"])
    consent.grant(session, ana, world["pid"], consent.GrantIn(None, True, ("progress_notes",)), clock=clock)
    session.commit()
    r = _thread(client, world, who="cara", participants=("ben",), kind="clinician", body="About our patient")
    assert r.status_code == 201, r.text
    thread = r.json()
    assert thread["notice"] is None
    scope = thread["consent"]
    assert scope["shared_categories"] == ["progress_notes"]
    assert "Only what the patient has consented to share may be discussed here" in scope["banner"]
    assert "Ben Psychiatrist" in scope["banner"] and "Visit (progress) notes" in scope["banner"]
    assert scope["by_participant"][str(world["users"]["cara"].id)][:1] == ["screening"]
    # the patient does not take part and does not see it
    assert_error(client.get(f"/api/v1/threads/{thread['id']}", headers=world["h"]["ana"]), 404)
    r = client.post(
        f"/api/v1/threads/{thread['id']}/messages", headers=world["h"]["ben"], json={"body": "Agreed."}
    )
    assert r.status_code == 201
    # after the patient revokes, nothing more can be posted (what was said stays readable)
    directive = consent.directives(session, ana, world["pid"], clock=clock)[0]
    consent.revoke(session, ana, directive.id, clock=clock)
    session.commit()
    r = client.post(
        f"/api/v1/threads/{thread['id']}/messages", headers=world["h"]["ben"], json={"body": "More"}
    )
    assert_error(r, 403, code="consent_required")
    assert client.get(f"/api/v1/threads/{thread['id']}", headers=world["h"]["ben"]).status_code == 200


def test_crisis_message_raises_a_safety_alert_and_returns_the_crisis_panel(client, session, world):
    tid = _thread(client, world).json()["id"]
    r = client.post(
        f"/api/v1/threads/{tid}/messages",
        headers=world["h"]["ana"],
        json={"body": "I can't keep myself safe tonight."},
    )
    assert r.status_code == 201, r.text
    crisis = r.json()["crisis"]
    assert crisis["level"] == "high" and crisis["call"] == "911" and crisis["lifeline"] == "988"
    alert = session.scalars(select(SafetyAlert).where(SafetyAlert.patient_id == world["pid"])).one()
    assert alert.level == "high" and alert.reason == "message_crisis_language" and alert.status == "open"
    assert crisis["safety_alert_id"] == str(alert.id)
    got = client.get(f"/api/v1/threads/{tid}", headers=world["h"]["cara"]).json()
    assert got["messages"][-1]["crisis_flag"] is True
    # a negated statement is not flagged; a clinician's message is never checked
    r = client.post(
        f"/api/v1/threads/{tid}/messages",
        headers=world["h"]["ana"],
        json={"body": "I'm not going to kill myself."},
    )
    assert r.json()["crisis"] is None
    r = client.post(
        f"/api/v1/threads/{tid}/messages", headers=world["h"]["cara"], json={"body": "Do you want to die?"}
    )
    assert r.json()["crisis"] is None
    # the audit trail has codes, not words
    from careweave.audit.models import AuditEvent

    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "message.sent")).all()
    assert events and all("keep myself safe" not in str(e.details) for e in events)


def test_notices_are_enqueued_without_content_once_until_read(client, session, sessions, settings, world):
    tid = _thread(client, world, body="My private worry about my medication").json()["id"]
    for _ in range(2):  # a second message before the therapist reads: still one notice
        client.post(f"/api/v1/threads/{tid}/messages", headers=world["h"]["ana"], json={"body": "Also this"})
    session.expire_all()
    jobs = session.scalars(select(Job).where(Job.kind == "message.notice")).all()
    assert len(jobs) == 1 and jobs[0].payload == {"thread_id": tid, "user_id": str(world["users"]["cara"].id)}
    # the therapist replies: the patient gets one notice (e-mail and SMS, no content)
    client.post(
        f"/api/v1/threads/{tid}/messages", headers=world["h"]["cara"], json={"body": "Your dose is fine"}
    )
    mailer, sms = MemoryMailer(), RecordingSms()
    queue.run_due(
        sessions, worker_id="t:1", clock=SystemClock(), context=WorkerContext(settings, mailer, sms)
    )
    # the therapist's notice is dropped: replying, she had read everything before the worker ran
    assert [m.to for m in mailer.sent] == [world["users"]["ana"].email]
    for m in mailer.sent:
        assert m.subject == "You have a new message in Careweave"
        assert f"/messages/{tid}" in m.body
        for secret in ("worry", "medication", "dose", "Question", "Ana"):
            assert secret not in m.body and secret not in m.subject
    patient = session.scalars(select(Patient).where(Patient.id == world["pid"])).one()
    assert [s.to for s in sms.sent] == [patient.phone]
    assert "dose" not in sms.sent[0].body and f"/messages/{tid}" in sms.sent[0].body
    # the therapist reads; the next message notifies again
    client.post(f"/api/v1/threads/{tid}/read", headers=world["h"]["cara"])
    client.post(f"/api/v1/threads/{tid}/messages", headers=world["h"]["ana"], json={"body": "Thanks"})
    session.expire_all()
    assert len(session.scalars(select(Job).where(Job.kind == "message.notice")).all()) == 3


def test_crisis_message_keeps_the_patients_own_request_for_help(client, session, settings, world, clock):
    from careweave.safety import service as safety

    ana = identity.actor_for(session, world["users"]["ana"])
    safety.request_help(session, ana, world["pid"], clock=clock, settings=settings, mailer=MemoryMailer())
    session.commit()
    tid = _thread(client, world).json()["id"]
    r = client.post(
        f"/api/v1/threads/{tid}/messages", headers=world["h"]["ana"], json={"body": "I want to die"}
    )
    assert r.json()["crisis"]["level"] == "moderate"
    session.expire_all()
    alert = session.scalars(select(SafetyAlert).where(SafetyAlert.patient_id == world["pid"])).one()
    assert alert.level == "high" and alert.reason == "patient_requested_help"
    assert safety.imminent_risk_reported(session, world["pid"])
