"""Instrument data files: loader, contents and agreement with the scoring defaults (spec §1, §8.1)."""

from __future__ import annotations

import json

import pytest

from careweave.core.errors import NotFound
from careweave.screening import instruments
from careweave.screening.instruments import INSTRUMENT_CODES, all_instruments, get_instrument
from careweave.screening.scoring import DEFAULT_CONFIG

SCORED_COUNTS = {
    "phq-2": 2,
    "phq-9": 9,
    "gad-2": 2,
    "gad-7": 7,
    "mdq": 15,
    "audit-c": 3,
    "c-ssrs-screener": 6,
    "pcl-5": 20,
}


def test_all_instruments_in_canonical_order():
    # spec §1: the eight instruments, codes exactly as the API uses them
    assert [i.code for i in all_instruments()] == list(INSTRUMENT_CODES)
    assert set(INSTRUMENT_CODES) == set(SCORED_COUNTS)


@pytest.mark.parametrize(("code", "count"), SCORED_COUNTS.items())
def test_scored_items_are_the_posted_answers(code, count):
    # spec §1.1-§1.8: one posted answer per scored item
    assert len(get_instrument(code).scored_items) == count


def test_unknown_instrument_is_not_found():
    with pytest.raises(NotFound) as caught:
        get_instrument("phq-10")
    assert caught.value.fields[0].field == "instrument"


def test_loaded_once_and_cached():
    assert get_instrument("phq-9") is get_instrument("phq-9")
    assert instruments._catalogue.cache_info().currsize == 1


def test_phq9_item_10_is_listed_but_not_scored():
    # spec §1.1: item 10 (functional difficulty) is not added to the total
    phq9 = get_instrument("phq-9")
    item10 = phq9.item("69722-7")
    assert not item10.scored
    assert item10 not in phq9.scored_items
    assert [o.code for o in item10.answer_options] == ["LA6572-7", "LA6573-5", "LA6575-0", "LA6574-3"]


def test_gad7_difficulty_question_is_not_scored():
    # spec §1.3: the GAD-7 form carries the same optional, unscored difficulty question
    gad7 = get_instrument("gad-7")
    assert [i.scored for i in gad7.items] == [True] * 7 + [False]


def test_phq9_codes_match_the_spec():
    # spec §1.1 and §8.14
    phq9 = get_instrument("phq-9")
    assert phq9.panel is not None and (phq9.panel.code, phq9.panel.verified) == ("44249-1", True)
    assert phq9.total is not None and phq9.total.code is not None and phq9.total.code.code == "44261-6"
    assert [i.code.code for i in phq9.scored_items if i.code] == [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8",
    ]  # fmt: skip
    assert [(o.value, o.code) for o in phq9.scored_items[0].answer_options] == [
        (0, "LA6568-5"), (1, "LA6569-3"), (2, "LA6570-1"), (3, "LA6571-9"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "panel", "total"), [("phq-2", "55757-9", "55758-7"), ("gad-7", "69737-5", "70274-6")]
)
def test_panel_and_total_codes(code, panel, total):
    # spec §1.2, §1.3, §8.14
    instrument = get_instrument(code)
    assert instrument.panel is not None and instrument.panel.code == panel and instrument.panel.verified
    assert instrument.total is not None and instrument.total.code is not None
    assert instrument.total.code.code == total and instrument.total.code.verified


def test_auditc_codes_are_marked_unverified():
    # spec §1.6, §8.2 and §9 item 4: 72109-2 / 75626-2 must be confirmed in LOINC
    audit = get_instrument("audit-c")
    assert audit.panel is not None and audit.total is not None and audit.total.code is not None
    assert (audit.panel.code, audit.panel.verified) == ("72109-2", False)
    assert (audit.total.code.code, audit.total.code.verified) == ("75626-2", False)
    assert audit.panel.note and "UNVERIFIED" in audit.panel.note


def test_mdq_and_cssrs_wording_is_paraphrased():
    # spec §1.5 (MDQ wording must not be reproduced) and §1.7 (C-SSRS paraphrased)
    for code, marker in (("mdq", "publisher's form"), ("c-ssrs-screener", "official C-SSRS")):
        for item in get_instrument(code).items:
            assert item.paraphrased
            assert "paraphrased construct" in item.text and marker in item.text


def test_cssrs_skip_logic_in_data():
    # spec §1.7: Q3-Q5 only if Q2 = yes; 6b only if Q6 = yes
    cssrs = get_instrument("c-ssrs-screener")
    gated = {i.link_id: (i.enable_when.question, i.enable_when.answer) for i in cssrs.items if i.enable_when}
    assert gated == {
        "c-ssrs-q3": ("c-ssrs-q2", 1),
        "c-ssrs-q4": ("c-ssrs-q2", 1),
        "c-ssrs-q5": ("c-ssrs-q2", 1),
        "c-ssrs-q6b": ("c-ssrs-q6", 1),
    }
    assert not cssrs.item("c-ssrs-q6b").scored


def test_pcl5_answer_labels():
    # spec §1.8: 0-4 Not at all, A little bit, Moderately, Quite a bit, Extremely
    labels = [o.label for o in get_instrument("pcl-5").scored_items[0].answer_options]
    assert labels == ["Not at all", "A little bit", "Moderately", "Quite a bit", "Extremely"]


def test_every_instrument_cites_sources():
    for instrument in all_instruments():
        assert instrument.sources and all(s.citation and s.used_for for s in instrument.sources)
        assert instrument.spec.startswith("clinical-spec.md §1.")


def test_data_bands_match_scoring_defaults():
    # spec §1.1 and §1.3: one truth for bands in the data files and in ScoringConfig
    for code, bands in (("phq-9", DEFAULT_CONFIG.phq9_bands), ("gad-7", DEFAULT_CONFIG.gad7_bands)):
        data = get_instrument(code).scoring["bands"]
        assert tuple((band["min"], band["severity"]) for band in data) == bands
        assert data[-1]["max"] == get_instrument(code).total.max  # type: ignore[union-attr]


def test_data_thresholds_match_scoring_defaults():
    # spec §1.1-§1.8
    c = DEFAULT_CONFIG
    s = {i.code: i.scoring for i in all_instruments()}
    assert s["phq-2"]["positive"]["min"] == c.phq2_cut
    assert s["gad-2"]["positive"]["min"] == c.gad2_cut
    assert s["phq-9"]["positive"]["min"] == c.phq9_cut
    assert s["gad-7"]["positive"]["min"] == c.gad7_cut
    assert s["phq-9"]["max_missing"] == c.phq9_max_missing
    assert s["gad-7"]["max_missing"] == c.gad7_max_missing
    assert s["phq-9"]["suicide_item"]["min"] == c.phq9_suicide_item_min
    assert s["mdq"]["positive"]["part1_yes_min"] == c.mdq_yes_min
    assert s["mdq"]["positive"]["part3_problem_min"] == c.mdq_problem_min
    assert (s["audit-c"]["positive"]["male_min"], s["audit-c"]["positive"]["female_min"]) == (
        c.auditc_cut_male,
        c.auditc_cut_female,
    )
    assert s["pcl-5"]["positive"]["cut_point"] == c.pcl5_cut
    assert s["pcl-5"]["positive"]["item_endorsed_min"] == c.pcl5_item_endorsed_min


def test_data_is_frozen():
    phq9 = get_instrument("phq-9")
    with pytest.raises(TypeError):
        phq9.scoring["max_missing"] = 9  # type: ignore[index]
    with pytest.raises(AttributeError):
        phq9.version = "9"  # type: ignore[misc]


def test_data_files_are_valid_json_with_version():
    for code in INSTRUMENT_CODES:
        raw = json.loads(instruments._read(code))
        assert raw["code"] == code and raw["version"]
