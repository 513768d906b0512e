"""The FHIR R4 front door: /fhir/metadata and the screening resources here; MedicationRequest, Practitioner(Role),
Appointment (with create = booking), Schedule, Slot and Coverage in the *_api modules included at the end.

Domain services do the work (policy, audit); these modules only map to and from FHIR JSON. Errors are
returned as ``OperationOutcome`` (careweave.errors). Resources are validated in tests with
fhir.resources' R4B models plus our own binding checks (fhir/screening.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from careweave import __version__
from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.fhir import screening as fhir_screening
from careweave.fhir.appointment_api import router as appointment_router
from careweave.fhir.coverage_api import router as coverage_router
from careweave.fhir.medication_api import router as medication_request_router
from careweave.fhir.practitioner_api import router as practitioner_router
from careweave.fhir.search import fhir_base, fhir_response, patient_id, searchset
from careweave.fhir.slot_api import router as slot_router
from careweave.screening import service as screening
from careweave.screening.instruments import all_instruments, get_instrument
from careweave.screening.models import ScreeningResponse
from careweave.screening.scoring import ScoreResult

router = APIRouter(prefix="/fhir", tags=["fhir"], include_in_schema=False)


def _result(r: ScreeningResponse) -> ScoreResult:
    return ScoreResult(
        code=r.instrument,
        total=r.total,
        severity=r.severity,
        positive=r.positive,
        prorated=r.prorated,
        complete=r.complete,
        answered_count=r.answered_count,
        risk_level=r.risk_level,
        flags=tuple(r.flags or ()),
        details=dict(r.details or {}),
    )


def questionnaire_response(r: ScreeningResponse, base: str) -> dict[str, Any]:
    return fhir_screening.questionnaire_response(
        response_id=r.id,
        patient_id=r.patient_id,
        instrument=get_instrument(r.instrument),
        answers=r.answers,
        authored=r.authored_at,
        status="completed" if r.status == "completed" else "entered-in-error",
        behavior_within_3_months=(r.extra or {}).get("behavior_within_3_months"),
        source_reference=f"Patient/{r.patient_id}" if r.source == "patient" else None,
        canonical_base=base,
    )


def observation(r: ScreeningResponse, base: str) -> dict[str, Any]:
    return fhir_screening.score_observation(
        observation_id=r.id,
        response_id=r.id,
        patient_id=r.patient_id,
        instrument=get_instrument(r.instrument),
        result=_result(r),
        effective=r.authored_at,
        canonical_base=base,
    )


def _bundle(request: Request, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return searchset(str(request.url), fhir_base(request), resources)


@router.get("/metadata")
def capability_statement(request: Request) -> JSONResponse:
    read_search = [{"code": "read"}, {"code": "search-type"}]
    patient_params = [
        {"name": "patient", "type": "reference"},
        {"name": "subject", "type": "reference"},
    ]
    return fhir_response(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-26",
            "kind": "instance",
            "software": {"name": "Careweave", "version": __version__},
            "implementation": {"description": "Careweave FHIR R4 facade", "url": fhir_base(request)},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "description": "OAuth2 bearer token from /api/v1/auth/token (password or client credentials)"
                    },
                    "resource": [
                        {"type": "Questionnaire", "interaction": read_search},
                        {
                            "type": "QuestionnaireResponse",
                            "interaction": read_search,
                            "searchParam": patient_params,
                        },
                        {"type": "Observation", "interaction": read_search, "searchParam": patient_params},
                        {
                            "type": "MedicationRequest",
                            "interaction": read_search,
                            "searchParam": patient_params,
                        },
                        {
                            "type": "Appointment",
                            "interaction": [*read_search, {"code": "create"}, {"code": "update"}],
                            "searchParam": [
                                *patient_params,
                                {"name": "status", "type": "token"},
                                {"name": "_count", "type": "number"},
                            ],
                        },
                        {
                            "type": "PractitionerRole",
                            "interaction": read_search,
                            "searchParam": [{"name": "practitioner", "type": "reference"}],
                        },
                        {"type": "Schedule", "interaction": [{"code": "read"}]},
                        {
                            "type": "Coverage",
                            "interaction": [{"code": "search-type"}],
                            "searchParam": [*patient_params, {"name": "beneficiary", "type": "reference"}],
                        },
                        {
                            "type": "Slot",
                            "interaction": [{"code": "search-type"}],
                            "searchParam": [
                                {"name": "schedule", "type": "reference"},
                                {"name": "service-type", "type": "token"},
                                {"name": "start", "type": "date"},
                            ],
                        },
                        {
                            "type": "Practitioner",
                            "interaction": read_search,
                            "searchParam": [
                                {"name": "identifier", "type": "token"},
                                {"name": "name", "type": "string"},
                                {"name": "_count", "type": "number"},
                            ],
                        },
                    ],
                }
            ],
        }
    )


@router.get("/Questionnaire")
def questionnaires(request: Request) -> JSONResponse:
    base = fhir_base(request)
    return fhir_response(
        _bundle(request, [fhir_screening.questionnaire(i, canonical_base=base) for i in all_instruments()])
    )


@router.get("/Questionnaire/{code}")
def questionnaire(request: Request, code: str) -> JSONResponse:
    return fhir_response(
        fhir_screening.questionnaire(get_instrument(code), canonical_base=fhir_base(request))
    )


@router.get("/QuestionnaireResponse/{response_id}")
def read_questionnaire_response(
    request: Request, response_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> JSONResponse:
    r = screening.get_response_by_id(session, actor, response_id, clock=clock)
    return fhir_response(questionnaire_response(r, fhir_base(request)))


@router.get("/Observation/{observation_id}")
def read_observation(
    request: Request, observation_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> JSONResponse:
    r = screening.get_response_by_id(session, actor, observation_id, clock=clock)
    return fhir_response(observation(r, fhir_base(request)))


@router.get("/QuestionnaireResponse")
def search_questionnaire_responses(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=80)] = None,
) -> JSONResponse:
    rows = screening.history(session, actor, patient_id(subject, patient), clock=clock)
    base = fhir_base(request)
    return fhir_response(_bundle(request, [questionnaire_response(r, base) for r in rows]))


@router.get("/Observation")
def search_observations(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=80)] = None,
) -> JSONResponse:
    rows = screening.history(session, actor, patient_id(subject, patient), clock=clock)
    base = fhir_base(request)
    return fhir_response(_bundle(request, [observation(r, base) for r in rows]))


# MedicationRequest (prescriptions, spec §8.8): routes in careweave.fhir.medication_api.
router.include_router(medication_request_router)
router.include_router(practitioner_router)
router.include_router(appointment_router)
router.include_router(slot_router)
router.include_router(coverage_router)
