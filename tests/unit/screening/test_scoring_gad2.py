"""GAD-2 pre-screen (spec §1.4): cut point and the follow-on GAD-7."""

from __future__ import annotations

import pytest

from careweave.screening.errors import InvalidAnswers
from careweave.screening.scoring import ScoringConfig, score


@pytest.mark.parametrize(
    ("answers", "total", "positive", "next_instruments"),
    [
        ([0, 0], 0, False, ()),
        ([0, 2], 2, False, ()),
        ([1, 2], 3, True, ("gad-7",)),
        ([3, 3], 6, True, ("gad-7",)),
    ],
)
def test_positive_screen_edge(answers, total, positive, next_instruments):
    """spec §1.4: GAD-2 >= 3 -> administer the full GAD-7; total 0-6."""
    result = score("gad-2", answers)
    assert (result.total, result.positive, result.next_instruments) == (total, positive, next_instruments)
    assert result.severity is None and result.risk_level is None
    assert result.complete and not result.prorated and result.answered_count == 2
    assert result.details == {"cut_point": 3}


def test_cut_point_configurable():
    """spec §1.4 cut point lives in ScoringConfig."""
    assert score("gad-2", [1, 1], config=ScoringConfig(gad2_cut=2)).positive is True


@pytest.mark.parametrize(("answers", "field"), [([None, 0], "answers[0]"), ([0, None], "answers[1]")])
def test_no_proration(answers, field):
    """spec §1.4: both items required - a missing answer is refused, never prorated."""
    with pytest.raises(InvalidAnswers) as caught:
        score("gad-2", answers)
    assert [(f.field, f.message) for f in caught.value.fields] == [(field, "is required")]


def test_values_are_0_to_3():
    """spec §1.3 answer options (0-3) apply to GAD-2 items."""
    with pytest.raises(InvalidAnswers) as caught:
        score("gad-2", [0, 7])
    assert [(f.field, f.message) for f in caught.value.fields] == [
        ("answers[1]", "must be one of 0, 1, 2, 3")
    ]
