"""Scheduling queries. No policy here: the service decides who may see what."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Boolean,
    Date,
    Integer,
    String,
    Text,
    Time,
    Uuid,
    bindparam,
    delete,
    exists,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from careweave.careteam.models import CareTeamMember
from careweave.db.lists import one_of
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
    row = session.execute(
        _booking_context_statement(for_booking), {"provider_id": provider_id, "code": visit_type_code}
    ).one_or_none()
    if row is None:
        return None, None, None
    return row[0], row[1], row[2]


@functools.cache
def _booking_context_statement(for_booking: bool) -> Any:
    stmt = (
        select(Provider, ProviderSchedule, VisitType)
        .outerjoin(ProviderSchedule, ProviderSchedule.provider_id == Provider.id)
        .outerjoin(VisitType, VisitType.code == bindparam("code", type_=String))
        .where(Provider.id == bindparam("provider_id", type_=Uuid))
    )
    if not for_booking:
        return stmt
    # The locked read is the current row: a Provider the session already holds is refreshed from it (its caseload,
    # accepting flag and active flag are what eligibility then decides on, without reading the row again).
    return stmt.with_for_update(key_share=True, of=Provider).execution_options(populate_existing=True)


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


@dataclass(frozen=True, slots=True)
class OpeningInputs:
    """What the earliest free slot of many providers is computed from (:func:`opening_inputs`): each one's
    schedule (those without one left out), the visit types asked for (active ones only: code → duration in
    minutes), and each one's busy time overlapping [busy_from, busy_to), sorted; ``busy_after``: the providers
    holding time (a live visit or an open hold) that starts at or after ``busy_to`` — for the rest, ``busy`` is
    all of their busy time from ``busy_from`` on."""

    schedules: dict[uuid.UUID, rules.Schedule]
    durations: dict[str, int]
    busy: dict[uuid.UUID, list[rules.Busy]]
    busy_after: frozenset[uuid.UUID]


@functools.cache
def _opening_inputs_statement() -> Any:
    """:func:`opening_inputs`' UNION ALL, built once with bound parameters (``ids`` and ``codes`` lists: db.lists):
    building and keying a six-branch statement for every page cost milliseconds of Python per later-date match."""
    at_type = Appointment.__table__.c.start_at.type
    busy_from, busy_to, now = (bindparam(name, type_=at_type) for name in ("busy_from", "busy_to", "now"))
    S, W, E, A, H, V = (
        ProviderSchedule,
        AvailabilityWindow,
        AvailabilityException,
        Appointment,
        WaitlistOffer,
        VisitType,
    )
    no_int, no_time, no_text = sql_cast(null(), Integer), sql_cast(null(), Time), sql_cast(null(), Text)
    no_day, no_flag, no_at = (
        sql_cast(null(), Date),
        sql_cast(null(), Boolean),
        sql_cast(null(), A.start_at.type),
    )
    no_id = sql_cast(null(), A.provider_id.type)
    later_visit = exists().where(
        A.provider_id == S.provider_id, A.status.in_(LIVE), A.start_at >= busy_to
    )  # probes the (provider, start) index and stops at the first
    later_hold = exists().where(
        H.provider_id == S.provider_id, H.status == "open", H.expires_at > now, H.start_at >= busy_to
    )
    # The first SELECT names and types the columns (the timestamps' type converts them on either engine).
    # kind, provider, i1, i2, i3, day, t1, t2, flag, text, at1, at2
    return union_all(
        select(
            _tag("A"), A.provider_id.label("pid"), no_int.label("i1"), no_int.label("i2"), no_int.label("i3"),
            no_day.label("day"), no_time.label("t1"), no_time.label("t2"), no_flag.label("flag"),
            no_text.label("txt"), A.start_at.label("at1"), A.block_end_at.label("at2"),
        ).where(one_of(A.provider_id, "ids", Uuid()), A.status.in_(LIVE), A.start_at < busy_to, A.block_end_at > busy_from),
        select(
            _tag("H"), H.provider_id, V.duration_minutes, no_int, no_int, no_day, no_time, no_time, no_flag,
            no_text, H.start_at, no_at,
        )
        .join(V, V.code == H.visit_type)
        .where(one_of(H.provider_id, "ids", Uuid()), H.status == "open", H.expires_at > now, H.start_at < busy_to),
        select(
            _tag("S"), S.provider_id, S.buffer_minutes, S.min_notice_minutes, S.horizon_days, no_day, no_time,
            no_time, or_(later_visit, later_hold), sql_cast(S.timezone, Text), no_at, no_at,
        ).where(one_of(S.provider_id, "ids", Uuid())),
        select(
            _tag("W"), W.provider_id, W.weekday, no_int, no_int, no_day, W.start_time, W.end_time, no_flag,
            sql_cast(W.visit_types, Text), no_at, no_at,  # as text, parsed once per distinct value
        ).where(one_of(W.provider_id, "ids", Uuid())),
        select(
            _tag("E"), E.provider_id, no_int, no_int, no_int, E.day, E.start_time, E.end_time, E.available,
            no_text, no_at, no_at,
        ).where(one_of(E.provider_id, "ids", Uuid())),
        select(
            _tag("V"), no_id, V.duration_minutes, no_int, no_int, no_day, no_time, no_time, no_flag,
            sql_cast(V.code, Text), no_at, no_at,
        ).where(one_of(V.code, "codes", String()), V.is_active),
    )  # fmt: skip


def opening_inputs(
    session: Session,
    provider_ids: Iterable[uuid.UUID],
    codes: Iterable[str],
    *,
    busy_from: datetime,
    busy_to: datetime,
    now: datetime,
) -> OpeningInputs:
    """:func:`schedules`, the visit types ``codes`` and :func:`busy_many` over [busy_from, busy_to), in **one**
    round trip: a UNION ALL of six row kinds in one column layout (S schedule row, W weekly window, E date
    exception, V visit type, A visit, H waitlist hold). Matching looks up free time for a page of candidates
    at a time; on PostgreSQL each statement costs a round trip and a plan, so four statements per page were a
    large share of a later date's match (docs/benchmarks.md, session 7)."""
    ids = list(dict.fromkeys(provider_ids))
    wanted = sorted(set(codes))
    if not ids:
        return OpeningInputs({}, {}, {}, frozenset())
    params = {"ids": ids, "codes": wanted, "busy_from": busy_from, "busy_to": busy_to, "now": now}
    rows: dict[uuid.UUID, Any] = {}
    after: set[uuid.UUID] = set()
    windows_: dict[uuid.UUID, list[rules.Window]] = {}
    exceptions_: dict[uuid.UUID, list[rules.DateException]] = {}
    durations: dict[str, int] = {}
    busy: dict[uuid.UUID, list[rules.Busy]] = {pid: [] for pid in ids}
    for kind, pid, i1, i2, i3, day, t1, t2, flag, txt, at1, at2 in session.execute(
        _opening_inputs_statement(), params
    ).all():
        if kind == "A":
            busy[pid].append(rules.Busy(at1, at2))
        elif kind == "H":
            at2 = at1 + timedelta(minutes=i1)
            if at2 > busy_from:
                busy[pid].append(rules.Busy(at1, at2))
        elif kind == "S":
            rows[pid] = (txt, i1, i2, i3)
            if flag:
                after.add(pid)
        elif kind == "W":
            windows_.setdefault(pid, []).append(rules.Window(i1, t1, t2, _visit_types(txt)))
        elif kind == "E":
            exceptions_.setdefault(pid, []).append(rules.DateException(day, t1, t2, flag))
        else:
            durations[txt] = i1
    for blocks in busy.values():
        blocks.sort(key=_by_time)
    schedules_ = {
        pid: rules.Schedule(
            timezone=zone,
            # In :func:`schedules`' order (weekday, then start; date, then start), whatever the engine returned.
            windows=tuple(sorted(windows_.get(pid, ()), key=_window_order)),
            exceptions=tuple(sorted(exceptions_.get(pid, ()), key=_exception_order)),
            buffer_minutes=buffer,
            min_notice_minutes=notice,
            horizon_days=horizon,
        )
        for pid, (zone, buffer, notice, horizon) in rows.items()
    }
    return OpeningInputs(schedules_, durations, busy, frozenset(after))


def _window_order(w: rules.Window) -> tuple[int, Any]:
    return w.weekday, w.start


def _exception_order(e: rules.DateException) -> tuple[Any, Any]:
    # A whole day off (no start) empties the day wherever it comes in the day's order (rules._with_exceptions).
    return e.day, (e.start is not None, e.start or datetime.min.time())


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


@dataclass(frozen=True, slots=True)
class SlotInputs:
    """What listing a provider's free slots reads (:func:`slot_inputs`)."""

    schedule: rules.Schedule
    busy: list[rules.Busy]
    viewer_timezone: str | None  # the viewing patient's own zone (None: not asked, or none recorded)


def slot_inputs(
    session: Session,
    row: ProviderSchedule,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    held_for_others: uuid.UUID | None,
    viewer_patient: uuid.UUID | None,
) -> SlotInputs:
    """:func:`schedule` (from its row, which the caller has), :func:`busy` over [start, end) and the zone of the
    viewing patient ``viewer_patient``, in **one** round trip: the booking page lists slots on every visit, and
    on PostgreSQL each of the three statements cost a round trip and a plan (docs/benchmarks.md, session 11).
    The statement is built once, with bound parameters."""
    params = {
        "provider_id": row.provider_id,
        "busy_from": start,
        "busy_to": end,
        "now": now,
        "but": held_for_others,
        "viewer": viewer_patient,
    }
    windows_: list[rules.Window] = []
    exceptions_: list[rules.DateException] = []
    blocks: list[rules.Busy] = []
    viewer_tz: str | None = None
    for kind, i1, day, t1, t2, flag, txt, at1, at2 in session.execute(_slot_inputs_statement(), params).all():
        if kind == "A":
            blocks.append(rules.Busy(at1, at2))
        elif kind == "H":
            at2 = at1 + timedelta(minutes=i1)
            if at2 > start:
                blocks.append(rules.Busy(at1, at2))
        elif kind == "W":
            windows_.append(rules.Window(i1, t1, t2, _visit_types(txt)))
        elif kind == "E":
            exceptions_.append(rules.DateException(day, t1, t2, flag))
        else:
            viewer_tz = txt or None
    blocks.sort(key=_by_time)
    return SlotInputs(_schedule_from(row, windows_, exceptions_), blocks, viewer_tz)


def _schedule_from(
    row: ProviderSchedule, windows_: list[rules.Window], exceptions_: list[rules.DateException]
) -> rules.Schedule:
    """The pure rules' schedule from its row and the windows and exceptions a UNION ALL returned, put in
    :func:`schedule`'s order (weekday, then start; date, then start) whatever the engine returned."""
    return rules.Schedule(
        timezone=row.timezone,
        windows=tuple(sorted(windows_, key=_window_order)),
        exceptions=tuple(sorted(exceptions_, key=_exception_order)),
        buffer_minutes=row.buffer_minutes,
        min_notice_minutes=row.min_notice_minutes,
        horizon_days=row.horizon_days,
    )


@functools.cache
def _slot_inputs_statement() -> Any:
    """:func:`slot_inputs`' UNION ALL: W weekly window, E date exception, A visit, H waitlist hold (not one
    offered to the ``but`` patient's own entry), P the ``viewer`` patient's zone."""
    from careweave.patients.models import Patient

    at_type = Appointment.__table__.c.start_at.type
    busy_from, busy_to, now = (bindparam(name, type_=at_type) for name in ("busy_from", "busy_to", "now"))
    provider = bindparam("provider_id", type_=Uuid)
    but = bindparam("but", type_=Uuid)
    W, E, A, H = AvailabilityWindow, AvailabilityException, Appointment, WaitlistOffer
    no_int, no_time, no_text = sql_cast(null(), Integer), sql_cast(null(), Time), sql_cast(null(), Text)
    no_day, no_flag, no_at = sql_cast(null(), Date), sql_cast(null(), Boolean), sql_cast(null(), at_type)
    # The first SELECT names and types the columns (the timestamps' type converts them on either engine).
    # kind, i1, day, t1, t2, flag, text, at1, at2
    return union_all(
        select(
            _tag("A"), no_int.label("i1"), no_day.label("day"), no_time.label("t1"), no_time.label("t2"),
            no_flag.label("flag"), no_text.label("txt"), A.start_at.label("at1"), A.block_end_at.label("at2"),
        ).where(A.provider_id == provider, A.status.in_(LIVE), A.start_at < busy_to, A.block_end_at > busy_from),
        _holds(
            provider, busy_to, now=now, but=None,
            columns=(_tag("H"), VisitType.duration_minutes, no_day, no_time, no_time, no_flag, no_text, H.start_at, no_at),
        ).where(or_(but.is_(None), WaitlistEntry.patient_id != but)),  # one statement whether or not ``but`` is set
        select(
            _tag("W"), W.weekday, no_day, W.start_time, W.end_time, no_flag, sql_cast(W.visit_types, Text),
            no_at, no_at,  # visit types as text, parsed once per distinct value
        ).where(W.provider_id == provider),
        select(
            _tag("E"), no_int, E.day, E.start_time, E.end_time, E.available, no_text, no_at, no_at,
        ).where(E.provider_id == provider),
        select(
            _tag("P"), no_int, no_day, no_time, no_time, no_flag, sql_cast(Patient.timezone, Text), no_at, no_at,
        ).where(Patient.id == bindparam("viewer", type_=Uuid)),
    )  # fmt: skip


def _by_time(block: rules.Busy) -> tuple[datetime, datetime]:
    return block.start, block.end


def _holds(
    provider_id: uuid.UUID | BindParameter[Any],
    end: datetime | BindParameter[Any],
    *,
    now: datetime | BindParameter[Any],
    but: uuid.UUID | BindParameter[Any] | None,
    columns: tuple[Any, ...] | None = None,
) -> Any:
    stmt = (
        select(*(columns or (_tag("H"), WaitlistOffer.start_at, null(), VisitType.duration_minutes)))
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


def _own_offer(
    provider_id: uuid.UUID, patient_id: uuid.UUID, start: datetime, columns: tuple[Any, ...]
) -> Any:
    """The patient's own open waitlist offer of exactly ``start`` with the provider."""
    return (
        select(*columns)
        .join(WaitlistEntry, WaitlistEntry.id == WaitlistOffer.entry_id)
        .where(
            WaitlistOffer.provider_id == provider_id,
            WaitlistOffer.status == "open",
            WaitlistOffer.start_at == start,
            WaitlistEntry.patient_id == patient_id,
        )
    )


@dataclass(frozen=True, slots=True)
class BookingFacts:
    """What a booking checks besides eligibility (:func:`booking_facts`)."""

    schedule: rules.Schedule | None  # None: no schedule set up
    history: bool  # the patient already sees this provider (has_history)
    held: bool  # [start, end) is held open for another waitlisted patient (open_holds)
    own_offer: uuid.UUID | None  # the patient's own open offer of exactly this start


@functools.cache
def _booking_facts_statement() -> Any:
    """:func:`booking_facts`' UNION ALL, built once: its parameters are bound per booking (building and keying a
    five-branch statement on every booking cost about as much as running it)."""
    WO = WaitlistOffer
    at_type = WO.__table__.c.start_at.type
    provider_id, patient_id = bindparam("provider_id", type_=Uuid), bindparam("patient_id", type_=Uuid)
    start, end, now = (bindparam(name, type_=at_type) for name in ("start", "end", "now"))
    W, E = AvailabilityWindow, AvailabilityException
    no_int, no_day, no_time = sql_cast(null(), Integer), sql_cast(null(), Date), sql_cast(null(), Time)
    no_flag, no_text, no_at = sql_cast(null(), Boolean), sql_cast(null(), Text), sql_cast(null(), at_type)
    return union_all(
        select(
            _tag("W"),
            W.weekday.label("n"),
            no_day.label("day"),
            W.start_time.label("t1"),
            W.end_time.label("t2"),
            no_flag.label("flag"),
            sql_cast(W.visit_types, Text).label("txt"),
            no_at.label("at"),
        ).where(W.provider_id == provider_id),
        select(_tag("E"), no_int, E.day, E.start_time, E.end_time, E.available, no_text, no_at).where(
            E.provider_id == provider_id
        ),
        _holds(
            provider_id,
            end,
            now=now,
            but=patient_id,
            columns=(
                _tag("H"),
                VisitType.duration_minutes,
                no_day,
                no_time,
                no_time,
                no_flag,
                no_text,
                WO.start_at,
            ),
        ),
        select(_tag("P"), no_int, no_day, no_time, no_time, no_flag, no_text, no_at).where(
            _already_sees(provider_id, patient_id)
        ),
        _own_offer(
            provider_id,
            patient_id,
            start,
            (_tag("O"), no_int, no_day, no_time, no_time, no_flag, sql_cast(WO.id, Text), WO.start_at),
        ),
    )


def booking_facts(
    session: Session,
    row: ProviderSchedule | None,
    provider_id: uuid.UUID,
    patient_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
) -> BookingFacts:
    """:func:`schedule` and the claim's facts in one round trip: the weekly hours ('W'), date exceptions ('E'),
    waitlist holds of other patients ('H'), the patient's history with the provider ('P') and their own offer of
    the time ('O'). Without a schedule ``row`` nothing is read: the provider cannot be booked (the caller refuses
    before looking at anything else)."""
    if row is None:
        return BookingFacts(None, False, False, None)
    params = {"provider_id": provider_id, "patient_id": patient_id, "start": start, "end": end, "now": now}
    windows_: list[rules.Window] = []
    exceptions_: list[rules.DateException] = []
    seen, held, own_offer = False, False, None
    for kind, n, day, t1, t2, flag, txt, at in session.execute(_booking_facts_statement(), params).all():
        if kind == "W":
            windows_.append(rules.Window(n, t1, t2, _visit_types(txt)))
        elif kind == "E":
            exceptions_.append(rules.DateException(day, t1, t2, flag))
        elif kind == "H":
            held = held or at + timedelta(minutes=n) > start
        elif kind == "P":
            seen = True
        else:
            own_offer = uuid.UUID(str(txt))
    return BookingFacts(_schedule_from(row, windows_, exceptions_), seen, held, own_offer)


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
    """The patient already sees this provider (:func:`_already_sees`): not a new patient."""
    return bool(session.scalar(select(literal_column("1")).where(_already_sees(provider_id, patient_id))))


def _already_sees(
    provider_id: uuid.UUID | BindParameter[Any], patient_id: uuid.UUID | BindParameter[Any]
) -> Any:
    """A visit with the provider booked, held or missed, or a current place on their care team (an accepted
    referral or an assignment before any visit): what counts the patient on their caseload
    (directory.service.recount_caseload), so the capacity filter never refuses a patient it counts."""
    visit = exists().where(
        Appointment.provider_id == provider_id,
        Appointment.patient_id == patient_id,
        Appointment.status.in_(LIVE),
    )
    member = exists().where(
        CareTeamMember.provider_id == provider_id,
        CareTeamMember.patient_id == patient_id,
        CareTeamMember.end_date.is_(None),
    )
    return or_(visit, member)


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
