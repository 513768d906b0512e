"""FHIR R4 search of a patient's coverage as ``Coverage`` (fhir/coverage.py).

Access is the coverage API's (``directory.service.get_coverage``: policy ``coverage.read`` — the patient, their
clinicians, administrators — audited ``coverage.viewed``). Search: ``patient`` (or ``beneficiary``/``subject`` as
``Patient/<id>``). A patient with no coverage on record gives an empty Bundle.

Included into the /fhir router by careweave.fhir.api.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.directory import service as directory
from careweave.fhir import coverage as fhir_coverage
from careweave.fhir.search import fhir_base, fhir_response, patient_id, searchset

router = APIRouter(tags=["fhir"], include_in_schema=False)


@router.get("/Coverage")
def search_coverage(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    beneficiary: Annotated[str | None, Query(max_length=80)] = None,
    subject: Annotated[str | None, Query(max_length=80)] = None,
) -> JSONResponse:
    view = directory.get_coverage(session, actor, patient_id(beneficiary or subject, patient), clock=clock)
    resources = []
    if view.coverage is not None:
        cov = view.coverage
        resources.append(
            fhir_coverage.coverage(
                cov.id,
                view.patient_id,
                self_pay=cov.self_pay,
                member_id=cov.member_id,
                plan_id=cov.plan_id,
                plan_name=view.plan.name if view.plan else None,
                payer=view.plan.payer if view.plan else None,
            )
        )
    base = fhir_base(request)
    return fhir_response(searchset(str(request.url), base, resources))
