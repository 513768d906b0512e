"""Pure scheduling rules: free slots from a provider's weekly hours, date exceptions, buffers, minimum notice
and booking horizon minus booked time; recurring series; cancellation windows; labelled local times.

No I/O. Every instant is an aware UTC datetime; weekly hours and exceptions are wall-clock times in the
schedule's own IANA zone, converted per date with ``zoneinfo`` so a 9:00 window stays 9:00 local across the
March and November changes (the UTC instant moves instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GRANULARITY_MINUTES = 5  # every visit starts and lasts a multiple of this
MAX_SERIES_OCCURRENCES = 52
MAX_LISTING_DAYS = 92  # one slot listing covers at most about three months


@dataclass(frozen=True, slots=True)
class Window:
    """Weekly hours: ``weekday`` (Monday = 0) from ``start`` to ``end``, local time; ``visit_types`` empty
    means every visit type."""

    weekday: int
    start: time
    end: time
    visit_types: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
        if self.start >= self.end:
            raise ValueError("a window must start before it ends")

    def serves(self, visit_type: str) -> bool:
        return not self.visit_types or visit_type in self.visit_types


@dataclass(frozen=True, slots=True)
class DateException:
    """A local date off (``available`` False: the whole day, or ``start``–``end`` of it), or extra hours
    (``available`` True with ``start``–``end``)."""

    day: date
    start: time | None = None
    end: time | None = None
    available: bool = False

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise ValueError("an exception gives both start and end, or neither")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("an exception must start before it ends")
        if self.available and self.start is None:
            raise ValueError("extra hours need a start and an end")


@dataclass(frozen=True, slots=True)
class Schedule:
    timezone: str
    windows: tuple[Window, ...] = ()
    exceptions: tuple[DateException, ...] = ()
    buffer_minutes: int = 0
    min_notice_minutes: int = 720
    horizon_days: int = 60

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.timezone)


@dataclass(frozen=True, slots=True, order=True)
class Busy:
    """Time a provider already holds: a visit from ``start`` to ``end`` (its buffer included)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Occurrence:
    index: int
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """The occurrences of a series, each in the schedule zone's wall time of the first."""

    occurrences: tuple[Occurrence, ...] = field(default_factory=tuple)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC)


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of wall time ``at`` on ``day`` in ``tz``; None when that wall time does not exist
    (skipped by a spring-forward change). An ambiguous wall time (fall back) is its first occurrence."""
    local = datetime.combine(day, at, tzinfo=tz)
    instant = local.astimezone(UTC)
    back = instant.astimezone(tz)
    if (back.date(), back.time()) != (day, at):
        return None
    return instant


def _day_intervals(schedule: Schedule, day: date, visit_type: str) -> list[tuple[time, time]]:
    """The local working intervals of ``day`` for ``visit_type``, after its exceptions."""
    intervals = [
        (w.start, w.end) for w in schedule.windows if w.weekday == day.weekday() and w.serves(visit_type)
    ]
    return _with_exceptions(intervals, [ex for ex in schedule.exceptions if ex.day == day])


def _with_exceptions(
    intervals: list[tuple[time, time]], exceptions: Iterable[DateException]
) -> list[tuple[time, time]]:
    """A day's weekly intervals after that day's exceptions, merged: extra hours are added, then every time off
    is taken out, so time off wins over extra hours whatever order they were entered (or read) in — a time the
    provider said they are off is never offered. An exception without times is the whole day off."""
    extra: list[tuple[time, time]] = []
    off: list[tuple[time, time]] = []
    for ex in exceptions:
        if ex.start is None or ex.end is None:
            return []
        (extra if ex.available else off).append((ex.start, ex.end))
    intervals = intervals + extra
    for start, end in off:
        intervals = _subtract(intervals, start, end)
    return _merge(intervals)


def _subtract(intervals: list[tuple[time, time]], start: time, end: time) -> list[tuple[time, time]]:
    out: list[tuple[time, time]] = []
    for a, b in intervals:
        if end <= a or b <= start:
            out.append((a, b))
            continue
        if a < start:
            out.append((a, start))
        if end < b:
            out.append((end, b))
    return out


def _merge(intervals: Iterable[tuple[time, time]]) -> list[tuple[time, time]]:
    merged: list[tuple[time, time]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def working_intervals(
    schedule: Schedule, visit_type: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Working time in [start, end) for ``visit_type``, as UTC intervals, exceptions applied."""
    start, end = _utc(start), _utc(end)
    tz = schedule.zone
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    # The weekly intervals per weekday and the exceptions per date, once (not once per day of the range).
    weekly = [
        [(w.start, w.end) for w in schedule.windows if w.weekday == weekday and w.serves(visit_type)]
        for weekday in range(7)
    ]
    merged_weekly = [_merge(intervals) for intervals in weekly]
    exceptions: dict[date, list[DateException]] = {}
    for ex in schedule.exceptions:
        exceptions.setdefault(ex.day, []).append(ex)
    out: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        todays = exceptions.get(day)
        weekday = day.weekday()
        intervals = (
            merged_weekly[weekday] if todays is None else _with_exceptions(list(weekly[weekday]), todays)
        )
        for a, b in intervals:
            lo = _edge(day, a, tz)
            hi = _edge(day, b, tz) if b != time(0) else _edge(day + timedelta(days=1), b, tz)
            lo, hi = max(lo, start), min(hi, end)
            if lo < hi:
                out.append((lo, hi))
        day += timedelta(days=1)
    return out


def _edge(day: date, at: time, tz: ZoneInfo) -> datetime:
    """An interval edge: a wall time skipped by a spring-forward change moves to the change's instant."""
    instant = local_instant(day, at, tz)
    if instant is not None:
        return instant
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def bookable_range(schedule: Schedule, now: datetime) -> tuple[datetime, datetime]:
    """[earliest, latest) start allowed by the minimum notice and the booking horizon."""
    now = _utc(now)
    return now + timedelta(minutes=schedule.min_notice_minutes), now + timedelta(days=schedule.horizon_days)


def free_slots(
    schedule: Schedule,
    *,
    visit_type: str,
    duration_minutes: int,
    busy: Sequence[Busy],
    start: datetime,
    end: datetime,
    now: datetime,
    limit: int | None = None,
) -> list[Slot]:
    """Free start times for a visit of ``duration_minutes`` in [start, end), earliest first (the first
    ``limit`` of them, when given).

    Within each working interval, slots follow one another every duration + buffer from the interval's start;
    after a visit already booked, the next slot starts when that visit's buffer ends, so a schedule packs
    without gaps. A slot needs the visit itself inside working time and its buffer clear of other visits.

    The walk runs on integer microseconds since the epoch (exact, and several times cheaper than aware
    datetimes), and one pass over the busy blocks serves every working interval, since both come in time order.
    """
    if duration_minutes <= 0 or duration_minutes % GRANULARITY_MINUTES:
        raise ValueError(f"duration must be a positive multiple of {GRANULARITY_MINUTES} minutes")
    earliest_at, latest_at = bookable_range(schedule, now)
    earliest, latest = _micros(earliest_at), _micros(latest_at)
    step = (duration_minutes + schedule.buffer_minutes) * _MINUTE
    length = duration_minutes * _MINUTE
    hold = step
    blocks = sorted((_micros(b.start), _micros(b.end)) for b in busy)
    starts = [b[0] for b in blocks]
    ends = [b[1] for b in blocks]
    count = len(blocks)
    found: list[int] = []
    i = 0
    last = None  # the last time compared with the blocks
    for lo_at, hi_at in working_intervals(schedule, visit_type, start, end):
        lo, hi = _micros(lo_at), _micros(hi_at)
        if hi - length < earliest or lo >= latest:
            continue  # no start in this interval can be offered
        if limit is not None and len(found) >= limit and lo >= sorted(found)[limit - 1]:
            continue  # only later starts than the first ``limit`` found
        t = -(-lo // _GRAIN) * _GRAIN
        if last is not None and t < last:
            i = 0  # intervals out of time order (never expected): scan the blocks from the first again
        while t + length <= hi:
            # Visits never overlap (the database sees to it), so blocks ordered by start are ordered by end;
            # the blocks skipped here end before every later time compared (t only grows).
            while i < count and ends[i] <= t:
                i += 1
            last = t
            if i < count and starts[i] < t + hold:
                t = -(-ends[i] // _GRAIN) * _GRAIN
                continue
            if earliest <= t < latest:
                found.append(t)
            elif t >= latest:
                break
            t += step
    found.sort()
    if limit is not None:
        found = found[:limit]
    out = []
    for t in found:
        at = _EPOCH + timedelta(microseconds=t)
        out.append(Slot(at, at + timedelta(microseconds=length)))
    return out


def first_free_slot(
    schedule: Schedule,
    *,
    visit_type: str,
    duration_minutes: int,
    busy: Sequence[Busy],
    start: datetime,
    end: datetime,
    now: datetime,
    first_days: int = 2,
) -> Slot | None:
    """The earliest free slot in [start, end) — ``free_slots(...)[0]`` over the whole range — looked for in
    [start, start + d) with ``d`` doubling from ``first_days`` until one is found or the range is covered.

    Every window starts at ``start``: slots follow one another from each working interval's start, so a window
    starting later would cut a working interval at its edge and put the slots after it on another grid (a slot
    the booking page offers would be missed, and a later one returned). Growing only the end keeps the grid, and
    the earliest slot inside a window is the earliest of all (any earlier one ends earlier too)."""
    days = first_days
    while True:
        hi = min(start + timedelta(days=days), end)
        found = free_slots(
            schedule,
            visit_type=visit_type,
            duration_minutes=duration_minutes,
            busy=busy,
            start=start,
            end=hi,
            now=now,
            limit=1,
        )
        if found or hi >= end:
            return found[0] if found else None
        days *= 2


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MINUTE = 60_000_000  # microseconds
# Starts are rounded up to the granularity in UTC. Zone offsets in use are whole quarter hours, so a time
# aligned in UTC is aligned in local time too.
_GRAIN = GRANULARITY_MINUTES * _MINUTE


def _micros(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return (value - _EPOCH) // _MICROSECOND


def start_problem(
    schedule: Schedule, *, visit_type: str, duration_minutes: int, start: datetime, now: datetime
) -> str | None:
    """Why a visit cannot start at ``start`` under the schedule's own rules (None: it can; other visits are
    the database's concern: it refuses an overlap)."""
    start = _utc(start)
    if start.second or start.microsecond or start.minute % GRANULARITY_MINUTES:
        return f"Visits start on a {GRANULARITY_MINUTES}-minute boundary."
    earliest, latest = bookable_range(schedule, now)
    if start < earliest:
        hours = schedule.min_notice_minutes / 60
        return f"This time is too soon: the clinician needs {hours:g} hours' notice."
    if start >= latest:
        return f"This time is too far ahead: visits can be booked up to {schedule.horizon_days} days ahead."
    end = start + timedelta(minutes=duration_minutes)
    for lo, hi in working_intervals(schedule, visit_type, start - timedelta(days=1), end + timedelta(days=1)):
        if lo <= start and end <= hi:
            return None
    return "The clinician is not available for this visit type at this time."


def series_starts(
    first: datetime, tz_name: str, *, every_weeks: int, count: int | None = None, until: date | None = None
) -> list[datetime]:
    """UTC starts of a weekly/biweekly series keeping the first start's wall time in ``tz_name``: "9:00 every
    Tuesday" stays 9:00 local across DST changes. ``until`` is a local date, inclusive. A wall time that a
    spring-forward change skips on some date moves, that date, to the instant of the change."""
    if not 1 <= every_weeks <= 4:
        raise ValueError("every_weeks must be 1 to 4")
    if (count is None) == (until is None):
        raise ValueError("give count or until, not both")
    if count is not None and not 1 <= count <= MAX_SERIES_OCCURRENCES:
        raise ValueError(f"count must be 1 to {MAX_SERIES_OCCURRENCES}")
    tz = zone(tz_name)
    local = _utc(first).astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    days = []
    for i in range(MAX_SERIES_OCCURRENCES + 1):
        day = local.date() + timedelta(weeks=every_weeks * i)
        if (count is not None and i >= count) or (until is not None and day > until):
            break
        days.append(day)
    if len(days) > MAX_SERIES_OCCURRENCES:
        raise ValueError(f"a series has at most {MAX_SERIES_OCCURRENCES} occurrences")
    if not days:  # an ``until`` before the first visit's date
        raise ValueError(f"until is before the first visit ({local.date().isoformat()})")
    return [_edge(day, wall, tz) for day in days]


def is_late_cancellation(start: datetime, now: datetime, late_cancel_hours: int) -> bool:
    """Cancelled within the clinic's late-cancellation window before the visit."""
    return _utc(start) - _utc(now) < timedelta(hours=late_cancel_hours)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_label(instant: datetime, tz_name: str) -> str:
    """ "Tue 3 Mar 2026, 9:00 AM EST": a time as a person in ``tz_name`` reads it, zone named (the same in
    every locale; a zone without an abbreviation shows as "UTC-03")."""
    local = _utc(instant).astimezone(zone(tz_name))
    label = local.tzname() or "UTC"
    if label[:1] in "+-":
        label = f"UTC{label}"
    hour = local.hour % 12 or 12
    return (
        f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
        f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'} {label}"
    )


def local_iso(instant: datetime, tz_name: str) -> str:
    return _utc(instant).astimezone(zone(tz_name)).isoformat()


def local_views(instants: Iterable[datetime], tz_name: str) -> list[tuple[str, str]]:
    """``(local_iso(at, tz_name), local_label(at, tz_name))`` for each instant, the same strings, for a list of
    slots: the zone is looked up once and each local date's part of the label is formatted once."""
    tz = zone(tz_name)
    days: dict[tuple[int, str | None], tuple[str, str]] = {}
    out: list[tuple[str, str]] = []
    for instant in instants:
        local = _utc(instant).astimezone(tz)
        name = local.tzname()
        key = (local.toordinal(), name)
        parts = days.get(key)
        if parts is None:
            label = name or "UTC"
            if label[:1] in "+-":
                label = f"UTC{label}"
            parts = (f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, ", label)
            days[key] = parts
        hour = local.hour
        out.append(
            (
                local.isoformat(),
                f"{parts[0]}{hour % 12 or 12}:{local.minute:02d} {'AM' if hour < 12 else 'PM'} {parts[1]}",
            )
        )
    return out
