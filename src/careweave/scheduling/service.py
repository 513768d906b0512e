"""Scheduling use cases: availability, slots, booking (one statement the database guards against double
booking), cancel, reschedule, no-show, recurring series. Policy and audit are called here; nothing commits.

Booking re-checks, at that instant, that the provider may see this patient on the visit date (directory.rules:
licence or compact privilege valid in the patient's state, scope for the visit's service, network, accepting
and capacity) and refuses with the rules' own reason. The database refuses an overlapping visit (migration
0005); that refusal becomes a 409 here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import Select, Uuid, bindparam, func, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, DomainError, FieldError, InvalidInput, NotFound, PolicyDenied
from careweave.db import loaded
from careweave.directory import matching
from careweave.directory import rules as directory_rules
from careweave.directory import service as directory
from careweave.directory.models import PatientCoverage, Provider
from careweave.patients import service as patients
from careweave.patients.models import Patient
from careweave.scheduling import earliest, rules
from careweave.scheduling import repository as repo
from careweave.scheduling.models import (
    Appointment,
    AppointmentSeries,
    AvailabilityException,
    AvailabilityWindow,
    ProviderSchedule,
    VisitType,
)
from careweave.settings import Settings
from careweave.visits import rooms

MAX_WINDOWS = 70
# A schedule's booking rules until the clinician sets them (the model's defaults).
DEFAULTS = {"buffer_minutes": 0, "min_notice_minutes": 720, "horizon_days": 60, "late_cancel_hours": 24}
MAX_EXCEPTIONS = 400
SERVICE_ROLE: dict[str, directory_rules.Role] = {
    "therapy": "therapist",
    "medication_management": "prescriber",
}
SERVICE_PATHWAY = {"therapy": "therapy", "medication_management": "psychiatry"}


class Ineligible(DomainError):
    """The provider may not see this patient for this visit (licence, scope, network, capacity)."""

    code, status = "ineligible", 422


class SlotTaken(Conflict):
    code = "slot_taken"


TAKEN = (
    "This time is no longer available: another visit was booked at the same time. Please pick another time."
)
PATIENT_BUSY = "The patient already has a visit at this time."


# ----------------------------------------------------------------------------------------------------------
# Availability


@dataclass(frozen=True, slots=True)
class WindowIn:
    weekday: int
    start: time
    end: time
    visit_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExceptionIn:
    day: date
    start: time | None = None
    end: time | None = None
    available: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class AvailabilityIn:
    timezone: str
    weekly: tuple[WindowIn, ...]
    exceptions: tuple[ExceptionIn, ...] = ()
    buffer_minutes: int | None = None
    min_notice_minutes: int | None = None
    horizon_days: int | None = None
    late_cancel_hours: int | None = None


@dataclass(frozen=True, slots=True)
class AvailabilityView:
    provider_id: uuid.UUID
    timezone: str
    weekly: list[WindowIn]
    exceptions: list[ExceptionIn]
    buffer_minutes: int
    min_notice_minutes: int
    horizon_days: int
    late_cancel_hours: int


def _provider(session: Session, provider_id: uuid.UUID) -> Provider:
    provider = session.get(Provider, provider_id)
    if provider is None or not provider.is_active:
        raise NotFound("No such provider.")
    return provider


def _may_manage(actor: Actor, provider: Provider) -> bool:
    own = actor.user_id is not None and provider.user_id == actor.user_id
    return own or policy.may(actor, policy.Action.SCHEDULE_MANAGE)


def visit_types(session: Session, actor: Actor) -> list[VisitType]:
    policy.require(actor, policy.Action.DIRECTORY_READ)
    return repo.visit_types(session)


def _visit_type(session: Session, code: str, field: str = "visit_type") -> VisitType:
    vt = repo.visit_type(session, code) if isinstance(code, str) else None
    if vt is None or not vt.is_active:
        known = ", ".join(v.code for v in repo.visit_types(session))
        raise InvalidInput(
            "Unknown visit type.", fields=[FieldError(field, f"unknown visit type; one of {known}")]
        )
    return vt


def get_availability(session: Session, actor: Actor, provider_id: uuid.UUID) -> AvailabilityView:
    policy.require(actor, policy.Action.DIRECTORY_READ)
    provider = _provider(session, provider_id)
    row = repo.schedule_row(session, provider.id)
    return AvailabilityView(
        provider_id=provider.id,
        timezone=row.timezone if row else provider.timezone,
        weekly=[
            WindowIn(w.weekday, w.start_time, w.end_time, tuple(w.visit_types or ()))
            for w in repo.windows(session, provider.id)
        ],
        exceptions=[
            ExceptionIn(e.day, e.start_time, e.end_time, e.available, e.note)
            for e in repo.exceptions(session, provider.id)
        ],
        buffer_minutes=row.buffer_minutes if row else DEFAULTS["buffer_minutes"],
        min_notice_minutes=row.min_notice_minutes if row else DEFAULTS["min_notice_minutes"],
        horizon_days=row.horizon_days if row else DEFAULTS["horizon_days"],
        late_cancel_hours=row.late_cancel_hours if row else DEFAULTS["late_cancel_hours"],
    )


def set_availability(
    session: Session, actor: Actor, provider_id: uuid.UUID, data: AvailabilityIn, *, clock: Clock
) -> AvailabilityView:
    """Replace the provider's weekly hours and exceptions (their own, or any provider's for an admin).
    Visits already booked stay booked; new hours only change which new slots are offered."""
    policy.require(actor, policy.Action.DIRECTORY_READ)
    provider = _provider(session, provider_id)
    if not _may_manage(actor, provider):
        if actor.role is Role.PATIENT:
            raise NotFound("No such provider.")
        raise PolicyDenied("Only this clinician or an administrator can change their availability.")
    errors: list[FieldError] = []
    try:
        rules.zone(data.timezone)
    except ValueError:
        errors.append(FieldError("timezone", "unknown IANA time zone (e.g. America/New_York)"))
    if len(data.weekly) > MAX_WINDOWS:
        errors.append(FieldError("weekly", f"at most {MAX_WINDOWS} windows"))
    if len(data.exceptions) > MAX_EXCEPTIONS:
        errors.append(FieldError("exceptions", f"at most {MAX_EXCEPTIONS} exceptions"))
    known = {v.code for v in repo.visit_types(session)}
    windows: list[rules.Window] = []
    for i, w in enumerate(data.weekly):
        try:
            windows.append(rules.Window(w.weekday, w.start, w.end, frozenset(w.visit_types)))
        except ValueError as exc:
            errors.append(FieldError(f"weekly[{i}]", str(exc)))
        if unknown := sorted(set(w.visit_types) - known):
            errors.append(
                FieldError(f"weekly[{i}].visit_types", f"unknown visit types: {', '.join(unknown)}")
            )
    for i, e in enumerate(data.exceptions):
        try:
            rules.DateException(e.day, e.start, e.end, e.available)
        except ValueError as exc:
            errors.append(FieldError(f"exceptions[{i}]", str(exc)))
    for i, w in enumerate(windows):
        for j in range(i):
            o = windows[j]
            if o.weekday == w.weekday and o.start < w.end and w.start < o.end:
                errors.append(FieldError(f"weekly[{i}]", f"overlaps weekly[{j}] on the same weekday"))
    for name, value, low, high in (
        ("buffer_minutes", data.buffer_minutes, 0, 120),
        ("min_notice_minutes", data.min_notice_minutes, 0, 60 * 24 * 30),
        ("horizon_days", data.horizon_days, 1, 365),
        ("late_cancel_hours", data.late_cancel_hours, 0, 24 * 14),
    ):
        if value is not None and not low <= value <= high:
            errors.append(FieldError(name, f"must be {low} to {high}"))
        elif name == "buffer_minutes" and value is not None and value % rules.GRANULARITY_MINUTES:
            errors.append(FieldError(name, f"must be a multiple of {rules.GRANULARITY_MINUTES}"))
    if errors:
        raise InvalidInput("The availability is not valid.", fields=errors)
    row = repo.schedule_row(session, provider.id)
    if row is None:
        row = ProviderSchedule(
            provider_id=provider.id, timezone=data.timezone, updated_at=clock.now(), **DEFAULTS
        )
        session.add(row)
    row.timezone = data.timezone
    for name in ("buffer_minutes", "min_notice_minutes", "horizon_days", "late_cancel_hours"):
        if (value := getattr(data, name)) is not None:
            setattr(row, name, value)
    row.updated_at = clock.now()
    repo.replace_availability(
        session,
        provider.id,
        (
            AvailabilityWindow(
                provider_id=provider.id,
                weekday=w.weekday,
                start_time=w.start,
                end_time=w.end,
                visit_types=sorted(set(w.visit_types)),
            )
            for w in data.weekly
        ),
        (
            AvailabilityException(
                provider_id=provider.id,
                day=e.day,
                start_time=e.start,
                end_time=e.end,
                available=e.available,
                note=e.note,
            )
            for e in data.exceptions
        ),
    )
    session.flush()
    audit.record(
        session,
        actor,
        "availability.update",
        clock=clock,
        entity_type="provider",
        entity_id=provider.id,
        details={"windows": len(data.weekly), "exceptions": len(data.exceptions)},
    )
    earliest.refresh(session, [provider.id], now=clock.now())  # new hours may free earlier time
    return get_availability(session, actor, provider.id)


# ----------------------------------------------------------------------------------------------------------
# Slots


@dataclass(frozen=True, slots=True)
class SlotView:
    start: datetime
    end: datetime
    start_local: str  # ISO 8601 in the viewer's zone
    label: str  # "Tue 3 Mar 2026, 9:00 AM EST" in the viewer's zone
    provider_label: str  # the same instant in the provider's zone


def viewer_timezone(session: Session, actor: Actor, fallback: str) -> str:
    """The zone a person reads times in: a patient's own, a clinician's profile zone, else ``fallback``."""
    if actor.patient_id is not None:
        patient = session.get(Patient, actor.patient_id)
        if patient is not None and patient.timezone:
            return patient.timezone
    if actor.user_id is not None:
        tz = session.scalar(select(Provider.timezone).where(Provider.user_id == actor.user_id))
        if tz:
            return tz
    return fallback


def list_slots(
    session: Session,
    actor: Actor,
    provider_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    visit_type: str,
    clock: Clock,
    timezone: str | None = None,
) -> tuple[list[SlotView], str, str]:
    """(free slots, the viewer's zone, the provider's zone). Any signed-in user may look (like a public
    profile); slots held for another waitlisted patient are not offered. A visit type the provider does not
    offer is refused as booking it would be (422 naming ``visit_type``), not answered with no slots."""
    policy.require(actor, policy.Action.DIRECTORY_READ)
    provider, row, vt = repo.booking_context(session, provider_id, visit_type)
    if provider is None or not provider.is_active:
        raise NotFound("No such provider.")
    if vt is None or not vt.is_active:
        vt = _visit_type(session, visit_type)  # raises with the known visit types
    if not _offers(provider, vt):
        problem = _not_offered(provider, vt)
        raise InvalidInput(problem, fields=[FieldError("visit_type", problem)])
    _window(start, end)
    if row is None:  # no schedule set up yet
        return [], timezone or viewer_timezone(session, actor, provider.timezone), provider.timezone
    now = clock.now()
    # The schedule, the busy time and the viewing patient's zone in one round trip.
    got = repo.slot_inputs(
        session,
        row,
        start,
        end + PAST_END,
        now=now,
        held_for_others=actor.patient_id,
        viewer_patient=actor.patient_id if timezone is None else None,
    )
    sched = got.schedule
    viewer = timezone or got.viewer_timezone or viewer_timezone(session, actor, sched.timezone)
    try:
        rules.zone(viewer)
    except ValueError as exc:
        raise InvalidInput("Unknown time zone.", fields=[FieldError("timezone", str(exc))]) from exc
    free = rules.free_slots(
        sched,
        visit_type=vt.code,
        duration_minutes=vt.duration_minutes,
        busy=got.busy,
        start=start,
        end=end,
        now=now,
    )
    starts = [s.start for s in free]
    seen = rules.local_views(starts, viewer)  # (iso, label) in the viewer's zone
    theirs = seen if viewer == sched.timezone else rules.local_views(starts, sched.timezone)
    return (
        [
            SlotView(s.start, s.end, iso, label, provider_label)
            for s, (iso, label), (_, provider_label) in zip(free, seen, theirs, strict=True)
        ],
        viewer,
        sched.timezone,
    )


# Instants a schedule can be asked about: beyond these, date arithmetic on local days overflows (the API reads
# an instant past either end of the calendar as an open bound).
EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime, field: str) -> None:
    if not EARLIEST_INSTANT <= value <= LATEST_INSTANT:
        raise InvalidInput(
            "That date is out of range.",
            fields=[FieldError(field, f"must be between {EARLIEST_INSTANT:%Y} and {LATEST_INSTANT:%Y}")],
        )


def _window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("Times need a UTC offset.", fields=[FieldError("start", "give an offset, e.g. Z")])
    _in_range(start, "start")
    _in_range(end, "end")
    if end <= start:
        raise InvalidInput("The window is empty.", fields=[FieldError("end", "must be after start")])
    if end - start > timedelta(days=rules.MAX_LISTING_DAYS):
        raise InvalidInput(
            "The window is too long.",
            fields=[FieldError("end", f"at most {rules.MAX_LISTING_DAYS} days after start")],
        )


def _not_offered(provider: Provider, vt: VisitType) -> str:
    return f"{provider.name} does not offer {vt.name.lower()} visits."


def _offers(provider: Provider, vt: VisitType) -> bool:
    return provider.offers_therapy if vt.service == "therapy" else provider.offers_medication_management


@dataclass(frozen=True, slots=True)
class Opening:
    """A provider's earliest free start for one visit type (None: no free time in the window); ``published``
    False: the provider has no schedule at all, so no time can be booked."""

    published: bool
    start: datetime | None


# The first free slot is searched in a window doubling from two days (most clinicians with free time have some
# within days of where the search starts; working hours are laid out per day of the window): rules.first_free_slot.
SEARCH_FIRST_DAYS = 2


# Busy time is first read for NEAR_DAYS from where the search starts: most clinicians with free time have some
# within days, and a busy diary over a whole horizon is hundreds of rows. A provider with no free slot inside that
# span whose horizon reaches past it is searched again over the whole range with all of its busy time.
NEAR_DAYS = 14
# No zone's day starts more than 14 hours before UTC's (UTC+14): the earliest a local date can begin.
_EARLIEST_OFFSET = timedelta(hours=14)
# Busy time is read this far past the end of a search: a slot ending at the edge must keep its buffer (at most
# 120 minutes) clear of a visit that starts just after it.
PAST_END = timedelta(days=1)
# Providers per opening_inputs statement (it binds each id five times: every engine's parameter limit holds).
OPENINGS_CHUNK = 2000


def _search_span(now: datetime, from_day: date | None) -> tuple[datetime, datetime]:
    """(lo, near): no search of :func:`openings` starts before ``lo`` (each starts at now + notice, or at
    from_day's start if later); the busy time read in its one round trip ends NEAR_DAYS after it."""
    lo = now
    if from_day is not None:
        lo = max(lo, datetime.combine(from_day, time(0), tzinfo=UTC) - _EARLIEST_OFFSET)
    return lo, lo + timedelta(days=NEAR_DAYS)


def opening_inputs(
    session: Session, provider_ids: list[uuid.UUID], codes: set[str], *, now: datetime, from_day: date | None
) -> repo.OpeningInputs:
    """What :func:`openings` reads for ``provider_ids`` and the visit types ``codes`` (one round trip), for a
    caller that will ask it several times with the same ``now`` and ``from_day`` (matching's two roles)."""
    lo, near = _search_span(now, from_day)
    return repo.opening_inputs(session, provider_ids, codes, busy_from=lo, busy_to=near + PAST_END, now=now)


def openings(
    session: Session,
    provider_ids: list[uuid.UUID],
    *,
    visit_type_for: dict[uuid.UUID, str],
    now: datetime,
    from_day: date | None = None,
    inputs: repo.OpeningInputs | None = None,
) -> dict[uuid.UUID, Opening]:
    """The earliest free start per provider from ``now`` + their minimum notice (or from the start of
    ``from_day`` in their schedule's zone, when later) to the end of their booking horizon, for the visit type
    ``visit_type_for`` names (for match results). Every provider's schedule, the visit types and busy time over
    the first NEAR_DAYS come in one round trip whatever the count (repo.opening_inputs); only the slot
    arithmetic is per provider, and only providers with nothing free in that span and busy time after it need a
    second round trip. A visit type the provider's offers do not cover is not checked here.

    ``inputs``: what :func:`opening_inputs` read, with the same ``now`` and ``from_day``, for these providers (and
    maybe others) and their visit types: not read again."""
    ids = list(dict.fromkeys(provider_ids))
    if len(ids) > OPENINGS_CHUNK and inputs is None:
        out: dict[uuid.UUID, Opening] = {}
        for i in range(0, len(ids), OPENINGS_CHUNK):
            chunk = ids[i : i + OPENINGS_CHUNK]
            out |= openings(session, chunk, visit_type_for=visit_type_for, now=now, from_day=from_day)
        return out
    if not ids:
        return {}
    near = _search_span(now, from_day)[1]
    got = inputs or opening_inputs(
        session, ids, {visit_type_for[pid] for pid in ids}, now=now, from_day=from_day
    )
    out = {pid: Opening(pid in got.schedules, None) for pid in ids}
    rest: dict[uuid.UUID, tuple[datetime, datetime]] = {}
    for pid in ids:  # ``inputs`` may hold more providers than asked about
        sched = got.schedules.get(pid)
        if sched is None:
            continue
        code = visit_type_for[pid]
        minutes = got.durations.get(code)
        if minutes is None:
            continue
        earliest, latest = rules.bookable_range(sched, now)
        if from_day is not None:
            day_start = datetime.combine(from_day, time(0), tzinfo=sched.zone).astimezone(UTC)
            earliest = max(earliest, day_start)
        if earliest >= latest:
            continue
        first = _first(sched, code, minutes, got.busy[pid], earliest, min(latest, near), now)
        if first is None and latest > near:
            if pid in got.busy_after:
                rest[pid] = (earliest, latest)
                continue
            # Nothing of theirs starts after the span read: its busy time is all of it, so search on.
            first = _first(sched, code, minutes, got.busy[pid], earliest, latest, now)
        if first is not None:
            out[pid] = Opening(True, first)
    if rest:
        busy = repo.busy_many(
            session,
            list(rest),
            min(r[0] for r in rest.values()),
            max(r[1] for r in rest.values()) + PAST_END,
            now=now,
        )
        for pid, (earliest, latest) in rest.items():
            code = visit_type_for[pid]
            first = _first(got.schedules[pid], code, got.durations[code], busy[pid], earliest, latest, now)
            if first is not None:
                out[pid] = Opening(True, first)
    return out


def _first(
    sched: rules.Schedule,
    code: str,
    minutes: int,
    busy: list[rules.Busy],
    start: datetime,
    end: datetime,
    now: datetime,
) -> datetime | None:
    if start >= end:
        return None
    slot = rules.first_free_slot(
        sched,
        visit_type=code,
        duration_minutes=minutes,
        busy=busy,
        start=start,
        end=end,
        now=now,
        first_days=SEARCH_FIRST_DAYS,
    )
    return slot.start if slot is not None else None


def next_available(
    session: Session,
    provider_ids: list[uuid.UUID],
    *,
    visit_type_for: dict[uuid.UUID, str],
    now: datetime,
    from_day: date | None = None,
) -> dict[uuid.UUID, datetime]:
    """The earliest free start per provider within their horizon (for match results); providers with no
    free time, or no schedule, are left out. Batched: see :func:`openings`."""
    found = openings(session, provider_ids, visit_type_for=visit_type_for, now=now, from_day=from_day)
    return {pid: o.start for pid, o in found.items() if o.start is not None}


# ----------------------------------------------------------------------------------------------------------
# Booking


@dataclass(frozen=True, slots=True)
class Booked:
    appointment: Appointment


class _Unread:
    """A fact the caller has not read (as opposed to None: read, and there is none)."""


UNREAD = _Unread()


def eligibility_problem(
    session: Session,
    provider: Provider,
    patient: Patient,
    vt: VisitType,
    start: datetime,
    *,
    history: bool | None = None,
    coverage: PatientCoverage | _Unread | None = UNREAD,
    locked: bool = False,
) -> str | None:
    """Why ``provider`` may not see ``patient`` for ``vt`` at ``start`` (directory.rules' reason), or None.
    ``history``: whether the patient already sees this provider, and ``coverage``: the patient's coverage (None:
    none on record), when the caller has read them. ``locked``: the caller read ``provider`` locked in this
    transaction, so its caseload and the rest are current and the row is not read again."""
    if not patient.state:
        return (
            "The patient's state (where they will be during visits) is not on record; add it in intake first."
        )
    if not _offers(provider, vt):
        return _not_offered(provider, vt)
    day = start.astimezone(rules.zone(patient.timezone or "UTC")).date()
    if isinstance(coverage, _Unread):
        coverage = directory.coverage_for_rules(session, patient.id)
    # Only the tags this need reads (its plan; no conditions or language): the rules decide the same.
    plan_id = coverage.plan_id if coverage else None
    fact = matching.provider_facts(session, provider, day, plan_id=plan_id, locked=locked)
    if fact is None:
        return "This provider is not in the directory."
    if history is None:
        history = repo.has_history(session, provider.id, patient.id)
    if history:
        fact = _with_patient(fact, str(patient.id))
    need = directory_rules.Need(
        pathway=SERVICE_PATHWAY[vt.service],  # type: ignore[arg-type]
        state=patient.state,
        on_date=day,
        plan_id=str(coverage.plan_id) if coverage and coverage.plan_id else None,
        self_pay=bool(coverage and coverage.self_pay),
        patient_id=str(patient.id),
    )
    found = directory_rules.exclusions(fact, need, SERVICE_ROLE[vt.service])
    if not found:
        return None
    return " ".join(e.reason for e in found)


def _with_patient(fact: directory_rules.ProviderFacts, patient_id: str) -> directory_rules.ProviderFacts:
    from dataclasses import replace

    return replace(fact, care_team_patient_ids=fact.care_team_patient_ids | {patient_id})


def _overlap(exc: sa_exc.DBAPIError) -> str | None:
    if _deadlock(exc):
        return TAKEN
    text = str(exc.orig)
    if "appointment_overlap_patient" in text or "ex_appointments_patient_overlap" in text:
        return PATIENT_BUSY
    if "appointment_overlap" in text or "ex_appointments_provider_overlap" in text:
        return TAKEN
    return None


def _deadlock(exc: sa_exc.DBAPIError) -> bool:
    """PostgreSQL's exclusion constraint can deadlock when three or more transactions insert overlapping visits
    at the same moment: each has inserted its index entry and waits for another's to commit or roll back. The
    server aborts one of them (40P01): it was racing for a time another live transaction has claimed, so it lost
    the race, and gets the same 409 as any other loser. (Should the survivor fail later, the time stays free
    and a retry books it.)"""
    return getattr(exc.orig, "sqlstate", None) == "40P01"


def _claim(session: Session, appt: Appointment, *, savepoint: bool) -> str | None:
    """Insert the visit: one INSERT the database refuses if it overlaps. Returns the refusal, or None.

    With ``savepoint`` the refusal leaves the surrounding transaction usable (series); without it the
    caller raises and the unit of work rolls back."""
    if savepoint:
        try:
            with session.begin_nested():
                session.add(appt)
        except (sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
            reason = _overlap(exc)
            if reason is None:
                raise
            return reason
        return None
    session.add(appt)
    try:
        session.flush()
    except (sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
        reason = _overlap(exc)
        if reason is None:
            raise
        return reason
    return None


_PATIENT_AND_COVERAGE = (
    select(Patient, PatientCoverage)
    .outerjoin(PatientCoverage, PatientCoverage.patient_id == Patient.id)
    .where(Patient.id == bindparam("patient_id", type_=Uuid))
)


def _patient_and_coverage(
    session: Session, actor: Actor, patient_id: uuid.UUID, action: policy.Action
) -> tuple[Patient, PatientCoverage | _Unread | None]:
    """:func:`_patient_for`; for a patient acting for themself, their coverage comes in the same query."""
    if actor.role is not Role.PATIENT:
        return _patient_for(session, actor, patient_id, action), UNREAD
    row = session.execute(_PATIENT_AND_COVERAGE, {"patient_id": patient_id}).one_or_none()
    if row is None:
        raise NotFound("No such patient.")
    patient, coverage = row
    policy.require(actor, action, policy.PatientRef(patient.id, patient.clinic_id))
    return patient, coverage


def _patient_for(session: Session, actor: Actor, patient_id: uuid.UUID, action: policy.Action) -> Patient:
    if actor.role is Role.PATIENT:
        # A patient acting for themself: policy decides on the patient's id alone (care team, consents and
        # emergency accesses only matter to staff), so only the patient's row is read, not those four queries.
        patient = session.get(Patient, patient_id)
        if patient is None:
            raise NotFound("No such patient.")
        policy.require(actor, action, policy.PatientRef(patient.id, patient.clinic_id))
        return patient
    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, action, ref)
    return patient


def _check_start(
    session: Session,
    sched: rules.Schedule | None,
    vt: VisitType,
    start: datetime,
    now: datetime,
    field: str = "start",
) -> None:
    if sched is None:
        raise InvalidInput(
            "This clinician has not published availability yet.",
            fields=[FieldError("provider_id", "no availability set up")],
        )
    if problem := rules.start_problem(
        sched, visit_type=vt.code, duration_minutes=vt.duration_minutes, start=start, now=now
    ):
        raise InvalidInput(problem, fields=[FieldError(field, problem)])


def _held_by_other(
    session: Session,
    provider_id: uuid.UUID,
    patient_id: uuid.UUID,
    start: datetime,
    end: datetime,
    now: datetime,
) -> bool:
    return bool(repo.open_holds(session, provider_id, start, end, now=now, but=patient_id))


def book(
    session: Session,
    actor: Actor,
    *,
    provider_id: uuid.UUID,
    patient_id: uuid.UUID,
    start: datetime,
    visit_type: str,
    clock: Clock,
    settings: Settings,
    series: AppointmentSeries | None = None,
) -> Appointment:
    """Book one visit. 422 (InvalidInput/Ineligible) with the reason, 409 (SlotTaken) when the time is taken.

    Round trips before the claim (see benchmarks/booking.py): the patient (and policy; a patient booking for
    themself gets their coverage in the same query), then the provider, their schedule row and the visit type in
    one query (locking the provider's row: one claim per provider at a time, so racing claims queue instead of
    deadlocking in the exclusion constraint), the weekly hours and exceptions with the patient's history with
    this provider and any waitlist hold on the time in one, and the provider's dated records and the patient's
    plan in their networks in one. Then the claim: one INSERT the database refuses on an overlap."""
    patient, coverage = _patient_and_coverage(session, actor, patient_id, policy.Action.APPOINTMENT_BOOK)
    provider, row, vt = repo.booking_context(session, provider_id, visit_type, for_booking=True)
    if provider is None or not provider.is_active:
        raise NotFound("No such provider.")
    if vt is None or not vt.is_active:
        vt = _visit_type(session, visit_type)  # raises with the known visit types
    start = _utc(start, "start")
    _in_range(start, "start")
    now = clock.now()
    end = start + timedelta(minutes=vt.duration_minutes)
    facts = repo.booking_facts(session, row, provider.id, patient.id, start, end, now=now)
    _check_start(session, facts.schedule, vt, start, now)
    history, held, own_offer = facts.history, facts.held, facts.own_offer
    if problem := eligibility_problem(
        session, provider, patient, vt, start, history=history, coverage=coverage, locked=True
    ):
        raise Ineligible(problem, fields=[FieldError("provider_id", problem)])
    loaded.keep(session, provider, row, patient, vt)  # for the response (views), without reading them again
    appt = _new_appointment(
        session, provider, patient, vt, start, actor, series=series, buffer=row.buffer_minutes if row else 0
    )
    if held:
        raise SlotTaken("This time is being held for a patient on the waitlist. Please pick another time.")
    if reason := _claim(session, appt, savepoint=False):
        raise SlotTaken(reason)
    if own_offer is not None:  # the time was offered to this patient from the waitlist: the offer is used
        from careweave.scheduling import waitlist

        waitlist.used(session, own_offer, appt)
    _after_booking(session, actor, appt, clock=clock, settings=settings, change="booked")
    return appt


def _utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput(
            "Times need a UTC offset.",
            fields=[FieldError(field, "give an offset, e.g. 2026-03-03T14:00:00Z")],
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # An instant beyond the calendar's ends (0001-01-01T00:00+14:00) becomes the nearest end: a read's
        # filter then means "from the beginning" / "to the end"; a write refuses it (_in_range).
        offset = value.utcoffset()
        end = datetime.min if offset is not None and offset > timedelta(0) else datetime.max
        return end.replace(tzinfo=UTC)


def _new_appointment(
    session: Session,
    provider: Provider,
    patient: Patient,
    vt: VisitType,
    start: datetime,
    actor: Actor,
    *,
    series: AppointmentSeries | None = None,
    buffer: int | None = None,
) -> Appointment:
    if buffer is None:
        row = repo.schedule_row(session, provider.id)
        buffer = row.buffer_minutes if row else 0
    appointment_id = uuid.uuid4()
    end = start + timedelta(minutes=vt.duration_minutes)
    return Appointment(
        id=appointment_id,
        provider_id=provider.id,
        patient_id=patient.id,
        visit_type=vt.code,
        start_at=start,
        end_at=end,
        block_end_at=end + timedelta(minutes=buffer),
        status="booked",
        series_id=series.id if series else None,
        booked_by=actor.user_id,
        ics_uid=f"{appointment_id}@careweave",
        ics_sequence=0,
        late_cancellation=False,
    )


def _after_booking(
    session: Session,
    actor: Actor,
    appt: Appointment,
    *,
    clock: Clock,
    settings: Settings,
    change: Literal["booked", "rescheduled"],
    notify: bool = True,
) -> None:
    from careweave.careteam import service as careteam
    from careweave.scheduling import reminders

    if change == "booked":
        # A visit booked with a clinician puts them on the patient's care team (the patient chose them, or the
        # clinic booked on the patient's behalf). The provider is usually in the identity map (no query).
        provider = session.get(Provider, appt.provider_id)
        holder = provider.user_id if provider is not None else None
        # A visit taking the stored earliest free time moves it (scheduling.earliest).
        if provider is not None:
            earliest.after_claim(session, provider, appt.start_at, appt.block_end_at, now=clock.now())
        if holder is not None:
            careteam.ensure_member(
                session,
                patient_id=appt.patient_id,
                user_id=holder,
                provider_id=appt.provider_id,
                basis="patient_choice" if actor.role in (Role.PATIENT, None) else "assigned",
                clock=clock,
                added_by=actor.user_id,
            )
            # An accepted referral to this clinician is now scheduled (the referral loop closes at the visit).
            from careweave.careteam import referrals

            referrals.mark_scheduled(session, appt.patient_id, holder, appt.id, clock)
    # The reminders and (unless ``notify`` is off) the notices, in one round trip.
    reminders.schedule_and_notify(
        session, appt, change=change if notify else None, settings=settings, clock=clock
    )
    audit.record(
        session,
        actor,
        f"appointment.{'book' if change == 'booked' else 'reschedule'}",
        clock=clock,
        entity_type="appointment",
        entity_id=appt.id,
        patient_id=appt.patient_id,
        details={"provider_id": str(appt.provider_id), "visit_type": appt.visit_type},
    )


def _visible(session: Session, actor: Actor, appointment_id: uuid.UUID, action: policy.Action) -> Appointment:
    """The appointment if ``actor`` may act on it, else NotFound (no hint it exists)."""
    appt = repo.appointment(session, appointment_id)
    if appt is None:
        raise NotFound("No such appointment.")
    _, ref = patients.get_patient_ref(session, appt.patient_id)
    if not policy.may(actor, action, ref):
        raise NotFound("No such appointment.")
    if actor.role in (Role.THERAPIST, Role.PSYCHIATRIST):
        provider = session.get(Provider, appt.provider_id)
        if provider is None or provider.user_id != actor.user_id:
            raise NotFound("No such appointment.")
    return appt


def get_appointment(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, clock: Clock
) -> Appointment:
    appt = _visible(session, actor, appointment_id, policy.Action.APPOINTMENT_READ)
    audit.record(
        session,
        actor,
        "appointment.read",
        clock=clock,
        entity_type="appointment",
        entity_id=appt.id,
        patient_id=appt.patient_id,
    )
    return appt


def cancel(
    session: Session,
    actor: Actor,
    appointment_id: uuid.UUID,
    *,
    reason: str | None,
    scope: Literal["this", "following"] = "this",
    clock: Clock,
    settings: Settings,
) -> list[Appointment]:
    """Cancel a visit (or it and the rest of its series). Late when inside the provider's late-cancellation
    window; the freed time is offered to the waitlist."""
    appt = _visible(session, actor, appointment_id, policy.Action.APPOINTMENT_CANCEL)
    if appt.status != "booked":
        raise Conflict(f"This visit is {appt.status.replace('_', ' ')}; only booked visits can be cancelled.")
    now = clock.now()
    if appt.end_at <= now:
        raise Conflict("This visit is over; mark it completed or a no-show instead.")
    targets = [appt]
    if scope == "following":
        if appt.series_id is None:
            raise InvalidInput(
                "This visit is not part of a series.", fields=[FieldError("scope", "not a series")]
            )
        targets = repo.series_appointments(session, appt.series_id, from_start=appt.start_at)
    earliest.lock(session, {a.provider_id for a in targets})  # as booking does, before touching the visits
    row = repo.schedule_row(session, appt.provider_id)
    late_hours = row.late_cancel_hours if row else 24
    from careweave.scheduling import reminders, waitlist

    for a in targets:
        a.status = "cancelled"
        a.cancelled_at = now
        a.cancelled_by = actor.user_id
        a.cancel_reason = (reason or "").strip()[:500] or None
        a.late_cancellation = actor.role is Role.PATIENT and rules.is_late_cancellation(
            a.start_at, now, late_hours
        )
        a.ics_sequence += 1
        reminders.unschedule(session, a)
        rooms.changed(session, a.id)  # an open visit room closes once this commits
        reminders.notify_change(session, a, change="cancelled", settings=settings, clock=clock)
        audit.record(
            session,
            actor,
            "appointment.cancel",
            clock=clock,
            entity_type="appointment",
            entity_id=a.id,
            patient_id=a.patient_id,
            details={"late": a.late_cancellation, "scope": scope},
        )
    session.flush()
    for a in targets:
        waitlist.slot_freed(session, a.provider_id, a.start_at, a.end_at, clock=clock, settings=settings)
    earliest.refresh(session, {a.provider_id for a in targets}, now=now)  # the freed time may be the earliest
    return targets


def reschedule(
    session: Session,
    actor: Actor,
    appointment_id: uuid.UUID,
    *,
    start: datetime,
    clock: Clock,
    settings: Settings,
) -> Appointment:
    """Move a visit to a new time: the same event (UID) with a new sequence; the database refuses an overlap."""
    appt = _visible(session, actor, appointment_id, policy.Action.APPOINTMENT_CANCEL)
    if appt.status != "booked":
        raise Conflict(f"This visit is {appt.status.replace('_', ' ')}; only booked visits can be moved.")
    start = _utc(start, "start")
    _in_range(start, "start")
    now = clock.now()
    if appt.start_at <= now:
        raise Conflict("This visit has started; it can no longer be moved.")
    if start == appt.start_at:  # already at that time (a retry, a double click): no new invitation or notice
        return appt
    earliest.lock(session, [appt.provider_id])  # as booking does, before touching the visit
    provider = _provider(session, appt.provider_id)
    vt = _visit_type(session, appt.visit_type)
    patient = session.get(Patient, appt.patient_id)
    assert patient is not None
    _check_start(session, repo.schedule(session, provider.id), vt, start, now)
    if problem := eligibility_problem(session, provider, patient, vt, start):
        raise Ineligible(problem, fields=[FieldError("start", problem)])
    old_start, old_end = appt.start_at, appt.end_at
    length, hold = appt.end_at - appt.start_at, appt.block_end_at - appt.start_at
    if _held_by_other(session, provider.id, patient.id, start, start + length, now):
        raise SlotTaken("This time is being held for a patient on the waitlist. Please pick another time.")
    from careweave.scheduling import reminders, waitlist

    reminders.unschedule(session, appt)
    appt.start_at, appt.end_at, appt.block_end_at = start, start + length, start + hold
    appt.ics_sequence += 1
    try:
        session.flush()
    except (sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
        if (reason := _overlap(exc)) is None:
            raise
        raise SlotTaken(reason) from exc
    _after_booking(session, actor, appt, clock=clock, settings=settings, change="rescheduled")
    rooms.changed(session, appt.id)  # an open room re-checks its new opening hours
    waitlist.slot_freed(session, appt.provider_id, old_start, old_end, clock=clock, settings=settings)
    earliest.refresh(session, [appt.provider_id], now=now)  # the old time may be the earliest free one now
    return appt


def mark_no_show(session: Session, actor: Actor, appointment_id: uuid.UUID, *, clock: Clock) -> Appointment:
    appt = _visible(session, actor, appointment_id, policy.Action.APPOINTMENT_NO_SHOW)
    if appt.status not in ("booked", "no_show"):
        raise Conflict(f"This visit is {appt.status}; only a booked visit can be marked a no-show.")
    if appt.start_at > clock.now():
        raise Conflict("A visit can be marked a no-show only after its start time.")
    if appt.status == "no_show":  # marked already (a second click, a retry): nothing changes
        return appt
    from careweave.scheduling import reminders

    appt.status = "no_show"
    appt.no_show_at = clock.now()
    reminders.unschedule(session, appt)
    rooms.changed(session, appt.id)  # an open visit room closes once this commits
    audit.record(
        session,
        actor,
        "appointment.no_show",
        clock=clock,
        entity_type="appointment",
        entity_id=appt.id,
        patient_id=appt.patient_id,
    )
    return appt


def complete(session: Session, actor: Actor, appointment_id: uuid.UUID, *, clock: Clock) -> Appointment:
    """Mark a held visit completed (the clinician ending the video visit, or clinic staff afterwards): only a
    booked visit, only after its start; marking it again changes nothing. Pending reminders are dropped; the
    time stays held (a completed visit is part of the diary)."""
    appt = _visible(session, actor, appointment_id, policy.Action.APPOINTMENT_COMPLETE)
    if appt.status not in ("booked", "completed"):
        raise Conflict(
            f"This visit is {appt.status.replace('_', ' ')}; only a booked visit can be marked completed."
        )
    if appt.start_at > clock.now():
        raise Conflict("A visit can be marked completed only after its start time.")
    if appt.status == "completed":  # a second click, a retry, the other window
        return appt
    from careweave.scheduling import reminders

    appt.status = "completed"
    reminders.unschedule(session, appt)
    rooms.changed(session, appt.id)
    audit.record(
        session,
        actor,
        "appointment.completed",
        clock=clock,
        entity_type="appointment",
        entity_id=appt.id,
        patient_id=appt.patient_id,
    )
    return appt


# ----------------------------------------------------------------------------------------------------------
# Series


@dataclass(frozen=True, slots=True)
class OccurrenceResult:
    index: int
    start: datetime
    status: Literal["booked", "conflict", "unavailable", "ineligible"]
    reason: str | None
    appointment: Appointment | None


def create_series(
    session: Session,
    actor: Actor,
    *,
    provider_id: uuid.UUID,
    patient_id: uuid.UUID,
    start: datetime,
    visit_type: str,
    every_weeks: int,
    count: int | None,
    until: date | None,
    clock: Clock,
    settings: Settings,
) -> tuple[AppointmentSeries | None, list[OccurrenceResult]]:
    """Book a weekly/biweekly series at the first start's local time in the provider's zone. Every occurrence
    is checked (hours, notice, horizon, eligibility on its date, the database's overlap guard); the free ones
    are booked and each other one is reported with its reason. Nothing is booked when none is free."""
    patient = _patient_for(session, actor, patient_id, policy.Action.APPOINTMENT_BOOK)
    provider = _provider(session, provider_id)
    vt = _visit_type(session, visit_type)
    start = _utc(start, "start")
    _in_range(start, "start")
    sched = repo.schedule(session, provider.id)
    if sched is None:
        _check_start(session, sched, vt, start, clock.now())
    assert sched is not None
    try:
        starts = rules.series_starts(start, sched.timezone, every_weeks=every_weeks, count=count, until=until)
    except ValueError as exc:
        field = "every_weeks" if "every_weeks" in str(exc) else ("count" if count is not None else "until")
        raise InvalidInput("The series is not valid.", fields=[FieldError(field, str(exc))]) from exc
    series = AppointmentSeries(
        id=uuid.uuid4(),
        provider_id=provider.id,
        patient_id=patient.id,
        visit_type=vt.code,
        first_start_at=start,
        timezone=sched.timezone,
        every_weeks=every_weeks,
        occurrences=count,
        until=until,
        created_by=actor.user_id,
    )
    session.add(series)
    session.flush()
    now = clock.now()
    results: list[OccurrenceResult] = []
    for i, at in enumerate(starts):
        problem = rules.start_problem(
            sched, visit_type=vt.code, duration_minutes=vt.duration_minutes, start=at, now=now
        )
        if problem:
            results.append(OccurrenceResult(i, at, "unavailable", problem, None))
            continue
        if problem := eligibility_problem(session, provider, patient, vt, at):
            results.append(OccurrenceResult(i, at, "ineligible", problem, None))
            continue
        appt = _new_appointment(session, provider, patient, vt, at, actor, series=series)
        if _held_by_other(session, provider.id, patient.id, appt.start_at, appt.end_at, now):
            results.append(OccurrenceResult(i, at, "conflict", "Held for a patient on the waitlist.", None))
            continue
        if reason := _claim(session, appt, savepoint=True):
            results.append(OccurrenceResult(i, at, "conflict", reason, None))
            continue
        # one confirmation for the series, with the first occurrence actually booked
        first_booked = not any(r.status == "booked" for r in results)
        _after_booking(
            session, actor, appt, clock=clock, settings=settings, change="booked", notify=first_booked
        )
        results.append(OccurrenceResult(i, at, "booked", None, appt))
    if not any(r.status == "booked" for r in results):
        session.delete(series)
        session.flush()
        return None, results
    audit.record(
        session,
        actor,
        "appointment_series.create",
        clock=clock,
        entity_type="appointment_series",
        entity_id=series.id,
        patient_id=patient.id,
        details={"booked": sum(r.status == "booked" for r in results), "requested": len(results)},
    )
    return series, results


# ----------------------------------------------------------------------------------------------------------
# Listing


@dataclass(frozen=True, slots=True)
class AppointmentView:
    appointment: Appointment
    provider_name: str
    provider_timezone: str
    patient_name: str
    patient_timezone: str
    visit_type_name: str
    viewer_timezone: str

    @property
    def label(self) -> str:
        return rules.local_label(self.appointment.start_at, self.viewer_timezone)

    @property
    def patient_label(self) -> str:
        return rules.local_label(self.appointment.start_at, self.patient_timezone)

    @property
    def provider_label(self) -> str:
        return rules.local_label(self.appointment.start_at, self.provider_timezone)

    @property
    def start_local(self) -> str:
        return rules.local_iso(self.appointment.start_at, self.viewer_timezone)

    @property
    def minutes(self) -> int:
        return int((self.appointment.end_at - self.appointment.start_at).total_seconds() // 60)


def views(session: Session, actor: Actor, appts: list[Appointment]) -> list[AppointmentView]:
    # Rows the unit of work already holds (a visit just booked: its provider, schedule, patient and visit type)
    # are taken from the session; the rest are read once per kind.
    provider_ids = {a.provider_id for a in appts}
    providers = loaded.get_many(session, Provider, provider_ids)
    schedules = loaded.get_many(session, ProviderSchedule, provider_ids)
    pats = loaded.get_many(session, Patient, {a.patient_id for a in appts})
    names = {p.id: p.display_name for p in pats.values()}  # as patients.display_names gives them
    vts = loaded.get_many(session, VisitType, {a.visit_type for a in appts})
    mine = None if actor.role is Role.PATIENT else viewer_timezone(session, actor, "")  # once, not per visit
    out = []
    for a in appts:
        provider, patient = providers[a.provider_id], pats[a.patient_id]
        sched = schedules.get(a.provider_id)
        ptz = sched.timezone if sched else provider.timezone
        patient_tz = patient.timezone or ptz
        viewer = patient_tz if actor.role is Role.PATIENT else (mine or ptz)
        out.append(
            AppointmentView(
                a,
                provider.name,
                ptz,
                names.get(patient.id, "Patient"),
                patient_tz,
                vts[a.visit_type].name if a.visit_type in vts else a.visit_type,
                viewer,
            )
        )
    return out


def list_appointments(
    session: Session,
    actor: Actor,
    *,
    clock: Clock,
    patient_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
) -> list[Appointment]:
    """Visits the actor may see: a patient their own; a therapist or psychiatrist the visits they hold; care
    managers and administrators their clinic's. Filtered, soonest first."""
    stmt = _visible_visits(session, actor, patient_id, provider_id, status, start, end)
    if stmt is None:
        return []
    appts = list(session.scalars(stmt.order_by(Appointment.start_at).limit(max(1, min(limit, 500)))))
    patient_ids = {a.patient_id for a in appts}
    if patient_ids and actor.role is not Role.PATIENT:
        audit.record(
            session,
            actor,
            "appointment.list",
            clock=clock,
            entity_type="appointment",
            details={"patients": len(patient_ids)},
        )
    return appts


def count_appointments(
    session: Session,
    actor: Actor,
    *,
    patient_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """How many visits :func:`list_appointments` would find with no limit (a search's total); counts only, so
    not audited (the listing that comes with it is)."""
    stmt = _visible_visits(session, actor, patient_id, provider_id, status, start, end)
    if stmt is None:
        return 0
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def _visible_visits(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID | None,
    provider_id: uuid.UUID | None,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
) -> Select[tuple[Appointment]] | None:
    """The visits ``actor`` may see, filtered (None: none at all); policy checked for a named patient."""
    stmt = select(Appointment)
    if actor.role is Role.PATIENT:
        if actor.patient_id is None:
            return None
        stmt = stmt.where(Appointment.patient_id == actor.patient_id)
    elif actor.role in (Role.THERAPIST, Role.PSYCHIATRIST):
        own = select(Provider.id).where(Provider.user_id == actor.user_id)
        stmt = stmt.where(Appointment.provider_id.in_(own))
    elif actor.role in (Role.CARE_MANAGER, Role.ADMIN):
        clinic = select(Patient.id).where(Patient.clinic_id == actor.clinic_id)
        stmt = stmt.where(Appointment.patient_id.in_(clinic))
    else:
        return None
    if patient_id is not None:
        if actor.role is not Role.PATIENT:
            _, ref = patients.get_patient_ref(session, patient_id)
            policy.require(actor, policy.Action.APPOINTMENT_READ, ref)
        stmt = stmt.where(Appointment.patient_id == patient_id)
    if provider_id is not None:
        stmt = stmt.where(Appointment.provider_id == provider_id)
    if status is not None:
        stmt = stmt.where(Appointment.status == status)
    if start is not None:
        stmt = stmt.where(Appointment.end_at > _utc(start, "start"))
    if end is not None:
        stmt = stmt.where(Appointment.start_at < _utc(end, "end"))
    return stmt


def upcoming_for_patient(session: Session, patient_id: uuid.UUID, now: datetime) -> list[Appointment]:
    return list(
        session.scalars(
            select(Appointment)
            .where(
                Appointment.patient_id == patient_id,
                or_(Appointment.status == "booked", Appointment.end_at > now),
                Appointment.end_at > now - timedelta(hours=12),
            )
            .order_by(Appointment.start_at)
        )
    )


def ics_for(
    session: Session, actor: Actor, appointment_id: uuid.UUID, *, clock: Clock, settings: Settings
) -> bytes:
    """The visit as an iCalendar event (REQUEST, or CANCEL once cancelled); same UID for the event's life."""
    from careweave.scheduling import ics

    appt = get_appointment(session, actor, appointment_id, clock=clock)
    view = views(session, actor, [appt])[0]
    return ics.appointment_ics(
        appt,
        provider_name=view.provider_name,
        patient_name=view.patient_name,
        visit_type_name=view.visit_type_name,
        method="CANCEL" if appt.status == "cancelled" else "REQUEST",
        base_url=settings.base_url,
    )


def visit_types_for(session: Session, provider: Provider) -> list[VisitType]:
    """The visit types this provider offers (by service), in display order."""
    return [v for v in repo.visit_types(session) if _offers(provider, v)]


def provider_for_booking(session: Session, actor: Actor, provider_id: uuid.UUID) -> Provider:
    policy.require(actor, policy.Action.DIRECTORY_READ)
    return _provider(session, provider_id)


def patient_timezone(session: Session, patient_id: uuid.UUID | None) -> str | None:
    if patient_id is None:
        return None
    patient = session.get(Patient, patient_id)
    return patient.timezone if patient is not None else None


def provider_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(
        session.execute(select(Provider.id, Provider.name).where(Provider.id.in_(ids))).tuples().all()
    )


def provider_id_for_user(session: Session, user_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalar(select(Provider.id).where(Provider.user_id == user_id))


def place_demo_visit(
    session: Session,
    actor: Actor,
    provider: Provider,
    patient_id: uuid.UUID,
    visit_type: str,
    start: datetime,
    *,
    clock: Clock,
    settings: Settings,
) -> Appointment:
    """A visit placed for demo data, outside the schedule's notice (e.g. one starting in a few minutes, so a
    newcomer can walk into its waiting room). The database's overlap guard still applies."""
    patient = _patient_for(session, actor, patient_id, policy.Action.APPOINTMENT_BOOK)
    appt = _new_appointment(session, provider, patient, _visit_type(session, visit_type), start, actor)
    if reason := _claim(session, appt, savepoint=False):
        raise SlotTaken(reason)
    _after_booking(session, actor, appt, clock=clock, settings=settings, change="booked", notify=False)
    return appt
