"""Measurement-based care queries: episodes, summaries, the registry's flagged list, minutes per month."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Select,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from careweave.careteam.models import CareTeamMember
from careweave.outcomes import rules
from careweave.outcomes.models import CareEpisode, MeasureSummary, TimeEntry
from careweave.patients.models import Patient
from careweave.safety.models import SafetyAlert


def open_episode(session: Session, patient_id: uuid.UUID, *, for_update: bool = False) -> CareEpisode | None:
    stmt = select(CareEpisode).where(CareEpisode.patient_id == patient_id, CareEpisode.ended_on.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def episodes(session: Session, patient_id: uuid.UUID) -> list[CareEpisode]:
    return list(
        session.scalars(
            select(CareEpisode).where(CareEpisode.patient_id == patient_id).order_by(CareEpisode.started_on)
        )
    )


def summaries(session: Session, episode_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[MeasureSummary]]:
    out: dict[uuid.UUID, list[MeasureSummary]] = {e: [] for e in episode_ids}
    if episode_ids:
        stmt = select(MeasureSummary).where(MeasureSummary.episode_id.in_(episode_ids))
        for row in session.scalars(stmt.order_by(MeasureSummary.instrument)):
            out[row.episode_id].append(row)
    return out


@dataclass(frozen=True, slots=True)
class PageEpisode:
    """What a registry row reads of its episode (the page selects these columns, not the entity)."""

    id: uuid.UUID
    patient_id: uuid.UUID
    started_on: date
    last_contact_on: date | None
    next_due_on: date | None
    last_measured_on: date | None
    status: str | None
    last_item9_positive_on: date | None
    last_review_on: date | None


@dataclass(frozen=True, slots=True)
class PagePatient:
    """What a registry row reads of its patient: the name, and what the policy needs (id and clinic)."""

    id: uuid.UUID
    clinic_id: uuid.UUID | None
    family_name: str
    given_name: str


@dataclass(frozen=True, slots=True)
class PageSummary:
    """A measure summary as a registry row shows it and the rules read it."""

    instrument: str
    baseline_score: int | None
    baseline_at: datetime | None
    latest_score: int | None
    latest_at: datetime | None
    latest_prorated: bool
    change: int | None
    percent_change: float | None
    status: str | None
    flags: list[str]


_EPISODE_COLUMNS = tuple(getattr(CareEpisode, f) for f in PageEpisode.__slots__)
_PATIENT_COLUMNS = tuple(getattr(Patient, f) for f in PagePatient.__slots__)
_SUMMARY_COLUMNS = tuple(getattr(MeasureSummary, f) for f in PageSummary.__slots__)


def _page_row(row: Sequence[object]) -> tuple[PageEpisode, PagePatient]:
    n = len(_EPISODE_COLUMNS)
    return PageEpisode(*row[:n]), PagePatient(*row[n:])  # type: ignore[arg-type]


def among(
    session: Session, column: ColumnElement[uuid.UUID], ids: Sequence[uuid.UUID]
) -> ColumnElement[bool]:
    """``column IN ids`` for a page's ids. On PostgreSQL as ``= ANY(array)``, one parameter: an ``IN`` of 200
    parameters is a new statement text for every page size, which the driver parses again each time (about a fifth
    of a caseload page's time went there)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Uuid())))
    return column.in_(ids)


def page_summaries(session: Session, episode_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[PageSummary]]:
    """:func:`summaries` for a registry page: the columns it shows, not the entities."""
    out: dict[uuid.UUID, list[PageSummary]] = {e: [] for e in episode_ids}
    if episode_ids:
        stmt = select(MeasureSummary.episode_id, *_SUMMARY_COLUMNS).where(
            among(session, MeasureSummary.episode_id, episode_ids)
        )
        for episode_id, *values in session.execute(stmt.order_by(MeasureSummary.instrument)):
            out[episode_id].append(PageSummary(*values))
    return out


@dataclass(frozen=True, slots=True)
class RegistryQuery:
    on: date
    clinic_id: uuid.UUID
    viewer_id: uuid.UUID | None = None  # rows where the viewer is care manager or consultant, or on the team
    clinician_id: uuid.UUID | None = None  # rows where this clinician is on the care team
    care_manager_id: uuid.UUID | None = None
    flag: str | None = None
    status: str | None = None
    sort: str = "flags"
    descending: bool = False
    limit: int = 50
    offset: int = 0


def _status_exists(*statuses: str) -> ColumnElement[bool]:
    return exists().where(MeasureSummary.episode_id == CareEpisode.id, MeasureSummary.status.in_(statuses))


# The episode's ``status`` is its worst instrument's (service._refresh_episode, after every score), and
# "not_improving" is the worst there is, so an episode has an instrument not improving exactly when its own status
# is "not_improving", an instrument in early non-response only if its status is one of the two, and a measured
# instrument exactly when its status is not null. The registry's conditions read the episode row for these, and
# the summaries only where the worst status cannot tell (a second instrument). Patients with an open safety alert
# or an overdue lab are a small set: an uncorrelated ``IN`` (computed once per query) instead of a probe per row.


def _open_alert_patients() -> Select[tuple[uuid.UUID]]:
    return select(SafetyAlert.patient_id).where(SafetyAlert.status == "open")


def _overdue_lab_patients(on: date) -> Select[tuple[uuid.UUID]]:
    from careweave.labs.models import LabOrder  # the same rows as labs_bridge.overdue_condition

    return select(LabOrder.patient_id).where(LabOrder.status == "ordered", LabOrder.due_on < on)


def _safety(on: date, rs: rules.MbcRules) -> ColumnElement[bool]:
    return or_(
        CareEpisode.last_item9_positive_on >= on - timedelta(days=rs.safety_item9_days),
        CareEpisode.patient_id.in_(_open_alert_patients()),
    )


def _needs_review(on: date, rs: rules.MbcRules) -> ColumnElement[bool]:
    return and_(
        CareEpisode.status.is_not(None),
        CareEpisode.status.not_in(("response", "remission")),
        CareEpisode.started_on <= on - timedelta(weeks=rs.early_non_response_weeks),
        or_(
            CareEpisode.last_review_on.is_(None),
            CareEpisode.last_review_on <= on - timedelta(days=rs.review_interval_days),
        ),
        not_(_status_exists("response", "remission")),
    )


def _overdue(on: date) -> ColumnElement[bool]:
    return CareEpisode.next_due_on < on


def _no_contact(on: date, rs: rules.MbcRules) -> ColumnElement[bool]:
    return func.coalesce(CareEpisode.last_contact_on, CareEpisode.started_on) <= on - timedelta(
        days=rs.no_contact_days
    )


def flag_condition(flag: str, on: date, rs: rules.MbcRules) -> ColumnElement[bool]:
    """SQL for one of rules.registry_flags (the rules decide a row's flags; this finds the rows)."""
    if flag == "not_improving":
        return CareEpisode.status == "not_improving"
    if flag == "early_non_response":
        return or_(
            CareEpisode.status == "early_non_response",
            and_(CareEpisode.status == "not_improving", _status_exists("early_non_response")),
        )
    if flag == "safety":
        return _safety(on, rs)
    if flag == "needs_psychiatric_review":
        return _needs_review(on, rs)
    if flag == "overdue_measure":
        return _overdue(on)
    if flag == "no_contact":
        return _no_contact(on, rs)
    if flag == "overdue_monitoring_lab":
        return CareEpisode.patient_id.in_(_overdue_lab_patients(on))
    raise ValueError(f"unknown flag {flag!r}")


def _any_flag(on: date, rs: rules.MbcRules) -> ColumnElement[bool]:
    """Any of rules.FLAGS: the cheap column tests first, the summaries probe last."""
    return or_(
        CareEpisode.status.in_(("not_improving", "early_non_response")),
        _overdue(on),
        _no_contact(on, rs),
        _safety(on, rs),
        CareEpisode.patient_id.in_(_overdue_lab_patients(on)),
        _needs_review(on, rs),
    )


SORTS = ("flags", "name", "weeks", "latest", "percent_change", "last_contact", "next_due")


def _conditions(q: RegistryQuery, rs: rules.MbcRules) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [CareEpisode.ended_on.is_(None), CareEpisode.clinic_id == q.clinic_id]
    if q.care_manager_id is not None:
        conds.append(CareEpisode.care_manager_user_id == q.care_manager_id)
    if q.viewer_id is not None:
        conds.append(
            or_(
                CareEpisode.care_manager_user_id == q.viewer_id,
                CareEpisode.consultant_user_id == q.viewer_id,
                _on_team(q.viewer_id, q.on),
            )
        )
    if q.clinician_id is not None:
        conds.append(_on_team(q.clinician_id, q.on))
    if q.flag == "any":
        conds.append(_any_flag(q.on, rs))
    elif q.flag:
        conds.append(flag_condition(q.flag, q.on, rs))
    if q.status:
        conds.append(_status_exists(q.status) if q.status != "no_baseline" else CareEpisode.status.is_(None))
    return conds


def registry_rows(
    session: Session, q: RegistryQuery, rs: rules.MbcRules
) -> tuple[list[tuple[PageEpisode, PagePatient]], int]:
    """One page of open episodes for the query (with their patients), and how many there are in all."""
    conds = _conditions(q, rs)
    if q.care_manager_id is not None or q.clinician_id is not None or q.sort != "flags":
        # A caseload is short (a care manager's is at most a few hundred): the page first, and the count only
        # when the page does not tell it (a full page, or a page past the end).
        if q.care_manager_id is None:
            _no_jit(session)
        rows = _page(session, conds, q, rs)
        if (rows and len(rows) < q.limit) or (not rows and q.offset == 0):
            return rows, q.offset + len(rows)
        return rows, session.scalar(select(func.count()).select_from(CareEpisode).where(*conds)) or 0
    # A long list in the "flags" order (the whole clinic's). One pass over the episodes counts them. The page's
    # last (safety, not improving, start) key is then looked for among the rows that are both safe-flagged and not
    # improving (the first rank), in start order by the index on (clinic, status, start) of open episodes; only
    # when that rank holds too few rows does a second pass count the rows per key. Only the rows up to the key are
    # read with their patients and sorted by name: the same page as sorting everything.
    _no_jit(session)
    total = session.scalar(select(func.count()).select_from(CareEpisode).where(*conds)) or 0
    if total <= q.offset:
        return [], total
    if total <= q.offset + q.limit:  # the page holds the rest of the list: sort it
        return _page(session, conds, q, rs), total
    first = session.execute(
        select(CareEpisode.started_on)
        .where(*conds, CareEpisode.status == "not_improving", _safety(q.on, rs))
        .order_by(CareEpisode.started_on)
        .limit(1)
        .offset(q.offset + q.limit - 1)
    ).first()
    if first is not None:
        return _keyed_page(session, conds, q, rs, None, (0, first[0]), q.offset), total
    keyed = (
        select(_flags_rank(q.on, rs).label("rk"), CareEpisode.started_on.label("day"))
        .where(*conds)
        .subquery()
    )
    groups = session.execute(
        select(keyed.c.rk, keyed.c.day, func.count())
        .group_by(keyed.c.rk, keyed.c.day)
        .order_by(keyed.c.rk, keyed.c.day)
    ).all()
    before = 0  # rows before the group holding the page's first row
    seen = 0
    low: tuple[int, date] | None = None
    high: tuple[int, date] | None = None
    for rk, day, n in groups:
        if low is None and seen + n > q.offset:
            low, before = (rk, day), seen
        seen += n
        if seen >= q.offset + q.limit:
            high = (rk, day)
            break
    if high is None:
        high = (groups[-1][0], groups[-1][1])
    return _keyed_page(session, conds, q, rs, low, high, q.offset - before), total


def _no_jit(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # These statements scan a whole clinic's open episodes at most: PostgreSQL's JIT compilation (on by
        # default) cost more than it saved, about 70 % of the statement at 200,000 patients (docs/benchmarks.md).
        session.execute(text("SET LOCAL jit = off"))


def _page(
    session: Session, conds: list[ColumnElement[bool]], q: RegistryQuery, rs: rules.MbcRules
) -> list[tuple[PageEpisode, PagePatient]]:
    stmt = (
        select(*_EPISODE_COLUMNS, *_PATIENT_COLUMNS)
        .join(Patient, Patient.id == CareEpisode.patient_id)
        .where(*conds)
        .order_by(*_order(q, rs))
        .limit(q.limit)
        .offset(q.offset)
    )
    return [_page_row(r) for r in session.execute(stmt)]


def _keyed_page(
    session: Session,
    conds: list[ColumnElement[bool]],
    q: RegistryQuery,
    rs: rules.MbcRules,
    low: tuple[int, date] | None,
    high: tuple[int, date],
    offset: int,
) -> list[tuple[PageEpisode, PagePatient]]:
    """The rows whose (rank, start) key lies from ``low`` (None: the first) to ``high``, in the "flags" order,
    from ``offset``.

    Besides the key range itself, the conditions it implies are written out plainly (not improving, safety, the
    start's range within one rank) so that the index on (clinic, status, start) of open episodes finds the rows
    of the first rank without reading the clinic."""
    first_rank = 0 if low is None else low[0]
    implied: list[ColumnElement[bool]] = []
    ranks = set(range(first_rank, high[0] + 1))
    if ranks <= {0, 2}:
        implied.append(CareEpisode.status == "not_improving")
    if ranks <= {0, 1}:
        implied.append(_safety(q.on, rs))
    if first_rank == high[0]:
        implied.append(CareEpisode.started_on <= high[1])
        if low is not None:
            implied.append(CareEpisode.started_on >= low[1])
    keyed = (
        select(
            CareEpisode.id.label("id"), _flags_rank(q.on, rs).label("rk"), CareEpisode.started_on.label("day")
        )
        .where(*conds, *implied)
        .subquery()
    )
    rk, day = keyed.c.rk, keyed.c.day
    bounds = [or_(rk < high[0], and_(rk == high[0], day <= high[1]))]
    if low is not None:
        bounds.append(or_(rk > low[0], and_(rk == low[0], day >= low[1])))
    stmt = (
        select(*_EPISODE_COLUMNS, *_PATIENT_COLUMNS)
        .select_from(CareEpisode)
        .join(keyed, keyed.c.id == CareEpisode.id)
        .join(Patient, Patient.id == CareEpisode.patient_id)
        .where(*bounds)
        .order_by(rk, day, Patient.family_name, Patient.given_name, CareEpisode.id)
        .limit(q.limit)
        .offset(offset)
    )
    return [_page_row(r) for r in session.execute(stmt)]


def _flags_rank(on: date, rs: rules.MbcRules) -> ColumnElement[int]:
    """0 safety and not improving, 1 safety, 2 not improving, 3 neither: the "flags" sort's first keys."""
    return case((_safety(on, rs), 0), else_=2) + case((CareEpisode.status == "not_improving", 0), else_=1)


def _on_team(user_id: uuid.UUID, on: date) -> ColumnElement[bool]:
    return exists().where(
        CareTeamMember.patient_id == CareEpisode.patient_id,
        CareTeamMember.user_id == user_id,
        CareTeamMember.start_date <= on,
        or_(CareTeamMember.end_date.is_(None), CareTeamMember.end_date >= on),
    )


def _latest_phq9() -> ColumnElement[int]:
    return (
        select(MeasureSummary.latest_score)
        .where(MeasureSummary.episode_id == CareEpisode.id)
        .order_by(MeasureSummary.instrument.desc())  # "phq-9" before "gad-7"
        .limit(1)
        .scalar_subquery()
    )


def _percent() -> ColumnElement[float]:
    return (
        select(func.min(MeasureSummary.percent_change))
        .where(MeasureSummary.episode_id == CareEpisode.id)
        .scalar_subquery()
    )


def _order(q: RegistryQuery, rs: rules.MbcRules) -> list[ColumnElement[object]]:
    name = (Patient.family_name, Patient.given_name, CareEpisode.id)
    if q.sort == "flags":
        # Safety first, then not improving, then the longest in treatment.
        return [_flags_rank(q.on, rs).asc(), CareEpisode.started_on.asc(), *(c.asc() for c in name)]
    column: ColumnElement[object] = {  # type: ignore[assignment]
        "name": Patient.family_name,
        "weeks": CareEpisode.started_on,
        "latest": _latest_phq9(),
        "percent_change": _percent(),
        "last_contact": CareEpisode.last_contact_on,
        "next_due": CareEpisode.next_due_on,
    }[q.sort]
    # "weeks": an earlier start is more weeks; the rest read naturally.
    descending = q.descending != (q.sort == "weeks")
    first = column.desc().nulls_last() if descending else column.asc().nulls_last()
    return [first, *(c.asc() for c in name)]


@dataclass(frozen=True, slots=True)
class MonthMinutes:
    patient_id: uuid.UUID
    episode_id: uuid.UUID
    minutes: int
    first_activity: date  # the episode's first logged minutes (its CoCM month 1)
    preferred_name: str | None
    given_name: str
    family_name: str


def minutes_by_patient_month(
    session: Session, clinic_id: uuid.UUID, first: date, last: date
) -> list[MonthMinutes]:
    """Per patient and episode with time logged from ``first`` to ``last`` in the clinic's episodes: the minutes,
    the episode's first activity and the patient's name, in one statement (no id lists: a clinic's month can
    hold hundreds of thousands of patients)."""
    month = (
        select(
            TimeEntry.patient_id.label("patient_id"),
            TimeEntry.episode_id.label("episode_id"),
            func.sum(TimeEntry.minutes).label("minutes"),
        )
        .join(CareEpisode, CareEpisode.id == TimeEntry.episode_id)
        .where(CareEpisode.clinic_id == clinic_id, TimeEntry.on_date >= first, TimeEntry.on_date <= last)
        .group_by(TimeEntry.patient_id, TimeEntry.episode_id)
        .subquery()
    )
    earlier = aliased(TimeEntry)
    first_day = (
        select(func.min(earlier.on_date))
        .where(earlier.patient_id == month.c.patient_id, earlier.episode_id == month.c.episode_id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            month.c.patient_id,
            month.c.episode_id,
            month.c.minutes,
            first_day,
            Patient.preferred_name,
            Patient.given_name,
            Patient.family_name,
        ).join(Patient, Patient.id == month.c.patient_id)
    ).all()
    return [MonthMinutes(p, e, int(m), f, pn, gn, fn) for p, e, m, f, pn, gn, fn in rows]
