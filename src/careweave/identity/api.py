"""JSON API: OAuth2 password-flow tokens, revocation, and who am I."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Query, Request

from careweave.core.actor import Role
from careweave.core.errors import FieldError, InvalidInput
from careweave.core.text import NO_NUL
from careweave.deps import ClockDep, CurrentActor, DbSession, SettingsDep, client_ip, request_id
from careweave.directory import service as directory
from careweave.identity import service
from careweave.identity.schemas import (
    ApiClientCreate,
    ApiClientCreated,
    ApiClientRead,
    MeRead,
    TokenRead,
    UserCreate,
    UserRead,
)

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenRead,
    summary="Get a bearer token (OAuth2 password grant, or client credentials for an integration)",
)
def issue_token(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    grant_type: Annotated[
        str | None, Form(max_length=40, description="password (the default) or client_credentials")
    ] = None,
    username: Annotated[str | None, Form(max_length=254, description="password grant: the e-mail")] = None,
    password: Annotated[str | None, Form(max_length=1024)] = None,
    otp: Annotated[
        str | None, Form(max_length=32, description="TOTP or recovery code when MFA is on")
    ] = None,
    client_id: Annotated[
        str | None, Form(max_length=100, description="client credentials grant (or HTTP Basic)")
    ] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[
        str, Form(max_length=1000, description="ignored: a token has its account's rights")
    ] = "",
) -> TokenRead:
    ip, rid = client_ip(request), request_id(request)
    if grant_type == "client_credentials":
        basic = _basic_credentials(request.headers.get("authorization"))
        cid, secret = basic if basic is not None else (client_id, client_secret)
        if not cid or not secret:
            raise InvalidInput(
                "The client's id and secret are required (form fields or HTTP Basic).",
                fields=_required(client_id=cid, client_secret=secret),
            )
        issued = service.issue_client_token(
            session,
            client_id=cid,
            client_secret=secret,
            ip=ip,
            request_id=rid,
            settings=settings,
            clock=clock,
        )
        return TokenRead(access_token=issued.access_token, expires_in=issued.expires_in)
    if grant_type not in (None, "password"):
        raise InvalidInput(
            "grant_type must be password or client_credentials.",
            fields=[FieldError("grant_type", "must be password or client_credentials")],
        )
    if not username or not password:
        raise InvalidInput(
            "The e-mail and password are required.", fields=_required(username=username, password=password)
        )
    issued = service.issue_api_token(
        session,
        email=username,
        password=password,
        otp=otp,
        ip=ip,
        request_id=rid,
        settings=settings,
        clock=clock,
    )
    return TokenRead(access_token=issued.access_token, expires_in=issued.expires_in)


def _required(**values: str | None) -> list[FieldError]:
    return [FieldError(name, "required") for name, value in values.items() if not value]


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from ``Authorization: Basic …`` (RFC 6749 §2.3.1: each form-urlencoded, then
    joined by a colon and base64-encoded), or None without one or when it cannot be read."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    cid, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(cid), unquote_plus(secret)


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


# ---------------------------------------------------------------- API clients (administrators)


def _client_read(client: object, email: str) -> dict[str, object]:
    return {
        name: getattr(client, name)
        for name in ("id", "client_id", "name", "user_id", "created_at", "revoked_at", "last_used_at")
    } | {"user_email": email}


@router.post(
    "/api-clients",
    response_model=ApiClientCreated,
    status_code=201,
    tags=["users"],
    summary="Client credentials for an integration, acting as a staff account (admin; the secret is shown once)",
)
def create_api_client(
    body: ApiClientCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ApiClientCreated:
    new = service.create_api_client(session, actor, user_id=body.user_id, name=body.name, clock=clock)
    user = service.get_user(session, new.client.user_id)
    return ApiClientCreated(**_client_read(new.client, user.email), client_secret=new.secret)  # type: ignore[arg-type]


@router.get("/api-clients", response_model=list[ApiClientRead], tags=["users"], summary="API clients (admin)")
def list_api_clients(actor: CurrentActor, session: DbSession, clock: ClockDep) -> list[ApiClientRead]:
    rows = service.list_api_clients(session, actor, clock=clock)
    return [ApiClientRead(**_client_read(c, u.email)) for c, u in rows]  # type: ignore[arg-type]


@router.post(
    "/api-clients/{client_pk}/revoke",
    response_model=ApiClientRead,
    tags=["users"],
    responses={404: {"description": "No such API client"}},
    summary="Revoke an API client and every token it got (admin)",
)
def revoke_api_client(
    client_pk: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ApiClientRead:
    client = service.revoke_api_client(session, actor, client_pk=client_pk, clock=clock)
    user = service.get_user(session, client.user_id)
    return ApiClientRead(**_client_read(client, user.email))  # type: ignore[arg-type]
