"""Treatment plan and note rules (issue #6): pure, no database."""

from __future__ import annotations

from datetime import date

import pytest

from careweave.records import rules

TODAY = date(2026, 12, 1)
CARA, BEN, OTHER = "c0000000-0000-0000-0000-000000000001", "b0000000-0000-0000-0000-000000000002", "o-3"


def plan(**over):
    raw = {
        "problems": [{"code": "f32.1", "description": "Major depressive disorder, single episode, moderate"}],
        "goals": [{"instrument": "PHQ-9", "comparator": "below", "target": 5, "due": "2027-03-01"}],
        "interventions": [
            {
                "discipline": "therapy",
                "owner_user_id": CARA,
                "description": "Weekly CBT",
                "frequency": "weekly",
            },
            {"discipline": "psychiatry", "owner_user_id": BEN, "description": "Sertraline 50 mg, titrate"},
        ],
        "review_date": "2027-01-15",
    }
    raw.update(over)
    return raw


def fields(errors):
    return {e.field for e in errors}


@pytest.mark.parametrize("code", ["F32.1", "F43.10", "F32.A", "F41.1", "F10.10", "T40.1X1A", "F32"])
def test_icd10cm_code_shapes_accepted(code):
    assert rules.valid_code(code)


@pytest.mark.parametrize("code", ["", "32.1", "F3", "F32.", "F32.12345", "FF2.1", "F32-1", "depression"])
def test_icd10cm_code_shapes_refused(code):
    assert not rules.valid_code(code)


def test_valid_plan_is_canonical():
    content, errors = rules.validate_plan(plan(), today=TODAY, team_user_ids=[CARA, BEN])
    assert errors == []
    assert content["problems"][0]["code"] == "F32.1"
    assert content["goals"][0] == {
        "instrument": "PHQ-9",
        "comparator": "below",
        "target": 5,
        "due": "2027-03-01",
    }
    assert content["review_date"] == "2027-01-15"


def test_invalid_plan_names_every_field():
    raw = plan(
        problems=[{"code": "depression", "description": "x"}, {"code": "F41.1", "description": ""}],
        goals=[
            {"instrument": "PHQ-9", "comparator": "below", "target": 30, "due": "2027-03-01"},
            {"instrument": "BDI", "comparator": "under", "target": 5, "due": "soon"},
        ],
        interventions=[{"discipline": "psychiatry", "owner_user_id": OTHER, "description": "meds"}],
        review_date="2026-11-30",
    )
    _, errors = rules.validate_plan(raw, today=TODAY, team_user_ids=[CARA, BEN])
    assert fields(errors) >= {
        "problems[0].code",
        "problems[1].description",
        "goals[0].target",
        "goals[1].instrument",
        "goals[1].comparator",
        "goals[1].due",
        "interventions[0].owner_user_id",
        "review_date",
    }


def test_duplicate_problem_and_empty_plan_refused():
    dup = [{"code": "F32.1", "description": "a"}, {"code": "f32.1", "description": "b"}]
    _, errors = rules.validate_plan(plan(problems=dup), today=TODAY, team_user_ids=[CARA, BEN])
    assert "problems[0].code" in fields(errors)
    _, errors = rules.validate_plan({"review_date": "2027-01-01"}, today=TODAY, team_user_ids=[CARA])
    assert "problems" in fields(errors)


def test_reason_required():
    assert fields(rules.validate_reason("")) == {"reason"}
    assert fields(rules.validate_reason("ok")) == {"reason"}
    assert rules.validate_reason("PHQ-9 improved; stepping down") == []


def test_item_categories():
    assert rules.item_category("interventions", {"discipline": "psychiatry"}) == "medications"
    assert rules.item_category("interventions", {"discipline": "therapy"}) == "plan"
    assert rules.item_category("problems", {"code": "F10.10"}) == "substance_use"
    assert rules.item_category("problems", {"code": "F32.1"}) == "plan"
    assert rules.item_category("goals", {"instrument": "AUDIT-C"}) == "substance_use"


def test_redact_hides_medications_unless_shared_or_authored():
    content, _ = rules.validate_plan(plan(), today=TODAY, team_user_ids=[CARA, BEN])
    content = rules.stamp_authors(content, None, CARA)
    no_meds: rules.Sees = lambda category, authors: category == "plan"  # noqa: E731
    visible, hidden = rules.redact(content, no_meds)
    assert [i["discipline"] for i in visible["interventions"]] == ["therapy"]
    assert hidden == [rules.Hidden("interventions", "medications", 1)]
    assert hidden[0].reason == "hidden: the patient has not shared medications with you"
    # the owner of the medication intervention counts as its author
    ben_sees: rules.Sees = lambda category, authors: category == "plan" or BEN in authors  # noqa: E731
    visible, hidden = rules.redact(content, ben_sees)
    assert len(visible["interventions"]) == 2 and hidden == []


def test_writer_keeps_what_they_cannot_see():
    before, _ = rules.validate_plan(plan(), today=TODAY, team_user_ids=[CARA, BEN])
    before = rules.stamp_authors(before, None, BEN)

    def no_meds(category, authors):
        return category == "plan" or (category == "medications" and CARA in authors)

    submitted, _ = rules.validate_plan(
        plan(interventions=[{"discipline": "therapy", "owner_user_id": CARA, "description": "Biweekly CBT"}]),
        today=TODAY,
        team_user_ids=[CARA, BEN],
    )
    merged = rules.merge_hidden(rules.stamp_authors(submitted, before, CARA), before, no_meds)
    assert [i["description"] for i in merged["interventions"]] == [
        "Biweekly CBT",
        "Sertraline 50 mg, titrate",
    ]
    # unchanged items keep who added them; changed ones are the writer's
    assert merged["problems"][0]["added_by"] == BEN
    assert merged["interventions"][0]["added_by"] == CARA


def test_diff_between_versions():
    old, _ = rules.validate_plan(plan(), today=TODAY, team_user_ids=[CARA, BEN])
    new, _ = rules.validate_plan(
        plan(
            problems=[
                {"code": "F32.1", "description": "Major depressive disorder, single episode, moderate"},
                {"code": "F41.1", "description": "Generalized anxiety disorder"},
            ],
            goals=[{"instrument": "PHQ-9", "comparator": "below", "target": 10, "due": "2027-03-01"}],
            interventions=[],
            review_date="2027-02-01",
        ),
        today=TODAY,
        team_user_ids=[CARA, BEN],
    )
    changes = {(c.part, c.kind, c.fields) for c in rules.diff(old, new)}
    assert ("problems", "added", ()) in changes
    assert ("goals", "changed", ("target",)) in changes
    assert ("interventions", "removed", ()) in changes
    assert ("review_date", "changed", ()) in changes
    assert len(rules.diff(None, old)) == 5  # first version: everything added
    assert rules.diff(old, old) == []


def test_plain_language_for_the_patient():
    content, _ = rules.validate_plan(
        plan(
            problems=[
                {"code": "F32.1", "description": "Major depressive disorder, single episode, moderate"},
                {"code": "F41.9", "description": "Anxiety disorder, unspecified"},
                {"code": "Z63.0", "description": "Problems in relationship with spouse or partner"},
            ],
            goals=[
                {
                    "instrument": "PHQ-9",
                    "comparator": "below",
                    "target": 5,
                    "due": "2027-03-01",
                    "description": "Enjoy weekends again",
                }
            ],
        ),
        today=TODAY,
        team_user_ids=[CARA, BEN],
    )
    plain = rules.plain_language(content, {CARA: "Cara T", BEN: "Dr. Ben"})
    assert plain.problems == [
        "Depression (moderate)",
        "Anxiety",
        "Problems in relationship with spouse or partner",
    ]
    assert plain.goals == [
        "Enjoy weekends again. Bring your score on the depression questionnaire (PHQ-9) below 5 by March 1, 2027."
    ]
    assert plain.interventions[0] == "Therapy with Cara T: Weekly CBT (weekly)."
    assert plain.interventions[1].startswith("Medication with Dr. Ben:")
    assert plain.review == "Your care team will review this plan with you by January 15, 2027."
    assert not any("F32" in line for line in plain.problems + plain.goals)


def test_note_sections():
    clean, errors = rules.validate_sections("SOAP", {"S": " feels low ", "O": "flat", "A": "MDD", "P": "CBT"})
    assert errors == [] and clean["S"] == "feels low"
    _, errors = rules.validate_sections("SOAP", {"S": "x", "O": "", "A": "y"})
    assert fields(errors) == {"sections.O", "sections.P"}
    _, errors = rules.validate_sections("DAP", {"D": "x", "A": "y", "P": "z", "S": "no"})
    assert fields(errors) == {"sections.S"}
    assert fields(rules.validate_sections("BIRP", {})[1]) == {"format"}
    assert fields(rules.validate_sections("DAP", "text")[1]) == {"sections"}
