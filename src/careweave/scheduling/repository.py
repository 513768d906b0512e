"""Scheduling queries. No policy here: the service decides who may see what."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Integer,
    String,
    Text,
    delete,
    exists,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from careweave.directory.models import Provider
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


def booking_context(
    session: Session, provider_id: uuid.UUID, visit_type_code: str, *, for_booking: bool = False
) -> tuple[Provider | None, ProviderSchedule | None, VisitType | None]:
    """The provider, their schedule row and the visit type, in one round trip (None for whichever is missing;
    all three None when the provider is).

    ``for_booking`` also locks the provider's row (``FOR NO KEY UPDATE``, which foreign-key checks do not wait
    for) until the transaction ends, in the same round trip: bookings of one provider then claim one after the
    other. Without it, three or more transactions inserting overlapping visits at once can deadlock inside the
    exclusion constraint, each having inserted its index entry and waiting for another's, and PostgreSQL only
    notices after ``deadlock_timeout`` (1 s). SQLite ignores it (BEGIN IMMEDIATE serialises every writer)."""
    if not isinstance(visit_type_code, str):
        visit_type_code = ""
    stmt = (
        select(Provider, ProviderSchedule, VisitType)
        .outerjoin(ProviderSchedule, ProviderSchedule.provider_id == Provider.id)
        .outerjoin(VisitType, VisitType.code == visit_type_code)
        .where(Provider.id == provider_id)
    )
    if for_booking:
        stmt = stmt.with_for_update(key_share=True, of=Provider)
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None, None, None
    return row[0], row[1], row[2]


@functools.lru_cache(maxsize=256)
def _visit_types(text: str | None) -> frozenset[str]:
    """A window's visit types from their JSON text (a handful of distinct lists across every clinician: decoding
    each window's JSON cost more than the rest of loading a page of schedules)."""
    return frozenset(json.loads(text) or ()) if text else frozenset()


def _tag(kind: str) -> Any:
    return literal_column(f"'{kind}'", String).label("kind")


def schedule(
    session: Session, provider_id: uuid.UUID, *, row: ProviderSchedule | None = None
) -> rules.Schedule | None:
    """The provider's rules for the pure slot functions (None: no schedule set up yet). The weekly windows and
    the date exceptions come in one round trip (the schedule row in another, unless the caller has it)."""
    row = row if row is not None else schedule_row(session, provider_id)
    if row is None:
        return None
    W, E = AvailabilityWindow, AvailabilityException
    parts = union_all(
        select(
            _tag("W"),
            W.weekday.label("weekday"),
            sql_cast(null(), Date).label("day"),
            W.start_time.label("start_time"),
            W.end_time,
            sql_cast(null(), Boolean),
            sql_cast(W.visit_types, Text),
        ).where(W.provider_id == provider_id),
        select(
            _tag("E"),
            sql_cast(null(), Integer),
            E.day,
            E.start_time,
            E.end_time,
            E.available,
            sql_cast(null(), Text),
        ).where(E.provider_id == provider_id),
    ).order_by("kind", "weekday", "day", "start_time")  # as windows() and exceptions() order them
    windows_: list[rules.Window] = []
    exceptions_: list[rules.DateException] = []
    for kind, weekday, day, start, end, available, types in session.execute(parts).all():
        if kind == "W":
            windows_.append(rules.Window(weekday, start, end, _visit_types(types)))
        else:
            exceptions_.append(rules.DateException(day, start, end, available))
    return rules.Schedule(
        timezone=row.timezone,
        windows=tuple(windows_),
        exceptions=tuple(exceptions_),
        buffer_minutes=row.buffer_minutes,
        min_notice_minutes=row.min_notice_minutes,
        horizon_days=row.horizon_days,
    )


def schedules(session: Session, provider_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, rules.Schedule]:
    """:func:`schedule` for many providers in two round trips (the schedule rows, then every window and
    exception of those with one); providers without a schedule are left out."""
    ids = list(dict.fromkeys(provider_ids))
    if not ids:
        return {}
    S = ProviderSchedule
    rows = {  # plain rows, not entities: this runs for every page of match candidates
        r.provider_id: r
        for r in session.execute(
            select(S.provider_id, S.timezone, S.buffer_minutes, S.min_notice_minutes, S.horizon_days).where(
                S.provider_id.in_(ids)
            )
        ).all()
    }
    if not rows:
        return {}
    W, E = AvailabilityWindow, AvailabilityException
    with_rows = list(rows)
    parts = union_all(
        select(
            _tag("W"),
            W.provider_id.label("provider_id"),
            W.weekday.label("weekday"),
            sql_cast(null(), Date).label("day"),
            W.start_time.label("start_time"),
            W.end_time,
            sql_cast(null(), Boolean),
            sql_cast(W.visit_types, Text),  # as text, parsed once per distinct value (_visit_types)
        ).where(W.provider_id.in_(with_rows)),
        select(
            _tag("E"),
            E.provider_id,
            sql_cast(null(), Integer),
            E.day,
            E.start_time,
            E.end_time,
            E.available,
            sql_cast(null(), Text),
        ).where(E.provider_id.in_(with_rows)),
    ).order_by("provider_id", "kind", "weekday", "day", "start_time")
    windows_: dict[uuid.UUID, list[rules.Window]] = {pid: [] for pid in rows}
    exceptions_: dict[uuid.UUID, list[rules.DateException]] = {pid: [] for pid in rows}
    for kind, pid, weekday, day, start, end, available, types in session.execute(parts).all():
        if kind == "W":
            windows_[pid].append(rules.Window(weekday, start, end, _visit_types(types)))
        else:
            exceptions_[pid].append(rules.DateException(day, start, end, available))
    return {
        pid: rules.Schedule(
            timezone=row.timezone,
            windows=tuple(windows_[pid]),
            exceptions=tuple(exceptions_[pid]),
            buffer_minutes=row.buffer_minutes,
            min_notice_minutes=row.min_notice_minutes,
            horizon_days=row.horizon_days,
        )
        for pid, row in rows.items()
    }


def busy_many(
    session: Session, provider_ids: Iterable[uuid.UUID], start: datetime, end: datetime, *, now: datetime
) -> dict[uuid.UUID, list[rules.Busy]]:
    """:func:`busy` for many providers in one round trip: each one's live visits and open waitlist holds
    (for anyone) overlapping [start, end), sorted; a provider with none has an empty list."""
    ids = list(dict.fromkeys(provider_ids))
    out: dict[uuid.UUID, list[rules.Busy]] = {pid: [] for pid in ids}
    if not ids:
        return out
    visits = select(
        _tag("A"),
        Appointment.provider_id,
        Appointment.start_at,
        Appointment.block_end_at,
        sql_cast(null(), Integer),
    ).where(
        Appointment.provider_id.in_(ids),
        Appointment.status.in_(LIVE),
        Appointment.start_at < end,
        Appointment.block_end_at > start,
    )
    holds = (
        select(
            _tag("H"), WaitlistOffer.provider_id, WaitlistOffer.start_at, null(), VisitType.duration_minutes
        )
        .join(VisitType, VisitType.code == WaitlistOffer.visit_type)
        .where(
            WaitlistOffer.provider_id.in_(ids),
            WaitlistOffer.status == "open",
            WaitlistOffer.expires_at > now,
            WaitlistOffer.start_at < end,
        )
    )
    for kind, pid, s, e, minutes in session.execute(union_all(visits, holds)).all():
        if kind == "H":
            e = s + timedelta(minutes=minutes)
            if e <= start:
                continue
        out[pid].append(rules.Busy(s, e))
    for blocks in out.values():
        blocks.sort()
    return out


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
    to ``held_for_others``'s own waitlist entry, freed slots held open for a waitlisted patient. One round
    trip."""
    visits = select(
        _tag("A"), Appointment.start_at, Appointment.block_end_at, sql_cast(null(), Integer)
    ).where(
        Appointment.provider_id == provider_id,
        Appointment.status.in_(LIVE),
        Appointment.start_at < end,
        Appointment.block_end_at > start,
    )
    stmt: Any = visits
    if now is not None:
        stmt = union_all(visits, _holds(provider_id, end, now=now, but=held_for_others))
    out = []
    for kind, s, e, minutes in session.execute(stmt).all():  # one fetch, not a round of fetchone per row
        if kind == "H":
            e = s + timedelta(minutes=minutes)
            if e <= start:
                continue
        out.append(rules.Busy(s, e))
    out.sort(key=_by_time)  # the dataclass order, without its slow generated comparisons
    return out


def _by_time(block: rules.Busy) -> tuple[datetime, datetime]:
    return block.start, block.end


def _holds(provider_id: uuid.UUID, end: datetime, *, now: datetime, but: uuid.UUID | None) -> Any:
    stmt = (
        select(_tag("H"), WaitlistOffer.start_at, null(), VisitType.duration_minutes)
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
    return stmt


def claim_facts(
    session: Session,
    provider_id: uuid.UUID,
    patient_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
) -> tuple[bool, bool]:
    """(the patient already sees this provider: has_history, [start, end) is held open for another
    waitlisted patient: open_holds), in one round trip."""
    history = select(_tag("P"), null(), null(), null()).where(
        exists(
            select(Appointment.id).where(
                Appointment.provider_id == provider_id,
                Appointment.patient_id == patient_id,
                Appointment.status.in_(LIVE),
            )
        )
    )
    seen, held = False, False
    for kind, s, _, minutes in session.execute(
        union_all(_holds(provider_id, end, now=now, but=patient_id), history)
    ):
        if kind == "P":
            seen = True
        elif s + timedelta(minutes=minutes) > start:
            held = True
    return seen, held


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
