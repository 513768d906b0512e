"""JSON API for the provider directory and patient coverage."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.directory import service
from careweave.directory.schemas import (
    CompactPrivilegeCreate,
    CompactPrivilegeRead,
    CoverageRead,
    CoverageWrite,
    DeaRegistrationCreate,
    DeaRegistrationRead,
    LicenseCreate,
    LicenseRead,
    PlanCreate,
    PlanRead,
    ProviderCreate,
    ProviderPage,
    ProviderRead,
    ProviderSummary,
    ProviderWrite,
)

router = APIRouter(tags=["directory"])
NOT_FOUND = {404: {"description": "No such provider or patient"}}


def summary(view: service.ProviderView) -> ProviderSummary:
    p = view.provider
    return ProviderSummary(
        id=p.id,
        name=p.name,
        credential=p.credential,
        offers=view.offers,
        languages=view.languages,
        conditions=view.conditions,
        gender=p.gender,
        accepting_new_patients=p.accepting_new_patients,
        states=view.states,
    )


def full(view: service.ProviderView) -> ProviderRead:
    p = view.provider
    return ProviderRead(
        **summary(view).model_dump(),
        npi=p.npi,
        taxonomy_code=p.taxonomy_code,
        bio=p.bio,
        modalities=p.modalities or [],
        age_groups=p.age_groups or [],
        timezone=p.timezone,
        capacity=p.capacity,
        active_patients=p.active_patients,
        self_pay=p.self_pay,
        self_pay_rate_cents=p.self_pay_rate_cents,
        networks=view.networks,
        user_id=p.user_id,
        updated_at=p.updated_at,
        licenses=[LicenseRead.model_validate(x) for x in view.licenses],
        compact_privileges=[CompactPrivilegeRead.model_validate(x) for x in view.compact_privileges],
        dea_registrations=[DeaRegistrationRead.model_validate(x) for x in view.dea_registrations],
    )


@router.post("/plans", response_model=PlanRead, status_code=201, summary="Add an insurance plan (admin)")
def create_plan(body: PlanCreate, actor: CurrentActor, session: DbSession, clock: ClockDep) -> PlanRead:
    return PlanRead.model_validate(
        service.create_plan(session, actor, payer=body.payer, name=body.name, clock=clock)
    )


@router.get("/plans", response_model=list[PlanRead], summary="Insurance plans")
def list_plans(actor: CurrentActor, session: DbSession) -> list[PlanRead]:
    return [PlanRead.model_validate(p) for p in service.list_plans(session, actor)]


@router.post("/providers", response_model=ProviderRead, status_code=201, summary="Add a provider (admin)")
def create_provider(
    body: ProviderCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ProviderRead:
    provider = service.create_provider(session, actor, body.model_dump(exclude_unset=True), clock=clock)
    return full(service.get_provider(session, actor, provider.id))


@router.patch(
    "/providers/{provider_id}",
    response_model=ProviderRead,
    responses=NOT_FOUND,
    summary="Edit a provider (admin; a clinician edits their own profile)",
)
def update_provider(
    provider_id: uuid.UUID, body: ProviderWrite, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ProviderRead:
    service.update_provider(session, actor, provider_id, body.model_dump(exclude_unset=True), clock=clock)
    return full(service.get_provider(session, actor, provider_id))


@router.get("/providers", response_model=ProviderPage, summary="Search the directory")
def search_providers(
    actor: CurrentActor,
    session: DbSession,
    q: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
    credential: Annotated[str | None, Query(max_length=20, pattern=r"^[A-Za-z]+$")] = None,
    state: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    condition: Annotated[str | None, Query(max_length=60, pattern=r"^[a-z0-9_\-]+$")] = None,
    language: Annotated[str | None, Query(max_length=35, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ProviderPage:
    rows, total = service.search_providers(
        session,
        actor,
        query=q,
        credential=credential,
        state=state,
        condition=condition,
        language=language,
        limit=limit,
        offset=offset,
    )
    return ProviderPage(items=[summary(v) for v in rows], total=total)


@router.get(
    "/providers/{provider_id}",
    response_model=ProviderRead,
    responses=NOT_FOUND,
    summary="A provider's profile, licences and registrations",
)
def get_provider(provider_id: uuid.UUID, actor: CurrentActor, session: DbSession) -> ProviderRead:
    return full(service.get_provider(session, actor, provider_id))


@router.post(
    "/providers/{provider_id}/licenses",
    response_model=LicenseRead,
    status_code=201,
    responses=NOT_FOUND,
    summary="Add a state licence (admin)",
)
def add_license(
    provider_id: uuid.UUID, body: LicenseCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> LicenseRead:
    lic = service.add_license(
        session,
        actor,
        provider_id,
        state=body.state,
        license_type=body.type,
        number=body.number,
        status=body.status,
        issued=body.issued,
        expires=body.expires,
        clock=clock,
    )
    return LicenseRead.model_validate(lic)


@router.post(
    "/providers/{provider_id}/compact-privileges",
    response_model=CompactPrivilegeRead,
    status_code=201,
    responses=NOT_FOUND,
    summary="Add an interstate compact privilege (admin)",
)
def add_compact_privilege(
    provider_id: uuid.UUID,
    body: CompactPrivilegeCreate,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
) -> CompactPrivilegeRead:
    row = service.add_compact_privilege(
        session,
        actor,
        provider_id,
        compact=body.compact,
        state=body.state,
        status=body.status,
        issued=body.issued,
        expires=body.expires,
        clock=clock,
    )
    return CompactPrivilegeRead.model_validate(row)


@router.post(
    "/providers/{provider_id}/dea-registrations",
    response_model=DeaRegistrationRead,
    status_code=201,
    responses=NOT_FOUND,
    summary="Add a DEA registration (admin)",
)
def add_dea(
    provider_id: uuid.UUID,
    body: DeaRegistrationCreate,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
) -> DeaRegistrationRead:
    row = service.add_dea_registration(
        session,
        actor,
        provider_id,
        state=body.state,
        number=body.number,
        schedules=list(body.schedules),
        expires=body.expires,
        clock=clock,
    )
    return DeaRegistrationRead.model_validate(row)


def coverage_read(view: service.CoverageView) -> CoverageRead:
    cov = view.coverage
    return CoverageRead(
        patient_id=view.patient_id,
        plan_id=cov.plan_id if cov else None,
        plan=PlanRead.model_validate(view.plan) if view.plan else None,
        member_id=cov.member_id if cov else None,
        self_pay=bool(cov and cov.self_pay),
    )


@router.get(
    "/patients/{patient_id}/coverage",
    response_model=CoverageRead,
    responses=NOT_FOUND,
    summary="A patient's coverage",
)
def get_coverage(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> CoverageRead:
    return coverage_read(service.get_coverage(session, actor, patient_id, clock=clock))


@router.put(
    "/patients/{patient_id}/coverage",
    response_model=CoverageRead,
    responses=NOT_FOUND,
    summary="Set a patient's coverage: a plan and member id, or self-pay",
)
def put_coverage(
    patient_id: uuid.UUID, body: CoverageWrite, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> CoverageRead:
    view = service.set_coverage(
        session,
        actor,
        patient_id,
        plan_id=body.plan_id,
        member_id=body.member_id,
        self_pay=body.self_pay,
        clock=clock,
    )
    return coverage_read(view)
