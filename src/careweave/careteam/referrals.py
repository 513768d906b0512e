"""Referrals between therapy and psychiatry (issue #6).

A therapist refers a patient for a medication evaluation; a psychiatrist refers to therapy. To a named clinician
or, open, to any clinician of the clinic whose provider profile fits the kind (prescribers for a medication
evaluation, therapists for therapy): the first to accept takes it.

Lifecycle (``MOVES``, pure and tested directly): draft → sent → accepted | declined (reason) → scheduled (the
patient booked a visit with the receiver) → completed (outcome) | cancelled. Every move is a ``ReferralEvent``
row (who, when, from, to) and an audit event ``referral.<past tense>``.

Access: the referrer sees what they wrote (status and outcome, even after leaving the team); the receiver (or,
while open, every fitting clinician) sees the referral itself (reason, question), and the patient's record only
as the policy allows (``policy.may_see``: on the team after accepting, and only the categories the patient shared);
the patient sees their referrals once sent; the rest of the care team reads them under ``REFERRAL_READ``.
Data the receiver needs and the patient has not shared is asked of the patient (``consent.service.request_consent``),
never shared silently; the referrer sees what is pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.careteam import service as careteam
from careweave.careteam.models import REFERRAL_KINDS, URGENCIES, Referral, ReferralEvent
from careweave.consent import rules as consent_rules
from careweave.consent import service as consent
from careweave.consent.models import ConsentRequest
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock, local_today
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound, PolicyDenied
from careweave.directory import documents
from careweave.directory.models import Provider
from careweave.identity.models import User
from careweave.jobs import queue
from careweave.notify.mail import Mail
from careweave.patients import service as patients
from careweave.patients.models import Patient
from careweave.settings import Settings

# A sent referral nobody accepted within this many days shows as overdue in the referrer's home: the setting
# ``referral_overdue_days`` (CAREWEAVE_REFERRAL_OVERDUE_DAYS), which routes pass; this is its default.
REFERRAL_OVERDUE_DAYS: int = Settings.model_fields["referral_overdue_days"].default

NOTICE_KIND = "referral.notice"
# The history line of a referral sent to "any matching clinician" (also how a late acceptor is told it was taken).
OPEN_NOTE = "Open to any matching clinician"
TAKEN = "Another clinician has already accepted this referral."
MIN_TEXT = 3  # a reason, a decline reason, an outcome: at least this many characters
MAX_TEXT = 4000
# The parts of the record a receiver typically needs: shown on the referral page, each only where consent allows.
SHOWN_CATEGORIES: tuple[consent_rules.Category, ...] = ("screening", "plan")
SERVICE_FOR_KIND = {"medication_evaluation": "medication_management", "therapy": "therapy"}
TEAM_ROLE_FOR_KIND = {"medication_evaluation": "prescriber", "therapy": "therapist"}
KIND_LABELS = {"medication_evaluation": "Medication evaluation", "therapy": "Therapy"}
STATUS_LABELS = {
    "draft": "Draft",
    "sent": "Sent, waiting for an answer",
    "accepted": "Accepted",
    "declined": "Declined",
    "scheduled": "Visit booked",
    "completed": "Completed",
    "cancelled": "Cancelled",
}


# ---------------------------------------------------------------------------------------------------------------
# Pure rules: who may move a referral from which status to which.

Party = Literal["referrer", "receiver", "system"]
Move = Literal["send", "accept", "decline", "schedule", "complete", "cancel"]


@dataclass(frozen=True, slots=True)
class MoveRule:
    party: Party
    sources: frozenset[str]
    target: str


MOVES: dict[Move, MoveRule] = {
    # The referrer sends a draft, and may cancel until the referral is completed (or declined).
    "send": MoveRule("referrer", frozenset({"draft"}), "sent"),
    "cancel": MoveRule("referrer", frozenset({"draft", "sent", "accepted", "scheduled"}), "cancelled"),
    # The receiver answers a sent referral and completes it (with or without a visit booked through Careweave).
    "accept": MoveRule("receiver", frozenset({"sent"}), "accepted"),
    "decline": MoveRule("receiver", frozenset({"sent"}), "declined"),
    "complete": MoveRule("receiver", frozenset({"accepted", "scheduled"}), "completed"),
    # The patient booked a visit with the receiver (booking calls mark_scheduled).
    "schedule": MoveRule("system", frozenset({"accepted"}), "scheduled"),
}
PARTY_LABELS = {
    "referrer": "the referring clinician",
    "receiver": "the clinician it was sent to",
    "system": "Careweave when the patient books",
}


@dataclass(frozen=True, slots=True)
class MoveCheck:
    allowed: bool
    target: str | None
    wrong_party: bool  # the status allows the move, but not from this actor
    reason: str


def check_move(move: Move, status: str, parties: Iterable[Party]) -> MoveCheck:
    """May someone acting as ``parties`` make ``move`` on a referral in ``status``? With the reason if not."""
    rule = MOVES[move]
    if rule.party not in set(parties):
        return MoveCheck(False, None, True, f"Only {PARTY_LABELS[rule.party]} can {move} this referral.")
    if status not in rule.sources:
        return MoveCheck(
            False,
            None,
            False,
            f"A referral that is {status} cannot be {_past(move)} (it must be "
            f"{' or '.join(sorted(rule.sources))}).",
        )
    return MoveCheck(True, rule.target, False, "")


def moves_for(status: str, parties: Iterable[Party]) -> list[Move]:
    """The moves open to ``parties`` now (for buttons)."""
    ps = set(parties)
    return [m for m, r in MOVES.items() if r.party in ps and status in r.sources and m != "schedule"]


def _past(move: Move) -> str:
    return {
        "send": "sent",
        "accept": "accepted",
        "decline": "declined",
        "schedule": "scheduled",
        "complete": "completed",
        "cancel": "cancelled",
    }[move]


def is_overdue(
    status: str, sent_at: datetime | None, now: datetime, days: int = REFERRAL_OVERDUE_DAYS
) -> bool:
    return status == "sent" and sent_at is not None and sent_at <= now - timedelta(days=days)


# ---------------------------------------------------------------------------------------------------------------
# Errors


class ReferralNotFound(NotFound):
    code = "referral.not_found"


class NotYourMove(Conflict):
    code = "referral.not_your_move"


class InvalidTransition(Conflict):
    code = "referral.invalid_transition"


# ---------------------------------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True, slots=True)
class ReferralIn:
    patient_id: uuid.UUID
    kind: str
    reason: str
    urgency: str = "routine"
    to_provider_id: uuid.UUID | None = None
    question: str | None = None
    modality: str | None = None
    needs: tuple[str, ...] = ()
    send: bool = False


@dataclass(frozen=True, slots=True)
class ReferralView:
    referral: Referral
    patient_name: str
    from_name: str
    to_name: str | None  # None: open to any matching clinician, not yet taken
    parties: frozenset[Party]
    moves: tuple[Move, ...]
    overdue: bool

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.referral.kind, self.referral.kind)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.referral.status, self.referral.status)

    @property
    def open(self) -> bool:
        return self.referral.to_user_id is None


@dataclass(frozen=True, slots=True)
class SharedSection:
    """One category of the patient's record on the receiver's referral page."""

    category: str
    label: str
    allowed: bool
    pending: bool  # the patient has been asked and has not answered
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PendingConsent:
    request_id: uuid.UUID
    for_user_id: uuid.UUID
    categories: tuple[str, ...]
    status: str


@dataclass(frozen=True, slots=True)
class ReferralDetail:
    view: ReferralView
    events: list[ReferralEvent]
    actor_names: dict[uuid.UUID, str]
    consents: list[PendingConsent]  # requests made for this referral (pending and answered)
    shared: list[SharedSection]  # for the receiver only (empty for anyone else)


# ---------------------------------------------------------------------------------------------------------------
# Use cases


def create(session: Session, actor: Actor, data: ReferralIn, *, clock: Clock) -> Referral:
    """A therapist or psychiatrist on the patient's care team writes a referral (a draft, or sent at once)."""
    patient, ref = patients.get_patient_ref(session, data.patient_id)
    audit.require(session, actor, policy.Action.REFERRAL_CREATE, ref, clock=clock, event="referral.created")
    clean = _validate(session, actor, patient, data, today=local_today(patient.timezone, clock.now()))
    referral = Referral(
        patient_id=patient.id,
        kind=data.kind,
        from_user_id=actor.user_id,
        to_provider_id=clean["provider"].id if clean["provider"] else None,
        to_user_id=clean["provider"].user_id if clean["provider"] else None,
        reason=clean["reason"],
        question=clean["question"],
        modality=clean["modality"],
        urgency=data.urgency,
        status="draft",
        needs_categories=clean["needs"],
    )
    session.add(referral)
    session.flush()
    _event(session, referral, actor, None, "draft", clock=clock)
    audit.record(
        session,
        actor,
        "referral.created",
        clock=clock,
        entity_type="referral",
        entity_id=referral.id,
        patient_id=patient.id,
        details={
            "kind": referral.kind,
            "urgency": referral.urgency,
            "to_provider_id": str(referral.to_provider_id) if referral.to_provider_id else None,
            "needs": list(referral.needs_categories),
        },
    )
    if data.send:
        _send(session, actor, referral, clock=clock)
    return referral


def _validate(
    session: Session, actor: Actor, patient: Patient, data: ReferralIn, *, today: date
) -> dict[str, Any]:
    errors: list[FieldError] = []
    if data.kind not in REFERRAL_KINDS:
        errors.append(FieldError("kind", f"one of {', '.join(REFERRAL_KINDS)}"))
    if data.urgency not in URGENCIES:
        errors.append(FieldError("urgency", f"one of {', '.join(URGENCIES)}"))
    reason = (data.reason or "").strip()
    if len(reason) < MIN_TEXT:
        errors.append(FieldError("reason", f"say why you refer (at least {MIN_TEXT} characters)"))
    question = (data.question or "").strip() or None
    modality = (data.modality or "").strip().lower() or None
    if modality is not None and data.kind == "medication_evaluation":
        errors.append(FieldError("modality", "only for a therapy referral"))
    needs, bad = consent_rules.shareable(dict.fromkeys(data.needs))
    if "psychotherapy_notes" in bad:
        errors.append(FieldError("needs", "psychotherapy notes are never shared by a referral"))
    elif bad:
        errors.append(FieldError("needs", f"unknown categories: {', '.join(sorted(bad))}"))
    provider = None
    if data.to_provider_id is not None:
        provider = session.get(Provider, data.to_provider_id)
        problem = None
        if provider is None or not provider.is_active or provider.clinic_id != patient.clinic_id:
            problem = "no such clinician"
        elif provider.user_id is None:
            problem = "this clinician has no Careweave account to receive referrals"
        elif provider.user_id == actor.user_id:
            problem = "you cannot refer to yourself"
        elif data.kind in SERVICE_FOR_KIND and not _fits(provider, data.kind):
            problem = (
                "this clinician does not offer medication management"
                if data.kind == "medication_evaluation"
                else "this clinician does not offer therapy"
            )
        elif data.kind in SERVICE_FOR_KIND:
            problem = _may_not_treat_there(session, provider, patient, data.kind, today)
        if problem:
            errors.append(FieldError("to_provider_id", problem))
    if errors:
        raise InvalidInput("The referral is not valid.", fields=errors)
    return {
        "reason": reason[:MAX_TEXT],
        "question": question[:MAX_TEXT] if question else None,
        "modality": modality[:40] if modality else None,
        "needs": sorted(needs),
        "provider": provider,
    }


def _may_not_treat_there(
    session: Session, provider: Provider, patient: Patient, kind: str, today: date
) -> str | None:
    """Why ``provider`` may not legally treat ``patient`` for ``kind`` where the patient is (their state on
    record), today: no licence or compact privilege valid in that state, or a credential whose scope there does
    not fit the role (psychiatry: a prescriber licensed to prescribe there). directory.rules decides, as for
    matching and booking; network, capacity and availability are not checked here (the receiver accepts or
    declines; booking re-checks everything). None when the patient's state is not on record yet."""
    from careweave.directory import matching
    from careweave.directory import rules as directory_rules

    if not patient.state:
        return None
    facts = matching.provider_facts(session, provider, today)
    if facts is None:
        return "this clinician is not in the directory"
    need = directory_rules.Need(
        pathway="psychiatry" if kind == "medication_evaluation" else "therapy",
        state=patient.state,
        on_date=today,
        self_pay=True,
        patient_id=str(patient.id),
    )
    legal = [
        e
        for e in directory_rules.exclusions(facts, need, TEAM_ROLE_FOR_KIND[kind])  # type: ignore[arg-type]
        if e.code in ("no_authority_in_state", "scope")
    ]
    return " ".join(e.reason for e in legal) or None


def _fits(provider: Provider, kind: str) -> bool:
    return bool(
        provider.offers_medication_management if kind == "medication_evaluation" else provider.offers_therapy
    )


def send(session: Session, actor: Actor, referral_id: uuid.UUID, *, clock: Clock) -> Referral:
    referral, _, parties = _load(session, actor, referral_id, for_update=True)
    _check(referral, "send", parties)
    _send(session, actor, referral, clock=clock)
    return referral


def _send(session: Session, actor: Actor, referral: Referral, *, clock: Clock) -> None:
    note = OPEN_NOTE if referral.to_user_id is None else None
    _apply(session, actor, referral, "send", clock=clock, note=note, sent_at=clock.now())
    if referral.to_user_id is not None:
        _ask_consent(session, actor, referral, clock=clock)
    queue.enqueue(
        session,
        NOTICE_KIND,
        {"referral_id": str(referral.id), "to": "receiver", "open": referral.to_user_id is None},
        run_at=clock.now(),
        dedupe_key=f"referral:{referral.id}:sent",
    )


def accept(session: Session, actor: Actor, referral_id: uuid.UUID, *, clock: Clock) -> Referral:
    """The receiver (or, for an open referral, the first fitting clinician) accepts: they join the care team."""
    try:
        referral, _, parties = _load(session, actor, referral_id, for_update=True)
    except ReferralNotFound:
        if _open_taken_by_other(session, actor, referral_id):
            raise InvalidTransition(TAKEN) from None
        raise
    if "receiver" not in parties and _open_taken_by_other(session, actor, referral_id):
        raise InvalidTransition(TAKEN)
    _check(referral, "accept", parties)
    was_open = referral.to_user_id is None
    if was_open:
        referral.to_user_id = actor.user_id
        referral.to_provider_id = session.scalar(select(Provider.id).where(Provider.user_id == actor.user_id))
    if referral.to_provider_id is not None:
        # Joining the team moves the clinician's caseload (directory.recount_caseload): their provider row is
        # locked before this transaction's first audit event takes the chain's head (documents.lock's order).
        documents.lock(session, [referral.to_provider_id])
    _apply(session, actor, referral, "accept", clock=clock, accepted_at=clock.now())
    careteam.ensure_member(
        session,
        patient_id=referral.patient_id,
        user_id=actor.user_id,  # type: ignore[arg-type]
        basis="referral",
        clock=clock,
        role=TEAM_ROLE_FOR_KIND.get(referral.kind),
        provider_id=referral.to_provider_id,
        added_by=referral.from_user_id,
        referral_id=referral.id,
    )
    if was_open:
        _ask_consent(session, actor, referral, clock=clock)
    queue.enqueue(
        session,
        NOTICE_KIND,
        {"referral_id": str(referral.id), "to": "patient"},
        run_at=clock.now(),
        dedupe_key=f"referral:{referral.id}:accepted",
    )
    return referral


def decline(session: Session, actor: Actor, referral_id: uuid.UUID, *, reason: str, clock: Clock) -> Referral:
    referral, _, parties = _load(session, actor, referral_id, for_update=True)
    _check(referral, "decline", parties)
    if referral.to_user_id is None:
        raise NotYourMove(
            "This referral is open to every matching clinician: leave it for a colleague, or ask the referring "
            "clinician to cancel it."
        )
    text = (reason or "").strip()
    if len(text) < MIN_TEXT:
        raise InvalidInput(
            "Say why you decline.", fields=[FieldError("reason", f"at least {MIN_TEXT} characters")]
        )
    _apply(
        session,
        actor,
        referral,
        "decline",
        clock=clock,
        note=text[:MAX_TEXT],
        declined_at=clock.now(),
        decline_reason=text[:MAX_TEXT],
    )
    return referral


def cancel(
    session: Session, actor: Actor, referral_id: uuid.UUID, *, reason: str | None = None, clock: Clock
) -> Referral:
    referral, _, parties = _load(session, actor, referral_id, for_update=True)
    _check(referral, "cancel", parties)
    note = (reason or "").strip()[:MAX_TEXT] or None
    _apply(session, actor, referral, "cancel", clock=clock, note=note, cancelled_at=clock.now())
    _withdraw_consent_requests(session, referral, clock=clock)
    return referral


def complete(
    session: Session, actor: Actor, referral_id: uuid.UUID, *, outcome: str, clock: Clock
) -> Referral:
    referral, _, parties = _load(session, actor, referral_id, for_update=True)
    _check(referral, "complete", parties)
    text = (outcome or "").strip()
    if len(text) < MIN_TEXT:
        raise InvalidInput(
            "Say what came of the referral.",
            fields=[FieldError("outcome", f"at least {MIN_TEXT} characters")],
        )
    _apply(
        session, actor, referral, "complete", clock=clock, completed_at=clock.now(), outcome=text[:MAX_TEXT]
    )
    return referral


def mark_scheduled(
    session: Session,
    patient_id: uuid.UUID,
    provider_user_id: uuid.UUID,
    appointment_id: uuid.UUID,
    clock: Clock,
) -> list[Referral]:
    """The patient booked a visit with ``provider_user_id``: their accepted referrals for this patient become
    scheduled (with the visit). Call from booking, in the booking's unit of work. Idempotent; returns the moved."""
    rows = list(
        session.scalars(
            select(Referral)
            .where(
                Referral.patient_id == patient_id,
                Referral.to_user_id == provider_user_id,
                Referral.status == "accepted",
            )
            .with_for_update()
        )
    )
    system = Actor.system()
    for referral in rows:
        _apply(
            session,
            system,
            referral,
            "schedule",
            clock=clock,
            scheduled_at=clock.now(),
            appointment_id=appointment_id,
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Reading


def get(
    session: Session,
    actor: Actor,
    referral_id: uuid.UUID,
    *,
    clock: Clock,
    record_view: bool = True,
    overdue_days: int = REFERRAL_OVERDUE_DAYS,
) -> ReferralDetail:
    """One referral with its history; for the receiver, the patient's record as far as consent allows.
    ``record_view=False``: the answer to a move the caller just made (audited as that move). ``overdue_days``:
    the setting ``referral_overdue_days``."""
    referral, ref, parties = _load(session, actor, referral_id)
    view = _views(session, actor, [referral], clock=clock, overdue_days=overdue_days)[0]
    events = list(
        session.scalars(
            select(ReferralEvent).where(ReferralEvent.referral_id == referral.id).order_by(ReferralEvent.at)
        )
    )
    ids = {e.actor_user_id for e in events if e.actor_user_id}
    names = _names(session, ids)
    consents = _consent_requests(session, referral) if actor.role is not Role.PATIENT else []
    shared: list[SharedSection] = []
    if "receiver" in parties and referral.status not in ("draft", "cancelled", "declined"):
        shared = _shared_sections(session, actor, referral, ref, consents, clock=clock)
    if not record_view and not any(s.allowed for s in shared):
        return ReferralDetail(view, events, names, consents, shared)
    audit.record(
        session,
        actor,
        "referral.viewed",
        clock=clock,
        entity_type="referral",
        entity_id=referral.id,
        patient_id=referral.patient_id,
        details={"shown": sorted(s.category for s in shared if s.allowed)},
    )
    return ReferralDetail(view, events, names, consents, shared)


def list_referrals(
    session: Session,
    actor: Actor,
    *,
    role: Literal["sent", "received"] | None = None,
    clock: Clock,
    patient_id: uuid.UUID | None = None,
    limit: int = 200,
    overdue_days: int = REFERRAL_OVERDUE_DAYS,
) -> list[ReferralView]:
    """A patient: their referrals (once sent). A clinician: those they sent (``role="sent"``) or received or may
    take while open (``role="received"``, the default). Newest first. ``overdue_days``: the setting
    ``referral_overdue_days``."""
    stmt = select(Referral).order_by(Referral.created_at.desc()).limit(max(1, min(limit, 500)))
    if actor.role is Role.PATIENT:
        if actor.patient_id is None:
            return []
        stmt = stmt.where(Referral.patient_id == actor.patient_id, Referral.status != "draft")
    elif actor.role in CLINICAL_ROLES and actor.user_id is not None:
        if role == "sent":
            stmt = stmt.where(Referral.from_user_id == actor.user_id)
        else:
            stmt = stmt.where(_received_clause(session, actor))
    else:
        raise PolicyDenied("Referrals are for clinicians and their patients.")
    if patient_id is not None:
        stmt = stmt.where(Referral.patient_id == patient_id)
    rows = list(session.scalars(stmt))
    if rows and actor.role is not Role.PATIENT:
        audit.record(
            session,
            actor,
            "referral.listed",
            clock=clock,
            entity_type="referral",
            details={"referrals": len(rows), "role": role or "received"},
        )
    return _views(session, actor, rows, clock=clock, overdue_days=overdue_days)


def overdue_for(
    session: Session, actor: Actor, clock: Clock, *, overdue_days: int = REFERRAL_OVERDUE_DAYS
) -> list[ReferralView]:
    """Referrals ``actor`` sent that nobody accepted within ``overdue_days`` (the setting
    ``referral_overdue_days``), for the referrer's home."""
    if actor.user_id is None or actor.role not in CLINICAL_ROLES:
        return []
    cutoff = clock.now() - timedelta(days=overdue_days)
    rows = list(
        session.scalars(
            select(Referral)
            .where(
                Referral.from_user_id == actor.user_id,
                Referral.status == "sent",
                Referral.sent_at <= cutoff,
            )
            .order_by(Referral.sent_at)
            .limit(100)
        )
    )
    return _views(session, actor, rows, clock=clock, overdue_days=overdue_days)


def matching_clinicians(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    kind: str,
    clock: Clock,
    modality: str | None = None,
) -> tuple[list[Any], str | None]:
    """Clinicians who can legally see the patient for ``kind`` (directory matching, ranked with reasons), for the
    referral form: (ranked, why there is nobody). Only clinicians with an account here (they must accept)."""
    from careweave.directory import matching

    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.REFERRAL_CREATE, ref, clock=clock, event="referral.created")
    if kind not in REFERRAL_KINDS:
        raise InvalidInput(
            "Unknown kind.", fields=[FieldError("kind", f"one of {', '.join(REFERRAL_KINDS)}")]
        )
    pathway = "psychiatry" if kind == "medication_evaluation" else "therapy"
    need, plan_name, why = matching.need_for_patient(
        session, patient.id, on_date=clock.now().date(), pathway=pathway
    )
    if need is None:
        return [], why
    # The need's conditions come from the screenings: only those this referrer may see steer (and explain) the
    # ranking, so its reasons never reveal a screening result the patient has not shared with them.
    conditions = frozenset(
        c
        for c in need.conditions
        if policy.may_see(actor, ref, "substance_use" if c == "substance_use" else "screening")
    )
    need = replace(
        need, conditions=conditions, modalities=frozenset({modality.lower()}) if modality else need.modalities
    )
    result = matching.run_match(session, need, plan_name=plan_name, now=clock.now())
    ranked = list(result.prescribers if kind == "medication_evaluation" else result.therapists)
    ids = [uuid.UUID(r.provider_id) for r in ranked]
    usable = set(
        session.scalars(
            select(Provider.id).where(
                Provider.id.in_(ids),
                Provider.user_id.is_not(None),
                Provider.user_id != actor.user_id,
                Provider.clinic_id == patient.clinic_id,
            )
        )
    )
    ranked = [r for r in ranked if uuid.UUID(r.provider_id) in usable]
    if ranked:
        return ranked, None
    role = "prescriber" if kind == "medication_evaluation" else "therapist"
    explanation = result.explanations.get(role)
    return [], getattr(explanation, "message", None) or "No clinician here fits this referral right now."


# ---------------------------------------------------------------------------------------------------------------
# Internals


def _open_taken_by_other(session: Session, actor: Actor, referral_id: uuid.UUID) -> bool:
    """Was this an open referral ``actor`` could have taken, which another clinician accepted first?"""
    referral = session.get(Referral, referral_id)
    if referral is None or referral.to_user_id in (None, actor.user_id) or referral.status == "sent":
        return False
    was_open = session.scalar(
        select(ReferralEvent.id).where(
            ReferralEvent.referral_id == referral.id,
            ReferralEvent.to_status == "sent",
            ReferralEvent.note == OPEN_NOTE,
        )
    )
    clinic = session.scalar(select(Patient.clinic_id).where(Patient.id == referral.patient_id))
    return (
        was_open is not None
        and clinic == actor.clinic_id
        and _fitting_provider(session, actor, referral.kind) is not None
    )


def _fitting_provider(session: Session, actor: Actor, kind: str) -> Provider | None:
    """The actor's own provider profile if it fits ``kind`` (an open referral's possible receiver)."""
    if actor.user_id is None or actor.role not in CLINICAL_ROLES:
        return None
    provider = session.scalar(select(Provider).where(Provider.user_id == actor.user_id))
    if provider is None or not provider.is_active or provider.clinic_id != actor.clinic_id:
        return None
    return provider if _fits(provider, kind) else None


def _received_clause(session: Session, actor: Actor) -> Any:
    provider = session.scalar(select(Provider).where(Provider.user_id == actor.user_id))
    kinds = (
        [k for k in REFERRAL_KINDS if _fits(provider, k)]
        if provider is not None and provider.is_active and provider.clinic_id == actor.clinic_id
        else []
    )
    open_clause = (
        and_(
            Referral.to_user_id.is_(None),
            Referral.status == "sent",
            Referral.kind.in_(kinds),
            Referral.from_user_id != actor.user_id,
            Referral.patient_id.in_(select(Patient.id).where(Patient.clinic_id == actor.clinic_id)),
        )
        if kinds
        else false()
    )
    return or_(and_(Referral.to_user_id == actor.user_id, Referral.status != "draft"), open_clause)


def _party_set(actor: Actor, referral: Referral, *, may_take_open: bool) -> set[Party]:
    """What ``actor`` is to ``referral`` (``may_take_open``: their provider profile fits an open referral)."""
    parties: set[Party] = set()
    if actor.user_id is None:
        return parties
    if referral.from_user_id == actor.user_id:
        parties.add("referrer")
    if referral.status != "draft" and (
        referral.to_user_id == actor.user_id
        or (referral.to_user_id is None and referral.status == "sent" and may_take_open)
    ):
        parties.add("receiver")
    return parties


def _parties(session: Session, actor: Actor, referral: Referral, ref: policy.PatientRef) -> set[Party]:
    may_take_open = (
        referral.to_user_id is None
        and ref.clinic_id == actor.clinic_id
        and _fitting_provider(session, actor, referral.kind) is not None
    )
    return _party_set(actor, referral, may_take_open=may_take_open)


def _load(
    session: Session, actor: Actor, referral_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Referral, policy.PatientRef, set[Party]]:
    """The referral if ``actor`` may see it (parties: what they are to it), else 404 with no hint."""
    stmt = select(Referral).where(Referral.id == referral_id)
    if for_update:
        stmt = stmt.with_for_update()
    referral = session.scalars(stmt).one_or_none()
    if referral is None:
        raise ReferralNotFound("No such referral.")
    _, ref = patients.get_patient_ref(session, referral.patient_id)
    parties = _parties(session, actor, referral, ref)
    if parties:
        return referral, ref, parties
    if referral.status != "draft" and policy.may(actor, policy.Action.REFERRAL_READ, ref):
        return referral, ref, parties  # the patient, and the rest of the care team: read only
    raise ReferralNotFound("No such referral.")


def _check(referral: Referral, move: Move, parties: set[Party]) -> str:
    verdict = check_move(move, referral.status, parties)
    if verdict.allowed:
        assert verdict.target is not None
        return verdict.target
    raise (NotYourMove if verdict.wrong_party else InvalidTransition)(verdict.reason)


def _apply(
    session: Session,
    actor: Actor,
    referral: Referral,
    move: Move,
    *,
    clock: Clock,
    note: str | None = None,
    **changes: Any,
) -> None:
    rule = MOVES[move]
    before = referral.status
    referral.status = rule.target
    for name, value in changes.items():
        setattr(referral, name, value)
    _event(session, referral, actor, before, rule.target, clock=clock, note=note)
    details: dict[str, Any] = {"from": before, "to": rule.target}
    if move == "accept":
        details["to_user_id"] = str(referral.to_user_id)
    if move == "schedule":
        details["appointment_id"] = str(referral.appointment_id)
    audit.record(
        session,
        actor,
        f"referral.{_past(move)}",
        clock=clock,
        entity_type="referral",
        entity_id=referral.id,
        patient_id=referral.patient_id,
        details=details,
    )


def _event(
    session: Session,
    referral: Referral,
    actor: Actor,
    before: str | None,
    after: str,
    *,
    clock: Clock,
    note: str | None = None,
) -> None:
    session.add(
        ReferralEvent(
            referral_id=referral.id,
            at=clock.now(),
            actor_user_id=actor.user_id,
            from_status=before,
            to_status=after,
            note=note,
        )
    )
    session.flush()


def _ask_consent(session: Session, actor: Actor, referral: Referral, *, clock: Clock) -> None:
    """Ask the patient to share what the receiver needs and they have not shared with them yet."""
    if not referral.needs_categories or referral.to_user_id is None:
        return
    consent.request_consent(
        session,
        actor,
        referral.patient_id,
        for_user_id=referral.to_user_id,
        categories=list(referral.needs_categories),
        clock=clock,
        referral_id=referral.id,
        reason=f"For your referral: {KIND_LABELS.get(referral.kind, 'referral').lower()}",
    )


def _withdraw_consent_requests(session: Session, referral: Referral, *, clock: Clock) -> None:
    """A cancelled referral's unanswered consent requests are no longer needed."""
    for req in session.scalars(
        select(ConsentRequest).where(
            ConsentRequest.referral_id == referral.id, ConsentRequest.status == "pending"
        )
    ):
        req.status, req.resolved_at = "withdrawn", clock.now()


def _consent_requests(session: Session, referral: Referral) -> list[PendingConsent]:
    return [
        PendingConsent(r.id, r.for_user_id, tuple(r.categories), r.status)
        for r in session.scalars(
            select(ConsentRequest)
            .where(ConsentRequest.referral_id == referral.id)
            .order_by(ConsentRequest.created_at)
        )
    ]


def _shared_sections(
    session: Session,
    actor: Actor,
    referral: Referral,
    ref: policy.PatientRef,
    consents: list[PendingConsent],
    *,
    clock: Clock,
) -> list[SharedSection]:
    """What the receiver sees of the record, category by category, exactly as the policy allows."""
    pending = {
        c for r in consents if r.status == "pending" and r.for_user_id == actor.user_id for c in r.categories
    }
    categories = list(dict.fromkeys([*SHOWN_CATEGORIES, *referral.needs_categories]))
    out = []
    for category in categories:
        if category not in consent_rules.SHAREABLE:
            continue
        allowed = policy.may_see(actor, ref, category)  # type: ignore[arg-type]
        items: list[dict[str, Any]] = []
        if allowed and category == "screening":
            items = _screening_items(session, actor, referral.patient_id, clock=clock)
        elif allowed and category == "plan":
            items = _plan_items(session, actor, referral.patient_id, clock=clock)
        out.append(
            SharedSection(
                category,
                consent_rules.LABELS[category],  # type: ignore[index]
                allowed,
                not allowed and category in pending,
                items,
            )
        )
    return out


def _screening_items(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> list[dict[str, Any]]:
    from careweave.screening import service as screening

    latest: dict[str, Any] = {}
    for r in screening.history(session, actor, patient_id, clock=clock):  # policy + audit there
        if r.status == "completed":
            latest[r.instrument] = r
    return [
        {
            "instrument": r.instrument.upper(),
            "total": r.total,
            "severity": (r.severity or "").replace("_", " ") or None,
            "positive": r.positive,
            "date": r.authored_at.date().isoformat(),
        }
        for r in latest.values()
    ]


def _plan_items(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> list[dict[str, Any]]:
    """The current plan as this reader may see it: records.service redacts items of other categories
    (medications, substance use) and audits the read."""
    from careweave.records import service as records

    view = records.get_plan(session, actor, patient_id, clock=clock)
    if not view.version:
        return []
    items: list[dict[str, Any]] = [
        {
            "version": view.version,
            "changed_at": view.changed_at.date().isoformat() if view.changed_at else None,
        }
    ]
    for kind, texts in (
        ("problem", view.plain.problems),
        ("goal", view.plain.goals),
        ("intervention", view.plain.interventions),
    ):
        items += [{"kind": kind, "text": t} for t in texts]
    withheld = sum(h.count for h in view.hidden)
    if withheld:
        items.append({"kind": "withheld", "text": f"{withheld} item(s) not shared with you"})
    return items


def _names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {u.id: u.full_name or u.email for u in session.scalars(select(User).where(User.id.in_(ids)))}


def _views(
    session: Session, actor: Actor, rows: list[Referral], *, clock: Clock, overdue_days: int
) -> list[ReferralView]:
    if not rows:
        return []
    names = _names(session, {r.from_user_id for r in rows} | {r.to_user_id for r in rows if r.to_user_id})
    patient_names = patients.display_names(session, {r.patient_id for r in rows})
    now = clock.now()
    fitting = {k: _fitting_provider(session, actor, k) is not None for k in REFERRAL_KINDS}
    clinics = dict(
        session.execute(
            select(Patient.id, Patient.clinic_id).where(Patient.id.in_({r.patient_id for r in rows}))
        ).all()
    )
    out = []
    for r in rows:
        parties = _party_set(
            actor, r, may_take_open=fitting[r.kind] and clinics.get(r.patient_id) == actor.clinic_id
        )
        out.append(
            ReferralView(
                r,
                patient_names.get(r.patient_id, "Patient"),
                names.get(r.from_user_id, "A clinician"),
                names.get(r.to_user_id) if r.to_user_id else None,
                frozenset(parties),
                tuple(moves_for(r.status, parties)),
                is_overdue(r.status, r.sent_at, now, overdue_days),
            )
        )
    return out


def book_provider_id(view: ReferralView) -> uuid.UUID | None:
    """Where the patient books: the receiver's profile, once they accepted."""
    r = view.referral
    return r.to_provider_id if r.status in ("accepted", "scheduled") else None


# ---------------------------------------------------------------------------------------------------------------
# Jobs (run by `careweave worker`; enqueued in the unit that sent or accepted)


@queue.handler(NOTICE_KIND)
def send_notice(ctx: queue.JobContext, payload: Mapping[str, Any]) -> None:
    """E-mail the receiver (on send; every fitting clinician for an open referral) or the patient (on accept).
    No clinical content: no kind, reason or name of the patient, just a link."""
    referral = ctx.session.get(Referral, uuid.UUID(str(payload["referral_id"])))
    if referral is None:
        return
    base = ctx.settings.base_url
    if payload.get("to") == "patient":
        if referral.status in ("cancelled", "declined"):
            return
        patient = ctx.session.get(Patient, referral.patient_id)
        email = (
            ctx.session.scalar(select(User.email).where(User.id == patient.user_id))
            if patient and patient.user_id
            else None
        )
        if email:
            ctx.mailer.send(
                Mail(
                    to=email,
                    subject="You have an update in Careweave",
                    body=f"You have an update about your care in Careweave. Sign in to see it:\n{base}/my/referrals",
                )
            )
        return
    if referral.status == "cancelled" or (payload.get("open") and referral.status != "sent"):
        return  # withdrawn, or an open referral someone already took
    if not payload.get("open"):
        recipients = list(ctx.session.scalars(select(User.email).where(User.id == referral.to_user_id)))
    else:
        clinic = ctx.session.scalar(select(Patient.clinic_id).where(Patient.id == referral.patient_id))
        service_col = (
            Provider.offers_medication_management
            if referral.kind == "medication_evaluation"
            else Provider.offers_therapy
        )
        recipients = list(
            ctx.session.scalars(
                select(User.email)
                .join(Provider, Provider.user_id == User.id)
                .where(
                    Provider.clinic_id == clinic,
                    Provider.is_active.is_(True),
                    service_col.is_(True),
                    User.id != referral.from_user_id,
                    User.is_active.is_(True),
                )
                .limit(50)
            )
        )
    for email in recipients:
        ctx.mailer.send(
            Mail(
                to=email,
                subject="You have a new referral in Careweave",
                body=f"You have a new referral in Careweave. Sign in to see it:\n{base}/referrals/{referral.id}",
            )
        )
