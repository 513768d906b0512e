"""FHIR R4 reads of stored screenings, validated with fhir.resources R4B models (spec §8.1, §8.2)."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from careweave.core.actor import Role
from careweave.patients import service as patients
from tests.builders import make_user
from tests.helpers import bearer


def _patient_with_phq9(client, session, settings):
    user = make_user(session, settings, Role.PATIENT)
    pid = patients.patient_id_for_user(session, user.id)
    session.commit()
    headers = bearer(client, user.email)
    r = client.post(
        f"/api/v1/patients/{pid}/screenings",
        headers=headers,
        json={"instrument": "phq-9", "answers": [2, 2, 2, 2, 2, 2, 2, 2, 0]},
    )
    return pid, headers, r.json()["id"]


def test_capability_statement_declares_r4(client):
    r = client.get("/fhir/metadata")
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    CapabilityStatement.model_validate(body)
    assert body["fhirVersion"] == "4.0.1"


def test_the_capability_statement_declares_what_the_routes_do(client):
    """Every interaction declared has its route, and every FHIR route is declared (no drift either way)."""
    body = client.get("/fhir/metadata").json()
    shape = {
        "read": ("GET", "/fhir/{type}/{id}"),
        "search-type": ("GET", "/fhir/{type}"),
        "create": ("POST", "/fhir/{type}"),
        "update": ("PUT", "/fhir/{type}/{id}"),
    }
    declared = {
        (shape[i["code"]][0], shape[i["code"]][1].replace("{type}", r["type"]))
        for r in body["rest"][0]["resource"]
        for i in r["interaction"]
    }
    from careweave.fhir import api, appointment_api, coverage_api, medication_api, practitioner_api, slot_api

    routes = set()
    for module in (api, appointment_api, coverage_api, medication_api, practitioner_api, slot_api):
        for route in module.router.routes:
            path = getattr(route, "path", "")
            path = path if path.startswith("/fhir/") else f"/fhir{path}"
            if not path.startswith("/fhir/") or path in ("/fhir/metadata", "/fhir"):
                continue
            parts = path.split("/")
            generic = "/".join(parts[:3] + (["{id}"] if len(parts) > 3 else []))
            routes |= {(m, generic) for m in getattr(route, "methods", ()) if m in ("GET", "POST", "PUT")}
    assert declared - routes == set() and routes - declared == set(), (declared - routes, routes - declared)


def test_questionnaires_are_published(client):
    body = client.get("/fhir/Questionnaire/phq-9").json()
    Questionnaire.model_validate(body)
    assert body["code"][0]["code"] == "44249-1"
    Bundle.model_validate(client.get("/fhir/Questionnaire").json())


def test_stored_screening_reads_as_questionnaire_response_and_observation(client, session, settings):
    pid, headers, sid = _patient_with_phq9(client, session, settings)
    qr = client.get(f"/fhir/QuestionnaireResponse/{sid}", headers=headers).json()
    QuestionnaireResponse.model_validate(qr)
    assert qr["status"] == "completed"
    assert qr["subject"]["reference"] == f"Patient/{pid}"
    assert len(qr["item"]) == 9
    obs = client.get(f"/fhir/Observation/{sid}", headers=headers).json()
    Observation.model_validate(obs)
    assert obs["status"] == "final"
    assert (
        obs["code"]["coding"][0]
        == {
            "system": "http://loinc.org",
            "code": "44261-6",
            "display": obs["code"]["coding"][0].get("display"),
        }
        or obs["code"]["coding"][0]["code"] == "44261-6"
    )
    assert obs["valueInteger"] == 16
    assert obs["derivedFrom"][0]["reference"] == f"QuestionnaireResponse/{sid}"
    bundle = client.get("/fhir/Observation", params={"patient": str(pid)}, headers=headers).json()
    Bundle.model_validate(bundle)
    assert bundle["total"] == 1


def test_fhir_errors_are_operation_outcomes(client, session, settings):
    _, _, sid = _patient_with_phq9(client, session, settings)
    r = client.get(f"/fhir/Observation/{sid}")
    assert r.status_code == 401
    OperationOutcome.model_validate(r.json())
    other = make_user(session, settings, Role.PATIENT)
    session.commit()
    r = client.get(f"/fhir/Observation/{sid}", headers=bearer(client, other.email))
    assert r.status_code == 404
    assert r.json()["issue"][0]["code"] == "not-found"
    r = client.get("/fhir/Observation", params={"patient": "nope"}, headers=bearer(client, other.email))
    assert r.status_code == 422
    OperationOutcome.model_validate(r.json())
    assert client.get("/fhir/Questionnaire/phq-99").json()["resourceType"] == "OperationOutcome"
