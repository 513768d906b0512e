"""Pure medication rules (issue #7). Each test names the clinical-spec row it checks; facts come from
src/careweave/medications/data/*.json, which cite their sources."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from careweave.medications import rules

F = rules.packaged_formulary()
R = rules.load_check_rules()
TODAY = date(2026, 11, 27)


def proposed(
    code: str, dose: float = 1, unit: str = "mg", frequency: str = "once_daily", start: date = TODAY
):
    item = F.get(code)
    assert item is not None, code
    return rules.Proposed(item, dose, unit, frequency, start)


def on(code: str, *, source: str = "prescription", name: str | None = None) -> rules.MedItem:
    return rules.MedItem(name or code, F.get(code), active=True, source=source)


def stopped(code: str, days_ago: int) -> rules.MedItem:
    return rules.MedItem(code, F.get(code), active=False, stopped_on=TODAY - timedelta(days=days_ago))


def codes(findings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.code: f.severity for f in findings}


def check(p, meds=(), facts=rules.PatientFacts(age=40)):  # type: ignore[no-untyped-def]
    return rules.run_checks(p, list(meds), facts, F, R)


# ------------------------------------------------------------------ formulary (spec §6.1, §4.3, §6.3)


def test_formulary_has_every_spec_6_1_ingredient_with_its_rxcui_flag():
    # §6.1: † verified (CPIC) vs no dagger (secondary) vs [not verified] / [not found]
    assert F.get("sertraline").rxcui == "36437" and F.get("sertraline").rxcui_status == "verified_cpic"
    assert F.get("trazodone").rxcui == "10737" and F.get("trazodone").rxcui_status == "secondary"
    assert F.get("quetiapine").rxcui_status == "secondary"
    assert F.get("desvenlafaxine").rxcui is None and F.get("desvenlafaxine").rxcui_status == "not_found"
    assert F.get("phenelzine").rxcui is None and F.get("phenelzine").rxcui_status == "not_verified"
    assert F.get("clonazepam").rxcui_status == "not_verified"
    assert F.get("36437").code == "sertraline"  # lookup by RXCUI
    for code in [
        "fluoxetine",
        "escitalopram",
        "citalopram",
        "paroxetine",
        "fluvoxamine",
        "venlafaxine",
        "duloxetine",
        "bupropion",
        "mirtazapine",
        "vortioxetine",
        "amitriptyline",
        "nortriptyline",
        "clomipramine",
        "imipramine",
        "desipramine",
        "doxepin",
        "tranylcypromine",
        "selegiline_transdermal",
        "lithium_carbonate",
        "valproic_acid",
        "divalproex_sodium",
        "lamotrigine",
        "carbamazepine",
        "oxcarbazepine",
        "aripiprazole",
        "brexpiprazole",
        "olanzapine",
        "risperidone",
        "clozapine",
        "iloperidone",
        "ziprasidone",
        "lurasidone",
        "paliperidone",
        "haloperidol",
        "perphenazine",
        "pimozide",
        "thioridazine",
        "diazepam",
        "oxazepam",
        "clobazam",
        "lorazepam",
        "alprazolam",
        "methylphenidate",
        "atomoxetine",
        "modafinil",
        "amphetamine",
        "lisdexamfetamine",
        "buprenorphine",
        "naltrexone",
        "naloxone",
        "methadone",
    ]:
        assert F.get(code) is not None, code


def test_schedules_follow_spec_4_3_table():
    assert F.get("methylphenidate").schedule == "C-II"
    assert F.get("lisdexamfetamine").schedule == "C-II"
    assert F.get("methadone").schedule == "C-II"
    assert F.get("buprenorphine").schedule == "C-III"
    assert F.get("alprazolam").schedule == "C-IV" and F.get("modafinil").schedule == "C-IV"
    for code in (
        "sertraline",
        "aripiprazole",
        "lithium_carbonate",
        "lamotrigine",
        "atomoxetine",
        "bupropion",
    ):
        assert F.get(code).schedule is None  # §4.3 "Not controlled"


def test_monitoring_codes_and_boxed_warnings():
    assert F.get("lithium_carbonate").monitoring == ("lithium",)
    assert F.get("clozapine").monitoring == ("clozapine", "sga_metabolic")
    assert F.get("divalproex_sodium").monitoring == ("valproate",)
    assert F.get("olanzapine").monitoring == ("sga_metabolic",)
    assert F.get("sertraline").monitoring == ()
    assert "antidepressant_suicidality" in F.get("phenelzine").boxed_warnings  # §6.3 "All antidepressants"
    assert "carbamazepine_hla_b1502" in F.get("carbamazepine").boxed_warnings


def test_every_entry_and_rule_cites_a_source():
    for item in F.items.values():
        assert item.sources, item.code
        if item.dose:
            assert item.dose.source.strip(), item.code  # each range names its label (test_formulary_data.py)
    for rule in R.pairs + R.washouts:
        assert "§6.2" in rule.source


# ------------------------------------------------------------------ §6.2 interaction pairs


@pytest.mark.parametrize(
    "other", ["sertraline", "fluoxetine", "venlafaxine", "clomipramine", "tramadol", "methadone", "bupropion"]
)
def test_maoi_plus_serotonergic_is_contraindicated_both_ways(other):
    # §6.2 row "MAOI + serotonergic drugs": contraindicated together
    assert codes(check(proposed("phenelzine"), [on(other)]))["maoi_serotonergic"] == "contraindicated"
    assert codes(check(proposed(other), [on("phenelzine")]))["maoi_serotonergic"] == "contraindicated"


@pytest.mark.parametrize(
    ("other", "code", "severity"),
    [
        ("hydrochlorothiazide", "lithium_thiazide", "major"),  # §6.2 lithium + thiazide: avoid / halve
        ("ibuprofen", "lithium_nsaid", "major"),  # §6.2 lithium + NSAIDs: avoid
        ("naproxen", "lithium_nsaid", "major"),
        ("lisinopril", "lithium_ace_arb", "moderate"),  # §6.2 lithium + ACE inhibitors: monitor
        ("losartan", "lithium_ace_arb", "moderate"),  # §6.2 lithium + ARBs: monitor
        ("sertraline", "lithium_serotonergic", "moderate"),  # §6.2 lithium + other serotonergic: monitor
    ],
)
def test_lithium_pairs_count_outside_medications(other, code, severity):
    found = codes(
        check(
            proposed("lithium_carbonate", 300, frequency="three_times_daily"), [on(other, source="outside")]
        )
    )
    assert found[code] == severity


def test_valproate_plus_lamotrigine_gives_dose_advice():
    # §6.2 row "Valproate + lamotrigine": halve lamotrigine
    found = check(proposed("lamotrigine", 25), [on("divalproex_sodium")])
    f = next(f for f in found if f.code == "valproate_lamotrigine")
    assert f.severity == "moderate" and "half" in f.message and "50%" in f.message


def test_carbamazepine_induction_notice():
    # §6.2 row "Carbamazepine (enzyme inducer)"
    found = codes(
        check(
            proposed("carbamazepine"), [on("lamotrigine")], rules.PatientFacts(age=40, hla_b_1502="negative")
        )
    )
    assert found["carbamazepine_induction"] == "moderate"


def test_inactive_meds_and_unmapped_free_text_do_not_pair():
    free = rules.MedItem("some herbal tea", None, active=True, source="outside")
    assert "maoi_serotonergic" not in codes(check(proposed("phenelzine"), [free, stopped("sertraline", 30)]))


# ------------------------------------------------------------------ §6.2 washouts


def test_maoi_washout_14_days_before_another_antidepressant():
    # §6.2: stopping an MAOI -> wait >= 14 days before starting another antidepressant
    assert (
        codes(check(proposed("sertraline", 50), [stopped("phenelzine", 13)]))["washout_after_maoi"]
        == "contraindicated"
    )
    assert "washout_after_maoi" not in codes(check(proposed("sertraline", 50), [stopped("phenelzine", 14)]))
    assert "washout_after_maoi" in codes(check(proposed("mirtazapine"), [stopped("tranylcypromine", 1)]))


def test_fluoxetine_washout_5_weeks_before_an_maoi():
    # §6.2: after fluoxetine wait >= 5 weeks
    assert (
        codes(check(proposed("phenelzine", 15, frequency="three_times_daily"), [stopped("fluoxetine", 34)]))[
            "washout_fluoxetine_before_maoi"
        ]
        == "contraindicated"
    )
    found = codes(
        check(proposed("phenelzine", 15, frequency="three_times_daily"), [stopped("fluoxetine", 35)])
    )
    assert "washout_fluoxetine_before_maoi" not in found and "washout_ssri_before_maoi" not in found


def test_other_ssri_washout_2_weeks_before_an_maoi():
    # §6.2: stopping an SSRI -> >= 5 half-lives (typically 1-2 weeks); 2 weeks stored
    assert "washout_ssri_before_maoi" in codes(
        check(proposed("phenelzine", 15, frequency="three_times_daily"), [stopped("sertraline", 13)])
    )
    assert "washout_ssri_before_maoi" not in codes(
        check(proposed("phenelzine", 15, frequency="three_times_daily"), [stopped("sertraline", 14)])
    )


# ------------------------------------------------------------------ duplicates, allergy, dose, boxed warnings, HLA


def test_duplicate_therapy_within_a_class():
    found = check(proposed("sertraline", 50), [on("escitalopram")])
    assert codes(found)["duplicate_class"] == "moderate"
    assert "duplicate_class" not in codes(check(proposed("sertraline", 50), [on("aripiprazole")]))


def test_allergy_match_by_code_and_by_class():
    facts = rules.PatientFacts(
        age=40, allergies=(rules.AllergyFact("Zoloft", code="sertraline", reaction="hives"),)
    )
    assert codes(check(proposed("sertraline", 50), facts=facts))["allergy_match"] == "major"
    facts = rules.PatientFacts(
        age=40, allergies=(rules.AllergyFact("SSRIs", drug_class="ssri", kind="intolerance"),)
    )
    assert codes(check(proposed("escitalopram", 10), facts=facts))["intolerance_match"] == "moderate"


@pytest.mark.parametrize(
    ("dose", "frequency", "expected"),
    [
        (25, "once_daily", None),  # sertraline label: 25 mg start (panic/PTSD/SAD)
        (200, "once_daily", None),  # label maximum 200 mg/day
        (100, "twice_daily", None),  # 200 mg/day
        (250, "once_daily", "dose_above_range"),
        (150, "twice_daily", "dose_above_range"),
        (12.5, "once_daily", "dose_below_range"),
    ],
)
def test_dose_range_edges(dose, frequency, expected):
    found = codes(rules.check_dose(proposed("sertraline", dose, frequency=frequency), R))
    if expected is None:
        assert found == {}
    else:
        assert list(found) == [expected]
        assert found[expected] == ("major" if expected == "dose_above_range" else "moderate")


def test_dose_check_skipped_without_a_sourced_range_or_other_unit():
    assert rules.check_dose(proposed("lamotrigine", 5000), R) == []
    # another mass unit is converted (5,000 mcg = 5 mg/day: below the 25-200 mg range), never skipped
    assert [f.code for f in rules.check_dose(proposed("sertraline", 5000, unit="mcg"), R)] == [
        "dose_below_range"
    ]


def test_antidepressant_boxed_warning_at_24_not_25():
    # §6.3: all antidepressants, expanded in 2007 to ages 18-24
    assert (
        codes(check(proposed("sertraline", 50), facts=rules.PatientFacts(age=24)))[
            "boxed_antidepressant_suicidality"
        ]
        == "moderate"
    )
    assert "boxed_antidepressant_suicidality" not in codes(
        check(proposed("sertraline", 50), facts=rules.PatientFacts(age=25))
    )


def test_valproate_boxed_warning_in_pregnancy_needs_an_override():
    # §6.3 valproate: fetal risk
    found = codes(
        check(proposed("divalproex_sodium"), facts=rules.PatientFacts(age=30, pregnancy_status="pregnant"))
    )
    assert found["boxed_valproate_hepatotoxicity_fetal_pancreatitis_pregnancy"] == "major"


@pytest.mark.parametrize(
    ("status", "code", "severity"),
    [("positive", "hla_b1502_positive", "major"), (None, "hla_b1502_unknown", "moderate")],
)
def test_carbamazepine_hla_b_1502_prompt(status, code, severity):
    # §6.3 carbamazepine row: screen before starting; do not start if positive unless benefit outweighs risk
    assert (
        codes(check(proposed("carbamazepine"), facts=rules.PatientFacts(age=40, hla_b_1502=status)))[code]
        == severity
    )
    assert not {"hla_b1502_positive", "hla_b1502_unknown"} & set(
        codes(check(proposed("carbamazepine"), facts=rules.PatientFacts(age=40, hla_b_1502="negative")))
    )


def test_gate_blocks_contraindicated_and_needs_reasons_for_major():
    major = rules.Finding("lithium_nsaid", "major", "m", "s")
    bad = rules.Finding("maoi_serotonergic", "contraindicated", "m", "s")
    assert rules.gate([bad], {"maoi_serotonergic": "I know"}).blocked == (bad,)
    assert rules.gate([major], {}).missing_overrides == (major,)
    assert rules.gate([major], {"lithium_nsaid": "  "}).missing_overrides == (major,)
    assert rules.gate([major], {"lithium_nsaid": "short course, levels in 5 days"}).ok


def test_broken_interaction_data_fails_closed():
    raw = json.loads(
        (rules.resources.files("careweave.medications") / "data" / "interactions.json").read_text()
    )
    with pytest.raises(rules.CheckDataUnavailable):
        rules.parse_check_rules({**raw, "pairs": []})
    raw["pairs"][0]["severity"] = "mild"
    with pytest.raises(rules.CheckDataUnavailable):
        rules.parse_check_rules(raw)


# ------------------------------------------------------------------ §4.3 telemedicine rules


def creq(code: str, on: date = date(2026, 6, 1), **kw) -> rules.ControlledRequest:  # type: ignore[no-untyped-def]
    return rules.ControlledRequest(item=F.get(code), on=on, **kw)


def test_fourth_temporary_extension_allows_c_ii_by_audio_video_in_2026_only():
    # §4.3: Fourth Temporary Extension, 1 Jan 2026 - 31 Dec 2026, C-II-V via audio-video
    assert rules.telemedicine_authorization(creq("methylphenidate")).rule == "fourth_temporary_extension"
    assert rules.telemedicine_authorization(creq("methylphenidate", on=date(2026, 12, 31))).allowed
    after = rules.telemedicine_authorization(creq("methylphenidate", on=date(2027, 1, 1)))
    assert not after.allowed and "in-person" in after.reason
    assert not rules.telemedicine_authorization(creq("alprazolam", modality="audio_only")).allowed


def test_ryan_haight_in_person_evaluation_allows_after_the_extension():
    # §4.3 Ryan Haight: at least one in-person medical evaluation
    auth = rules.telemedicine_authorization(
        creq("methylphenidate", on=date(2027, 2, 1), in_person_evaluated_on=date(2026, 12, 1))
    )
    assert auth.allowed and auth.rule == "in_person_evaluation"


def test_buprenorphine_needs_a_pdmp_attestation():
    # §4.3 buprenorphine final rule: PDMP review of prior 12 months with date/time
    refused = rules.telemedicine_authorization(creq("buprenorphine"))
    assert (
        not refused.allowed and refused.rule == "buprenorphine_telemedicine_2025" and "PDMP" in refused.reason
    )
    ok = rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_reviewed_at=datetime(2026, 6, 1, 9, 30), modality="audio_only")
    )
    assert ok.allowed and ok.rule == "buprenorphine_telemedicine_2025"


def test_buprenorphine_supply_limits():
    # §4.3: initial supply up to 6 calendar months in total; 7 days at a time if the PDMP is unavailable
    assert not rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_unavailable=True, days_supply=8)
    ).allowed
    assert rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_unavailable=True, days_supply=7)
    ).allowed
    seen = datetime(2026, 6, 1, 9)
    first = date(2026, 1, 1)  # six calendar months: 1 Jan -> 1 Jul = 181 days
    assert rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_reviewed_at=seen, days_supply=31, first_start=first, prior_days=150)
    ).allowed
    assert not rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_reviewed_at=seen, days_supply=32, first_start=first, prior_days=150)
    ).allowed


def test_non_controlled_needs_no_telemedicine_rule():
    assert rules.telemedicine_authorization(creq("sertraline")).rule == "non_controlled"


# ------------------------------------------------------------------ tapers


def test_taper_schedule_dates_and_todays_dose():
    schedule = rules.taper_schedule(
        date(2026, 12, 1),
        [rules.TaperStep(100, "mg", 14), rules.TaperStep(50, "mg", 14), rules.TaperStep(25, "mg", 7)],
    )
    assert [(s.start, s.end) for s in schedule] == [
        (date(2026, 12, 1), date(2026, 12, 14)),
        (date(2026, 12, 15), date(2026, 12, 28)),
        (date(2026, 12, 29), date(2027, 1, 4)),
    ]
    assert rules.step_on(schedule, date(2026, 12, 15)).dose == 50
    assert rules.step_on(schedule, date(2027, 1, 5)) is None
    assert [s.number for s in rules.upcoming(schedule, date(2026, 12, 15))] == [3]
    with pytest.raises(ValueError, match="days must be between"):
        rules.taper_schedule(date(2026, 12, 1), [rules.TaperStep(10, "mg", 0)])


def test_add_months_clamps_to_month_end():
    assert rules.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)


def test_buprenorphine_supply_counts_refills():
    # §4.3: initial supply up to 6 calendar months in total (refills are supply too); 7 days at a time when the
    # PDMP is unavailable (so no refills)
    seen = datetime(2026, 6, 1, 9)
    assert not rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_reviewed_at=seen, days_supply=180, refills=5)
    ).allowed
    assert rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_reviewed_at=seen, days_supply=30, refills=5)
    ).allowed
    assert not rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_unavailable=True, days_supply=7, refills=11)
    ).allowed


def test_buprenorphine_pdmp_review_must_be_recent_and_not_future():
    # §4.3: the PDMP (prior 12 months) is reviewed before prescribing; platform window: at most 7 days before
    stale = rules.telemedicine_authorization(creq("buprenorphine", pdmp_reviewed_at=datetime(2026, 5, 1, 9)))
    assert not stale.allowed and "PDMP review" in stale.reason
    assert rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_reviewed_at=datetime(2026, 5, 25, 9))
    ).allowed
    assert not rules.telemedicine_authorization(
        creq("buprenorphine", pdmp_reviewed_at=datetime(2026, 6, 2, 9))
    ).allowed


@pytest.mark.parametrize("stopped", ["venlafaxine", "duloxetine", "clomipramine", "amitriptyline"])
def test_snri_and_tca_stopped_before_an_maoi_need_the_two_week_washout(stopped):
    # §6.2 row 'MAOI + serotonergic drugs' (SSRIs, SNRIs, TCAs esp. clomipramine): SNRIs/TCAs follow the SSRI
    # washout at its conservative end (14 days)
    med = rules.MedItem(stopped, F.get(stopped), active=False, stopped_on=TODAY)
    found = rules.check_washouts(proposed("phenelzine"), [med], R)
    assert [(f.code, f.severity) for f in found] == [("washout_serotonergic_before_maoi", "contraindicated")]
    later = rules.check_washouts(proposed("phenelzine", start=TODAY + timedelta(days=14)), [med], R)
    assert later == []


def test_class_implies_interaction_tags_and_unknown_classes_are_refused():
    item = rules.parse_item({"code": "x", "ingredient": "x", "class": "ssri"}, origin="admin")
    assert {"serotonergic", "antidepressant"} <= item.tags
    assert "maoi" in rules.parse_item({"code": "y", "ingredient": "y", "class": "maoi"}).tags
    with pytest.raises(rules.CheckDataUnavailable):
        rules.parse_item({"code": "z", "ingredient": "z", "class": "made_up"})


def test_interaction_only_entries_are_not_prescribable():
    for code in ("ibuprofen", "linezolid", "meperidine", "tramadol", "hydrochlorothiazide", "lisinopril"):
        assert not F.get(code).prescribable, code
    assert F.get("sertraline").prescribable and F.get("buprenorphine").prescribable


def test_free_text_names_map_by_code_ingredient_rxcui_or_brand():
    assert F.match_name("Tramadol").code == "tramadol"
    assert F.match_name("  ZOLOFT ").code == "sertraline"
    assert F.match_name("lithium").code == "lithium_carbonate"
    assert F.match_name("36437").code == "sertraline"
    assert F.match_name("grandma's tonic") is None


def test_an_unmapped_outside_medication_is_a_visible_moderate_finding():
    meds = [rules.MedItem("grandma's tonic", None, source="outside")]
    found = rules.run_checks(proposed("sertraline", 50), meds, rules.PatientFacts(age=40), F, R)
    assert [(f.code, f.severity) for f in found] == [("unchecked_outside_medication", "moderate")]


def test_unknown_age_gives_the_boxed_warning_as_possible():
    # §6.3: antidepressant boxed warning for ages <= 24; age unknown -> it may apply
    found = rules.check_boxed_warnings(proposed("sertraline", 50), rules.PatientFacts(age=None), F, R)
    assert [(f.code, f.severity) for f in found] == [
        ("boxed_antidepressant_suicidality_age_unknown", "moderate")
    ]
    assert "Age unknown" in found[0].message
