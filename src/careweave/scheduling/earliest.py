"""Each provider's earliest free first visit, kept on the provider row (issue #4 "has availability in the
window", ranked by earliest availability, at directory scale: docs/directory.md "Earliest free time").

Matching ranks by earliest availability and refuses providers with no free time. Computing free time is slot
arithmetic over each provider's hours and booked time, far too slow to do for the thousands of providers a
large state holds on every match. So each provider's earliest free start for each role's first visit
(``FIRST_VISIT``) is kept in columns (migration 0011) that SQL filters and orders by; matching still re-checks
exactly, with :func:`careweave.scheduling.service.openings`, the few providers it is about to show.

The columns are a *lower bound* on the truth, never later than it, which is what lets matching trust SQL's
order (a stored time may only be too optimistic, and the exact re-check then demotes the provider):

* whatever frees time refreshes them in the same transaction: a cancellation, a reschedule, new hours or
  exceptions, a waitlist hold released (:func:`refresh`);
* a booking only takes time away, so it leaves them a valid lower bound; it refreshes them anyway when it
  takes the stored earliest time itself (:func:`after_claim`), to keep the bound tight;
* time passing also only takes time away (notice, past slots), except that each day a new day enters the
  booking horizon: a provider stored as having no free time may have some now. ``careweave worker`` refreshes
  every provider not checked for ``STALE_AFTER`` (:func:`refresh_due`), so such a provider reappears within
  that time; a provider never checked (new, or before the first pass) counts as available, unknown when.

Concurrency: :func:`refresh` locks the providers' rows (PostgreSQL ``FOR NO KEY UPDATE``, as booking does;
SQLite serialises writers anyway) before reading their hours and booked time, so a refresh never overwrites a
newer one with an older answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import Uuid, exists, or_, select, update
from sqlalchemy.orm import Session

from careweave.core.clock import Clock
from careweave.db.lists import one_of
from careweave.directory import documents
from careweave.directory.models import Provider
from careweave.scheduling import repository as scheduling_repo
from careweave.scheduling import rules

# The visit a new patient books first with each role: its free time decides availability in matching.
FIRST_VISIT: Mapping[str, str] = MappingProxyType(
    {"therapist": "therapy_intake", "prescriber": "psychiatric_evaluation"}
)
# Provider columns (start, day, UTC weekdays) per first-visit type.
COLUMNS: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {
        "therapy_intake": ("first_therapy_at", "first_therapy_day", "first_therapy_weekdays"),
        "psychiatric_evaluation": (
            "first_evaluation_at",
            "first_evaluation_day",
            "first_evaluation_weekdays",
        ),
    }
)
EPOCH = date(1970, 1, 1)
# Refresh providers not checked for this long (a new day enters every booking horizon daily; see above).
STALE_AFTER = timedelta(hours=1)
BATCH = 1000  # providers per refresh statement batch
# A booking within this distance of a stored earliest time re-computes it (buffers and visit lengths are
# shorter than this, so a booking farther away cannot have touched the earliest free slot).
NEAR = timedelta(hours=4)


def day_number(value: date) -> int:
    """Days since 1970-01-01: what the ``*_day`` columns store (SQL ranks by day differences)."""
    return (value - EPOCH).days


def from_day_number(value: int) -> date:
    return EPOCH + timedelta(days=value)


def lock(session: Session, provider_ids: Iterable[uuid.UUID]) -> None:
    """Lock the providers' rows as booking does (PostgreSQL ``FOR NO KEY UPDATE``, in id order), before a
    change that frees their time touches visits or holds: the later refresh then takes no lock a racing
    booking could hold while waiting for those rows (SQLite serialises writers anyway). The one provider lock
    of every writer: directory.documents.lock."""
    documents.lock(session, provider_ids)


def refresh(session: Session, provider_ids: Iterable[uuid.UUID], *, now: datetime) -> int:
    """Recompute the stored earliest free first visits of ``provider_ids`` as of ``now``; returns how many
    providers were updated. Locks their rows first (see the module docstring)."""
    from careweave.scheduling import service as scheduling  # it imports this module

    ids = sorted(set(provider_ids))
    done = 0
    for i in range(0, len(ids), BATCH):
        chunk = ids[i : i + BATCH]
        current = select(Provider.id, Provider.updated_at).where(Provider.id.in_(chunk)).order_by(Provider.id)
        if session.get_bind().dialect.name == "postgresql":
            current = current.with_for_update(key_share=True)
        # updated_at is passed through: a refresh is not an edit of the provider's profile.
        values: dict[uuid.UUID, dict[str, object]] = {
            pid: {"id": pid, "openings_checked_at": now, "updated_at": updated}
            for pid, updated in session.execute(current)
        }
        schedules = scheduling_repo.schedules(session, chunk)
        for code, (at_column, day_column, weekdays_column) in COLUMNS.items():
            found = scheduling.openings(session, chunk, visit_type_for=dict.fromkeys(chunk, code), now=now)
            for pid in values:  # providers that exist (an unknown id is skipped)
                start = found[pid].start if pid in found else None
                values[pid][at_column] = start
                values[pid][day_column] = day_number(start.astimezone(UTC).date()) if start else None
                sched = schedules.get(pid)
                values[pid][weekdays_column] = hours_weekdays(sched, code, now=now) if sched else 0
        session.execute(update(Provider), list(values.values()))
        documents.copy_openings(session, values.values())  # matching reads them from its documents
        done += len(chunk)
    return done


# Bit 7 of a stored weekdays mask: the zone is east of UTC (at now or half a year on), so a visit on a local day
# can fall on the previous UTC day (matching's bound allows for it: directory.documents.day_bounds).
EAST_OF_UTC = documents.EAST_OF_UTC


def hours_weekdays(schedule: rules.Schedule, visit_type: str, *, now: datetime) -> int:
    """The weekdays (bit 0 = Monday) of the provider's own calendar on which ``schedule`` may offer
    ``visit_type``: those of its weekly hours serving it, and those of any extra hours on a date — a superset
    of the local days free time can be on. Plus EAST_OF_UTC when the zone is ahead of UTC now or half a year
    on (either side of a daylight-saving change).

    Matching bounds the first free day on or after a date D by it (documents.day_bounds): the exact search
    starts at D's local midnight, so free time is on a local day L >= D with hours, whose UTC date — what the
    rules rank by — is L or later west of UTC (or at it), and L - 1 or later east of it."""
    tz = schedule.zone
    mask = 0
    for ref in (now, now + timedelta(days=182)):
        offset = ref.astimezone(tz).utcoffset()
        if offset is not None and offset > timedelta(0):
            mask |= EAST_OF_UTC
    for window in schedule.windows:
        if not window.visit_types or visit_type in window.visit_types:
            mask |= 1 << window.weekday
    for extra in schedule.exceptions:
        if extra.available:
            mask |= 1 << extra.day.weekday()
    return mask


def after_claim(
    session: Session, provider: Provider, start: datetime, block_end: datetime, *, now: datetime
) -> None:
    """After a visit [start, block_end) was booked with ``provider``: refresh their stored earliest times if
    the visit may have taken one of them (a booking elsewhere leaves them exact)."""
    for at_column, _day, _weekdays in COLUMNS.values():
        stored: datetime | None = getattr(provider, at_column)
        if stored is not None and start < stored + NEAR and block_end > stored - NEAR:
            refresh(session, [provider.id], now=now)
            return


# The latest start of a calendar day anywhere (00:00 at UTC-12 is 12:00 UTC): a stored time at or after this
# on the need's date is on or after the start of that date in every provider's zone.
LATEST_DAY_START = time(12, 0)


def fresh_openings(
    session: Session, provider_ids: Iterable[uuid.UUID], visit_type: str, *, now: datetime, on_date: date
) -> dict[uuid.UUID, datetime]:
    """The stored earliest free ``visit_type`` start of each provider for whom it is exact now, from the start
    of ``on_date`` (:func:`exact_stored`). One query; matching reads the same columns with its provider rows
    instead (directory.repository.match_fact_rows, ``stored_openings``)."""
    from careweave.scheduling.models import ProviderSchedule

    at_column = getattr(Provider, COLUMNS[visit_type][0])
    ids = list(provider_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Provider.id, at_column, ProviderSchedule.min_notice_minutes, Provider.openings_checked_at)
        .add_columns(open_hold(Provider.id))
        .join(ProviderSchedule, ProviderSchedule.provider_id == Provider.id)
        .where(
            one_of(Provider.id, "ids", Uuid()),  # one statement text whatever the number of ids: db.lists
            at_column.is_not(None),
            Provider.openings_checked_at.is_not(None),
        ),
        {"ids": ids},
    ).all()
    found = ((row.id, exact_from_row(row, visit_type, now=now, on_date=on_date)) for row in rows)
    return {pid: at for pid, at in found if at is not None}


def exact_from_row(row: Any, visit_type: str, *, now: datetime, on_date: date) -> datetime | None:
    """:func:`exact_stored` for a row carrying the provider's stored time column for ``visit_type`` (COLUMNS),
    ``min_notice_minutes`` (None: no schedule), ``openings_checked_at`` and ``open_hold`` (:func:`open_hold`)."""
    return exact_stored(
        getattr(row, COLUMNS[visit_type][0]),
        row.min_notice_minutes,
        checked=row.openings_checked_at is not None,
        held=row.open_hold,
        now=now,
        on_date=on_date,
    )


def open_hold(provider_id: Any) -> Any:
    """SQL: whether the provider has an open waitlist hold (a labelled boolean column for :func:`exact_stored`'s
    ``held``)."""
    from careweave.scheduling.models import WaitlistOffer

    return (
        exists()
        .where(WaitlistOffer.provider_id == provider_id, WaitlistOffer.status == "open")
        .label("open_hold")
    )


def exact_stored(
    at: datetime | None,
    notice_minutes: int | None,
    *,
    checked: bool,
    held: bool,
    now: datetime,
    on_date: date,
) -> datetime | None:
    """A provider's stored earliest free start (``at``) when it is exact now for a need on ``on_date``, else None:
    it was checked (``checked``: a schedule change clears the check), no waitlist hold is open (a hold frees its
    time when it runs out, before anything refreshes the stored time), the provider has a schedule
    (``notice_minutes``), the time is still bookable (at or after ``now`` plus the minimum notice) and on or after
    ``on_date`` begins in any zone. The stored time was free and earliest when computed; since then whatever
    frees time refreshed it and a booking that took it did too, so it is still the earliest."""
    if at is None or notice_minutes is None or not checked or held:
        return None
    if at < datetime.combine(on_date, LATEST_DAY_START, tzinfo=UTC) or at < now + timedelta(
        minutes=notice_minutes
    ):
        return None
    return at


# Providers refreshed per unit of work: small, because a refresh holds their rows (PostgreSQL) or the write
# lock (SQLite) while it computes (~2 ms each), and a booking with them waits meanwhile. At one pass every few
# seconds this still covers 100,000 providers within STALE_AFTER.
DUE_PER_PASS = 250
DUE_BATCHES_PER_PASS = 20  # each its own unit of work: up to 5,000 providers per pass


def refresh_due(session: Session, *, clock: Clock, limit: int = DUE_PER_PASS) -> int:
    """Refresh up to ``limit`` active providers never checked or not checked for ``STALE_AFTER``, the
    longest-unchecked first (``careweave worker`` runs this each pass); returns how many."""
    now = clock.now()
    ids = list(
        session.scalars(
            select(Provider.id)
            .where(
                Provider.is_active.is_(True),
                or_(Provider.openings_checked_at.is_(None), Provider.openings_checked_at < now - STALE_AFTER),
            )
            .order_by(Provider.openings_checked_at.is_not(None), Provider.openings_checked_at, Provider.id)
            .limit(limit)
        )
    )
    return refresh(session, ids, now=now) if ids else 0
