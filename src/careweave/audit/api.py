"""JSON API: search the audit trail (administrators)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from careweave.audit import service
from careweave.audit.schemas import AuditEventPage, AuditEventRead
from careweave.core.text import NO_NUL
from careweave.deps import ClockDep, CurrentActor, DbSession

router = APIRouter(prefix="/audit", tags=["audit"])

_RFC3339_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _rfc3339(value: object) -> object:
    # Without this, pydantic would also read numbers ("0.5") as Unix timestamps.
    if isinstance(value, str) and not _RFC3339_START.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-26T15:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    """UTC, as stored; an instant beyond either end of UTC's calendar is the open bound it implies."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


# Naive times are refused (422): which zone they meant is unknowable.
Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]


@router.get("/events", response_model=AuditEventPage, summary="Search audit events (admin)")
def search_events(
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    actor_user_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    action: Annotated[
        str | None, Query(max_length=80, pattern=NO_NUL, description="action prefix, e.g. login.")
    ] = None,
    outcome: Literal["success", "failure", "denied"] | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditEventPage:
    filters = service.AuditFilter(
        actor_user_id=actor_user_id,
        patient_id=patient_id,
        action_prefix=action,
        outcome=outcome,
        since=since,
        until=until,
    )
    rows, total = service.search(session, actor, filters, clock=clock, limit=limit, offset=offset)
    return AuditEventPage(items=[AuditEventRead.model_validate(e) for e in rows], total=total)
