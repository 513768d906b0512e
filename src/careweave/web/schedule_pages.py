"""Scheduling pages: pick a time and book (patients, or staff for a patient), my visits (cancel, move,
calendar file, join), the waitlist and its offers, and a clinician's weekly hours."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from careweave.core import geo
from careweave.core.actor import CLINICAL_ROLES, Role
from careweave.core.errors import Conflict, DomainError, FieldError, InvalidInput
from careweave.deps import ClockDep, DbSession, SettingsDep
from careweave.scheduling import rules, service, waitlist
from careweave.web.auth import PostedForm, WebUser, check_csrf, require_role
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
ANYONE = require_role(*Role)
BOOKERS = require_role(Role.PATIENT, *CLINICAL_ROLES, Role.ADMIN)
HOLDERS = require_role(Role.THERAPIST, Role.PSYCHIATRIST, Role.ADMIN)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SHOW_DAYS = 14


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _patient_id(web_user: WebUser, patient_id: uuid.UUID | None) -> uuid.UUID | None:
    return web_user.actor.patient_id if web_user.role is Role.PATIENT else patient_id


# ------------------------------------------------------------------ booking


def _booking_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    provider_id: uuid.UUID,
    *,
    visit_type: str | None,
    patient_id: uuid.UUID | None,
    reschedule: uuid.UUID | None,
    week: int,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    provider = service.provider_for_booking(session, web_user.actor, provider_id)
    types = service.visit_types_for(session, provider)
    moving = None
    if reschedule is not None:
        moving = service.get_appointment(session, web_user.actor, reschedule, clock=clock)
        visit_type = moving.visit_type
        patient_id = moving.patient_id
    chosen = next((v for v in types if v.code == visit_type), types[0] if types else None)
    days: list[tuple[str, list[service.SlotView]]] = []
    viewer = provider_tz = provider.timezone
    if chosen is not None:
        now = clock.now()
        start = datetime.combine(now.date(), time(0), tzinfo=UTC) + timedelta(days=week * SHOW_DAYS)
        slots, viewer, provider_tz = service.list_slots(
            session,
            web_user.actor,
            provider.id,
            start=start,
            end=start + timedelta(days=SHOW_DAYS + 1),
            visit_type=chosen.code,
            clock=clock,
            timezone=service.patient_timezone(session, patient_id)
            if patient_id and web_user.role is not Role.PATIENT
            else None,
        )
        for slot in slots:
            day = datetime.fromisoformat(slot.start_local).strftime("%A %-d %B")
            if not days or days[-1][0] != day:
                days.append((day, []))
            days[-1][1].append(slot)
    return render(
        request,
        "schedule/book.html",
        {
            "provider": provider,
            "types": types,
            "chosen": chosen,
            "days": days,
            "viewer_tz": viewer,
            "provider_tz": provider_tz,
            "patient_id": patient_id,
            "moving": moving,
            "week": week,
            "error": error,
            "waitlist_start": (clock.now().date()).isoformat(),
            "waitlist_end": (clock.now().date() + timedelta(days=30)).isoformat(),
        },
        status_code=status_code,
    )


@router.get("/book/{provider_id}")
def book_page(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    visit_type: Annotated[str | None, Query(max_length=40)] = None,
    patient_id: uuid.UUID | None = None,
    reschedule: uuid.UUID | None = None,
    week: Annotated[int, Query(ge=0, le=8)] = 0,
    web_user: WebUser = BOOKERS,
) -> Response:
    return _booking_page(
        request,
        session,
        web_user,
        clock,
        provider_id,
        visit_type=visit_type,
        patient_id=_patient_id(web_user, patient_id),
        reschedule=reschedule,
        week=week,
    )


@router.post("/book/{provider_id}")
def book_submit(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    start: Annotated[str, Form(max_length=40)],
    visit_type: Annotated[str, Form(max_length=40)],
    patient_id: Annotated[uuid.UUID | None, Form()] = None,
    reschedule: Annotated[uuid.UUID | None, Form()] = None,
    web_user: WebUser = BOOKERS,
) -> Response:
    pid = _patient_id(web_user, patient_id)
    try:
        when = _parse_start(start)
        if reschedule is not None:
            appt = service.reschedule(
                session, web_user.actor, reschedule, start=when, clock=clock, settings=settings
            )
        else:
            if pid is None:
                raise InvalidInput("Choose the patient first.", fields=[FieldError("patient_id", "required")])
            appt = service.book(
                session,
                web_user.actor,
                provider_id=provider_id,
                patient_id=pid,
                start=when,
                visit_type=visit_type,
                clock=clock,
                settings=settings,
            )
    except (Conflict, InvalidInput, service.Ineligible) as exc:
        session.rollback()
        return _booking_page(
            request,
            session,
            web_user,
            clock,
            provider_id,
            visit_type=visit_type,
            patient_id=pid,
            reschedule=reschedule,
            week=0,
            error=exc.message,
            status_code=exc.status,
        )
    return _see_other(f"/appointments?booked={appt.id}")


def _parse_start(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        problem = "That time could not be read; please pick one of the times shown."
        raise InvalidInput(problem, fields=[FieldError("start", problem)]) from exc


# ------------------------------------------------------------------ my visits


@router.get("/appointments")
def appointments_page(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    booked: uuid.UUID | None = None,
    past: bool = False,
    web_user: WebUser = ANYONE,
) -> Response:
    now = clock.now()
    if past:
        appts = service.list_appointments(session, web_user.actor, clock=clock, end=now, limit=200)
        appts.reverse()
    else:
        appts = service.list_appointments(
            session, web_user.actor, clock=clock, start=now - timedelta(hours=2), limit=200
        )
    views = service.views(session, web_user.actor, appts)
    entries = waitlist.list_entries(session, web_user.actor)
    offers = waitlist.offers_for(session, web_user.actor, clock=clock)
    names = service.provider_names(
        session, {o.provider_id for o in offers} | {e.provider_id for e in entries if e.provider_id}
    )
    reader_tz = service.viewer_timezone(session, web_user.actor, "UTC")  # once, not per label
    opens = timedelta(minutes=settings.visit_room_opens_minutes)
    closes = timedelta(minutes=settings.visit_room_closes_minutes)
    return render(
        request,
        "schedule/appointments.html",
        {
            "views": views,
            "past": past,
            "booked": booked,
            "entries": entries,
            "offers": offers,
            "names": names,
            "now": now,
            "room_open": lambda a: a.status == "booked" and a.start_at - opens <= now <= a.end_at + closes,
            "label": lambda at: rules.local_label(at, reader_tz),
            "is_patient": web_user.role is Role.PATIENT,
            "can_no_show": web_user.role is not Role.PATIENT,
        },
    )


@router.post("/appointments/{appointment_id}/cancel")
def cancel_submit(
    appointment_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    reason: Annotated[str, Form(max_length=500)] = "",
    scope: Annotated[str, Form(pattern="^(this|following)$")] = "this",
    web_user: WebUser = ANYONE,
) -> Response:
    service.cancel(
        session,
        web_user.actor,
        appointment_id,
        reason=reason,
        scope=scope,  # type: ignore[arg-type]
        clock=clock,
        settings=settings,
    )
    return _see_other("/appointments")


@router.post("/appointments/{appointment_id}/no-show")
def no_show_submit(
    appointment_id: uuid.UUID, session: DbSession, clock: ClockDep, web_user: WebUser = ANYONE
) -> Response:
    service.mark_no_show(session, web_user.actor, appointment_id, clock=clock)
    return _see_other("/appointments?past=true")


@router.post("/appointments/{appointment_id}/complete")
def complete_submit(
    appointment_id: uuid.UUID, session: DbSession, clock: ClockDep, web_user: WebUser = ANYONE
) -> Response:
    service.complete(session, web_user.actor, appointment_id, clock=clock)
    return _see_other("/appointments?past=true")


@router.get("/appointments/{appointment_id}/calendar.ics")
def appointment_calendar(
    appointment_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    web_user: WebUser = ANYONE,
) -> Response:
    body = service.ics_for(session, web_user.actor, appointment_id, clock=clock, settings=settings)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="careweave-visit-{appointment_id}.ics"'},
    )


# ------------------------------------------------------------------ waitlist


@router.post("/waitlist")
def waitlist_join(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    visit_type: Annotated[str, Form(max_length=40)],
    window_start: Annotated[date, Form()],
    window_end: Annotated[date, Form()],
    provider_id: Annotated[uuid.UUID | None, Form()] = None,
    patient_id: Annotated[uuid.UUID | None, Form()] = None,
    web_user: WebUser = BOOKERS,
) -> Response:
    pid = _patient_id(web_user, patient_id)
    if pid is None:
        raise InvalidInput("Choose the patient first.", fields=[FieldError("patient_id", "required")])
    tz = rules.zone(service.patient_timezone(session, pid) or "UTC")
    waitlist.join(
        session,
        web_user.actor,
        patient_id=pid,
        provider_id=provider_id,
        visit_type=visit_type,
        window_start=datetime.combine(window_start, time(0), tzinfo=tz),
        window_end=datetime.combine(window_end + timedelta(days=1), time(0), tzinfo=tz),
        clock=clock,
    )
    return _see_other("/appointments#waitlist")


@router.post("/waitlist/{entry_id}/remove")
def waitlist_remove(
    entry_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    web_user: WebUser = BOOKERS,
) -> Response:
    waitlist.remove(session, web_user.actor, entry_id, clock=clock, settings=settings)
    return _see_other("/appointments#waitlist")


@router.post("/waitlist/offers/{offer_id}/{decision}")
def waitlist_offer(
    offer_id: uuid.UUID,
    decision: str,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    web_user: WebUser = BOOKERS,
) -> Response:
    if decision == "accept":
        appt = waitlist.accept(session, web_user.actor, offer_id, clock=clock, settings=settings)
        return _see_other(f"/appointments?booked={appt.id}")
    if decision == "decline":
        waitlist.decline(session, web_user.actor, offer_id, clock=clock, settings=settings)
        return _see_other("/appointments#waitlist")
    raise InvalidInput("Unknown decision.", fields=[FieldError("decision", "accept or decline")])


# ------------------------------------------------------------------ a clinician's hours


def _own_provider(session, web_user: WebUser, provider_id: uuid.UUID | None) -> uuid.UUID:  # type: ignore[no-untyped-def]
    if provider_id is not None and web_user.role is Role.ADMIN:
        return provider_id
    own = service.provider_id_for_user(session, web_user.user.id)
    if own is None:
        raise InvalidInput(
            "Your account has no directory profile yet; ask an administrator to link one.",
            fields=[FieldError("provider_id", "no profile")],
        )
    return own


@router.get("/schedule/availability")
def availability_page(
    request: Request,
    session: DbSession,
    provider_id: uuid.UUID | None = None,
    saved: bool = False,
    web_user: WebUser = HOLDERS,
) -> Response:
    pid = _own_provider(session, web_user, provider_id)
    view = service.get_availability(session, web_user.actor, pid)
    return render(
        request,
        "schedule/availability.html",
        {
            "view": view,
            "weekdays": WEEKDAYS,
            "types": service.visit_types(session, web_user.actor),
            "provider_id": pid,
            "admin": web_user.role is Role.ADMIN,
            "saved": saved,
            "errors": {},
            "zones": sorted(_zones()),
        },
    )


def _zones() -> set[str]:
    return set(geo.US_TIMEZONES)


@router.post("/schedule/availability")
def availability_submit(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    web_user: WebUser = HOLDERS,
) -> Response:
    provider_id = form.get("provider_id")
    try:
        chosen = uuid.UUID(str(provider_id)) if provider_id else None
    except ValueError as exc:
        raise InvalidInput("Unknown provider.", fields=[FieldError("provider_id", "not an id")]) from exc
    pid = _own_provider(session, web_user, chosen)
    try:
        data = _availability_from_form(form)
        service.set_availability(session, web_user.actor, pid, data, clock=clock)
    except DomainError as exc:
        session.rollback()
        view = service.get_availability(session, web_user.actor, pid)
        return render(
            request,
            "schedule/availability.html",
            {
                "view": view,
                "weekdays": WEEKDAYS,
                "types": service.visit_types(session, web_user.actor),
                "provider_id": pid,
                "admin": web_user.role is Role.ADMIN,
                "saved": False,
                "errors": {f.field: f.message for f in exc.fields} or {"form": exc.message},
                "message": exc.message,
                "zones": sorted(_zones()),
            },
            status_code=exc.status,
        )
    suffix = f"&provider_id={pid}" if web_user.role is Role.ADMIN else ""
    return _see_other(f"/schedule/availability?saved=true{suffix}")


def _time(value: object, field: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput("A time is not valid.", fields=[FieldError(field, "use HH:MM")]) from exc


def _int(value: object, field: str) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise InvalidInput("A number is not valid.", fields=[FieldError(field, "a whole number")]) from exc


def _availability_from_form(form) -> service.AvailabilityIn:  # type: ignore[no-untyped-def]
    """Rows ``weekday_N``/``start_N``/``end_N`` (blank rows ignored) and ``ex_date_N``/``ex_start_N``/
    ``ex_end_N``/``ex_available_N``."""
    weekly = []
    for i in range(70):
        day, start, end = form.get(f"weekday_{i}"), form.get(f"start_{i}"), form.get(f"end_{i}")
        if day in (None, "") or not start or not end:
            continue
        weekly.append(
            service.WindowIn(
                _int(day, f"weekly[{i}].weekday"),
                _time(start, f"weekly[{i}].start"),
                _time(end, f"weekly[{i}].end"),
            )
        )
    exceptions = []
    for i in range(400):
        day = form.get(f"ex_date_{i}")
        if not day:
            continue
        try:
            d = date.fromisoformat(str(day))
        except ValueError as exc:
            raise InvalidInput(
                "A date is not valid.", fields=[FieldError(f"exceptions[{i}].date", "YYYY-MM-DD")]
            ) from exc
        start, end = form.get(f"ex_start_{i}"), form.get(f"ex_end_{i}")
        exceptions.append(
            service.ExceptionIn(
                d,
                _time(start, f"exceptions[{i}].start") if start else None,
                _time(end, f"exceptions[{i}].end") if end else None,
                form.get(f"ex_available_{i}") == "on",
                str(form.get(f"ex_note_{i}") or "")[:200] or None,
            )
        )
    return service.AvailabilityIn(
        timezone=str(form.get("timezone") or ""),
        weekly=tuple(weekly),
        exceptions=tuple(exceptions),
        buffer_minutes=_int(form.get("buffer_minutes", 0), "buffer_minutes"),
        min_notice_minutes=_int(form.get("min_notice_hours", 12), "min_notice_hours") * 60,
        horizon_days=_int(form.get("horizon_days", 60), "horizon_days"),
        late_cancel_hours=_int(form.get("late_cancel_hours", 24), "late_cancel_hours"),
    )
