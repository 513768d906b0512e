"""JSON API for care teams, consent directives and break-the-glass (issue #6)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from careweave.careteam import service as careteam
from careweave.consent import rules, service
from careweave.consent.models import ConsentDirective
from careweave.core.text import NO_NUL
from careweave.deps import ClockDep, CurrentActor, DbSession

router = APIRouter(tags=["care team and consent"])
NOT_FOUND = {404: {"description": "No such patient (or not visible to you)"}}


class CareTeamMemberRead(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    provider_id: uuid.UUID | None
    name: str
    credential: str | None
    role: str
    basis: Literal["patient_choice", "referral", "assigned"]
    start_date: dt.date
    end_date: dt.date | None
    current: bool


class CareTeamAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    role: Literal["therapist", "prescriber", "care_manager", "psychiatric_consultant", "other"] | None = None


class Grantee(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_id: uuid.UUID | None = Field(
        default=None, description="a named clinician (their directory profile)"
    )
    user_id: uuid.UUID | None = Field(default=None, description="or the clinician's user id")
    care_team: bool = Field(default=False, description="or everyone on the care team, now and later")

    @model_validator(mode="after")
    def _one(self) -> Grantee:
        named = self.provider_id is not None or self.user_id is not None
        if named == self.care_team or (self.provider_id is not None and self.user_id is not None):
            raise ValueError("give one of provider_id, user_id or care_team: true")
        return self


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grantee: Grantee
    categories: list[str] = Field(min_length=1, max_length=10)
    expires: dt.date | None = None


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    grantee_user_id: uuid.UUID | None
    grantee_care_team: bool
    categories: list[str]
    expires: dt.date | None
    status: Literal["active", "revoked"]
    granted_at: dt.datetime
    revoked_at: dt.datetime | None


class SharingCell(BaseModel):
    allowed: bool
    reason: str
    basis: str


class SharingRow(BaseModel):
    user_id: uuid.UUID
    name: str
    role: str
    categories: dict[str, SharingCell]


class BreakGlassCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=10, max_length=2000, pattern=NO_NUL)


class BreakGlassRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    user_id: uuid.UUID
    started_at: dt.datetime
    expires_at: dt.datetime


def _member(v: careteam.TeamView) -> CareTeamMemberRead:
    m = v.member
    return CareTeamMemberRead(
        id=m.id,
        user_id=m.user_id,
        provider_id=m.provider_id,
        name=v.name,
        credential=v.credential,
        role=m.role,
        basis=m.basis,  # type: ignore[arg-type]
        start_date=m.start_date,
        end_date=m.end_date,
        current=v.current,
    )


@router.get("/patients/{patient_id}/care-team", response_model=list[CareTeamMemberRead], responses=NOT_FOUND)
def get_care_team(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[CareTeamMemberRead]:
    """The patient's care team, current and past: the patient, its members, clinic administrators."""
    return [_member(v) for v in careteam.team(session, actor, patient_id, clock=clock)]


@router.post(
    "/patients/{patient_id}/care-team",
    response_model=CareTeamMemberRead,
    status_code=201,
    responses=NOT_FOUND,
)
def add_care_team_member(
    patient_id: uuid.UUID, body: CareTeamAdd, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> CareTeamMemberRead:
    """Assign a clinician to the team (clinic administrators, or a care manager on the team)."""
    member = careteam.add_member(
        session, actor, patient_id, user_id=body.user_id, role=body.role, clock=clock
    )
    return _member(careteam.views(session, [member])[0])


@router.post("/care-team-members/{member_id}/end", response_model=CareTeamMemberRead, responses=NOT_FOUND)
def end_care_team_member(
    member_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> CareTeamMemberRead:
    member = careteam.end_member(session, actor, member_id, clock=clock)
    return _member(careteam.views(session, [member])[0])


@router.get("/patients/{patient_id}/consents", response_model=list[ConsentRead], responses=NOT_FOUND)
def list_consents(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[ConsentRead]:
    """The patient's consent directives, revoked ones included (the patient and their care team)."""
    return [
        ConsentRead.model_validate(d) for d in service.directives(session, actor, patient_id, clock=clock)
    ]


@router.post(
    "/patients/{patient_id}/consents", response_model=ConsentRead, status_code=201, responses=NOT_FOUND
)
def grant_consent(
    patient_id: uuid.UUID, body: ConsentCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ConsentRead:
    """The patient lets a named clinician, or their whole care team, see categories of their record.
    ``psychotherapy_notes`` is refused: a general consent never covers them."""
    user_id = body.grantee.user_id
    if body.grantee.provider_id is not None:
        user_id = service.user_for_provider(session, body.grantee.provider_id)
    directive: ConsentDirective = service.grant(
        session,
        actor,
        patient_id,
        service.GrantIn(user_id, body.grantee.care_team, tuple(body.categories), body.expires),
        clock=clock,
    )
    return ConsentRead.model_validate(directive)


@router.post("/consents/{consent_id}/revoke", response_model=ConsentRead, responses=NOT_FOUND)
def revoke_consent(
    consent_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ConsentRead:
    """Revoked for the next request: nothing cached grants access afterwards."""
    return ConsentRead.model_validate(service.revoke(session, actor, consent_id, clock=clock))


@router.get("/patients/{patient_id}/sharing", response_model=list[SharingRow], responses=NOT_FOUND)
def who_can_see_what(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[SharingRow]:
    """Who on the care team can see which category now, and why."""
    return [
        SharingRow(
            user_id=row.user_id,
            name=row.name,
            role=row.role,
            categories={
                c: SharingCell(allowed=d.allowed, reason=d.reason, basis=d.basis)
                for c, d in row.cells.items()
            },
        )
        for row in service.who_can_see(session, actor, patient_id, clock=clock)
    ]


@router.post(
    "/patients/{patient_id}/break-glass", response_model=BreakGlassRead, status_code=201, responses=NOT_FOUND
)
def break_glass(
    patient_id: uuid.UUID, body: BreakGlassCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> BreakGlassRead:
    """Emergency access outside the care team for an hour: audited, flagged to the team and for admin review."""
    return BreakGlassRead.model_validate(
        careteam.break_glass(session, actor, patient_id, reason=body.reason, clock=clock)
    )


class CategoryRead(BaseModel):
    code: str
    label: str
    shareable: bool


@router.get(
    "/consent-categories", response_model=list[CategoryRead], summary="The categories a consent covers"
)
def categories(actor: CurrentActor) -> list[CategoryRead]:
    """Psychotherapy notes are listed as not shareable: no general consent covers them."""
    return [
        CategoryRead(code=c, label=rules.LABELS[c], shareable=c in rules.SHAREABLE) for c in rules.CATEGORIES
    ]
