"""CoCM month-end billing, from clinical-spec.md §2.6 (CPT midpoint rule: 36/31/16/16 minutes)."""

from __future__ import annotations

from datetime import date

import pytest

from careweave.outcomes import billing


def codes(minutes: int, month: int) -> list[tuple[str, int]]:
    return [(c.code, c.units) for c in billing.summarize_month(minutes, month, "2026-03").codes]


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (15, []),  # under G2214's 16 minutes: does not qualify
        (16, [("G2214", 1)]),
        (35, [("G2214", 1)]),  # 99492 needs 36
        (36, [("99492", 1)]),
        (70, [("99492", 1)]),
        (85, [("99492", 1)]),  # 99494 needs 16 beyond 70
        (86, [("99492", 1), ("99494", 1)]),
        (115, [("99492", 1), ("99494", 1)]),
        (116, [("99492", 1), ("99494", 2)]),
    ],
)
def test_first_month(minutes: int, expected: list[tuple[str, int]]) -> None:
    assert codes(minutes, 1) == expected


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (15, []),
        (16, [("G2214", 1)]),
        (30, [("G2214", 1)]),  # 99493 needs 31
        (31, [("99493", 1)]),
        (75, [("99493", 1)]),
        (76, [("99493", 1), ("99494", 1)]),
        (105, [("99493", 1), ("99494", 1)]),
        (106, [("99493", 1), ("99494", 2)]),
    ],
)
def test_subsequent_months(minutes: int, expected: list[tuple[str, int]]) -> None:
    assert codes(minutes, 2) == expected


def test_a_month_that_does_not_qualify_says_why() -> None:
    summary = billing.summarize_month(15, 1, "2026-03")
    assert not summary.qualifies
    assert "16-minute minimum" in summary.note


def test_payer_cap_on_add_on_units() -> None:
    rules = billing.default_rules()
    capped = billing.CocmRules(**{**{f: getattr(rules, f) for f in rules.__slots__}, "max_add_on_units": 1})
    summary = billing.summarize_month(200, 1, "2026-03", capped)
    assert [(c.code, c.units) for c in summary.codes] == [("99492", 1), ("99494", 1)]
    assert "over the payer cap" in summary.note


def test_episode_month_counts_calendar_months_from_the_first_activity() -> None:
    assert billing.episode_month(date(2026, 1, 28), date(2026, 1, 1)) == 1
    assert billing.episode_month(date(2026, 1, 28), date(2026, 2, 1)) == 2
    assert billing.episode_month(date(2025, 12, 3), date(2026, 3, 1)) == 4


def test_bad_minutes_and_data_are_refused() -> None:
    with pytest.raises(ValueError, match="minutes"):
        billing.summarize_month(-1, 1, "2026-03")
    with pytest.raises(billing.BillingDataError):
        billing.parse_rules({"version": "x", "codes": {}})
