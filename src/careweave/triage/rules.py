"""Triage decision procedure of ``clinical-spec.md`` §7.3 as pure functions (no I/O, no clock, no database).

``recommend(inputs, config)`` evaluates every rule of §7.3 in order — STEP 0 emergency, STEP 1 urgent,
STEP 2 psychiatry required, STEP 3 severity with preference, STEP 4 substance use, STEP 5 measurement — and
returns a :class:`Recommendation` with

* ``reasons``: plain-language text for the patient;
* ``rule_trace``: every rule, in the fixed order of :data:`RULE_ORDER`, with its inputs and whether it fired,
  so that a clinician sees exactly what produced the routing (§7.3: "every automated routing decision must be
  shown to a clinician with the inputs that produced it, and be overridable with a recorded reason").

The software flags and recommends; it does not diagnose. Recording the AuditEvent, creating tasks and
contacting the on-call clinician (§7.3 STEP 0) are the caller's job; this module only says they are needed.

Where §7.3 leaves a point open, the most conservative reading is the default of a :class:`TriageConfig` field,
and the comment on that field cites the section. Those assumptions are also listed in the field comments below
(search for "ASSUMPTION").
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args

Pathway = Literal["therapy", "psychiatry", "both", "urgent", "none"]
Urgency = Literal["emergency", "urgent", "routine"]
CssrsLevel = Literal["none", "low", "moderate", "high"]
Preference = Literal["therapy", "medication", "both", "unsure"]

# Order of care intensity. The depression and anxiety results of §7.3 STEP 3 are combined by taking the more
# intensive one, and the monotonicity property tests rely on this order:
#   none < therapy < psychiatry < both < urgent
# * none -> therapy: any care is more than self-care/rescreen (§7.3 STEP 3 "0-4 no treatment indicated").
# * therapy -> psychiatry: stepped care escalates *to* psychiatric (prescriber) care (§7.1 collaborative-care
#   row "escalate to psychiatric care when not attaining goals"; ICSI row "refer to ... specialty clinician");
#   prescriber care adds medication, with its risks and monitoring (§6.3, §6.4).
# * psychiatry -> both: "both" is therapy *plus* prescriber (§7.3 STEP 3 "BOTH (therapy + prescriber)").
# * both -> urgent: the emergency pathway overrides every other result (§7.3 STEP 0, §7.2 point 2).
PATHWAY_INTENSITY: Mapping[str, int] = MappingProxyType(
    {"none": 0, "therapy": 1, "psychiatry": 2, "both": 3, "urgent": 4}
)

# Every rule id, in evaluation order. ``Recommendation.rule_trace`` always lists exactly these, in this order.
RULE_ORDER: tuple[str, ...] = (
    "step0.emergency.cssrs_high",
    "step0.emergency.imminent_risk_reported",
    "step1.urgent.cssrs_moderate",
    "step1.urgent.item9_without_cssrs",
    "step1.urgent.psychosis_or_mania",
    "step1.risk.cssrs_low",
    "step2.psychiatry.mdq_positive",
    "step2.psychiatry.history_bipolar",
    "step2.psychiatry.history_psychosis",
    "step2.psychiatry.managed_medication",
    "step2.psychiatry.pregnancy_moderate_plus",
    "step2.psychiatry.treatment_resistant",
    "step2.psychiatry.oud_or_complex_sud",
    "step2.psychiatry.with_therapy",
    "step3.screen.no_screening_data",
    "step3.screen.phq2_positive_without_phq9",
    "step3.screen.gad2_positive_without_gad7",
    "step3.depression.prorated_phq9",
    "step3.depression.phq9_0_4",
    "step3.depression.phq9_5_9",
    "step3.depression.phq9_10_14",
    "step3.depression.phq9_15_19",
    "step3.depression.phq9_20_27",
    "step3.anxiety.gad7_0_9",
    "step3.anxiety.gad7_10_14",
    "step3.anxiety.gad7_15_21",
    "step3.trauma.pcl5_positive",
    "step3.trauma.pcl5_needed",
    "step3.combine.more_intensive",
    "step4.substance.auditc_positive",
    "step5.measurement.repeat_measures",
    "final.pathway",
)

# Lithium, clozapine and the antipsychotics named in spec §6.1 ("Mood stabilizers": lithium;
# "Second-generation antipsychotics"; "First-generation antipsychotics"). §7.3 STEP 2: "on
# lithium/clozapine/antipsychotic needing management". Generic names only: §6.1 lists no brand names, so brand
# names are not matched (extend this tuple in configuration if the intake form allows brand names).
PRESCRIBER_MANAGED_MEDICATIONS: tuple[str, ...] = (
    "lithium",
    "clozapine",
    "aripiprazole",
    "brexpiprazole",
    "olanzapine",
    "risperidone",
    "quetiapine",
    "iloperidone",
    "ziprasidone",
    "lurasidone",
    "paliperidone",
    "haloperidol",
    "perphenazine",
    "pimozide",
    "thioridazine",
)

CRISIS_LINE_REASON = (
    "You can reach the 988 Suicide & Crisis Lifeline any time, day or night: call or text 988, "
    "or use the chat on the 988 Lifeline website."
)
EMERGENCY_911_REASON = "If you are in immediate danger, call 911 now."
SAFETY_NET_REASON = (
    "If you feel unsafe at any time, call or text 988 (Suicide & Crisis Lifeline), "
    "or call 911 if you are in immediate danger."
)
FALLBACK_REASON = "Your care team will review your answers with you."


@dataclass(frozen=True)
class TriageInputs:
    """What the patient reported. ``None`` means "not collected yet", never "negative"."""

    phq9_total: int | None = None
    phq9_item9: int | None = None
    phq9_prorated: bool = False
    phq2_positive: bool | None = None  # PHQ-2 screened positive but PHQ-9 not yet done
    gad7_total: int | None = None
    gad2_positive: bool | None = None
    cssrs_level: CssrsLevel | None = None
    mdq_positive: bool | None = None
    auditc_positive: bool | None = None
    pcl5_positive: bool | None = None
    history_bipolar: bool = False
    history_psychosis: bool = False
    current_psychosis_or_mania: bool = (
        False  # reported current symptoms (spec §7.3 STEP 1 psychosis/mania flags)
    )
    antidepressant_trials: int = 0  # prior adequate antidepressant trials
    pregnant_or_postpartum: bool = False
    trauma_reported: bool = False
    current_medications: tuple[str, ...] = ()  # free-text names as the patient entered them
    preference: Preference = "unsure"
    # Patient says they cannot keep safe, or reports imminent intent/plan or homicidal intent (§7.3 STEP 0).
    imminent_risk_reported: bool = False

    def __post_init__(self) -> None:
        _check_range("phq9_total", self.phq9_total, 0, 27)  # §1.1: total 0-27
        _check_range("phq9_item9", self.phq9_item9, 0, 3)  # §1.1: items scored 0-3
        _check_range("gad7_total", self.gad7_total, 0, 21)  # §1.3: total 0-21
        if self.antidepressant_trials < 0:
            raise ValueError("antidepressant_trials must be >= 0")
        if self.phq9_item9 is not None and self.phq9_total is not None and self.phq9_item9 > self.phq9_total:
            raise ValueError("phq9_item9 cannot exceed phq9_total")
        if self.cssrs_level is not None and self.cssrs_level not in get_args(CssrsLevel):
            raise ValueError(f"unknown cssrs_level {self.cssrs_level!r}")
        if self.preference not in get_args(Preference):
            raise ValueError(f"unknown preference {self.preference!r}")
        if isinstance(self.current_medications, str):
            raise TypeError("current_medications must be a tuple of names, not a single string")


@dataclass(frozen=True)
class TriageConfig:
    """Every threshold of §7.3, with the spec default. §7.3: "All thresholds are configuration"."""

    # PHQ-9 band edges (§1.1, Kroenke 2001: cut points 5, 10, 15, 20).
    phq9_mild: int = 5
    phq9_moderate: int = 10
    phq9_moderately_severe: int = 15
    phq9_severe: int = 20
    # GAD-7 (§1.3 bands; §7.3 STEP 3 "gad7 >= 10 -> evaluation; 10-14 ...; >= 15 default BOTH").
    # gad7_mild is used only for wording: below gad7_moderate the GAD-7 routes nowhere (§1.3 cut point 10).
    gad7_mild: int = 5
    gad7_moderate: int = 10
    gad7_severe: int = 15
    # PHQ-9 item 9 (§1.1 "any score >= 1 on item 9 triggers ... C-SSRS"; §7.3 STEP 1).
    item9_positive_min: int = 1
    # ASSUMPTION (§1.1 platform rule (a): "if item 9 is missing, flag 'suicide item unanswered', require
    # clinician follow-up"): a PHQ-9 total with item 9 unanswered and no C-SSRS is treated like a positive
    # item 9 (C-SSRS needed, same-day contact). Most conservative reading; set False to only flag it in the
    # trace.
    item9_missing_requires_cssrs: bool = True
    # ASSUMPTION (§1.7 "Low -> Behavioral-health referral, safety plan, monitoring"; §7.1 suicide-risk row
    # "low -> referral + safety plan"): §7.3 names no pathway for C-SSRS low / moderate or for a positive item
    # 9 awaiting the C-SSRS, so the pathway is at least this (a behavioral-health referral). Urgency is
    # unchanged for "low" (§7.3 STEP 1 lists only "moderate").
    suicide_risk_min_pathway: Pathway = "therapy"
    # §7.3 STEP 2 ">= 2 failed adequate antidepressant trials" (treatment-resistant, NICE-style definition).
    treatment_resistant_trials: int = 2
    # §7.3 STEP 2 "pregnancy/postpartum with moderate+ symptoms" (platform policy). Moderate = PHQ-9 band
    # 10-14 (§1.1) or GAD-7 band 10-14 (§1.3).
    pregnancy_moderate_phq9: int = 10
    pregnancy_moderate_gad7: int = 10
    # ASSUMPTION (§7.3 STEP 2 "... and medication being considered"): medication is an option in every
    # moderate+ band (§7.3 STEP 3), so by default the rule fires whatever the stated preference (most
    # conservative). Set True to skip the rule when the patient prefers therapy only.
    pregnancy_rule_requires_medication_preference: bool = False
    # §7.3 STEP 2 "on lithium/clozapine/antipsychotic needing management"; names from §6.1.
    prescriber_managed_medications: tuple[str, ...] = PRESCRIBER_MANAGED_MEDICATIONS
    # §7.3 STEP 2 "PSYCHIATRY (+ therapy as indicated)": therapy is indicated when PHQ-9 >= 5 (§7.3 STEP 3
    # "5-9 -> THERAPY"), GAD-7 >= 10 (§7.3 STEP 3 GAD-7 line), PCL-5 positive, or the patient prefers
    # therapy/both.
    therapy_indicated_phq9: int = 5
    therapy_indicated_gad7: int = 10
    # §7.3 STEP 3 "10-14 -> THERAPY or MEDICATION per patient_preference": with preference "unsure" choose the
    # least intrusive option first (§7.1 NICE NG222: "less severe" depression, PHQ-9 < 16, "offer least
    # intrusive effective options first"); the reasons say medication is an option to discuss.
    unsure_moderate_pathway: Pathway = "therapy"
    # §7.3 STEP 3 "gad7 ... >= 15 default BOTH": "default" read as in the PHQ-9 15-19 line ("default BOTH;
    # preference may select monotherapy with close follow-up"). Set False to always route GAD-7 >= 15 to both.
    gad7_severe_preference_may_select_monotherapy: bool = True
    # ASSUMPTION (spec silent: §1.8 defines only the PCL-5 cut point, §7 does not route trauma): a positive
    # PCL-5 (provisional PTSD) means therapy (trauma-focused) is indicated and a PTSD evaluation is needed.
    pcl5_positive_indicates_therapy: bool = True
    # ASSUMPTION (spec silent): trauma reported without a PCL-5 result asks for a PCL-5 (§1.8); it does not by
    # itself change the pathway.
    trauma_report_requests_pcl5: bool = True
    # ASSUMPTION (§7.3 STEP 3 "apply analogous GAD-7 bands"; STEP 5 "schedule PHQ-9/GAD-7 at each contact"):
    # when a patient has no depression (or anxiety) screen at all, the full measure is requested.
    request_missing_core_measures: bool = True
    # §7.3 STEP 5: "schedule PHQ-9/GAD-7 at each contact".
    followup_measures: tuple[str, ...] = ("phq-9", "gad-7")
    # §7.3 STEP 3 "5-9 -> THERAPY ... rescreen in 2-4 weeks".
    rescreen_weeks: tuple[int, int] = (2, 4)

    def __post_init__(self) -> None:
        phq9 = (self.phq9_mild, self.phq9_moderate, self.phq9_moderately_severe, self.phq9_severe)
        if list(phq9) != sorted(set(phq9)):
            raise ValueError("PHQ-9 band edges must be strictly increasing")
        if not self.gad7_mild < self.gad7_moderate < self.gad7_severe:
            raise ValueError("GAD-7 band edges must be strictly increasing")
        for name in ("suicide_risk_min_pathway", "unsure_moderate_pathway"):
            if getattr(self, name) not in ("therapy", "psychiatry", "both"):
                raise ValueError(f"{name} must be therapy, psychiatry or both")
        if any(med != med.lower().strip() or not med for med in self.prescriber_managed_medications):
            raise ValueError("prescriber_managed_medications must be non-empty lower-case names")


DEFAULT = TriageConfig()


@dataclass(frozen=True)
class TraceStep:
    """One evaluated rule, for clinicians."""

    rule: str
    fired: bool
    inputs: dict[str, object] = field(hash=False)
    outcome: str


@dataclass(frozen=True)
class Recommendation:
    pathway: Pathway
    urgency: Urgency
    reasons: tuple[str, ...]  # plain language, for the patient
    rule_trace: tuple[TraceStep, ...]  # for clinicians: every rule of RULE_ORDER, in order
    self_scheduling_allowed: bool  # False when urgency is emergency (§7.3 STEP 0 "stop self-scheduling")
    needs: tuple[str, ...]  # follow-ups the rules call for
    measures: tuple[str, ...]  # STEP 5: measures to repeat


# ------------------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------------------


def _check_range(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def more_intensive(first: Pathway, second: Pathway) -> Pathway:
    """The more intensive of two pathways, per :data:`PATHWAY_INTENSITY`."""
    return first if PATHWAY_INTENSITY[first] >= PATHWAY_INTENSITY[second] else second


def _add_therapy(pathway: Pathway) -> Pathway:
    """The pathway with therapy added (prescriber care stays): none->therapy, psychiatry->both."""
    if pathway == "none":
        return "therapy"
    if pathway == "psychiatry":
        return "both"
    return pathway


def matched_medications(medications: Iterable[str], names: Iterable[str]) -> tuple[str, ...]:
    """Configured names found as whole words in free-text medication entries, case-insensitively.

    "Lithium carbonate 300 mg" matches "lithium"; "LITHIUM" matches; "lithiumx" does not.
    """
    text = " | ".join(medications).lower()
    found = (name for name in names if re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", text))
    return tuple(dict.fromkeys(found))


class _Builder:
    """Collects the trace, patient reasons and needs while the rules run (local state only)."""

    _SECTIONS = ("emergency", "safety", "symptoms", "care", "other")

    def __init__(self) -> None:
        self.trace: list[TraceStep] = []
        self.needs: list[str] = []
        self._reasons: dict[str, list[str]] = {section: [] for section in self._SECTIONS}

    def rule(
        self, rule: str, fired: bool, inputs: dict[str, object], outcome: str, otherwise: str = "not met"
    ) -> bool:
        """Record one evaluated rule; ``outcome`` describes its effect when it fires."""
        self.trace.append(
            TraceStep(rule=rule, fired=fired, inputs=inputs, outcome=outcome if fired else otherwise)
        )
        return fired

    def reason(self, text: str, section: str = "care") -> None:
        self._reasons[section].append(text)

    def need(self, *names: str) -> None:
        self.needs.extend(names)

    def reasons(self, emergency: bool) -> tuple[str, ...]:
        # In an emergency the patient sees only the safety instructions of STEP 0 (nothing that distracts).
        sections = ("emergency",) if emergency else self._SECTIONS
        texts = [text for section in sections for text in self._reasons[section]]
        return tuple(dict.fromkeys(texts)) or (FALLBACK_REASON,)


# ------------------------------------------------------------------------------------------------------------
# STEP 0 — Emergency
# ------------------------------------------------------------------------------------------------------------


def _step0_emergency(inputs: TriageInputs, b: _Builder) -> bool:
    high = b.rule(
        "step0.emergency.cssrs_high",
        inputs.cssrs_level == "high",
        {"cssrs_level": inputs.cssrs_level},
        "C-SSRS high (imminent) risk: emergency pathway",
    )
    imminent = b.rule(
        "step0.emergency.imminent_risk_reported",
        inputs.imminent_risk_reported,
        {"imminent_risk_reported": inputs.imminent_risk_reported},
        "patient reports imminent intent/plan, homicidal intent or cannot keep safe: emergency pathway",
    )
    emergency = high or imminent
    if emergency:
        b.reason(
            "Your safety matters most right now. Online booking is paused while we connect you "
            "with a clinician who is on call.",
            "emergency",
        )
        b.reason(EMERGENCY_911_REASON, "emergency")
        b.reason(CRISIS_LINE_REASON, "emergency")
        b.need("crisis_line_instructions", "on_call_clinician_handoff", "urgent_task")
        b.need("emergency_services_if_imminent_danger_and_location_known")
    return emergency


# ------------------------------------------------------------------------------------------------------------
# STEP 1 — Urgent (same-day clinician contact) and C-SSRS low
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RiskFindings:
    urgent: bool
    suicide_risk: bool  # C-SSRS low/moderate, or item 9 positive/unanswered awaiting the C-SSRS
    psychosis_or_mania: bool


def _item9_awaits_cssrs(inputs: TriageInputs, config: TriageConfig) -> tuple[bool, str]:
    if inputs.cssrs_level is not None:
        return False, "C-SSRS already done: its level, not item 9, sets urgency (§7.2 point 2)"
    if inputs.phq9_item9 is not None:
        positive = inputs.phq9_item9 >= config.item9_positive_min
        return (
            positive,
            "item 9 positive and no C-SSRS yet: same-day risk assessment" if positive else "item 9 = 0",
        )
    if inputs.phq9_total is not None and config.item9_missing_requires_cssrs:
        return (
            True,
            "suicide item unanswered (§1.1 platform rule) and no C-SSRS yet: same-day risk assessment",
        )
    return False, "no item 9 answer"


def _step1_urgent(inputs: TriageInputs, config: TriageConfig, b: _Builder) -> _RiskFindings:
    moderate = b.rule(
        "step1.urgent.cssrs_moderate",
        inputs.cssrs_level == "moderate",
        {"cssrs_level": inputs.cssrs_level},
        "C-SSRS moderate: same-day clinician risk assessment and safety plan",
    )
    awaits, outcome = _item9_awaits_cssrs(inputs, config)
    item9 = b.rule(
        "step1.urgent.item9_without_cssrs",
        awaits,
        {
            "phq9_item9": inputs.phq9_item9,
            "phq9_total": inputs.phq9_total,
            "cssrs_level": inputs.cssrs_level,
            "item9_positive_min": config.item9_positive_min,
        },
        outcome,
        otherwise=outcome,
    )
    psychosis = b.rule(
        "step1.urgent.psychosis_or_mania",
        inputs.current_psychosis_or_mania,
        {"current_psychosis_or_mania": inputs.current_psychosis_or_mania},
        "current psychosis/mania symptoms: same-day clinician contact and prescriber evaluation",
    )
    low = b.rule(
        "step1.risk.cssrs_low",
        inputs.cssrs_level == "low",
        {"cssrs_level": inputs.cssrs_level},
        "C-SSRS low: behavioral-health referral, safety plan, monitoring (§1.7); urgency unchanged",
    )
    urgent = moderate or item9 or psychosis
    _risk_reasons_and_needs(b, moderate=moderate, item9=item9, psychosis=psychosis, low=low)
    return _RiskFindings(urgent=urgent, suicide_risk=moderate or item9 or low, psychosis_or_mania=psychosis)


def _risk_reasons_and_needs(b: _Builder, *, moderate: bool, item9: bool, psychosis: bool, low: bool) -> None:
    if moderate or item9 or psychosis:
        b.need("same_day_clinician_contact", "safety_plan")
        b.reason("A clinician from our team will contact you today to check in with you.", "safety")
    if item9:
        b.need("cssrs")
        b.reason(
            "Thank you for answering the question about thoughts of death or self-harm. "
            "The clinician will ask a few more questions about how you are doing.",
            "safety",
        )
    if moderate:
        b.reason("Together you will make a plan to help you stay safe.", "safety")
    if low:
        b.need("safety_plan")
        b.reason(
            "Thank you for sharing your answers about thoughts of death or suicide. "
            "Your care team will work with you on a plan to help you stay safe.",
            "safety",
        )
    if psychosis:
        b.need("prescriber_evaluation")
        b.reason(
            "Some of the experiences you described are best looked at soon, "
            "including a visit with a prescriber (a clinician who can prescribe medication).",
            "safety",
        )
    if moderate or item9 or low or psychosis:
        b.reason(SAFETY_NET_REASON, "safety")


# ------------------------------------------------------------------------------------------------------------
# STEP 2 — Psychiatry (prescriber) required
# ------------------------------------------------------------------------------------------------------------


def _therapy_indicated(inputs: TriageInputs, config: TriageConfig) -> bool:
    return (
        (inputs.phq9_total is not None and inputs.phq9_total >= config.therapy_indicated_phq9)
        or (inputs.gad7_total is not None and inputs.gad7_total >= config.therapy_indicated_gad7)
        or (bool(inputs.pcl5_positive) and config.pcl5_positive_indicates_therapy)
        or inputs.preference in ("therapy", "both")
    )


def _pregnancy_rule_fires(inputs: TriageInputs, config: TriageConfig) -> bool:
    moderate_plus = (
        inputs.phq9_total is not None and inputs.phq9_total >= config.pregnancy_moderate_phq9
    ) or (inputs.gad7_total is not None and inputs.gad7_total >= config.pregnancy_moderate_gad7)
    preference_ok = not config.pregnancy_rule_requires_medication_preference or inputs.preference != "therapy"
    return inputs.pregnant_or_postpartum and moderate_plus and preference_ok


def _step2_psychiatry(
    inputs: TriageInputs, config: TriageConfig, b: _Builder, risk: _RiskFindings
) -> Pathway:
    """Pathway floor from STEP 2 (and from STEP 1 psychosis/mania): "none", "psychiatry" or "both"."""
    mdq = b.rule(
        "step2.psychiatry.mdq_positive",
        bool(inputs.mdq_positive),
        {"mdq_positive": inputs.mdq_positive},
        "MDQ positive: prescriber evaluation before antidepressant monotherapy (§1.5)",
    )
    bipolar = b.rule(
        "step2.psychiatry.history_bipolar",
        inputs.history_bipolar,
        {"history_bipolar": inputs.history_bipolar},
        "history of bipolar disorder: psychiatry required",
    )
    psychosis = b.rule(
        "step2.psychiatry.history_psychosis",
        inputs.history_psychosis,
        {"history_psychosis": inputs.history_psychosis},
        "history of psychosis / schizophrenia-spectrum: psychiatry required",
    )
    meds = matched_medications(inputs.current_medications, config.prescriber_managed_medications)
    on_meds = b.rule(
        "step2.psychiatry.managed_medication",
        bool(meds),
        {"current_medications": inputs.current_medications, "matched": meds},
        "on lithium/clozapine/antipsychotic needing prescriber management",
    )
    pregnancy = b.rule(
        "step2.psychiatry.pregnancy_moderate_plus",
        _pregnancy_rule_fires(inputs, config),
        {
            "pregnant_or_postpartum": inputs.pregnant_or_postpartum,
            "phq9_total": inputs.phq9_total,
            "gad7_total": inputs.gad7_total,
            "phq9_threshold": config.pregnancy_moderate_phq9,
            "gad7_threshold": config.pregnancy_moderate_gad7,
            "preference": inputs.preference,
        },
        "pregnancy/postpartum with moderate+ symptoms: prescriber reviews medication options "
        "(platform policy)",
    )
    resistant = b.rule(
        "step2.psychiatry.treatment_resistant",
        inputs.antidepressant_trials >= config.treatment_resistant_trials,
        {
            "antidepressant_trials": inputs.antidepressant_trials,
            "threshold": config.treatment_resistant_trials,
        },
        "inadequate response to >= threshold adequate antidepressant trials (treatment-resistant): "
        "psychiatry required",
    )
    b.rule(
        "step2.psychiatry.oud_or_complex_sud",
        False,
        {},
        "",
        otherwise="not evaluable: no OUD / complex-SUD input is collected; clinician to review (§7.3 STEP 2)",
    )
    required = mdq or bipolar or psychosis or on_meds or pregnancy or resistant or risk.psychosis_or_mania
    therapy = _therapy_indicated(inputs, config)
    with_therapy = b.rule(
        "step2.psychiatry.with_therapy",
        required and therapy,
        {
            "prescriber_required": required,
            "current_psychosis_or_mania": risk.psychosis_or_mania,
            "phq9_total": inputs.phq9_total,
            "gad7_total": inputs.gad7_total,
            "pcl5_positive": inputs.pcl5_positive,
            "preference": inputs.preference,
        },
        "psychiatry + therapy as indicated: both",
    )
    _psychiatry_reasons(b, mdq=mdq, history=bipolar or psychosis, meds=meds, pregnancy=pregnancy)
    if resistant:
        b.reason(
            "Because you have already tried two or more antidepressants, a prescriber can help "
            "find what works best for you."
        )
    if required:
        b.need("prescriber_evaluation")
    if with_therapy:
        b.reason("Talk therapy alongside care from a prescriber is also recommended.")
    if not required:
        return "none"
    return "both" if with_therapy else "psychiatry"


def _psychiatry_reasons(
    b: _Builder, *, mdq: bool, history: bool, meds: tuple[str, ...], pregnancy: bool
) -> None:
    prescriber = "a prescriber (a psychiatrist or psychiatric nurse practitioner)"
    if mdq:
        b.reason(
            f"Some of your answers about changes in mood and energy are best reviewed by {prescriber} "
            "before any antidepressant is started."
        )
    if history:
        b.reason(f"Because of your health history, a visit with {prescriber} is recommended.")
    if meds:
        b.reason(
            f"Because you take {', '.join(meds)}, a visit with {prescriber} who can manage it is recommended."
        )
    if pregnancy:
        b.reason(
            f"Because you are pregnant or have recently given birth, {prescriber} will go over "
            "medication options with you, to help choose what is safest for you."
        )


# ------------------------------------------------------------------------------------------------------------
# STEP 3 — Severity with preference
# ------------------------------------------------------------------------------------------------------------

_Level = Literal["minimal", "mild", "moderate", "high", "severe"]
_PREFERENCE_WORDS: Mapping[str, str] = MappingProxyType(
    {"therapy": "talk therapy", "medication": "medication", "both": "both talk therapy and medication"}
)
_BY_PREFERENCE: Mapping[str, Pathway] = MappingProxyType(
    {"therapy": "therapy", "medication": "psychiatry", "both": "both"}
)


def _pathway_for_level(
    level: _Level, preference: Preference, config: TriageConfig, monotherapy_allowed: bool = True
) -> Pathway:
    """§7.3 STEP 3 / §7.2: the pathway for one severity level and the stated preference.

    "medication" maps to "psychiatry": medication needs a prescriber
    (§7.3 STEP 3 "BOTH (therapy + prescriber)").
    """
    if level == "minimal":
        return "none"
    if level == "mild":
        return "therapy"  # "5-9 -> THERAPY (or watchful waiting/low-intensity)", whatever the preference
    if level == "moderate":
        return _BY_PREFERENCE.get(preference, config.unsure_moderate_pathway)
    if level == "high" and monotherapy_allowed:
        return _BY_PREFERENCE.get(preference, "both")  # "default BOTH; preference may select monotherapy"
    return "both"  # "20-27 -> BOTH (therapy + prescriber), expedited"


_LEVEL_ORDER: tuple[_Level, ...] = ("minimal", "mild", "moderate", "high", "severe")


def _preference_reason(level: _Level, preference: Preference, pathway: Pathway) -> str | None:
    """What the patient is told about their stated preference, given the highest symptom level found and the
    *final* pathway (so the text never contradicts a pathway widened by STEP 1/2 or by a positive PCL-5)."""
    if level == "minimal" or pathway in ("none", "urgent"):
        return None
    if preference == "unsure":
        if level == "moderate" and pathway == "therapy":
            return (
                "You weren't sure which kind of care you would like, so talk therapy is suggested as a "
                "gentle first step. Medication is also an option you can discuss with your care team."
            )
        return None
    words = _PREFERENCE_WORDS[preference]
    if level == "mild" and preference != "therapy" and pathway == "therapy":
        return (
            f"You said you would prefer {words}. For mild symptoms, talk therapy or guided self-help is "
            "usually tried first, and you can talk about medication with your care team."
        )
    if level == "high" and pathway == _BY_PREFERENCE[preference] and pathway != "both":
        return (
            f"You said you would prefer {words} on its own. That is an option; your care team will check in "
            "with you more often to see how it is going."
        )
    if level in ("high", "severe") and preference != "both":
        return (
            f"You said you would prefer {words}. At this level of symptoms, combining talk therapy and "
            "medication is usually recommended, and you can talk through your options with your care team."
        )
    return f"You said you would prefer {words}."


def _symptom_reason(
    level: _Level, condition: str, config: TriageConfig, high_band_name: str = "moderately severe"
) -> str:
    low, high = config.rescreen_weeks
    texts = {
        "minimal": f"Your answers suggest few or no symptoms of {condition} right now.",
        "mild": f"Your answers suggest mild {condition}. Talk therapy or guided self-help is usually a good "
        f"first step, and we will check in again in {low}-{high} weeks.",
        "moderate": f"Your answers suggest moderate {condition}. Talk therapy, medication, or both can help, "
        "and your preference guides the choice.",
        "high": f"Your answers suggest {high_band_name} {condition}. Care that combines talk therapy and "
        "medication is usually recommended.",
        "severe": f"Your answers suggest severe {condition}. Care that combines talk therapy and medication "
        "is recommended, and we will offer you an appointment as soon as possible.",
    }
    return texts[level]


def _apply_level(
    level: _Level,
    symptom_reason: str,
    inputs: TriageInputs,
    config: TriageConfig,
    b: _Builder,
    monotherapy_allowed: bool = True,
) -> Pathway:
    pathway = _pathway_for_level(level, inputs.preference, config, monotherapy_allowed)
    b.reason(symptom_reason, "symptoms")
    if level == "severe":
        b.need("expedited_appointment")  # "20-27 -> BOTH (therapy + prescriber), expedited"
    return pathway


def _band_rules(
    rule_prefix: str, score: int | None, bands: list[tuple[str, str, int, int]], b: _Builder
) -> None:
    """One trace step per band, so the clinician sees every band edge that was checked."""
    for suffix, label, low, high in bands:
        b.rule(
            f"{rule_prefix}_{suffix}",
            score is not None and low <= score <= high,
            {"score": score, "band": (low, high)},
            f"score in {low}-{high} ({label})",
        )


def _phq9_level(score: int, config: TriageConfig) -> _Level:
    if score >= config.phq9_severe:
        return "severe"
    if score >= config.phq9_moderately_severe:
        return "high"
    if score >= config.phq9_moderate:
        return "moderate"
    return "mild" if score >= config.phq9_mild else "minimal"


def _gad7_level(score: int, config: TriageConfig) -> _Level:
    if score >= config.gad7_severe:
        return "high"  # §7.3 ">= 15 default BOTH", same wording as PHQ-9 15-19
    if score >= config.gad7_moderate:
        return "moderate"
    return "mild" if score >= config.gad7_mild else "minimal"


def _depression(inputs: TriageInputs, config: TriageConfig, b: _Builder) -> Pathway:
    score = inputs.phq9_total
    prorated = b.rule(
        "step3.depression.prorated_phq9",
        score is not None and inputs.phq9_prorated,
        {"phq9_total": score, "phq9_prorated": inputs.phq9_prorated},
        "PHQ-9 total is prorated (missing items): used for routing, flagged for clinician review (§1.1)",
    )
    c = config
    bands = [
        ("0_4", "none-minimal: self-care, rescreen", 0, c.phq9_mild - 1),
        ("5_9", "mild: therapy, rescreen in 2-4 weeks", c.phq9_mild, c.phq9_moderate - 1),
        (
            "10_14",
            "moderate: therapy or medication per preference",
            c.phq9_moderate,
            c.phq9_moderately_severe - 1,
        ),
        ("15_19", "moderately severe: default both", c.phq9_moderately_severe, c.phq9_severe - 1),
        ("20_27", "severe: both, expedited", c.phq9_severe, 27),
    ]
    _band_rules("step3.depression.phq9", score, bands, b)
    if prorated:
        b.reason(
            "A few questions were skipped, so part of your mood score was estimated from your other answers. "
            "Your care team will take this into account.",
            "symptoms",
        )
    if score is None:
        return "none"
    level = _phq9_level(score, config)
    return _apply_level(level, _symptom_reason(level, "depression", config), inputs, config, b)


def _anxiety(inputs: TriageInputs, config: TriageConfig, b: _Builder) -> Pathway:
    score = inputs.gad7_total
    c = config
    bands = [
        ("0_9", "below the evaluation cut point: rescreen", 0, c.gad7_moderate - 1),
        ("10_14", "moderate: therapy or medication per preference", c.gad7_moderate, c.gad7_severe - 1),
        ("15_21", "severe: default both", c.gad7_severe, 21),
    ]
    _band_rules("step3.anxiety.gad7", score, bands, b)
    if score is None:
        return "none"
    level = _gad7_level(score, config)
    if level == "mild":
        # §1.3 cut point >= 10 "for further evaluation"; §7.3 STEP 3 routes GAD-7 only from 10. Re-measured
        # (STEP 5).
        b.reason(
            "Your answers suggest mild anxiety. We will check in on this again at your next visit.",
            "symptoms",
        )
        return "none"
    if level == "minimal":
        b.reason("Your answers suggest few or no symptoms of anxiety right now.", "symptoms")
        return "none"
    b.need("anxiety_evaluation")  # §7.3 STEP 3 "gad7 >= 10 -> evaluation"
    reason = _symptom_reason(level, "anxiety", config, high_band_name="severe")  # GAD-7 15-21 "Severe" (§1.3)
    monotherapy = config.gad7_severe_preference_may_select_monotherapy
    return _apply_level(level, reason, inputs, config, b, monotherapy_allowed=monotherapy)


def _screening_gaps(inputs: TriageInputs, config: TriageConfig, b: _Builder) -> None:
    no_data = b.rule(
        "step3.screen.no_screening_data",
        not _has_screening_data(inputs),
        {"screening_data_present": _has_screening_data(inputs)},
        "no screening data: PHQ-9 and GAD-7 needed before a pathway can be suggested",
    )
    phq2 = b.rule(
        "step3.screen.phq2_positive_without_phq9",
        bool(inputs.phq2_positive) and inputs.phq9_total is None,
        {"phq2_positive": inputs.phq2_positive, "phq9_total": inputs.phq9_total},
        "PHQ-2 positive: administer the full PHQ-9 (§1.2)",
    )
    gad2 = b.rule(
        "step3.screen.gad2_positive_without_gad7",
        bool(inputs.gad2_positive) and inputs.gad7_total is None,
        {"gad2_positive": inputs.gad2_positive, "gad7_total": inputs.gad7_total},
        "GAD-2 positive: administer the full GAD-7 (§1.4)",
    )
    if no_data:
        b.reason(
            "We don't have enough information yet to suggest a type of care. Please complete the short "
            "questionnaires about mood and anxiety.",
            "symptoms",
        )
    if phq2 or gad2:
        b.reason(
            "Your first answers suggest a few more questions would help. Please complete the short "
            "follow-up questionnaire.",
            "symptoms",
        )
    if phq2:
        b.need("phq-9")
    if gad2:
        b.need("gad-7")
    if inputs.phq2_positive is False and inputs.phq9_total is None:
        b.reason("Your answers suggest few signs of low mood right now.", "symptoms")
    if inputs.gad2_positive is False and inputs.gad7_total is None:
        b.reason("Your answers suggest few signs of anxiety right now.", "symptoms")
    if config.request_missing_core_measures:
        if inputs.phq9_total is None and inputs.phq2_positive is None:
            b.need("phq-9")
        if inputs.gad7_total is None and inputs.gad2_positive is None:
            b.need("gad-7")


def _has_screening_data(inputs: TriageInputs) -> bool:
    values = (
        inputs.phq9_total,
        inputs.phq9_item9,
        inputs.phq2_positive,
        inputs.gad7_total,
        inputs.gad2_positive,
        inputs.cssrs_level,
        inputs.mdq_positive,
        inputs.auditc_positive,
        inputs.pcl5_positive,
    )
    return any(value is not None for value in values)


def _trauma(inputs: TriageInputs, config: TriageConfig, b: _Builder) -> bool:
    positive = b.rule(
        "step3.trauma.pcl5_positive",
        bool(inputs.pcl5_positive) and config.pcl5_positive_indicates_therapy,
        {"pcl5_positive": inputs.pcl5_positive},
        "PCL-5 positive (provisional PTSD, §1.8): trauma-focused therapy indicated, PTSD evaluation "
        "[assumption: spec §7 silent]",
    )
    needed = b.rule(
        "step3.trauma.pcl5_needed",
        inputs.trauma_reported and inputs.pcl5_positive is None and config.trauma_report_requests_pcl5,
        {"trauma_reported": inputs.trauma_reported, "pcl5_positive": inputs.pcl5_positive},
        "trauma reported without a PCL-5: request PCL-5 [assumption: spec silent]",
    )
    if positive:
        b.need("ptsd_evaluation")
        b.reason(
            "Your answers suggest that stressful or frightening experiences may still be affecting you. "
            "Talk therapy that focuses on this can help.",
            "symptoms",
        )
    if needed:
        b.need("pcl-5")
        b.reason(
            "Thank you for telling us about difficult experiences. A short questionnaire will help your care "
            "team understand how they may be affecting you."
        )
    return positive


def _highest_level(inputs: TriageInputs, config: TriageConfig) -> _Level | None:
    levels: list[_Level] = []
    if inputs.phq9_total is not None:
        levels.append(_phq9_level(inputs.phq9_total, config))
    if inputs.gad7_total is not None:
        gad7 = _gad7_level(inputs.gad7_total, config)
        levels.append("minimal" if gad7 == "mild" else gad7)  # GAD-7 5-9 routes nowhere (§1.3)
    return max(levels, key=_LEVEL_ORDER.index, default=None)


def _preference_follow_up(inputs: TriageInputs, config: TriageConfig, pathway: Pathway, b: _Builder) -> None:
    """Preference reason and "close follow-up" need, decided on the final pathway (§7.3 STEP 3 / §7.2)."""
    level = _highest_level(inputs, config)
    if level is None:
        return
    text = _preference_reason(level, inputs.preference, pathway)
    if text:
        b.reason(text)
    if level == "high" and pathway in ("therapy", "psychiatry"):
        b.need("close_follow_up")  # "preference may select monotherapy with close follow-up"


def _step3_severity(inputs: TriageInputs, config: TriageConfig, b: _Builder) -> Pathway:
    _screening_gaps(inputs, config, b)
    depression = _depression(inputs, config, b)
    anxiety = _anxiety(inputs, config, b)
    trauma = _trauma(inputs, config, b)
    combined = more_intensive(depression, anxiety)
    result = _add_therapy(combined) if trauma else combined
    b.rule(
        "step3.combine.more_intensive",
        depression != "none" or anxiety != "none" or trauma,
        {"depression": depression, "anxiety": anxiety, "pcl5_therapy": trauma},
        f"severity pathway: {result}",
        otherwise="no severity-based pathway",
    )
    return result


# ------------------------------------------------------------------------------------------------------------
# STEP 4 — Substance use; STEP 5 — Measurement-based follow-up
# ------------------------------------------------------------------------------------------------------------


def _step4_substance(inputs: TriageInputs, b: _Builder) -> None:
    # §7.3 STEP 4 does not change the pathway: "brief intervention/SUD assessment; integrate into plan".
    if b.rule(
        "step4.substance.auditc_positive",
        bool(inputs.auditc_positive),
        {"auditc_positive": inputs.auditc_positive},
        "AUDIT-C positive: brief intervention / SUD assessment, integrate into plan (pathway unchanged)",
    ):
        b.need("sud_assessment")
        b.reason(
            "Your answers about alcohol suggest it may help to talk about drinking with your care team. "
            "This can be part of your care plan.",
            "other",
        )


def _step5_measures(inputs: TriageInputs, config: TriageConfig, b: _Builder) -> tuple[str, ...]:
    has_data = _has_screening_data(inputs)
    b.rule(
        "step5.measurement.repeat_measures",
        has_data,
        {"measures": config.followup_measures},
        "registry: repeat measures at each contact; apply §2.3 treat-to-target",
        otherwise="no baseline measure yet",
    )
    return config.followup_measures if has_data else ()


# ------------------------------------------------------------------------------------------------------------
# Public entry point
# ------------------------------------------------------------------------------------------------------------


def _self_care_reason(inputs: TriageInputs, pathway: Pathway, b: _Builder) -> None:
    """§7.3 STEP 3 "0-4 -> no treatment indicated; self-care resources; rescreen" (only when nothing else routes
    and no positive short screen is waiting for its full questionnaire)."""
    pending = (inputs.phq2_positive and inputs.phq9_total is None) or (
        inputs.gad2_positive and inputs.gad7_total is None
    )
    if pathway == "none" and _has_screening_data(inputs) and not pending:
        b.reason("Self-care resources are available, and we will check in with you again later.")


def _resolve_pathway(
    emergency: bool, severity: Pathway, prescriber_floor: Pathway, suicide_floor: Pathway
) -> Pathway:
    if emergency:
        return "urgent"
    return more_intensive(more_intensive(severity, prescriber_floor), suicide_floor)


def recommend(inputs: TriageInputs, config: TriageConfig = DEFAULT) -> Recommendation:
    """Evaluate §7.3 STEP 0-5 in order and return the recommended pathway with its trace."""
    b = _Builder()
    emergency = _step0_emergency(inputs, b)
    risk = _step1_urgent(inputs, config, b)
    prescriber_floor = _step2_psychiatry(inputs, config, b, risk)
    severity = _step3_severity(inputs, config, b)
    _step4_substance(inputs, b)
    measures = _step5_measures(inputs, config, b)
    suicide_floor: Pathway = config.suicide_risk_min_pathway if risk.suicide_risk else "none"
    pathway = _resolve_pathway(emergency, severity, prescriber_floor, suicide_floor)
    urgency: Urgency = "emergency" if emergency else "urgent" if risk.urgent else "routine"
    _preference_follow_up(inputs, config, pathway, b)
    _self_care_reason(inputs, pathway, b)
    b.rule(
        "final.pathway",
        True,
        {
            "emergency": emergency,
            "severity": severity,
            "prescriber_floor": prescriber_floor,
            "suicide_risk_floor": suicide_floor,
            "urgency": urgency,
        },
        f"pathway={pathway}, urgency={urgency}",
    )
    return Recommendation(
        pathway=pathway,
        urgency=urgency,
        reasons=b.reasons(emergency=emergency),
        rule_trace=tuple(b.trace),
        self_scheduling_allowed=not emergency,
        needs=tuple(dict.fromkeys(b.needs)),
        measures=measures,
    )
