"""Safety alerts: routing to the on-call roster, acknowledgement, escalation (issue #3; spec §1.7)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.core.actor import Role
from careweave.core.errors import InvalidInput, NotFound
from careweave.identity import service as identity
from careweave.patients import service as patients
from careweave.safety import service as safety
from careweave.safety.models import Notification
from careweave.screening import service as screening
from tests.builders import make_user


@pytest.fixture
def clinic(session, settings, fixed_clock):
    admin = make_user(session, settings, Role.ADMIN)
    first = make_user(session, settings, Role.PSYCHIATRIST, name="First Oncall")
    second = make_user(session, settings, Role.THERAPIST, name="Second Oncall")
    safety.set_roster(session, identity.actor_for(session, admin), [first.id, second.id], clock=fixed_clock)
    patient_user = make_user(session, settings, Role.PATIENT)
    pid = patients.patient_id_for_user(session, patient_user.id)
    return {"admin": admin, "first": first, "second": second, "patient": patient_user, "pid": pid}


def _submit(session, settings, clock, mailer, user, pid, code, answers, **extra):
    return screening.submit_screening(
        session,
        identity.actor_for(session, user),
        pid,
        instrument=code,
        answers=answers,
        clock=clock,
        settings=settings,
        mailer=mailer,
        **extra,
    )


def test_high_risk_alert_escalates_after_15_minutes_then_wraps(
    session, settings, fixed_clock, mailer, clinic
):
    out = _submit(
        session,
        settings,
        fixed_clock,
        mailer,
        clinic["patient"],
        clinic["pid"],
        "c-ssrs-screener",
        [0, 1, 0, 0, 1, 0],
    )
    alert = out.alert
    assert (alert.level, alert.assigned_user_id) == ("high", clinic["first"].id)
    assert alert.escalate_at == fixed_clock.now().replace(minute=15)
    fixed_clock.advance(minutes=14)
    assert safety.escalate_due(session, clock=fixed_clock, settings=settings, mailer=mailer) == 0
    fixed_clock.advance(minutes=1)
    assert safety.escalate_due(session, clock=fixed_clock, settings=settings, mailer=mailer) == 1
    assert (alert.assigned_user_id, alert.escalation_count) == (clinic["second"].id, 1)
    fixed_clock.advance(minutes=15)
    safety.escalate_due(session, clock=fixed_clock, settings=settings, mailer=mailer)
    assert alert.assigned_user_id == clinic["first"].id  # wraps round the roster
    notes = session.scalars(select(Notification).where(Notification.user_id == clinic["second"].id)).all()
    assert any(n.title.startswith("Escalated") for n in notes)
    escalations = session.scalars(
        select(AuditEvent).where(
            AuditEvent.entity_id == str(alert.id), AuditEvent.action == "safety_alert.escalated"
        )
    ).all()
    assert len(escalations) == 2


def test_acknowledged_alert_never_escalates(session, settings, fixed_clock, mailer, clinic):
    out = _submit(
        session,
        settings,
        fixed_clock,
        mailer,
        clinic["patient"],
        clinic["pid"],
        "c-ssrs-screener",
        [1, 1, 1, 0, 0, 0],
    )
    assert out.alert.level == "moderate"
    safety.acknowledge(
        session, identity.actor_for(session, clinic["second"]), out.alert.id, note="spoke", clock=fixed_clock
    )
    fixed_clock.advance(hours=5)
    assert safety.escalate_due(session, clock=fixed_clock, settings=settings, mailer=mailer) == 0


def test_escalation_time_is_configurable(session, settings, fixed_clock, mailer, clinic):
    quick = settings.model_copy(update={"safety_escalate_high_minutes": 0})
    _submit(
        session,
        quick,
        fixed_clock,
        mailer,
        clinic["patient"],
        clinic["pid"],
        "c-ssrs-screener",
        [1, 1, 0, 0, 0, 1],
        behavior_within_3_months=True,
    )
    assert safety.escalate_due(session, clock=fixed_clock, settings=quick, mailer=mailer) == 1


def test_low_alert_is_due_by_the_end_of_the_next_business_day(session, settings, mailer, clinic):
    from careweave.core.clock import FixedClock

    friday = FixedClock(datetime(2026, 11, 27, 18, 0, tzinfo=UTC))  # a Friday
    out = _submit(
        session,
        settings,
        friday,
        mailer,
        clinic["patient"],
        clinic["pid"],
        "c-ssrs-screener",
        [1, 0, None, None, None, 0],
    )
    assert out.alert.level == "low"
    # Monday 17:00 in the clinic's zone (default clinic zone America/New_York = 22:00 UTC)
    assert out.alert.escalate_at == datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def test_item9_then_cssrs_settles_one_alert(session, settings, fixed_clock, mailer, clinic):
    first = _submit(
        session,
        settings,
        fixed_clock,
        mailer,
        clinic["patient"],
        clinic["pid"],
        "phq-9",
        [1, 1, 1, 1, 1, 1, 1, 1, 2],
    )
    assert first.crisis
    assert first.alert.level == "moderate"
    assert first.next_instruments[0] == "c-ssrs-screener"
    second = _submit(
        session,
        settings,
        fixed_clock,
        mailer,
        clinic["patient"],
        clinic["pid"],
        "c-ssrs-screener",
        [0, 0, None, None, None, 0],
    )
    assert second.alert.id == first.alert.id  # the same open alert
    assert second.alert.level == "low"  # structured assessment sets it; still reviewed
    assert not second.crisis


def test_no_roster_still_queues_the_alert(session, settings, fixed_clock, mailer):
    user = make_user(session, settings, Role.PATIENT)
    pid = patients.patient_id_for_user(session, user.id)
    out = _submit(session, settings, fixed_clock, mailer, user, pid, "c-ssrs-screener", [1, 1, 0, 1, 0, 0])
    assert out.alert.assigned_user_id is None
    cara = make_user(session, settings, Role.THERAPIST)
    open_, _ = safety.queue(session, identity.actor_for(session, cara), clock=fixed_clock)
    assert out.alert.id in {v.alert.id for v in open_}


def test_roster_only_takes_active_clinicians_of_the_clinic(session, settings, fixed_clock, clinic):
    admin = identity.actor_for(session, clinic["admin"])
    with pytest.raises(InvalidInput) as exc:
        safety.set_roster(session, admin, [clinic["patient"].id], clock=fixed_clock)
    assert exc.value.fields[0].field == "user_ids[0]"
    with pytest.raises(InvalidInput):
        safety.set_roster(session, admin, [clinic["first"].id, clinic["first"].id], clock=fixed_clock)


def test_patients_cannot_acknowledge(session, settings, fixed_clock, mailer, clinic):
    out = _submit(
        session,
        settings,
        fixed_clock,
        mailer,
        clinic["patient"],
        clinic["pid"],
        "c-ssrs-screener",
        [1, 1, 1, 0, 0, 0],
    )
    with pytest.raises(NotFound):
        safety.acknowledge(
            session,
            identity.actor_for(session, clinic["patient"]),
            out.alert.id,
            note=None,
            clock=fixed_clock,
        )
