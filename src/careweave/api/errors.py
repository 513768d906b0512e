"""One JSON error shape: ``{"error": {"code", "message", "fields": [{"field", "message"}]}}``."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from careweave.core.errors import DomainError, FieldError


class FieldErrorBody(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldErrorBody] = []
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_json(
    status: int,
    code: str,
    message: str,
    *,
    fields: list[FieldError] | None = None,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": {
            "code": code,
            "message": message,
            "fields": [{"field": f.field, "message": f.message} for f in fields or []],
            "request_id": request_id,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def domain_error_json(exc: DomainError, request_id: str | None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_json(
        exc.status, exc.code, exc.message, fields=exc.fields, request_id=request_id, headers=headers
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form", "cookie")]
    return ".".join(parts) or "body"


def validation_error_json(exc: RequestValidationError, request_id: str | None) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_json(400, "malformed_json", "The request body is not valid JSON.", request_id=request_id)
    fields = [FieldError(_field_name(tuple(e.get("loc", ()))), str(e.get("msg", "invalid"))) for e in errors]
    names = ", ".join(sorted({f.field for f in fields}))
    return error_json(
        422, "validation_error", f"Invalid input: {names}.", fields=fields, request_id=request_id
    )
