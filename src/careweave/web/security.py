"""Browser cookies and CSRF.

CSRF uses the signed double-submit pattern (OWASP): a random ``cw_csrf`` cookie, and a
form token that is an HMAC of that cookie and the session cookie under the server secret.
A cross-site page can neither read the cookie nor forge the HMAC; logging in changes the
session cookie and so every token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request
from starlette.responses import Response

from careweave.settings import Settings

SESSION_COOKIE = "cw_session"
CSRF_COOKIE = "cw_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_cookie_value(request: Request) -> str:
    value = getattr(request.state, "csrf_cookie", None)
    if value is None:
        value = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        request.state.csrf_cookie = value
    return value


def session_cookie_value(request: Request) -> str:
    override = getattr(request.state, "new_session_cookie", None)
    return override if override is not None else request.cookies.get(SESSION_COOKIE, "")


def csrf_token(request: Request, settings: Settings) -> str:
    msg = f"{csrf_cookie_value(request)}|{session_cookie_value(request)}".encode()
    return hmac.new(settings.secret(), msg, hashlib.sha256).hexdigest()


def csrf_valid(request: Request, settings: Settings, submitted: str | None) -> bool:
    if not submitted or CSRF_COOKIE not in request.cookies:
        return False
    return hmac.compare_digest(submitted, csrf_token(request, settings))


def set_cookie(response: Response, name: str, value: str, settings: Settings, *, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def persist_cookies(request: Request, response: Response, settings: Settings) -> None:
    """Write the CSRF cookie if it was created during this request, and session changes."""
    if CSRF_COOKIE not in request.cookies and getattr(request.state, "csrf_cookie", None):
        set_cookie(response, CSRF_COOKIE, request.state.csrf_cookie, settings, max_age=None)
    new_session = getattr(request.state, "new_session_cookie", None)
    if new_session is not None:
        if new_session:
            set_cookie(
                response,
                SESSION_COOKIE,
                new_session,
                settings,
                max_age=settings.session_max_hours * 3600,
            )
        else:
            response.delete_cookie(
                SESSION_COOKIE,
                path="/",
                httponly=True,
                samesite="lax",
                secure=settings.secure_cookies,
            )
