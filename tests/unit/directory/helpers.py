"""Builders for directory rule tests: synthetic providers and needs (no real people, no real license numbers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from careweave.directory.rules import (
    CompactPrivilege,
    DeaRegistration,
    LicenseFact,
    Need,
    ProviderFacts,
    RulesConfig,
    RuleSet,
    load_rule_data,
)

VISIT = date(2026, 12, 1)  # a Tuesday
ISSUED = date(2020, 1, 1)
EXPIRES = date(2028, 6, 30)
PLAN = "plan-aetna-ppo"

# The license type each credential is normally licensed under (credentials.json license_types).
LICENSE_TYPE = {
    "MD": "MD",
    "DO": "DO",
    "PMHNP": "APRN",
    "APRN": "APRN",
    "NP": "NP",
    "PA": "PA",
    "PhD": "PSYCHOLOGIST",
    "PsyD": "PSYCHOLOGIST",
    "LCSW": "LCSW",
    "LICSW": "LICSW",
    "LPC": "LPC",
    "LMHC": "LMHC",
    "LCPC": "LCPC",
    "LPCC": "LPCC",
    "LMFT": "LMFT",
}
PRESCRIBING = ("MD", "DO", "PMHNP", "APRN", "NP", "PA")
NEVER_PRESCRIBING = ("LCSW", "LICSW", "LPC", "LMHC", "LCPC", "LPCC", "LMFT")
PSYCHOLOGISTS = ("PhD", "PsyD")


def lic(
    state: str = "WY",
    license_type: str = "MD",
    *,
    number: str | None = None,
    status: str = "active",
    issued: date | None = ISSUED,
    expires: date | None = EXPIRES,
) -> LicenseFact:
    return LicenseFact(state, license_type, number or f"{state}-TEST-1", status, issued, expires)  # type: ignore[arg-type]


def priv(
    compact: str,
    state: str,
    *,
    status: str = "active",
    issued: date | None = date(2020, 7, 1),
    expires: date | None = EXPIRES,
) -> CompactPrivilege:
    return CompactPrivilege(compact, state, status, issued, expires)  # type: ignore[arg-type]


def dea(
    state: str = "WY",
    schedules: tuple[str, ...] = ("2", "2N", "3", "3N", "4", "5"),
    expires: date | None = EXPIRES,
) -> DeaRegistration:
    return DeaRegistration(state, frozenset(schedules), expires)


def provider(
    credential: str = "MD",
    *,
    id: str = "p1",
    name: str = "Dr. Test Provider",
    states: tuple[str, ...] = ("WY",),
    **overrides: Any,
) -> ProviderFacts:
    """A provider who passes every hard filter for the default :func:`need` (licensed in ``states``)."""
    base = ProviderFacts(
        id=id,
        name=name,
        credential=credential,
        offers=frozenset({"therapy", "medication_management"}),
        conditions=frozenset({"depression", "anxiety"}),
        modalities=frozenset({"CBT"}),
        languages=frozenset({"English"}),
        gender=None,
        accepting_new_patients=True,
        capacity=20,
        active_patients=5,
        licenses=tuple(lic(s, LICENSE_TYPE[credential]) for s in states),
        networks=frozenset({PLAN}),
        self_pay=True,
    )
    return replace(base, **overrides)


def need(**overrides: Any) -> Need:
    base = Need(
        pathway="psychiatry",
        state="WY",
        on_date=VISIT,
        plan_id=PLAN,
        conditions=frozenset({"depression"}),
    )
    return replace(base, **overrides)


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def rules_with(**config: Any) -> RuleSet:
    return RuleSet(load_rule_data(), RulesConfig(**config))
