"""Referral pages (issue #6): a clinician refers from a patient's page (a matching clinician or any who fits),
sees what they sent and received with statuses and overdue ones marked, and answers a referral; the patient sees
their referrals and books once one is accepted."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from careweave.careteam import referrals as service
from careweave.consent import rules as consent_rules
from careweave.core.actor import CLINICAL_ROLES, Role
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound
from careweave.deps import ClockDep, DbSession, get_settings
from careweave.patients import service as patients
from careweave.web.auth import WebUser, check_csrf, require_role
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
REFERRERS = require_role(Role.THERAPIST, Role.PSYCHIATRIST)
CLINICIANS = require_role(*CLINICAL_ROLES)
PATIENT = require_role(Role.PATIENT)
READERS = require_role(Role.PATIENT, *CLINICAL_ROLES)
MOVES = ("send", "accept", "decline", "cancel", "complete")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _default_kind(web_user: WebUser) -> str:
    return "therapy" if web_user.role is Role.PSYCHIATRIST else "medication_evaluation"


# ------------------------------------------------------------------ new referral


def _form(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser,
    patient_id: uuid.UUID,
    *,
    kind: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    if kind not in service.KIND_LABELS:
        kind = _default_kind(web_user)
    ranked, why = service.matching_clinicians(session, web_user.actor, patient_id, kind=kind, clock=clock)
    return render(
        request,
        "referrals/new.html",
        {
            "patient_id": patient_id,
            "patient_name": patients.display_names(session, {patient_id}).get(patient_id, "Patient"),
            "kind": kind,
            "kinds": service.KIND_LABELS,
            "clinicians": ranked[:10],
            "why_none": why,
            "urgencies": ("routine", "soon", "urgent"),
            "shareable": consent_rules.SHAREABLE,
            "labels": consent_rules.LABELS,
            "values": values or {"urgency": "routine", "needs": ["screening"], "to_provider_id": ""},
            "errors": errors or {},
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/patients/{patient_id}/referrals/new")
def new_referral_page(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    web_user: WebUser = REFERRERS,
) -> Response:
    return _form(request, session, clock, web_user, patient_id, kind=kind or _default_kind(web_user))


@router.post("/patients/{patient_id}/referrals")
def new_referral_submit(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    kind: Annotated[str, Form(max_length=40)],
    reason: Annotated[str, Form(max_length=4000)] = "",
    urgency: Annotated[str, Form(max_length=10)] = "routine",
    to_provider_id: Annotated[str, Form(max_length=40)] = "",
    question: Annotated[str, Form(max_length=4000)] = "",
    modality: Annotated[str, Form(max_length=40)] = "",
    needs: Annotated[list[str] | None, Form()] = None,
    action: Annotated[str, Form(pattern="^(send|draft)$")] = "send",
    web_user: WebUser = REFERRERS,
) -> Response:
    values = {
        "reason": reason,
        "urgency": urgency,
        "to_provider_id": to_provider_id,
        "question": question,
        "modality": modality,
        "needs": needs or [],
    }
    try:
        try:
            provider = uuid.UUID(to_provider_id) if to_provider_id and to_provider_id != "any" else None
        except ValueError as exc:
            raise InvalidInput(
                "Choose a clinician from the list.",
                fields=[FieldError("to_provider_id", "choose a clinician from the list")],
            ) from exc
        referral = service.create(
            session,
            web_user.actor,
            service.ReferralIn(
                patient_id=patient_id,
                kind=kind,
                reason=reason,
                urgency=urgency,
                to_provider_id=provider,
                question=question or None,
                modality=modality or None,
                needs=tuple(needs or ()),
                send=action == "send",
            ),
            clock=clock,
        )
    except InvalidInput as exc:
        session.rollback()
        return _form(
            request,
            session,
            clock,
            web_user,
            patient_id,
            kind=kind,
            values=values,
            errors={f.field: f.message for f in exc.fields},
            error=exc.message,
            status_code=422,
        )
    return _see_other(f"/referrals/{referral.id}?done={'sent' if action == 'send' else 'draft'}")


# ------------------------------------------------------------------ lists


@router.get("/referrals")
def referrals_page(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    role: Annotated[str, Query(pattern="^(sent|received)$")] = "received",
    web_user: WebUser = READERS,
) -> Response:
    if web_user.role is Role.PATIENT:
        return _see_other("/my/referrals")
    days = get_settings(request).referral_overdue_days
    views = service.list_referrals(
        session,
        web_user.actor,
        role=role,  # type: ignore[arg-type]
        clock=clock,
        overdue_days=days,
    )
    return render(
        request,
        "referrals/list.html",
        {
            "role": role,
            "views": views,
            "overdue_days": days,
            "is_referrer": web_user.role in (Role.THERAPIST, Role.PSYCHIATRIST),
        },
    )


@router.get("/my/referrals")
def my_referrals_page(
    request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = PATIENT
) -> Response:
    views = service.list_referrals(
        session, web_user.actor, clock=clock, overdue_days=get_settings(request).referral_overdue_days
    )
    return render(
        request,
        "referrals/mine.html",
        {"views": views, "book": {v.referral.id: service.book_provider_id(v) for v in views}},
    )


# ------------------------------------------------------------------ one referral


def _detail(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser,
    referral_id: uuid.UUID,
    *,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    detail = service.get(
        session,
        web_user.actor,
        referral_id,
        clock=clock,
        overdue_days=get_settings(request).referral_overdue_days,
    )
    return render(
        request,
        "referrals/detail.html",
        {
            "d": detail,
            "v": detail.view,
            "r": detail.view.referral,
            "labels": consent_rules.LABELS,
            "is_patient": web_user.role is Role.PATIENT,
            "book_provider_id": service.book_provider_id(detail.view),
            "error": error,
            "errors": errors or {},
            "done": request.query_params.get("done"),
        },
        status_code=status_code,
    )


@router.get("/referrals/{referral_id}")
def referral_page(
    request: Request,
    referral_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser = READERS,
) -> Response:
    return _detail(request, session, clock, web_user, referral_id)


@router.post("/referrals/{referral_id}/{move}")
def referral_move(
    request: Request,
    referral_id: uuid.UUID,
    move: str,
    session: DbSession,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=4000)] = "",
    outcome: Annotated[str, Form(max_length=4000)] = "",
    web_user: WebUser = CLINICIANS,
) -> Response:
    actor = web_user.actor
    try:
        if move == "send":
            service.send(session, actor, referral_id, clock=clock)
        elif move == "accept":
            service.accept(session, actor, referral_id, clock=clock)
        elif move == "decline":
            service.decline(session, actor, referral_id, reason=reason, clock=clock)
        elif move == "cancel":
            service.cancel(session, actor, referral_id, reason=reason, clock=clock)
        elif move == "complete":
            service.complete(session, actor, referral_id, outcome=outcome, clock=clock)
        else:
            raise service.ReferralNotFound("No such page.")
    except (Conflict, InvalidInput) as exc:
        session.rollback()
        try:
            return _detail(
                request,
                session,
                clock,
                web_user,
                referral_id,
                error=exc.message,
                errors={f.field: f.message for f in exc.fields},
                status_code=exc.status,
            )
        except NotFound:  # an open referral another clinician took: back to the list, saying so
            days = get_settings(request).referral_overdue_days
            views = service.list_referrals(session, actor, role="received", clock=clock, overdue_days=days)
            return render(
                request,
                "referrals/list.html",
                {
                    "role": "received",
                    "views": views,
                    "overdue_days": days,
                    "is_referrer": web_user.role in (Role.THERAPIST, Role.PSYCHIATRIST),
                    "error": exc.message,
                },
                status_code=exc.status,
            )
    return _see_other(f"/referrals/{referral_id}?done={move}")
