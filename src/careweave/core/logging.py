"""Structured logs (structlog) with a request id, and a deny-list so no PHI reaches them."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# Keys that might carry patient data or secrets are dropped from every log event.
DENY = frozenset(
    {
        "name",
        "full_name",
        "given_name",
        "family_name",
        "preferred_name",
        "birth_date",
        "dob",
        "email",
        "username",
        "phone",
        "address",
        "password",
        "otp",
        "code",
        "token",
        "answers",
        "note",
        "notes",
        "body",
        "message_body",
        "query",
        "query_string",
        "authorization",
        "cookie",
    }
)


def _scrub(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if key.lower() in DENY:
            event[key] = "[redacted]"
    return event


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
