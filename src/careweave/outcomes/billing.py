"""Psychiatric Collaborative Care (CoCM) month-end billing as pure rules (issue #8; clinical-spec.md §2.6).

The CPT "midpoint" rule over a calendar month's behavioral health care manager (BHCM) minutes for one patient:

- first month of the episode's BHCM activity: **99492** from 36 minutes (unit 70);
- later months: **99493** from 31 minutes (unit 60);
- **99494** add-on per further 30 minutes, each from 16 minutes beyond the base unit (first month: 86, 116, …;
  later months: 76, 106, …); never alone;
- **G2214** (first 30 minutes, initial or subsequent) from 16 minutes when 99492/99493's minimum is not met;
- under 16 minutes nothing is billable: the month is flagged as not qualifying.

The thresholds are data (``data/cocm.json``) with their sources; a payer cap on 99494 units is a setting there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from types import MappingProxyType
from typing import Any


class BillingDataError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CodeRule:
    code: str
    descriptor: str
    unit_minutes: int
    minimum_minutes: int


@dataclass(frozen=True, slots=True)
class CocmRules:
    version: str
    initial: CodeRule  # 99492
    subsequent: CodeRule  # 99493
    add_on: CodeRule  # 99494
    short: CodeRule  # G2214
    max_add_on_units: int | None
    activities: tuple[str, ...]
    source: str


def parse_rules(raw: Mapping[str, Any]) -> CocmRules:
    try:
        codes = raw["codes"]

        def rule(code: str) -> CodeRule:
            item = codes[code]
            unit, minimum = item["unit_minutes"], item["minimum_minutes"]
            if not (isinstance(unit, int) and isinstance(minimum, int) and 0 < minimum <= unit):
                raise BillingDataError(
                    f"codes.{code}: need whole minutes with 0 < minimum_minutes <= unit_minutes"
                )
            return CodeRule(code, str(item["descriptor"]), unit, minimum)

        cap = raw.get("max_add_on_units")
        if cap is not None and (not isinstance(cap, int) or cap < 0):
            raise BillingDataError("max_add_on_units must be a whole number or null")
        return CocmRules(
            version=str(raw["version"]),
            initial=rule("99492"),
            subsequent=rule("99493"),
            add_on=rule("99494"),
            short=rule("G2214"),
            max_add_on_units=cap,
            activities=tuple(str(a) for a in raw["activities"]),
            source=str(raw["source"]),
        )
    except (KeyError, TypeError) as exc:
        raise BillingDataError(f"CoCM billing data is malformed: {exc!r}") from exc


_DEFAULT: CocmRules | None = None


def default_rules() -> CocmRules:
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("careweave.outcomes").joinpath("data/cocm.json").read_text("utf-8")
        _DEFAULT = parse_rules(json.loads(text))
    return _DEFAULT


@dataclass(frozen=True, slots=True)
class BilledCode:
    code: str
    units: int


@dataclass(frozen=True, slots=True)
class MonthSummary:
    month: str  # YYYY-MM
    episode_month: int  # 1 = the first calendar month of the episode's BHCM activity
    minutes: int
    codes: tuple[BilledCode, ...]
    qualifies: bool
    note: str


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def episode_month(first_activity: date, month: date) -> int:
    """1 for the calendar month of the episode's first BHCM activity, 2 for the next, … (0 or less: before)."""
    return (month.year * 12 + month.month) - (first_activity.year * 12 + first_activity.month) + 1


def summarize_month(
    minutes: int, episode_month_number: int, month: str, rules: CocmRules | None = None
) -> MonthSummary:
    """The codes one patient's month of BHCM ``minutes`` supports (spec §2.6, midpoint rule)."""
    rs = rules or default_rules()
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if episode_month_number < 1:
        raise ValueError("episode_month must be 1 or more")
    base = rs.initial if episode_month_number == 1 else rs.subsequent
    which = "first" if episode_month_number == 1 else "subsequent"
    if minutes >= base.minimum_minutes:
        extra = minutes - base.unit_minutes
        units = (
            0
            if extra < rs.add_on.minimum_minutes
            else (extra - rs.add_on.minimum_minutes) // rs.add_on.unit_minutes + 1
        )
        capped = units if rs.max_add_on_units is None else min(units, rs.max_add_on_units)
        codes = [BilledCode(base.code, 1)] + ([BilledCode(rs.add_on.code, capped)] if capped else [])
        note = f"{minutes} min in a {which} month: {base.code}"
        if capped:
            note += f" + {rs.add_on.code} × {capped}"
        if capped < units:
            note += (
                f" ({units - capped} add-on unit(s) over the payer cap of {rs.max_add_on_units} not billed)"
            )
        return MonthSummary(month, episode_month_number, minutes, tuple(codes), True, note)
    if minutes >= rs.short.minimum_minutes:
        note = (
            f"{minutes} min in a {which} month: under {base.code}'s {base.minimum_minutes}-minute minimum; "
            f"{rs.short.code} applies"
        )
        return MonthSummary(month, episode_month_number, minutes, (BilledCode(rs.short.code, 1),), True, note)
    note = (
        f"Does not qualify: {minutes} min, under the {rs.short.minimum_minutes}-minute minimum for "
        f"{rs.short.code} ({base.code} needs {base.minimum_minutes})"
    )
    return MonthSummary(month, episode_month_number, minutes, (), False, note)


def descriptors(rules: CocmRules | None = None) -> Mapping[str, str]:
    rs = rules or default_rules()
    return MappingProxyType({r.code: r.descriptor for r in (rs.initial, rs.subsequent, rs.add_on, rs.short)})
