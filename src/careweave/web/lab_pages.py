"""Lab and monitoring pages (issue #7): a patient's monitoring schedule, results with flags, alerts and the
"enter a result" form, for clinicians; acknowledging a lab alert. The clinician home's "Overdue monitoring" and
lab-alert panels use :func:`home_panels`."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from careweave.core.actor import CLINICAL_ROLES, Actor
from careweave.core.clock import Clock
from careweave.core.errors import DomainError, FieldError, InvalidInput
from careweave.deps import ClockDep, DbSession
from careweave.labs import rules, service
from careweave.web.auth import WebUser, check_csrf, require_role
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
CLINICIANS = require_role(*CLINICAL_ROLES)


def home_panels(session: Session, actor: Actor, clock: Clock) -> dict[str, Any]:
    """For the clinician home page: the prescriber's overdue monitoring and open lab alerts."""
    return {
        "lab_overdue": service.overdue_for_prescriber(session, actor, clock=clock),
        "lab_alerts": service.alerts_for_me(session, actor),
    }


def _page(
    request: Request,
    session: Session,
    web_user: Any,
    clock: Clock,
    patient_id: uuid.UUID,
    *,
    notice: str | None = None,
    error: DomainError | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    view = service.get_labs(session, web_user.actor, patient_id, clock=clock)
    tests = rules.data()["tests"]
    return render(
        request,
        "labs/patient_labs.html",
        {
            "view": view,
            "tests": tests,
            "protocols": {name: rules.protocol(name) for name in rules.PROTOCOLS},
            "notice": notice,
            "error": error,
            "errors": {f.field: f.message for f in (error.fields if error else [])},
            "form": form or {},
            # the form's default: now on the patient's clock (a time without an offset is theirs)
            "now": clock.now().astimezone(ZoneInfo(view.timezone)).strftime("%Y-%m-%dT%H:%M"),
            "me": web_user.actor.user_id,
        },
        status_code=status_code,
    )


@router.get("/patients/{patient_id}/labs")
def labs_page(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    notice: str | None = None,
    web_user: WebUser = CLINICIANS,
) -> Response:
    return _page(request, session, web_user, clock, patient_id, notice=notice)


@router.post("/patients/{patient_id}/labs/results")
def labs_result_submit(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    loinc: Annotated[str, Form(max_length=20)],
    value: Annotated[str, Form(max_length=40)],
    observed_at: Annotated[str, Form(max_length=40)],
    unit: Annotated[str, Form(max_length=40)] = "",
    abnormal_flag: Annotated[str, Form(max_length=5)] = "",
    reference_range: Annotated[str, Form(max_length=60)] = "",
    web_user: WebUser = CLINICIANS,
) -> Response:
    form = {
        "loinc": loinc,
        "value": value,
        "unit": unit,
        "observed_at": observed_at,
        "abnormal_flag": abnormal_flag,
    }
    try:
        problems = []
        number: float | None
        try:
            number = float(value)
        except ValueError:
            number = None
            problems.append(FieldError("value", "a number"))
        if number is not None and not math.isfinite(number):  # "nan", "inf", "1e999"
            number = None
            problems.append(FieldError("value", "a finite number"))
        try:
            # an offset typed with the time is kept; a time without one is the patient's local time (the
            # service reads it in their zone, UTC when unknown)
            when = datetime.fromisoformat(observed_at.strip())
        except ValueError:
            when = clock.now()
            problems.append(FieldError("observed_at", "a date and time (YYYY-MM-DDTHH:MM[±HH:MM])"))
        if problems:
            raise InvalidInput("Please correct the marked fields.", fields=problems)
        recorded = service.record_result(
            session,
            web_user.actor,
            patient_id,
            service.ResultIn(
                loinc=loinc.strip(),
                value_text=value.strip(),
                value=number,
                unit=unit.strip() or None,
                observed_at=when,
                reference_range=reference_range.strip() or None,
                abnormal_flag=abnormal_flag.strip().upper() or None,
            ),
            clock=clock,
        )
    except InvalidInput as exc:
        session.rollback()
        return _page(request, session, web_user, clock, patient_id, error=exc, form=form, status_code=422)
    notice = "result_saved_alert" if recorded.alert else "result_saved"
    return RedirectResponse(f"/patients/{patient_id}/labs?notice={notice}", status_code=303)


@router.post("/patients/{patient_id}/labs/plans/{plan_id}/ben")
def labs_plan_ben(
    request: Request,
    patient_id: uuid.UUID,
    plan_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    ben: Annotated[str, Form(max_length=5)] = "",
    web_user: WebUser = CLINICIANS,
) -> Response:
    """The prescriber records (checked) or clears benign (ethnic) neutropenia on a clozapine plan."""
    plan = service.plan_of_patient(session, plan_id, patient_id)
    try:
        service.set_ben(session, web_user.actor, plan.id, ben=ben in ("1", "on", "true"), clock=clock)
    except InvalidInput as exc:
        session.rollback()
        return _page(request, session, web_user, clock, patient_id, error=exc, status_code=422)
    return RedirectResponse(f"/patients/{patient_id}/labs?notice=ben_saved", status_code=303)


@router.post("/lab-alerts/{alert_id}/acknowledge")
def lab_alert_acknowledge(
    alert_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    back: Annotated[str, Form(max_length=200, pattern=r"^/[A-Za-z0-9/_-]*$")] = "/clinician",
    web_user: WebUser = CLINICIANS,
) -> Response:
    service.acknowledge_alert(session, web_user.actor, alert_id, clock=clock)
    return RedirectResponse(back, status_code=303)
