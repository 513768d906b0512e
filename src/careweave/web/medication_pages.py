"""Medication pages (issue #7): the prescriber's medication page for a patient (list, reconciliation, new
prescription with findings inline and override boxes, sign/stop, taper), the refill queue, the patient's "My
medications" (taper today's dose, refill request), the therapist's read-only view (consent-gated by the
service) and the administrator's formulary page. Every form works without JavaScript; CSRF as elsewhere."""

from __future__ import annotations

import math
import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from careweave.core.actor import CLINICAL_ROLES, Role
from careweave.core.errors import DomainError, FieldError, InvalidInput, PolicyDenied
from careweave.deps import ClockDep, DbSession
from careweave.medications import common, facts, formulary_service, prescribing, refills, rules, tapering
from careweave.web.auth import PostedForm, WebUser, check_csrf, require_role
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
CLINICIANS = require_role(*CLINICAL_ROLES)
PRESCRIBERS = require_role(Role.PSYCHIATRIST)
PATIENT = require_role(Role.PATIENT)
ADMIN = require_role(Role.ADMIN)


def _t(form: FormData, name: str) -> str:
    v = form.get(name)
    return v.strip() if isinstance(v, str) else ""


def _num(form: FormData, name: str, default: float = 0, *, errors: list[FieldError] | None = None) -> float:
    """A finite number from the form; empty -> ``default``; anything else (text, nan, inf, 1e400) -> ``default``
    and a field error in ``errors`` (never a 500)."""
    raw = _t(form, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        if errors is not None:
            errors.append(FieldError(name, "a finite number"))
        return default
    return value


def _int(form: FormData, name: str, errors: list[FieldError]) -> int:
    value = _num(form, name, errors=errors)
    if value != int(value):
        errors.append(FieldError(name, "a whole number"))
    return int(value)


def _date(form: FormData, name: str) -> date | None:
    try:
        return date.fromisoformat(_t(form, name)) if _t(form, name) else None
    except ValueError:
        return None


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    patient_id: uuid.UUID,
    *,
    error: DomainError | None = None,
    findings: list[rules.Finding] | None = None,
    draft: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    actor = web_user.actor
    try:
        view = facts.medication_list(session, actor, patient_id, clock=clock)
        tapers = {t.prescription.id: t for t in tapering.tapers_for(session, actor, patient_id, clock=clock)}
        denied = None
    except PolicyDenied as exc:
        view, tapers, denied = None, {}, exc.message
    form = formulary_service.formulary(session)
    # Each prescription's stored check results: a moderate finding (e.g. the §6.3 boxed warning for a patient
    # aged 24 or under) does not stop the draft, so this is where the prescriber sees it before signing.
    rx_findings = {p.id: prescribing.findings_of(session, p.id) for p in view.prescriptions} if view else {}
    return render(
        request,
        "medications/patient.html",
        {
            "patient_id": patient_id,
            "view": view,
            "tapers": tapers,
            "denied": denied,
            "can_prescribe": actor.role is Role.PSYCHIATRIST,
            "formulary": sorted(form.items.values(), key=lambda i: i.ingredient),
            "frequencies": sorted(rules.load_check_rules().frequencies),
            "error": error,
            "errors": {f.field: f.message for f in (error.fields if error else [])},
            "findings": findings or [],
            "rx_findings": rx_findings,
            "draft": draft or {},
        },
        status_code=status_code,
    )


@router.get("/patients/{patient_id}/medications")
def medications_page(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser = CLINICIANS,
) -> Response:
    return _page(request, session, web_user, clock, patient_id)


@router.post("/patients/{patient_id}/medications/prescriptions")
def prescribe_submit(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    web_user: WebUser = CLINICIANS,
) -> Response:
    overrides = {
        k.removeprefix("override_"): _t(form, k) for k in form if k.startswith("override_") and _t(form, k)
    }
    bad: list[FieldError] = []
    data = common.PrescriptionIn(
        patient_id=patient_id,
        medication=_t(form, "medication"),
        strength=_t(form, "strength"),
        form=_t(form, "form") or None,
        sig=common.SigIn(
            _num(form, "dose", errors=bad),
            _t(form, "unit") or "mg",
            _t(form, "route") or "oral",
            _t(form, "frequency"),
        ),
        quantity=_num(form, "quantity", errors=bad),
        refills=_int(form, "refills", bad),
        days_supply=_int(form, "days_supply", bad),
        pharmacy=_t(form, "pharmacy") or None,
        override_reasons=overrides,
        modality=_t(form, "modality") or "audio_video",
        in_person_evaluated_on=_date(form, "in_person_evaluated_on"),
        pdmp_unavailable=_t(form, "pdmp_unavailable") == "on",
        pdmp_reviewed_at=clock.now() if _t(form, "pdmp_reviewed") == "on" else None,
    )
    draft = {k: _t(form, k) for k in form}
    try:
        if bad:
            raise InvalidInput("Please check the marked fields.", fields=bad)
        prescribing.create_prescription(session, web_user.actor, data, clock=clock)
    except common.FindingsError as exc:
        return _page(
            request,
            session,
            web_user,
            clock,
            patient_id,
            error=exc,
            findings=list(exc.findings),
            draft=draft,
            status_code=exc.status,
        )
    except DomainError as exc:
        return _page(
            request, session, web_user, clock, patient_id, error=exc, draft=draft, status_code=exc.status
        )
    return _see_other(f"/patients/{patient_id}/medications")


def _rx_action(
    request: Request, session: DbSession, web_user: WebUser, clock: ClockDep, rx_id: uuid.UUID, fn: Any
) -> Response:
    rx = common.load_rx(session, rx_id)
    try:
        fn()
    except DomainError as exc:
        findings = list(exc.findings) if isinstance(exc, common.FindingsError) else None
        return _page(
            request,
            session,
            web_user,
            clock,
            rx.patient_id,
            error=exc,
            findings=findings,
            status_code=exc.status,
        )
    return _see_other(f"/patients/{rx.patient_id}/medications")


@router.post("/prescriptions/{rx_id}/sign")
def sign_submit(
    request: Request, rx_id: uuid.UUID, session: DbSession, clock: ClockDep, web_user: WebUser = CLINICIANS
) -> Response:
    return _rx_action(
        request,
        session,
        web_user,
        clock,
        rx_id,
        lambda: prescribing.sign_prescription(session, web_user.actor, rx_id, clock=clock),
    )


@router.post("/prescriptions/{rx_id}/stop")
def stop_submit(
    request: Request,
    rx_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    web_user: WebUser = CLINICIANS,
) -> Response:
    return _rx_action(
        request,
        session,
        web_user,
        clock,
        rx_id,
        lambda: prescribing.stop_prescription(
            session, web_user.actor, rx_id, reason=_t(form, "reason"), clock=clock
        ),
    )


@router.post("/prescriptions/{rx_id}/taper")
def taper_submit(
    request: Request,
    rx_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    web_user: WebUser = CLINICIANS,
) -> Response:
    steps = []
    bad: list[FieldError] = []
    for i in range(8):
        if _t(form, f"dose_{i}") and _t(form, f"days_{i}"):
            steps.append(
                rules.TaperStep(
                    _num(form, f"dose_{i}", errors=bad),
                    _t(form, f"unit_{i}") or "mg",
                    _int(form, f"days_{i}", bad),
                )
            )

    def create() -> Any:
        if bad:
            raise InvalidInput("Please check the marked fields.", fields=bad)
        return tapering.create_taper(
            session, web_user.actor, rx_id, steps, start=_date(form, "start_date"), clock=clock
        )

    return _rx_action(request, session, web_user, clock, rx_id, create)


@router.post("/patients/{patient_id}/medications/reconcile")
def reconcile_submit(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    web_user: WebUser = CLINICIANS,
) -> Response:
    items = []
    bad: list[FieldError] = []
    for key in form:
        if key.startswith("action_") and _t(form, key):
            kind, _, ident = key.removeprefix("action_").partition("_")
            dose_field = f"dose_{kind}_{ident}"
            new_dose = None
            if kind == "prescription" and _t(form, dose_field):
                new_dose = _num(form, dose_field, errors=bad)
            try:
                items.append(
                    facts.ReconcileItem(
                        kind,
                        uuid.UUID(ident),
                        _t(form, key),
                        _t(form, f"note_{kind}_{ident}") or None,
                        (_t(form, dose_field) or None) if kind == "outside" else None,
                        new_dose,
                    )
                )
            except ValueError:
                continue
    try:
        if bad:
            raise InvalidInput("Please check the marked fields.", fields=bad)
        facts.reconcile(session, web_user.actor, patient_id, items, clock=clock)
    except DomainError as exc:
        return _page(request, session, web_user, clock, patient_id, error=exc, status_code=exc.status)
    return _see_other(f"/patients/{patient_id}/medications")


@router.get("/prescriptions/{rx_id}/document")
def rx_document(
    rx_id: uuid.UUID, session: DbSession, clock: ClockDep, pdf: bool = False, web_user: WebUser = CLINICIANS
) -> Response:
    from sqlalchemy import select

    from careweave.medications.models import PharmacyOutbox

    prescribing.get_prescription(session, web_user.actor, rx_id, clock=clock, interface="web")
    row = session.scalars(
        select(PharmacyOutbox)
        .where(PharmacyOutbox.prescription_id == rx_id)
        .order_by(PharmacyOutbox.created_at.desc())
    ).first()
    if row is None:
        return Response("Not sent yet.", status_code=404, media_type="text/plain")
    if pdf:
        return Response(row.pdf or b"", media_type="application/pdf")
    return Response(row.html or "", media_type="text/html")


# ------------------------------------------------------------------ refill queue (prescriber)


@router.get("/refills")
def refill_queue_page(request: Request, session: DbSession, web_user: WebUser = PRESCRIBERS) -> Response:
    rows = refills.refill_queue(session, web_user.actor)
    return render(request, "medications/refills.html", {"rows": rows})


@router.post("/refills/{request_id}/decision")
def refill_decision(
    request_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    web_user: WebUser = PRESCRIBERS,
) -> Response:
    refills.decide_refill(
        session,
        web_user.actor,
        request_id,
        approve=_t(form, "approve") == "yes",
        note=_t(form, "note") or None,
        clock=clock,
    )
    return _see_other("/refills")


# ------------------------------------------------------------------ the patient


@router.get("/my/medications")
def my_medications(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    requested: bool = False,
    web_user: WebUser = PATIENT,
) -> Response:
    actor = web_user.actor
    assert actor.patient_id is not None
    view = facts.medication_list(session, actor, actor.patient_id, clock=clock)
    tapers = {
        t.prescription.id: t for t in tapering.tapers_for(session, actor, actor.patient_id, clock=clock)
    }
    pending = {
        r.prescription_id
        for r in refills.refill_requests_for_patient(session, actor, actor.patient_id)
        if r.status == "pending"
    }
    return render(
        request,
        "medications/mine.html",
        {"view": view, "tapers": tapers, "pending": pending, "requested": requested},
    )


@router.post("/my/medications/{rx_id}/refill")
def my_refill(
    rx_id: uuid.UUID, session: DbSession, clock: ClockDep, form: PostedForm, web_user: WebUser = PATIENT
) -> Response:
    refills.request_refill(session, web_user.actor, rx_id, note=_t(form, "note") or None, clock=clock)
    return _see_other("/my/medications?requested=true")


# ------------------------------------------------------------------ admin formulary


@router.get("/admin/formulary")
def admin_formulary(
    request: Request, session: DbSession, web_user: WebUser = ADMIN, error: str | None = None
) -> Response:
    items = formulary_service.list_formulary(session, web_user.actor)
    return render(
        request, "medications/formulary.html", {"items": items, "classes": rules.CLASS_LABELS, "error": None}
    )


@router.post("/admin/formulary")
def admin_formulary_add(
    request: Request, session: DbSession, clock: ClockDep, form: PostedForm, web_user: WebUser = ADMIN
) -> Response:
    data: dict[str, Any] = {
        "code": _t(form, "code"),
        "ingredient": _t(form, "ingredient"),
        "rxcui": _t(form, "rxcui") or None,
        "rxcui_status": _t(form, "rxcui_status") or "unverified",
        "class": _t(form, "class"),
        "schedule": _t(form, "schedule") or None,
        "tags": [t.strip() for t in _t(form, "tags").split(",") if t.strip()],
        "sources": [_t(form, "source")] if _t(form, "source") else [],
    }
    try:
        formulary_service.add_formulary_entry(session, web_user.actor, data, clock=clock)
    except DomainError as exc:
        items = formulary_service.list_formulary(session, web_user.actor)
        return render(
            request,
            "medications/formulary.html",
            {"items": items, "classes": rules.CLASS_LABELS, "error": exc},
            status_code=exc.status,
        )
    return _see_other("/admin/formulary")
