"""Patient journey pages: intake (saved page by page), screening forms, crisis panel, and the
recommended care pathway. Clinician pages: safety queue, on-call roster, pathway review."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from careweave.core import geo
from careweave.core.actor import CLINICAL_ROLES, Role
from careweave.core.errors import DomainError, FieldError, InvalidInput, NotFound
from careweave.deps import ClockDep, DbSession, MailerDep, SettingsDep
from careweave.directory import matching
from careweave.directory import service as directory
from careweave.identity import service as identity
from careweave.intake import service as intake_service
from careweave.safety import rules as safety_rules
from careweave.safety import service as safety
from careweave.screening import service as screening
from careweave.screening.instruments import Instrument, get_instrument
from careweave.triage import service as triage
from careweave.web.auth import PostedForm, WebUser, check_csrf, require_role
from careweave.web.templating import TEMPLATES, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
PATIENT = require_role(Role.PATIENT)
CLINICIAN = require_role(*CLINICAL_ROLES)
ADMIN = require_role(Role.ADMIN)

LANGUAGES = {
    "en": "English",
    "es": "Spanish",
    "zh": "Chinese",
    "vi": "Vietnamese",
    "tl": "Tagalog",
    "ar": "Arabic",
    "fr": "French",
    "ko": "Korean",
    "ru": "Russian",
    "ht": "Haitian Creole",
}
PARAPHRASE_NOTE = re.compile(r"\s*\((?:paraphrased|construct)[^)]*\)\s*$", re.IGNORECASE)
TEMPLATES.env.filters["plain_item"] = lambda text: PARAPHRASE_NOTE.sub("", text)
TEMPLATES.env.filters["alert_reason"] = lambda code: safety_rules.REASON_LABELS.get(code, code)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _fields(exc: DomainError) -> dict[str, str]:
    return {f.field: f.message for f in exc.fields}


# ------------------------------------------------------------------ intake


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    slug: str
    title: str


STEPS = (
    Step(1, "about", "About you"),
    Step(2, "contact", "Where you are and how to reach you"),
    Step(3, "coverage", "Paying for care"),
    Step(4, "preferences", "What you are looking for"),
    Step(5, "history", "Your health history"),
)


def _flag(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def _step_changes(number: int, form: dict[str, str], goals: list[str]) -> dict[str, Any]:
    """Turn one page's form into an intake update (the service validates meaning)."""
    blank_to_none = {k: (v.strip() or None) for k, v in form.items()}
    if number == 1:
        born = blank_to_none.get("birth_date")
        try:
            birth = date.fromisoformat(born) if born else None
        except ValueError as exc:
            raise InvalidInput(
                "Check the date.", fields=[FieldError("birth_date", "use the date picker")]
            ) from exc
        return {
            k: blank_to_none.get(k) for k in ("given_name", "family_name", "preferred_name", "pronouns")
        } | {"birth_date": birth}
    if number == 2:
        contact = None
        if blank_to_none.get("ec_name") or blank_to_none.get("ec_phone"):
            contact = {
                "name": blank_to_none.get("ec_name"),
                "phone": blank_to_none.get("ec_phone"),
                "relationship": blank_to_none.get("ec_relationship"),
            }
        return {
            "state": blank_to_none.get("state"),
            "timezone": blank_to_none.get("timezone"),
            "phone": blank_to_none.get("phone"),
            "language": blank_to_none.get("language"),
            "emergency_contact": contact,
        }
    if number == 3:
        kind = blank_to_none.get("coverage_type")
        return {
            "coverage": {
                "type": kind,
                "plan": blank_to_none.get("plan"),
                "member_id": blank_to_none.get("member_id"),
            }
            if kind
            else None
        }
    if number == 4:
        return {
            "treatment_preference": blank_to_none.get("treatment_preference"),
            "goals": goals,
            "goals_text": blank_to_none.get("goals_text"),
            "provider_preferences": {
                "gender": blank_to_none.get("provider_gender") or "any",
                "language": blank_to_none.get("provider_language"),
            },
        }
    trials = blank_to_none.get("antidepressant_trials") or "0"
    meds = [m for m in (form.get("current_medications") or "").splitlines() if m.strip()]
    return {
        "history": {
            "bipolar": _flag(form.get("bipolar")),
            "psychosis": _flag(form.get("psychosis")),
            "mood_elevation": _flag(form.get("mood_elevation")),
            "trauma": _flag(form.get("trauma")),
            "pregnant_or_postpartum": _flag(form.get("pregnant_or_postpartum")),
            "current_psychosis_or_mania": _flag(form.get("current_psychosis_or_mania")),
            "antidepressant_trials": int(trials) if trials.isdigit() else -1,
        },
        "current_medications": meds,
    }


def _validate_step(number: int, changes: dict[str, Any]) -> None:
    """Shape checks the JSON API gets from its schema, for the HTML form."""
    from pydantic import ValidationError

    from careweave.intake.schemas import IntakeUpdate

    payload = {k: v for k, v in changes.items() if not (v is None and k in ("coverage",))}
    required = {
        1: ("given_name", "family_name"),
        2: ("state", "timezone"),
        3: ("coverage",),
        4: ("treatment_preference",),
        5: (),
    }[number]
    problems = [FieldError(name, "required") for name in required if not changes.get(name)]
    if number == 5:
        history = changes["history"]
        problems += [
            FieldError(k, "choose yes or no")
            for k in ("bipolar", "psychosis", "mood_elevation", "trauma")
            if history[k] is None
        ]
        if history["antidepressant_trials"] < 0:
            problems.append(FieldError("antidepressant_trials", "a whole number, 0 if none"))
            history["antidepressant_trials"] = None
    try:
        IntakeUpdate.model_validate(payload)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            name = {
                "emergency_contact": "ec_" + (loc[1] if len(loc) > 1 else "name"),
                "coverage": loc[-1] if len(loc) > 1 else "coverage_type",
            }.get(loc[0], loc[-1])
            problems.append(FieldError(name, err["msg"]))
    if problems:
        raise InvalidInput("Please check the marked fields.", fields=problems)


def _intake_context(view: intake_service.IntakeView, step: Step) -> dict[str, Any]:
    return {
        "view": view,
        "patient": view.patient,
        "intake": view.intake,
        "history": view.history,
        "step": step,
        "steps": STEPS,
        "states": geo.US_JURISDICTIONS,
        "zones": geo.US_TIMEZONES,
        "languages": LANGUAGES,
        "form": {},
        "fields": {},
    }


@router.get("/intake")
def intake_start(session: DbSession, clock: ClockDep, web_user: WebUser = PATIENT) -> Response:
    assert web_user.actor.patient_id is not None
    view = intake_service.get_intake(session, web_user.actor, web_user.actor.patient_id, clock=clock)
    if view.intake.completed_at is not None:
        return _see_other("/screening")
    return _see_other(f"/intake/{min(view.intake.step + 1, len(STEPS))}")


@router.get("/intake/{number}")
def intake_step(
    request: Request, number: int, session: DbSession, clock: ClockDep, web_user: WebUser = PATIENT
) -> Response:
    if not 1 <= number <= len(STEPS):
        raise NotFound("Nothing is here.")
    assert web_user.actor.patient_id is not None
    view = intake_service.get_intake(session, web_user.actor, web_user.actor.patient_id, clock=clock)
    return render(request, "intake/step.html", _intake_context(view, STEPS[number - 1]))


@router.post("/intake/{number}")
def intake_save(
    request: Request,
    number: int,
    session: DbSession,
    clock: ClockDep,
    raw: PostedForm,
    web_user: WebUser = PATIENT,
) -> Response:
    if not 1 <= number <= len(STEPS):
        raise NotFound("Nothing is here.")
    assert web_user.actor.patient_id is not None
    form = {k: v for k, v in raw.items() if isinstance(v, str) and k != "csrf_token"}
    goals = [g for g in raw.getlist("goals") if isinstance(g, str)]
    try:
        changes = _step_changes(number, form, goals)
        _validate_step(number, changes)
        if number == len(STEPS):
            changes["complete"] = True
        intake_service.update_intake(
            session, web_user.actor, web_user.actor.patient_id, changes, clock=clock, step=number
        )
    except DomainError as exc:
        view = intake_service.get_intake(session, web_user.actor, web_user.actor.patient_id, clock=clock)
        ctx = _intake_context(view, STEPS[number - 1]) | {
            "form": form | {"goals": goals},
            "fields": _fields(exc),
            "error": exc.message,
        }
        return render(request, "intake/step.html", ctx, status_code=422)
    return _see_other("/screening" if number == len(STEPS) else f"/intake/{number + 1}")


# ------------------------------------------------------------------ screening


@router.get("/screening")
def screening_next(session: DbSession, web_user: WebUser = PATIENT) -> Response:
    assert web_user.actor.patient_id is not None
    code = screening.next_instrument(session, web_user.actor, web_user.actor.patient_id)
    return _see_other(f"/screening/{code}" if code else "/care-pathway")


def _answers_from_form(
    instrument: Instrument, form: dict[str, str]
) -> tuple[list[int | None], dict[str, Any]]:
    answers: list[int | None] = []
    for n, _item in enumerate(instrument.scored_items):
        value = form.get(f"q{n}", "")
        answers.append(int(value) if value.lstrip("-").isdigit() else None)
    extra: dict[str, Any] = {}
    if instrument.code == "audit-c":
        extra["sex"] = form.get("sex") or "unknown"
    if instrument.code == "c-ssrs-screener":
        # Skip logic (spec §1.7): questions 3–5 only after "yes" to 2; 6b only after "yes" to 6.
        if answers[1] == 0:
            answers[2:5] = [None, None, None]
        extra["behavior_within_3_months"] = (
            _flag(form.get("behavior_within_3_months")) if answers[5] == 1 else None
        )
    return answers, extra


def _item_errors(exc: DomainError) -> dict[str, str]:
    out = {}
    for f in exc.fields:
        match = re.fullmatch(r"answers\[(\d+)\]", f.field)
        out[f"q{match.group(1)}" if match else f.field] = f.message
    return out


@router.get("/screening/{code}")
def screening_form(request: Request, code: str, web_user: WebUser = PATIENT) -> Response:
    instrument = get_instrument(code)
    return render(request, "screening/form.html", {"instrument": instrument, "form": {}, "fields": {}})


@router.post("/screening/{code}")
def screening_submit(
    request: Request,
    code: str,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    mailer: MailerDep,
    raw: PostedForm,
    web_user: WebUser = PATIENT,
) -> Response:
    assert web_user.actor.patient_id is not None
    instrument = get_instrument(code)
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    answers, extra = _answers_from_form(instrument, form)
    try:
        outcome = screening.submit_screening(
            session,
            web_user.actor,
            web_user.actor.patient_id,
            instrument=code,
            answers=answers,
            clock=clock,
            settings=settings,
            mailer=mailer,
            **extra,
        )
    except DomainError as exc:
        missing = (
            "Please answer every question."
            if any("required" in f.message or "missing" in f.message for f in exc.fields)
            else exc.message
        )
        return render(
            request,
            "screening/form.html",
            {
                "instrument": instrument,
                "form": form,
                "fields": _item_errors(exc),
                "error": missing,
            },
            status_code=422,
        )
    if outcome.crisis:
        nxt = outcome.next_instruments[0] if outcome.next_instruments else None
        return render(
            request,
            "screening/crisis.html",
            {
                "level": outcome.alert.level if outcome.alert else None,
                "next": nxt,
                "stopped": not safety.self_scheduling_allowed(session, web_user.actor.patient_id),
            },
        )
    return _see_other("/screening")


# ------------------------------------------------------------------ care pathway


@router.get("/care-pathway")
def care_pathway_page(
    request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = PATIENT
) -> Response:
    assert web_user.actor.patient_id is not None
    result = triage.care_pathway(session, web_user.actor, web_user.actor.patient_id, clock=clock)
    pending = screening.next_instrument(session, web_user.actor, web_user.actor.patient_id)
    view = intake_service.get_intake(session, web_user.actor, web_user.actor.patient_id, clock=clock)
    state = geo.US_JURISDICTIONS.get(view.patient.state or "", "your state")
    return render(request, "screening/pathway.html", {"result": result, "pending": pending, "state": state})


@router.post("/patients/{patient_id}/care-pathway/override")
def override_submit(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    pathway: Annotated[str, Form(max_length=16)] = "",
    urgency: Annotated[str, Form(max_length=16)] = "routine",
    reason: Annotated[str, Form(max_length=2000)] = "",
    web_user: WebUser = require_role(Role.THERAPIST, Role.PSYCHIATRIST),
) -> Response:
    triage.override_pathway(
        session, web_user.actor, patient_id, pathway=pathway, urgency=urgency, reason=reason, clock=clock
    )
    return _see_other(f"/patients/{patient_id}#pathway")


# ------------------------------------------------------------------ matching and profiles


@router.get("/matches")
def my_matches(
    request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = PATIENT
) -> Response:
    assert web_user.actor.patient_id is not None
    outcome = matching.match_for_patient(session, web_user.actor, web_user.actor.patient_id, clock=clock)
    return render(request, "directory/matches.html", {"outcome": outcome, "patient_id": None})


@router.get("/patients/{patient_id}/matches")
def matches_for_patient(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser = require_role(*CLINICAL_ROLES, Role.ADMIN),
) -> Response:
    outcome = matching.match_for_patient(session, web_user.actor, patient_id, clock=clock)
    return render(request, "directory/matches.html", {"outcome": outcome, "patient_id": patient_id})


@router.get("/providers/{provider_id}")
def provider_profile(
    request: Request, provider_id: uuid.UUID, session: DbSession, web_user: WebUser = require_role(*Role)
) -> Response:
    view = directory.get_provider(session, web_user.actor, provider_id)
    return render(request, "directory/profile.html", {"view": view, "states": geo.US_JURISDICTIONS})


# ------------------------------------------------------------------ safety queue and on-call


@router.get("/safety")
def safety_queue(
    request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = CLINICIAN
) -> Response:
    open_, recent = safety.queue(session, web_user.actor, clock=clock)
    notes = safety.notifications_for(session, web_user.actor)
    for note in notes:
        safety.mark_read(session, web_user.actor, note.id, clock=clock)
    return render(request, "safety/queue.html", {"open": open_, "recent": recent, "notifications": notes})


@router.post("/safety/help")
def safety_help(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    mailer: MailerDep,
    web_user: WebUser = PATIENT,
) -> Response:
    assert web_user.actor.patient_id is not None
    safety.request_help(
        session, web_user.actor, web_user.actor.patient_id, clock=clock, settings=settings, mailer=mailer
    )
    return render(
        request,
        "screening/crisis.html",
        {"level": "high", "next": None, "stopped": True, "help_requested": True},
    )


@router.post("/safety/{alert_id}/acknowledge")
def safety_acknowledge(
    alert_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    note: Annotated[str, Form(max_length=2000)] = "",
    web_user: WebUser = CLINICIAN,
) -> Response:
    safety.acknowledge(session, web_user.actor, alert_id, note=note, clock=clock)
    return _see_other("/safety")


@router.get("/admin/on-call")
def oncall_page(request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = ADMIN) -> Response:
    roster = safety.get_roster(session, web_user.actor)
    clinicians = [
        u
        for u in identity.list_users(session, web_user.actor, clock=clock)
        if Role(u.role) in CLINICAL_ROLES and u.is_active and u.clinic_id == web_user.actor.clinic_id
    ]
    positions = {uid: pos for pos, uid, _n, _r in roster}
    return render(
        request,
        "safety/oncall.html",
        {"roster": roster, "clinicians": clinicians, "positions": positions, "fields": {}},
    )


@router.post("/admin/on-call")
def oncall_save(session: DbSession, clock: ClockDep, raw: PostedForm, web_user: WebUser = ADMIN) -> Response:
    chosen: list[tuple[int, uuid.UUID]] = []
    for key, value in raw.items():
        if key.startswith("pos_") and isinstance(value, str) and value.strip():
            try:
                chosen.append((int(value), uuid.UUID(key[4:])))
            except ValueError as exc:
                raise InvalidInput(
                    "Positions must be whole numbers.", fields=[FieldError(key, "number")]
                ) from exc
    safety.set_roster(session, web_user.actor, [uid for _, uid in sorted(chosen)], clock=clock)
    return _see_other("/admin/on-call")
