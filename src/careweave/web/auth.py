"""Page dependencies: who is logged in, and CSRF on every unsafe request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from careweave.core.actor import Actor, Role
from careweave.core.errors import DomainError, FieldError, InvalidInput, NotFound
from careweave.deps import ClockDep, DbSession, SettingsDep, client_ip, request_id
from careweave.errors import Redirect
from careweave.identity import service as identity
from careweave.identity.models import User, WebSession
from careweave.web.security import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, UNSAFE, csrf_valid

HOME = {
    Role.PATIENT: "/patient",
    Role.THERAPIST: "/clinician",
    Role.PSYCHIATRIST: "/clinician",
    Role.CARE_MANAGER: "/clinician",
    Role.ADMIN: "/admin",
}


class CsrfFailed(DomainError):
    code, status = "csrf_failed", 403


def _refuse_nul(items: list[tuple[str, object]]) -> None:
    """PostgreSQL text cannot hold U+0000: refuse it in any query or form field, naming it."""
    bad = [name for name, value in items if isinstance(value, str) and "\x00" in value]
    if bad:
        raise InvalidInput(
            "Some fields contain a character that is not allowed.",
            fields=[FieldError(name, "must not contain NUL characters") for name in bad],
        )


async def check_csrf(request: Request, settings: SettingsDep) -> None:
    """Every page request: no NUL in its input; every unsafe one: a valid CSRF token."""
    _refuse_nul(list(request.query_params.multi_items()))
    if request.method not in UNSAFE:
        return
    submitted = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        _refuse_nul(list(form.multi_items()))
        if submitted is None:
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    if not csrf_valid(request, settings, submitted):
        raise CsrfFailed(
            "This form has expired or did not come from Careweave. Reload the page and try again."
        )


async def posted_form(request: Request) -> FormData:
    """The submitted form, read on the event loop (Starlette caches it: ``check_csrf`` has usually read it).

    A page handler that needs the form takes ``form: PostedForm`` and stays a plain ``def``, so FastAPI runs it
    in the threadpool. Never make a handler ``async def`` just to ``await request.form()``: its database work
    would then run on the event loop and stall every other request and the visit rooms' WebSockets while it
    waits (on SQLite, for as long as another request holds the write lock).
    """
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


@dataclass(frozen=True, slots=True)
class PageUser:
    """What templates may show about the logged-in user: a plain snapshot, so an error page
    rendered after a rollback never touches an expired ORM object."""

    id: uuid.UUID
    email: str
    full_name: str
    role: str
    mfa_enabled: bool
    mfa_enabled_at: datetime | None

    @classmethod
    def of(cls, user: User) -> PageUser:
        return cls(user.id, user.email, user.full_name, user.role, user.mfa_enabled, user.mfa_enabled_at)


@dataclass(frozen=True, slots=True)
class WebUser:
    user: User
    web_session: WebSession
    actor: Actor

    @property
    def role(self) -> Role:
        return Role(self.user.role)


def _resolve(request: Request, session: Session, settings: SettingsDep, clock: ClockDep):  # type: ignore[no-untyped-def]
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    return identity.resolve_web_session(session, raw, settings=settings, clock=clock)


def optional_session(
    request: Request, session: DbSession, settings: SettingsDep, clock: ClockDep
) -> identity.ResolvedSession | None:
    return _resolve(request, session, settings, clock)


def current_web_user(request: Request, session: DbSession, settings: SettingsDep, clock: ClockDep) -> WebUser:
    resolved = _resolve(request, session, settings, clock)
    if resolved is None:
        raise Redirect("/login?next=" + quote(request.url.path))
    if not resolved.fully_authenticated:
        raise Redirect("/login/mfa")
    user = resolved.user
    if (
        identity.mfa_required_for(user, settings)
        and not user.mfa_enabled
        and not request.url.path.startswith(("/mfa/setup", "/logout"))
    ):
        raise Redirect("/mfa/setup")
    actor = identity.actor_for(session, user, ip=client_ip(request), request_id=request_id(request))
    request.state.user = PageUser.of(user)
    return WebUser(user, resolved.web_session, actor)


CurrentUser = Annotated[WebUser, Depends(current_web_user)]
OptionalSession = Annotated["identity.ResolvedSession | None", Depends(optional_session)]


def require_role(*roles: Role):  # type: ignore[no-untyped-def]
    def dep(web_user: CurrentUser) -> WebUser:
        if web_user.role not in roles:  # pages of other roles do not exist for you
            raise NotFound("Nothing is here.")
        return web_user

    return Depends(dep)
