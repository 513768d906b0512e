"""Screening as FHIR R4 (4.0.1) JSON: Questionnaire, QuestionnaireResponse and the score Observation
(``clinical-spec.md`` §8.1, §8.2). Pure functions returning plain dicts; only R4 elements are emitted.

Codes: a LOINC panel/total/question code is emitted only when the instrument data marks it verified. Codes the
spec marks [UNVERIFIED]/[verify] (AUDIT-C 72109-2 and 75626-2, spec §9 item 4) stay in the data file, with the
evidence found, until someone confirms them in LOINC and flips ``verified``. Answer options without a LOINC
answer code (MDQ part 3, PCL-5) use a Careweave code system under ``canonical_base``.

Required bindings are checked here (status codes); the spec gives no interpretation codes, so severity and
screen results are carried as ``interpretation.text`` and ``note`` (§8.2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from careweave.fhir.datatypes import date_time
from careweave.screening.instruments import AnswerOption, Instrument, Item
from careweave.screening.scoring import ScoreResult

LOINC: Final = "http://loinc.org"
ORDINAL_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
DEFAULT_CANONICAL_BASE: Final = "https://careweave.example/fhir"

# Required bindings (FHIR R4 4.0.1).
QUESTIONNAIRE_STATUSES: Final = frozenset({"draft", "active", "retired", "unknown"})
QUESTIONNAIRE_RESPONSE_STATUSES: Final = frozenset(
    {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
)
OBSERVATION_STATUSES: Final = frozenset(
    {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
)
QUESTIONNAIRE_ITEM_TYPES: Final = frozenset(
    {
        "group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time", "string", "text",
        "url", "choice", "open-choice", "attachment", "reference", "quantity",
    }
)  # fmt: skip
ENABLE_WHEN_OPERATORS: Final = frozenset({"exists", "=", "!=", ">", "<", ">=", "<="})
QUESTIONNAIRE_RESPONSE_SOURCE_TYPES: Final = frozenset(
    {"Patient", "Practitioner", "PractitionerRole", "RelatedPerson"}
)

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_BEHAVIOR_ITEM: Final = "c-ssrs-q6b"


# --------------------------------------------------------------------------- Questionnaire


def questionnaire(
    instrument: Instrument, *, canonical_base: str = DEFAULT_CANONICAL_BASE, status: str = "active"
) -> dict[str, Any]:
    """The instrument as a Questionnaire (§8.1): panel LOINC as ``code``, choice items with ``answerOption``
    codings carrying the score in the ``ordinalValue`` extension, and a read-only total item."""
    _require(status, QUESTIONNAIRE_STATUSES, "Questionnaire.status")
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": instrument.code,
        "url": questionnaire_url(instrument, canonical_base=canonical_base),
        "version": instrument.version,
        "name": instrument.code.upper().replace("-", "_"),
        "title": instrument.title,
        "status": status,
        "subjectType": ["Patient"],
        "description": instrument.description,
        "copyright": instrument.copyright,
    }
    if instrument.panel is not None and instrument.panel.verified:
        resource["code"] = [_coding(instrument.panel.system, instrument.panel.code, instrument.panel.display)]
    resource["item"] = [
        *_display_items(instrument),
        *(_question(instrument, item, canonical_base) for item in instrument.items),
        *_total_item(instrument),
    ]
    _check_items(resource["item"])
    return resource


def _check_items(items: list[dict[str, Any]]) -> None:
    for item in items:
        _require(item["type"], QUESTIONNAIRE_ITEM_TYPES, "Questionnaire.item.type")
        for condition in item.get("enableWhen", ()):
            _require(condition["operator"], ENABLE_WHEN_OPERATORS, "Questionnaire.item.enableWhen.operator")


def questionnaire_url(instrument: Instrument, *, canonical_base: str = DEFAULT_CANONICAL_BASE) -> str:
    return f"{canonical_base}/Questionnaire/{instrument.code}"


def _display_items(instrument: Instrument) -> list[dict[str, Any]]:
    texts = (("instructions", instrument.instructions), ("stem", instrument.stem))
    return [
        {"linkId": f"{instrument.code}-{name}", "text": text, "type": "display"}
        for name, text in texts
        if text
    ]


def _question(instrument: Instrument, item: Item, canonical_base: str) -> dict[str, Any]:
    question: dict[str, Any] = {"linkId": item.link_id}
    if item.code is not None and item.code.verified:
        question["code"] = [_coding(item.code.system, item.code.code, item.code.display)]
    question |= {"prefix": item.number, "text": item.text, "type": "choice", "required": item.required}
    if item.enable_when is not None:
        trigger = instrument.item(item.enable_when.question)
        question["enableWhen"] = [
            {
                "question": trigger.link_id,
                "operator": "=",
                "answerCoding": _answer_coding(
                    instrument, trigger.option(item.enable_when.answer), canonical_base
                ),
            }
        ]
    question["answerOption"] = [
        {
            "extension": [{"url": ORDINAL_VALUE, "valueDecimal": option.value}],
            "valueCoding": _answer_coding(instrument, option, canonical_base),
        }
        for option in item.answer_options
    ]
    return question


def _total_item(instrument: Instrument) -> list[dict[str, Any]]:
    total = instrument.total
    if total is None:
        return []
    item: dict[str, Any] = {"linkId": f"{instrument.code}-total"}
    if total.code is not None and total.code.verified:
        item["code"] = [_coding(total.code.system, total.code.code, total.code.display)]
    return [item | {"text": total.label, "type": "integer", "readOnly": True}]


# --------------------------------------------------------------------------- QuestionnaireResponse


def questionnaire_response(
    *,
    response_id: str | UUID,
    patient_id: str | UUID,
    instrument: Instrument,
    answers: Sequence[int | None],
    authored: datetime,
    status: str = "completed",
    behavior_within_3_months: bool | None = None,
    source_reference: str | None = None,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
) -> dict[str, Any]:
    """The raw answers (§8.1): one item per answered scored item (missing/skipped ones are omitted), plus
    C-SSRS question 6b from ``behavior_within_3_months``. ``source_reference`` is e.g. ``Patient/<id>``."""
    _require(status, QUESTIONNAIRE_RESPONSE_STATUSES, "QuestionnaireResponse.status")
    given = _answers_by_link_id(instrument, answers, behavior_within_3_months)
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": _fhir_id(response_id),
        "questionnaire": f"{questionnaire_url(instrument, canonical_base=canonical_base)}|{instrument.version}",
        "status": status,
        "subject": {"reference": f"Patient/{_fhir_id(patient_id)}"},
        "authored": date_time(authored),
    }
    if source_reference is not None:
        resource["source"] = {"reference": _checked_source(source_reference)}
    resource["item"] = [
        {
            "linkId": item.link_id,
            "text": item.text,
            "answer": [
                {"valueCoding": _answer_coding(instrument, item.option(given[item.link_id]), canonical_base)}
            ],
        }
        for item in instrument.items
        if item.link_id in given
    ]
    return resource


def _answers_by_link_id(
    instrument: Instrument, answers: Sequence[int | None], behavior_within_3_months: bool | None
) -> dict[str, int]:
    scored = instrument.scored_items
    if len(answers) != len(scored):
        raise ValueError(f"{instrument.code} needs {len(scored)} answers, got {len(answers)}")
    given = {item.link_id: value for item, value in zip(scored, answers, strict=True) if value is not None}
    if behavior_within_3_months is not None:
        if instrument.code != "c-ssrs-screener":
            raise ValueError("behavior_within_3_months applies only to the c-ssrs-screener")
        given[_BEHAVIOR_ITEM] = int(behavior_within_3_months)
    for link_id, value in given.items():
        if isinstance(value, bool) or value not in instrument.item(link_id).values:
            raise ValueError(f"answer for {link_id} is not one of its options")
    return given


def _checked_source(reference: str) -> str:
    kind, _, ident = reference.partition("/")
    if kind not in QUESTIONNAIRE_RESPONSE_SOURCE_TYPES:
        raise ValueError(
            f"QuestionnaireResponse.source must reference one of {sorted(QUESTIONNAIRE_RESPONSE_SOURCE_TYPES)}"
        )
    return f"{kind}/{_fhir_id(ident)}"


# --------------------------------------------------------------------------- Observation


def score_observation(
    *,
    observation_id: str | UUID,
    response_id: str | UUID,
    patient_id: str | UUID,
    instrument: Instrument,
    result: ScoreResult,
    effective: datetime,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
) -> dict[str, Any]:
    """The score as an Observation (§8.2): ``final`` when complete, else ``preliminary``; category survey;
    the total LOINC (when verified) as code; ``valueInteger`` (C-SSRS: the risk level); derived from the
    QuestionnaireResponse. Answered count and PHQ-9 item 9 are components so rules can query them."""
    if result.code != instrument.code:
        raise ValueError(f"result is for {result.code}, instrument is {instrument.code}")
    status = "final" if result.complete else "preliminary"
    _require(status, OBSERVATION_STATUSES, "Observation.status")
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _fhir_id(observation_id),
        "status": status,
        "category": [{"coding": [_coding(OBSERVATION_CATEGORY, "survey", "Survey")], "text": "Survey"}],
        "code": _score_code(instrument),
        "subject": {"reference": f"Patient/{_fhir_id(patient_id)}"},
        "effectiveDateTime": date_time(effective),
    }
    resource |= _value(instrument, result, canonical_base)
    interpretation = _interpretation(instrument, result)
    if interpretation:
        resource["interpretation"] = interpretation
    notes = _notes(instrument, result)
    if notes:
        resource["note"] = [{"text": text} for text in notes]
    resource["derivedFrom"] = [{"reference": f"QuestionnaireResponse/{_fhir_id(response_id)}"}]
    resource["component"] = _components(instrument, result)
    return resource


def _score_code(instrument: Instrument) -> dict[str, Any]:
    total = instrument.total
    if total is None:
        return {"text": f"{instrument.title}: risk level"}
    concept: dict[str, Any] = {}
    if total.code is not None and total.code.verified:
        concept["coding"] = [_coding(total.code.system, total.code.code, total.code.display)]
    return concept | {"text": total.label}


def _value(instrument: Instrument, result: ScoreResult, canonical_base: str) -> dict[str, Any]:
    if result.total is not None:
        return {"valueInteger": result.total}
    if result.risk_level is not None:
        label = _level_label(instrument, result.risk_level)
        system = f"{canonical_base}/CodeSystem/{instrument.code}-risk-level"
        return {
            "valueCodeableConcept": {"coding": [_coding(system, result.risk_level, label)], "text": label}
        }
    raise ValueError("result has neither a total nor a risk level")


def _interpretation(instrument: Instrument, result: ScoreResult) -> list[dict[str, str]]:
    texts = []
    if result.severity is not None:
        texts.append(f"Severity: {_band_label(instrument, result.severity)}")
    if result.positive is not None:
        texts.append("Positive screen" if result.positive else "Negative screen")
    if result.risk_level is not None:
        texts.append(f"Risk level: {_level_label(instrument, result.risk_level)}")
    return [{"text": text} for text in texts]


def _notes(instrument: Instrument, result: ScoreResult) -> list[str]:
    notes = []
    if result.prorated:
        notes.append(
            f"Total prorated from {result.answered_count} answered items of {len(instrument.scored_items)}."
        )
    if "suicide_item_unanswered" in result.flags:
        notes.append(
            "Item 9 (suicide item) unanswered: total covers items 1-8 only; clinician follow-up required."
        )
    if "suicide_item_positive" in result.flags:
        notes.append("Item 9 (suicide item) positive: same-encounter suicide risk assessment required.")
    details = result.details
    if result.code == "audit-c":
        notes.append(f"Cut point {details['cut_point']} used (basis: {details['cut_point_basis']}).")
    if result.code == "mdq":
        notes.append(
            f"Part 1: {details['part1_yes_count']} yes (needs {details['part1_yes_min']} or more); "
            f"part 2 same period: {_yes_no(details['part2_same_period'])}; part 3 problem level "
            f"{details['part3_problem_level']} (needs {details['part3_problem_min']} or more)."
        )
    if result.code == "pcl-5":
        clusters = ", ".join(
            f"{name} {c['endorsed']}/{c['required']}" for name, c in details["clusters"].items()
        )
        notes.append(
            f"Total at or above cut point {details['cut_point']}: {_yes_no(details['cut_point_met'])}; "
            f"DSM-5 cluster rule met: {_yes_no(details['cluster_rule_met'])} (endorsed/required: {clusters})."
        )
    return notes


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _components(instrument: Instrument, result: ScoreResult) -> list[dict[str, Any]]:
    components: list[dict[str, Any]] = [
        {"code": {"text": "Number of items answered"}, "valueInteger": result.answered_count}
    ]
    if result.code == "phq-9":
        components.append(_item9_component(instrument.scored_items[8], result.details.get("item_9")))
    return components


def _item9_component(item: Item, value: int | None) -> dict[str, Any]:
    code: dict[str, Any] = {}
    if item.code is not None and item.code.verified:
        code["coding"] = [_coding(item.code.system, item.code.code, item.code.display)]
    component: dict[str, Any] = {"code": code | {"text": f"PHQ-9 item 9: {item.text}"}}
    if value is None:
        component["dataAbsentReason"] = {"coding": [_coding(DATA_ABSENT_REASON, "unknown", "Unknown")]}
        return component
    component["valueInteger"] = value
    if value >= 1:
        component["interpretation"] = [{"text": "Positive: same-encounter suicide risk assessment required"}]
    return component


def _band_label(instrument: Instrument, severity: str) -> str:
    labels = {band["severity"]: band["label"] for band in instrument.scoring.get("bands", ())}
    return labels.get(severity, severity)


def _level_label(instrument: Instrument, level: str) -> str:
    labels = {entry["level"]: entry["label"] for entry in instrument.scoring.get("levels", ())}
    return labels.get(level, level)


# --------------------------------------------------------------------------- shared


def _answer_coding(instrument: Instrument, option: AnswerOption, canonical_base: str) -> dict[str, str]:
    if option.code is not None:
        return _coding(LOINC, option.code, option.label)
    system = f"{canonical_base}/CodeSystem/{instrument.code}-answers"
    return _coding(system, _slug(option.label), option.label)


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def _fhir_id(value: str | UUID) -> str:
    text = str(value)
    if not _ID.fullmatch(text):
        raise ValueError("not a valid FHIR id")
    return text


def _require(value: str, allowed: frozenset[str], element: str) -> None:
    if value not in allowed:
        raise ValueError(f"{element} must be one of {', '.join(sorted(allowed))}")
