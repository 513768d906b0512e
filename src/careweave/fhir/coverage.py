"""A patient's coverage as FHIR R4 ``Coverage`` (clinical-spec.md §8.9). Pure mapping, no I/O.

- An in-network plan: ``payor`` the payer (display), ``class`` the plan (``coverage-class`` ``plan``: the
  plan's id as value, its name), ``subscriberId`` the member id; ``beneficiary`` the patient.
- Self-pay: ``type`` ``pay`` from ``http://terminology.hl7.org/CodeSystem/coverage-selfpay`` and the patient
  as ``payor`` (the FHIR convention for self-pay).

Careweave records the current coverage only (no period, no subscriber other than the patient), so ``status`` is
``active`` and ``relationship`` is ``self``.
"""

from __future__ import annotations

import uuid
from typing import Any

SELF_PAY = {
    "system": "http://terminology.hl7.org/CodeSystem/coverage-selfpay",
    "code": "pay",
    "display": "PAY",
}
CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"


def coverage(
    coverage_id: uuid.UUID,
    patient_id: uuid.UUID,
    *,
    self_pay: bool,
    member_id: str | None,
    plan_id: uuid.UUID | None,
    plan_name: str | None,
    payer: str | None,
) -> dict[str, Any]:
    patient = {"reference": f"Patient/{patient_id}"}
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": str(coverage_id),
        "status": "active",
        "beneficiary": patient,
        "relationship": {"coding": [{"system": RELATIONSHIP, "code": "self"}]},
    }
    if self_pay or plan_id is None:
        resource["type"] = {"coding": [SELF_PAY]}
        resource["payor"] = [patient]
        return resource
    resource["payor"] = [{"display": payer or "Payer"}]
    resource["class"] = [
        {"type": {"coding": [{"system": CLASS, "code": "plan"}]}, "value": str(plan_id), "name": plan_name}
    ]
    if member_id:
        resource["subscriberId"] = member_id
    return resource
