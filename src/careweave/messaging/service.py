"""Secure messaging use cases (issue #6): threads about one patient, either the patient with members of their
care team ("patient" threads) or clinicians of the team among themselves ("clinician" threads).

Who takes part
    The patient (patient threads only) and clinicians who are *currently* on the patient's care team: a
    membership with no end date (someone who left the team today is out at once, whatever the policy's
    day-granular view says). Checked when a thread is created and on every read, send and mark-as-read: a
    participant who left the team gets 404, like anyone who is not a participant. Administrators never take
    part. Everything is visible only to participants.

What a clinician thread may carry (the consent rule)
    For each shareable category of the record (consent.rules.SHAREABLE: screening, plan, medications,
    progress notes, substance use; psychotherapy notes never), consent.rules.decide says whether each clinician
    in the thread may see it (a consent directive the patient granted, or, for screening, the patient having
    chosen that clinician). A category may be discussed in the thread when *every* clinician in it may see it:
    a message reaches everyone. At least one such category is needed to create the thread and to post in it
    (403 ``consent_required`` with the reason otherwise, e.g. after the patient revokes); messages already
    exchanged stay readable. The page shows the shared categories and, per clinician, what they may see.

Crisis language
    A patient's message is checked by :mod:`careweave.messaging.crisis`. A match flags the message, raises (or
    updates) the patient's safety alert through safety.service.raise_alert with reason
    ``message_crisis_language`` at the rule's level (high for triage STEP 0 signals, moderate otherwise), and
    the answer carries the crisis panel. An open alert raised by the patient's own request for help keeps that
    reason (triage reads it as "imminent risk reported").

Notifications
    A job "message.notice" per other participant: e-mail, and SMS to a patient with a phone, with no content,
    at most one per thread and participant until they read (the dedupe key holds how far they had read).

Nothing here commits; audit events: thread.created, thread.viewed, message.sent (and their denials).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.consent import rules as consent_rules
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput, NotFound
from careweave.identity import service as identity
from careweave.jobs import queue
from careweave.messaging import crisis
from careweave.messaging.models import Message, Thread, ThreadParticipant
from careweave.notify.mail import Mailer
from careweave.patients import service as patients
from careweave.patients.models import Patient
from careweave.safety import service as safety
from careweave.settings import Settings

CRISIS_REASON = "message_crisis_language"
NOTICE_KIND = "message.notice"
NOT_MONITORED = (
    "Messages are not monitored 24/7 and may take up to two business days to be answered. "
    "In an emergency call 911. For a mental-health crisis call or text 988 (Suicide & Crisis Lifeline), "
    "any time, day or night."
)
LIST_LIMIT = 200


class ConsentRequired(policy.RecordedConsentRequired):
    """The patient has not consented to share anything between these clinicians (403, reason given)."""


# ------------------------------------------------------------------ who is in


def _current_team(ref: policy.PatientRef, on: date) -> dict[str, consent_rules.Member]:
    """Clinicians on the team now: started, and not ended (an end date, even today's, means they left)."""
    return {m.user_id: m for m in ref.team if m.start <= on and m.end is None}


def _label(category: str) -> str:
    return consent_rules.LABELS[category]  # type: ignore[index]


@dataclass(frozen=True, slots=True)
class ConsentScope:
    shared: list[str]  # categories every clinician in the thread may see
    by_user: dict[uuid.UUID, list[str]]
    reason: str  # why nothing is shared, when nothing is

    def banner(self, names: dict[uuid.UUID, str]) -> str:
        who = ", ".join(names.get(u, "a clinician") for u in self.by_user)
        shared = "; ".join(_label(c) for c in self.shared) or "nothing"
        return (
            "Only what the patient has consented to share may be discussed here; "
            f"the patient's consent to share with {who}: {shared}."
        )


def consent_scope(ref: policy.PatientRef, clinician_ids: Iterable[uuid.UUID], on: date) -> ConsentScope:
    """Per clinician, the shareable categories the patient's consent lets them see, and the common part.
    Pure over ``ref`` (consent.rules.decide; no break-the-glass, no authorship: a thread is not an item)."""
    by_user: dict[uuid.UUID, list[str]] = {}
    refusals: list[str] = []
    for uid in clinician_ids:
        allowed = []
        for category in consent_rules.SHAREABLE:
            d = consent_rules.decide(str(uid), ref.team, ref.grants, category, on=on)
            if d.allowed:
                allowed.append(category)
        by_user[uid] = allowed
        if not allowed:
            refusals.append(str(uid))
    shared = [c for c in consent_rules.SHAREABLE if all(c in cats for cats in by_user.values())]
    reason = ""
    if not shared:
        reason = (
            "The patient has not consented to share any part of their record with all of these clinicians, "
            "so a thread between you cannot be opened. Ask the patient to share (for example their visit "
            "notes) with the care team or with each of you first."
        )
    return ConsentScope(shared, by_user, reason)


def _participants(session: Session, thread_id: uuid.UUID) -> list[ThreadParticipant]:
    return list(
        session.scalars(
            select(ThreadParticipant)
            .where(ThreadParticipant.thread_id == thread_id)
            .order_by(ThreadParticipant.joined_at, ThreadParticipant.user_id)
        )
    )


def _still_in(part: ThreadParticipant, patient: Patient, team: dict[str, consent_rules.Member]) -> bool:
    return part.user_id == patient.user_id or str(part.user_id) in team


def _deny(
    session: Session,
    actor: Actor,
    event: str,
    *,
    clock: Clock,
    patient_id: uuid.UUID,
    entity_type: str,
    entity_id: object,
    code: str,
) -> None:
    audit.record(
        session,
        actor,
        event,
        clock=clock,
        outcome="denied",
        entity_type=entity_type,
        entity_id=entity_id,
        patient_id=patient_id,
        details={"reason": code},
    )


@dataclass(slots=True)
class _Opened:
    thread: Thread
    patient: Patient
    ref: policy.PatientRef
    parts: list[ThreadParticipant]
    me: ThreadParticipant
    team: dict[str, consent_rules.Member]
    on: date


def _open(
    session: Session, actor: Actor, thread_id: uuid.UUID, action: policy.Action, event: str, *, clock: Clock
) -> _Opened:
    """The thread for a participant who may still take part; 404 (audited) for anyone else."""
    thread = session.get(Thread, thread_id)
    if thread is None:
        raise NotFound("No such thread.")
    patient, ref = patients.get_patient_ref(session, thread.patient_id)
    on = ref.today()
    team = _current_team(ref, on)
    parts = _participants(session, thread.id)
    me = next((p for p in parts if p.user_id == actor.user_id), None)
    ok = me is not None and policy.may(actor, action, ref)
    if ok and actor.role is Role.PATIENT:
        ok = thread.kind == "patient" and actor.user_id == patient.user_id
    elif ok:
        ok = actor.role in CLINICAL_ROLES and str(actor.user_id) in team
    if not ok or me is None:
        _deny(
            session,
            actor,
            event,
            clock=clock,
            patient_id=patient.id,
            entity_type="message_thread",
            entity_id=thread.id,
            code="not_participant" if me is None else "not_on_care_team",
        )
        raise policy.RecordedNotFound("No such thread.")
    return _Opened(thread, patient, ref, parts, me, team, on)


# ------------------------------------------------------------------ views


@dataclass(frozen=True, slots=True)
class ParticipantView:
    user_id: uuid.UUID
    name: str
    role: str
    last_read_at: datetime | None
    last_read_message_id: uuid.UUID | None
    current: bool  # still takes part (the patient, or still on the care team)


@dataclass(frozen=True, slots=True)
class ThreadView:
    thread: Thread
    patient_name: str
    unread: int
    participants: list[ParticipantView]


@dataclass(frozen=True, slots=True)
class MessageView:
    message: Message
    sender_name: str
    seen_by: list[uuid.UUID]  # other participants who have read it
    receipt_names: list[str]  # "Seen by …": participants whose last read message is this one


@dataclass(frozen=True, slots=True)
class ThreadDetail:
    view: ThreadView
    messages: list[MessageView]
    notice: str | None
    scope: ConsentScope | None
    banner: str | None
    can_post: bool
    cannot_post_reason: str | None


@dataclass(frozen=True, slots=True)
class SendOutcome:
    message: Message
    sender_name: str
    crisis: crisis.CrisisResult = field(default=crisis.NO_MATCH)
    alert_id: uuid.UUID | None = None


def _names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    return identity.user_names(session, {i for i in ids if i is not None})


def _unread_counts(session: Session, user_id: uuid.UUID, thread_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not thread_ids:
        return {}
    rows = session.execute(
        select(Message.thread_id, func.count())
        .join(
            ThreadParticipant,
            (ThreadParticipant.thread_id == Message.thread_id) & (ThreadParticipant.user_id == user_id),
        )
        .where(
            Message.thread_id.in_(thread_ids),
            or_(Message.sender_user_id.is_(None), Message.sender_user_id != user_id),
            or_(
                ThreadParticipant.last_read_at.is_(None), Message.created_at > ThreadParticipant.last_read_at
            ),
        )
        .group_by(Message.thread_id)
    ).all()
    return {tid: int(n) for tid, n in rows}


def _participant_views(
    parts: list[ThreadParticipant],
    names: dict[uuid.UUID, tuple[str, str]],
    current: set[uuid.UUID],
    messages: list[Message] | None = None,
) -> list[ParticipantView]:
    out = []
    for p in parts:
        last_id = None
        if messages is not None and p.last_read_at is not None:
            seen = [m for m in messages if m.created_at <= p.last_read_at]
            last_id = seen[-1].id if seen else None
        name, role = names.get(p.user_id, ("(former user)", ""))
        out.append(
            ParticipantView(
                p.user_id, name or "(no name)", role, p.last_read_at, last_id, p.user_id in current
            )
        )
    return out


def list_threads(
    session: Session, actor: Actor, *, clock: Clock, patient_id: uuid.UUID | None = None
) -> list[ThreadView]:
    """The threads the actor takes part in (and still may), newest activity first, with unread counts."""
    if actor.user_id is None or actor.role not in {Role.PATIENT, *CLINICAL_ROLES}:
        return []
    stmt = (
        select(Thread)
        .join(ThreadParticipant, ThreadParticipant.thread_id == Thread.id)
        .where(ThreadParticipant.user_id == actor.user_id)
        .order_by(func.coalesce(Thread.last_message_at, Thread.created_at).desc(), Thread.id)
        .limit(LIST_LIMIT)
    )
    if patient_id is not None:
        stmt = stmt.where(Thread.patient_id == patient_id)
    threads = list(session.scalars(stmt))
    refs: dict[uuid.UUID, tuple[Patient, policy.PatientRef, dict[str, consent_rules.Member]]] = {}
    visible: list[Thread] = []
    for t in threads:
        if t.patient_id not in refs:
            p, ref = patients.get_patient_ref(session, t.patient_id)
            refs[t.patient_id] = (p, ref, _current_team(ref, ref.today()))
        p, ref, team = refs[t.patient_id]
        if not policy.may(actor, policy.Action.THREAD_READ, ref):
            continue
        if actor.role is Role.PATIENT and (t.kind != "patient" or actor.user_id != p.user_id):
            continue
        if actor.role is not Role.PATIENT and str(actor.user_id) not in team:
            continue
        visible.append(t)
    unread = _unread_counts(session, actor.user_id, [t.id for t in visible])
    parts_by: dict[uuid.UUID, list[ThreadParticipant]] = {}
    if visible:
        for tp in session.scalars(
            select(ThreadParticipant)
            .where(ThreadParticipant.thread_id.in_([t.id for t in visible]))
            .order_by(ThreadParticipant.joined_at, ThreadParticipant.user_id)
        ):
            parts_by.setdefault(tp.thread_id, []).append(tp)
    names = _names(session, {tp.user_id for ps in parts_by.values() for tp in ps})
    pnames = patients.display_names(session, {t.patient_id for t in visible})
    out = []
    for t in visible:
        p, _, team = refs[t.patient_id]
        ps = parts_by.get(t.id, [])
        current = {tp.user_id for tp in ps if tp.user_id == p.user_id or str(tp.user_id) in team}
        out.append(
            ThreadView(
                t,
                pnames.get(t.patient_id, "(unknown)"),
                unread.get(t.id, 0),
                _participant_views(ps, names, current),
            )
        )
    return out


def unread_total(session: Session, actor: Actor, *, clock: Clock) -> int:
    return sum(v.unread for v in list_threads(session, actor, clock=clock))


def get_thread(session: Session, actor: Actor, thread_id: uuid.UUID, *, clock: Clock) -> ThreadDetail:
    """A thread with its messages and read receipts (audited ``thread.viewed``)."""
    o = _open(session, actor, thread_id, policy.Action.THREAD_READ, "thread.viewed", clock=clock)
    messages = list(
        session.scalars(
            select(Message).where(Message.thread_id == o.thread.id).order_by(Message.created_at, Message.id)
        )
    )
    names = _names(
        session, {p.user_id for p in o.parts} | {m.sender_user_id for m in messages if m.sender_user_id}
    )
    current = {p.user_id for p in o.parts if _still_in(p, o.patient, o.team)}
    pviews = _participant_views(o.parts, names, current, messages)
    unread = _unread_counts(session, o.me.user_id, [o.thread.id]).get(o.thread.id, 0)
    # "Seen by …": each other participant under the latest message from someone else that they have read.
    receipts: dict[uuid.UUID, list[str]] = {}
    for pv in pviews:
        if pv.user_id == actor.user_id or pv.last_read_at is None:
            continue
        read = [m for m in messages if m.sender_user_id != pv.user_id and m.created_at <= pv.last_read_at]
        if read:
            receipts.setdefault(read[-1].id, []).append(pv.name)
    mviews = [
        MessageView(
            m,
            names.get(m.sender_user_id, ("(former user)", ""))[0] if m.sender_user_id else "(former user)",
            [
                p.user_id
                for p in o.parts
                if p.user_id != m.sender_user_id
                and p.last_read_at is not None
                and m.created_at <= p.last_read_at
            ],
            receipts.get(m.id, []),
        )
        for m in messages
    ]
    scope = banner = None
    can_post, why = True, None
    if o.thread.kind == "clinician":
        clinicians = [p.user_id for p in o.parts if p.user_id in current]
        scope = consent_scope(o.ref, clinicians, o.on)
        banner = scope.banner({u: names.get(u, ("a clinician", ""))[0] for u in clinicians})
        if not scope.shared:
            can_post, why = False, scope.reason
    audit.record(
        session,
        actor,
        "thread.viewed",
        clock=clock,
        entity_type="message_thread",
        entity_id=o.thread.id,
        patient_id=o.patient.id,
        details={"messages": len(messages)},
    )
    view = ThreadView(o.thread, o.patient.display_name, unread, pviews)
    notice = NOT_MONITORED if o.thread.kind == "patient" else None
    return ThreadDetail(view, mviews, notice, scope, banner, can_post, why)


# ------------------------------------------------------------------ writing


def recipients(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> list[tuple[uuid.UUID, str, str]]:
    """Who can be added to a new thread about this patient: current care-team clinicians (id, name, role)."""
    _, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.MESSAGE_SEND, ref, clock=clock, event="thread.created")
    team = _current_team(ref, ref.today())
    if actor.role is not Role.PATIENT and str(actor.user_id) not in team:
        raise NotFound("No such patient.")
    ids = {uuid.UUID(u) for u in team}
    names = _names(session, ids)
    rows = [(u, names.get(u, ("Clinician", ""))[0] or "Clinician", team[str(u)].role) for u in ids]
    return sorted(rows, key=lambda r: (r[1], str(r[0])))


def create_thread(
    session: Session,
    actor: Actor,
    *,
    patient_id: uuid.UUID,
    participants: list[uuid.UUID],
    subject: str,
    kind: str,
    body: str | None,
    clock: Clock,
    settings: Settings,
    mailer: Mailer,
) -> tuple[Thread, SendOutcome | None]:
    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.MESSAGE_SEND, ref, clock=clock, event="thread.created")
    on = ref.today()
    team = _current_team(ref, on)
    if actor.role is not Role.PATIENT and str(actor.user_id) not in team:
        _deny(
            session,
            actor,
            "thread.created",
            clock=clock,
            patient_id=patient.id,
            entity_type="patient",
            entity_id=patient.id,
            code="not_on_care_team",
        )
        raise policy.RecordedNotFound("No such patient.")
    errors: list[FieldError] = []
    subject = (subject or "").strip()
    if not subject:
        errors.append(FieldError("subject", "required"))
    if kind not in ("patient", "clinician"):
        errors.append(FieldError("kind", "patient or clinician"))
    elif kind == "clinician" and actor.role is Role.PATIENT:
        errors.append(FieldError("kind", "patients write in patient threads"))
    if kind == "patient" and patient.user_id is None:
        errors.append(FieldError("patient_id", "this patient has no account to message"))
    chosen: list[uuid.UUID] = []
    for i, uid in enumerate(participants):
        if uid in chosen or uid == actor.user_id:
            continue
        if kind == "patient" and uid == patient.user_id:
            continue
        if str(uid) not in team:
            errors.append(
                FieldError(f"participants[{i}]", "not a current member of this patient's care team")
            )
            continue
        chosen.append(uid)
    clinicians = list(dict.fromkeys([*([actor.user_id] if actor.role is not Role.PATIENT else []), *chosen]))
    if kind == "patient" and not clinicians:
        errors.append(FieldError("participants", "add at least one member of the patient's care team"))
    if kind == "clinician" and len(clinicians) < 2:
        errors.append(
            FieldError("participants", "a clinician thread needs at least two clinicians of the care team")
        )
    if errors:
        raise InvalidInput("The thread is not valid.", fields=errors)
    if kind == "clinician":
        scope = consent_scope(ref, clinicians, on)  # type: ignore[arg-type]
        if not scope.shared:
            _deny(
                session,
                actor,
                "thread.created",
                clock=clock,
                patient_id=patient.id,
                entity_type="patient",
                entity_id=patient.id,
                code="consent_required",
            )
            raise ConsentRequired(scope.reason)
    now = clock.now()
    thread = Thread(
        patient_id=patient.id, kind=kind, subject=subject[:200], created_by=actor.user_id, created_at=now
    )
    session.add(thread)
    session.flush()
    members = [*([patient.user_id] if kind == "patient" else []), *clinicians]
    for uid in members:
        session.add(
            ThreadParticipant(
                thread_id=thread.id,
                user_id=uid,
                joined_at=now,
                last_read_at=now if uid == actor.user_id else None,
            )
        )
    session.flush()
    audit.record(
        session,
        actor,
        "thread.created",
        clock=clock,
        entity_type="message_thread",
        entity_id=thread.id,
        patient_id=patient.id,
        details={"kind": kind, "participant_ids": [str(u) for u in members]},
    )
    outcome = None
    if body:
        parts = _participants(session, thread.id)
        me = next(p for p in parts if p.user_id == actor.user_id)
        opened = _Opened(thread, patient, ref, parts, me, team, on)
        outcome = _post(session, actor, opened, body, clock=clock, settings=settings, mailer=mailer)
    return thread, outcome


def send_message(
    session: Session,
    actor: Actor,
    thread_id: uuid.UUID,
    body: str,
    *,
    clock: Clock,
    settings: Settings,
    mailer: Mailer,
) -> SendOutcome:
    o = _open(session, actor, thread_id, policy.Action.MESSAGE_SEND, "message.sent", clock=clock)
    if o.thread.kind == "clinician":
        current = [p.user_id for p in o.parts if str(p.user_id) in o.team]
        scope = consent_scope(o.ref, current, o.on)
        if not scope.shared or len(current) < 2:
            _deny(
                session,
                actor,
                "message.sent",
                clock=clock,
                patient_id=o.patient.id,
                entity_type="message_thread",
                entity_id=o.thread.id,
                code="consent_required",
            )
            raise ConsentRequired(
                scope.reason or "No other clinician of the care team is left in this thread."
            )
    return _post(session, actor, o, body, clock=clock, settings=settings, mailer=mailer)


def _post(
    session: Session, actor: Actor, o: _Opened, body: str, *, clock: Clock, settings: Settings, mailer: Mailer
) -> SendOutcome:
    body = (body or "").strip()
    if not body:
        raise InvalidInput("Write a message.", fields=[FieldError("body", "required")])
    if len(body) > 5000:
        raise InvalidInput("The message is too long.", fields=[FieldError("body", "at most 5000 characters")])
    now = clock.now()
    check = crisis.check(body) if actor.role is Role.PATIENT else crisis.NO_MATCH
    message = Message(
        thread_id=o.thread.id,
        sender_user_id=actor.user_id,
        body=body,
        crisis_flag=check.matched,
        created_at=now,
    )
    session.add(message)
    session.flush()
    o.thread.last_message_at = now
    if o.me.last_read_at is None or o.me.last_read_at < now:
        o.me.last_read_at = now
    alert_id = None
    if check.matched and check.level is not None:
        level, reason = check.level, CRISIS_REASON
        if safety.imminent_risk_reported(session, o.patient.id):
            level, reason = "high", safety.HELP_REASON  # keep the patient's own request for help visible
        alert = safety.raise_alert(
            session,
            actor,
            patient_id=o.patient.id,
            level=level,
            reason=reason,
            screening_id=None,
            structured_assessment=False,
            clock=clock,
            settings=settings,
            mailer=mailer,
        )
        message.safety_alert_id = alert_id = alert.id
    session.flush()
    audit.record(
        session,
        actor,
        "message.sent",
        clock=clock,
        entity_type="message",
        entity_id=message.id,
        patient_id=o.patient.id,
        details={
            "thread_id": str(o.thread.id),
            "crisis_flag": check.matched,
            **({"safety_alert_id": str(alert_id), "rules": list(check.rule_ids)} if alert_id else {}),
        },
    )
    _enqueue_notices(session, o, sender=actor.user_id, now=now)
    name = _names(session, {actor.user_id} if actor.user_id else set()).get(actor.user_id, ("", ""))[0]  # type: ignore[arg-type]
    return SendOutcome(message, name or "", check, alert_id)


def notice_key(thread_id: uuid.UUID, user_id: uuid.UUID, last_read_at: datetime | None) -> str:
    """One notice per thread and participant until they read: the key names how far they had read."""
    mark = int(last_read_at.timestamp() * 1_000_000) if last_read_at else 0
    return f"message-notice:{thread_id}:{user_id}:{mark}"


def _enqueue_notices(session: Session, o: _Opened, *, sender: uuid.UUID | None, now: datetime) -> None:
    for p in o.parts:
        if p.user_id == sender or not _still_in(p, o.patient, o.team):
            continue
        queue.enqueue(
            session,
            NOTICE_KIND,
            {"thread_id": str(o.thread.id), "user_id": str(p.user_id)},
            run_at=now,
            dedupe_key=notice_key(o.thread.id, p.user_id, p.last_read_at),
        )


def mark_read(session: Session, actor: Actor, thread_id: uuid.UUID, *, clock: Clock) -> ThreadView:
    """The actor has read the thread up to its latest message (read receipts, unread counts)."""
    o = _open(session, actor, thread_id, policy.Action.THREAD_READ, "thread.viewed", clock=clock)
    latest = session.scalar(select(func.max(Message.created_at)).where(Message.thread_id == o.thread.id))
    if latest is not None and (o.me.last_read_at is None or latest > o.me.last_read_at):
        o.me.last_read_at = latest
        session.flush()
    names = _names(session, {p.user_id for p in o.parts})
    current = {p.user_id for p in o.parts if _still_in(p, o.patient, o.team)}
    return ThreadView(o.thread, o.patient.display_name, 0, _participant_views(o.parts, names, current))


def notice_target(
    session: Session, thread_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[Thread, Patient] | None:
    """For the notice job: the thread and patient when ``user_id`` still takes part and has unread messages."""
    thread = session.get(Thread, thread_id)
    part = session.get(ThreadParticipant, (thread_id, user_id))
    if thread is None or part is None:
        return None
    patient, ref = patients.get_patient_ref(session, thread.patient_id)
    team = _current_team(ref, ref.today())
    if not _still_in(part, patient, team):
        return None
    if _unread_counts(session, user_id, [thread.id]).get(thread.id, 0) == 0:
        return None
    return thread, patient
