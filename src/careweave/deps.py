"""FastAPI dependencies shared by the front doors: the unit of work, settings, clock, actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import AuthenticationFailed
from careweave.db.uow import finish
from careweave.identity import service as identity
from careweave.notify.mail import Mailer
from careweave.settings import Settings
from careweave.visits import rooms


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        # a visit changed by this request tells its room once the request commits (visits.rooms)
        state = request.app.state
        session.info[rooms.PUBLISHER] = lambda room, message: rooms.publish_from_worker_thread(
            state, room, message
        )
        try:
            yield session
        except BaseException as exc:
            finish(session, exc)
            raise
        finish(session, None)


# scope="function": commit before the response is sent, so a failed commit is a failed request.
DbSession = Annotated[Session, Depends(get_db, scope="function")]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


def get_mailer(request: Request) -> Mailer:
    return request.app.state.mailer


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class NotAuthenticated(AuthenticationFailed):
    code = "not_authenticated"
    keep_changes = False


def api_actor(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Actor:
    if not token:
        raise NotAuthenticated("Authentication required: send a bearer token.")
    user = identity.resolve_api_token(session, token, clock=clock)
    if user is None:
        raise NotAuthenticated("The bearer token is invalid, expired or revoked.")
    return identity.actor_for(session, user, ip=client_ip(request), request_id=request_id(request))


CurrentActor = Annotated[Actor, Depends(api_actor)]
