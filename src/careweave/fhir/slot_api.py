"""FHIR R4 ``Schedule`` read and ``Slot`` search over a clinician's free time (fhir/slot.py).

Access is the scheduling API's (``scheduling.service.get_availability`` and ``list_slots``: any signed-in user, like
a public profile; times held for another waitlisted patient are not offered). Slot search: ``schedule``
(``Schedule/<provider id>`` or the id), ``service-type`` (a visit type code, e.g. ``therapy_session``), ``start``
given twice or once with FHIR prefixes (``ge``/``gt`` for the window's start, ``lt``/``le`` for its end; at most 31
days; default from now for 7 days). Errors are OperationOutcomes.

Included into the /fhir router by careweave.fhir.api.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from careweave.core.errors import FieldError, InvalidInput
from careweave.core.text import NO_NUL
from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.directory import service as directory
from careweave.fhir import slot as fhir_slot
from careweave.fhir.search import fhir_base, fhir_response, searchset
from careweave.scheduling import service as scheduling

router = APIRouter(tags=["fhir"], include_in_schema=False)
MAX_DAYS = 31


def _when(value: str) -> tuple[str, datetime]:
    prefix, raw = (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt") else ("ge", value)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "start: a date or instant with an optional ge/gt/le/lt prefix.",
            fields=[FieldError("start", "e.g. ge2026-12-01 or lt2026-12-08T00:00:00Z")],
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return prefix, moment


@router.get("/Schedule/{provider_id}")
def read_schedule(
    provider_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> JSONResponse:
    view = directory.get_provider(session, actor, provider_id)
    availability = scheduling.get_availability(session, actor, provider_id)
    body = fhir_slot.schedule(
        provider_id,
        view.provider.name,
        active=view.provider.is_active,
        now=clock.now(),
        horizon_days=availability.horizon_days,
        timezone=availability.timezone,
    )
    return fhir_response(body)


@router.get("/Slot")
def search_slots(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    schedule: Annotated[str | None, Query(max_length=80)] = None,
    service_type: Annotated[str | None, Query(alias="service-type", max_length=40, pattern=NO_NUL)] = None,
    start: Annotated[list[str] | None, Query(max_length=40)] = None,
) -> JSONResponse:
    try:
        provider_id = uuid.UUID((schedule or "").removeprefix("Schedule/"))
    except ValueError:
        raise InvalidInput(
            "Search a clinician's free time: ?schedule=Schedule/<provider id>&service-type=<visit type>.",
            fields=[FieldError("schedule", "Schedule/<provider id> is required")],
        ) from None
    if not service_type:
        raise InvalidInput(
            "Which visit type? ?service-type=<visit type code> (GET /api/v1/visit-types).",
            fields=[FieldError("service-type", "a visit type code is required")],
        )
    window_start, window_end = clock.now(), None
    for value in start or []:
        prefix, moment = _when(value)
        if prefix in ("ge", "gt"):
            window_start = moment
        else:
            window_end = moment
    try:
        window_end = window_end or window_start + timedelta(days=7)
    except OverflowError:  # a start at the end of the calendar
        raise InvalidInput(
            "start: a date before 9999-12-25.", fields=[FieldError("start", "too late")]
        ) from None
    if window_end <= window_start or window_end - window_start > timedelta(days=MAX_DAYS):
        raise InvalidInput(
            f"The window must end after it starts and span at most {MAX_DAYS} days.",
            fields=[FieldError("start", f"at most {MAX_DAYS} days")],
        )
    slots, _viewer, _theirs = scheduling.list_slots(
        session, actor, provider_id, start=window_start, end=window_end, visit_type=service_type, clock=clock
    )
    types = scheduling.visit_types(session, actor)
    name = next((vt.name for vt in types if vt.code == service_type), service_type)
    base = fhir_base(request)
    resources = [
        fhir_slot.slot(provider_id, visit_type=service_type, visit_type_name=name, start=s.start, end=s.end)
        for s in slots
    ]
    return fhir_response(searchset(str(request.url), base, resources))
