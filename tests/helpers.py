"""Small helpers for driving the app in tests."""

from __future__ import annotations

import re
import time

import pyotp
from fastapi.testclient import TestClient

from tests.builders import PASSWORD, scheduling_world

CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def bearer(
    client: TestClient, email: str, password: str = PASSWORD, otp: str | None = None
) -> dict[str, str]:
    data = {"username": email, "password": password}
    if otp:
        data["otp"] = otp
    r = client.post("/api/v1/auth/token", data=data)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def csrf(client: TestClient, path: str = "/login") -> str:
    r = client.get(path)
    match = CSRF_RE.search(r.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def web_login(client: TestClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    token = csrf(client)
    return client.post(
        "/login", data={"csrf_token": token, "email": email, "password": password}, follow_redirects=False
    )


def totp_now(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time())


def enrolled_headers(client: TestClient, session, settings, clock, role):  # type: ignore[no-untyped-def]
    """A new user of ``role`` with MFA enrolled, and a bearer header for them (code given)."""
    from careweave.identity import service as identity
    from tests.builders import make_user

    user = make_user(session, settings, role)
    actor = identity.actor_for(session, user)
    pending = identity.begin_mfa_enrolment(session, actor, user, settings=settings, clock=clock)
    # Robust at a 30-second step boundary: enrol with this step's code and log in with the next
    # step's (the server accepts one step of drift either way and never the same step twice).
    t = clock.now().timestamp()
    totp = pyotp.TOTP(pending.secret)
    identity.confirm_mfa_enrolment(session, actor, user, code=totp.at(t), settings=settings, clock=clock)
    session.commit()
    return user, bearer(client, user.email, PASSWORD, otp=totp.at(t + 30))


def scheduling_api_world(client: TestClient, session, settings):  # type: ignore[no-untyped-def]
    """tests.builders.scheduling_world (two patients) with API tokens: ``headers`` (admin, therapist) and
    ``patient_headers``; MFA relaxed so staff get tokens with a password."""
    from careweave.core.clock import SystemClock
    from careweave.identity.models import User

    client.app.state.settings = settings.model_copy(update={"mfa_required": False})  # type: ignore[attr-defined]
    world = scheduling_world(session, settings, SystemClock(), patients=2)
    session.commit()
    email = {k: session.get(User, world[k].user_id).email for k in ("admin", "therapist")}
    world["headers"] = {k: bearer(client, e) for k, e in email.items()}
    world["patient_headers"] = [bearer(client, session.get(User, p.user_id).email) for p in world["patients"]]
    return world
