"""Domain errors: a stable code, an HTTP status and a message that is safe to show (no PHI).

Each front door (JSON API, web pages) translates them; services never raise HTTP errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    # True for refusals whose bookkeeping (audit row, failed-login counter) must be
    # committed even though the request fails. Raise these before any other write.
    keep_changes: ClassVar[bool] = False

    def __init__(self, message: str, *, fields: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []


class NotFound(DomainError):
    code, status = "not_found", 404


class Conflict(DomainError):
    code, status = "conflict", 409


class PolicyDenied(DomainError):
    code, status = "forbidden", 403


class RuleViolation(DomainError):
    code, status = "rule_violation", 400


class InvalidInput(DomainError):
    code, status = "invalid_input", 422


class AuthenticationFailed(DomainError):
    code, status = "authentication_failed", 401
    keep_changes = True


class TooManyAttempts(DomainError):
    code, status = "too_many_attempts", 429
    keep_changes = True
