"""Triage rules (clinical-spec.md §7.3): a table of cases plus hypothesis properties.

Every table case cites the spec section it exercises. "§7.3 S0" .. "§7.3 S5" are STEP 0 .. STEP 5 of the
implementable decision procedure.
"""

from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careweave.triage.rules import (
    DEFAULT,
    PATHWAY_INTENSITY,
    PRESCRIBER_MANAGED_MEDICATIONS,
    RULE_ORDER,
    Recommendation,
    TriageConfig,
    TriageInputs,
    matched_medications,
    recommend,
)


def phq(total: int, item9: int = 0, **kwargs: Any) -> TriageInputs:
    """A PHQ-9 result with item 9 answered (0 unless given)."""
    return TriageInputs(phq9_total=total, phq9_item9=item9, **kwargs)


def fired(rec: Recommendation) -> set[str]:
    return {step.rule for step in rec.rule_trace if step.fired}


@dataclass(frozen=True)
class Case:
    inputs: TriageInputs
    pathway: str
    urgency: str = "routine"
    needs: frozenset[str] = frozenset()  # must all be present
    absent_needs: frozenset[str] = frozenset()  # must all be absent
    fired: frozenset[str] = frozenset()  # rules that must fire
    reason_contains: tuple[str, ...] = ()


def case(
    case_id: str,
    inputs: TriageInputs,
    pathway: str,
    urgency: str = "routine",
    *,
    needs: tuple[str, ...] = (),
    absent_needs: tuple[str, ...] = (),
    fired: tuple[str, ...] = (),
    reason_contains: tuple[str, ...] = (),
) -> Any:
    return pytest.param(
        Case(
            inputs,
            pathway,
            urgency,
            frozenset(needs),
            frozenset(absent_needs),
            frozenset(fired),
            reason_contains,
        ),
        id=case_id,
    )


CASES = [
    # ---------------- STEP 3: PHQ-9 band edges (§1.1 bands 5/10/15/20; §7.3 S3), preference "unsure" ----------
    # §7.3 S3 "phq9 0-4 -> no treatment indicated; self-care resources; rescreen"
    case("phq9-4-none", phq(4), "none", fired=("step3.depression.phq9_0_4",), reason_contains=("Self-care",)),
    # §7.3 S3 "phq9 5-9 -> THERAPY (or watchful waiting/low-intensity); rescreen in 2-4 weeks"
    case(
        "phq9-5-therapy",
        phq(5),
        "therapy",
        fired=("step3.depression.phq9_5_9",),
        reason_contains=("2-4 weeks",),
    ),
    # §7.3 S3 5-9 upper edge
    case("phq9-9-therapy", phq(9), "therapy", fired=("step3.depression.phq9_5_9",)),
    # §7.3 S3 10-14 per preference; "unsure" -> least intrusive first (§7.1 NICE NG222 "less severe", PHQ-9 < 16)
    case(
        "phq9-10-unsure-therapy",
        phq(10),
        "therapy",
        fired=("step3.depression.phq9_10_14",),
        reason_contains=("Medication is also an option",),
    ),
    # §7.3 S3 10-14 upper edge
    case("phq9-14-unsure-therapy", phq(14), "therapy", fired=("step3.depression.phq9_10_14",)),
    # §7.3 S3 "15-19 -> default BOTH"; §7.2 refinement 1
    case("phq9-15-unsure-both", phq(15), "both", fired=("step3.depression.phq9_15_19",)),
    # §7.3 S3 15-19 upper edge
    case("phq9-19-unsure-both", phq(19), "both", absent_needs=("close_follow_up", "expedited_appointment")),
    # §7.3 S3 "20-27 -> BOTH (therapy + prescriber), expedited"
    case(
        "phq9-20-both-expedited",
        phq(20),
        "both",
        needs=("expedited_appointment",),
        fired=("step3.depression.phq9_20_27",),
    ),
    # §1.1 range 0-27, top of the severe band
    case("phq9-27-both", phq(27, item9=0), "both", needs=("expedited_appointment",)),
    # ---------------- STEP 3: each preference at each band (§7.3 S3, §7.2) --------------------------------------
    # §7.3 S3 0-4: preference does not create a treatment indication
    case("phq9-2-pref-therapy-none", phq(2, preference="therapy"), "none"),
    case("phq9-2-pref-medication-none", phq(2, preference="medication"), "none"),
    # §7.3 S3 5-9 -> THERAPY whatever the preference; medication is "an option to discuss"
    case(
        "phq9-7-pref-therapy",
        phq(7, preference="therapy"),
        "therapy",
        reason_contains=("prefer talk therapy",),
    ),
    case(
        "phq9-7-pref-medication-still-therapy",
        phq(7, preference="medication"),
        "therapy",
        reason_contains=("usually tried first",),
    ),
    case("phq9-7-pref-both-still-therapy", phq(7, preference="both"), "therapy"),
    # §7.3 S3 "10-14 -> THERAPY or MEDICATION per patient_preference (BOTH if requested)"
    case("phq9-12-pref-therapy", phq(12, preference="therapy"), "therapy"),
    case("phq9-12-pref-medication", phq(12, preference="medication"), "psychiatry"),
    case("phq9-12-pref-both", phq(12, preference="both"), "both"),
    # §7.3 S3 15-19 "preference may select monotherapy with close follow-up"
    case(
        "phq9-17-pref-therapy-monotherapy",
        phq(17, preference="therapy"),
        "therapy",
        needs=("close_follow_up",),
        reason_contains=("check in with you more often",),
    ),
    case(
        "phq9-17-pref-medication-monotherapy",
        phq(17, preference="medication"),
        "psychiatry",
        needs=("close_follow_up",),
    ),
    case("phq9-17-pref-both", phq(17, preference="both"), "both", absent_needs=("close_follow_up",)),
    # §7.3 S3 20-27 -> BOTH regardless of preference (§7.2 "for >= 20, combined treatment is the default")
    case(
        "phq9-22-pref-therapy-still-both",
        phq(22, preference="therapy"),
        "both",
        reason_contains=("combining talk therapy and medication is usually recommended",),
    ),
    case("phq9-22-pref-medication-still-both", phq(22, preference="medication"), "both"),
    case("phq9-22-pref-both", phq(22, preference="both"), "both"),
    # ---------------- STEP 3: GAD-7 (§1.3 bands; §7.3 S3 "gad7 >= 10 -> evaluation") ---------------------------
    # §1.3 cut point >= 10 for further evaluation: 9 routes nowhere
    case("gad7-9-none", TriageInputs(gad7_total=9), "none", fired=("step3.anxiety.gad7_0_9",)),
    # §7.3 S3 "10-14 therapy or meds per preference" (unsure -> therapy as for PHQ-9)
    case(
        "gad7-10-unsure-therapy",
        TriageInputs(gad7_total=10),
        "therapy",
        needs=("anxiety_evaluation",),
        fired=("step3.anxiety.gad7_10_14",),
    ),
    case("gad7-14-unsure-therapy", TriageInputs(gad7_total=14), "therapy"),
    # §7.3 S3 ">= 15 default BOTH"
    case("gad7-15-unsure-both", TriageInputs(gad7_total=15), "both", fired=("step3.anxiety.gad7_15_21",)),
    case("gad7-21-both", TriageInputs(gad7_total=21), "both"),
    case("gad7-12-pref-medication", TriageInputs(gad7_total=12, preference="medication"), "psychiatry"),
    case("gad7-12-pref-both", TriageInputs(gad7_total=12, preference="both"), "both"),
    # §7.3 S3 ">= 15 default BOTH", read like PHQ-9 15-19: preference may select monotherapy
    case(
        "gad7-17-pref-therapy-monotherapy",
        TriageInputs(gad7_total=17, preference="therapy"),
        "therapy",
        needs=("close_follow_up",),
    ),
    # §7.3 S3 "apply analogous GAD-7 bands": the more intensive of the two results
    case(
        "phq9-7-gad7-12-pref-medication-more-intensive",
        phq(7, gad7_total=12, preference="medication"),
        "psychiatry",
    ),
    case("phq9-3-gad7-16-more-intensive", phq(3, gad7_total=16), "both"),
    # ---------------- STEP 0: emergency overrides everything (§7.3 S0; §7.2 point 2; §7.1 crisis line) ---------
    case(
        "emergency-cssrs-high-phq9-3",
        phq(3, cssrs_level="high"),
        "urgent",
        "emergency",
        needs=("on_call_clinician_handoff", "crisis_line_instructions", "urgent_task"),
        fired=("step0.emergency.cssrs_high",),
        reason_contains=("988", "911"),
    ),
    case(
        "emergency-imminent-risk-no-screening",
        TriageInputs(imminent_risk_reported=True),
        "urgent",
        "emergency",
        fired=("step0.emergency.imminent_risk_reported",),
        reason_contains=("call or text 988", "call 911"),
    ),
    case(
        "emergency-overrides-bipolar-and-severe",
        phq(22, item9=2, history_bipolar=True, imminent_risk_reported=True, preference="therapy"),
        "urgent",
        "emergency",
    ),
    # ---------------- STEP 1: urgent (§7.3 S1; §1.1 item 9 rule; §1.7 C-SSRS levels) --------------------------
    # §1.1 item 9 >= 1 -> C-SSRS; §7.3 S1 "phq9_item9 >= 1 and cssrs not yet done" -> same-day contact
    case(
        "item9-positive-without-cssrs",
        phq(8, item9=1),
        "therapy",
        "urgent",
        needs=("cssrs", "same_day_clinician_contact", "safety_plan"),
        fired=("step1.urgent.item9_without_cssrs",),
        reason_contains=("988",),
    ),
    # §7.2 point 2: once done, "the C-SSRS level (not the PHQ-9 total) determines urgency"
    case(
        "item9-positive-cssrs-none-routine",
        phq(8, item9=2, cssrs_level="none"),
        "therapy",
        absent_needs=("cssrs", "same_day_clinician_contact"),
    ),
    # §1.1 platform rule (a): item 9 unanswered -> clinician follow-up (conservative: treated as positive)
    case(
        "item9-missing-without-cssrs",
        TriageInputs(phq9_total=6, phq9_prorated=True),
        "therapy",
        "urgent",
        needs=("cssrs",),
        fired=("step3.depression.prorated_phq9",),
    ),
    # §7.3 S1 "cssrs_level == moderate"; §1.7 moderate -> same-day consult + safety plan
    case(
        "cssrs-moderate-urgent",
        phq(3, cssrs_level="moderate"),
        "therapy",
        "urgent",
        needs=("safety_plan", "same_day_clinician_contact"),
        fired=("step1.urgent.cssrs_moderate",),
    ),
    # §1.7 / §7.1 low -> referral + safety plan; not in §7.3 S1, so urgency stays routine
    case(
        "cssrs-low-routine-referral",
        phq(3, item9=1, cssrs_level="low"),
        "therapy",
        needs=("safety_plan",),
        absent_needs=("cssrs", "same_day_clinician_contact"),
        fired=("step1.risk.cssrs_low",),
    ),
    # §7.3 S1 "psychosis_flags or mania_flags (current)" -> urgent + prescriber evaluation
    case(
        "current-psychosis-mania-minimal",
        phq(2, current_psychosis_or_mania=True),
        "psychiatry",
        "urgent",
        needs=("prescriber_evaluation", "same_day_clinician_contact"),
        fired=("step1.urgent.psychosis_or_mania",),
    ),
    case("current-psychosis-mania-mild-both", phq(8, current_psychosis_or_mania=True), "both", "urgent"),
    # ---------------- STEP 2: each psychiatry-required trigger alone (§7.3 S2) ----------------------------------
    # §1.5 platform rule + §7.3 S2 "mdq_positive"
    case(
        "mdq-positive",
        phq(2, mdq_positive=True),
        "psychiatry",
        needs=("prescriber_evaluation",),
        fired=("step2.psychiatry.mdq_positive",),
    ),
    # §7.3 S2 "history of bipolar disorder"
    case(
        "history-bipolar",
        phq(2, history_bipolar=True),
        "psychiatry",
        fired=("step2.psychiatry.history_bipolar",),
    ),
    # §7.3 S2 "psychosis, schizophrenia-spectrum"
    case(
        "history-psychosis",
        phq(2, history_psychosis=True),
        "psychiatry",
        fired=("step2.psychiatry.history_psychosis",),
    ),
    # §7.3 S2 "on lithium/clozapine/antipsychotic"; names from §6.1; case-insensitive free text
    case(
        "med-lithium-carbonate-free-text",
        phq(2, current_medications=("Lithium carbonate 300 mg",)),
        "psychiatry",
        fired=("step2.psychiatry.managed_medication",),
        reason_contains=("lithium",),
    ),
    case("med-clozapine-upper-case", phq(2, current_medications=("CLOZAPINE 100MG",)), "psychiatry"),
    case(
        "med-quetiapine-antipsychotic",
        phq(2, current_medications=("sertraline", "Quetiapine XR")),
        "psychiatry",
    ),
    case("med-ssri-only-no-trigger", phq(2, current_medications=("Sertraline 50 mg",)), "none"),
    # §7.3 S2 pregnancy/postpartum with moderate+ symptoms: mild does not trigger, moderate does
    case(
        "pregnancy-mild-no-trigger",
        phq(7, pregnant_or_postpartum=True),
        "therapy",
        absent_needs=("prescriber_evaluation",),
    ),
    case(
        "pregnancy-moderate-phq9",
        phq(10, pregnant_or_postpartum=True),
        "both",
        needs=("prescriber_evaluation",),
        fired=("step2.psychiatry.pregnancy_moderate_plus", "step2.psychiatry.with_therapy"),
    ),
    case("pregnancy-moderate-gad7", TriageInputs(gad7_total=11, pregnant_or_postpartum=True), "both"),
    case(
        "pregnancy-moderate-pref-therapy", phq(12, pregnant_or_postpartum=True, preference="therapy"), "both"
    ),
    # §7.3 S2 ">= 2 failed adequate antidepressant trials": 1 trial does not trigger, 2 do
    case("trials-1-pref-medication", phq(12, antidepressant_trials=1, preference="medication"), "psychiatry"),
    case("trials-1-minimal", phq(2, antidepressant_trials=1), "none"),
    case(
        "trials-2-minimal",
        phq(2, antidepressant_trials=2),
        "psychiatry",
        fired=("step2.psychiatry.treatment_resistant",),
    ),
    case("trials-2-moderate-both", phq(12, antidepressant_trials=2, preference="medication"), "both"),
    # §7.3 S2 "PSYCHIATRY (+ therapy as indicated)": preference therapy indicates therapy
    case("bipolar-pref-therapy-both", phq(2, history_bipolar=True, preference="therapy"), "both"),
    # ---------------- STEP 4: substance use (§7.3 S4; AUDIT-C §1.6) -------------------------------------------
    case(
        "auditc-positive-with-mild-depression",
        phq(7, auditc_positive=True),
        "therapy",
        needs=("sud_assessment",),
        fired=("step4.substance.auditc_positive",),
        reason_contains=("alcohol",),
    ),
    case(
        "auditc-positive-alone-pathway-unchanged",
        TriageInputs(auditc_positive=True),
        "none",
        needs=("sud_assessment",),
    ),
    # ---------------- Screening gaps (§1.2 PHQ-2 -> PHQ-9; §1.4 GAD-2 -> GAD-7) ---------------------------------
    case(
        "phq2-positive-without-phq9",
        TriageInputs(phq2_positive=True, gad2_positive=False),
        "none",
        needs=("phq-9",),
        absent_needs=("gad-7",),
        fired=("step3.screen.phq2_positive_without_phq9",),
    ),
    case("gad2-positive-without-gad7", phq(3, gad2_positive=True), "none", needs=("gad-7",)),
    case(
        "no-screening-data",
        TriageInputs(),
        "none",
        needs=("phq-9", "gad-7"),
        fired=("step3.screen.no_screening_data",),
        reason_contains=("questionnaires",),
    ),
    # ---------------- Trauma (§1.8 PCL-5; §7 silent -> therapy indicated, marked assumption) -------------------
    case(
        "pcl5-positive-alone-therapy",
        TriageInputs(pcl5_positive=True),
        "therapy",
        needs=("ptsd_evaluation",),
        fired=("step3.trauma.pcl5_positive",),
    ),
    case("pcl5-positive-pref-medication-both", phq(12, pcl5_positive=True, preference="medication"), "both"),
    case("trauma-reported-needs-pcl5", phq(3, trauma_reported=True), "none", needs=("pcl-5",)),
    # ---------------- Prorated PHQ-9 (§1.1 missing items; §2.2 flag prorated) ----------------------------------
    case(
        "prorated-phq9-used-and-flagged",
        phq(12, phq9_prorated=True),
        "therapy",
        fired=("step3.depression.prorated_phq9",),
        reason_contains=("estimated",),
    ),
]


@pytest.mark.parametrize("c", CASES)
def test_triage_table(c: Case) -> None:
    rec = recommend(c.inputs)
    assert rec.pathway == c.pathway
    assert rec.urgency == c.urgency
    assert rec.self_scheduling_allowed is (c.urgency != "emergency")
    assert c.needs <= set(rec.needs), rec.needs
    assert not (c.absent_needs & set(rec.needs)), rec.needs
    assert c.fired <= fired(rec), fired(rec)
    text = " ".join(rec.reasons)
    for fragment in c.reason_contains:
        assert fragment in text
    assert tuple(step.rule for step in rec.rule_trace) == RULE_ORDER


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40


# ---------------- Focused checks ------------------------------------------------------------------------------


def test_emergency_shows_only_safety_instructions() -> None:
    # §7.3 S0 "show 988 (call/text/chat) and 911 instructions immediately"; nothing that distracts from them.
    rec = recommend(phq(17, cssrs_level="high", auditc_positive=True))
    assert len(rec.reasons) == 3
    assert any("chat" in reason and "988" in reason for reason in rec.reasons)
    assert any("911" in reason for reason in rec.reasons)
    assert rec.measures == ("phq-9", "gad-7")


def test_item9_zero_does_not_trigger_urgency() -> None:
    rec = recommend(phq(12, item9=0))
    assert rec.urgency == "routine"
    assert "cssrs" not in rec.needs


def test_step2_trace_reports_unevaluable_oud_rule() -> None:
    # §7.3 S2 "OUD (buprenorphine candidate) / complex SUD": no input exists; the clinician sees that.
    step = next(s for s in recommend(phq(5)).rule_trace if s.rule == "step2.psychiatry.oud_or_complex_sud")
    assert not step.fired
    assert "not evaluable" in step.outcome


def test_final_step_records_components() -> None:
    step = recommend(phq(12, preference="medication", history_bipolar=True)).rule_trace[-1]
    assert step.rule == "final.pathway"
    assert step.inputs["prescriber_floor"] == "both"
    assert step.inputs["severity"] == "psychiatry"


def test_preference_text_never_contradicts_widened_pathway() -> None:
    # Medication preferred at 15-19, but lithium makes psychiatry + therapy (§7.3 S2): no "on its own" text.
    rec = recommend(phq(17, preference="medication", current_medications=("lithium",)))
    assert rec.pathway == "both"
    assert not any("on its own" in reason for reason in rec.reasons)
    assert "close_follow_up" not in rec.needs


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (("Lithium carbonate 300 mg",), ("lithium",)),
        (("LITHIUM",), ("lithium",)),
        (("lithium-ER 450",), ("lithium",)),
        (("Aripiprazole 5mg", "haloperidol"), ("aripiprazole", "haloperidol")),
        (("lithiumx",), ()),
        (("sertraline", "bupropion"), ()),
        ((), ()),
    ],
)
def test_matched_medications(entries: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert matched_medications(entries, PRESCRIBER_MANAGED_MEDICATIONS) == expected


def test_medication_list_comes_from_spec() -> None:
    # §7.3 S2 "lithium/clozapine/antipsychotic"; §6.1 lists the antipsychotics.
    assert {"lithium", "clozapine", "quetiapine", "haloperidol"} <= set(
        DEFAULT.prescriber_managed_medications
    )
    assert all(name == name.lower() for name in DEFAULT.prescriber_managed_medications)


# ---------------- Configuration (§7.3 "All thresholds are configuration") -----------------------------------


def test_config_treatment_resistant_threshold() -> None:
    config = TriageConfig(treatment_resistant_trials=3)
    assert recommend(phq(2, antidepressant_trials=2), config).pathway == "none"
    assert recommend(phq(2, antidepressant_trials=3), config).pathway == "psychiatry"


def test_config_item9_missing_only_flagged() -> None:
    config = TriageConfig(item9_missing_requires_cssrs=False)
    rec = recommend(TriageInputs(phq9_total=6), config)
    assert rec.urgency == "routine"
    assert "cssrs" not in rec.needs


def test_config_gad7_severe_always_both() -> None:
    config = TriageConfig(gad7_severe_preference_may_select_monotherapy=False)
    assert recommend(TriageInputs(gad7_total=17, preference="therapy"), config).pathway == "both"


def test_config_pregnancy_rule_requires_medication_preference() -> None:
    config = TriageConfig(pregnancy_rule_requires_medication_preference=True)
    inputs = phq(12, pregnant_or_postpartum=True, preference="therapy")
    assert recommend(inputs, config).pathway == "therapy"
    assert recommend(replace(inputs, preference="unsure"), config).pathway == "both"


def test_config_band_edges_move() -> None:
    config = TriageConfig(phq9_mild=6)
    assert recommend(phq(5), config).pathway == "none"
    assert recommend(phq(6), config).pathway == "therapy"


def test_config_rejects_unordered_edges() -> None:
    with pytest.raises(ValueError, match="PHQ-9"):
        TriageConfig(phq9_moderate=16)
    with pytest.raises(ValueError, match="GAD-7"):
        TriageConfig(gad7_severe=9)
    with pytest.raises(ValueError, match="lower-case"):
        TriageConfig(prescriber_managed_medications=("Lithium",))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phq9_total": 28}, "phq9_total"),
        ({"phq9_total": -1}, "phq9_total"),
        ({"phq9_item9": 4}, "phq9_item9"),
        ({"gad7_total": 22}, "gad7_total"),
        ({"phq9_total": 1, "phq9_item9": 2}, "cannot exceed"),
        ({"antidepressant_trials": -1}, "antidepressant_trials"),
        ({"cssrs_level": "severe"}, "cssrs_level"),
        ({"preference": "meds"}, "preference"),
    ],
)
def test_inputs_reject_out_of_range(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TriageInputs(**kwargs)


def test_inputs_reject_single_string_medications() -> None:
    with pytest.raises(TypeError):
        TriageInputs(current_medications="lithium")  # type: ignore[arg-type]


# ---------------- Properties ----------------------------------------------------------------------------------

MEDICATION_ENTRIES = ["Lithium carbonate 300 mg", "sertraline 50mg", "Quetiapine", "Abilify", "ibuprofen"]
JARGON = ("PHQ", "GAD", "C-SSRS", "MDQ", "AUDIT", "PCL", "psychosis", "bipolar", "mania", "SUD", "failed")


@st.composite
def triage_inputs(draw: st.DrawFn) -> TriageInputs:
    phq9_total = draw(st.none() | st.integers(0, 27))
    item9_max = 3 if phq9_total is None else min(3, phq9_total)
    return TriageInputs(
        phq9_total=phq9_total,
        phq9_item9=draw(st.none() | st.integers(0, item9_max)),
        phq9_prorated=draw(st.booleans()),
        phq2_positive=draw(st.none() | st.booleans()),
        gad7_total=draw(st.none() | st.integers(0, 21)),
        gad2_positive=draw(st.none() | st.booleans()),
        cssrs_level=draw(st.sampled_from([None, "none", "low", "moderate", "high"])),
        mdq_positive=draw(st.none() | st.booleans()),
        auditc_positive=draw(st.none() | st.booleans()),
        pcl5_positive=draw(st.none() | st.booleans()),
        history_bipolar=draw(st.booleans()),
        history_psychosis=draw(st.booleans()),
        current_psychosis_or_mania=draw(st.booleans()),
        antidepressant_trials=draw(st.integers(0, 4)),
        pregnant_or_postpartum=draw(st.booleans()),
        trauma_reported=draw(st.booleans()),
        current_medications=tuple(draw(st.lists(st.sampled_from(MEDICATION_ENTRIES), max_size=3))),
        preference=draw(st.sampled_from(["therapy", "medication", "both", "unsure"])),
        imminent_risk_reported=draw(st.booleans()),
    )


@given(triage_inputs())
def test_property_emergency_iff_self_scheduling_stopped(inputs: TriageInputs) -> None:
    # §7.3 S0 "stop self-scheduling" exactly in an emergency.
    rec = recommend(inputs)
    emergency = inputs.cssrs_level == "high" or inputs.imminent_risk_reported
    assert (rec.urgency == "emergency") is emergency
    assert rec.self_scheduling_allowed is not emergency
    assert (rec.pathway == "urgent") is emergency


@given(triage_inputs())
def test_property_pathway_never_none_when_symptoms_indicate_care(inputs: TriageInputs) -> None:
    # §7.3 S3: PHQ-9 >= 5 -> at least therapy; GAD-7 >= 10 -> evaluation and therapy/medication.
    rec = recommend(inputs)
    if (inputs.phq9_total or 0) >= 5 or (inputs.gad7_total or 0) >= 10:
        assert rec.pathway != "none"


@given(triage_inputs(), st.integers(0, 27))
def test_property_raising_phq9_never_lowers_intensity(inputs: TriageInputs, higher: int) -> None:
    # Intensity order none < therapy < psychiatry < both < urgent (PATHWAY_INTENSITY, justified in rules.py).
    low_total = inputs.phq9_total if inputs.phq9_total is not None else 0
    item9 = inputs.phq9_item9
    base = replace(inputs, phq9_total=low_total, phq9_item9=None if item9 is None else min(item9, low_total))
    raised = replace(base, phq9_total=max(low_total, higher))
    assert PATHWAY_INTENSITY[recommend(raised).pathway] >= PATHWAY_INTENSITY[recommend(base).pathway]


@given(triage_inputs())
def test_property_trace_lists_every_rule_in_order(inputs: TriageInputs) -> None:
    rec = recommend(inputs)
    assert tuple(step.rule for step in rec.rule_trace) == RULE_ORDER
    assert all(step.outcome for step in rec.rule_trace)


@given(triage_inputs())
def test_property_reasons_never_empty_and_plain(inputs: TriageInputs) -> None:
    rec = recommend(inputs)
    assert rec.reasons
    assert all(reason.strip() for reason in rec.reasons)
    assert len(set(rec.reasons)) == len(rec.reasons)
    for reason in rec.reasons:
        assert not any(word.lower() in reason.lower() for word in JARGON), reason


@settings(max_examples=50)
@given(triage_inputs())
def test_property_pure_and_deterministic(inputs: TriageInputs) -> None:
    assert recommend(inputs) == recommend(inputs)


@given(triage_inputs())
def test_property_urgent_needs_same_day_contact(inputs: TriageInputs) -> None:
    # §7.3 S1 "clinician contact same day"; S0 hand-off to the on-call clinician.
    rec = recommend(inputs)
    if rec.urgency == "urgent":
        assert "same_day_clinician_contact" in rec.needs
    if rec.urgency == "emergency":
        assert "on_call_clinician_handoff" in rec.needs
        assert any("988" in reason for reason in rec.reasons)
