"""Property tests over the whole answer space (spec §1.1, §1.3, §1.5-§1.8)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from careweave.screening.scoring import RISK_LEVELS, score

item_0_3 = st.integers(0, 3)
item_yes_no = st.integers(0, 1)


@st.composite
def phq9_answers(draw: st.DrawFn) -> list[int | None]:
    answers: list[int | None] = draw(st.lists(item_0_3, min_size=9, max_size=9))
    for index in draw(st.sets(st.integers(0, 8), max_size=2)):
        answers[index] = None
    return answers


@given(phq9_answers())
def test_phq9_invariants(answers):
    """spec §1.1: total 0-27; prorated iff an item 1-8 is missing; complete iff item 9 answered;
    suicide flag iff item 9 >= 1; the prorated total is the mean-imputed sum rounded to a whole number."""
    result = score("phq-9", answers)
    assert result.total is not None and 0 <= result.total <= 27
    assert result.prorated == (None in answers[:8])
    assert ("prorated" in result.flags) == result.prorated
    assert result.complete == (answers[8] is not None)
    assert ("suicide_item_unanswered" in result.flags) == (answers[8] is None)
    assert ("suicide_item_positive" in result.flags) == (answers[8] is not None and answers[8] >= 1)
    assert result.answered_count == 9 - answers.count(None)
    counted = answers if answers[8] is not None else answers[:8]
    present = [a for a in counted if a is not None]
    exact = sum(present) * len(counted) / len(present)
    assert abs(result.total - exact) <= 0.5
    json.dumps(result.details)


@given(st.lists(item_0_3, min_size=7, max_size=7), st.sets(st.integers(0, 6), max_size=1))
def test_gad7_invariants(values, missing):
    """spec §1.3: total 0-21; prorated (and flagged) iff an item is missing."""
    answers: list[int | None] = list(values)
    for index in missing:
        answers[index] = None
    result = score("gad-7", answers)
    assert result.total is not None and 0 <= result.total <= 21
    assert result.prorated == bool(missing) == ("prorated" in result.flags)


@given(st.lists(st.integers(0, 4), min_size=20, max_size=20), st.integers(0, 19))
def test_pcl5_total_range_and_monotone(answers, index):
    """spec §1.8: total 0-80; raising any item never turns a positive screen negative."""
    result = score("pcl-5", answers)
    assert result.total == sum(answers) and 0 <= sum(answers) <= 80
    assert result.positive == (result.details["cut_point_met"] or result.details["cluster_rule_met"])
    higher = list(answers)
    higher[index] = min(4, higher[index] + 1)
    assert score("pcl-5", higher).positive >= result.positive


@given(st.lists(st.integers(0, 1), min_size=14, max_size=14), st.integers(0, 3))
def test_mdq_positive_needs_all_three_parts(part1_2, problem):
    """spec §1.5: positive iff >= 7 yes AND same period AND moderate/serious problem."""
    result = score("mdq", [*part1_2, problem])
    expected = sum(part1_2[:13]) >= 7 and part1_2[13] == 1 and problem >= 2
    assert result.positive is expected
    assert result.total == sum(part1_2[:13])


@given(
    st.lists(st.integers(0, 4), min_size=3, max_size=3), st.sampled_from([None, "female", "male", "other"])
)
def test_auditc_female_default_is_never_less_sensitive(answers, sex):
    """spec §1.6: without sex, the more sensitive (female) cut point is used."""
    result = score("audit-c", answers, sex=sex)
    assert 0 <= (result.total or 0) <= 12
    if result.positive is False:
        assert score("audit-c", answers, sex="male").positive is False


@st.composite
def cssrs_answers(draw: st.DrawFn) -> tuple[list[int | None], bool | None]:
    q1, q2, q6 = draw(item_yes_no), draw(item_yes_no), draw(item_yes_no)
    middle = [draw(item_yes_no) for _ in range(3)] if q2 else [None, None, None]
    recent = draw(st.booleans()) if q6 else None
    return [q1, q2, *middle, q6], recent


def endorse_more(
    answers: list[int | None], recent: bool | None, which: int
) -> tuple[list[int | None], bool | None]:
    """One more "yes" on question ``which`` (0-5), or a more recent behavior, keeping the skip logic valid."""
    more = list(answers)
    if which in (1, 2, 3, 4) and more[1] == 0:
        more[1:5] = [1, 0, 0, 0]  # Q2 = yes opens Q3-Q5
    if which == 5:
        return [*more[:5], 1], more[5] == 1
    more[which] = 1
    return more, recent


@given(cssrs_answers(), st.integers(0, 5))
def test_cssrs_level_is_monotone_in_endorsed_items(submission, which):
    """spec §1.7: risk is the highest-severity item endorsed, so endorsing more never lowers the level."""
    answers, recent = submission
    before = score("c-ssrs-screener", answers, behavior_within_3_months=recent)
    more, more_recent = endorse_more(answers, recent, which)
    after = score("c-ssrs-screener", more, behavior_within_3_months=more_recent)
    assert RISK_LEVELS.index(after.risk_level) >= RISK_LEVELS.index(before.risk_level)
    assert before.total is None


@given(cssrs_answers())
def test_cssrs_none_iff_nothing_endorsed(submission):
    """spec §1.7: None = all no."""
    answers, recent = submission
    result = score("c-ssrs-screener", answers, behavior_within_3_months=recent)
    assert (result.risk_level == "none") == (1 not in answers)
