"""Treat-to-target status, from clinical-spec.md §2.2 (outcome definitions) and §2.3 (implementable rule)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from careweave.outcomes import rules
from careweave.outcomes.rules import CaseFacts, Score

START = date(2026, 1, 5)


def at(week: int, day: int = 0) -> datetime:
    return datetime.combine(START + timedelta(weeks=week, days=day), datetime.min.time(), tzinfo=UTC).replace(
        hour=10
    )


def status(baseline: int, current: int, week: int, instrument: str = "phq-9") -> rules.MeasurementStatus:
    scores = [Score(baseline, at(0)), Score(current, at(week))]
    return rules.measurement_status(instrument, scores, episode_start=START, on=at(week).date())


# §2.2 Remission: PHQ-9 < 5 (CMS159 / NQF 0710)
@pytest.mark.parametrize(("current", "expected"), [(4, "remission"), (5, "not_improving")])
def test_remission_is_strictly_below_five(current: int, expected: str) -> None:
    # baseline 9: 5 is a 44% reduction, so at week 12 it is not a response either
    assert status(9, current, 12).status == expected


def test_gad7_remission_below_five_is_flagged_unverified_in_the_data() -> None:
    assert status(15, 4, 6, "gad-7").status == "remission"
    assert rules.default_rules().instrument("gad-7").remission_unverified


# §2.2 Response: ≥ 50% reduction (NQF 1884)
@pytest.mark.parametrize(("current", "expected"), [(10, "response"), (11, "partial_response")])
def test_response_at_exactly_fifty_percent(current: int, expected: str) -> None:
    result = status(20, current, 6)
    assert result.status == expected
    assert result.percent_change == (50.0 if current == 10 else 45.0)
    assert result.change == 20 - current


# §2.2 Partial response: 25–50% reduction (ICSI); §2.3 early non-response < 25% after week 8 (ICSI)
@pytest.mark.parametrize(
    ("current", "week", "expected"),
    [
        (15, 7, "partial_response"),  # 25% at week 7
        (16, 7, "too_early"),  # 20% before week 8
        (16, 8, "early_non_response"),  # 20% at week 8
        (15, 8, "partial_response"),  # exactly 25% at week 8 is not "< 25%"
    ],
)
def test_partial_and_early_non_response(current: int, week: int, expected: str) -> None:
    assert status(20, current, week).status == expected


# §2.3 Not improving: 10–12 weeks without ≥ 50% reduction (IMPACT)
@pytest.mark.parametrize(("week", "expected"), [(9, "partial_response"), (10, "not_improving")])
def test_week_ten_versus_nine(week: int, expected: str) -> None:
    assert status(20, 14, week).status == expected


def test_flat_scores_for_eleven_weeks_are_not_improving_and_below_the_mcid() -> None:
    result = status(18, 17, 11)
    assert result.status == "not_improving"
    assert "below_minimal_important_difference" in result.flags  # Löwe 2004: < 5 points


def test_a_prorated_first_score_is_never_the_baseline() -> None:
    scores = [Score(20, at(0), prorated=True), Score(18, at(1)), Score(9, at(6))]
    result = rules.measurement_status("phq-9", scores, episode_start=START, on=at(6).date())
    assert result.baseline == Score(18, at(1))
    assert result.status == "response"  # (18 - 9) / 18 = 50%
    assert "prorated_not_baseline" in result.flags


def test_only_prorated_scores_leave_no_baseline() -> None:
    scores = [Score(20, at(0), prorated=True)]
    result = rules.measurement_status("phq-9", scores, episode_start=START, on=at(3).date())
    assert result.baseline is None and result.status is None
    assert result.flags == ("prorated_not_baseline",)
    assert result.label == "No baseline yet"


def test_a_prorated_follow_up_counts_but_is_flagged() -> None:
    scores = [Score(20, at(0)), Score(4, at(5), prorated=True)]
    result = rules.measurement_status("phq-9", scores, episode_start=START, on=at(5).date())
    assert result.status == "remission"
    assert "latest_prorated" in result.flags


def test_incomplete_scores_are_never_used() -> None:
    scores = [Score(3, at(0), complete=False), Score(20, at(1)), Score(2, at(3), complete=False)]
    result = rules.measurement_status("phq-9", scores, episode_start=START, on=at(3).date())
    assert result.baseline == Score(20, at(1))
    assert result.latest == Score(20, at(1)) and result.status is None


def test_scores_before_the_episode_are_not_part_of_it() -> None:
    scores = [Score(25, at(-3)), Score(12, at(0)), Score(6, at(4))]
    result = rules.measurement_status("phq-9", scores, episode_start=START, on=at(4).date())
    assert result.baseline == Score(12, at(0)) and result.status == "response"


def test_weeks_in_treatment_are_whole_weeks_since_the_episode_start() -> None:
    assert rules.weeks_between(START, START + timedelta(days=69)) == 9
    assert rules.weeks_between(START, START + timedelta(days=70)) == 10
    assert rules.weeks_between(START, START - timedelta(days=3)) == 0


def test_a_zero_baseline_has_no_percentage() -> None:
    result = status(0, 6, 10)
    assert result.percent_change is None and result.status == "not_improving"


# §2.4: due at each scheduled contact and at least every 4 weeks
def test_next_due_is_the_next_contact_or_four_weeks() -> None:
    last = date(2026, 3, 2)
    assert rules.next_due(last_measured=None, episode_start=START, next_contact=None) == START
    assert rules.next_due(last_measured=last, episode_start=START, next_contact=None) == date(2026, 3, 30)
    assert rules.next_due(last_measured=last, episode_start=START, next_contact=date(2026, 3, 16)) == date(
        2026, 3, 16
    )
    assert rules.next_due(last_measured=last, episode_start=START, next_contact=date(2026, 4, 20)) == date(
        2026, 3, 30
    )


def case(**kw) -> CaseFacts:  # type: ignore[no-untyped-def]
    defaults = {
        "statuses": (),
        "weeks_in_treatment": 2,
        "next_due": date(2026, 3, 30),
        "last_contact": date(2026, 3, 10),
        "episode_start": START,
    }
    return CaseFacts(**(defaults | kw))


ON = date(2026, 3, 20)


def test_registry_flags_each_rule() -> None:
    assert rules.registry_flags(case(), on=ON) == ()
    flat = status(18, 17, 11)
    assert rules.registry_flags(case(statuses=(flat,), weeks_in_treatment=11), on=ON) == (
        "not_improving",
        "needs_psychiatric_review",
    )
    # reviewed by the consultant within the last 4 weeks: no longer "needs review"
    assert rules.registry_flags(
        case(statuses=(flat,), weeks_in_treatment=11, last_review=ON - timedelta(days=27)), on=ON
    ) == ("not_improving",)
    assert rules.registry_flags(case(open_safety_alert=True), on=ON) == ("safety",)
    assert rules.registry_flags(case(last_item9_positive=ON - timedelta(days=30)), on=ON) == ("safety",)
    assert rules.registry_flags(case(last_item9_positive=ON - timedelta(days=31)), on=ON) == ()
    assert rules.registry_flags(case(next_due=ON - timedelta(days=1)), on=ON) == ("overdue_measure",)
    assert rules.registry_flags(case(next_due=ON), on=ON) == ()
    assert rules.registry_flags(case(last_contact=ON - timedelta(days=30)), on=ON) == ("no_contact",)
    assert rules.registry_flags(case(last_contact=ON - timedelta(days=29)), on=ON) == ()
    assert rules.registry_flags(case(overdue_labs=2), on=ON) == ("overdue_monitoring_lab",)


def test_a_responding_patient_needs_no_review_even_late() -> None:
    good = status(20, 8, 12)
    assert rules.registry_flags(case(statuses=(good,), weeks_in_treatment=12), on=ON) == ()


# §2.6: an episode ends after 6 consecutive months without CoCM services
def test_episode_ends_after_six_idle_months() -> None:
    last = date(2026, 1, 31)
    assert rules.add_months(last, 6) == date(2026, 7, 31)
    assert rules.idle_end(last, date(2026, 7, 30)) is None
    assert rules.idle_end(last, date(2026, 7, 31)) == date(2026, 7, 31)
    assert rules.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)


# §2.2/§2.4: response and remission at 6 and 12 months ± 30 days (NQF 1884 / 0710)
def test_outcome_at_six_months_uses_the_score_nearest_the_window_centre() -> None:
    base = Score(20, at(0))
    later = [Score(12, at(0) + timedelta(days=160)), Score(4, at(0) + timedelta(days=185))]
    point = rules.outcome_at(base, later, days=182, instrument="phq-9")
    assert point.followed_up and point.response and point.remission
    outside = [Score(4, at(0) + timedelta(days=182 + 31))]
    assert not rules.outcome_at(base, outside, days=182, instrument="phq-9").followed_up


def test_malformed_data_is_refused() -> None:
    raw = {"version": "x", "instruments": {}, "status": {}, "cadence": {}, "flags": {}}
    with pytest.raises(rules.MbcDataError):
        rules.parse_rules(raw)
