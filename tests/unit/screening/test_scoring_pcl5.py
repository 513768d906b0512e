"""PCL-5 scoring (spec §1.8): cut point OR DSM-5 cluster rule, both recorded."""

from __future__ import annotations

import pytest

from careweave.screening.errors import InvalidAnswers
from careweave.screening.scoring import ScoringConfig, score


def pcl5(**ratings: int) -> list[int | None]:
    """Twenty ratings, all 0 except ``i<n>=value``."""
    answers: list[int | None] = [0] * 20
    for key, value in ratings.items():
        answers[int(key[1:]) - 1] = value
    return answers


def without_clusters(total: int) -> list[int | None]:
    """A total (<= 41) from items 1-7 (up to 4 each) plus 1s on items 8-20: clusters D and E never met."""
    first = [min(4, max(0, total - 4 * i)) for i in range(7)]
    rest = total - sum(first)
    return [*first, *[1 if i < rest else 0 for i in range(13)]]


@pytest.mark.parametrize(
    ("total", "positive"), [(0, False), (20, False), (32, False), (33, True), (41, True)]
)
def test_cut_point_edge(total, positive):
    """spec §1.8: total >= cut point (default 33) -> provisional PTSD, here with the cluster rule unmet."""
    result = score("pcl-5", without_clusters(total))
    assert (result.total, result.positive) == (total, positive)
    assert result.details["cluster_rule_met"] is False
    assert result.details["cut_point_met"] is positive
    assert result.flags == (("pcl5_cut_point_met",) if positive else ())


def test_maximum_total():
    """spec §1.8: total range 0-80."""
    result = score("pcl-5", [4] * 20)
    assert result.total == 80
    assert set(result.flags) == {"pcl5_cut_point_met", "pcl5_dsm5_cluster_rule_met"}


def test_cluster_rule_alone_is_positive():
    """spec §1.8: >= 1 of B (1-5), >= 1 of C (6-7), >= 2 of D (8-14), >= 2 of E (15-20), rated >= 2."""
    result = score("pcl-5", pcl5(i1=2, i6=2, i8=2, i9=2, i15=2, i16=2))
    assert result.total == 12
    assert result.positive is True
    assert result.flags == ("pcl5_dsm5_cluster_rule_met",)
    assert result.details["cut_point_met"] is False and result.details["cluster_rule_met"] is True


@pytest.mark.parametrize(
    ("ratings", "unmet"),
    [
        ({"i6": 2, "i8": 2, "i9": 2, "i15": 2, "i16": 2}, "B"),
        ({"i1": 2, "i8": 2, "i9": 2, "i15": 2, "i16": 2}, "C"),
        ({"i1": 2, "i6": 2, "i8": 2, "i15": 2, "i16": 2}, "D"),  # only one of D
        ({"i1": 2, "i6": 2, "i8": 2, "i9": 2, "i15": 2}, "E"),  # only one of E
        ({"i1": 1, "i6": 2, "i8": 2, "i9": 2, "i15": 2, "i16": 2}, "B"),  # rated 1 is not endorsed
    ],
)
def test_each_cluster_is_necessary(ratings, unmet):
    """spec §1.8: the DSM-5 rule needs every cluster; an item counts only when rated >= 2."""
    result = score("pcl-5", pcl5(**ratings))
    clusters = result.details["clusters"]
    assert [name for name, c in clusters.items() if not c["met"]] == [unmet]
    assert result.positive is False


def test_details_record_both_rules():
    """spec §1.8: record the cut-point result and the cluster result."""
    details = score("pcl-5", pcl5(i1=4, i2=4)).details
    assert details["cut_point"] == 33 and details["item_endorsed_min"] == 2
    assert details["clusters"]["B"] == {"items": [1, 2, 3, 4, 5], "endorsed": 2, "required": 1, "met": True}
    assert details["clusters"]["D"]["required"] == 2


def test_cut_point_is_configuration():
    """spec §1.8 platform rule: cut point stored as configuration (range 31-33)."""
    result = score("pcl-5", without_clusters(31), config=ScoringConfig(pcl5_cut=31))
    assert result.positive is True and result.details["cut_point"] == 31


def test_no_severity_bands():
    """spec §1.8: no empirically derived severity bands exist."""
    assert score("pcl-5", [4] * 20).severity is None


@pytest.mark.parametrize(
    ("answers", "field", "message"),
    [
        ([5, *[0] * 19], "answers[0]", "must be one of 0, 1, 2, 3, 4"),
        ([*[0] * 19, None], "answers[19]", "is required"),
        ([*[0] * 10, "2", *[0] * 9], "answers[10]", "must be one of 0, 1, 2, 3, 4"),
    ],
)
def test_all_items_required_0_to_4(answers, field, message):
    with pytest.raises(InvalidAnswers) as caught:
        score("pcl-5", answers)
    assert [(f.field, f.message) for f in caught.value.fields] == [(field, message)]
