"""Secure messaging pages (issue #6): the inbox with unread counts, a thread with read receipts and a reply box,
starting a thread (patient ⇄ care team, or clinicians about a patient under the patient's consent)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from careweave.consent import rules as consent_rules
from careweave.core.actor import CLINICAL_ROLES, Role
from careweave.core.errors import FieldError, InvalidInput, PolicyDenied
from careweave.deps import ClockDep, DbSession, MailerDep, SettingsDep
from careweave.messaging import service
from careweave.web.auth import WebUser, check_csrf, require_role
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
MESSAGING = require_role(Role.PATIENT, *CLINICAL_ROLES)
BODY = Annotated[str, Form(max_length=5000)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _is_patient(web_user: WebUser) -> bool:
    return web_user.role is Role.PATIENT


@router.get("/messages")
def inbox(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    patient_id: uuid.UUID | None = None,
    web_user: WebUser = MESSAGING,
) -> Response:
    views = service.list_threads(session, web_user.actor, clock=clock, patient_id=patient_id)
    return render(
        request,
        "messages/inbox.html",
        {
            "views": views,
            "unread_total": sum(v.unread for v in views),
            "is_patient": _is_patient(web_user),
            "patient_id": patient_id,
            "notice": service.NOT_MONITORED,
        },
    )


def _new_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    *,
    patient_id: uuid.UUID | None,
    kind: str,
    form: dict[str, object] | None = None,
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    pid = web_user.actor.patient_id if _is_patient(web_user) else patient_id
    if pid is None:
        raise InvalidInput(
            "Open a patient first, then start a thread about them.",
            fields=[FieldError("patient_id", "required")],
        )
    choices = [
        c for c in service.recipients(session, web_user.actor, pid, clock=clock) if c[0] != web_user.user.id
    ]
    return render(
        request,
        "messages/new.html",
        {
            "patient_id": pid,
            "kind": "patient" if _is_patient(web_user) else kind,
            "choices": choices,
            "is_patient": _is_patient(web_user),
            "form": form or {},
            "error": error,
            "field_errors": field_errors or {},
            "notice": service.NOT_MONITORED,
        },
        status_code=status_code,
    )


@router.get("/messages/new")
def new_thread_page(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    patient_id: uuid.UUID | None = None,
    kind: Annotated[str, Query(pattern="^(patient|clinician)$")] = "patient",
    web_user: WebUser = MESSAGING,
) -> Response:
    return _new_page(request, session, web_user, clock, patient_id=patient_id, kind=kind)


@router.post("/messages/new")
def new_thread_submit(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    mailer: MailerDep,
    subject: Annotated[str, Form(max_length=200)] = "",
    body: BODY = "",
    kind: Annotated[str, Form(pattern="^(patient|clinician)$")] = "patient",
    participants: Annotated[list[uuid.UUID] | None, Form()] = None,
    patient_id: Annotated[uuid.UUID | None, Form()] = None,
    web_user: WebUser = MESSAGING,
) -> Response:
    pid = web_user.actor.patient_id if _is_patient(web_user) else patient_id
    form = {"subject": subject, "body": body, "participants": [str(p) for p in participants or []]}
    try:
        if pid is None:
            raise InvalidInput("Choose the patient first.", fields=[FieldError("patient_id", "required")])
        if not body.strip():
            raise InvalidInput("Write your message.", fields=[FieldError("body", "required")])
        thread, outcome = service.create_thread(
            session,
            web_user.actor,
            patient_id=pid,
            participants=list(participants or []),
            subject=subject,
            kind="patient" if _is_patient(web_user) else kind,
            body=body,
            clock=clock,
            settings=settings,
            mailer=mailer,
        )
    except (InvalidInput, PolicyDenied) as exc:
        if pid is None:
            raise
        return _new_page(
            request,
            session,
            web_user,
            clock,
            patient_id=pid,
            kind=kind,
            form=form,
            error=exc.message,
            field_errors={f.field.split("[")[0]: f.message for f in exc.fields},
            status_code=exc.status,
        )
    if outcome is not None and outcome.crisis.matched:
        return _thread_page(request, session, web_user, clock, thread.id, crisis=outcome)
    return _see_other(f"/messages/{thread.id}")


def _thread_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    thread_id: uuid.UUID,
    *,
    crisis: service.SendOutcome | None = None,
    error: str | None = None,
    draft: str = "",
    sent: bool = False,
    status_code: int = 200,
    template: str = "messages/thread.html",
) -> Response:
    service.mark_read(session, web_user.actor, thread_id, clock=clock)
    detail = service.get_thread(session, web_user.actor, thread_id, clock=clock)
    return render(
        request,
        template,
        {
            "d": detail,
            "t": detail.view.thread,
            "me": web_user.user.id,
            "is_patient": _is_patient(web_user),
            "crisis": crisis.crisis if crisis is not None and crisis.crisis.matched else None,
            "level": crisis.crisis.level if crisis is not None else None,
            "error": error,
            "draft": draft,
            "sent": sent,
            "labels": consent_rules.LABELS,
        },
        status_code=status_code,
    )


@router.get("/messages/{thread_id}")
def thread_page(
    request: Request,
    thread_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    sent: bool = False,
    web_user: WebUser = MESSAGING,
) -> Response:
    return _thread_page(request, session, web_user, clock, thread_id, sent=sent)


@router.get("/messages/{thread_id}/list")
def thread_messages_partial(
    request: Request, thread_id: uuid.UUID, session: DbSession, clock: ClockDep, web_user: WebUser = MESSAGING
) -> Response:
    """The message list alone (htmx polling on the thread page)."""
    return _thread_page(request, session, web_user, clock, thread_id, template="messages/_messages.html")


@router.post("/messages/{thread_id}")
def reply(
    request: Request,
    thread_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    mailer: MailerDep,
    body: BODY = "",
    web_user: WebUser = MESSAGING,
) -> Response:
    try:
        outcome = service.send_message(
            session, web_user.actor, thread_id, body, clock=clock, settings=settings, mailer=mailer
        )
    except (InvalidInput, PolicyDenied) as exc:
        return _thread_page(
            request,
            session,
            web_user,
            clock,
            thread_id,
            error=exc.message,
            draft=body,
            status_code=exc.status,
        )
    if outcome.crisis.matched:
        return _thread_page(request, session, web_user, clock, thread_id, crisis=outcome)
    return _see_other(f"/messages/{thread_id}?sent=true#latest")
