"""JSON API: OAuth2 password-flow tokens, revocation, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.security import OAuth2PasswordRequestForm

from careweave.core.actor import Role
from careweave.core.errors import FieldError, InvalidInput
from careweave.core.text import NO_NUL
from careweave.deps import ClockDep, CurrentActor, DbSession, SettingsDep, client_ip, request_id
from careweave.directory import service as directory
from careweave.identity import service
from careweave.identity.schemas import MeRead, TokenRead, UserCreate, UserRead

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenRead, summary="Get a bearer token (OAuth2 password flow)")
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    otp: Annotated[
        str | None, Form(max_length=32, description="TOTP or recovery code when MFA is on")
    ] = None,
) -> TokenRead:
    if form.grant_type not in (None, "password"):
        raise InvalidInput(
            "Only grant_type=password is supported.",
            fields=[FieldError("grant_type", "must be password")],
        )
    issued = service.issue_api_token(
        session,
        email=form.username,
        password=form.password,
        otp=otp,
        ip=client_ip(request),
        request_id=request_id(request),
        settings=settings,
        clock=clock,
    )
    return TokenRead(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post("/auth/revoke", status_code=200, summary="Revoke a bearer token (RFC 7009)")
def revoke_token(
    request: Request,
    token: Annotated[str, Form(min_length=1, max_length=512)],
    session: DbSession,
    clock: ClockDep,
) -> dict[str, str]:
    service.revoke_api_token(
        session, token, ip=client_ip(request), request_id=request_id(request), clock=clock
    )
    return {"status": "revoked"}


@router.get("/me", response_model=MeRead, summary="The authenticated user")
def me(actor: CurrentActor, session: DbSession) -> MeRead:
    assert actor.user_id is not None
    user = service.get_user(session, actor.user_id)
    return MeRead(
        id=user.id,
        email=user.email,
        role=user.role,
        full_name=user.full_name,
        patient_id=actor.patient_id,
        provider_id=directory.profile_for_user(session, user.id),
        mfa_enabled=user.mfa_enabled,
    )


@router.get("/users", response_model=list[UserRead], tags=["users"], summary="User accounts (admin)")
def list_users(
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    role: Annotated[Role | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
) -> list[UserRead]:
    users = service.list_users(session, actor, clock=clock, role=role.value if role else None, query=q)
    return [UserRead.model_validate(u) for u in users]


@router.post(
    "/users", response_model=UserRead, status_code=201, tags=["users"], summary="Create a user (admin)"
)
def create_user(
    body: UserCreate, actor: CurrentActor, session: DbSession, settings: SettingsDep, clock: ClockDep
) -> UserRead:
    user = service.create_user(
        session,
        actor,
        email=body.email,
        role=body.role,
        password=body.password,
        full_name=body.full_name,
        settings=settings,
        clock=clock,
    )
    return UserRead.model_validate(user)
