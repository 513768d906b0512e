"""Pure ASGI middleware: request ids and access logs, body-size limit, security headers,
and writing the web cookies decided during a request."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careweave.settings import Settings
from careweave.web.security import persist_cookies

log = structlog.get_logger("careweave.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


class BodyTooLarge(HTTPException):
    """Raised while a body streams in past the limit. An HTTPException, because FastAPI turns
    any other error raised while it reads the body into a 400; this one reaches the 413 handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class RequestContextMiddleware:
    """Request id (X-Request-ID), structured access log without query strings, headers."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        status = 500
        responded = False
        path: str = scope["path"]
        is_api = path.startswith("/api/")

        async def send_wrapper(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                headers.setdefault("Cache-Control", "no-store")
                if not path.startswith("/docs"):
                    headers["Content-Security-Policy"] = CSP
                if self.settings.secure_cookies:
                    headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
                if not is_api:
                    cookie_response = Response()
                    persist_cookies(Request(scope), cookie_response, self.settings)
                    for key, value in cookie_response.raw_headers:
                        if key == b"set-cookie":
                            headers.append("set-cookie", value.decode("latin-1"))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            # Starlette answers unhandled errors from outside every user middleware, so its 500
            # would lack the request id and the headers above: answer here, then re-raise so
            # the error handler still logs it and the server sees it.
            if not responded:
                from careweave.errors import internal_error

                await internal_error(Request(scope))(scope, receive, send_wrapper)
            raise
        finally:
            log.info(
                "http.request",
                method=scope["method"],
                path=path,
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("request_id")


class BodySizeLimitMiddleware:
    """Refuse bodies over ``limit`` bytes with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from careweave.errors import render_error

        response = render_error(
            Request(scope, receive),
            413,
            "payload_too_large",
            f"The request body is larger than {self.limit} bytes.",
        )
        await response(scope, receive, send)


class ConcurrencyLimitMiddleware:
    """At most ``limit`` HTTP requests in the application at once; the rest wait in the event loop.

    FastAPI runs a request's sync dependencies, endpoint and dependency clean-up as separate thread-pool
    calls, and a request holds its database connection between them. With more requests in flight than
    connections, threads blocked waiting for a connection can starve the requests that hold one of the thread
    they need to finish (a deadlock broken only by the pool's timeout, seen with 50 concurrent bookings).
    Keeping ``limit`` at or below the pool size (db.engine) means no thread ever waits for a connection.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            await self.app(scope, receive, send)
