"""The packaged formulary's adult dose ranges, forms and strengths (issue #7): every range is sourced, sane and
in the unit the sig dose is compared in (mg/day = dose x doses per day, medications.rules.check_dose). The edge
checks cite the label section each number comes from (the source string in data/formulary.json)."""

from __future__ import annotations

import json
import re
from datetime import date
from importlib import resources

import pytest

from careweave.medications import rules

F = rules.packaged_formulary()
R = rules.load_check_rules()
RAW = json.loads(
    resources.files("careweave.medications").joinpath("data", "formulary.json").read_text(encoding="utf-8")
)
# The five ranges of the first pass cite their pages without a tag; every later range says how it was read.
FIRST_PASS = {"sertraline", "fluoxetine", "escitalopram", "phenelzine", "lithium_carbonate"}
TAGS = ("[DailyMed", "[label text reproduced", "[secondary summary", "[manufacturer's summary")
URL = re.compile(r"https?://\S+")
# Asked for in the brief but not sourced in this pass: each says so, and is not dose-checked.
UNSOURCED = (
    "naltrexone",
    "methylphenidate",
    "amphetamine",
    "valproic_acid",
    "divalproex_sodium",
    "carbamazepine",
    "oxcarbazepine",
    "haloperidol",
    "lamotrigine",
)
WITH_RANGE = sorted(code for code, item in F.items.items() if item.dose is not None)


def daily(code: str, dose: float, frequency: str = "once_daily", unit: str = "mg") -> dict[str, str]:
    item = F.get(code)
    assert item is not None, code
    found = rules.check_dose(rules.Proposed(item, dose, unit, frequency, date(2026, 11, 28)), R)
    return {f.code: f.severity for f in found}


def test_the_sourced_ranges_cover_the_common_drugs():
    assert len(WITH_RANGE) >= 25
    for code in ("citalopram", "paroxetine", "atomoxetine", "clozapine", "lorazepam", "buprenorphine"):
        assert code in WITH_RANGE


@pytest.mark.parametrize("code", WITH_RANGE)
def test_every_range_has_a_source_url_and_min_at_most_max_in_mg(code):
    item = F.get(code)
    assert item is not None and item.dose is not None
    rng = item.dose
    assert 0 < rng.min <= rng.max, code
    assert rng.unit == "mg", code  # the sig unit check_dose compares against
    assert URL.search(rng.source), f"{code}: the dose source must cite a page"
    assert item.sources, code
    if code not in FIRST_PASS:
        assert any(tag in rng.source for tag in TAGS), f"{code}: say how the label was read"
        # the source names the label section the numbers come from
        assert "Dosage and Administration" in rng.source or "prescribing information" in rng.source, code


@pytest.mark.parametrize("code", WITH_RANGE)
def test_strengths_use_a_unit_and_forms_are_named(code):
    item = F.get(code)
    assert item is not None
    for strength in item.strengths:
        assert re.fullmatch(r"\d+(\.\d+)?\s?mg(/\d+(\.\d+)?\s?mg)?", strength), (code, strength)
    if item.strengths:
        assert item.forms, code


def test_the_raw_json_keeps_the_shape_rules_reads():
    keys = {"min", "max", "unit", "source"}
    for entry in RAW["entries"]:
        dose = entry.get("adult_daily_dose")
        if dose is not None:
            assert set(dose) == keys, entry["code"]
            assert isinstance(dose["min"], int | float) and isinstance(dose["max"], int | float)


@pytest.mark.parametrize("code", UNSOURCED)
def test_unsourced_entries_say_so_and_are_not_dose_checked(code):
    item = F.get(code)
    assert item is not None and item.dose is None
    assert item.notes and "dose check skipped" in item.notes
    assert daily(code, 100_000) == {}


# ------------------------------------------------------------------ edges, each cited to the label


@pytest.mark.parametrize(
    ("code", "dose", "frequency", "expected", "label"),
    [
        # citalopram Highlights, D&A: initial 20 mg once daily; maximum 40 mg once daily
        ("citalopram", 40, "once_daily", None, "max 40 mg/day"),
        ("citalopram", 30, "twice_daily", "dose_above_range", "60 > 40 mg/day"),
        ("citalopram", 10, "once_daily", "dose_below_range", "below the 20 mg start"),
        # PAXIL Highlights 2.2: OCD and panic disorder maximum 60 mg/day; panic disorder starts at 10 mg
        ("paroxetine", 60, "once_daily", None, "max 60 mg/day"),
        ("paroxetine", 10, "once_daily", None, "PD start 10 mg"),
        ("paroxetine", 70, "once_daily", "dose_above_range", "70 > 60 mg/day"),
        # fluvoxamine Highlights 2.1: not to exceed 300 mg/day; doses over 100 mg divided
        ("fluvoxamine", 150, "twice_daily", None, "300 mg/day"),
        ("fluvoxamine", 200, "twice_daily", "dose_above_range", "400 > 300 mg/day"),
        # atomoxetine Highlights 2.1: adults maximum total daily dose 100 mg
        ("atomoxetine", 100, "once_daily", None, "max 100 mg"),
        ("atomoxetine", 60, "twice_daily", "dose_above_range", "120 > 100 mg"),
        # PARNATE 2.1: maximum 30 mg twice daily (60 mg/day)
        ("tranylcypromine", 30, "twice_daily", None, "60 mg/day"),
        ("tranylcypromine", 30, "three_times_daily", "dose_above_range", "90 > 60 mg/day"),
        # clozapine 2.2: start 12.5 mg once daily; maximum daily dose 900 mg
        ("clozapine", 12.5, "once_daily", None, "start 12.5 mg"),
        ("clozapine", 300, "three_times_daily", None, "900 mg/day"),
        ("clozapine", 500, "twice_daily", "dose_above_range", "1000 > 900 mg/day"),
        # trazodone 2.1: initial 150 mg/day; outpatients usually not above 400 mg/day
        ("trazodone", 50, "at_bedtime", "dose_below_range", "50 < 150 mg/day"),
        ("trazodone", 200, "twice_daily", None, "400 mg/day"),
        # duloxetine Highlights: MDD maximum 120 mg/day; some patients start at 30 mg once daily
        ("duloxetine", 60, "twice_daily", None, "120 mg/day"),
        ("duloxetine", 30, "once_daily", None, "start 30 mg"),
        # lisdexamfetamine 2.2: start 30 mg once daily, maximum 70 mg/day
        ("lisdexamfetamine", 70, "every_morning", None, "max 70 mg/day"),
        ("lisdexamfetamine", 80, "every_morning", "dose_above_range", "80 > 70 mg/day"),
        # buprenorphine/naloxone SL: usual daily range 4 to 24 mg (the telemedicine test prescribes 8 mg)
        ("buprenorphine", 8, "once_daily", None, "8 mg"),
        ("buprenorphine", 16, "twice_daily", "dose_above_range", "32 > 24 mg"),
    ],
)
def test_dose_edges(code, dose, frequency, expected, label):
    found = daily(code, dose, frequency)
    if expected is None:
        assert found == {}, label
    else:
        assert found == {expected: "major" if expected == "dose_above_range" else "moderate"}, label


def test_a_finding_quotes_the_range_and_its_source():
    item = F.get("atomoxetine")
    assert item is not None
    (finding,) = rules.check_dose(rules.Proposed(item, 120, "mg", "once_daily", date(2026, 11, 28)), R)
    assert "120 mg/day is above the usual adult range 40-100 mg/day" in finding.message
    assert "dailymed.nlm.nih.gov" in finding.source


def test_a_dose_in_another_mass_unit_is_converted_and_compared():
    # the dose check cannot be skipped by changing the unit: 60,000 mcg = 60 mg citalopram (range 20-40 mg)
    assert daily("citalopram", 60_000, unit="mcg") == {"dose_above_range": "major"}
    assert daily("citalopram", 0.02, unit="g") == {}


def test_units_the_data_does_not_know_are_refused():
    sert = F.get("sertraline")
    assert sert is not None
    assert rules.unit_problem(sert, "milligrams", R) is not None
    assert rules.unit_problem(sert, "tablet", R) is not None  # a sourced mg range: only mass units
    assert rules.unit_problem(sert, "MG", R) is None and rules.unit_problem(sert, "mcg", R) is None
    desv = F.get("desvenlafaxine")  # no sourced range: no dose finding, but the unit must still be known
    assert desv is not None and desv.dose is None
    assert rules.unit_problem(desv, "tablet", R) is None and rules.unit_problem(desv, "spoons", R) is not None
