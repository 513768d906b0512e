"""MDQ scoring (spec §1.5): positive only when all three parts are met."""

from __future__ import annotations

import pytest

from careweave.screening.errors import InvalidAnswers
from careweave.screening.scoring import ScoringConfig, score

NO_PROBLEM, MINOR, MODERATE, SERIOUS = 0, 1, 2, 3


def mdq(yes: int, same_period: int = 1, problem: int = MODERATE) -> list[int | None]:
    return [1] * yes + [0] * (13 - yes) + [same_period, problem]


def test_all_three_conditions_met_is_positive():
    """spec §1.5: >= 7 yes AND same period AND moderate/serious problem."""
    result = score("mdq", mdq(7))
    assert result.positive is True
    assert result.total == 7
    assert set(result.flags) == {"mdq_part1_threshold_met", "mdq_part2_same_period", "mdq_part3_problem_met"}


@pytest.mark.parametrize(
    ("answers", "failing_flag"),
    [
        (mdq(6), "mdq_part1_threshold_met"),  # part 1 edge: 6 yes
        (mdq(13, same_period=0), "mdq_part2_same_period"),  # part 2: not the same period
        (mdq(13, problem=MINOR), "mdq_part3_problem_met"),  # part 3 edge: minor problem
        (mdq(13, problem=NO_PROBLEM), "mdq_part3_problem_met"),
    ],
)
def test_each_condition_alone_blocks_a_positive(answers, failing_flag):
    """spec §1.5: each of the three conditions is necessary - fail one at a time."""
    result = score("mdq", answers)
    assert result.positive is False
    assert failing_flag not in result.flags
    assert len(result.flags) == 2


@pytest.mark.parametrize(("problem", "met"), [(MINOR, False), (MODERATE, True), (SERIOUS, True)])
def test_part3_edge(problem, met):
    """spec §1.5: "moderate" or "serious" problem."""
    result = score("mdq", mdq(7, problem=problem))
    assert result.positive is met
    assert result.details["part3_met"] is met
    assert result.details["part3_problem_level"] == problem


@pytest.mark.parametrize(("yes", "met"), [(0, False), (6, False), (7, True), (13, True)])
def test_part1_edge(yes, met):
    """spec §1.5: >= 7 of 13 yes; each yes = 1 point, range 0-13."""
    result = score("mdq", mdq(yes))
    assert result.total == yes
    assert result.details["part1_met"] is met
    assert result.details["part1_yes_count"] == yes


def test_details_record_all_parts():
    """spec §1.5: record the three part results."""
    assert score("mdq", mdq(8, same_period=0, problem=SERIOUS)).details == {
        "part1_yes_count": 8,
        "part1_yes_min": 7,
        "part1_met": True,
        "part2_same_period": False,
        "part3_problem_level": SERIOUS,
        "part3_problem_min": 2,
        "part3_met": True,
    }


def test_no_severity_bands_or_proration():
    result = score("mdq", mdq(3))
    assert result.severity is None and result.risk_level is None
    assert result.complete and not result.prorated and result.answered_count == 15


def test_thresholds_configurable():
    assert score("mdq", mdq(6), config=ScoringConfig(mdq_yes_min=6)).positive is True


@pytest.mark.parametrize(
    ("answers", "field", "message"),
    [
        ([2, *mdq(7)[1:]], "answers[0]", "must be one of 0, 1"),
        ([*mdq(7)[:13], 2, MODERATE], "answers[13]", "must be one of 0, 1"),
        ([*mdq(7)[:14], 4], "answers[14]", "must be one of 0, 1, 2, 3"),
        ([*mdq(7)[:14], None], "answers[14]", "is required"),
        ([None, *mdq(7)[1:]], "answers[0]", "is required"),
    ],
)
def test_invalid_answers_name_the_item(answers, field, message):
    """spec §1.5 answer format: 13 yes/no, same period yes/no, problem level 0-3; all required."""
    with pytest.raises(InvalidAnswers) as caught:
        score("mdq", answers)
    assert [(f.field, f.message) for f in caught.value.fields] == [(field, message)]


def test_wrong_count():
    with pytest.raises(InvalidAnswers) as caught:
        score("mdq", [1] * 13)
    assert caught.value.fields[0].message == "must have exactly 15 values, got 13"
