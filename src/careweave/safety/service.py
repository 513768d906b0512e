"""Safety alerts: raised by risky answers, routed to the clinic's on-call roster, acknowledged,
escalated when nobody acknowledges in time. Every step is audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.clinics import service as clinics
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound
from careweave.core.hooks import on_commit
from careweave.identity import service as identity
from careweave.notify.mail import Mail, Mailer
from careweave.patients import service as patients
from careweave.safety import repository as repo
from careweave.safety import rules
from careweave.safety.models import Notification, SafetyAlert
from careweave.settings import Settings


def escalation_policy(settings: Settings) -> rules.EscalationPolicy:
    return rules.EscalationPolicy(
        high_minutes=settings.safety_escalate_high_minutes,
        moderate_minutes=settings.safety_escalate_moderate_minutes,
        business_day_end_hour=settings.safety_business_day_end_hour,
    )


def _notify(
    session: Session,
    alert: SafetyAlert,
    user_id: uuid.UUID | None,
    *,
    escalated: bool,
    settings: Settings,
    mailer: Mailer,
) -> None:
    """In-app notification plus an e-mail with no clinical detail (the link needs a log-in)."""
    if user_id is None:
        return
    priority = rules.PRIORITY[alert.level].replace("_", " ")
    title = f"{'Escalated: ' if escalated else ''}{alert.level.capitalize()} safety alert ({priority})"
    repo.add(session, Notification(user_id=user_id, kind="safety_alert", title=title, link="/safety"))
    user = identity.get_user(session, user_id)
    mail = Mail(
        to=user.email,
        subject=f"Careweave: {title}",
        body=(
            "A patient's answers need a clinician's attention. Open the safety queue to review and "
            f"acknowledge the alert:\n{settings.base_url.rstrip('/')}/safety\n"
        ),
    )
    on_commit(session, lambda: mailer.send(mail))


def raise_alert(
    session: Session,
    actor: Actor,
    *,
    patient_id: uuid.UUID,
    level: str,
    reason: str,
    screening_id: uuid.UUID | None,
    structured_assessment: bool,
    clock: Clock,
    settings: Settings,
    mailer: Mailer,
) -> SafetyAlert:
    """Create the patient's open alert, or update it with a new signal (called by screening)."""
    patient, _ = patients.get_patient_ref(session, patient_id)
    now = clock.now()
    zone = clinics.clinic_timezone(session, patient.clinic_id)
    esc = escalation_policy(settings)
    existing = repo.open_alert_for_patient(session, patient.id)
    if existing is not None:
        new_level = rules.settle_level(existing.level, level, structured_assessment=structured_assessment)
        raised = rules.LEVEL_RANK[new_level] > rules.LEVEL_RANK[existing.level]
        existing.level, existing.reason, existing.screening_id = new_level, reason, screening_id
        deadline = rules.escalate_at(new_level, now=now, clinic_timezone=zone, policy=esc)
        if raised or existing.escalate_at is None or deadline < existing.escalate_at:
            existing.escalate_at = deadline
        session.flush()
        audit.record(
            session,
            actor,
            "safety_alert.updated",
            clock=clock,
            entity_type="safety_alert",
            entity_id=existing.id,
            patient_id=patient.id,
            details={"level": new_level, "reason": reason},
        )
        if raised:
            _notify(
                session,
                existing,
                existing.assigned_user_id,
                escalated=False,
                settings=settings,
                mailer=mailer,
            )
        return existing
    roster = repo.roster(session, patient.clinic_id)
    first = roster[0] if roster else None
    alert = SafetyAlert(
        patient_id=patient.id,
        clinic_id=patient.clinic_id,
        screening_id=screening_id,
        level=level,
        reason=reason,
        status="open",
        assigned_user_id=first.user_id if first else None,
        roster_position=first.position if first else None,
        escalation_count=0,
        escalate_at=rules.escalate_at(level, now=now, clinic_timezone=zone, policy=esc),
    )
    repo.add(session, alert)
    audit.record(
        session,
        actor,
        "safety_alert.raised",
        clock=clock,
        entity_type="safety_alert",
        entity_id=alert.id,
        patient_id=patient.id,
        details={"level": level, "reason": reason, "assigned_user_id": str(alert.assigned_user_id)},
    )
    _notify(session, alert, alert.assigned_user_id, escalated=False, settings=settings, mailer=mailer)
    return alert


HELP_REASON = "patient_requested_help"


def request_help(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    clock: Clock,
    settings: Settings,
    mailer: Mailer,
) -> SafetyAlert:
    """The patient says they cannot keep themselves safe: a high alert to the on-call clinician
    now (spec §7.3 STEP 0 "patient reports imminent intent/plan ... or cannot keep safe")."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.SAFETY_HELP_REQUEST, ref)
    return raise_alert(
        session,
        actor,
        patient_id=patient.id,
        level="high",
        reason=HELP_REASON,
        screening_id=None,
        structured_assessment=False,
        clock=clock,
        settings=settings,
        mailer=mailer,
    )


def imminent_risk_reported(session: Session, patient_id: uuid.UUID) -> bool:
    """An open alert raised by the patient's own request for help (a triage input)."""
    alert = repo.open_alert_for_patient(session, patient_id)
    return alert is not None and alert.reason == HELP_REASON


def acknowledge(
    session: Session, actor: Actor, alert_id: uuid.UUID, *, note: str | None, clock: Clock
) -> SafetyAlert:
    alert = repo.alert(session, alert_id, for_update=True)
    if alert is None or not policy.may(
        actor, policy.Action.SAFETY_ALERT_ACKNOWLEDGE, policy.PatientRef(alert.patient_id, alert.clinic_id)
    ):
        raise NotFound("No such safety alert.")
    if alert.status != "open":
        raise Conflict("This alert was already acknowledged.")
    alert.status = "acknowledged"
    alert.acknowledged_at = clock.now()
    alert.acknowledged_by = actor.user_id
    alert.acknowledgement_note = (note or "").strip() or None
    alert.escalate_at = None
    session.flush()
    audit.record(
        session,
        actor,
        "safety_alert.acknowledged",
        clock=clock,
        entity_type="safety_alert",
        entity_id=alert.id,
        patient_id=alert.patient_id,
    )
    return alert


@dataclass(frozen=True, slots=True)
class AlertView:
    alert: SafetyAlert
    patient_name: str
    assignee_name: str | None
    priority: str


def _views(session: Session, alerts: list[SafetyAlert]) -> list[AlertView]:
    names = patients.display_names(session, {a.patient_id for a in alerts})
    users = identity.user_names(session, {a.assigned_user_id for a in alerts if a.assigned_user_id})
    return [
        AlertView(
            a,
            names.get(a.patient_id, "(unknown)"),
            users.get(a.assigned_user_id, ("", ""))[0] if a.assigned_user_id else None,
            rules.PRIORITY[a.level],
        )
        for a in alerts
    ]


def queue(
    session: Session, actor: Actor, *, clock: Clock, recent: int = 10
) -> tuple[list[AlertView], list[AlertView]]:
    """Open alerts of the actor's clinic (most urgent first) and recently acknowledged ones."""
    policy.require(actor, policy.Action.SAFETY_QUEUE_READ)
    open_ = sorted(
        repo.open_alerts_in_clinic(session, actor.clinic_id),
        key=lambda a: (-rules.LEVEL_RANK[a.level], a.created_at),
    )
    done = repo.recent_acknowledged_in_clinic(session, actor.clinic_id, recent)
    for alert in [*open_, *done]:
        audit.record(
            session,
            actor,
            "safety_alert.listed",
            clock=clock,
            entity_type="safety_alert",
            entity_id=alert.id,
            patient_id=alert.patient_id,
        )
    return _views(session, open_), _views(session, done)


def escalate_due(session: Session, *, clock: Clock, settings: Settings, mailer: Mailer) -> int:
    """Move every overdue open alert to the next person on the roster (run by the worker)."""
    now = clock.now()
    esc = escalation_policy(settings)
    system = Actor.system()
    count = 0
    for alert in repo.due_for_escalation(session, now):
        roster = repo.roster(session, alert.clinic_id)
        position = rules.next_position(alert.roster_position, [m.position for m in roster])
        member = next((m for m in roster if m.position == position), None)
        alert.roster_position = position
        alert.assigned_user_id = member.user_id if member else None
        alert.escalation_count += 1
        zone = clinics.clinic_timezone(session, alert.clinic_id)
        alert.escalate_at = rules.escalate_at(alert.level, now=now, clinic_timezone=zone, policy=esc)
        session.flush()
        audit.record(
            session,
            system,
            "safety_alert.escalated",
            clock=clock,
            entity_type="safety_alert",
            entity_id=alert.id,
            patient_id=alert.patient_id,
            details={"to_user_id": str(alert.assigned_user_id), "escalation": alert.escalation_count},
        )
        _notify(session, alert, alert.assigned_user_id, escalated=True, settings=settings, mailer=mailer)
        count += 1
    return count


def has_open_alert(session: Session, patient_id: uuid.UUID) -> bool:
    return repo.open_alert_for_patient(session, patient_id) is not None


def self_scheduling_allowed(session: Session, patient_id: uuid.UUID) -> bool:
    """False while a high-risk alert is open (spec §7.3 STEP 0: stop self-scheduling)."""
    return not repo.open_high_alert_exists(session, patient_id)


def get_roster(session: Session, actor: Actor) -> list[tuple[int, uuid.UUID, str, str]]:
    policy.require(actor, policy.Action.ONCALL_MANAGE)
    members = repo.roster(session, actor.clinic_id)
    names = identity.user_names(session, {m.user_id for m in members})
    return [(m.position, m.user_id, *names.get(m.user_id, ("", ""))) for m in members]


def set_roster(session: Session, actor: Actor, user_ids: list[uuid.UUID], *, clock: Clock) -> None:
    """Replace the clinic's on-call order. Only active clinicians of the clinic may be on it."""
    policy.require(actor, policy.Action.ONCALL_MANAGE)
    if actor.clinic_id is None:
        raise InvalidInput("Your account has no clinic.")
    if len(set(user_ids)) != len(user_ids):
        raise InvalidInput("A person is on the roster twice.", fields=[FieldError("user_ids", "duplicates")])
    problems = []
    for n, uid in enumerate(user_ids):
        try:
            user = identity.get_user(session, uid)
        except NotFound:
            problems.append(FieldError(f"user_ids[{n}]", "no such user"))
            continue
        if Role(user.role) not in CLINICAL_ROLES or not user.is_active or user.clinic_id != actor.clinic_id:
            problems.append(FieldError(f"user_ids[{n}]", "must be an active clinician of this clinic"))
    if problems:
        raise InvalidInput("The roster can only hold active clinicians of this clinic.", fields=problems)
    repo.replace_roster(session, actor.clinic_id, user_ids)
    audit.record(
        session,
        actor,
        "oncall.roster_set",
        clock=clock,
        entity_type="clinic",
        entity_id=actor.clinic_id,
        details={"user_ids": [str(u) for u in user_ids]},
    )


def notifications_for(session: Session, actor: Actor, *, unread_only: bool = True) -> list[Notification]:
    if actor.user_id is None:
        return []
    return repo.notifications(session, actor.user_id, unread_only=unread_only)


def mark_read(session: Session, actor: Actor, notification_id: uuid.UUID, *, clock: Clock) -> None:
    note = repo.notification(session, notification_id)
    if note is None or note.user_id != actor.user_id:
        raise NotFound("No such notification.")
    if note.read_at is None:
        note.read_at = clock.now()
