"""FHIR R4 Coverage for a patient's coverage (spec §8.9): a plan with its payer and member id, or self-pay;
validated with fhir.resources R4B; gated and audited like the coverage API."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from tests.helpers import scheduling_api_world


@pytest.fixture
def w(client, session, settings):
    return scheduling_api_world(client, session, settings)


def _search(client, w, i, **params):
    return client.get(
        "/fhir/Coverage",
        params={"patient": str(w["patients"][i].patient_id), **params},
        headers=w["patient_headers"][i],
    )


def test_a_plan_and_self_pay(client, w, session):
    admin = w["headers"]["admin"]
    plan = client.post(
        "/api/v1/plans", headers=admin, json={"payer": "Demo Health", "name": "Gold PPO"}
    ).json()
    pid0, pid1 = (str(p.patient_id) for p in w["patients"])
    r = client.put(
        f"/api/v1/patients/{pid0}/coverage",
        headers=admin,
        json={"plan_id": plan["id"], "member_id": "DH-000123"},
    )
    assert r.status_code == 200, r.text
    r = client.put(f"/api/v1/patients/{pid1}/coverage", headers=admin, json={"self_pay": True})
    assert r.status_code == 200, r.text

    got = _search(client, w, 0)
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/fhir+json"), (
        got.text
    )
    bundle = Bundle.model_validate(got.json())
    (cov,) = [e.resource for e in bundle.entry]
    assert cov.status == "active" and cov.beneficiary.reference == f"Patient/{pid0}"
    assert cov.payor[0].display == "Demo Health" and cov.subscriberId == "DH-000123"
    assert cov.class_fhir[0].value == plan["id"] and cov.class_fhir[0].name == "Gold PPO"

    self_pay = Bundle.model_validate(_search(client, w, 1).json()).entry[0].resource
    assert self_pay.type.coding[0].code == "pay" and self_pay.payor[0].reference == f"Patient/{pid1}"
    viewed = session.scalars(select(AuditEvent.action).where(AuditEvent.action == "coverage.viewed")).all()
    assert len(viewed) >= 2


def test_someone_elses_coverage_and_bad_searches(client, w):
    other = client.get(
        "/fhir/Coverage",
        params={"patient": str(w["patients"][0].patient_id)},
        headers=w["patient_headers"][1],
    )
    assert other.status_code in (403, 404)
    OperationOutcome.model_validate(other.json())
    bad = client.get("/fhir/Coverage", headers=w["patient_headers"][0])
    assert bad.status_code == 422
    OperationOutcome.model_validate(bad.json())
    by_beneficiary = client.get(
        "/fhir/Coverage",
        params={"beneficiary": f"Patient/{w['patients'][0].patient_id}"},
        headers=w["patient_headers"][0],
    )
    assert by_beneficiary.status_code == 200
