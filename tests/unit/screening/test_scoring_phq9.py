"""PHQ-9 scoring (spec §1.1): bands, cut point, item 9 rule, proration limits."""

from __future__ import annotations

import json

import pytest

from careweave.screening.errors import InvalidAnswers
from careweave.screening.scoring import ScoringConfig, score


def answers_with_total(total: int, *, item9: int = 0) -> list[int | None]:
    """Nine answers summing to ``total`` with item 9 fixed."""
    rest = total - item9
    assert 0 <= rest <= 24
    first_eight = [min(3, max(0, rest - 3 * i)) for i in range(8)]
    return [*first_eight, item9]


@pytest.mark.parametrize(
    ("total", "severity"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_severity_band_edges(total, severity):
    """spec §1.1: bands 0-4, 5-9, 10-14, 15-19, 20-27 (Kroenke 2001)."""
    result = score("phq-9", answers_with_total(total, item9=min(3, total)))
    assert (result.total, result.severity) == (total, severity)
    assert result.complete and not result.prorated and result.answered_count == 9


@pytest.mark.parametrize(("total", "positive"), [(9, False), (10, True)])
def test_positive_screen_edge(total, positive):
    """spec §1.1: PHQ-9 >= 10 (sensitivity 88%, specificity 88%)."""
    result = score("phq-9", answers_with_total(total))
    assert result.positive is positive
    assert result.details["cut_point"] == 10


@pytest.mark.parametrize(("item9", "flagged"), [(0, False), (1, True), (2, True), (3, True)])
def test_item9_rule_regardless_of_total(item9, flagged):
    """spec §1.1: any item 9 >= 1 triggers a same-encounter suicide risk assessment regardless of the total."""
    result = score("phq-9", [0, 0, 0, 0, 0, 0, 0, 0, item9])
    assert result.severity == "minimal"
    assert ("suicide_item_positive" in result.flags) is flagged
    assert result.next_instruments == (("c-ssrs-screener",) if flagged else ())
    assert result.details["item_9"] == item9


@pytest.mark.parametrize(
    ("answers", "total"),
    [
        # spec §1.1: round(sum x 9 / n_answered), half up; sum 4 over 8 items = 4.5 -> 5 crosses a band edge
        ([None, 1, 1, 1, 1, 0, 0, 0, 0], 5),
        ([None, 3, 3, 3, 3, 0, 0, 0, 0], 14),  # 12 x 9/8 = 13.5 -> 14
        ([None, 2, 2, 2, 2, 2, 2, 2, 2], 18),  # 16 x 9/8 = 18
        ([None, None, 1, 1, 1, 1, 1, 1, 1], 9),  # 7 x 9/7 = 9
        ([None, None, 3, 3, 3, 3, 3, 3, 3], 27),  # 21 x 9/7 = 27
        ([None, None, 1, 0, 0, 0, 0, 0, 0], 1),  # 1 x 9/7 = 1.29 -> 1
    ],
)
def test_proration_up_to_two_missing(answers, total):
    """spec §1.1 platform rule: up to 2 missing -> prorated total = round(sum x 9 / n_answered)."""
    result = score("phq-9", answers)
    assert result.total == total
    assert result.prorated and "prorated" in result.flags
    assert result.complete
    assert result.answered_count == 9 - answers.count(None)


def test_proration_half_up_at_band_edge():
    """spec §1.1: a prorated 4.5 is a whole-number 5 (mild), never a decimal score (MNCM)."""
    result = score("phq-9", [None, 1, 1, 1, 1, 0, 0, 0, 0])
    assert isinstance(result.total, int)
    assert result.severity == "mild"


def test_three_missing_is_refused_naming_each():
    """spec §1.1: do not score if more than two items are missing."""
    with pytest.raises(InvalidAnswers) as caught:
        score("phq-9", [None, None, None, 1, 1, 1, 1, 1, 1])
    assert [f.field for f in caught.value.fields] == ["answers[0]", "answers[1]", "answers[2]"]
    assert "at most 2 of 9" in caught.value.fields[0].message


def test_item9_missing_is_never_imputed():
    """spec §1.1 platform rule (a): item 9 missing -> flag, incomplete, total covers items 1-8 only."""
    result = score("phq-9", [1, 1, 1, 1, 1, 1, 1, 1, None])
    assert result.total == 8
    assert not result.complete
    assert not result.prorated
    assert "suicide_item_unanswered" in result.flags
    assert "suicide_item_positive" not in result.flags
    assert result.details["total_excludes_item_9"] is True
    assert result.details["item_9"] is None


def test_item9_missing_with_one_other_missing():
    """spec §1.1: the other missing item is prorated over items 1-8 (x 8/7); item 9 still not imputed."""
    result = score("phq-9", [None, 1, 1, 1, 1, 1, 1, 1, None])
    assert result.total == 8  # 7 x 8/7
    assert result.prorated and not result.complete
    assert set(result.flags) == {"prorated", "suicide_item_unanswered"}
    assert result.details["missing_items"] == [1, 9]


def test_item9_missing_counts_towards_the_limit():
    """spec §1.1: item 9 plus two others is three missing -> refused."""
    with pytest.raises(InvalidAnswers) as caught:
        score("phq-9", [None, None, 1, 1, 1, 1, 1, 1, None])
    assert [f.field for f in caught.value.fields] == ["answers[0]", "answers[1]", "answers[8]"]


def test_configurable_missing_limit_and_cut_point():
    """spec §1.1: thresholds are configuration (ScoringConfig)."""
    strict = ScoringConfig(phq9_max_missing=0, phq9_cut=15)
    with pytest.raises(InvalidAnswers):
        score("phq-9", [None, 1, 1, 1, 1, 1, 1, 1, 1], config=strict)
    assert score("phq-9", answers_with_total(14), config=strict).positive is False
    assert score("phq-9", answers_with_total(15), config=strict).positive is True


def test_item_10_is_not_posted():
    """spec §1.1: item 10 is not scored, so a tenth value is a wrong count."""
    with pytest.raises(InvalidAnswers) as caught:
        score("phq-9", [0] * 10)
    assert caught.value.fields[0].field == "answers"


def test_details_are_json_ready():
    result = score("phq-9", [None, 1, 1, 1, 1, 1, 1, 1, None])
    assert json.loads(json.dumps(result.details)) == result.details
