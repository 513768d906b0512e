"""PHQ-2 pre-screen (spec §1.2): cut point and the follow-on PHQ-9."""

from __future__ import annotations

import pytest

from careweave.screening.errors import InvalidAnswers
from careweave.screening.scoring import ScoringConfig, score


@pytest.mark.parametrize(
    ("answers", "total", "positive", "next_instruments"),
    [
        ([0, 0], 0, False, ()),
        ([1, 1], 2, False, ()),
        ([2, 1], 3, True, ("phq-9",)),
        ([3, 3], 6, True, ("phq-9",)),
    ],
)
def test_positive_screen_edge(answers, total, positive, next_instruments):
    """spec §1.2: PHQ-2 >= 3 -> administer the full PHQ-9 (Kroenke 2003); total 0-6."""
    result = score("phq-2", answers)
    assert (result.total, result.positive, result.next_instruments) == (total, positive, next_instruments)
    assert result.severity is None and result.risk_level is None
    assert result.complete and not result.prorated and result.answered_count == 2
    assert result.details == {"cut_point": 3}


def test_cut_point_configurable_to_two():
    """spec §1.2: >= 2 is the more sensitive alternative (Arroll 2010), configurable."""
    sensitive = ScoringConfig(phq2_cut=2)
    assert score("phq-2", [1, 1], config=sensitive).positive is True
    assert score("phq-2", [1, 0], config=sensitive).positive is False
    assert score("phq-2", [1, 1], config=sensitive).details == {"cut_point": 2}


@pytest.mark.parametrize(("answers", "field"), [([None, 1], "answers[0]"), ([1, None], "answers[1]")])
def test_no_proration(answers, field):
    """spec §1.2: both items required - a missing answer is refused, never prorated."""
    with pytest.raises(InvalidAnswers) as caught:
        score("phq-2", answers)
    assert [(f.field, f.message) for f in caught.value.fields] == [(field, "is required")]


def test_values_are_0_to_3():
    """spec §1.1 answer options (0-3) apply to PHQ-2 items."""
    with pytest.raises(InvalidAnswers) as caught:
        score("phq-2", [4, -1])
    assert [(f.field, f.message) for f in caught.value.fields] == [
        ("answers[0]", "must be one of 0, 1, 2, 3"),
        ("answers[1]", "must be one of 0, 1, 2, 3"),
    ]
