"""C-SSRS screener (spec §1.7): every risk level, highest item wins (never a sum), skip logic."""

from __future__ import annotations

import pytest

from careweave.screening.errors import InvalidAnswers
from careweave.screening.scoring import score

N = None


@pytest.mark.parametrize(
    ("answers", "recent", "level", "triggers"),
    [
        ([0, 0, N, N, N, 0], None, "none", []),  # all no -> routine
        ([1, 0, N, N, N, 0], None, "low", ["q1"]),  # Q1 only
        ([0, 1, 0, 0, 0, 0], None, "low", ["q2"]),  # Q2 only
        ([1, 1, 0, 0, 0, 0], None, "low", ["q1", "q2"]),  # Q1 and Q2 only: still low (not a sum)
        ([1, 1, 1, 0, 0, 0], None, "moderate", ["q3"]),  # Q3
        ([0, 0, N, N, N, 1], False, "moderate", ["q6_over_3_months_ago"]),  # behavior > 3 months ago
        ([1, 1, 0, 1, 0, 0], None, "high", ["q4"]),  # Q4
        ([1, 1, 0, 0, 1, 0], None, "high", ["q5"]),  # Q5
        ([0, 0, N, N, N, 1], True, "high", ["q6_within_3_months"]),  # behavior within 3 months
        ([1, 1, 1, 1, 1, 1], True, "high", ["q4", "q5", "q6_within_3_months"]),
    ],
)
def test_every_risk_level(answers, recent, level, triggers):
    """spec §1.7 risk table: High = Q4 or Q5, or Q6 within 3 months; Moderate = Q3, or Q6 > 3 months ago;
    Low = Q1 and/or Q2 only; None = all no."""
    result = score("c-ssrs-screener", answers, behavior_within_3_months=recent)
    assert result.risk_level == level
    assert result.details["level_triggers"] == triggers
    assert result.total is None and result.severity is None and result.positive is None
    assert result.complete and not result.prorated


def test_highest_item_not_sum():
    """spec §1.7: do not use a simple sum of "yes" answers; use the highest-severity item endorsed."""
    many_low = score("c-ssrs-screener", [1, 1, 0, 0, 0, 0])
    one_high = score("c-ssrs-screener", [0, 1, 0, 0, 1, 0])
    assert (many_low.risk_level, one_high.risk_level) == ("low", "high")
    assert many_low.details["endorsed"] == ["q1", "q2"]


def test_answered_count_excludes_skipped_questions():
    """spec §1.7: Q3-Q5 skipped when Q2 = no."""
    assert score("c-ssrs-screener", [1, 0, N, N, N, 0]).answered_count == 3


@pytest.mark.parametrize(
    ("answers", "recent", "errors"),
    [
        # spec §1.7: Q3-Q5 asked only if Q2 = yes
        ([1, 0, 1, N, N, 0], None, [("answers[2]", "must be null when answers[1] (Q2) is 0")]),
        (
            [1, 0, 0, 0, 0, 0],
            None,
            [(f"answers[{i}]", "must be null when answers[1] (Q2) is 0") for i in (2, 3, 4)],
        ),
        ([1, 1, N, 0, 0, 0], None, [("answers[2]", "is required when answers[1] (Q2) is 1")]),
        (
            [1, 1, N, N, N, 0],
            None,
            [(f"answers[{i}]", "is required when answers[1] (Q2) is 1") for i in (2, 3, 4)],
        ),
        # Q1, Q2 and Q6 always asked
        ([N, 0, N, N, N, 0], None, [("answers[0]", "is required")]),
        ([0, N, N, N, N, 0], None, [("answers[1]", "is required")]),
        ([0, 0, N, N, N, N], None, [("answers[5]", "is required")]),
        # 6b (behavior within 3 months) exactly when Q6 = yes
        ([0, 0, N, N, N, 1], None, [("behavior_within_3_months", "is required when answers[5] (Q6) is 1")]),
        ([0, 0, N, N, N, 0], True, [("behavior_within_3_months", "must be null when answers[5] (Q6) is 0")]),
        ([0, 0, N, N, N, 0], False, [("behavior_within_3_months", "must be null when answers[5] (Q6) is 0")]),
        ([0, 0, N, N, N, 1], 1, [("behavior_within_3_months", "must be true or false")]),
        ([0, 0, N, N, N, 1], "yes", [("behavior_within_3_months", "must be true or false")]),
        # values are 1/0
        ([2, 0, N, N, N, 0], None, [("answers[0]", "must be one of 0, 1")]),
        ([True, 0, N, N, N, 0], None, [("answers[0]", "must be one of 0, 1")]),
    ],
)
def test_skip_logic_violations_name_the_field(answers, recent, errors):
    with pytest.raises(InvalidAnswers) as caught:
        score("c-ssrs-screener", answers, behavior_within_3_months=recent)
    assert [(f.field, f.message) for f in caught.value.fields] == errors


def test_behavior_flag_only_for_cssrs():
    """spec §1.7: 6b belongs to the C-SSRS screener only."""
    with pytest.raises(InvalidAnswers) as caught:
        score("phq-2", [0, 0], behavior_within_3_months=True)
    assert caught.value.fields[0].field == "behavior_within_3_months"


def test_wrong_count():
    with pytest.raises(InvalidAnswers) as caught:
        score("c-ssrs-screener", [0, 0, 0])
    assert caught.value.fields[0].message == "must have exactly 6 values, got 3"
