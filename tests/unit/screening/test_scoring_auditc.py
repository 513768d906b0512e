"""AUDIT-C scoring (spec §1.6): sex-specific cut points, explicit default, recorded inputs."""

from __future__ import annotations

import pytest

from careweave.screening.errors import InvalidAnswers
from careweave.screening.scoring import ScoringConfig, score


@pytest.mark.parametrize(
    ("answers", "sex", "total", "positive", "cut"),
    [
        ([1, 1, 1], "male", 3, False, 4),  # spec §1.6: men >= 4
        ([2, 1, 1], "male", 4, True, 4),
        ([1, 1, 0], "female", 2, False, 3),  # spec §1.6: women >= 3
        ([1, 1, 1], "female", 3, True, 3),
        ([0, 0, 0], "male", 0, False, 4),
        ([4, 4, 4], "female", 12, True, 3),
    ],
)
def test_sex_specific_cut_point_edges(answers, sex, total, positive, cut):
    """spec §1.6: positive screen men >= 4, women >= 3 (US standard drinks); total 0-12."""
    result = score("audit-c", answers, sex=sex)
    assert (result.total, result.positive) == (total, positive)
    assert result.details == {"cut_point": cut, "cut_point_basis": sex, "sex_input": sex}
    assert result.flags == ()


@pytest.mark.parametrize("sex", [None, "other", "unknown"])
def test_missing_or_other_sex_uses_the_female_cut_point_and_says_so(sex):
    """spec §1.6: make the rule explicit - the more sensitive female cut point, flagged and recorded."""
    result = score("audit-c", [1, 1, 1], sex=sex)
    assert result.positive is True
    assert result.flags == ("sex_unspecified_female_cut_point_used",)
    assert result.details == {"cut_point": 3, "cut_point_basis": "female_default", "sex_input": sex}
    assert score("audit-c", [1, 1, 0], sex=sex).positive is False


def test_clinician_override_of_cut_points():
    """spec §1.6: the rule is clinician-overridable - pass a ScoringConfig."""
    override = ScoringConfig(auditc_cut_male=5, auditc_cut_female=4)
    result = score("audit-c", [2, 1, 1], sex="male", config=override)
    assert result.positive is False and result.details["cut_point"] == 5
    assert score("audit-c", [2, 1, 1], sex="female", config=override).positive is True


@pytest.mark.parametrize("sex", ["F", "Male", "", 1, True])
def test_unknown_sex_value_is_refused(sex):
    with pytest.raises(InvalidAnswers) as caught:
        score("audit-c", [1, 1, 1], sex=sex)
    assert [(f.field, f.message) for f in caught.value.fields] == [
        ("sex", "must be one of female, male, other, unknown")
    ]


@pytest.mark.parametrize(
    ("answers", "field", "message"),
    [
        ([5, 0, 0], "answers[0]", "must be one of 0, 1, 2, 3, 4"),
        ([0, None, 0], "answers[1]", "is required"),
        ([0, 0, -1], "answers[2]", "must be one of 0, 1, 2, 3, 4"),
    ],
)
def test_items_0_to_4_all_required(answers, field, message):
    """spec §1.6: 3 items each scored 0-4; no proration."""
    with pytest.raises(InvalidAnswers) as caught:
        score("audit-c", answers, sex="male")
    assert [(f.field, f.message) for f in caught.value.fields] == [(field, message)]


def test_no_bands():
    result = score("audit-c", [0, 0, 0], sex="male")
    assert result.severity is None and result.risk_level is None and result.answered_count == 3
