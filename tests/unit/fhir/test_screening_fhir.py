"""FHIR R4 output for screening (spec §8.1, §8.2): structural validation with the R4B models plus our own
checks of the required bindings, code systems and R4-only elements."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from careweave.fhir import screening as fhir
from careweave.screening.instruments import INSTRUMENT_CODES, Instrument, get_instrument
from careweave.screening.scoring import ScoreResult, score

AUTHORED = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
PATIENT = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")
RESPONSE = uuid.UUID("0b9f5b0e-8d0a-4b87-9b59-5d2b3a1c6f10")

# FHIR R4 4.0.1 value sets, typed in here so the tests do not trust the module's own constants.
R4_QUESTIONNAIRE_STATUS = {"draft", "active", "retired", "unknown"}
R4_QR_STATUS = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
R4_OBSERVATION_STATUS = {
    "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown",
}  # fmt: skip
R4_ITEM_TYPES = {
    "group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time", "string", "text", "url",
    "choice", "open-choice", "attachment", "reference", "quantity",
}  # fmt: skip
R4_ENABLE_WHEN_OPERATORS = {"exists", "=", "!=", ">", "<", ">=", "<="}
R4_DATA_ABSENT_REASON = {
    "unknown", "asked-unknown", "temp-unknown", "not-asked", "asked-declined", "masked", "not-applicable",
    "unsupported", "as-text", "error", "not-a-number", "negative-infinity", "positive-infinity",
    "not-performed", "not-permitted",
}  # fmt: skip
# R4 top-level elements (4.0.1) we may emit: anything else would be R4B/R5-only or a typo.
R4_ELEMENTS = {
    "Questionnaire": {
        "resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
        "modifierExtension", "url", "identifier", "version", "name", "title", "derivedFrom", "status",
        "experimental", "subjectType", "date", "publisher", "contact", "description", "useContext",
        "jurisdiction", "purpose", "copyright", "approvalDate", "lastReviewDate", "effectivePeriod", "code",
        "item",
    },
    "Questionnaire.item": {
        "id", "extension", "modifierExtension", "linkId", "definition", "code", "prefix", "text", "type",
        "enableWhen", "enableBehavior", "required", "repeats", "readOnly", "maxLength", "answerValueSet",
        "answerOption", "initial", "item",
    },
    "QuestionnaireResponse": {
        "resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
        "modifierExtension", "identifier", "basedOn", "partOf", "questionnaire", "status", "subject",
        "encounter", "authored", "author", "source", "item",
    },
    "Observation": {
        "resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
        "modifierExtension", "identifier", "basedOn", "partOf", "status", "category", "code", "subject",
        "focus", "encounter", "effectiveDateTime", "effectivePeriod", "effectiveTiming", "effectiveInstant",
        "issued", "performer", "valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean",
        "valueInteger", "valueRange", "valueRatio", "valueSampledData", "valueTime", "valueDateTime",
        "valuePeriod", "dataAbsentReason", "interpretation", "note", "bodySite", "method", "specimen",
        "device", "referenceRange", "hasMember", "derivedFrom", "component",
    },
}  # fmt: skip
LOINC = "http://loinc.org"
LOINC_CODE = re.compile(r"\d{1,6}-\d")
LOINC_ANSWER = re.compile(r"LA\d{1,6}-\d")

SAMPLES: dict[str, tuple[list[int | None], dict[str, Any]]] = {
    "phq-2": ([1, 2], {}),
    "phq-9": ([2, 2, 1, 1, None, 1, 0, 0, 1], {}),
    "gad-2": ([2, 2], {}),
    "gad-7": ([1, 2, 1, 0, 1, 2, 1], {}),
    "mdq": ([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 2], {}),
    "audit-c": ([2, 1, 1], {"sex": "female"}),
    "c-ssrs-screener": ([1, 1, 0, 0, 0, 1], {"behavior_within_3_months": True}),
    "pcl-5": ([2] * 10 + [1] * 10, {}),
}


def codings(node: Any) -> list[dict[str, Any]]:
    """Every Coding in a resource (anything with both system and code)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "system" in node and "code" in node:
            found.append(node)
        for value in node.values():
            found += codings(value)
    elif isinstance(node, list):
        for value in node:
            found += codings(value)
    return found


def check_codings(resource: dict[str, Any]) -> None:
    for coding in codings(resource):
        assert coding["system"].startswith(("http://", "https://")), coding
        if coding["system"] == LOINC:
            assert LOINC_CODE.fullmatch(coding["code"]) or LOINC_ANSWER.fullmatch(coding["code"]), coding


def build(code: str) -> tuple[Instrument, dict[str, Any], dict[str, Any], dict[str, Any], ScoreResult]:
    instrument = get_instrument(code)
    answers, extra = SAMPLES[code]
    qr_extra = {k: v for k, v in extra.items() if k == "behavior_within_3_months"}
    result = score(code, answers, **extra)
    return (
        instrument,
        fhir.questionnaire(instrument),
        fhir.questionnaire_response(
            response_id=RESPONSE, patient_id=PATIENT, instrument=instrument, answers=answers,
            authored=AUTHORED, **qr_extra,
        ),
        fhir.score_observation(
            observation_id="obs-1", response_id=RESPONSE, patient_id=PATIENT, instrument=instrument,
            result=result, effective=AUTHORED,
        ),
        result,
    )  # fmt: skip


# --------------------------------------------------------------------------- Questionnaire


def test_the_r4b_validator_is_not_a_no_op():
    """Guard for the tests below: unknown elements and missing required elements are rejected."""
    with pytest.raises(ValueError, match="validation error"):
        Observation.model_validate(
            {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "x": 1}
        )
    with pytest.raises(ValueError, match="validation error"):
        Observation.model_validate({"resourceType": "Observation", "status": "final"})


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_questionnaire_is_valid_r4(code):
    """spec §8.1: Questionnaire per instrument; choice items; answerOption valueCoding + ordinalValue."""
    instrument = get_instrument(code)
    resource = fhir.questionnaire(instrument)
    Questionnaire.model_validate(resource)
    assert set(resource) <= R4_ELEMENTS["Questionnaire"]
    assert resource["status"] in R4_QUESTIONNAIRE_STATUS
    assert resource["version"] == instrument.version
    check_codings(resource)
    link_ids = [item["linkId"] for item in resource["item"]]
    assert len(link_ids) == len(set(link_ids))
    for item in resource["item"]:
        assert set(item) <= R4_ELEMENTS["Questionnaire.item"]
        assert item["type"] in R4_ITEM_TYPES
        for condition in item.get("enableWhen", []):
            assert condition["operator"] in R4_ENABLE_WHEN_OPERATORS
            assert condition["question"] in link_ids[: link_ids.index(item["linkId"])]
        if item["type"] == "choice":
            source = instrument.item(item["linkId"])
            ordinals = [
                ext["valueDecimal"]
                for option in item["answerOption"]
                for ext in option["extension"]
                if ext["url"] == "http://hl7.org/fhir/StructureDefinition/ordinalValue"
            ]
            assert ordinals == list(source.values)


@pytest.mark.parametrize(
    ("code", "panel"), [("phq-9", "44249-1"), ("gad-7", "69737-5"), ("phq-2", "55757-9")]
)
def test_questionnaire_code_is_the_panel_loinc(code, panel):
    """spec §8.1: Questionnaire.code = instrument panel LOINC; item.code = item LOINC."""
    resource = fhir.questionnaire(get_instrument(code))
    assert [(c["system"], c["code"]) for c in resource["code"]] == [(LOINC, panel)]
    first = next(item for item in resource["item"] if item["type"] == "choice")
    assert first["code"][0]["system"] == LOINC
    assert first["answerOption"][0]["valueCoding"]["system"] == LOINC


def test_phq9_answer_codes_and_item_10():
    """spec §1.1 / §8.1: LA6568-5..LA6571-9 with scores 0-3; item 10 present but not required."""
    resource = fhir.questionnaire(get_instrument("phq-9"))
    item1 = next(i for i in resource["item"] if i["linkId"] == "44250-9")
    assert [o["valueCoding"]["code"] for o in item1["answerOption"]] == [
        "LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9",
    ]  # fmt: skip
    item10 = next(i for i in resource["item"] if i["linkId"] == "69722-7")
    assert item10["required"] is False and item10["code"][0]["code"] == "69722-7"
    total = resource["item"][-1]
    assert (total["type"], total["readOnly"], total["code"][0]["code"]) == ("integer", True, "44261-6")


def test_unverified_auditc_codes_are_not_emitted():
    """spec §1.6 / §9 item 4: 72109-2 and 75626-2 are [UNVERIFIED]; verified item codes still appear."""
    resource = fhir.questionnaire(get_instrument("audit-c"))
    emitted = {c["code"] for c in codings(resource) if c["system"] == LOINC}
    assert "72109-2" not in emitted and "75626-2" not in emitted
    assert {"68518-0", "68519-8", "68520-6", "LA18926-8"} <= emitted


def test_cssrs_skip_logic_as_enable_when():
    """spec §1.7: Q3-Q5 only when Q2 = yes; 6b only when Q6 = yes."""
    resource = fhir.questionnaire(get_instrument("c-ssrs-screener"))
    gated = {i["linkId"]: i["enableWhen"][0] for i in resource["item"] if "enableWhen" in i}
    assert set(gated) == {"c-ssrs-q3", "c-ssrs-q4", "c-ssrs-q5", "c-ssrs-q6b"}
    assert gated["c-ssrs-q3"]["question"] == "c-ssrs-q2"
    assert gated["c-ssrs-q3"]["answerCoding"]["code"] == "LA33-6"
    assert gated["c-ssrs-q6b"]["question"] == "c-ssrs-q6"
    assert not any(i["type"] == "integer" for i in resource["item"])  # no total: risk is never a sum


def test_local_answer_codes_for_uncoded_options():
    """PCL-5 options have no LOINC answer codes in the spec: a Careweave code system under the base URL."""
    resource = fhir.questionnaire(get_instrument("pcl-5"), canonical_base="https://fhir.example.org")
    coding = resource["item"][2]["answerOption"][1]["valueCoding"]
    assert coding == {
        "system": "https://fhir.example.org/CodeSystem/pcl-5-answers",
        "code": "a-little-bit",
        "display": "A little bit",
    }
    assert resource["url"] == "https://fhir.example.org/Questionnaire/pcl-5"


def test_questionnaire_status_is_checked():
    with pytest.raises(ValueError, match=r"Questionnaire\.status"):
        fhir.questionnaire(get_instrument("phq-9"), status="published")


# --------------------------------------------------------------------------- QuestionnaireResponse


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_questionnaire_response_is_valid_r4(code):
    """spec §8.1: QR with questionnaire canonical, subject, authored; raw answers as codings."""
    instrument, questionnaire, response, _, _ = build(code)
    QuestionnaireResponse.model_validate(response)
    assert set(response) <= R4_ELEMENTS["QuestionnaireResponse"]
    assert response["status"] in R4_QR_STATUS
    assert response["questionnaire"] == f"{questionnaire['url']}|{instrument.version}"
    assert response["subject"] == {"reference": f"Patient/{PATIENT}"}
    assert response["authored"] == "2026-11-26T14:30:00+00:00"
    check_codings(response)
    options = {
        item["linkId"]: [o["valueCoding"] for o in item["answerOption"]]
        for item in questionnaire["item"]
        if item["type"] == "choice"
    }
    order = [item["linkId"] for item in questionnaire["item"]]
    assert [item["linkId"] for item in response["item"]] == [
        link_id for link_id in order if link_id in {i["linkId"] for i in response["item"]}
    ]
    for item in response["item"]:
        assert item["answer"][0]["valueCoding"] in options[item["linkId"]]


def test_missing_and_skipped_answers_are_omitted():
    """spec §8.1: store raw answers as given - a missing PHQ-9 item has no QR item."""
    _, _, response, _, _ = build("phq-9")
    assert "44251-7" not in {item["linkId"] for item in response["item"]}
    assert len(response["item"]) == 8
    cssrs = fhir.questionnaire_response(
        response_id=RESPONSE, patient_id=PATIENT, instrument=get_instrument("c-ssrs-screener"),
        answers=[0, 0, None, None, None, 0], authored=AUTHORED,
    )  # fmt: skip
    assert [item["linkId"] for item in cssrs["item"]] == ["c-ssrs-q1", "c-ssrs-q2", "c-ssrs-q6"]


def test_cssrs_behavior_answer_is_item_6b():
    """spec §1.7: 6b (behavior within the past 3 months) is stored with the response."""
    _, _, response, _, _ = build("c-ssrs-screener")
    last = response["item"][-1]
    assert last["linkId"] == "c-ssrs-q6b"
    assert last["answer"][0]["valueCoding"]["code"] == "LA33-6"


@pytest.mark.parametrize("status", sorted(R4_QR_STATUS))
def test_every_r4_response_status_is_accepted(status):
    response = fhir.questionnaire_response(
        response_id=RESPONSE, patient_id=PATIENT, instrument=get_instrument("phq-2"), answers=[0, 0],
        authored=AUTHORED, status=status,
    )  # fmt: skip
    QuestionnaireResponse.model_validate(response)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"status": "final"}, "QuestionnaireResponse.status"),
        ({"answers": [0]}, "needs 2 answers"),
        ({"answers": [0, 4]}, "not one of its options"),
        ({"answers": [0, True]}, "not one of its options"),
        ({"authored": datetime(2026, 11, 26, 14, 30)}, "time zone"),
        ({"patient_id": "not a valid id!"}, "FHIR id"),
        ({"behavior_within_3_months": True}, "c-ssrs-screener"),
        ({"source_reference": "Organization/x"}, "source"),
    ],
)
def test_questionnaire_response_rejects_bad_input(kwargs, match):
    arguments: dict[str, Any] = {
        "response_id": RESPONSE, "patient_id": PATIENT, "instrument": get_instrument("phq-2"),
        "answers": [0, 0], "authored": AUTHORED,
    } | kwargs  # fmt: skip
    with pytest.raises(ValueError, match=match):
        fhir.questionnaire_response(**arguments)


def test_source_and_offset_time():
    """spec §8.1: author/source distinguishes patient- from clinician-administered."""
    authored = datetime(2026, 11, 26, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    response = fhir.questionnaire_response(
        response_id=RESPONSE, patient_id=PATIENT, instrument=get_instrument("phq-2"), answers=[0, 0],
        authored=authored, source_reference=f"Patient/{PATIENT}",
    )  # fmt: skip
    QuestionnaireResponse.model_validate(response)
    assert response["source"] == {"reference": f"Patient/{PATIENT}"}
    assert response["authored"] == "2026-11-26T09:30:00-05:00"


# --------------------------------------------------------------------------- Observation


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_score_observation_is_valid_r4(code):
    """spec §8.2: status, category survey, subject, effective, derivedFrom the QR."""
    _, _, _, observation, result = build(code)
    Observation.model_validate(observation)
    assert set(observation) <= R4_ELEMENTS["Observation"]
    assert observation["status"] in R4_OBSERVATION_STATUS
    assert observation["status"] == ("final" if result.complete else "preliminary")
    assert observation["category"][0]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey",
        }
    ]
    assert observation["subject"] == {"reference": f"Patient/{PATIENT}"}
    assert observation["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{RESPONSE}"}]
    assert observation["effectiveDateTime"] == "2026-11-26T14:30:00+00:00"
    assert observation["component"][0]["valueInteger"] == result.answered_count
    check_codings(observation)
    if result.total is not None:
        assert observation["valueInteger"] == result.total
    else:
        assert observation["valueCodeableConcept"]["coding"][0]["code"] == result.risk_level


@pytest.mark.parametrize(
    ("code", "loinc"), [("phq-9", "44261-6"), ("gad-7", "70274-6"), ("phq-2", "55758-7")]
)
def test_observation_code_is_the_total_loinc(code, loinc):
    """spec §8.2: code = LOINC total score."""
    _, _, _, observation, _ = build(code)
    assert observation["code"]["coding"] == [{"system": LOINC, "code": loinc}]


def test_auditc_observation_has_no_unverified_code_and_records_cut_point():
    """spec §8.2: AUDIT-C 75626-2 [verify] - text only until confirmed; §1.6: record the cut point used."""
    _, _, _, observation, _ = build("audit-c")
    assert "coding" not in observation["code"]
    assert observation["code"]["text"] == "AUDIT-C total score"
    assert {"text": "Cut point 3 used (basis: female)."} in observation["note"]
    assert {"text": "Positive screen"} in observation["interpretation"]


def test_phq9_severity_proration_and_item9_component():
    """spec §8.2: severity via interpretation/note; prorated totals noted with answered_count; item 9
    positive queryable as its own component."""
    _, _, _, observation, result = build("phq-9")
    assert result.prorated and result.total == 9  # 8 x 9/8
    assert {"text": "Severity: Mild"} in observation["interpretation"]
    assert {"text": "Total prorated from 8 answered items of 9."} in observation["note"]
    item9 = observation["component"][1]
    assert item9["code"]["coding"] == [{"system": LOINC, "code": "44260-8"}]
    assert item9["valueInteger"] == 1
    assert item9["interpretation"]


def test_phq9_item9_missing_is_preliminary_with_absent_reason():
    """spec §1.1 platform rule and §8.2: incomplete score -> status preliminary; item 9 has no value."""
    instrument = get_instrument("phq-9")
    result = score("phq-9", [1, 1, 1, 1, 1, 1, 1, 1, None])
    observation = fhir.score_observation(
        observation_id="obs-2", response_id=RESPONSE, patient_id=PATIENT, instrument=instrument,
        result=result, effective=AUTHORED,
    )  # fmt: skip
    Observation.model_validate(observation)
    assert observation["status"] == "preliminary"
    item9 = observation["component"][1]
    assert "valueInteger" not in item9
    reason = item9["dataAbsentReason"]["coding"][0]
    assert reason["system"] == "http://terminology.hl7.org/CodeSystem/data-absent-reason"
    assert reason["code"] in R4_DATA_ABSENT_REASON


def test_cssrs_observation_carries_the_risk_level():
    """spec §8.2: C-SSRS risk level as its own Observation, queryable."""
    _, _, _, observation, result = build("c-ssrs-screener")
    assert result.risk_level == "high"
    value = observation["valueCodeableConcept"]
    assert value["text"] == "High (imminent)"
    assert value["coding"][0]["system"].endswith("/CodeSystem/c-ssrs-screener-risk-level")
    assert "valueInteger" not in observation


@pytest.mark.parametrize("code", ["mdq", "pcl-5"])
def test_part_and_cluster_results_are_noted(code):
    """spec §1.5 / §1.8: the parts (MDQ) and both rules (PCL-5) are recorded."""
    _, _, _, observation, _ = build(code)
    text = " ".join(note["text"] for note in observation["note"])
    assert ("part 3 problem level" in text) if code == "mdq" else ("DSM-5 cluster rule met" in text)


def test_observation_rejects_a_result_for_another_instrument():
    with pytest.raises(ValueError, match="result is for"):
        fhir.score_observation(
            observation_id="obs-3", response_id=RESPONSE, patient_id=PATIENT, instrument=get_instrument("gad-7"),
            result=score("phq-2", [0, 0]), effective=AUTHORED,
        )  # fmt: skip


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_each_answer_coding_means_one_score(code):
    """Within one Questionnaire, a coding (LOINC or local) always carries the same ordinal value."""
    meaning: dict[tuple[str, str], float] = {}
    for item in fhir.questionnaire(get_instrument(code))["item"]:
        for option in item.get("answerOption", ()):
            key = (option["valueCoding"]["system"], option["valueCoding"]["code"])
            assert meaning.setdefault(key, option["extension"][0]["valueDecimal"]) == meaning[key]
