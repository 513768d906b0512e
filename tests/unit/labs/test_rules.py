"""Monitoring protocols as pure rules (issue #7). Each test cites the spec row (clinical-spec.md §6.4) whose
rule it checks; the data file labs/data/protocols.json cites the same rows and their sources."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from careweave.labs import rules


def dates(protocol: str, start: date, item: str) -> list[date]:
    return [i.due_on for i in rules.schedule(protocol, start) if i.item == item]


# ------------------------------------------------------------------ data


def test_every_item_cites_a_spec_row_and_every_test_a_source():
    data = rules.data()
    for name in rules.PROTOCOLS:
        p = data["protocols"][name]
        assert p["source"].startswith("spec §6.4")
        for item in p["items"]:
            assert item["spec"].startswith("§6.4"), item["code"]
    for key, t in data["tests"].items():
        assert t["source"], key
        if t["order_loinc"] is not None:
            assert t["order_loinc"] in t["result_loinc"], key


def test_unverified_flags_from_the_spec_are_kept():
    data = rules.data()["protocols"]
    assert any(r.get("unverified") for r in data["valproate"]["target_ranges"])  # mania 50–125 [UNVERIFIED]
    assert any(n.get("unverified") for n in data["lithium"]["not_scheduled"])  # US label alternative
    assert data["clozapine"]["next_steps"]["ben_below_threshold"]["unverified"] is True
    assert "98979-8" in rules.test("renal")["unverified_codes"]


def test_no_rems_submission_step():
    """§6.4 REMS change: Clozapine REMS eliminated 13 June 2025: keep ANC scheduling, no REMS step."""
    text = str(rules.protocol("clozapine")["items"]) + str(rules.protocol("clozapine")["next_steps"])
    assert "REMS" not in text


@pytest.mark.parametrize(
    ("key", "loinc"),
    [
        ("lithium_level", "14334-7"),
        ("anc", "751-8"),
        ("cbc", "58410-2"),
        ("tsh", "11579-0"),
        ("calcium", "17861-6"),
        ("weight_bmi", "29463-7"),
        ("lfts", "24325-3"),
        ("valproate_level", "4086-5"),
        ("fasting_glucose", "1558-6"),
        ("fasting_lipids", "24331-1"),
    ],
)
def test_loinc_codes(key, loinc):
    assert rules.test(key)["order_loinc"] == loinc
    assert rules.test_for_loinc(loinc) == key


def test_platelets_answer_the_cbc_order():
    """Valproate 'CBC with platelets': 777-3 is a member of 58410-2 (loinc.org/58410-2)."""
    assert rules.test_for_loinc("777-3") == "cbc"


# ------------------------------------------------------------------ dates


def test_month_arithmetic_clamps_to_the_month_end():
    assert rules.add_offset(date(2026, 1, 31), {"months": 1}) == date(2026, 2, 28)
    assert rules.add_offset(date(2028, 1, 31), {"months": 1}) == date(2028, 2, 29)
    assert rules.add_offset(date(2026, 11, 30), {"months": 3}) == date(2027, 2, 28)


def test_lithium_baseline_items():
    """§6.4 Lithium, Baseline: weight/BMI, eGFR/U&E, thyroid function, calcium, FBC."""
    start = date(2026, 2, 2)
    baseline = {i.test for i in rules.schedule("lithium", start) if i.due_on == start}
    assert baseline == {"weight_bmi", "renal", "tsh", "calcium", "cbc"}


def test_lithium_levels_after_start_then_3_monthly_then_6_monthly():
    """§6.4 Lithium, Level checks: 1 week after starting; every 3 months for the first year; then every 6 months."""
    assert dates("lithium", date(2026, 2, 2), "lithium.level") == [
        date(2026, 2, 9),
        date(2026, 5, 2),
        date(2026, 8, 2),
        date(2026, 11, 2),
        date(2027, 2, 2),
        date(2027, 8, 2),
        date(2028, 2, 2),
    ]


def test_lithium_renal_thyroid_calcium_weight_every_6_months():
    """§6.4 Lithium, 'Renal, thyroid, calcium, weight': every 6 months."""
    for item in ("lithium.renal", "lithium.tsh", "lithium.calcium", "lithium.weight_bmi"):
        assert dates("lithium", date(2026, 2, 2), item) == [
            date(2026, 8, 2),
            date(2027, 2, 2),
            date(2027, 8, 2),
            date(2028, 2, 2),
        ]


def test_lithium_dose_change_adds_a_level_one_week_later_and_supersedes_earlier_ones():
    """§6.4 Lithium, Level checks: 1 week after every dose change."""
    open_orders = [
        rules.OpenOrder("before", "lithium.level", "lithium_level", date(2026, 4, 29)),
        rules.OpenOrder("inside", "lithium.level", "lithium_level", date(2026, 5, 2)),
        rules.OpenOrder("after", "lithium.level", "lithium_level", date(2026, 8, 2)),
        rules.OpenOrder("tsh", "lithium.tsh", "tsh", date(2026, 5, 2)),
    ]
    change = rules.after_dose_change("lithium", date(2026, 4, 30), open_orders)
    assert [(i.item, i.due_on, i.reason) for i in change.new] == [
        ("lithium.level", date(2026, 5, 7), "dose_change")
    ]
    assert change.superseded == ["inside"]


def test_other_protocols_have_no_dose_change_orders():
    assert rules.after_dose_change("clozapine", date(2026, 4, 30), []).new == []


def test_clozapine_weekly_to_6_months_biweekly_to_12_monthly_after():
    """§6.4 Clozapine, Monitoring frequency: weekly to 6 months; every 2 weeks 6–12 months; monthly after."""
    start = date(2026, 1, 1)
    got = dates("clozapine", start, "clozapine.anc")
    weekly = [d for d in got if d < date(2026, 7, 1)]
    biweekly = [d for d in got if date(2026, 7, 1) <= d < date(2027, 1, 1)]
    monthly = [d for d in got if d >= date(2027, 1, 1)]
    assert weekly[0] == date(2026, 1, 8) and weekly[-1] == date(2026, 6, 25)
    assert all((b - a).days == 7 for a, b in itertools.pairwise(weekly))
    assert biweekly[0] == date(2026, 7, 1) and biweekly[-1] == date(2026, 12, 30)
    assert all((b - a).days == 14 for a, b in itertools.pairwise(biweekly))
    assert monthly[:3] == [date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)]
    assert dates("clozapine", start, "clozapine.baseline.anc") == [start]


def test_valproate_schedule():
    """§6.4 Valproate: baseline LFTs, CBC with platelets, pregnancy test; LFTs frequently in the first 6
    months (derived: monthly), then periodically (derived: 6-monthly); levels every 3–6 months (derived: 3)."""
    start = date(2026, 3, 10)
    baseline = {i.test for i in rules.schedule("valproate", start) if i.due_on == start}
    assert baseline == {"lfts", "cbc", "pregnancy_test"}
    assert dates("valproate", start, "valproate.lfts")[:7] == [
        date(2026, 4, 10),
        date(2026, 5, 10),
        date(2026, 6, 10),
        date(2026, 7, 10),
        date(2026, 8, 10),
        date(2026, 9, 10),
        date(2027, 3, 10),
    ]
    assert dates("valproate", start, "valproate.level")[:2] == [date(2026, 6, 10), date(2026, 9, 10)]


def test_sga_metabolic_table_per_measure():
    """§6.4 SGA metabolic monitoring (ADA/APA consensus): baseline, 4, 8, 12 weeks, quarterly, annually, 5 years."""
    start = date(2026, 1, 1)
    assert dates("sga_metabolic", start, "sga.weight_bmi")[:6] == [
        start,
        date(2026, 1, 29),
        date(2026, 2, 26),
        date(2026, 3, 26),
        date(2026, 6, 26),
        date(2026, 9, 26),
    ]
    for item in ("sga.blood_pressure", "sga.fasting_glucose"):
        assert dates("sga_metabolic", start, item)[:3] == [start, date(2026, 3, 26), date(2027, 1, 1)]
    assert dates("sga_metabolic", start, "sga.waist")[:2] == [start, date(2027, 1, 1)]
    assert dates("sga_metabolic", start, "sga.history")[:2] == [start, date(2027, 1, 1)]
    assert dates("sga_metabolic", start, "sga.fasting_lipids") == [start, date(2026, 3, 26), date(2031, 1, 1)]
    history = next(i for i in rules.schedule("sga_metabolic", start) if i.item == "sga.history")
    assert history.loinc is None  # an assessment, no LOINC code


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("value", "severity", "code"),
    [
        (1.49, "info", "lithium.outside_target"),
        (1.5, "critical", "lithium.toxicity"),
        (1.6, "critical", "lithium.toxicity"),
        (0.8, None, "lithium.in_target"),
        (0.6, None, "lithium.in_target"),
        (0.59, "info", "lithium.outside_target"),
        (0.81, "info", "lithium.outside_target"),
    ],
)
def test_lithium_toxicity_and_target(value, severity, code):
    """§6.4 Lithium, Toxicity: ≥ 1.5 mmol/L; Target range 0.6–0.8 mmol/L (first prescription)."""
    c = rules.classify("lithium_level", value, date(2026, 2, 9), unit="mmol/L")
    assert (c.severity, c.code) == (severity, code)


def test_lithium_meq_per_litre_is_the_same_unit():
    """§6.4 Units: lithium mmol/L = mEq/L."""
    assert rules.classify("lithium_level", 1.5, date(2026, 2, 9), unit="mEq/L").code == "lithium.toxicity"


@pytest.mark.parametrize(
    ("value", "band"),
    [(1500, "normal"), (1499, "mild"), (1000, "mild"), (999, "moderate"), (500, "moderate"), (499, "severe")],
)
def test_anc_band_boundaries(value, band):
    """§6.4 Clozapine: mild 1,000–1,499; moderate 500–999; severe < 500 (per µL)."""
    assert rules.anc_band(value) == band


def test_anc_mild_three_times_weekly():
    """§6.4 Clozapine, Mild: continue; ANC three times weekly until ≥ 1,500, then resume the prior interval."""
    c = rules.classify_anc(1499, date(2026, 2, 2))
    assert (c.severity, c.code, c.episode, c.interrupt) == ("warning", "anc.mild", "mild", False)
    assert [o.due_on for o in c.orders] == [date(2026, 2, 4), date(2026, 2, 6), date(2026, 2, 9)]
    assert {o.reason for o in c.orders} == {"next_step"}
    back = rules.classify_anc(1500, date(2026, 2, 9), episode="mild")
    assert (back.code, back.orders, back.cancel_next_step_orders, back.episode) == (
        "anc.recovered",
        [],
        True,
        "",
    )


def test_anc_moderate_interrupt_daily_then_3_weekly_then_weekly_4():
    """§6.4 Clozapine, Moderate: interrupt; hematology consult; daily until ≥ 1,000; 3×/week until ≥ 1,500;
    then weekly × 4 weeks."""
    day = date(2026, 2, 2)
    c = rules.classify_anc(999, day)
    assert (c.severity, c.code, c.interrupt, c.episode) == ("critical", "anc.moderate", True, "moderate")
    assert "hematology" in (c.next_step or "")
    assert [o.due_on.day for o in c.orders] == [3, 4, 5, 6, 7, 8, 9]
    rising = rules.classify_anc(1000, date(2026, 2, 9), episode="moderate")
    assert (rising.code, rising.episode) == ("anc.mild", "moderate")
    assert [o.due_on.day for o in rising.orders] == [11, 13, 16]
    back = rules.classify_anc(1500, date(2026, 2, 16), episode="moderate")
    assert [o.due_on for o in back.orders] == [
        date(2026, 2, 23),
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
    ]
    assert back.episode == ""


def test_anc_severe_interrupt_no_rechallenge():
    """§6.4 Clozapine, Severe < 500: interrupt; do not rechallenge unless benefit outweighs risk."""
    c = rules.classify_anc(499, date(2026, 2, 2))
    assert (c.severity, c.code, c.interrupt, c.orders) == ("critical", "anc.severe", True, [])
    assert "rechallenge" in (c.next_step or "")
    assert rules.classify_anc(500, date(2026, 2, 2)).code == "anc.moderate"


def test_anc_benign_ethnic_neutropenia():
    """§6.4 Clozapine, Baseline ANC: ≥ 1,000/µL for BEN. Below it the spec has no BEN band: flagged unverified."""
    assert rules.classify_anc(1000, date(2026, 2, 2), ben=True).severity is None
    assert rules.classify_anc(1200, date(2026, 2, 2), ben=True).severity is None
    low = rules.classify_anc(999, date(2026, 2, 2), ben=True)
    assert (low.code, low.unverified) == ("anc.moderate", True)
    assert "UNVERIFIED" in low.message
    assert rules.classify_anc(999, date(2026, 2, 2)).unverified is False


@pytest.mark.parametrize(
    ("value", "ben", "confirm"),
    [(1499, False, True), (1500, False, False), (999, True, True), (1000, True, False)],
)
def test_initial_anc_below_threshold_is_confirmed_within_24_hours(value, ben, confirm):
    """§6.4 Clozapine, Confirm: any initial ANC < 1,500 (< 1,000 in BEN) confirmed by repeat within 24 h."""
    c = rules.classify_anc(value, date(2026, 2, 2), ben=ben, baseline=True)
    assert (c.code == "anc.baseline_below_threshold") is confirm
    if confirm:
        assert [(o.due_on, o.reason) for o in c.orders] == [(date(2026, 2, 3), "confirm")]


def test_anc_units_are_normalised():
    """1.2 x10^3/µL = 1,200/µL (arithmetic, not a clinical rule)."""
    c = rules.classify("anc", 1.2, date(2026, 2, 2), unit="10*3/uL", protocol_name="clozapine")
    assert c.code == "anc.mild"
    assert (
        rules.classify("anc", 1200, date(2026, 2, 2), unit="/uL", protocol_name="clozapine").code
        == "anc.mild"
    )
    with pytest.raises(rules.UnitNotUnderstood):
        rules.classify("anc", 1.2, date(2026, 2, 2), unit="g/dL", protocol_name="clozapine")


def test_other_results_use_the_laboratorys_flag():
    assert rules.classify("lfts", 80, date(2026, 2, 2), abnormal_flag="H").severity == "warning"
    assert rules.classify("lfts", 800, date(2026, 2, 2), abnormal_flag="HH").severity == "critical"
    assert rules.classify("lfts", 20, date(2026, 2, 2), abnormal_flag="N").severity is None
    assert rules.classify(None, None, date(2026, 2, 2)).severity is None


def test_schedule_extends_past_the_horizon_from_the_startdate():
    """The rolling extension (labs.service.extend_due_plans): the same series, counted from the start date; items
    with an end (baselines, the first year's levels) are not repeated."""
    start = date(2026, 1, 31)
    first = rules.schedule("lithium", start)
    last = max(i.due_on for i in first)
    assert last == date(2028, 1, 31)
    more = rules.schedule("lithium", start, through=date(2030, 1, 31), after=last)
    assert more and min(i.due_on for i in more) > last
    levels = [i.due_on for i in more if i.item == "lithium.level"]
    assert levels == [date(2028, 7, 31), date(2029, 1, 31), date(2029, 7, 31), date(2030, 1, 31)]
    assert not [i for i in more if ".baseline." in i.item]
    # no date is generated twice across the two calls
    assert not {(i.item, i.due_on) for i in first} & {(i.item, i.due_on) for i in more}
    assert all(rules.repeats(p) for p in rules.PROTOCOLS)
