"""JSON API: search the audit trail (administrators)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from careweave.api.types import Instant
from careweave.audit import service
from careweave.audit.schemas import AuditEventPage, AuditEventRead
from careweave.core.text import NO_NUL
from careweave.deps import ClockDep, CurrentActor, DbSession

router = APIRouter(prefix="/audit", tags=["audit"])


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
