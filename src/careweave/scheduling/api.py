"""JSON API for scheduling (issue #5): visit types, availability, slots, appointments, series, waitlist."""

from __future__ import annotations

import uuid
from datetime import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from careweave.api.types import Instant
from careweave.core.actor import Actor
from careweave.core.errors import FieldError, InvalidInput
from careweave.deps import ClockDep, CurrentActor, DbSession, SettingsDep
from careweave.scheduling import service, waitlist
from careweave.scheduling.models import Appointment, WaitlistEntry, WaitlistOffer
from careweave.scheduling.schemas import (
    AppointmentCreate,
    AppointmentRead,
    AvailabilityRead,
    AvailabilityWrite,
    CancelRequest,
    DateExceptionIn,
    OccurrenceRead,
    RescheduleRequest,
    SeriesCreate,
    SeriesRead,
    SlotList,
    SlotRead,
    VisitTypeRead,
    WaitlistCreate,
    WaitlistOfferRead,
    WaitlistRead,
    WeeklyWindow,
)
from careweave.settings import Settings

router = APIRouter(tags=["scheduling"])
NOT_FOUND = {404: {"description": "No such provider, patient or appointment"}}
TAKEN = {409: {"description": "The time is taken (or held for a waitlisted patient)"}}
INELIGIBLE = {422: {"description": "Invalid input, or the provider may not see this patient (reason given)"}}


def _hhmm(value: str, field: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:  # pragma: no cover - the schema's pattern already checked it
        raise InvalidInput("Invalid time.", fields=[FieldError(field, "HH:MM")]) from exc


def _availability_read(view: service.AvailabilityView) -> AvailabilityRead:
    return AvailabilityRead(
        provider_id=view.provider_id,
        timezone=view.timezone,
        weekly=[
            WeeklyWindow(
                weekday=w.weekday,
                start=w.start.strftime("%H:%M"),
                end=w.end.strftime("%H:%M"),
                visit_types=list(w.visit_types),
            )
            for w in view.weekly
        ],
        exceptions=[
            DateExceptionIn(
                date=e.day,
                start=e.start.strftime("%H:%M") if e.start else None,
                end=e.end.strftime("%H:%M") if e.end else None,
                available=e.available,
                note=e.note,
            )
            for e in view.exceptions
        ],
        buffer_minutes=view.buffer_minutes,
        min_notice_minutes=view.min_notice_minutes,
        horizon_days=view.horizon_days,
        late_cancel_hours=view.late_cancel_hours,
    )


def appointment_read(
    session: Session, actor: Actor, appts: list[Appointment], settings: Settings
) -> list[AppointmentRead]:
    out = []
    for v in service.views(session, actor, appts):
        a = v.appointment
        out.append(
            AppointmentRead(
                id=a.id,
                status=a.status,  # type: ignore[arg-type]
                provider_id=a.provider_id,
                provider_name=v.provider_name,
                patient_id=a.patient_id,
                visit_type=a.visit_type,
                visit_type_name=v.visit_type_name,
                start=a.start_at,
                end=a.end_at,
                start_local=v.start_local,
                label=v.label,
                patient_label=v.patient_label,
                provider_label=v.provider_label,
                series_id=a.series_id,
                late_cancellation=a.late_cancellation,
                cancelled_at=a.cancelled_at,
                ics_url=f"/api/v1/appointments/{a.id}.ics",
                visit_url=f"/visits/{a.id}",
            )
        )
    return out


@router.get("/visit-types", response_model=list[VisitTypeRead], summary="Visit types and their lengths")
def list_visit_types(actor: CurrentActor, session: DbSession) -> list[VisitTypeRead]:
    return [VisitTypeRead.model_validate(v) for v in service.visit_types(session, actor)]


@router.get(
    "/providers/{provider_id}/availability",
    response_model=AvailabilityRead,
    responses=NOT_FOUND,
    summary="A provider's weekly hours and exceptions",
)
def get_availability(provider_id: uuid.UUID, actor: CurrentActor, session: DbSession) -> AvailabilityRead:
    return _availability_read(service.get_availability(session, actor, provider_id))


@router.put(
    "/providers/{provider_id}/availability",
    response_model=AvailabilityRead,
    responses=NOT_FOUND,
    summary="Set weekly hours (in the provider's own zone), exceptions and booking rules (the clinician or an admin)",
)
def put_availability(
    provider_id: uuid.UUID, body: AvailabilityWrite, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> AvailabilityRead:
    data = service.AvailabilityIn(
        timezone=body.timezone,
        weekly=tuple(
            service.WindowIn(
                w.weekday,
                _hhmm(w.start, f"weekly[{i}].start"),
                _hhmm(w.end, f"weekly[{i}].end"),
                tuple(w.visit_types),
            )
            for i, w in enumerate(body.weekly)
        ),
        exceptions=tuple(
            service.ExceptionIn(
                e.date,
                _hhmm(e.start, f"exceptions[{i}].start") if e.start else None,
                _hhmm(e.end, f"exceptions[{i}].end") if e.end else None,
                e.available,
                e.note,
            )
            for i, e in enumerate(body.exceptions)
        ),
        buffer_minutes=body.buffer_minutes,
        min_notice_minutes=body.min_notice_minutes,
        horizon_days=body.horizon_days,
        late_cancel_hours=body.late_cancel_hours,
    )
    return _availability_read(service.set_availability(session, actor, provider_id, data, clock=clock))


@router.get(
    "/providers/{provider_id}/slots",
    response_model=SlotList,
    responses=NOT_FOUND,
    summary="Free slots in a window",
)
def get_slots(
    provider_id: uuid.UUID,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    start: Annotated[Instant, Query(description="ISO 8601 with offset")],
    end: Annotated[Instant, Query(description="ISO 8601 with offset; at most 92 days after start")],
    visit_type: Annotated[str, Query(max_length=40)],
    timezone: Annotated[
        str | None, Query(max_length=64, description="show start_local in this zone (default: yours)")
    ] = None,
) -> SlotList:
    slots, viewer, provider_tz = service.list_slots(
        session,
        actor,
        provider_id,
        start=start,
        end=end,
        visit_type=visit_type,
        clock=clock,
        timezone=timezone,
    )
    return SlotList(
        provider_id=provider_id,
        visit_type=visit_type,
        timezone=viewer,
        provider_timezone=provider_tz,
        slots=[
            SlotRead(
                start=s.start,
                end=s.end,
                start_local=s.start_local,
                label=s.label,
                provider_label=s.provider_label,
            )
            for s in slots
        ],
    )


@router.post(
    "/appointments",
    response_model=AppointmentRead,
    status_code=201,
    responses={**NOT_FOUND, **TAKEN, **INELIGIBLE},
    summary="Book a visit (eligibility re-checked now; the database refuses a double booking)",
)
def create_appointment(
    body: AppointmentCreate, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> AppointmentRead:
    appt = service.book(
        session,
        actor,
        provider_id=body.provider_id,
        patient_id=body.patient_id,
        start=body.start,
        visit_type=body.visit_type,
        clock=clock,
        settings=settings,
    )
    return appointment_read(session, actor, [appt], settings)[0]


@router.get(
    "/appointments",
    response_model=list[AppointmentRead],
    summary="Visits you may see (own, held, or your clinic's)",
)
def list_appointments(
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    patient_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
    status: Literal["booked", "cancelled", "completed", "no_show"] | None = None,
    start: Annotated[Instant | None, Query(description="visits ending after this")] = None,
    end: Annotated[Instant | None, Query(description="visits starting before this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AppointmentRead]:
    appts = service.list_appointments(
        session,
        actor,
        clock=clock,
        patient_id=patient_id,
        provider_id=provider_id,
        status=status,
        start=start,
        end=end,
        limit=limit,
    )
    return appointment_read(session, actor, appts, settings)


@router.get(
    "/appointments/{appointment_id}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **NOT_FOUND},
    summary="The visit as an iCalendar (RFC 5545) event",
)
def appointment_ics(
    appointment_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> Response:
    body = service.ics_for(session, actor, appointment_id, clock=clock, settings=settings)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="careweave-visit-{appointment_id}.ics"'},
    )


@router.get(
    "/appointments/{appointment_id}", response_model=AppointmentRead, responses=NOT_FOUND, summary="One visit"
)
def get_appointment(
    appointment_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> AppointmentRead:
    return appointment_read(
        session, actor, [service.get_appointment(session, actor, appointment_id, clock=clock)], settings
    )[0]


@router.post(
    "/appointments/{appointment_id}/cancel",
    response_model=list[AppointmentRead],
    responses={**NOT_FOUND, 409: {"description": "Not booked"}},
    summary="Cancel a visit (scope: this, or this and the rest of its series)",
)
def cancel_appointment(
    appointment_id: uuid.UUID,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    body: CancelRequest | None = None,
) -> list[AppointmentRead]:
    body = body or CancelRequest()
    done = service.cancel(
        session, actor, appointment_id, reason=body.reason, scope=body.scope, clock=clock, settings=settings
    )
    return appointment_read(session, actor, done, settings)


@router.post(
    "/appointments/{appointment_id}/reschedule",
    response_model=AppointmentRead,
    responses={**NOT_FOUND, **TAKEN, **INELIGIBLE},
    summary="Move a visit",
)
def reschedule_appointment(
    appointment_id: uuid.UUID,
    body: RescheduleRequest,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
) -> AppointmentRead:
    appt = service.reschedule(
        session, actor, appointment_id, start=body.start, clock=clock, settings=settings
    )
    return appointment_read(session, actor, [appt], settings)[0]


@router.post(
    "/appointments/{appointment_id}/no-show",
    response_model=AppointmentRead,
    responses=NOT_FOUND,
    summary="Mark a no-show (clinic staff, after the start)",
)
def no_show(
    appointment_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> AppointmentRead:
    appt = service.mark_no_show(session, actor, appointment_id, clock=clock)
    return appointment_read(session, actor, [appt], settings)[0]


@router.post(
    "/appointments/{appointment_id}/complete",
    response_model=AppointmentRead,
    responses=NOT_FOUND,
    summary="Mark a held visit completed (clinic staff, after the start; the clinician's End visit does it too)",
)
def complete(
    appointment_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> AppointmentRead:
    appt = service.complete(session, actor, appointment_id, clock=clock)
    return appointment_read(session, actor, [appt], settings)[0]


@router.post(
    "/appointment-series",
    response_model=SeriesRead,
    status_code=201,
    responses={
        **NOT_FOUND,
        409: {"description": "No occurrence could be booked (per-occurrence reasons)"},
        **INELIGIBLE,
    },
    summary="Book a weekly or biweekly series; each occurrence is checked and reported",
)
def create_series(
    body: SeriesCreate,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    response: Response,
) -> SeriesRead:
    series, results = service.create_series(
        session,
        actor,
        provider_id=body.provider_id,
        patient_id=body.patient_id,
        start=body.start,
        visit_type=body.visit_type,
        every_weeks=body.every_weeks,
        count=body.count,
        until=body.until,
        clock=clock,
        settings=settings,
    )
    if series is None:
        response.status_code = 409
    return SeriesRead(
        series_id=series.id if series else None,
        booked=sum(r.status == "booked" for r in results),
        occurrences=[
            OccurrenceRead(
                index=r.index,
                start=r.start,
                status=r.status,
                reason=r.reason,
                appointment_id=r.appointment.id if r.appointment else None,
            )
            for r in results
        ],
    )


def _waitlist_read(session: Session, entries: list[WaitlistEntry]) -> list[WaitlistRead]:
    from sqlalchemy import select

    ids = [e.id for e in entries]
    offers: dict[uuid.UUID, list[WaitlistOffer]] = {}
    if ids:
        for o in session.scalars(
            select(WaitlistOffer).where(WaitlistOffer.entry_id.in_(ids)).order_by(WaitlistOffer.created_at)
        ):
            offers.setdefault(o.entry_id, []).append(o)
    return [
        WaitlistRead(
            **{
                k: getattr(e, k)
                for k in (
                    "id",
                    "patient_id",
                    "provider_id",
                    "visit_type",
                    "window_start",
                    "window_end",
                    "status",
                    "created_at",
                )
            },
            offers=[WaitlistOfferRead.model_validate(o) for o in offers.get(e.id, [])],
        )
        for e in entries
    ]


@router.post(
    "/waitlist",
    response_model=WaitlistRead,
    status_code=201,
    responses={**NOT_FOUND, **INELIGIBLE},
    summary="Join a provider's (or any matching provider's) waitlist",
)
def join_waitlist(
    body: WaitlistCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> WaitlistRead:
    entry = waitlist.join(
        session,
        actor,
        patient_id=body.patient_id,
        provider_id=body.provider_id,
        visit_type=body.visit_type,
        window_start=body.window_start,
        window_end=body.window_end,
        clock=clock,
    )
    return _waitlist_read(session, [entry])[0]


@router.get(
    "/waitlist", response_model=list[WaitlistRead], summary="Waitlist entries you may see, with their offers"
)
def list_waitlist(
    actor: CurrentActor, session: DbSession, patient_id: uuid.UUID | None = None, active_only: bool = True
) -> list[WaitlistRead]:
    return _waitlist_read(
        session, waitlist.list_entries(session, actor, patient_id=patient_id, active_only=active_only)
    )


@router.delete("/waitlist/{entry_id}", status_code=204, responses=NOT_FOUND, summary="Leave the waitlist")
def leave_waitlist(
    entry_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> Response:
    waitlist.remove(session, actor, entry_id, clock=clock, settings=settings)
    return Response(status_code=204)


@router.post(
    "/waitlist/offers/{offer_id}/accept",
    response_model=AppointmentRead,
    status_code=201,
    responses={**NOT_FOUND, 409: {"description": "Offer expired or used"}},
    summary="Take an offered time",
)
def accept_offer(
    offer_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> AppointmentRead:
    appt = waitlist.accept(session, actor, offer_id, clock=clock, settings=settings)
    return appointment_read(session, actor, [appt], settings)[0]


@router.post(
    "/waitlist/offers/{offer_id}/decline",
    response_model=WaitlistOfferRead,
    responses=NOT_FOUND,
    summary="Pass on an offered time (you stay on the waitlist)",
)
def decline_offer(
    offer_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep, settings: SettingsDep
) -> WaitlistOfferRead:
    return WaitlistOfferRead.model_validate(
        waitlist.decline(session, actor, offer_id, clock=clock, settings=settings)
    )
