"""GAD-7 scoring (spec §1.3): bands, cut point, missing-item policy."""

from __future__ import annotations

import pytest

from careweave.screening.errors import InvalidAnswers
from careweave.screening.scoring import ScoringConfig, score


def answers_with_total(total: int) -> list[int | None]:
    return [min(3, max(0, total - 3 * i)) for i in range(7)]


@pytest.mark.parametrize(
    ("total", "severity", "positive"),
    [
        (0, "minimal", False),
        (4, "minimal", False),
        (5, "mild", False),
        (9, "mild", False),
        (10, "moderate", True),
        (14, "moderate", True),
        (15, "severe", True),
        (21, "severe", True),
    ],
)
def test_band_and_cut_point_edges(total, severity, positive):
    """spec §1.3: bands 0-4, 5-9, 10-14, 15-21; cut point >= 10 (Spitzer 2006)."""
    result = score("gad-7", answers_with_total(total))
    assert (result.total, result.severity, result.positive) == (total, severity, positive)
    assert result.complete and not result.prorated and result.flags == ()


@pytest.mark.parametrize(
    ("answers", "total"),
    [
        ([None, 1, 1, 1, 0, 0, 0], 4),  # spec §1.3: 3 x 7/6 = 3.5 -> 4 (half up)
        ([None, 2, 2, 2, 1, 1, 1], 11),  # 9 x 7/6 = 10.5 -> 11
        ([2, 2, 2, 2, 2, 2, None], 14),  # 12 x 7/6 = 14
        ([3, 3, 3, 3, 3, 3, None], 21),
    ],
)
def test_one_missing_item_is_prorated(answers, total):
    """spec §1.3: at most 1 missing item, prorate x 7/n, and flag."""
    result = score("gad-7", answers)
    assert result.total == total
    assert result.prorated and result.flags == ("prorated",)
    assert result.answered_count == 6
    assert result.complete


def test_two_missing_items_are_refused():
    """spec §1.3: more than one missing item is not scored."""
    with pytest.raises(InvalidAnswers) as caught:
        score("gad-7", [None, 1, 1, 1, 1, 1, None])
    assert [f.field for f in caught.value.fields] == ["answers[0]", "answers[6]"]
    assert "at most 1 of 7" in caught.value.fields[0].message


def test_missing_limit_configurable():
    with pytest.raises(InvalidAnswers):
        score("gad-7", [None, 1, 1, 1, 1, 1, 1], config=ScoringConfig(gad7_max_missing=0))


def test_difficulty_question_is_not_posted():
    """spec §1.3: the functional-difficulty question is not scored and not part of the answers array."""
    with pytest.raises(InvalidAnswers) as caught:
        score("gad-7", [0] * 8)
    assert caught.value.fields[0].message == "must have exactly 7 values, got 8"
