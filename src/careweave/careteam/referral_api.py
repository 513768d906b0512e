"""JSON API for referrals between therapy and psychiatry (issue #6)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from careweave.careteam import referrals as service
from careweave.careteam.referral_schemas import (
    CancelRequest,
    CompleteRequest,
    ConsentRequestRead,
    DeclineRequest,
    ReferralCreate,
    ReferralDetailRead,
    ReferralEventRead,
    ReferralRead,
    SharedSectionRead,
)
from careweave.core.actor import Actor
from careweave.deps import ClockDep, CurrentActor, DbSession, SettingsDep

router = APIRouter(prefix="/referrals", tags=["referrals"])
NOT_FOUND = {404: {"description": "No such referral (or not yours to see)"}}
CONFLICT = {
    409: {
        "description": "Not your move (referral.not_your_move) or not from this status "
        "(referral.invalid_transition), with the reason"
    }
}
INVALID = {422: {"description": "Invalid input, naming the field"}}


def _read(view: service.ReferralView) -> dict[str, object]:
    r = view.referral
    book = service.book_provider_id(view)
    return {
        "id": r.id,
        "patient_id": r.patient_id,
        "patient_name": view.patient_name,
        "kind": r.kind,
        "status": r.status,
        "urgency": r.urgency,
        "from_user_id": r.from_user_id,
        "from_name": view.from_name,
        "to_provider_id": r.to_provider_id,
        "to_user_id": r.to_user_id,
        "to_name": view.to_name,
        "open": view.open,
        "reason": r.reason,
        "question": r.question,
        "modality": r.modality,
        "needs": list(r.needs_categories or []),
        "created_at": r.created_at,
        "sent_at": r.sent_at,
        "accepted_at": r.accepted_at,
        "declined_at": r.declined_at,
        "decline_reason": r.decline_reason,
        "scheduled_at": r.scheduled_at,
        "appointment_id": r.appointment_id,
        "completed_at": r.completed_at,
        "outcome": r.outcome,
        "cancelled_at": r.cancelled_at,
        "overdue": view.overdue,
        "your_moves": list(view.moves),
        "book_url": f"/book/{book}" if book else None,
    }


def _detail(
    session: Session,
    actor: Actor,
    referral_id: uuid.UUID,
    clock: ClockDep,
    settings: SettingsDep,
    *,
    viewed: bool = False,
) -> ReferralDetailRead:
    d = service.get(
        session,
        actor,
        referral_id,
        clock=clock,
        record_view=viewed,
        overdue_days=settings.referral_overdue_days,
    )
    return ReferralDetailRead(
        **_read(d.view),  # type: ignore[arg-type]
        events=[
            ReferralEventRead(
                at=e.at,
                actor_user_id=e.actor_user_id,
                actor_name=d.actor_names.get(e.actor_user_id) if e.actor_user_id else None,
                from_status=e.from_status,  # type: ignore[arg-type]
                to_status=e.to_status,  # type: ignore[arg-type]
                note=e.note,
            )
            for e in d.events
        ],
        consent_requests=[
            ConsentRequestRead(
                id=c.request_id,
                for_user_id=c.for_user_id,
                categories=list(c.categories),
                status=c.status,  # type: ignore[arg-type]
            )
            for c in d.consents
        ],
        shared=[
            SharedSectionRead(
                category=s.category, label=s.label, allowed=s.allowed, pending=s.pending, items=s.items
            )
            for s in d.shared
        ],
    )


@router.post(
    "",
    response_model=ReferralDetailRead,
    status_code=201,
    responses={**NOT_FOUND, **INVALID, 403: {"description": "Consent or role refuses it"}},
    summary="Refer a patient (a draft, or sent at once with send: true)",
)
def create_referral(
    body: ReferralCreate,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    response: Response,
) -> ReferralDetailRead:
    referral = service.create(
        session,
        actor,
        service.ReferralIn(
            patient_id=body.patient_id,
            kind=body.kind,
            reason=body.reason,
            urgency=body.urgency,
            to_provider_id=body.to_provider_id,
            question=body.question,
            modality=body.modality,
            needs=tuple(body.needs),
            send=body.send,
        ),
        clock=clock,
    )
    response.headers["Location"] = f"/api/v1/referrals/{referral.id}"
    return _detail(session, actor, referral.id, clock, settings)


@router.get("", response_model=list[ReferralRead], summary="Referrals I sent or received (a patient: mine)")
def list_referrals(
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    role: Literal["sent", "received"] = "received",
    patient_id: uuid.UUID | None = None,
    overdue: bool = False,
    limit: int = Query(default=200, ge=1, le=500),
) -> list[ReferralRead]:
    if overdue:
        views = service.overdue_for(session, actor, clock, overdue_days=settings.referral_overdue_days)
    else:
        views = service.list_referrals(
            session,
            actor,
            role=role,
            clock=clock,
            patient_id=patient_id,
            limit=limit,
            overdue_days=settings.referral_overdue_days,
        )
    return [ReferralRead(**_read(v)) for v in views]  # type: ignore[arg-type]


@router.get(
    "/{referral_id}",
    response_model=ReferralDetailRead,
    responses=NOT_FOUND,
    summary="One referral with its history (the receiver: the patient's record as consent allows)",
)
def get_referral(
    referral_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> ReferralDetailRead:
    return _detail(session, actor, referral_id, clock, settings, viewed=True)


@router.post(
    "/{referral_id}/send",
    response_model=ReferralDetailRead,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Send a draft (the referrer); asks the patient for data the receiver needs",
)
def send_referral(
    referral_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> ReferralDetailRead:
    service.send(session, actor, referral_id, clock=clock)
    return _detail(session, actor, referral_id, clock, settings)


@router.post(
    "/{referral_id}/accept",
    response_model=ReferralDetailRead,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Accept (the receiver, or the first matching clinician of an open referral): joins the care team",
)
def accept_referral(
    referral_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> ReferralDetailRead:
    service.accept(session, actor, referral_id, clock=clock)
    return _detail(session, actor, referral_id, clock, settings)


@router.post(
    "/{referral_id}/decline",
    response_model=ReferralDetailRead,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
    summary="Decline with a reason (the named receiver)",
)
def decline_referral(
    referral_id: uuid.UUID,
    body: DeclineRequest,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
) -> ReferralDetailRead:
    service.decline(session, actor, referral_id, reason=body.reason, clock=clock)
    return _detail(session, actor, referral_id, clock, settings)


@router.post(
    "/{referral_id}/cancel",
    response_model=ReferralDetailRead,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Cancel (the referrer)",
)
def cancel_referral(
    referral_id: uuid.UUID,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    body: CancelRequest | None = None,
) -> ReferralDetailRead:
    service.cancel(session, actor, referral_id, reason=body.reason if body else None, clock=clock)
    return _detail(session, actor, referral_id, clock, settings)


@router.post(
    "/{referral_id}/complete",
    response_model=ReferralDetailRead,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
    summary="Complete with an outcome (the receiver)",
)
def complete_referral(
    referral_id: uuid.UUID,
    body: CompleteRequest,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
) -> ReferralDetailRead:
    service.complete(session, actor, referral_id, outcome=body.outcome, clock=clock)
    return _detail(session, actor, referral_id, clock, settings)
