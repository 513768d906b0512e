"""The crisis-language matcher (issue #6): pure, data-driven, case/punctuation-insensitive, negation-aware."""

from __future__ import annotations

import pytest

from careweave.messaging import crisis

HIGH = [
    "I'm going to kill myself tonight",
    "I CAN'T keep myself safe!!!",
    "i cannot keep myself safe",
    "I’ll kill myself",  # curly apostrophe
    "I've saved up all my pills",
    "I took too many pills",
    "I wrote a suicide note",
    "I'm going to hurt someone at work",
    "Not sure I can keep myself safe",
]
MODERATE = [
    "I want to die",
    "i WANT to DIE.",
    "I’ve been thinking about suicide",
    "I don't know what to do, I want to die",  # the negation belongs to another clause
    "I'm not ok and I want to end my life",
    "I'm not going to lie I want to die",  # the cue is too far before the phrase
    "no one cares, i want to die",
    "No one cares I want to die",  # "no one" is not a negation
    "Everyone would be better off without me.",
    "self-harm again this week",
    "I wish I could go to sleep and never wake up",
    "Sometimes I feel like there's no reason to live",
    "kms",
]
NOT_CRISIS = [
    "",
    "   ",
    "Can we reschedule to Tuesday?",
    "This traffic is killing me",
    "I'm dying to see the new movie",
    "My killer headache is gone",
    "I'm not going to kill myself, don't worry",
    "I don't want to die",
    "I would never hurt myself",
    "No thoughts of suicide since my last visit",
    "I have no plans to end my life",
    "I never want to hurt myself",
]


@pytest.mark.parametrize("text", HIGH)
def test_imminent_signals_are_high(text):
    result = crisis.check(text)
    assert result.matched and result.level == "high" and result.imminent, result


@pytest.mark.parametrize("text", MODERATE)
def test_warning_signs_are_moderate(text):
    result = crisis.check(text)
    assert result.matched and result.level == "moderate" and not result.imminent, result


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_ordinary_and_negated_messages_do_not_match(text):
    assert crisis.check(text) == crisis.NO_MATCH


def test_result_names_rules_never_text():
    result = crisis.check("I'm going to kill myself")
    assert set(result.rule_ids) == {"suicidal_intent_or_plan", "suicidal_thoughts"}
    assert "kill" not in repr(result.rule_ids)


def test_the_list_is_sourced_and_valid():
    doc = crisis.read_document()
    data = crisis.parse(doc)
    assert data.rules and all(r.sources for r in data.rules)
    assert {"988-warning-signs", "samhsa-warning-signs", "cssrs-screener", "triage-step0"} <= set(
        data.sources
    )
    # every high rule is a triage STEP 0 signal
    assert all(r.triage for r in data.rules if r.level == "high")


def test_a_custom_list_drives_the_matcher():
    doc = crisis.read_document()
    doc["rules"] = [
        {
            "id": "test",
            "level": "high",
            "sources": ["988-warning-signs"],
            "triage": "x",
            "phrases": ["blue ... sky"],
        }
    ]
    data = crisis.parse(doc)
    assert crisis.check("the Blue, bright sky", data) == crisis.NO_MATCH  # a comma ends the clause
    assert not crisis.check("not the blue sky", data).matched  # negated
    assert crisis.check("not now and the blue sky", data).matched  # "and" ends the negation's scope
    assert crisis.check("the blue very bright sky", data).matched
    assert not crisis.check("I want to die", data).matched


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"level": "urgent"}, "level"),
        ({"sources": ["nowhere"]}, "unknown sources"),
        ({"phrases": ["... sky"]}, "starts/ends"),
        ({"phrases": []}, "empty"),
    ],
)
def test_malformed_lists_are_refused(change, message):
    doc = crisis.read_document()
    doc["rules"] = [
        {"id": "t", "level": "high", "sources": ["988-warning-signs"], "phrases": ["a b"], **change}
    ]
    with pytest.raises(crisis.CrisisDataError, match=message):
        crisis.parse(doc)
    doc.pop("negation")
    with pytest.raises(crisis.CrisisDataError):
        crisis.parse(doc)
