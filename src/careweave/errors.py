"""Error translation for both front doors: JSON under /api, friendly pages elsewhere.

Nothing here ever shows a stack trace or exception text to the user.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from careweave.api.errors import domain_error_json, error_json, validation_error_json
from careweave.core.errors import DomainError
from careweave.fhir.search import FHIR_JSON

log = structlog.get_logger(__name__)

TITLES = {
    400: "That request could not be understood",
    401: "Please log in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    413: "Too much data",
    422: "Please check the form",
    429: "Too many attempts",
    500: "Something went wrong",
}
HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    413: "payload_too_large",
    429: "too_many_requests",
}


class Redirect(Exception):
    """Raised by page dependencies to send the browser elsewhere (e.g. to log in)."""

    def __init__(self, url: str) -> None:
        self.url = url


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in (
        "/openapi.json",
        "/healthz",
        "/readyz",
    )


def _rid(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


FHIR_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-long",
    422: "invalid",
    429: "throttled",
    500: "exception",
}


def outcome(status: int, message: str, request_id: str | None) -> Response:
    """A FHIR OperationOutcome (the FHIR front door's error shape)."""
    from fastapi.responses import JSONResponse

    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": FHIR_ISSUE_CODES.get(status, "processing"), "diagnostics": message}
        ],
    }
    if request_id:
        body["id"] = request_id
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def is_fhir(request: Request) -> bool:
    return request.url.path.startswith("/fhir")


def render_error(request: Request, status: int, code: str, message: str) -> Response:
    if is_fhir(request):
        return outcome(status, message, _rid(request))
    if wants_json(request):
        return error_json(status, code, message, request_id=_rid(request))
    from careweave.web.templating import render

    return render(
        request,
        "error.html",
        {
            "status": status,
            "title": TITLES.get(status, "Something went wrong"),
            "message": message,
            "request_id": _rid(request),
        },
        status_code=status,
    )


def internal_error(request: Request) -> Response:
    return render_error(
        request,
        500,
        "internal_error",
        "An unexpected error happened. It has been logged; please try again.",
    )


def allowed_methods(request: Request) -> str | None:
    """Every method the JSON API serves at this path, from the OpenAPI document (Starlette's
    405 names only the first matching route's methods). None outside the documented API."""
    from starlette.routing import compile_path

    app = request.app
    table = getattr(app.state, "allowed_methods_table", None)
    if table is None:
        table = [
            (compile_path(path)[0], {m.upper() for m in ops})
            for path, ops in app.openapi().get("paths", {}).items()
        ]
        app.state.allowed_methods_table = table
    methods = set().union(*(m for regex, m in table if regex.match(request.url.path)))
    return ", ".join(sorted(methods)) if methods else None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if is_fhir(request):
            detail = "; ".join(f"{f.field}: {f.message}" for f in exc.fields)
            response = outcome(exc.status, exc.message + (f" ({detail})" if detail else ""), _rid(request))
        elif wants_json(request):
            response = domain_error_json(exc, _rid(request))
        else:
            response = render_error(request, exc.status, exc.code, exc.message)
        if exc.status == 429:
            response.headers["Retry-After"] = str(request.app.state.settings.login_lockout_minutes * 60)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if is_fhir(request):
            names = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors())
            return outcome(400, f"Invalid request: {names}.", _rid(request))
        if wants_json(request):
            return validation_error_json(exc, _rid(request))
        return render_error(
            request,
            422,
            "validation_error",
            "Some of the information sent was missing or not valid. Go back and check the form.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = (
            exc.detail
            if isinstance(exc.detail, str) and exc.status_code != 404
            else ("Nothing is here." if exc.status_code == 404 else "The request was refused.")
        )
        response = render_error(request, exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405 and (allow := allowed_methods(request)):
            response.headers["Allow"] = allow
        return response

    @app.exception_handler(Redirect)
    async def _redirect(request: Request, exc: Redirect) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": exc.url})
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("http.unhandled_error", error_type=type(exc).__name__)
        return internal_error(request)
