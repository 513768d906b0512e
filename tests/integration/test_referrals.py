"""Referral service (issue #6): overdue listing for the referrer's home, scheduling on booking, audit and
history rows, notices of an open referral."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.careteam import referrals
from careweave.careteam.models import ReferralEvent
from careweave.core.clock import FixedClock, SystemClock
from careweave.jobs import queue
from careweave.jobs.queue import WorkerContext
from tests.conftest import MemoryMailer
from tests.referral_builders import referral_world


@pytest.fixture
def world(session, settings):
    return referral_world(session, settings, SystemClock())


def _refer(session, world, clock, *, to="psych", send=True, kind="medication_evaluation"):
    return referrals.create(
        session,
        world["actors"]["therapist"],
        referrals.ReferralIn(
            patient_id=world["patient_id"],
            kind=kind,
            reason="Needs an evaluation",
            to_provider_id=world["providers"][to].id if to else None,
            send=send,
        ),
        clock=clock,
    )


def test_overdue_shows_sent_referrals_nobody_accepted_in_time(session, world):
    now = SystemClock().now()
    old = _refer(session, world, FixedClock(now - timedelta(days=referrals.REFERRAL_OVERDUE_DAYS, minutes=1)))
    _refer(session, world, FixedClock(now - timedelta(days=referrals.REFERRAL_OVERDUE_DAYS - 1)))
    answered = _refer(session, world, FixedClock(now - timedelta(days=30)))
    referrals.accept(session, world["actors"]["psych"], answered.id, clock=SystemClock())
    _refer(session, world, FixedClock(now - timedelta(days=30)), send=False)  # a draft is not overdue
    therapist = world["actors"]["therapist"]
    overdue = referrals.overdue_for(session, therapist, SystemClock())
    assert [v.referral.id for v in overdue] == [old.id]
    assert overdue[0].overdue and overdue[0].to_name == "Dr Pia Psych"
    # the lists mark it too; nobody else's home shows it
    sent = referrals.list_referrals(session, therapist, role="sent", clock=SystemClock())
    assert {v.referral.id for v in sent if v.overdue} == {old.id}
    assert referrals.overdue_for(session, world["actors"]["psych"], SystemClock()) == []
    assert referrals.overdue_for(session, world["actors"]["patient"], SystemClock()) == []


def test_the_overdue_window_is_the_callers(session, world):
    """The window is the setting ``referral_overdue_days``, which routes pass: a three-day-old referral is
    overdue under a two-day window and not under the default."""
    now = SystemClock().now()
    three_days = _refer(session, world, FixedClock(now - timedelta(days=3)))
    therapist = world["actors"]["therapist"]
    assert referrals.overdue_for(session, therapist, SystemClock()) == []
    short = referrals.overdue_for(session, therapist, SystemClock(), overdue_days=2)
    assert [v.referral.id for v in short] == [three_days.id] and short[0].overdue
    sent = referrals.list_referrals(session, therapist, role="sent", clock=SystemClock(), overdue_days=2)
    assert [v.overdue for v in sent] == [True]
    assert referrals.get(session, therapist, three_days.id, clock=SystemClock(), overdue_days=2).view.overdue
    assert not referrals.get(session, therapist, three_days.id, clock=SystemClock()).view.overdue


def test_booking_marks_accepted_referrals_scheduled_with_history_and_audit(session, world):
    clock = SystemClock()
    r = _refer(session, world, clock)
    untouched = _refer(session, world, clock, to="psych2")
    referrals.accept(session, world["actors"]["psych"], r.id, clock=clock)
    pid = world["patient_id"]
    # a visit with someone else changes nothing
    assert referrals.mark_scheduled(session, pid, world["users"]["psych2"].id, None, clock) == []  # type: ignore[arg-type]
    moved = referrals.mark_scheduled(session, pid, world["users"]["psych"].id, None, clock)  # type: ignore[arg-type]
    assert [m.id for m in moved] == [r.id] and r.status == "scheduled" and r.scheduled_at is not None
    assert untouched.status == "sent"
    history = session.scalars(
        select(ReferralEvent).where(ReferralEvent.referral_id == r.id).order_by(ReferralEvent.at)
    ).all()
    assert [(e.from_status, e.to_status) for e in history] == [
        (None, "draft"),
        ("draft", "sent"),
        ("sent", "accepted"),
        ("accepted", "scheduled"),
    ]
    assert history[-1].actor_user_id is None and history[2].actor_user_id == world["users"]["psych"].id
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_id == str(r.id)).order_by(AuditEvent.seq)
    ).all()
    assert actions == ["referral.created", "referral.sent", "referral.accepted", "referral.scheduled"]
    # details carry ids and codes only
    details = session.scalars(select(AuditEvent.details).where(AuditEvent.entity_id == str(r.id))).all()
    assert not any("Needs an evaluation" in str(d) for d in details)


def test_open_referral_notice_goes_to_every_fitting_clinician_without_clinical_content(
    session, sessions, world, settings
):
    clock = SystemClock()
    r = _refer(session, world, clock, to=None)
    session.commit()
    mailer = MemoryMailer()
    context = WorkerContext(settings=settings, mailer=mailer, sms=None)  # type: ignore[arg-type]
    queue.run_due(sessions, worker_id="host:1", clock=clock, context=context)
    to = {m.to for m in mailer.sent if f"/referrals/{r.id}" in m.body}
    assert to == {world["users"]["psych"].email, world["users"]["psych2"].email}
    assert all("evaluation" not in (m.subject + m.body).lower() for m in mailer.sent)


def test_open_referral_notice_is_dropped_once_taken(session, sessions, world, settings):
    clock = SystemClock()
    r = _refer(session, world, clock, to=None)
    referrals.accept(session, world["actors"]["psych2"], r.id, clock=clock)
    session.commit()
    mailer = MemoryMailer()
    context = WorkerContext(settings=settings, mailer=mailer, sms=None)  # type: ignore[arg-type]
    queue.run_due(sessions, worker_id="host:1", clock=clock, context=context)
    assert not any(f"/referrals/{r.id}" in m.body for m in mailer.sent)
    assert any("/my/referrals" in m.body for m in mailer.sent)  # the patient is told


def test_receiver_sees_the_plan_only_once_shared_and_redacted_per_item(session, world):
    from careweave.consent import service as consent
    from careweave.consent.models import ConsentRequest
    from careweave.records import service as records

    clock = SystemClock()
    pid = world["patient_id"]
    records.update_plan(
        session,
        world["actors"]["therapist"],
        pid,
        {
            "problems": [
                {"code": "F32.1", "description": "Major depressive disorder, moderate"},
                {"code": "F10.20", "description": "Alcohol dependence"},
            ],
            "review_date": (clock.now().date() + timedelta(days=60)).isoformat(),
        },
        reason="Initial plan after the intake review",
        base_version=0,
        clock=clock,
    )
    r = referrals.create(
        session,
        world["actors"]["therapist"],
        referrals.ReferralIn(
            patient_id=pid,
            kind="medication_evaluation",
            reason="Evaluation",
            to_provider_id=world["providers"]["psych"].id,
            needs=("plan",),
            send=True,
        ),
        clock=clock,
    )
    psych = world["actors"]["psych"]
    referrals.accept(session, psych, r.id, clock=clock)
    plan = next(s for s in referrals.get(session, psych, r.id, clock=clock).shared if s.category == "plan")
    assert not plan.allowed and plan.pending and plan.items == []
    req = session.scalar(select(ConsentRequest).where(ConsentRequest.referral_id == r.id))
    consent.answer_request(session, world["actors"]["patient"], req.id, accept=True, clock=clock)
    plan = next(s for s in referrals.get(session, psych, r.id, clock=clock).shared if s.category == "plan")
    assert plan.allowed and plan.items[0]["version"] == 1
    texts = [i["text"] for i in plan.items[1:]]
    assert (
        len([t for t in texts if "withheld" not in t and "not shared" not in t]) == 1
    )  # the alcohol item is Part 2
    assert "1 item(s) not shared with you" in texts
