"""Scheduling queries. No policy here: the service decides who may see what."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from careweave.scheduling import rules
from careweave.scheduling.models import (
    Appointment,
    AvailabilityException,
    AvailabilityWindow,
    ProviderSchedule,
    VisitType,
    WaitlistEntry,
    WaitlistOffer,
)

LIVE = ("booked", "completed", "no_show")  # statuses that hold a provider's time


def visit_types(session: Session, *, active_only: bool = True) -> list[VisitType]:
    stmt = select(VisitType).order_by(VisitType.sort_order, VisitType.code)
    if active_only:
        stmt = stmt.where(VisitType.is_active.is_(True))
    return list(session.scalars(stmt))


def visit_type(session: Session, code: str) -> VisitType | None:
    return session.get(VisitType, code)


def schedule_row(session: Session, provider_id: uuid.UUID) -> ProviderSchedule | None:
    return session.get(ProviderSchedule, provider_id)


def windows(session: Session, provider_id: uuid.UUID) -> list[AvailabilityWindow]:
    return list(
        session.scalars(
            select(AvailabilityWindow)
            .where(AvailabilityWindow.provider_id == provider_id)
            .order_by(AvailabilityWindow.weekday, AvailabilityWindow.start_time)
        )
    )


def exceptions(session: Session, provider_id: uuid.UUID) -> list[AvailabilityException]:
    return list(
        session.scalars(
            select(AvailabilityException)
            .where(AvailabilityException.provider_id == provider_id)
            .order_by(AvailabilityException.day, AvailabilityException.start_time)
        )
    )


def replace_availability(
    session: Session,
    provider_id: uuid.UUID,
    new_windows: Iterable[AvailabilityWindow],
    new_exceptions: Iterable[AvailabilityException],
) -> None:
    session.execute(delete(AvailabilityWindow).where(AvailabilityWindow.provider_id == provider_id))
    session.execute(delete(AvailabilityException).where(AvailabilityException.provider_id == provider_id))
    session.add_all(list(new_windows))
    session.add_all(list(new_exceptions))


def schedule(session: Session, provider_id: uuid.UUID) -> rules.Schedule | None:
    """The provider's rules for the pure slot functions (None: no schedule set up yet)."""
    row = schedule_row(session, provider_id)
    if row is None:
        return None
    return rules.Schedule(
        timezone=row.timezone,
        windows=tuple(
            rules.Window(w.weekday, w.start_time, w.end_time, frozenset(w.visit_types or ()))
            for w in windows(session, provider_id)
        ),
        exceptions=tuple(
            rules.DateException(e.day, e.start_time, e.end_time, e.available)
            for e in exceptions(session, provider_id)
        ),
        buffer_minutes=row.buffer_minutes,
        min_notice_minutes=row.min_notice_minutes,
        horizon_days=row.horizon_days,
    )


def busy(
    session: Session,
    provider_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    held_for_others: uuid.UUID | None = None,
    now: datetime | None = None,
) -> list[rules.Busy]:
    """Time the provider holds in [start, end): live visits (with their buffers) and, unless they are offered
    to ``held_for_others``'s own waitlist entry, freed slots held open for a waitlisted patient."""
    rows = session.execute(
        select(Appointment.start_at, Appointment.block_end_at).where(
            Appointment.provider_id == provider_id,
            Appointment.status.in_(LIVE),
            Appointment.start_at < end,
            Appointment.block_end_at > start,
        )
    ).all()
    out = [rules.Busy(a, b) for a, b in rows]
    if now is not None:
        out += [
            rules.Busy(s, e)
            for s, e in open_holds(session, provider_id, start, end, now=now, but=held_for_others)
        ]
    return sorted(out)


def open_holds(
    session: Session,
    provider_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    but: uuid.UUID | None = None,
) -> list[tuple[datetime, datetime]]:
    """Slots offered to a waitlisted patient and not yet expired: (start, start + visit length)."""
    stmt = (
        select(WaitlistOffer.start_at, VisitType.duration_minutes)
        .join(VisitType, VisitType.code == WaitlistOffer.visit_type)
        .join(WaitlistEntry, WaitlistEntry.id == WaitlistOffer.entry_id)
        .where(
            WaitlistOffer.provider_id == provider_id,
            WaitlistOffer.status == "open",
            WaitlistOffer.expires_at > now,
            WaitlistOffer.start_at < end,
        )
    )
    if but is not None:
        stmt = stmt.where(WaitlistEntry.patient_id != but)
    return [
        (s, s + timedelta(minutes=d))
        for s, d in session.execute(stmt).all()
        if s + timedelta(minutes=d) > start
    ]


def appointment(
    session: Session, appointment_id: uuid.UUID, *, for_update: bool = False
) -> Appointment | None:
    stmt = select(Appointment).where(Appointment.id == appointment_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def has_history(session: Session, provider_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
    """The patient already sees this provider (a visit booked, held or missed): not a new patient."""
    return (
        session.scalar(
            select(Appointment.id)
            .where(
                Appointment.provider_id == provider_id,
                Appointment.patient_id == patient_id,
                Appointment.status.in_(LIVE),
            )
            .limit(1)
        )
        is not None
    )


def series_appointments(session: Session, series_id: uuid.UUID, *, from_start: datetime) -> list[Appointment]:
    return list(
        session.scalars(
            select(Appointment)
            .where(
                Appointment.series_id == series_id,
                Appointment.start_at >= from_start,
                Appointment.status == "booked",
            )
            .order_by(Appointment.start_at)
        )
    )
