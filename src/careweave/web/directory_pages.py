"""Provider directory pages. Administrators (under /admin/directory): search providers, create and edit
them, add licences, compact privileges and DEA registrations, manage plans, import a CSV file and see the
licences about to expire. Clinicians (/provider/profile): edit the descriptive fields of their own profile.

Forms are parsed here, checked for shape with the JSON API's request schemas, and handed to the directory
service, which decides meaning, policy and audit. A refused form is shown again with a message per field
(422, or 409 for a duplicate plan)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from careweave.core import geo
from careweave.core.actor import CLINICAL_ROLES, Role
from careweave.core.clock import Clock
from careweave.core.errors import DomainError, FieldError, InvalidInput
from careweave.deps import ClockDep, DbSession, SettingsDep
from careweave.directory import csv_import, licensing, rules, service
from careweave.directory.schemas import (
    CompactPrivilegeCreate,
    DeaRegistrationCreate,
    LicenseCreate,
    PlanCreate,
    ProviderCreate,
    ProviderWrite,
)
from careweave.identity import service as identity
from careweave.identity.models import User
from careweave.web.auth import PostedForm, WebUser, check_csrf, require_role
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
ADMIN = require_role(Role.ADMIN)
CLINICIAN = require_role(*CLINICAL_ROLES)
BASE = "/admin/directory"
PAGE_SIZE = 50

OFFERS = (("therapy", "Therapy"), ("medication_management", "Medication management"))
GENDERS = (("female", "Female"), ("male", "Male"), ("nonbinary", "Nonbinary"))
AGE_GROUPS = (
    ("children", "Children"),
    ("adolescents", "Adolescents"),
    ("adults", "Adults"),
    ("older_adults", "Older adults"),
)
STATUSES = ("active", "inactive", "suspended", "expired")
SCHEDULES = (("2", "II"), ("2N", "IIN"), ("3", "III"), ("3N", "IIIN"), ("4", "IV"), ("5", "V"))
TEXT_LISTS = ("conditions", "modalities", "languages")
CHOICE_LISTS = ("offers", "age_groups")
NOTICES = {
    "created": "The provider has been added.",
    "saved": "Saved.",
    "license": "The licence has been added.",
    "compact": "The compact privilege has been added.",
    "dea": "The DEA registration has been added.",
    "plan": "The plan has been added.",
}
# Fields a form may send, by form.
ADMIN_FIELDS = (
    "name",
    "credential",
    "npi",
    "taxonomy_code",
    "bio",
    "gender",
    "offers",
    "conditions",
    "modalities",
    "age_groups",
    "languages",
    "timezone",
    "accepting_new_patients",
    "capacity",
    "self_pay",
    "self_pay_rate_cents",
    "networks",
    "user_id",
)
SELF_FIELDS = tuple(f for f in ADMIN_FIELDS if f in service.SELF_EDITABLE)
# Columns that cannot hold NULL: a blank form value leaves them as they are.
NOT_NULL = frozenset(
    {"name", "credential", "npi", "timezone", "accepting_new_patients", "capacity", "self_pay"}
)
# Form field names that differ from the API's.
FORM_NAME = {"self_pay_rate_cents": "self_pay_rate"}
_MONEY = re.compile(r"^\$?(\d{1,7})(?:\.(\d{1,2}))?$")
_INDEX = re.compile(r"\[\d+\]$")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _field_messages(errors: Iterable[FieldError]) -> dict[str, str]:
    """Field errors keyed by form field ("conditions[2]" → "conditions"), first message wins."""
    out: dict[str, str] = {}
    for err in errors:
        name = _INDEX.sub("", err.field)
        out.setdefault(FORM_NAME.get(name, name), err.message)
    return out


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,;\n]", text) if part.strip()]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


# ---------------------------------------------------------------- provider forms


def _credentials() -> list[tuple[str, str]]:
    return [(spec.code, spec.name) for spec in rules.load_rule_data().credentials.values()]


def _form_values(form: FormData) -> dict[str, Any]:
    """What the browser sent, in the shape the templates show (text, lists of strings, booleans)."""
    values: dict[str, Any] = {
        name: _text(form, name)
        for name in ("name", "credential", "npi", "taxonomy_code", "bio", "gender", "timezone", "capacity")
    }
    values |= {name: _text(form, name) for name in (*TEXT_LISTS, "self_pay_rate", "user_id")}
    values |= {name: _texts(form, name) for name in (*CHOICE_LISTS, "networks")}
    values |= {name: form.get(name) == "yes" for name in ("accepting_new_patients", "self_pay")}
    return values


def _view_values(view: service.ProviderView) -> dict[str, Any]:
    p = view.provider
    cents = p.self_pay_rate_cents
    return {
        "name": p.name,
        "credential": p.credential,
        "npi": p.npi or "",
        "taxonomy_code": p.taxonomy_code or "",
        "bio": p.bio or "",
        "gender": p.gender or "",
        "timezone": p.timezone,
        "capacity": str(p.capacity),
        "conditions": ", ".join(view.conditions),
        "modalities": ", ".join(p.modalities or []),
        "languages": ", ".join(view.languages),
        "self_pay_rate": "" if cents is None else f"{cents // 100}.{cents % 100:02d}",
        "user_id": str(p.user_id) if p.user_id else "",
        "offers": view.offers,
        "age_groups": list(p.age_groups or []),
        "networks": [str(n) for n in view.networks],
        "accepting_new_patients": p.accepting_new_patients,
        "self_pay": p.self_pay,
    }


def _current(view: service.ProviderView) -> dict[str, Any]:
    p = view.provider
    return {
        "name": p.name,
        "credential": p.credential,
        "npi": p.npi,
        "taxonomy_code": p.taxonomy_code,
        "bio": p.bio,
        "gender": p.gender,
        "offers": view.offers,
        "conditions": view.conditions,
        "modalities": list(p.modalities or []),
        "age_groups": list(p.age_groups or []),
        "languages": view.languages,
        "timezone": p.timezone,
        "accepting_new_patients": p.accepting_new_patients,
        "capacity": p.capacity,
        "self_pay": p.self_pay,
        "self_pay_rate_cents": p.self_pay_rate_cents,
        "networks": list(view.networks),
        "user_id": p.user_id,
    }


def _provider_data(values: dict[str, Any], names: Iterable[str]) -> tuple[dict[str, Any], list[FieldError]]:
    """Form values → the API's provider fields (only ``names``), and problems of cell syntax."""
    names = tuple(names)
    problems = [
        FieldError(name, "required") for name in ("name", "credential") if name in names and not values[name]
    ]
    data: dict[str, Any] = {}
    for name in names:
        if name in TEXT_LISTS:
            data[name] = _split(values[name])
        elif name in (*CHOICE_LISTS, "accepting_new_patients", "self_pay"):
            data[name] = values[name]
        elif name == "networks":
            try:
                data[name] = [uuid.UUID(v) for v in values[name]]
            except ValueError:
                problems.append(FieldError(name, "choose plans from the list"))
        elif name == "user_id":
            try:
                data[name] = uuid.UUID(values[name]) if values[name] else None
            except ValueError:
                problems.append(FieldError(name, "choose an account from the list"))
        elif name == "capacity":
            raw = values[name]
            if raw.isascii() and raw.isdigit():
                data[name] = int(raw)
            elif raw:
                problems.append(FieldError(name, "a whole number, 0 or more"))
        elif name == "self_pay_rate_cents":
            raw = values["self_pay_rate"]
            money = _MONEY.match(raw)
            if money:
                data[name] = int(money[1]) * 100 + int((money[2] or "0").ljust(2, "0"))
            elif raw:
                problems.append(FieldError(name, "an amount in dollars such as 150 or 150.00"))
            else:
                data[name] = None
        else:
            value = values[name]
            data[name] = (value.upper() if name == "taxonomy_code" else value) or None
    data = {k: v for k, v in data.items() if not (v is None and k in NOT_NULL)}
    return data, problems


def _checked(model: type[ProviderWrite], data: dict[str, Any], problems: list[FieldError]) -> None:
    """The API schema's shape checks; raises InvalidInput with every problem found."""
    problems = problems + csv_import.storage_problems(data)
    try:
        model.model_validate(data)
    except ValidationError as exc:
        problems = problems + csv_import.shape_problems(exc)
    if problems:
        raise InvalidInput("Please correct the marked fields.", fields=problems)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return sorted({str(x).strip().lower() for x in a}) == sorted({str(x).strip().lower() for x in b})
    return bool(a == b)


def _changes(data: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not _same(v, current.get(k))}


def _clinicians(session: Session, web_user: WebUser, clock: Clock, linked: uuid.UUID | None) -> list[User]:
    """Clinician accounts a profile may be linked to (the clinic's active ones, and the linked one)."""
    users = identity.list_users(session, web_user.actor, clock=clock)
    return [
        u
        for u in users
        if Role(u.role) in CLINICAL_ROLES
        and (u.id == linked or (u.is_active and u.clinic_id == web_user.actor.clinic_id))
    ]


def _form_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    *,
    values: dict[str, Any],
    provider_id: uuid.UUID | None,
    fields: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    linked = uuid.UUID(values["user_id"]) if _is_uuid(values.get("user_id", "")) else None
    return render(
        request,
        "directory/provider_form.html",
        {
            "v": values,
            "provider_id": provider_id,
            "fields": fields or {},
            "error": error,
            "credentials": _credentials(),
            "plans": service.list_plans(session, web_user.actor),
            "clinicians": _clinicians(session, web_user, clock, linked),
            "offers": OFFERS,
            "genders": GENDERS,
            "age_groups": AGE_GROUPS,
            "zones": geo.US_TIMEZONES,
        },
        status_code=status_code,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- list and search


@router.get(BASE)
def directory_home(
    request: Request,
    session: DbSession,
    q: Annotated[str | None, Query(max_length=100)] = None,
    credential: Annotated[str | None, Query(max_length=20)] = None,
    state: Annotated[str | None, Query(max_length=2)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    web_user: WebUser = ADMIN,
) -> Response:
    rows, total = service.search_providers(
        session,
        web_user.actor,
        query=q or None,
        credential=credential or None,
        state=state or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "directory/index.html",
        {
            "providers": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "form": {"q": q or "", "credential": credential or "", "state": (state or "").upper()},
            "credentials": _credentials(),
            "states": geo.US_JURISDICTIONS,
        },
    )


# ---------------------------------------------------------------- create and edit


@router.get(f"{BASE}/providers/new")
def provider_new(
    request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = ADMIN
) -> Response:
    values = _form_values(FormData()) | {
        "timezone": "America/New_York",
        "accepting_new_patients": True,
        "self_pay": True,
        "capacity": "0",
    }
    return _form_page(request, session, web_user, clock, values=values, provider_id=None)


@router.post(f"{BASE}/providers")
def provider_create(
    request: Request, session: DbSession, clock: ClockDep, form: PostedForm, web_user: WebUser = ADMIN
) -> Response:
    values = _form_values(form)
    try:
        data, problems = _provider_data(values, ADMIN_FIELDS)
        _checked(ProviderCreate, data, problems)
        provider = service.create_provider(session, web_user.actor, data, clock=clock)
    except DomainError as exc:
        return _form_page(
            request,
            session,
            web_user,
            clock,
            values=values,
            provider_id=None,
            fields=_field_messages(exc.fields),
            error=exc.message,
            status_code=exc.status,
        )
    return _see_other(f"{BASE}/providers/{provider.id}?notice=created")


@router.get(f"{BASE}/providers/{{provider_id}}/edit")
def provider_edit(
    request: Request, provider_id: uuid.UUID, session: DbSession, clock: ClockDep, web_user: WebUser = ADMIN
) -> Response:
    view = service.get_provider(session, web_user.actor, provider_id)
    return _form_page(request, session, web_user, clock, values=_view_values(view), provider_id=provider_id)


@router.post(f"{BASE}/providers/{{provider_id}}")
def provider_update(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    form: PostedForm,
    web_user: WebUser = ADMIN,
) -> Response:
    view = service.get_provider(session, web_user.actor, provider_id)
    values = _form_values(form)
    try:
        data, problems = _provider_data(values, ADMIN_FIELDS)
        _checked(ProviderWrite, data, problems)
        changes = _changes(data, _current(view))
        if changes:
            service.update_provider(session, web_user.actor, provider_id, changes, clock=clock)
    except DomainError as exc:
        return _form_page(
            request,
            session,
            web_user,
            clock,
            values=values,
            provider_id=provider_id,
            fields=_field_messages(exc.fields),
            error=exc.message,
            status_code=exc.status,
        )
    return _see_other(f"{BASE}/providers/{provider_id}?notice=saved")


# ---------------------------------------------------------------- provider page, licences, compacts, DEA


def _provider_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    provider_id: uuid.UUID,
    *,
    notice: str | None = None,
    failed: str | None = None,
    form: dict[str, Any] | None = None,
    fields: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    view = service.get_provider(session, web_user.actor, provider_id)
    spec = rules.credential_spec(view.provider.credential)
    today = licensing.licence_today(clock)
    plans = {p.id: p for p in service.list_plans(session, web_user.actor)}
    linked = None
    if view.provider.user_id:
        linked = identity.user_names(session, {view.provider.user_id}).get(view.provider.user_id)
    data = rules.load_rule_data()
    return render(
        request,
        "directory/provider.html",
        {
            "view": view,
            "p": view.provider,
            "spec": spec,
            "expiry": {lic.id: licensing.classify_expiry(lic.expires, today) for lic in view.licenses},
            "networks": [plans[n] for n in view.networks if n in plans],
            "linked": linked,
            "license_types": sorted(spec.license_types) if spec else [],
            "compacts": [data.compacts[c] for c in spec.compacts if c in data.compacts] if spec else [],
            "prescribes_controlled": bool(
                spec and spec.capabilities.get("controlled_substances") not in (None, "no")
            ),
            "states": geo.US_JURISDICTIONS,
            "statuses": STATUSES,
            "schedules": SCHEDULES,
            "notice": NOTICES.get(notice or ""),
            "failed": failed,
            "form": form or {},
            "fields": fields or {},
            "error": error,
        },
        status_code=status_code,
    )


@router.get(f"{BASE}/providers/{{provider_id}}")
def provider_page(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    notice: Annotated[str | None, Query(max_length=20)] = None,
    web_user: WebUser = ADMIN,
) -> Response:
    return _provider_page(request, session, web_user, clock, provider_id, notice=notice)


def _date_fields(form: dict[str, str], names: Iterable[str]) -> dict[str, str | None]:
    return {name: form.get(name) or None for name in names}


def _add_child(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    provider_id: uuid.UUID,
    kind: str,
    form: dict[str, Any],
    schema: type[LicenseCreate] | type[CompactPrivilegeCreate] | type[DeaRegistrationCreate],
    payload: dict[str, Any],
) -> Response:
    """Validate ``payload`` with the API schema, call the service, and go back to the provider page."""
    try:
        try:
            body = schema.model_validate(payload)
        except ValidationError as exc:
            raise InvalidInput(
                "Please correct the marked fields.", fields=csv_import.shape_problems(exc)
            ) from exc
        if isinstance(body, LicenseCreate):
            service.add_license(
                session,
                web_user.actor,
                provider_id,
                state=body.state,
                license_type=body.type,
                number=body.number,
                status=body.status,
                issued=body.issued,
                expires=body.expires,
                clock=clock,
            )
        elif isinstance(body, CompactPrivilegeCreate):
            service.add_compact_privilege(
                session,
                web_user.actor,
                provider_id,
                compact=body.compact,
                state=body.state,
                status=body.status,
                issued=body.issued,
                expires=body.expires,
                clock=clock,
            )
        else:
            service.add_dea_registration(
                session,
                web_user.actor,
                provider_id,
                state=body.state,
                number=body.number,
                schedules=list(body.schedules),
                expires=body.expires,
                clock=clock,
            )
    except InvalidInput as exc:
        return _provider_page(
            request,
            session,
            web_user,
            clock,
            provider_id,
            failed=kind,
            form=form,
            fields=_field_messages(exc.fields),
            error=exc.message,
            status_code=exc.status,
        )
    return _see_other(f"{BASE}/providers/{provider_id}?notice={kind}#{kind}")


@router.post(f"{BASE}/providers/{{provider_id}}/licenses")
def license_add(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    state: Annotated[str, Form(max_length=2)] = "",
    type: Annotated[str, Form(max_length=40)] = "",
    number: Annotated[str, Form(max_length=40)] = "",
    status: Annotated[str, Form(max_length=12)] = "active",
    issued: Annotated[str, Form(max_length=10)] = "",
    expires: Annotated[str, Form(max_length=10)] = "",
    web_user: WebUser = ADMIN,
) -> Response:
    form = {"state": state, "type": type, "number": number, "status": status, "issued": issued}
    form["expires"] = expires
    payload = {"state": state.upper(), "type": type, "number": number, "status": status}
    payload |= _date_fields(form, ("issued", "expires"))
    return _add_child(request, session, web_user, clock, provider_id, "license", form, LicenseCreate, payload)


@router.post(f"{BASE}/providers/{{provider_id}}/compact-privileges")
def compact_add(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    compact: Annotated[str, Form(max_length=40)] = "",
    state: Annotated[str, Form(max_length=2)] = "",
    status: Annotated[str, Form(max_length=12)] = "active",
    issued: Annotated[str, Form(max_length=10)] = "",
    expires: Annotated[str, Form(max_length=10)] = "",
    web_user: WebUser = ADMIN,
) -> Response:
    form = {"compact": compact, "state": state, "status": status, "issued": issued, "expires": expires}
    payload = {"compact": compact, "state": state.upper(), "status": status}
    payload |= _date_fields(form, ("issued", "expires"))
    return _add_child(
        request, session, web_user, clock, provider_id, "compact", form, CompactPrivilegeCreate, payload
    )


@router.post(f"{BASE}/providers/{{provider_id}}/dea-registrations")
def dea_add(
    request: Request,
    provider_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    state: Annotated[str, Form(max_length=2)] = "",
    number: Annotated[str, Form(max_length=9)] = "",
    schedules: Annotated[list[str] | None, Form(max_length=6)] = None,
    expires: Annotated[str, Form(max_length=10)] = "",
    web_user: WebUser = ADMIN,
) -> Response:
    chosen = [s for s in schedules or [] if s]
    form: dict[str, Any] = {"state": state, "number": number, "schedules": chosen, "expires": expires}
    payload = {"state": state.upper(), "number": number.upper(), "schedules": chosen}
    payload |= _date_fields(form, ("expires",))
    return _add_child(
        request, session, web_user, clock, provider_id, "dea", form, DeaRegistrationCreate, payload
    )


# ---------------------------------------------------------------- plans


def _plans_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    *,
    notice: str | None = None,
    form: dict[str, str] | None = None,
    fields: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "directory/plans.html",
        {
            "plans": service.list_plans(session, web_user.actor),
            "notice": NOTICES.get(notice or ""),
            "form": form or {},
            "fields": fields or {},
            "error": error,
        },
        status_code=status_code,
    )


@router.get(f"{BASE}/plans")
def plans_page(
    request: Request,
    session: DbSession,
    notice: Annotated[str | None, Query(max_length=20)] = None,
    web_user: WebUser = ADMIN,
) -> Response:
    return _plans_page(request, session, web_user, notice=notice)


@router.post(f"{BASE}/plans")
def plan_add(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    payer: Annotated[str, Form(max_length=120)] = "",
    name: Annotated[str, Form(max_length=160)] = "",
    web_user: WebUser = ADMIN,
) -> Response:
    form = {"payer": payer, "name": name}
    try:
        try:
            body = PlanCreate.model_validate(form)
        except ValidationError as exc:
            raise InvalidInput(
                "Please correct the marked fields.", fields=csv_import.shape_problems(exc)
            ) from exc
        service.create_plan(session, web_user.actor, payer=body.payer, name=body.name, clock=clock)
    except DomainError as exc:
        return _plans_page(
            request,
            session,
            web_user,
            form=form,
            fields=_field_messages(exc.fields),
            error=exc.message,
            status_code=exc.status,
        )
    return _see_other(f"{BASE}/plans?notice=plan")


# ---------------------------------------------------------------- CSV import


@router.get(f"{BASE}/import")
def import_form(request: Request, settings: SettingsDep, web_user: WebUser = ADMIN) -> Response:
    return render(request, "directory/import.html", {"report": None, "limit": settings.max_body_bytes})


@router.post(f"{BASE}/import")
def import_submit(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File()] = None,
    dry_run: Annotated[str, Form(max_length=3)] = "",
    web_user: WebUser = ADMIN,
) -> Response:
    ctx: dict[str, Any] = {"report": None, "limit": settings.max_body_bytes, "dry_run": dry_run == "yes"}
    if file is None or not file.filename:
        ctx["error"] = "Choose a CSV file to import."
        return render(request, "directory/import.html", ctx, status_code=422)
    # The body-size limit already bounds the upload; read at most that much.
    data = file.file.read(settings.max_body_bytes + 1)
    report = csv_import.import_csv(session, web_user.actor, data, clock=clock, dry_run=dry_run == "yes")
    ctx |= {"report": report, "filename": file.filename}
    return render(request, "directory/import.html", ctx, status_code=200 if report.ok else 422)


# ---------------------------------------------------------------- expiring licences


@router.get(f"{BASE}/licences")
def expiring_page(
    request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = ADMIN
) -> Response:
    fragment = bool(request.headers.get("hx-request"))  # the panel on /admin, loaded by htmx
    warnings = licensing.expiring_licences(
        session, web_user.actor, clock=clock, limit=20 if fragment else 500
    )
    template = "directory/_licence_warnings.html" if fragment else "directory/licences.html"
    return render(request, template, {"warnings": warnings, "panel": fragment})


# ---------------------------------------------------------------- a clinician's own profile

PROFILE_NOTICES = {"saved": "Your profile has been saved."}


def _profile_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    *,
    values: dict[str, Any] | None = None,
    fields: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    provider_id = service.profile_for_user(session, web_user.user.id)
    view = service.get_provider(session, web_user.actor, provider_id) if provider_id else None
    plans = {p.id: p for p in service.list_plans(session, web_user.actor)} if view else {}
    return render(
        request,
        "directory/my_profile.html",
        {
            "view": view,
            "v": values if values is not None else (_view_values(view) if view else {}),
            "networks": [plans[n] for n in view.networks if n in plans] if view else [],
            "fields": fields or {},
            "error": error,
            "notice": PROFILE_NOTICES.get(notice or ""),
            "genders": GENDERS,
            "age_groups": AGE_GROUPS,
            "zones": geo.US_TIMEZONES,
        },
        status_code=status_code,
    )


@router.get("/provider/profile")
def my_profile(
    request: Request,
    session: DbSession,
    notice: Annotated[str | None, Query(max_length=20)] = None,
    web_user: WebUser = CLINICIAN,
) -> Response:
    return _profile_page(request, session, web_user, notice=notice)


@router.post("/provider/profile")
def my_profile_save(
    request: Request, session: DbSession, clock: ClockDep, form: PostedForm, web_user: WebUser = CLINICIAN
) -> Response:
    provider_id = service.profile_for_user(session, web_user.user.id)
    if provider_id is None:
        return _profile_page(request, session, web_user, status_code=404)
    view = service.get_provider(session, web_user.actor, provider_id)
    values = _form_values(form)
    try:
        data, problems = _provider_data(values, SELF_FIELDS)
        _checked(ProviderWrite, data, problems)
        changes = _changes(data, _current(view))
        if changes:
            service.update_provider(session, web_user.actor, provider_id, changes, clock=clock)
    except DomainError as exc:
        return _profile_page(
            request,
            session,
            web_user,
            values=values,
            fields=_field_messages(exc.fields),
            error=exc.message,
            status_code=exc.status,
        )
    return _see_other("/provider/profile?notice=saved")
