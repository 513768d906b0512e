"""The waitlist: a patient waits for a provider (or any provider who can see them) within a window. When a
visit is cancelled or moved, the freed time is offered to the longest-waiting patient it fits, held for them
for ``settings.waitlist_offer_minutes``; an offer not taken in time passes to the next patient.

Holding is enforced where slots are listed and booked (scheduling.service): others do not see or get a held
time; the partial unique index on open offers keeps one open offer per freed slot.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound
from careweave.directory.models import Provider
from careweave.identity.models import User
from careweave.jobs import queue
from careweave.notify.mail import Mail
from careweave.notify.sms import Sms
from careweave.patients import service as patients
from careweave.patients.models import Patient
from careweave.scheduling import earliest, rules
from careweave.scheduling import repository as repo
from careweave.scheduling.models import Appointment, WaitlistEntry, WaitlistOffer
from careweave.settings import Settings

MAX_ACTIVE_ENTRIES = 10


def join(
    session: Session,
    actor: Actor,
    *,
    patient_id: uuid.UUID,
    provider_id: uuid.UUID | None,
    visit_type: str,
    window_start: datetime,
    window_end: datetime,
    clock: Clock,
) -> WaitlistEntry:
    from careweave.scheduling import service

    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.WAITLIST_JOIN, ref)
    vt = service._visit_type(session, visit_type)
    now = clock.now()
    errors: list[FieldError] = []
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise InvalidInput("Times need a UTC offset.", fields=[FieldError("window_start", "give an offset")])
    if window_end <= window_start:
        errors.append(FieldError("window_end", "must be after window_start"))
    if window_end <= now:
        errors.append(FieldError("window_end", "must be in the future"))
    if window_end - window_start > timedelta(days=rules.MAX_LISTING_DAYS):
        errors.append(FieldError("window_end", f"at most {rules.MAX_LISTING_DAYS} days after window_start"))
    if errors:
        raise InvalidInput("The waitlist window is not valid.", fields=errors)
    if provider_id is not None:
        provider = service._provider(session, provider_id)
        if problem := service.eligibility_problem(session, provider, patient, vt, max(window_start, now)):
            raise service.Ineligible(problem, fields=[FieldError("provider_id", problem)])
    active = session.scalar(
        select(WaitlistEntry.id)
        .where(WaitlistEntry.patient_id == patient.id, WaitlistEntry.status.in_(("waiting", "offered")))
        .offset(MAX_ACTIVE_ENTRIES - 1)
        .limit(1)
    )
    if active is not None:
        raise Conflict(f"At most {MAX_ACTIVE_ENTRIES} waitlist entries at a time; remove one first.")
    entry = WaitlistEntry(
        patient_id=patient.id,
        provider_id=provider_id,
        visit_type=vt.code,
        window_start=max(window_start, now),
        window_end=window_end,
        status="waiting",
        created_by=actor.user_id,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        actor,
        "waitlist.join",
        clock=clock,
        entity_type="waitlist_entry",
        entity_id=entry.id,
        patient_id=patient.id,
        details={"provider_id": str(provider_id) if provider_id else None, "visit_type": vt.code},
    )
    return entry


def _entry_for(session: Session, actor: Actor, entry_id: uuid.UUID) -> WaitlistEntry:
    entry = session.get(WaitlistEntry, entry_id)
    if entry is None:
        raise NotFound("No such waitlist entry.")
    _, ref = patients.get_patient_ref(session, entry.patient_id)
    if not policy.may(actor, policy.Action.WAITLIST_JOIN, ref):
        raise NotFound("No such waitlist entry.")
    return entry


def list_entries(
    session: Session, actor: Actor, *, patient_id: uuid.UUID | None = None, active_only: bool = True
) -> list[WaitlistEntry]:
    stmt = select(WaitlistEntry).order_by(WaitlistEntry.created_at)
    if active_only:
        stmt = stmt.where(WaitlistEntry.status.in_(("waiting", "offered")))
    if actor.role is Role.PATIENT:
        stmt = stmt.where(WaitlistEntry.patient_id == actor.patient_id)
    elif actor.role in (Role.THERAPIST, Role.PSYCHIATRIST):
        own = select(Provider.id).where(Provider.user_id == actor.user_id)
        stmt = stmt.where(WaitlistEntry.provider_id.in_(own))
    elif actor.role in (Role.CARE_MANAGER, Role.ADMIN):
        stmt = stmt.where(
            WaitlistEntry.patient_id.in_(select(Patient.id).where(Patient.clinic_id == actor.clinic_id))
        )
    else:
        return []
    if patient_id is not None:
        stmt = stmt.where(WaitlistEntry.patient_id == patient_id)
    return list(session.scalars(stmt))


def remove(
    session: Session, actor: Actor, entry_id: uuid.UUID, *, clock: Clock, settings: Settings
) -> WaitlistEntry:
    entry = _entry_for(session, actor, entry_id)
    if entry.status not in ("waiting", "offered"):
        raise Conflict(f"This waitlist entry is already {entry.status}.")
    freed = []
    offers = _open_offers(session, entry.id)
    earliest.lock(session, {offer.provider_id for offer in offers})  # as booking does, before the holds
    for offer in offers:
        offer.status = "withdrawn"
        freed.append(offer)
    entry.status = "removed"
    session.flush()
    audit.record(
        session,
        actor,
        "waitlist.remove",
        clock=clock,
        entity_type="waitlist_entry",
        entity_id=entry.id,
        patient_id=entry.patient_id,
    )
    for offer in freed:
        _offer_next(
            session,
            offer.provider_id,
            offer.start_at,
            offer.start_at + _length(session, offer),
            clock=clock,
            settings=settings,
        )
    # A hold nobody else took frees its time: the provider's stored earliest free time may move earlier.
    earliest.refresh(session, {offer.provider_id for offer in freed}, now=clock.now())
    return entry


def offers_for(session: Session, actor: Actor, *, clock: Clock) -> list[WaitlistOffer]:
    """Open offers the actor (a patient) can accept."""
    if actor.role is not Role.PATIENT or actor.patient_id is None:
        return []
    return list(
        session.scalars(
            select(WaitlistOffer)
            .join(WaitlistEntry, WaitlistEntry.id == WaitlistOffer.entry_id)
            .where(
                WaitlistEntry.patient_id == actor.patient_id,
                WaitlistOffer.status == "open",
                WaitlistOffer.expires_at > clock.now(),
            )
            .order_by(WaitlistOffer.start_at)
        )
    )


def _open_offers(session: Session, entry_id: uuid.UUID) -> list[WaitlistOffer]:
    return list(
        session.scalars(
            select(WaitlistOffer).where(WaitlistOffer.entry_id == entry_id, WaitlistOffer.status == "open")
        )
    )


def _length(session: Session, offer: WaitlistOffer) -> timedelta:
    vt = repo.visit_type(session, offer.visit_type)
    return timedelta(minutes=vt.duration_minutes if vt else 0)


def slot_freed(
    session: Session,
    provider_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    clock: Clock,
    settings: Settings,
) -> WaitlistOffer | None:
    """Offer freed time [start, end) to the longest-waiting patient it fits (called in the cancelling unit)."""
    return _offer_next(session, provider_id, start, end, clock=clock, settings=settings)


def _offer_next(
    session: Session,
    provider_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    clock: Clock,
    settings: Settings,
) -> WaitlistOffer | None:
    from careweave.scheduling import service

    now = clock.now()
    sched = repo.schedule(session, provider_id)
    provider = session.get(Provider, provider_id)
    if sched is None or provider is None or not provider.is_active or start <= now:
        return None
    already = select(WaitlistOffer.entry_id).where(
        WaitlistOffer.provider_id == provider_id, WaitlistOffer.start_at == start
    )
    candidates = session.scalars(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.status == "waiting",
            or_(WaitlistEntry.provider_id == provider_id, WaitlistEntry.provider_id.is_(None)),
            WaitlistEntry.window_start <= start,
            WaitlistEntry.window_end >= end,
            WaitlistEntry.id.not_in(already),
        )
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .limit(50)
    )
    for entry in candidates:
        vt = repo.visit_type(session, entry.visit_type)
        patient = session.get(Patient, entry.patient_id)
        if vt is None or patient is None or start + timedelta(minutes=vt.duration_minutes) > end:
            continue
        if rules.start_problem(
            sched, visit_type=vt.code, duration_minutes=vt.duration_minutes, start=start, now=now
        ):
            continue
        if service.eligibility_problem(session, provider, patient, vt, start):
            continue
        visit_end = start + timedelta(minutes=vt.duration_minutes)
        if _busy_patient(session, patient.id, start, visit_end):
            continue
        # The time must really be free: a rescheduled visit can still cover part of what it left, and an offer
        # passed on after its patient booked the time themself would be a hold on a taken slot.
        if _busy_provider(session, provider_id, start, visit_end + timedelta(minutes=sched.buffer_minutes)):
            continue
        # Offered only while it can still be booked: the clinician's minimum notice ends it.
        expires = min(
            now + timedelta(minutes=settings.waitlist_offer_minutes),
            start - timedelta(minutes=sched.min_notice_minutes),
        )
        if expires <= now:
            return None
        offer = WaitlistOffer(
            entry_id=entry.id,
            provider_id=provider_id,
            visit_type=vt.code,
            start_at=start,
            expires_at=expires,
            status="open",
            token=secrets.token_urlsafe(24),
        )
        try:
            with session.begin_nested():
                session.add(offer)
        except sa_exc.IntegrityError:
            return None  # another open offer holds this slot already
        entry.status = "offered"
        _enqueue_offer_jobs(session, offer, settings=settings, clock=clock)
        audit.record(
            session,
            Actor.system(),
            "waitlist.offer",
            clock=clock,
            entity_type="waitlist_offer",
            entity_id=offer.id,
            patient_id=entry.patient_id,
            details={"provider_id": str(provider_id)},
        )
        return offer
    return None


def used(session: Session, offer_id: uuid.UUID, appt: Appointment) -> None:
    """The offered patient booked the offered time (through the offer or straight from the slots): the offer is
    accepted and their waitlist entry booked, so its expiry passes nothing on."""
    offer = session.get(WaitlistOffer, offer_id)
    if offer is None or offer.status != "open":
        return
    entry = session.get(WaitlistEntry, offer.entry_id)
    offer.status, offer.appointment_id = "accepted", appt.id
    if entry is not None:
        entry.status, entry.booked_appointment_id = "booked", appt.id


def _busy_provider(session: Session, provider_id: uuid.UUID, start: datetime, end: datetime) -> bool:
    """A live visit's block (with its buffer) overlaps [start, end)."""
    return _overlapping(session, Appointment.provider_id == provider_id, Appointment.block_end_at, start, end)


def _busy_patient(session: Session, patient_id: uuid.UUID, start: datetime, end: datetime) -> bool:
    """One of the patient's live visits overlaps [start, end)."""
    return _overlapping(session, Appointment.patient_id == patient_id, Appointment.end_at, start, end)


def _overlapping(session: Session, whose: Any, ends: Any, start: datetime, end: datetime) -> bool:
    stmt = select(Appointment.id).where(
        whose, Appointment.status != "cancelled", Appointment.start_at < end, ends > start
    )
    return session.scalar(stmt.limit(1)) is not None


def _enqueue_offer_jobs(session: Session, offer: WaitlistOffer, *, settings: Settings, clock: Clock) -> None:
    queue.enqueue(
        session,
        "waitlist.offer_notice",
        {"offer_id": str(offer.id)},
        run_at=clock.now(),
        dedupe_key=f"waitlist-offer-notice:{offer.id}",
    )
    queue.enqueue(
        session,
        "waitlist.offer_expire",
        {"offer_id": str(offer.id)},
        run_at=offer.expires_at,
        dedupe_key=f"waitlist-offer-expire:{offer.id}",
    )


def _offer_for(session: Session, actor: Actor, offer_id: uuid.UUID) -> tuple[WaitlistOffer, WaitlistEntry]:
    """The offer and its entry, if ``actor`` may act for the waiting patient (else 404)."""
    offer = session.get(WaitlistOffer, offer_id)
    if offer is None:
        raise NotFound("No such offer.")
    return offer, _entry_for(session, actor, offer.entry_id)


def accept(
    session: Session, actor: Actor, offer_id: uuid.UUID, *, clock: Clock, settings: Settings
) -> Appointment:
    """Book the offered time for the waiting patient (the patient, or staff for them)."""
    from careweave.scheduling import service

    offer, entry = _offer_for(session, actor, offer_id)
    if offer.status != "open" or offer.expires_at <= clock.now():
        raise Conflict(
            "This offer has expired or was already used; the time may have gone to the next patient."
        )
    appt = service.book(
        session,
        actor,
        provider_id=offer.provider_id,
        patient_id=entry.patient_id,
        start=offer.start_at,
        visit_type=offer.visit_type,
        clock=clock,
        settings=settings,
    )
    used(session, offer.id, appt)  # (book has already marked its own offer used: this is a no-op then)
    audit.record(
        session,
        actor,
        "waitlist.accept",
        clock=clock,
        entity_type="waitlist_offer",
        entity_id=offer.id,
        patient_id=entry.patient_id,
    )
    return appt


def decline(
    session: Session, actor: Actor, offer_id: uuid.UUID, *, clock: Clock, settings: Settings
) -> WaitlistOffer:
    offer, entry = _offer_for(session, actor, offer_id)
    if offer.status != "open":
        raise Conflict("This offer is no longer open.")
    earliest.lock(session, [offer.provider_id])  # as booking does, before touching the hold
    offer.status = "declined"
    entry.status = "waiting"
    session.flush()
    audit.record(
        session,
        actor,
        "waitlist.decline",
        clock=clock,
        entity_type="waitlist_offer",
        entity_id=offer.id,
        patient_id=entry.patient_id,
    )
    _offer_next(
        session,
        offer.provider_id,
        offer.start_at,
        offer.start_at + _length(session, offer),
        clock=clock,
        settings=settings,
    )
    earliest.refresh(
        session, [offer.provider_id], now=clock.now()
    )  # the hold may have freed the earliest time
    return offer


def expire_offer(session: Session, offer_id: uuid.UUID, *, clock: Clock, settings: Settings) -> bool:
    """An offer's time is up: the patient keeps waiting for other times; the slot goes to the next patient."""
    provider_id = session.scalar(select(WaitlistOffer.provider_id).where(WaitlistOffer.id == offer_id))
    if provider_id is None:
        return False
    earliest.lock(session, [provider_id])  # the provider first, as booking and accepting do
    offer = session.scalars(
        select(WaitlistOffer).where(WaitlistOffer.id == offer_id).with_for_update()
    ).one_or_none()
    if offer is None or offer.status != "open":
        return False
    if offer.expires_at > clock.now():
        return False
    offer.status = "expired"
    entry = session.get(WaitlistEntry, offer.entry_id)
    if entry is not None and entry.status == "offered":
        entry.status = "waiting" if entry.window_end > clock.now() else "expired"
    session.flush()
    audit.record(
        session,
        Actor.system(),
        "waitlist.offer_expired",
        clock=clock,
        entity_type="waitlist_offer",
        entity_id=offer.id,
        patient_id=entry.patient_id if entry else None,
    )
    _offer_next(
        session,
        offer.provider_id,
        offer.start_at,
        offer.start_at + _length(session, offer),
        clock=clock,
        settings=settings,
    )
    earliest.refresh(
        session, [offer.provider_id], now=clock.now()
    )  # the hold may have freed the earliest time
    return True


def expire_due(session: Session, *, clock: Clock, settings: Settings) -> int:
    """Expire every offer whose time is up and every entry whose window has passed (worker pass)."""
    due = list(
        session.scalars(
            select(WaitlistOffer.id).where(
                WaitlistOffer.status == "open", WaitlistOffer.expires_at <= clock.now()
            )
        )
    )
    n = sum(expire_offer(session, oid, clock=clock, settings=settings) for oid in due)
    for entry in session.scalars(
        select(WaitlistEntry).where(
            WaitlistEntry.status == "waiting", WaitlistEntry.window_end <= clock.now()
        )
    ):
        entry.status = "expired"
    return n


# ----------------------------------------------------------------------------------------------------------
# Jobs (run by `careweave worker`; enqueued in the unit that made the offer)


@queue.handler("waitlist.offer_notice")
def send_offer_notice(ctx: queue.JobContext, payload: Mapping[str, Any]) -> None:
    """Tell the patient a time is held for them (no clinical content; the link leads to their visits)."""
    offer = ctx.session.get(WaitlistOffer, uuid.UUID(str(payload["offer_id"])))
    if offer is None or offer.status != "open" or offer.expires_at <= ctx.clock.now():
        return
    entry = ctx.session.get(WaitlistEntry, offer.entry_id)
    patient = ctx.session.get(Patient, entry.patient_id) if entry else None
    provider = ctx.session.get(Provider, offer.provider_id)
    if patient is None or provider is None:
        return
    tz = patient.timezone or "UTC"
    when, until = rules.local_label(offer.start_at, tz), rules.local_label(offer.expires_at, tz)
    link = f"{ctx.settings.base_url}/appointments"
    email = (
        ctx.session.scalar(select(User.email).where(User.id == patient.user_id)) if patient.user_id else None
    )
    if email:
        ctx.mailer.send(
            Mail(
                to=email,
                subject="A visit time opened up for you",
                body=(
                    f"A video visit with {provider.name} opened up: {when}.\n\n"
                    f"It is held for you until {until}. To book it, sign in and open your visits:\n{link}\n\n"
                    "If you no longer need it, you can pass, and it goes to the next person waiting."
                ),
            )
        )
    if patient.phone and "sms" in ctx.settings.reminder_channels:
        ctx.sms.send(
            Sms(
                to=patient.phone,
                body=f"Careweave: a visit time opened up ({when}), held until {until}. {link}",
            )
        )


@queue.handler("waitlist.offer_expire")
def run_offer_expiry(ctx: queue.JobContext, payload: Mapping[str, Any]) -> None:
    expire_offer(ctx.session, uuid.UUID(str(payload["offer_id"])), clock=ctx.clock, settings=ctx.settings)
