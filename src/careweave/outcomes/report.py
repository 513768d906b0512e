"""The outcomes report (issue #8): follow-up, response and remission at 6 and 12 months, per clinic and clinician."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.identity.models import User
from careweave.outcomes import rules
from careweave.outcomes.common import (
    score_of,
)
from careweave.outcomes.models import CareEpisode
from careweave.screening.models import ScreeningResponse

# Worst first: the episode's headline status is its worst instrument's.

# --- outcomes report -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutcomeGroup:
    group: str
    clinician_id: uuid.UUID | None
    patients: int
    with_follow_up: int
    six: dict[str, Any]
    twelve: dict[str, Any]
    median_weeks_to_response: float | None

    @property
    def follow_up_rate(self) -> float | None:
        return round(100 * self.with_follow_up / self.patients, 1) if self.patients else None


def outcomes_report(
    session: Session, actor: Actor, *, clock: Clock, instrument: str = "phq-9"
) -> list[OutcomeGroup]:
    """Per clinic and per treating clinician: share of patients with a follow-up score, response and remission
    at 6 and 12 months (± the window, spec §2.2/§2.4: NQF 1884 / 0710; index score above 9) and the median
    weeks to response. Aggregates only."""
    policy.require(actor, policy.Action.OUTCOMES_REPORT_READ)
    if actor.clinic_id is None:
        return []
    from careweave.careteam.models import CareTeamMember

    rs = rules.default_rules()
    today = clock.now().date()
    episodes = list(session.scalars(select(CareEpisode).where(CareEpisode.clinic_id == actor.clinic_id)))
    pids = list({e.patient_id for e in episodes})
    scores: dict[uuid.UUID, list[rules.Score]] = {p: [] for p in pids}
    if pids:
        for r in session.scalars(
            select(ScreeningResponse)
            .where(
                ScreeningResponse.patient_id.in_(pids),
                ScreeningResponse.instrument == instrument,
                ScreeningResponse.total.is_not(None),
                ScreeningResponse.status == "completed",
            )
            .order_by(ScreeningResponse.authored_at)
        ):
            scores[r.patient_id].append(score_of(r))
    clinicians: dict[uuid.UUID, set[uuid.UUID]] = {}
    names: dict[uuid.UUID, str] = {}
    if pids:
        for pid, uid, name in session.execute(
            select(CareTeamMember.patient_id, CareTeamMember.user_id, User.full_name)
            .join(User, User.id == CareTeamMember.user_id)
            .where(CareTeamMember.patient_id.in_(pids), User.role.in_(["therapist", "psychiatrist"]))
        ):
            clinicians.setdefault(uid, set()).add(pid)
            names[uid] = name or ""
    cases = []
    for e in episodes:
        end = e.ended_on or today
        own = [s for s in scores[e.patient_id] if e.started_on <= s.at.date() <= end]
        base = next((s for s in own if s.complete and not s.prorated), None)
        if base is None or base.value <= 9:  # the measures' denominator: index score above 9
            continue
        later = [s for s in own if s.at > base.at]
        first_response = next(
            (s for s in later if s.complete and (base.value - s.value) / base.value >= rs.response_reduction),
            None,
        )
        cases.append(
            (
                e.patient_id,
                bool(later),
                _window(base, later, rs.six_months_days, today, instrument, rs),
                _window(base, later, rs.twelve_months_days, today, instrument, rs),
                (first_response.at - base.at).days / 7 if first_response else None,
            )
        )
    groups = [OutcomeGroup(*_aggregate("Whole clinic", None, cases))]
    for uid, pset in sorted(clinicians.items(), key=lambda kv: names[kv[0]]):
        mine = [c for c in cases if c[0] in pset]
        if mine:
            groups.append(OutcomeGroup(*_aggregate(names[uid], uid, mine)))
    audit.record(
        session, actor, "outcomes_report.read", clock=clock, entity_type="outcomes_report", entity_id=None
    )
    return groups


def _window(
    base: rules.Score, later: list[rules.Score], days: int, today: date, instrument: str, rs: rules.MbcRules
) -> rules.OutcomePoint | None:
    """The outcome at the window, or None when the window has not closed yet (not in the denominator)."""
    if (today - base.at.date()).days < days + rs.window_days:
        return None
    return rules.outcome_at(base, later, days=days, instrument=instrument, rules=rs)


def _aggregate(label: str, clinician_id: uuid.UUID | None, cases: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    import statistics

    def point(index: int) -> dict[str, Any]:
        due = [c[index] for c in cases if c[index] is not None]
        n = len(due)
        return {
            "eligible": n,
            "followed_up": sum(1 for p in due if p.followed_up),
            "response_rate": round(100 * sum(1 for p in due if p.response) / n, 1) if n else None,
            "remission_rate": round(100 * sum(1 for p in due if p.remission) / n, 1) if n else None,
        }

    weeks = [c[4] for c in cases if c[4] is not None]
    median = round(statistics.median(weeks), 1) if weeks else None
    return (label, clinician_id, len(cases), sum(1 for c in cases if c[1]), point(2), point(3), median)
