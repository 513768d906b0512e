"""Measurement-based care queries: episodes, summaries, the registry's flagged list, minutes per month."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, not_, or_, select, text
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
) -> tuple[list[tuple[CareEpisode, Patient]], int]:
    """One page of open episodes for the query (with their patients), and how many there are in all."""
    conds = _conditions(q, rs)
    if session.get_bind().dialect.name == "postgresql":
        # These statements scan a whole clinic's open episodes at most: PostgreSQL's JIT compilation (on by
        # default) cost more than it saved, about 70 % of the statement at 200,000 patients (docs/benchmarks.md).
        session.execute(text("SET LOCAL jit = off"))
    total = session.scalar(select(func.count()).select_from(CareEpisode).where(*conds)) or 0
    if total <= q.offset:
        return [], total
    stmt = select(CareEpisode, Patient).join(Patient, Patient.id == CareEpisode.patient_id).where(*conds)
    if q.sort == "flags" and total > q.offset + q.limit:
        # A long list (the whole clinic's): find the page's last (safety, not improving, start) key without the
        # patients, then sort only the rows up to it by name. The page is the same as sorting everything. The
        # key is computed once per row, in a subquery.
        keyed = select(
            CareEpisode.id.label("id"), _flags_rank(q.on, rs).label("rk"), CareEpisode.started_on.label("day")
        ).where(*conds)
        k = keyed.subquery()
        bound = session.execute(
            select(k.c.rk, k.c.day).order_by(k.c.rk, k.c.day).limit(1).offset(q.offset + q.limit - 1)
        ).one()
        k = keyed.subquery()
        page = (
            select(CareEpisode, Patient)
            .join(k, k.c.id == CareEpisode.id)
            .join(Patient, Patient.id == CareEpisode.patient_id)
            .where(or_(k.c.rk < bound[0], and_(k.c.rk == bound[0], k.c.day <= bound[1])))
            .order_by(k.c.rk, k.c.day, Patient.family_name, Patient.given_name, CareEpisode.id)
            .limit(q.limit)
            .offset(q.offset)
        )
        return [(e, p) for e, p in session.execute(page)], total
    stmt = stmt.order_by(*_order(q, rs)).limit(q.limit).offset(q.offset)
    return [(e, p) for e, p in session.execute(stmt)], total


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
