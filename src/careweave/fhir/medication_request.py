"""A Careweave prescription as a FHIR R4 (4.0.1) MedicationRequest (``clinical-spec.md`` §8.8).

A pure function from the stored prescription to a plain JSON dict; the dict is validated by constructing
fhir.resources' model (R4B, whose MedicationRequest matches R4), so an invalid resource fails here, not in a client.

Choices (docs/medications.md, "FHIR MedicationRequest"):
- ``medicationCodeableConcept``: the RxNorm RXCUI stored on the prescription when there is one. Careweave's
  formulary holds ingredient-level codes (TTY=IN, spec §6.1), not the SCD/SBD codes spec §8.8 prefers for orders,
  so the coding carries the ingredient and ``text`` carries ingredient, strength and form. No RXCUI: text only.
- ``status``: draft → draft; signed, sent, active → active; completed → completed; stopped → stopped.
- ``intent`` is always ``order``; ``category`` is ``outpatient`` (HL7 medicationrequest-category).
- Controlled substances: the DEA schedule is an extension (``{base}/StructureDefinition/dea-schedule``,
  ``valueString`` such as ``C-II``; there is no standard code system for it in the spec) **and** a note that also
  names the telemedicine rule that allowed it, the modality and the PDMP review time (spec §8.8 asks for those).
- ``dosageInstruction``: the sig as text, route as text (no route codes are invented), the dose as a quantity
  (UCUM when the unit is one) and the frequency as timing for the sig vocabulary Careweave uses.
- ``dispenseRequest``: quantity, expected supply duration in days, ``numberOfRepeatsAllowed`` = refills, and the
  pharmacy as a display-only performer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final, Protocol
from uuid import UUID

from fhir.resources.R4B.medicationrequest import MedicationRequest

from careweave.fhir.datatypes import date_time

RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM: Final = "http://unitsofmeasure.org"
CATEGORY_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
DEFAULT_CANONICAL_BASE: Final = "https://careweave.example/fhir"

STATUS: Final[Mapping[str, str]] = {
    "draft": "draft",
    "signed": "active",
    "sent": "active",
    "active": "active",
    "completed": "completed",
    "stopped": "stopped",
}
# Careweave's sig units that are UCUM units (code) — others are sent as a unit string only.
UCUM_UNITS: Final[Mapping[str, str]] = {"mg": "mg", "mcg": "ug", "ug": "ug", "g": "g", "ml": "mL"}
# The sig frequency vocabulary (medications/data/interactions.json "frequencies") as FHIR Timing.repeat.
TIMING: Final[Mapping[str, dict[str, Any]]] = {
    "once_daily": {"frequency": 1, "period": 1, "periodUnit": "d"},
    "daily": {"frequency": 1, "period": 1, "periodUnit": "d"},
    "at_bedtime": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]},
    "every_morning": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["MORN"]},
    "twice_daily": {"frequency": 2, "period": 1, "periodUnit": "d"},
    "three_times_daily": {"frequency": 3, "period": 1, "periodUnit": "d"},
    "four_times_daily": {"frequency": 4, "period": 1, "periodUnit": "d"},
    "every_other_day": {"frequency": 1, "period": 2, "periodUnit": "d"},
    "weekly": {"frequency": 1, "period": 1, "periodUnit": "wk"},
}
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class PrescriptionLike(Protocol):
    """The fields of ``medications.models.Prescription`` this mapping reads."""

    id: UUID
    patient_id: UUID
    status: str
    status_reason: str | None
    rxcui: str | None
    ingredient: str
    strength: str
    form: str | None
    schedule: str | None
    dose: float
    dose_unit: str
    route: str
    frequency: str
    quantity: float
    refills: int
    days_supply: int
    pharmacy: str | None
    started_on: date
    created_at: datetime
    signed_at: datetime | None
    authority_rule: str
    modality: str | None
    pdmp_reviewed_at: datetime | None
    pdmp_unavailable: bool


def medication_request(
    rx: PrescriptionLike,
    *,
    requester_reference: str | None = None,
    requester_display: str | None = None,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
) -> dict[str, Any]:
    """The prescription as a MedicationRequest dict, validated with fhir.resources (raises ValueError if not)."""
    status = STATUS.get(rx.status)
    if status is None:
        raise ValueError(f"no MedicationRequest.status for prescription status {rx.status!r}")
    resource: dict[str, Any] = {"resourceType": "MedicationRequest", "id": _fhir_id(rx.id)}
    if rx.schedule:
        resource["extension"] = [
            {"url": dea_schedule_extension_url(canonical_base), "valueString": rx.schedule}
        ]
    resource["status"] = status
    if status == "stopped" and rx.status_reason:
        resource["statusReason"] = {"text": rx.status_reason}
    resource["intent"] = "order"
    resource["category"] = [
        {"coding": [{"system": CATEGORY_SYSTEM, "code": "outpatient", "display": "Outpatient"}]}
    ]
    resource["medicationCodeableConcept"] = _medication(rx)
    resource["subject"] = {"reference": f"Patient/{_fhir_id(rx.patient_id)}"}
    resource["authoredOn"] = date_time(rx.signed_at or rx.created_at)
    requester = _requester(requester_reference, requester_display)
    if requester:
        resource["requester"] = requester
    notes = _notes(rx)
    if notes:
        resource["note"] = [{"text": text} for text in notes]
    resource["dosageInstruction"] = [_dosage(rx)]
    resource["dispenseRequest"] = _dispense(rx)
    MedicationRequest.model_validate(resource)  # fhir.resources validates types, cardinality and value sets
    return resource


def dea_schedule_extension_url(canonical_base: str = DEFAULT_CANONICAL_BASE) -> str:
    return f"{canonical_base}/StructureDefinition/dea-schedule"


def sig_text(rx: PrescriptionLike) -> str:
    return f"{rx.dose:g} {rx.dose_unit} {rx.route} {rx.frequency.replace('_', ' ')}"


def _medication(rx: PrescriptionLike) -> dict[str, Any]:
    text = " ".join(part for part in (rx.ingredient, rx.strength, rx.form) if part)
    concept: dict[str, Any] = {}
    if rx.rxcui:
        concept["coding"] = [{"system": RXNORM, "code": rx.rxcui, "display": rx.ingredient}]
    return concept | {"text": text}


def _requester(reference: str | None, display: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if reference:
        kind, _, ident = reference.partition("/")
        if kind not in {"Practitioner", "PractitionerRole"}:
            raise ValueError("MedicationRequest.requester must reference a Practitioner or PractitionerRole")
        out["reference"] = f"{kind}/{_fhir_id(ident)}"
    if display:
        out["display"] = display
    return out


def _notes(rx: PrescriptionLike) -> list[str]:
    if not rx.schedule:
        return []
    parts = [f"Controlled substance: DEA Schedule {rx.schedule}.", f"Authority rule: {rx.authority_rule}."]
    if rx.modality:
        parts.append(f"Modality: {rx.modality.replace('_', '-')}.")
    if rx.pdmp_reviewed_at is not None:
        parts.append(f"PDMP reviewed at {date_time(rx.pdmp_reviewed_at)}.")
    if rx.pdmp_unavailable:
        parts.append("PDMP recorded as unavailable.")
    return [" ".join(parts)]


def _quantity(value: float, unit: str) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": _number(value), "unit": unit}
    code = UCUM_UNITS.get(unit.strip().lower())
    if code:
        quantity |= {"system": UCUM, "code": code}
    return quantity


def _dosage(rx: PrescriptionLike) -> dict[str, Any]:
    dosage: dict[str, Any] = {"sequence": 1, "text": sig_text(rx)}
    repeat = TIMING.get(rx.frequency)
    if repeat is not None:
        dosage["timing"] = {"repeat": dict(repeat)}
    else:
        dosage["timing"] = {"code": {"text": rx.frequency.replace("_", " ")}}
    dosage["route"] = {"text": rx.route}
    dosage["doseAndRate"] = [{"doseQuantity": _quantity(rx.dose, rx.dose_unit)}]
    return dosage


def _dispense(rx: PrescriptionLike) -> dict[str, Any]:
    dispense: dict[str, Any] = {
        "validityPeriod": {"start": rx.started_on.isoformat()},
        "numberOfRepeatsAllowed": rx.refills,
        "quantity": {"value": _number(rx.quantity), "unit": rx.form or "unit"},
        "expectedSupplyDuration": {"value": rx.days_supply, "unit": "days", "system": UCUM, "code": "d"},
    }
    if rx.pharmacy:
        dispense["performer"] = {"display": rx.pharmacy}
    return dispense


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _fhir_id(value: str | UUID) -> str:
    text = str(value)
    if not _ID.fullmatch(text):
        raise ValueError("not a valid FHIR id")
    return text
