"""FHIR R4 MedicationRequest for prescriptions (spec §8.8): read and search, validated with fhir.resources R4B
models; gated like the medications API (care team + consent category "medications") and audited."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.consent import service as consent
from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory import repository as directory_repo
from careweave.identity import service as identity
from tests.builders import join_team, make_prescriber, make_user
from tests.helpers import bearer

NOW = FixedClock(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture
def w(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    client.app.state.clock = NOW
    admin_user = make_user(session, settings, Role.ADMIN)
    admin = identity.actor_for(session, admin_user)
    ana_user = make_user(session, settings, Role.PATIENT, state="NY", birth_date=date(1990, 1, 1))
    ana = identity.actor_for(session, ana_user)
    other = make_user(session, settings, Role.PATIENT, state="NY", birth_date=date(1990, 1, 1))
    ben, _, _ = make_prescriber(
        session, settings, admin, dea={"NY": ["2", "2N", "3", "3N", "4", "5"]}, clock=NOW
    )
    cara, _, _ = make_prescriber(session, settings, admin, credential="LCSW", role=Role.THERAPIST, clock=NOW)
    for u in (ben, cara):
        join_team(session, ana.patient_id, u)
    session.commit()
    users = {"ana": ana_user, "ben": ben, "cara": cara, "other": other}
    return {
        "pid": str(ana.patient_id),
        "h": {k: bearer(client, u.email) for k, u in users.items()},
        "users": users,
    }


def prescribe(client, w, medication="sertraline", *, sign=True, **kw):  # type: ignore[no-untyped-def]
    body = {
        "patient_id": w["pid"],
        "medication": medication,
        "strength": "50 mg",
        "form": "tablet",
        "sig": {"dose": 50, "unit": "mg", "route": "oral", "frequency": "once_daily"},
        "quantity": 30,
        "refills": 1,
        "days_supply": 30,
        "pharmacy": "Corner Pharmacy, 1 Main St",
    }
    body.update(kw)
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"])
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    if sign:
        s = client.post(f"/api/v1/prescriptions/{rid}/sign", headers=w["h"]["ben"])
        assert s.status_code == 200, s.text
    return rid


def fhir_get(client, path, headers, **params):  # type: ignore[no-untyped-def]
    r = client.get(path, headers=headers, params=params or None)
    assert r.headers["content-type"].startswith("application/fhir+json"), r.text
    return r


def test_active_prescription_reads_as_a_valid_medication_request(client, w, session):
    rid = prescribe(client, w)
    r = fhir_get(client, f"/fhir/MedicationRequest/{rid}", w["h"]["ben"])
    assert r.status_code == 200, r.text
    body = r.json()
    MedicationRequest.model_validate(body)
    assert body["id"] == rid and body["status"] == "active" and body["intent"] == "order"
    assert body["subject"] == {"reference": f"Patient/{w['pid']}"}
    med = body["medicationCodeableConcept"]
    assert med["coding"] == [{"system": RXNORM, "code": "36437", "display": "sertraline"}]  # spec §6.1
    assert med["text"] == "sertraline 50 mg tablet"
    dosage = body["dosageInstruction"][0]
    assert dosage["text"] == "50 mg oral once daily"
    assert dosage["timing"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "d"}
    assert dosage["route"] == {"text": "oral"}
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 50
    dispense = body["dispenseRequest"]
    assert dispense["quantity"]["value"] == 30
    assert dispense["expectedSupplyDuration"] == {
        "value": 30,
        "unit": "days",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }
    assert dispense["numberOfRepeatsAllowed"] == 1
    assert dispense["performer"] == {"display": "Corner Pharmacy, 1 Main St"}
    provider = directory_repo.provider_by_user(session, w["users"]["ben"].id)
    assert body["requester"] == {
        "reference": f"Practitioner/{provider.id}",
        "display": w["users"]["ben"].full_name,
    }
    practitioner = client.get(f"/fhir/{body['requester']['reference']}", headers=w["h"]["ana"])  # it resolves
    assert practitioner.status_code == 200 and practitioner.json()["resourceType"] == "Practitioner"
    assert body["authoredOn"].startswith("2026-11-27T15:00:00")  # signed at (the clock)
    assert "extension" not in body and "note" not in body  # not controlled
    viewed = session.scalars(select(AuditEvent).where(AuditEvent.action == "prescription.viewed")).all()
    assert [(e.entity_id, e.outcome, e.details["interface"]) for e in viewed] == [(rid, "success", "fhir")]


def test_patient_reads_and_searches_their_own(client, w, session):
    rid = prescribe(client, w)
    r = fhir_get(client, f"/fhir/MedicationRequest/{rid}", w["h"]["ana"])
    assert r.status_code == 200, r.text
    MedicationRequest.model_validate(r.json())
    bundle = fhir_get(client, "/fhir/MedicationRequest", w["h"]["ana"], patient=w["pid"]).json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["id"] == rid
    assert bundle["entry"][0]["fullUrl"].endswith(f"/fhir/MedicationRequest/{rid}")
    by_subject = fhir_get(client, "/fhir/MedicationRequest", w["h"]["ana"], subject=f"Patient/{w['pid']}")
    assert by_subject.json()["total"] == 1
    listed = session.scalars(select(AuditEvent).where(AuditEvent.action == "prescription.list_viewed")).all()
    assert [e.details["results"] for e in listed] == [1, 1]


def test_therapist_without_medications_consent_is_refused_then_allowed_with_it(client, w, session):
    rid = prescribe(client, w)
    # same refusal as the medications API for a care-team member without the "medications" category
    assert client.get(f"/api/v1/prescriptions/{rid}", headers=w["h"]["cara"]).status_code == 403
    r = fhir_get(client, f"/fhir/MedicationRequest/{rid}", w["h"]["cara"])
    assert r.status_code == 403
    OperationOutcome.model_validate(r.json())
    assert r.json()["issue"][0]["code"] == "forbidden"
    r = fhir_get(client, "/fhir/MedicationRequest", w["h"]["cara"], patient=w["pid"])
    assert r.status_code == 403
    denied = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "medication.list_denied", AuditEvent.outcome == "denied"
        )
    ).all()
    assert len(denied) >= 2
    ana = identity.actor_for(session, w["users"]["ana"])
    grant = consent.GrantIn(
        grantee_user_id=w["users"]["cara"].id, care_team=False, categories=("medications",)
    )
    consent.grant(session, ana, ana.patient_id, grant, clock=NOW)
    session.commit()
    r = fhir_get(client, f"/fhir/MedicationRequest/{rid}", w["h"]["cara"])
    assert r.status_code == 200, r.text
    assert fhir_get(client, "/fhir/MedicationRequest", w["h"]["cara"], patient=w["pid"]).json()["total"] == 1


def test_another_patient_gets_not_found(client, w):
    rid = prescribe(client, w)
    r = fhir_get(client, f"/fhir/MedicationRequest/{rid}", w["h"]["other"])
    assert r.status_code == 404
    OperationOutcome.model_validate(r.json())
    assert fhir_get(client, "/fhir/MedicationRequest", w["h"]["other"], patient=w["pid"]).status_code == 404


def test_controlled_draft_carries_the_dea_schedule_and_is_only_the_prescribers(client, w):
    # spec §4.3 (C-II) and §8.8 (record the DEA schedule, modality); Fourth Temporary Extension in force
    rid = prescribe(
        client,
        w,
        "methylphenidate",
        sign=False,
        strength="10 mg",
        refills=0,
        quantity=60,
        sig={"dose": 10, "unit": "mg", "route": "oral", "frequency": "twice_daily"},
    )
    body = fhir_get(client, f"/fhir/MedicationRequest/{rid}", w["h"]["ben"]).json()
    MedicationRequest.model_validate(body)
    assert body["status"] == "draft"
    assert body["extension"] == [
        {"url": "http://testserver/fhir/StructureDefinition/dea-schedule", "valueString": "C-II"}
    ]
    note = body["note"][0]["text"]
    assert "DEA Schedule C-II" in note and "fourth_temporary_extension" in note and "audio-video" in note
    assert body["dosageInstruction"][0]["timing"]["repeat"]["frequency"] == 2
    assert body["dispenseRequest"]["numberOfRepeatsAllowed"] == 0
    # a draft is visible to its prescriber only, as in the medications API
    assert fhir_get(client, f"/fhir/MedicationRequest/{rid}", w["h"]["ana"]).status_code == 404
    assert fhir_get(client, "/fhir/MedicationRequest", w["h"]["ana"], patient=w["pid"]).json()["total"] == 0


def test_stopped_prescription_has_its_reason(client, w):
    rid = prescribe(client, w)
    r = client.post(
        f"/api/v1/prescriptions/{rid}/stop", json={"reason": "side effects"}, headers=w["h"]["ben"]
    )
    assert r.status_code == 200, r.text
    body = fhir_get(client, f"/fhir/MedicationRequest/{rid}", w["h"]["ben"]).json()
    MedicationRequest.model_validate(body)
    assert body["status"] == "stopped" and body["statusReason"] == {"text": "side effects"}


def test_a_drug_without_an_rxcui_is_text_only(client, w):
    # phenelzine: spec §6.1 marks its RXCUI [not verified], so no coding, text only
    pid = prescribe(
        client,
        w,
        "phenelzine",
        strength="15 mg",
        sig={"dose": 15, "unit": "mg", "route": "oral", "frequency": "three_times_daily"},
        quantity=90,
    )
    body = fhir_get(client, f"/fhir/MedicationRequest/{pid}", w["h"]["ben"]).json()
    MedicationRequest.model_validate(body)
    assert body["medicationCodeableConcept"] == {"text": "phenelzine 15 mg tablet"}
    assert body["status"] == "active"


def test_capability_statement_and_errors(client, w):
    cap = client.get("/fhir/metadata").json()
    CapabilityStatement.model_validate(cap)
    types = {r["type"] for r in cap["rest"][0]["resource"]}
    assert "MedicationRequest" in types
    r = client.get("/fhir/MedicationRequest", params={"patient": w["pid"]})
    assert r.status_code == 401
    OperationOutcome.model_validate(r.json())
    r = fhir_get(client, "/fhir/MedicationRequest", w["h"]["ben"])
    assert r.status_code == 422
    OperationOutcome.model_validate(r.json())
    r = fhir_get(client, "/fhir/MedicationRequest/00000000-0000-0000-0000-000000000000", w["h"]["ben"])
    assert r.status_code == 404
