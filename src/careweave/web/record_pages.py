"""Treatment plan and clinical-note pages (issue #6): a patient's plan with its edit form and version history,
progress notes (SOAP/DAP) with signing and addenda, the clinician's own psychotherapy notes kept apart; and
the patient's plain-language plan with "I have read this plan"."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from careweave.core.actor import CLINICAL_ROLES, Role
from careweave.core.errors import Conflict, DomainError, InvalidInput
from careweave.deps import ClockDep, DbSession
from careweave.records import rules, service
from careweave.web.auth import PostedForm, WebUser, check_csrf, require_role
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
CLINICIANS = require_role(*CLINICAL_ROLES)
PATIENT = require_role(Role.PATIENT)
EXTRA_ROWS = 2


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ------------------------------------------------------------------ plan (clinicians)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _rows(form: FormData, prefix: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    """Numbered rows ``prefix_name_i``; a row with every field empty is dropped."""
    rows = []
    for i in range(rules.MAX_ITEMS + EXTRA_ROWS + 10):
        row = {n: _text(form, f"{prefix}_{n}_{i}") for n in names}
        if any(row.values()):
            rows.append(row)
    return rows


def plan_from_form(form: FormData) -> dict[str, Any]:
    goals: list[dict[str, Any]] = []
    for g in _rows(form, "goal", ("instrument", "comparator", "target", "due", "description")):
        target: Any = int(g["target"]) if g["target"].isdecimal() and len(g["target"]) <= 6 else g["target"]
        goals.append({**g, "target": target, "description": g["description"] or None})
    interventions = [
        {**i, "frequency": i["frequency"] or None}
        for i in _rows(form, "int", ("discipline", "owner_user_id", "description", "frequency"))
    ]
    return {
        "problems": _rows(form, "problem", ("code", "description")),
        "goals": goals,
        "interventions": interventions,
        "review_date": _text(form, "review_date") or None,
    }


def _plan_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    patient_id: uuid.UUID,
    *,
    saved: bool = False,
    error: DomainError | None = None,
    draft: dict[str, Any] | None = None,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    view = service.get_plan(session, web_user.actor, patient_id, clock=clock)
    versions = service.plan_versions(session, web_user.actor, patient_id, clock=clock)
    can_edit = service.may_write_plan(session, web_user.actor, patient_id)
    return render(
        request,
        "records/plan.html",
        {
            "patient_id": patient_id,
            "view": view,
            "versions": list(reversed(versions)),
            "can_edit": can_edit,
            "form": draft or view.content,
            "reason": reason,
            "saved": saved,
            "error": error,
            "errors": {f.field: f.message for f in (error.fields if error else [])},
            "extra": EXTRA_ROWS,
            "instruments": list(rules.INSTRUMENTS),
            "comparators": {"below": "below", "at_most": "at most", "above": "above", "at_least": "at least"},
            "disciplines": rules.DISCIPLINES,
            "today": clock.now().date().isoformat(),
        },
        status_code=status_code,
    )


@router.get("/patients/{patient_id}/plan")
def plan_page(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    saved: bool = False,
    web_user: WebUser = CLINICIANS,
) -> Response:
    return _plan_page(request, session, web_user, clock, patient_id, saved=saved)


@router.post("/patients/{patient_id}/plan")
def plan_submit(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    base_version: Annotated[int, Form(ge=0)],
    reason: Annotated[str, Form(max_length=1000)] = "",
    web_user: WebUser = CLINICIANS,
) -> Response:
    raw = plan_from_form(form)
    try:
        service.update_plan(
            session, web_user.actor, patient_id, raw, reason=reason, base_version=base_version, clock=clock
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _plan_page(
            request,
            session,
            web_user,
            clock,
            patient_id,
            error=exc,
            draft=raw if isinstance(exc, InvalidInput) else None,
            reason=reason,
            status_code=exc.status,
        )
    return _see_other(f"/patients/{patient_id}/plan?saved=1")


# ------------------------------------------------------------------ notes (clinicians)


def _notes_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    patient_id: uuid.UUID,
    *,
    fmt: str = "SOAP",
    message: str | None = None,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    views = service.list_notes(session, web_user.actor, patient_id, clock=clock)
    return render(
        request,
        "records/notes.html",
        {
            "patient_id": patient_id,
            "notes": [v for v in views if v.kind == "progress"],
            "psych": [v for v in views if v.kind == "psychotherapy"],
            "me": web_user.user.id,
            "can_write": web_user.role in (Role.THERAPIST, Role.PSYCHIATRIST),
            "fmt": fmt if fmt in rules.NOTE_FORMATS else "SOAP",
            "formats": rules.NOTE_FORMATS,
            "labels": rules.SECTION_LABELS,
            "message": message,
            "error": error,
            "errors": {f.field: f.message for f in (error.fields if error else [])},
            "values": values or {},
        },
        status_code=status_code,
    )


@router.get("/patients/{patient_id}/notes")
def notes_page(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    format: Annotated[str, Query(pattern="^(SOAP|DAP)$")] = "SOAP",
    done: Annotated[str | None, Query(pattern="^(created|signed|addendum)$")] = None,
    appointment_id: Annotated[uuid.UUID | None, Query(description="the visit the new note is for")] = None,
    web_user: WebUser = CLINICIANS,
) -> Response:
    messages = {"created": "Draft saved.", "signed": "Note signed.", "addendum": "Addendum added."}
    return _notes_page(
        request,
        session,
        web_user,
        clock,
        patient_id,
        fmt=format,
        message=messages.get(done or ""),
        values={"appointment_id": str(appointment_id)} if appointment_id else None,
    )


@router.post("/patients/{patient_id}/notes")
def note_submit(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    kind: Annotated[str, Form(pattern="^(progress|psychotherapy)$")] = "progress",
    format: Annotated[str, Form(pattern="^(SOAP|DAP)$")] = "SOAP",
    web_user: WebUser = CLINICIANS,
) -> Response:
    values = {k: _text(form, k) for k in ("S", "O", "A", "P", "D", "body", "appointment_id")}
    psych = kind == "psychotherapy"
    appointment: uuid.UUID | None = None
    try:
        if values["appointment_id"]:
            try:
                appointment = uuid.UUID(values["appointment_id"])
            except ValueError:
                appointment = uuid.UUID(int=0)  # not a visit: the service names the field
        data = service.NoteIn(
            kind="psychotherapy" if psych else "progress",
            format=None if psych else format,
            sections=None if psych else {k: values[k] for k in rules.NOTE_FORMATS[format]},
            body=values["body"] if psych else None,
            appointment_id=appointment,
            substance_use=bool(form.get("substance_use")) and not psych,
        )
        service.create_note(session, web_user.actor, patient_id, data, clock=clock)
    except InvalidInput as exc:
        session.rollback()
        return _notes_page(
            request,
            session,
            web_user,
            clock,
            patient_id,
            fmt=format,
            error=exc,
            values={**values, "kind": kind},
            status_code=exc.status,
        )
    return _see_other(f"/patients/{patient_id}/notes?done=created")


@router.post("/notes/{note_id}/sign")
def note_sign(
    note_id: uuid.UUID, session: DbSession, clock: ClockDep, web_user: WebUser = CLINICIANS
) -> Response:
    view = service.sign_note(session, web_user.actor, note_id, clock=clock)
    return _see_other(f"/patients/{view.note.patient_id}/notes?done=signed")


@router.post("/notes/{note_id}/addenda")
def note_addendum(
    note_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    body: Annotated[str, Form(max_length=20_000)] = "",
    web_user: WebUser = CLINICIANS,
) -> Response:
    view = service.add_addendum(session, web_user.actor, note_id, body=body, clock=clock)
    return _see_other(f"/patients/{view.note.patient_id}/notes?done=addendum")


# ------------------------------------------------------------------ the patient's plan


@router.get("/my/plan")
def my_plan(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    acknowledged: bool = False,
    web_user: WebUser = PATIENT,
) -> Response:
    patient_id = web_user.actor.patient_id
    if patient_id is None:
        return render(request, "records/my_plan.html", {"view": None})
    view = service.get_plan(session, web_user.actor, patient_id, clock=clock)
    return render(request, "records/my_plan.html", {"view": view, "acknowledged": acknowledged})


@router.post("/my/plan/acknowledge")
def my_plan_acknowledge(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    version: Annotated[int | None, Form(ge=1)] = None,
    web_user: WebUser = PATIENT,
) -> Response:
    patient_id = web_user.actor.patient_id
    if patient_id is None:
        return _see_other("/my/plan")
    try:
        service.acknowledge_plan(session, web_user.actor, patient_id, version=version, clock=clock)
    except Conflict as exc:
        session.rollback()
        view = service.get_plan(session, web_user.actor, patient_id, clock=clock)
        return render(
            request, "records/my_plan.html", {"view": view, "error": exc.message}, status_code=exc.status
        )
    return _see_other("/my/plan?acknowledged=1")
