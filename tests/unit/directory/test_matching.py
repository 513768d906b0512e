"""Matching: hard filters, ranking, pairs and empty-result explanations (issue #4; clinical-spec.md §3, §4).

Each test names the spec section or the issue #4 rule it exercises.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from careweave.directory.rules import (
    DEFAULT_WEIGHTS,
    EXCLUSION_CODES,
    SCORE_PARTS,
    MatchWeights,
    exclusion_counts,
    exclusions,
    explain_empty,
    match,
    rank,
    score,
    suggest_pair,
)
from tests.unit.directory.helpers import PLAN, VISIT, at, lic, need, priv, provider, rules_with


def codes(p, n, role="prescriber", **kw) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return tuple(e.code for e in exclusions(p, n, role, **kw))


# --------------------------------------------------------------------------------------------------------------
# Hard filters


def test_exclusion_codes_are_stable() -> None:
    """Issue #4 hard filters, in the order they are checked and reported."""
    assert EXCLUSION_CODES == (
        "no_authority_in_state",
        "scope",
        "network",
        "not_accepting",
        "at_capacity",
        "condition_not_treated",
        "no_availability",
    )


def test_eligible_provider_has_no_exclusions() -> None:
    """§4.1 + issue #4: licensed in the patient's state, prescriber, in network, accepting, room, treats it."""
    assert exclusions(provider("MD"), need(), "prescriber") == ()


def test_not_licensed_in_patient_state_is_excluded_with_reason() -> None:
    """§4.1: the license must be for the state the patient will be in at the visit. An MD's scope is not
    reported as a second failure: the missing license already explains it."""
    found = exclusions(provider("MD", states=("CO",)), need(), "prescriber")
    assert [e.code for e in found] == ["no_authority_in_state"]
    assert found[0].reason == (
        "Not authorized to practice in Wyoming on 1 December 2026: no license or compact privilege for Wyoming."
    )


def test_expired_license_is_excluded() -> None:
    """§4.1 (issue #4 edge): license expires the day before the visit."""
    p = provider("MD", licenses=(lic("WY", "MD", expires=VISIT - timedelta(days=1)),))
    assert codes(p, need())[0] == "no_authority_in_state"


def test_psychiatry_pathway_needs_a_prescriber_there() -> None:
    """§3: psychiatry -> a prescriber licensed to prescribe in the patient's state."""
    lcsw = provider("LCSW")
    assert codes(lcsw, need()) == ("scope",)
    assert "LCSW clinicians do not prescribe" in exclusions(lcsw, need(), "prescriber")[0].reason
    psychologist = provider("PhD")
    assert (
        "psychologists cannot prescribe in Wyoming"
        in exclusions(psychologist, need(), "prescriber")[0].reason
    )


def test_prescriber_on_compact_privilege_only_is_out_of_scope() -> None:
    """§3/§4.2: prescribing needs a full state license; a PSYPACT privilege is not enough (ID is RxP and PSYPACT)."""
    p = provider(
        "PhD",
        states=("AZ",),
        compact_privileges=(priv("PSYPACT", "ID"),),
        prescriptive_certifications=frozenset({"ID"}),
    )
    found = exclusions(p, need(state="ID"), "prescriber")
    assert [e.code for e in found] == ["scope"]
    assert "needs a full state license" in found[0].reason


def test_therapy_pathway_needs_psychotherapy_and_the_offer() -> None:
    """§3: psychotherapy scope; issue #4: the provider offers therapy."""
    assert codes(provider("LCSW"), need(pathway="therapy"), "therapist") == ()
    assert codes(provider("PA"), need(pathway="therapy"), "therapist") == ("scope",)
    meds_only = provider("MD", offers=frozenset({"medication_management"}))
    assert exclusions(meds_only, need(pathway="therapy"), "therapist")[0].reason == "Does not offer therapy."


@pytest.mark.parametrize(
    ("networks", "provider_self_pay", "plan_id", "need_self_pay", "excluded"),
    [
        ({PLAN}, False, PLAN, False, False),  # in network
        (set(), True, PLAN, False, True),  # not in the plan; patient is not self-pay
        (set(), True, PLAN, True, False),  # patient chose self-pay and the provider takes it
        (set(), False, None, True, True),  # self-pay patient, provider does not take self-pay
        ({PLAN}, False, PLAN, True, False),  # in network still counts when self-pay is also allowed
        (set(), False, None, False, False),  # no coverage given: nothing to filter on
    ],
)
def test_network_filter(
    networks: set[str], provider_self_pay: bool, plan_id: str | None, need_self_pay: bool, excluded: bool
) -> None:
    """Issue #4: in network for the patient's plan unless self-pay (and the provider takes self-pay)."""
    p = provider("MD", networks=frozenset(networks), self_pay=provider_self_pay)
    n = need(plan_id=plan_id, self_pay=need_self_pay)
    assert ("network" in codes(p, n)) is excluded


def test_not_accepting_new_patients() -> None:
    """Issue #4: accepting new patients."""
    p = provider("MD", accepting_new_patients=False)
    assert codes(p, need()) == ("not_accepting",)


@pytest.mark.parametrize(("capacity", "active", "excluded"), [(20, 19, False), (20, 20, True), (0, 0, True)])
def test_capacity(capacity: int, active: int, excluded: bool) -> None:
    """Issue #4: under caseload capacity (active < capacity)."""
    p = provider("MD", capacity=capacity, active_patients=active)
    assert ("at_capacity" in codes(p, need())) is excluded


def test_existing_patient_is_not_a_new_patient() -> None:
    """Issue #4 continuity: a patient already on the provider's care team passes accepting and capacity."""
    p = provider(
        "MD",
        accepting_new_patients=False,
        capacity=5,
        active_patients=5,
        care_team_patient_ids=frozenset({"pat-1"}),
    )
    assert codes(p, need(patient_id="pat-1")) == ()
    assert codes(p, need(patient_id="pat-2")) == ("not_accepting", "at_capacity")


def test_condition_not_treated() -> None:
    """Issue #4: treats the condition (all requested conditions by default; configurable to any)."""
    p = provider("MD", conditions=frozenset({"Depression"}))
    assert codes(p, need(conditions=frozenset({"depression"}))) == ()
    two = need(conditions=frozenset({"depression", "PTSD"}))
    found = exclusions(p, two, "prescriber")
    assert [e.code for e in found] == ["condition_not_treated"]
    assert found[0].reason == "Does not treat PTSD."
    assert codes(p, two, rules=rules_with(condition_match="any")) == ()
    assert codes(p, need(conditions=frozenset({"PTSD"})), rules=rules_with(condition_match="any")) == (
        "condition_not_treated",
    )


def test_unknown_availability_is_not_excluded() -> None:
    """Issue #4: availability is filtered only when it was looked up (schedule_published not None); otherwise
    next_available None is 'unknown' (booking's eligibility check, facts built without scheduling)."""
    assert codes(provider("MD", next_available=None), need()) == ()


def test_no_free_time_in_the_window_is_excluded() -> None:
    """Issue #4 'has availability in the window': a schedule with no free time in the window is refused."""
    found = exclusions(provider("MD", schedule_published=True, next_available=None), need(), "prescriber")
    assert [e.code for e in found] == ["no_availability"]
    assert found[0].reason == (
        "No free time for a first visit from 1 December 2026 to the end of their booking window."
    )
    assert codes(provider("MD", schedule_published=True, next_available=at(VISIT)), need()) == ()


def test_no_published_schedule_counts_as_unavailable() -> None:
    """Issue #4: a provider who has not published a schedule cannot be booked, so is not shown; the reason
    says why."""
    found = exclusions(provider("LMFT", schedule_published=False), need(pathway="therapy"), "therapist")
    assert [e.code for e in found] == ["no_availability"]
    assert "not published a schedule" in found[0].reason


def test_availability_is_checked_last_and_counted() -> None:
    """Issue #4 'excluded_summary': availability is one more filter, counted like the others."""
    providers = [
        provider("MD", id="a", schedule_published=True, next_available=at(VISIT)),
        provider("MD", id="b", schedule_published=True),
        provider("MD", id="c", schedule_published=False),
        provider("MD", id="d"),  # not looked up: not filtered
    ]
    assert exclusion_counts(providers, need(), "prescriber") == {"no_availability": 2}
    assert [r.provider_id for r in rank(providers, need(), "prescriber")] == ["a", "d"]


def test_every_failing_filter_is_reported_in_order() -> None:
    """Issue #4: the excluded summary counts each filter a provider fails."""
    p = provider(
        "LMFT",
        states=("CO",),
        networks=frozenset(),
        accepting_new_patients=False,
        capacity=1,
        active_patients=1,
        conditions=frozenset(),
        schedule_published=False,
    )
    assert codes(p, need()) == EXCLUSION_CODES


def test_exclusion_counts() -> None:
    """Issue #4 'excluded_summary': how many providers each filter removed."""
    providers = [
        provider("MD", id="a"),
        provider("MD", id="b", states=("CO",)),
        provider("MD", id="c", networks=frozenset(), self_pay=False),
    ]
    assert exclusion_counts(providers, need(), "prescriber") == {"no_authority_in_state": 1, "network": 1}
    providers.append(provider("LPC", id="d"))
    assert exclusion_counts(providers, need(), "prescriber") == {
        "no_authority_in_state": 1,
        "scope": 1,
        "network": 1,
    }


# --------------------------------------------------------------------------------------------------------------
# Scoring and ranking (issue #4: stated weights, reasons and breakdown on every result)


def test_score_breakdown_and_reasons() -> None:
    """Issue #4 ranking: condition fit, language, gender, modality, earliest availability, continuity."""
    p = provider(
        "LCSW",
        conditions=frozenset({"depression", "anxiety"}),
        languages=frozenset({"English", "Spanish"}),
        gender="female",
        modalities=frozenset({"CBT", "DBT"}),
        next_available=at(VISIT),
        care_team_patient_ids=frozenset({"pat-1"}),
    )
    n = need(
        pathway="therapy",
        conditions=frozenset({"depression", "PTSD"}),
        language="spanish",
        gender="Female",
        modalities=frozenset({"CBT"}),
        patient_id="pat-1",
    )
    breakdown = score(p, n)
    assert dict(breakdown.parts) == {
        "condition_fit": 1.5,
        "language": 2.0,
        "gender": 1.0,
        "modality": 1.0,
        "earliest_availability": 1.5,
        "continuity": 2.0,
    }
    assert breakdown.total == 9.0
    assert breakdown.reasons == (
        "Treats depression",
        "Speaks spanish",
        "Matches your gender preference",
        "Offers CBT",
        "Next available 1 December 2026",
        "Already part of your care team",
    )


def test_score_without_preferences_is_zero() -> None:
    """Issue #4: preferences rank; with none given every part is 0 and nothing is claimed."""
    breakdown = score(provider("MD"), need(conditions=frozenset()))
    assert breakdown.total == 0
    assert breakdown.reasons == ()
    assert tuple(breakdown.parts) == SCORE_PARTS


def test_availability_decays_with_a_half_life() -> None:
    """Issue #4 'earliest availability': 0.5 ** (days / 7) of the weight; unknown scores 0."""
    n = need(conditions=frozenset())
    assert score(provider("MD", next_available=at(VISIT)), n).parts["earliest_availability"] == 1.5
    week = score(provider("MD", next_available=at(VISIT + timedelta(days=7))), n)
    assert week.parts["earliest_availability"] == 0.75
    assert score(provider("MD", next_available=None), n).parts["earliest_availability"] == 0
    earlier = score(provider("MD", next_available=at(VISIT - timedelta(days=3))), n)
    assert earlier.parts["earliest_availability"] == 1.5
    assert "Next available 1 December 2026" in earlier.reasons


def test_collaborating_with_the_patients_other_clinician_counts_for_continuity() -> None:
    """Issue #4 continuity: 'already collaborating with the patient's other clinician'."""
    p = provider("MD", collaborators=frozenset({"therapist-9"}))
    breakdown = score(p, need(other_clinician_ids=frozenset({"therapist-9"})))
    assert breakdown.parts["continuity"] == 1.0
    assert "Already works with your other clinician" in breakdown.reasons


def test_weights_are_configuration() -> None:
    """Issue #4: stated weights (configuration); negative weights are refused."""
    stated = {name: getattr(DEFAULT_WEIGHTS, name) for name in SCORE_PARTS}
    assert stated == {
        "condition_fit": 3.0,
        "language": 2.0,
        "gender": 1.0,
        "modality": 1.0,
        "earliest_availability": 1.5,
        "continuity": 2.0,
    }
    custom = MatchWeights(language=10.0)
    p = provider("MD", languages=frozenset({"Spanish"}))
    assert score(p, need(language="Spanish"), custom).parts["language"] == 10.0
    with pytest.raises(ValueError, match="must be >= 0"):
        MatchWeights(gender=-1)
    with pytest.raises(ValueError, match="half_life"):
        MatchWeights(availability_half_life_days=0)


def test_rank_orders_crafted_case() -> None:
    """Issue #4 ranking on a crafted case: continuity (2.0) and language (2.0) each beat an earlier slot (1.5);
    the tie between them breaks by name; an out-of-state provider never ranks (§4.1)."""
    n = need(pathway="therapy", language="Spanish", patient_id="pat-1")
    on_team = provider("LCSW", id="t1", name="Casey", care_team_patient_ids=frozenset({"pat-1"}))
    spanish = provider("LPC", id="t2", name="Blake", languages=frozenset({"Spanish"}))
    soonest = provider("LMFT", id="t3", name="Avery", next_available=at(VISIT))
    out_of_state = provider("LCSW", id="t4", name="Aaron", states=("CO",), languages=frozenset({"Spanish"}))
    ranked = rank([soonest, out_of_state, spanish, on_team], n, "therapist")
    assert [(r.provider_id, r.score.total) for r in ranked] == [("t2", 5.0), ("t1", 5.0), ("t3", 4.5)]


def test_rank_ties_break_by_name_then_id() -> None:
    """Issue #4: stable, deterministic order."""
    n = need(conditions=frozenset())
    a2 = provider("MD", id="2", name="Avery")
    a1 = provider("MD", id="1", name="Avery")
    b = provider("MD", id="0", name="blake")
    assert [r.provider_id for r in rank([b, a2, a1], n, "prescriber")] == ["1", "2", "0"]


def test_ranked_result_carries_reasons_and_breakdown() -> None:
    """Issue #4: every result carries reasons (why it matched) and the score breakdown."""
    p = provider("PMHNP", languages=frozenset({"English"}), next_available=at(VISIT + timedelta(days=2)))
    [result] = rank([p], need(language="English"), "prescriber")
    assert result.role == "prescriber"
    assert result.reasons[:3] == (
        "Licensed in Wyoming (license WY-TEST-1, valid through 30 June 2028)",
        "Can prescribe in Wyoming",
        "In network with your plan",
    )
    assert "Speaks English" in result.reasons
    assert result.score.total == sum(result.score.parts.values())
    assert result.authority.kind == "license"


def test_self_pay_reason() -> None:
    """Issue #4: self-pay patients match providers who take self-pay, and are told so."""
    [result] = rank([provider("MD", networks=frozenset())], need(plan_id=None, self_pay=True), "prescriber")
    assert "Accepts self-pay" in result.reasons


# --------------------------------------------------------------------------------------------------------------
# Pairs (issue #4: pathway "both" suggests a pair, preferring clinicians who already share patients)


def _lists(providers, n):  # type: ignore[no-untyped-def]
    return rank(providers, n, "therapist"), rank(providers, n, "prescriber"), {p.id: p for p in providers}


def test_pair_prefers_clinicians_who_share_patients() -> None:
    """Issue #4: prefer two clinicians who already share patients over a better-scored pair."""
    n = need(pathway="both", language="Spanish")
    star_t = provider("LCSW", id="t-star", name="Ana", languages=frozenset({"Spanish"}))
    plain_t = provider("LPC", id="t-plain", name="Ben", collaborators=frozenset({"p-plain"}))
    star_p = provider(
        "MD",
        id="p-star",
        name="Cruz",
        offers=frozenset({"medication_management"}),
        languages=frozenset({"Spanish"}),
    )
    plain_p = provider("PMHNP", id="p-plain", name="Dee", offers=frozenset({"medication_management"}))
    therapists, prescribers, facts = _lists([star_t, plain_t, star_p, plain_p], n)
    pair = suggest_pair(therapists, prescribers, facts)
    assert pair is not None
    assert (pair.therapist_id, pair.prescriber_id, pair.shares_patients) == ("t-plain", "p-plain", True)
    assert "already care for patients together" in pair.reasons[0]


def test_pair_collaboration_recorded_on_either_side() -> None:
    """Issue #4: sharing patients is symmetric even if only one side records it."""
    n = need(pathway="both")
    t = provider("LCSW", id="t", name="Ana")
    p = provider(
        "MD", id="p", name="Cruz", offers=frozenset({"medication_management"}), collaborators=frozenset({"t"})
    )
    therapists, prescribers, facts = _lists([t, p], n)
    pair = suggest_pair(therapists, prescribers, facts)
    assert pair is not None
    assert pair.shares_patients


def test_pair_falls_back_to_best_scored_pair_of_two_people() -> None:
    """Issue #4: else the best-scored pair; two different clinicians."""
    n = need(pathway="both", language="Spanish")
    both = provider("MD", id="md", name="Ana", languages=frozenset({"Spanish"}))  # top in both lists
    t = provider("LCSW", id="t", name="Ben")
    p = provider("PMHNP", id="np", name="Cy", offers=frozenset({"medication_management"}))
    therapists, prescribers, facts = _lists([both, t, p], n)
    assert therapists[0].provider_id == prescribers[0].provider_id == "md"
    pair = suggest_pair(therapists, prescribers, facts)
    assert pair is not None
    assert not pair.shares_patients
    assert pair.therapist_id != pair.prescriber_id
    assert "md" in (pair.therapist_id, pair.prescriber_id)


def test_no_pair_without_two_people() -> None:
    """Issue #4: a pair is two clinicians."""
    n = need(pathway="both")
    only = provider("MD", id="md")
    therapists, prescribers, facts = _lists([only], n)
    assert suggest_pair(therapists, prescribers, facts) is None
    assert suggest_pair([], prescribers, facts) is None


# --------------------------------------------------------------------------------------------------------------
# Empty results (issue #4: explain which filter removed everyone and what to relax)


def test_explain_wyoming_aetna() -> None:
    """Issue #4 example: 'no psychiatrist licensed in Wyoming accepts Aetna PPO'."""
    explanation = explain_empty(
        need(), {"no_authority_in_state": 40, "scope": 40, "network": 3}, "prescriber", plan_name="Aetna PPO"
    )
    assert explanation.message == (
        "No psychiatric prescriber licensed in Wyoming can prescribe there and accepts Aetna PPO on 1 December 2026."
    )
    assert explanation.relax == ("another_state", "care_team_referral", "self_pay")
    assert len(explanation.suggestions) == len(explanation.relax)
    assert (
        explanation.details[0]
        == "40 psychiatric prescribers are not licensed to practice in Wyoming on that date."
    )
    assert explanation.details[2] == "3 psychiatric prescribers are not in network with Aetna PPO."


def test_explain_license_and_network_only() -> None:
    """Issue #4: the filters that removed everyone, in plain language with the full state name (§4.1)."""
    explanation = explain_empty(
        need(), {"no_authority_in_state": 2, "network": 1}, "prescriber", plan_name="Aetna PPO"
    )
    assert (
        explanation.message
        == "No psychiatric prescriber licensed in Wyoming accepts Aetna PPO on 1 December 2026."
    )


def test_explain_self_pay_and_capacity() -> None:
    """Issue #4: self-pay patients are told to add coverage; full caseloads suggest a later date."""
    n = need(pathway="therapy", state="DC", plan_id=None, self_pay=True)
    explanation = explain_empty(n, {"network": 1, "at_capacity": 2}, "therapist")
    assert explanation.message == (
        "No therapist who can see you in District of Columbia accepts self-pay and has room for new patients "
        "on 1 December 2026."
    )
    assert explanation.relax == ("use_coverage", "later_date")
    assert explanation.details == (
        "1 therapist does not take self-pay.",
        "2 therapists have no room in their caseload.",
    )


def test_explain_conditions() -> None:
    """Issue #4: 'treats the condition'; several conditions suggest searching one at a time."""
    n = need(pathway="therapy", conditions=frozenset({"PTSD", "depression"}))
    explanation = explain_empty(n, {"condition_not_treated": 4}, "therapist")
    assert (
        explanation.message
        == "No therapist who can see you in Wyoming treats PTSD and depression on 1 December 2026."
    )
    assert explanation.relax == ("fewer_conditions",)
    assert explanation.details == ("4 therapists do not treat PTSD and depression.",)
    any_one = explain_empty(
        n, {"condition_not_treated": 4}, "therapist", rules=rules_with(condition_match="any")
    )
    assert (
        any_one.message
        == "No therapist who can see you in Wyoming treats PTSD or depression on 1 December 2026."
    )


def test_explain_no_availability() -> None:
    """Issue #4: nobody with free time in the window: say so, and suggest later dates."""
    n = need(pathway="therapy")
    explanation = explain_empty(n, {"no_availability": 3}, "therapist")
    assert explanation.message == (
        "No therapist who can see you in Wyoming has free time for a first visit from 1 December 2026."
    )
    assert explanation.relax == ("later_dates", "care_team_referral")
    assert explanation.suggestions[0].startswith("Try later dates")
    assert explanation.details == (
        "3 therapists have no free time for a first visit in their booking window (or no published schedule).",
    )
    both = explain_empty(n, {"at_capacity": 1, "no_availability": 1}, "therapist")
    assert both.message == (
        "No therapist who can see you in Wyoming has room for new patients and has free time for a first "
        "visit from 1 December 2026."
    )
    assert both.relax == ("later_date", "later_dates", "care_team_referral")
    assert both.details[1] == (
        "1 therapist has no free time for a first visit in their booking window (or no published schedule)."
    )


def test_explain_empty_directory() -> None:
    """Issue #4: nobody to filter at all."""
    explanation = explain_empty(need(pathway="therapy"), {}, "therapist")
    assert explanation.message == "No therapist in the directory can see you in Wyoming on 1 December 2026."
    assert explanation.relax == ("care_team_referral",)


def test_preferences_are_never_suggested_for_relaxing() -> None:
    """Issue #4: language, gender and modality only rank; they never empty a result."""
    n = need(language="Tagalog", gender="male", modalities=frozenset({"EMDR"}))
    providers = [provider("MD", languages=frozenset({"English"}), gender="female")]
    result = match(providers, n)
    assert len(result.prescribers) == 1
    assert result.explanations == {}


# --------------------------------------------------------------------------------------------------------------
# A whole match


def test_match_both_returns_lists_pair_and_summary() -> None:
    """Issue #4: pathway 'both' returns a therapist list, a prescriber list and a suggested pair."""
    n = need(pathway="both", patient_id="pat-1")
    providers = [
        provider("LCSW", id="t", name="Ana", collaborators=frozenset({"p"})),
        provider("MD", id="p", name="Cruz", offers=frozenset({"medication_management"})),
        provider("PhD", id="x", name="Dee", states=("CO",)),
    ]
    result = match(providers, n)
    assert [r.provider_id for r in result.therapists] == ["t"]
    assert [r.provider_id for r in result.prescribers] == ["p"]
    assert result.pair is not None
    assert (result.pair.therapist_id, result.pair.prescriber_id) == ("t", "p")
    assert result.excluded_summary["therapist"] == {"no_authority_in_state": 1, "scope": 1}
    assert result.excluded_summary["prescriber"]["scope"] == 2


def test_match_explains_an_empty_role() -> None:
    """Issue #4: an empty result explains itself."""
    n = need(pathway="both")
    result = match([provider("LCSW", id="t")], n, plan_name="Aetna PPO")
    assert result.prescribers == ()
    assert result.pair is None
    assert result.explanations["prescriber"].message.startswith(
        "No psychiatric prescriber who can see you in Wyoming"
    )
    assert "therapist" not in result.explanations


def test_match_on_date_before_license() -> None:
    """§4.1: the visit date decides; a license starting next month does not count this month."""
    starts = VISIT + timedelta(days=30)
    p = provider("MD", licenses=(lic("WY", "MD", issued=starts),))
    assert match([p], need()).prescribers == ()
    assert len(match([p], replace(need(), on_date=starts)).prescribers) == 1
    assert match([p], need(on_date=date(2026, 12, 2))).explanations["prescriber"].relax[0] == "another_state"
