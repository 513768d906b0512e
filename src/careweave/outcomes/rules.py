"""Measurement-based care as pure rules (issue #8; clinical-spec.md §2): no I/O, no database, no clock.

- ``measurement_status``: baseline (the first complete, not prorated score of the episode), latest, change,
  % change, weeks in treatment and the treat-to-target status of spec §2.3's implementable rule::

      current < remission threshold                -> remission
      reduction >= 50 %                            -> response
      weeks >= 10 (reduction < 50 %)               -> not_improving   (psychiatric case review)
      weeks >= 8 and reduction < 25 %              -> early_non_response
      reduction >= 25 %                            -> partial_response
      otherwise                                    -> too_early

  Prorated scores are usable as follow-ups but flagged; they are never a baseline (spec §2.2: compute response
  and remission only from complete scores "or explicitly flagged prorated"). Incomplete scores (a PHQ-9 whose
  item 9 is unanswered) are never used.
- ``next_due``: the next measure due (each scheduled contact, and at least every 4 weeks: spec §2.4).
- ``registry_flags``: the caseload flags of the registry.
- ``idle_end``: when an episode ends for want of activity (6 consecutive months: spec §2.6).

Every threshold lives in ``data/mbc.json`` with its source, loaded into :class:`MbcRules`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

Status = Literal[
    "remission", "response", "partial_response", "not_improving", "early_non_response", "too_early"
]
STATUSES: tuple[Status, ...] = (
    "remission",
    "response",
    "partial_response",
    "not_improving",
    "early_non_response",
    "too_early",
)
STATUS_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "remission": "Remission",
        "response": "Response",
        "partial_response": "Partial response",
        "not_improving": "Not improving",
        "early_non_response": "Early non-response",
        "too_early": "Too early to tell",
        "no_baseline": "No baseline yet",
    }
)
Flag = Literal[
    "not_improving",
    "early_non_response",
    "safety",
    "overdue_measure",
    "no_contact",
    "overdue_monitoring_lab",
    "needs_psychiatric_review",
]
FLAGS: tuple[Flag, ...] = (
    "safety",
    "not_improving",
    "early_non_response",
    "needs_psychiatric_review",
    "overdue_measure",
    "no_contact",
    "overdue_monitoring_lab",
)


class MbcDataError(ValueError):
    """The rule data is missing or malformed: measurement-based care refuses to run on a guess."""


@dataclass(frozen=True, slots=True)
class InstrumentRule:
    code: str
    label: str
    max: int
    remission_below: int
    target_below: int
    remission_unverified: bool
    source: str


@dataclass(frozen=True, slots=True)
class MbcRules:
    version: str
    instruments: Mapping[str, InstrumentRule]
    response_reduction: float
    partial_response_reduction: float
    not_improving_weeks: int
    early_non_response_weeks: int
    early_non_response_reduction: float
    minimal_important_difference: int
    interval_days: int
    cadence_instruments: tuple[str, ...]
    no_contact_days: int
    safety_item9_days: int
    review_interval_days: int
    idle_months: int
    end_reasons: tuple[str, ...]
    six_months_days: int
    twelve_months_days: int
    window_days: int

    def instrument(self, code: str) -> InstrumentRule:
        try:
            return self.instruments[code]
        except KeyError:
            raise MbcDataError(f"no measurement-based care rules for instrument {code!r}") from None


def _number(raw: Mapping[str, Any], key: str, where: str, kind: type = int) -> Any:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MbcDataError(f"{where}.{key} must be a number")
    if kind is int and not isinstance(value, int):
        raise MbcDataError(f"{where}.{key} must be a whole number")
    if value < 0:
        raise MbcDataError(f"{where}.{key} must not be negative")
    return kind(value)


def parse_rules(raw: Mapping[str, Any]) -> MbcRules:
    """Validated rules from the JSON document (see data/mbc.json)."""
    try:
        instruments = {
            code: InstrumentRule(
                code=code,
                label=str(item["label"]),
                max=_number(item, "max", f"instruments.{code}"),
                remission_below=_number(item, "remission_below", f"instruments.{code}"),
                target_below=_number(item, "target_below", f"instruments.{code}"),
                remission_unverified=bool(item.get("remission_unverified", False)),
                source=str(item["source"]),
            )
            for code, item in raw["instruments"].items()
        }
        status, cadence, flags = raw["status"], raw["cadence"], raw["flags"]
        episodes, windows = raw["episodes"], raw["outcome_windows"]
        rules = MbcRules(
            version=str(raw["version"]),
            instruments=MappingProxyType(instruments),
            response_reduction=_number(status, "response_reduction", "status", float),
            partial_response_reduction=_number(status, "partial_response_reduction", "status", float),
            not_improving_weeks=_number(status, "not_improving_weeks", "status"),
            early_non_response_weeks=_number(status, "early_non_response_weeks", "status"),
            early_non_response_reduction=_number(status, "early_non_response_reduction", "status", float),
            minimal_important_difference=_number(status, "minimal_important_difference", "status"),
            interval_days=_number(cadence, "interval_days", "cadence"),
            cadence_instruments=tuple(str(c) for c in cadence["instruments"]),
            no_contact_days=_number(flags, "no_contact_days", "flags"),
            safety_item9_days=_number(flags, "safety_item9_days", "flags"),
            review_interval_days=_number(flags, "review_interval_days", "flags"),
            idle_months=_number(episodes, "idle_months", "episodes"),
            end_reasons=tuple(str(r) for r in episodes["end_reasons"]),
            six_months_days=_number(windows, "six_months_days", "outcome_windows"),
            twelve_months_days=_number(windows, "twelve_months_days", "outcome_windows"),
            window_days=_number(windows, "window_days", "outcome_windows"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise MbcDataError(f"measurement-based care data is malformed: {exc!r}") from exc
    if not rules.partial_response_reduction < rules.response_reduction <= 1:
        raise MbcDataError("status: partial_response_reduction < response_reduction <= 1 is required")
    if rules.early_non_response_weeks > rules.not_improving_weeks:
        raise MbcDataError("status: early_non_response_weeks must not exceed not_improving_weeks")
    unknown = set(rules.cadence_instruments) - set(instruments)
    if unknown:
        raise MbcDataError(f"cadence names instruments without rules: {sorted(unknown)}")
    return rules


_DEFAULT: MbcRules | None = None


def default_rules() -> MbcRules:
    """The packaged rules (read once per process)."""
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("careweave.outcomes").joinpath("data/mbc.json").read_text("utf-8")
        _DEFAULT = parse_rules(json.loads(text))
    return _DEFAULT


@dataclass(frozen=True, slots=True)
class Score:
    """One scored questionnaire: ``complete`` False means it must not be used (e.g. PHQ-9 item 9 missing)."""

    value: int
    at: datetime
    prorated: bool = False
    complete: bool = True


@dataclass(frozen=True, slots=True)
class MeasurementStatus:
    instrument: str
    baseline: Score | None
    latest: Score | None
    change: int | None  # points of improvement: baseline - latest (positive is better)
    percent_change: float | None  # % reduction from baseline (positive is better), one decimal
    weeks_in_treatment: int
    status: Status | None  # None: no baseline yet, or nothing after it
    flags: tuple[str, ...] = field(default=())  # "latest_prorated", "prorated_not_baseline", …

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status or "no_baseline"]


def weeks_between(start: date, on: date) -> int:
    """Whole weeks from ``start`` to ``on`` (0 before a week has passed; never negative)."""
    return max(0, (on - start).days // 7)


def classify(
    baseline: int, current: int, weeks: int, instrument: InstrumentRule, rules: MbcRules
) -> tuple[Status, float | None]:
    """Spec §2.3's implementable rule for one follow-up score: (status, fractional reduction or None)."""
    reduction = (baseline - current) / baseline if baseline > 0 else None
    if current < instrument.remission_below:
        return "remission", reduction
    if reduction is not None and reduction >= rules.response_reduction:
        return "response", reduction
    if weeks >= rules.not_improving_weeks:
        return "not_improving", reduction
    if weeks >= rules.early_non_response_weeks and (
        reduction is None or reduction < rules.early_non_response_reduction
    ):
        return "early_non_response", reduction
    if reduction is not None and reduction >= rules.partial_response_reduction:
        return "partial_response", reduction
    return "too_early", reduction


def measurement_status(
    instrument: str,
    scores: Iterable[Score],
    *,
    episode_start: date,
    on: date,
    rules: MbcRules | None = None,
) -> MeasurementStatus:
    """The status of one instrument in an episode, from its scores (any order; those before the episode's
    start are not part of it)."""
    rs = rules or default_rules()
    spec = rs.instrument(instrument)
    usable = sorted((s for s in scores if s.complete and s.at.date() >= episode_start), key=lambda s: s.at)
    weeks = weeks_between(episode_start, on)
    flags: list[str] = []
    baseline = next((s for s in usable if not s.prorated), None)
    if baseline is None:
        if usable:
            flags.append("prorated_not_baseline")
        return MeasurementStatus(
            instrument, None, usable[-1] if usable else None, None, None, weeks, None, tuple(flags)
        )
    if any(s.prorated for s in usable if s.at < baseline.at):
        flags.append("prorated_not_baseline")
    later = [s for s in usable if s.at > baseline.at]
    if not later:
        return MeasurementStatus(instrument, baseline, baseline, 0, 0.0, weeks, None, tuple(flags))
    latest = later[-1]
    if latest.prorated:
        flags.append("latest_prorated")
    status, reduction = classify(baseline.value, latest.value, weeks, spec, rs)
    change = baseline.value - latest.value
    if status in ("not_improving", "early_non_response") and change < rs.minimal_important_difference:
        flags.append("below_minimal_important_difference")
    percent = None if reduction is None else round(reduction * 100, 1)
    return MeasurementStatus(instrument, baseline, latest, change, percent, weeks, status, tuple(flags))


def next_due(
    *,
    last_measured: date | None,
    episode_start: date,
    next_contact: date | None,
    rules: MbcRules | None = None,
) -> date:
    """When the next measure is due: at the next scheduled contact, and at least every ``interval_days``
    (spec §2.4); at once (the episode's start) when nothing has been measured in the episode."""
    rs = rules or default_rules()
    if last_measured is None or last_measured < episode_start:
        return episode_start
    due = last_measured + timedelta(days=rs.interval_days)
    if next_contact is not None and last_measured < next_contact < due:
        return next_contact
    return due


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the registry knows about one patient in an episode (built by the service, or by SQL)."""

    statuses: Sequence[MeasurementStatus]
    weeks_in_treatment: int
    next_due: date | None
    last_contact: date | None
    episode_start: date
    open_safety_alert: bool = False
    last_item9_positive: date | None = None
    overdue_labs: int = 0
    last_review: date | None = None


def registry_flags(case: CaseFacts, *, on: date, rules: MbcRules | None = None) -> tuple[Flag, ...]:
    """The registry's flags for a case, in :data:`FLAGS` order.

    - ``not_improving`` / ``early_non_response``: any instrument's status (spec §2.3).
    - ``safety``: an open safety alert, or a positive PHQ-9 item 9 within ``safety_item9_days``.
    - ``needs_psychiatric_review``: not responding (no instrument at response/remission) from week 8 on, and no
      caseload review in the last ``review_interval_days`` (spec §2.3: consultation between weeks 8 and 12
      for patients not responding by week 8; §2.5: weekly caseload review).
    - ``overdue_measure``: the next measure's due date has passed.
    - ``no_contact``: no contact (visit or care-manager activity) for ``no_contact_days`` (since the episode's
      start when there has been none).
    - ``overdue_monitoring_lab``: a monitoring lab (issue #7) is overdue.
    """
    rs = rules or default_rules()
    found: set[Flag] = set()
    statuses = {s.status for s in case.statuses}
    if "not_improving" in statuses:
        found.add("not_improving")
    if "early_non_response" in statuses:
        found.add("early_non_response")
    item9_recent = case.last_item9_positive is not None and (on - case.last_item9_positive).days <= (
        rs.safety_item9_days
    )
    if case.open_safety_alert or item9_recent:
        found.add("safety")
    responding = statuses & {"response", "remission"}
    measured = any(s.status is not None for s in case.statuses)
    reviewed_lately = case.last_review is not None and (on - case.last_review).days < rs.review_interval_days
    if (
        measured
        and not responding
        and case.weeks_in_treatment >= rs.early_non_response_weeks
        and not reviewed_lately
    ):
        found.add("needs_psychiatric_review")
    if case.next_due is not None and case.next_due < on:
        found.add("overdue_measure")
    since = case.last_contact or case.episode_start
    if (on - since).days >= rs.no_contact_days:
        found.add("no_contact")
    if case.overdue_labs:
        found.add("overdue_monitoring_lab")
    return tuple(f for f in FLAGS if f in found)


def flag_label(flag: str, rules: MbcRules | None = None) -> str:
    rs = rules or default_rules()
    return {
        "safety": "Safety",
        "not_improving": f"Not improving (≥ {rs.not_improving_weeks} weeks)",
        "early_non_response": f"Early non-response (≥ {rs.early_non_response_weeks} weeks, < "
        f"{round(rs.early_non_response_reduction * 100)}%)",
        "needs_psychiatric_review": "Needs psychiatric review",
        "overdue_measure": "Measure overdue",
        "no_contact": f"No contact in {rs.no_contact_days} days",
        "overdue_monitoring_lab": "Monitoring lab overdue",
    }[flag]


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar ``months`` (the 31st becomes the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def idle_end(last_activity: date, on: date, rules: MbcRules | None = None) -> date | None:
    """The day an episode ends for want of activity (``idle_months`` consecutive months without CoCM services
    after ``last_activity``, spec §2.6), if that day has come by ``on``; else None."""
    rs = rules or default_rules()
    end = add_months(last_activity, rs.idle_months)
    return end if on >= end else None


@dataclass(frozen=True, slots=True)
class OutcomePoint:
    """Outcome of one episode at a measure window (6 or 12 months after the index score)."""

    followed_up: bool
    response: bool
    remission: bool


def outcome_at(
    baseline: Score,
    scores: Iterable[Score],
    *,
    days: int,
    instrument: str,
    rules: MbcRules | None = None,
) -> OutcomePoint:
    """Response and remission at ``days`` after the index (baseline) score, ± ``window_days`` (spec §2.2, §2.4:
    NQF 1884 at six months, NQF 0710 at twelve months ± 30 days). The score in the window closest to its centre
    counts; complete scores only (prorated ones are flagged upstream, still counted)."""
    rs = rules or default_rules()
    spec = rs.instrument(instrument)
    centre = baseline.at.date() + timedelta(days=days)
    window = [
        s
        for s in scores
        if s.complete and s.at > baseline.at and abs((s.at.date() - centre).days) <= rs.window_days
    ]
    if not window:
        return OutcomePoint(False, False, False)
    best = min(window, key=lambda s: (abs((s.at.date() - centre).days), s.at))
    reduction = (baseline.value - best.value) / baseline.value if baseline.value > 0 else 0.0
    return OutcomePoint(True, reduction >= rs.response_reduction, best.value < spec.remission_below)
