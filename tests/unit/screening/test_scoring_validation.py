"""Input validation shared by every instrument (API answer contract; spec §1)."""

from __future__ import annotations

import pytest

from careweave.core.errors import InvalidInput, NotFound
from careweave.screening.errors import InvalidAnswers
from careweave.screening.scoring import ScoringConfig, score

VALID = {
    "phq-2": [0, 0],
    "phq-9": [0] * 9,
    "gad-2": [0, 0],
    "gad-7": [0] * 7,
    "mdq": [0] * 15,
    "audit-c": [0, 0, 0],
    "c-ssrs-screener": [0, 0, None, None, None, 0],
    "pcl-5": [0] * 20,
}


def test_error_is_a_422_invalid_input_with_its_own_code():
    assert issubclass(InvalidAnswers, InvalidInput)
    assert (InvalidAnswers.code, InvalidAnswers.status) == ("screening.invalid_answers", 422)


def test_unknown_instrument():
    with pytest.raises(NotFound) as caught:
        score("phq-10", [0])
    assert caught.value.fields[0].field == "instrument"


@pytest.mark.parametrize("code", VALID)
def test_all_zero_answers_score(code):
    """spec §1: every instrument accepts its all-'no'/'not at all' answer set."""
    result = score(code, VALID[code])
    assert result.code == code
    assert result.positive in (False, None)
    assert result.risk_level in (None, "none")


@pytest.mark.parametrize("code", VALID)
@pytest.mark.parametrize("bad", [True, False, 1.0, "1", b"1", [1], {"value": 1}])
def test_wrong_types_are_refused(code, bad):
    """Bools are not ints here; strings, floats and containers are not answers."""
    answers = list(VALID[code])
    answers[0] = bad
    with pytest.raises(InvalidAnswers) as caught:
        score(code, answers)
    assert caught.value.fields[0].field == "answers[0]"
    assert caught.value.fields[0].message.startswith("must be one of 0, 1")


@pytest.mark.parametrize("code", VALID)
@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_count_is_refused(code, delta):
    count = len(VALID[code]) + delta
    with pytest.raises(InvalidAnswers) as caught:
        score(code, [0] * count)
    assert caught.value.fields == [
        caught.value.fields[0].__class__(
            "answers", f"must have exactly {len(VALID[code])} values, got {count}"
        )
    ]


@pytest.mark.parametrize("answers", [None, "000000000", b"\x00" * 9, 0, {"a": 1}])
def test_answers_must_be_a_list(answers):
    with pytest.raises(InvalidAnswers) as caught:
        score("phq-9", answers)  # type: ignore[arg-type]
    assert caught.value.fields[0].field == "answers"


def test_tuple_answers_are_accepted():
    assert score("phq-2", (1, 2)).total == 3


def test_every_bad_item_is_named_once_in_order():
    with pytest.raises(InvalidAnswers) as caught:
        score("pcl-5", [9, 0, 0, "x", *[0] * 15, -2])
    assert [f.field for f in caught.value.fields] == ["answers[0]", "answers[3]", "answers[19]"]


@pytest.mark.parametrize(
    "config",
    [
        {"phq9_bands": ((1, "minimal"),)},
        {"gad7_bands": ((0, "minimal"), (5, "mild"), (5, "moderate"))},
        {"phq9_bands": ()},
        {"phq9_max_missing": 9},
        {"gad7_max_missing": -1},
    ],
)
def test_config_is_checked(config):
    with pytest.raises(ValueError, match="must"):
        ScoringConfig(**config)
