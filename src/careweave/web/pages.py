"""Pages. Each route parses a form or path, calls one service, renders a template."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from careweave import policy
from careweave.audit import service as audit
from careweave.core import geo
from careweave.core.actor import Role
from careweave.core.errors import DomainError, FieldError, InvalidInput, NotFound, TooManyAttempts
from careweave.deps import ClockDep, DbSession, MailerDep, SettingsDep, client_ip, get_settings, request_id
from careweave.directory import licensing
from careweave.identity import service as identity
from careweave.intake import service as intake_service
from careweave.patients import service as patients
from careweave.patients.schemas import PatientProfileForm
from careweave.screening import service as screening
from careweave.triage import service as triage
from careweave.web.auth import (
    HOME,
    CurrentUser,
    OptionalSession,
    PostedForm,
    WebUser,
    check_csrf,
    require_role,
)
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
CLINICIANS = (Role.THERAPIST, Role.PSYCHIATRIST, Role.CARE_MANAGER)
NOTICES = {
    "logged_out": "You have logged out.",
    "reset_sent": "If an account exists for that address, we have e-mailed a link to reset its password.",
    "password_changed": "Your password has been changed. Log in with the new one.",
    "mfa_on": "Two-step verification is on.",
    "mfa_off": "Two-step verification is off.",
    "profile_saved": "Your details have been saved.",
}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(value: str | None) -> str | None:
    """Only same-site paths: never redirect to another host after log-in."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    parts = urlsplit(value)
    return None if parts.scheme or parts.netloc else value


# ------------------------------------------------------------------ public


@router.get("/")
def landing(request: Request, resolved: OptionalSession) -> Response:
    if resolved is not None and resolved.fully_authenticated:
        return _see_other(HOME[Role(resolved.user.role)])
    return render(request, "landing.html")


@router.get("/login")
def login_form(request: Request, notice: str | None = None, next: str | None = None) -> Response:
    return render(request, "login.html", {"notice": NOTICES.get(notice or ""), "next": _safe_next(next)})


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    ip, rid = client_ip(request), request_id(request)
    try:
        user = identity.authenticate_password(
            session,
            email=email,
            password=password,
            ip=ip,
            request_id=rid,
            settings=settings,
            clock=clock,
        )
    except DomainError as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 401
        # The failure is committed (audit, counters) even though this answer is an error.
        return render(
            request,
            "login.html",
            {"error": exc.message, "email": email, "next": _safe_next(next)},
            status_code=status,
        )
    needs_mfa = identity.mfa_required_for(user, settings)
    raw = identity.start_web_session(
        session,
        user,
        mfa_passed=not (needs_mfa and user.mfa_enabled),
        ip=ip,
        settings=settings,
        clock=clock,
    )
    request.state.new_session_cookie = raw
    if needs_mfa and user.mfa_enabled:
        return _see_other("/login/mfa")
    identity.record_login(session, user, ip=ip, request_id=rid, via="web", clock=clock)
    if needs_mfa:
        return _see_other("/mfa/setup")
    return _see_other(_safe_next(next) or HOME[Role(user.role)])


@router.get("/login/mfa")
def mfa_form(request: Request, resolved: OptionalSession) -> Response:
    if resolved is None:
        return _see_other("/login")
    if resolved.fully_authenticated:
        return _see_other(HOME[Role(resolved.user.role)])
    return render(request, "login_mfa.html")


@router.post("/login/mfa")
def mfa_submit(
    request: Request,
    resolved: OptionalSession,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    code: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    if resolved is None:
        return _see_other("/login")
    ip, rid = client_ip(request), request_id(request)
    try:
        identity.verify_second_factor(
            session, resolved.user, code=code, ip=ip, request_id=rid, settings=settings, clock=clock
        )
    except DomainError as exc:
        return render(
            request,
            "login_mfa.html",
            {"error": exc.message},
            status_code=429 if isinstance(exc, TooManyAttempts) else 401,
        )
    identity.pass_mfa(session, resolved.web_session)
    identity.record_login(session, resolved.user, ip=ip, request_id=rid, via="web", clock=clock)
    return _see_other(HOME[Role(resolved.user.role)])


@router.post("/logout")
def logout(request: Request, resolved: OptionalSession, session: DbSession, clock: ClockDep) -> Response:
    if resolved is not None:
        identity.end_web_session(
            session,
            resolved.web_session,
            ip=client_ip(request),
            request_id=request_id(request),
            clock=clock,
        )
    request.state.new_session_cookie = ""
    return _see_other("/login?notice=logged_out")


@router.get("/signup")
def signup_form(request: Request, settings: SettingsDep) -> Response:
    if not settings.patient_self_signup:
        raise NotFound("Nothing is here.")
    return render(request, "signup.html", {"form": {}, "fields": {}})


@router.post("/signup")
def signup(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    full_name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if not settings.patient_self_signup:
        raise NotFound("Nothing is here.")
    ip = client_ip(request)
    try:
        user = identity.sign_up_patient(
            session,
            email=email,
            password=password,
            full_name=full_name,
            ip=ip,
            request_id=request_id(request),
            settings=settings,
            clock=clock,
        )
    except DomainError as exc:
        return render(
            request,
            "signup.html",
            {
                "form": {"full_name": full_name, "email": email},
                "error": exc.message,
                "fields": {f.field: f.message for f in exc.fields},
            },
            status_code=exc.status,
        )
    request.state.new_session_cookie = identity.start_web_session(
        session, user, mfa_passed=True, ip=ip, settings=settings, clock=clock
    )
    identity.record_login(session, user, ip=ip, request_id=request_id(request), via="signup", clock=clock)
    return _see_other("/intake")


@router.get("/password/forgot")
def forgot_form(request: Request) -> Response:
    return render(request, "password_forgot.html")


@router.post("/password/forgot")
def forgot_submit(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    mailer: MailerDep,
    email: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    identity.request_password_reset(
        session,
        email=email,
        ip=client_ip(request),
        request_id=request_id(request),
        settings=settings,
        clock=clock,
        mailer=mailer,
    )
    return _see_other("/login?notice=reset_sent")


@router.get("/password/reset")
def reset_form(request: Request, token: Annotated[str, Query(max_length=200)] = "") -> Response:
    return render(request, "password_reset.html", {"token": token})


@router.post("/password/reset")
def reset_submit(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    token: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password_again: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if password != password_again:
        return render(
            request,
            "password_reset.html",
            {"token": token, "error": "The two passwords differ."},
            status_code=422,
        )
    try:
        identity.reset_password(
            session,
            token=token,
            new_password=password,
            ip=client_ip(request),
            request_id=request_id(request),
            settings=settings,
            clock=clock,
        )
    except DomainError as exc:
        fields = {f.field: f.message for f in exc.fields}
        return render(
            request,
            "password_reset.html",
            {"token": token, "error": exc.message, "fields": fields},
            status_code=exc.status,
        )
    request.state.new_session_cookie = ""
    return _see_other("/login?notice=password_changed")


# ------------------------------------------------------------------ MFA and account


@router.get("/mfa/setup")
def mfa_setup(
    request: Request,
    web_user: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
) -> Response:
    user = web_user.user
    if user.mfa_enabled:
        return _see_other("/account")
    pending = identity.pending_enrolment(user, settings=settings) or identity.begin_mfa_enrolment(
        session, web_user.actor, user, settings=settings, clock=clock
    )
    return render(
        request,
        "mfa_setup.html",
        {
            "pending": pending,
            "required": identity.mfa_required_for(user, settings),
        },
    )


@router.post("/mfa/setup")
def mfa_setup_confirm(
    request: Request,
    web_user: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    code: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    try:
        codes = identity.confirm_mfa_enrolment(
            session, web_user.actor, web_user.user, code=code, settings=settings, clock=clock
        )
    except DomainError as exc:
        if isinstance(exc, InvalidInput):
            # keep the failed-attempt audit row; show the form again
            pending = identity.pending_enrolment(web_user.user, settings=settings)
            return render(
                request,
                "mfa_setup.html",
                {
                    "pending": pending,
                    "error": exc.message,
                    "required": identity.mfa_required_for(web_user.user, settings),
                },
                status_code=422,
            )
        raise
    identity.pass_mfa(session, web_user.web_session)
    return render(request, "recovery_codes.html", {"codes": codes, "home": HOME[web_user.role]})


@router.get("/account")
def account(
    request: Request,
    web_user: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
    notice: str | None = None,
) -> Response:
    return render(
        request,
        "account.html",
        {
            "remaining": identity.remaining_recovery_codes(session, web_user.user),
            "can_disable": not (settings.mfa_required and web_user.role is not Role.PATIENT),
            "notice": NOTICES.get(notice or ""),
        },
    )


@router.post("/account/recovery-codes")
def new_recovery_codes(
    request: Request, web_user: CurrentUser, session: DbSession, clock: ClockDep
) -> Response:
    codes = identity.regenerate_recovery_codes(session, web_user.actor, web_user.user, clock=clock)
    return render(request, "recovery_codes.html", {"codes": codes, "home": "/account"})


@router.post("/account/mfa/disable")
def disable_mfa(
    request: Request,
    web_user: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
) -> Response:
    identity.disable_mfa(session, web_user.actor, web_user.user, settings=settings, clock=clock)
    return _see_other("/account?notice=mfa_off")


# ------------------------------------------------------------------ role homes


@router.get("/patient")
def patient_home(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    notice: Annotated[str | None, Query(max_length=40)] = None,
    web_user: WebUser = require_role(Role.PATIENT),
) -> Response:
    assert web_user.actor.patient_id is not None
    patient = patients.get_patient(session, web_user.actor, web_user.actor.patient_id, clock=clock)
    from careweave.outcomes import service as outcomes  # check-ins due (issue #8)

    due = outcomes.due_for_patient(session, patient.id, on=clock.now().date())
    return render(
        request, "home_patient.html", {"patient": patient, "notice": NOTICES.get(notice or ""), "due": due}
    )


@router.get("/patient/access-log")
def patient_access_log(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser = require_role(Role.PATIENT),
) -> Response:
    assert web_user.actor.patient_id is not None
    events = patients.access_log(session, web_user.actor, web_user.actor.patient_id, clock=clock)
    names = identity.user_names(session, {e.actor_user_id for e in events if e.actor_user_id})
    return render(request, "access_log.html", {"events": events, "names": names})


@router.get("/patient/profile")
def patient_profile(
    request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = require_role(Role.PATIENT)
) -> Response:
    assert web_user.actor.patient_id is not None
    patient = patients.get_patient(session, web_user.actor, web_user.actor.patient_id, clock=clock)
    return render(
        request,
        "patient_profile.html",
        {
            "patient": patient,
            "form": {},
            "fields": {},
            "states": geo.US_JURISDICTIONS,
            "zones": geo.US_TIMEZONES,
        },
    )


@router.post("/patient/profile")
def patient_profile_save(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    preferred_name: Annotated[str, Form(max_length=100)] = "",
    pronouns: Annotated[str, Form(max_length=40)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
    state: Annotated[str, Form(max_length=2)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    web_user: WebUser = require_role(Role.PATIENT),
) -> Response:
    assert web_user.actor.patient_id is not None
    form = {
        "preferred_name": preferred_name,
        "pronouns": pronouns,
        "birth_date": birth_date,
        "state": state,
        "timezone": timezone,
        "phone": phone,
    }
    try:
        changes = PatientProfileForm.model_validate(form).changes()
        patients.update_patient(session, web_user.actor, web_user.actor.patient_id, changes, clock=clock)
    except (ValidationError, DomainError) as exc:
        fields = (
            {str(e["loc"][0]): e["msg"] for e in exc.errors()}
            if isinstance(exc, ValidationError)
            else {f.field: f.message for f in exc.fields}
        )
        patient = patients.get_patient(session, web_user.actor, web_user.actor.patient_id, clock=clock)
        return render(
            request,
            "patient_profile.html",
            {
                "patient": patient,
                "form": form,
                "fields": fields,
                "error": "Please correct the marked fields.",
                "states": geo.US_JURISDICTIONS,
                "zones": geo.US_TIMEZONES,
            },
            status_code=422,
        )
    return _see_other("/patient?notice=profile_saved")


@router.get("/clinician")
def clinician_home(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    web_user: WebUser = require_role(*CLINICIANS),
) -> Response:
    from careweave.careteam import referrals

    rows, total = patients.list_patients(session, web_user.actor, clock=clock, query=q or None)
    if request.headers.get("hx-request"):
        return render(request, "_patient_rows.html", {"patients": rows, "total": total, "q": q or ""})
    days = get_settings(request).referral_overdue_days
    overdue = referrals.overdue_for(session, web_user.actor, clock, overdue_days=days)
    from careweave.web.lab_pages import home_panels

    return render(
        request,
        "home_clinician.html",
        {
            "patients": rows,
            "total": total,
            "q": q or "",
            "overdue": overdue,
            "overdue_days": days,
            **home_panels(session, web_user.actor, clock),
        },
    )


@router.get("/patients/{patient_id}")
def patient_detail(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser = require_role(*CLINICIANS, Role.ADMIN),
) -> Response:
    from careweave.careteam import service as careteam
    from careweave.consent import service as consent

    patient = patients.get_patient(session, web_user.actor, patient_id, clock=clock)
    ctx: dict[str, object] = {
        "patient": patient,
        "clinical": web_user.role in CLINICIANS,
        "team": careteam.team(session, web_user.actor, patient_id, clock=clock),
        "withheld": {},
    }
    if web_user.role in CLINICIANS:  # clinical data: clinicians, as the patient's consent allows
        withheld: dict[str, str] = {}

        def gated(name: str, read):  # type: ignore[no-untyped-def]
            try:
                return read()
            except policy.ConsentRequired as exc:  # a team member the patient has not shared this with
                withheld[name] = exc.message
                return None

        ctx |= {
            "intake": gated(
                "intake", lambda: intake_service.get_intake(session, web_user.actor, patient_id, clock=clock)
            ),
            "screenings": gated(
                "screenings",
                lambda: list(reversed(screening.history(session, web_user.actor, patient_id, clock=clock))),
            ),
            "pathway": gated(
                "pathway", lambda: triage.care_pathway(session, web_user.actor, patient_id, clock=clock)
            ),
            "can_override": web_user.role in (Role.THERAPIST, Role.PSYCHIATRIST),
            "withheld": withheld,
            "pending": [
                r
                for r in consent.pending_requests(session, web_user.actor, patient_id)
                if r.for_user_id == web_user.user.id
            ],
            "notice": request.query_params.get("notice"),
        }
    return render(request, "patient_detail.html", ctx)


@router.post("/patients/{patient_id}/consent-request")
def ask_for_consent(
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    web_user: WebUser = require_role(*CLINICIANS),
) -> Response:
    """A care-team member asks the patient to share categories with them (the patient answers in the portal)."""
    from careweave.consent import service as consent

    categories = [str(c) for c in form.getlist("categories")]
    consent.request_consent(
        session,
        web_user.actor,
        patient_id,
        for_user_id=web_user.user.id,
        categories=categories,
        clock=clock,
        reason=str(form.get("reason") or "")[:500] or None,
    )
    return RedirectResponse(f"/patients/{patient_id}?notice=asked", status_code=303)


@router.get("/patients/{patient_id}/break-glass")
def break_glass_form(
    request: Request, patient_id: uuid.UUID, web_user: WebUser = require_role(*CLINICIANS)
) -> Response:
    return render(request, "sharing/break_glass.html", {"patient_id": patient_id, "error": None})


@router.post("/patients/{patient_id}/break-glass")
def break_glass_submit(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
    web_user: WebUser = require_role(*CLINICIANS),
) -> Response:
    from careweave.careteam import service as careteam

    try:
        careteam.break_glass(session, web_user.actor, patient_id, reason=reason, clock=clock)
    except InvalidInput as exc:
        return render(
            request,
            "sharing/break_glass.html",
            {"patient_id": patient_id, "error": exc.fields[0].message},
            status_code=422,
        )
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


@router.get("/admin/break-glass")
def break_glass_review(
    request: Request, session: DbSession, all: bool = False, web_user: WebUser = require_role(Role.ADMIN)
) -> Response:
    from careweave.careteam import service as careteam

    rows = careteam.review_list(session, web_user.actor, include_reviewed=all)
    names = {uid: pair[0] for uid, pair in identity.user_names(session, {r.user_id for r in rows}).items()}
    return render(request, "sharing/break_glass_review.html", {"rows": rows, "names": names, "all": all})


@router.post("/admin/break-glass/{access_id}/review")
def break_glass_mark_reviewed(
    access_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    note: Annotated[str, Form(max_length=2000)] = "",
    web_user: WebUser = require_role(Role.ADMIN),
) -> Response:
    from careweave.careteam import service as careteam

    careteam.review(session, web_user.actor, access_id, note=note, clock=clock)
    return RedirectResponse("/admin/break-glass", status_code=303)


# ------------------------------------------------------------------ admin


@router.get("/admin")
def admin_home(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    role: Annotated[str | None, Query(max_length=20)] = None,
    web_user: WebUser = require_role(Role.ADMIN),
) -> Response:
    role = role if role in {r.value for r in Role} else None
    users = identity.list_users(session, web_user.actor, clock=clock, role=role, query=q or None)
    warnings = licensing.expiring_licences(session, web_user.actor, clock=clock, limit=20)
    return render(
        request,
        "admin_home.html",
        {"users": users, "roles": list(Role), "q": q or "", "role": role or "", "licence_warnings": warnings},
    )


@router.post("/admin/users")
def admin_create_user(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    mailer: MailerDep,
    email: Annotated[str, Form(max_length=254)] = "",
    full_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    web_user: WebUser = require_role(Role.ADMIN),
) -> Response:
    try:
        if role not in {r.value for r in Role}:
            raise InvalidInput("Choose a role.")
        if password:
            identity.create_user(
                session,
                web_user.actor,
                email=email,
                role=Role(role),
                password=password,
                full_name=full_name,
                settings=settings,
                clock=clock,
            )
        else:  # no password: e-mail an invitation to choose one
            identity.invite_user(
                session,
                web_user.actor,
                email=email,
                role=Role(role),
                full_name=full_name,
                settings=settings,
                clock=clock,
                mailer=mailer,
            )
    except DomainError as exc:
        users = identity.list_users(session, web_user.actor, clock=clock)
        return render(
            request,
            "admin_home.html",
            {
                "users": users,
                "roles": list(Role),
                "q": "",
                "role": "",
                "error": exc.message,
                "fields": {f.field: f.message for f in exc.fields},
                "form": {"email": email, "full_name": full_name, "role": role},
            },
            status_code=exc.status,
        )
    return _see_other("/admin")


@router.post("/admin/users/{user_id}/mfa-reset")
def admin_reset_mfa(
    user_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser = require_role(Role.ADMIN),
) -> Response:
    identity.reset_mfa_by_admin(session, web_user.actor, user_id=user_id, clock=clock)
    return _see_other("/admin")


@router.post("/admin/users/{user_id}/active")
def admin_set_active(
    user_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    active: Annotated[bool, Form()] = False,
    web_user: WebUser = require_role(Role.ADMIN),
) -> Response:
    identity.set_active(session, web_user.actor, user_id=user_id, active=active, clock=clock)
    return _see_other("/admin")


def _api_clients_page(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser,
    *,
    created: identity.NewApiClient | None = None,
    error: DomainError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    clients = identity.list_api_clients(session, web_user.actor, clock=clock)
    staff = [
        u
        for u in identity.list_users(session, web_user.actor, clock=clock)
        if u.is_active and Role(u.role) in identity.API_CLIENT_ROLES
    ]
    return render(
        request,
        "admin_api_clients.html",
        {
            "clients": clients,
            "staff": staff,
            "created": created,
            "error": error.message if error else None,
            "fields": {f.field: f.message for f in error.fields} if error else {},
            "form": form or {},
        },
        status_code=error.status if error else 200,
    )


@router.get("/admin/api-clients")
def admin_api_clients(
    request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = require_role(Role.ADMIN)
) -> Response:
    return _api_clients_page(request, session, clock, web_user)


@router.post("/admin/api-clients")
def admin_create_api_client(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=100)] = "",
    user_id: Annotated[str, Form(max_length=40)] = "",
    web_user: WebUser = require_role(Role.ADMIN),
) -> Response:
    form = {"name": name, "user_id": user_id}
    try:
        try:
            target = uuid.UUID(user_id)
        except ValueError:
            raise InvalidInput(
                "The API client is not valid.", fields=[FieldError("user_id", "choose an account")]
            ) from None
        created = identity.create_api_client(session, web_user.actor, user_id=target, name=name, clock=clock)
    except DomainError as exc:
        return _api_clients_page(request, session, clock, web_user, error=exc, form=form)
    # The secret is in this response only (not a redirect: it must not be shown again).
    return _api_clients_page(request, session, clock, web_user, created=created)


@router.post("/admin/api-clients/{client_pk}/revoke")
def admin_revoke_api_client(
    client_pk: uuid.UUID, session: DbSession, clock: ClockDep, web_user: WebUser = require_role(Role.ADMIN)
) -> Response:
    identity.revoke_api_client(session, web_user.actor, client_pk=client_pk, clock=clock)
    return _see_other("/admin/api-clients")


@router.get("/admin/audit")
def admin_audit(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    action: Annotated[str | None, Query(max_length=80)] = None,
    outcome: Annotated[str | None, Query(max_length=10)] = None,
    patient: Annotated[str | None, Query(max_length=40)] = None,
    actor: Annotated[str | None, Query(max_length=40)] = None,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    web_user: WebUser = require_role(Role.ADMIN),
) -> Response:
    errors: dict[str, str] = {}

    def _uuid(value: str | None, name: str) -> uuid.UUID | None:
        if not value:
            return None
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            errors[name] = "not a valid id"
            return None

    filters = audit.AuditFilter(
        action_prefix=action or None,
        outcome=outcome if outcome in ("success", "failure", "denied") else None,
        patient_id=_uuid(patient, "patient"),
        actor_user_id=_uuid(actor, "actor"),
        since=clock.now() - timedelta(days=days),
    )
    per_page = 50
    rows, total = audit.search(
        session, web_user.actor, filters, clock=clock, limit=per_page, offset=(page - 1) * per_page
    )
    names = identity.user_names(session, {e.actor_user_id for e in rows if e.actor_user_id})
    ctx = {
        "events": rows,
        "total": total,
        "names": names,
        "errors": errors,
        "page": page,
        "pages": max(1, -(-total // per_page)),
        "form": {
            "action": action or "",
            "outcome": outcome or "",
            "patient": patient or "",
            "actor": actor or "",
            "days": days,
        },
    }
    template = "_audit_rows.html" if request.headers.get("hx-request") else "admin_audit.html"
    return render(request, template, ctx, status_code=422 if errors else 200)


@router.post("/admin/audit/verify")
def admin_audit_verify(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser = require_role(Role.ADMIN),
) -> Response:
    result = audit.verify_as(session, web_user.actor, clock=clock)
    return render(request, "audit_verify.html", {"result": result})
