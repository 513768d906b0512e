"""Measurement-based care pages (issue #8): the caseload registry (with CSV), a patient's measurement page (status,
trend chart with its data table, episode, reviews and their decisions, care-manager minutes with a timer, "send a
questionnaire now"), CoCM month-end billing (with CSV), the outcomes report, and the patient's check-ins."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from careweave.core.actor import CLINICAL_ROLES, Role
from careweave.core.errors import Conflict, DomainError, InvalidInput
from careweave.deps import ClockDep, DbSession
from careweave.outcomes import billing, chart, minutes, registry, report, reviews, rules, service
from careweave.screening.instruments import get_instrument
from careweave.web.auth import WebUser, check_csrf, require_role
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
CLINICIANS = require_role(*CLINICAL_ROLES)
PROGRAM = require_role(Role.ADMIN, Role.CARE_MANAGER)
REPORT_READERS = require_role(Role.ADMIN, Role.CARE_MANAGER, Role.PSYCHIATRIST)
PATIENT = require_role(Role.PATIENT)
PAGE = 50


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ------------------------------------------------------------------ registry


@router.get("/registry")
def registry_page(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    flag: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=40)] = None,
    sort: Annotated[str, Query(max_length=20)] = "flags",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    mine: bool = False,
    web_user: WebUser = CLINICIANS,
) -> Response:
    error = None
    try:
        result = registry.caseload(
            session,
            web_user.actor,
            clock=clock,
            flag=flag or None,
            status=status or None,
            care_manager_id=web_user.actor.user_id if mine else None,
            sort=sort,
            descending=order == "desc",
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )
    except InvalidInput as exc:
        error = exc
        result = registry.RegistryPage([], 0, clock.now().date())
    return render(
        request,
        "outcomes/registry.html",
        {
            "result": result,
            "error": error,
            "flag": flag or "",
            "status": status or "",
            "sort": sort,
            "order": order,
            "page": page,
            "pages": max(1, -(-result.total // PAGE)),
            "mine": mine,
            "flags": [(f, rules.flag_label(f)) for f in rules.FLAGS],
            "statuses": [(s, rules.STATUS_LABELS[s]) for s in (*rules.STATUSES, "no_baseline")],
            "status_labels": rules.STATUS_LABELS,
            "flag_label": rules.flag_label,
            "sorts": [
                ("flags", "Flags first"),
                ("name", "Name"),
                ("weeks", "Weeks in treatment"),
                ("latest", "Latest score"),
                ("percent_change", "% change"),
                ("last_contact", "Last contact"),
                ("next_due", "Next due"),
            ],
            "query": request.url.query,
        },
        status_code=error.status if error else 200,
    )


@router.get("/registry.csv")
def registry_csv(
    session: DbSession,
    clock: ClockDep,
    flag: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=40)] = None,
    sort: Annotated[str, Query(max_length=20)] = "flags",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    mine: bool = False,
    web_user: WebUser = CLINICIANS,
) -> Response:
    rows: list[registry.RegistryRow] = []
    offset = 0
    while True:  # every row of the filtered list, a page at a time
        result = registry.caseload(
            session,
            web_user.actor,
            clock=clock,
            flag=flag or None,
            status=status or None,
            care_manager_id=web_user.actor.user_id if mine else None,
            sort=sort,
            descending=order == "desc",
            limit=200,
            offset=offset,
        )
        rows += result.rows
        offset += 200
        if offset >= result.total or not result.rows:
            break
    return Response(
        registry.registry_csv(rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="registry-{result.on.isoformat()}.csv"'},
    )


# ------------------------------------------------------------------ one patient


def _markers(
    session: DbSession,
    patient_id: uuid.UUID,
    episode_reviews: list,  # type: ignore[type-arg]
    *,
    show_medications: bool,
    show_plan: bool,
) -> list[chart.Marker]:
    """Medication starts and dose changes, therapy start, caseload reviews and plan versions, for the chart
    (medications and plan versions only for readers the patient shares them with)."""
    from sqlalchemy import select

    from careweave.careteam.models import CareTeamMember
    from careweave.identity.models import User

    out: list[chart.Marker] = [
        chart.Marker(
            r.reviewed_on,
            f"Review: {reviews.RECOMMENDATIONS.get(r.recommendation, r.recommendation)}",
            "review",
        )
        for r in episode_reviews
    ]
    therapy = session.scalar(
        select(CareTeamMember.start_date)
        .join(User, User.id == CareTeamMember.user_id)
        .where(CareTeamMember.patient_id == patient_id, User.role == Role.THERAPIST.value)
        .order_by(CareTeamMember.start_date)
        .limit(1)
    )
    if therapy is not None:
        out.append(chart.Marker(therapy, "Therapy start", "therapy"))
    if show_medications:
        out += [
            chart.Marker(day, label, "medication") for day, label in _medication_events(session, patient_id)
        ]
    if show_plan:
        from careweave.records.models import PlanVersion, TreatmentPlan

        versions = session.execute(
            select(PlanVersion.version, PlanVersion.changed_at)
            .join(TreatmentPlan, TreatmentPlan.id == PlanVersion.plan_id)
            .where(TreatmentPlan.patient_id == patient_id)
        ).all()
        out += [chart.Marker(at.date(), f"Plan v{n}", "review") for n, at in versions]
    return out


def _medication_events(session: DbSession, patient_id: uuid.UUID) -> list[tuple[date, str]]:
    """Medication starts, dose changes, tapers and stops (issue #7), for the chart's markers."""
    from sqlalchemy import select

    from careweave.audit.models import AuditEvent
    from careweave.medications.models import Prescription, Taper

    prescriptions = session.scalars(
        select(Prescription).where(
            Prescription.patient_id == patient_id, Prescription.activated_at.is_not(None)
        )
    ).all()
    names = {rx.id: rx.ingredient for rx in prescriptions}
    out = [(rx.started_on, f"Start {rx.ingredient}") for rx in prescriptions]
    out += [(rx.ended_on, f"Stop {rx.ingredient}") for rx in prescriptions if rx.ended_on]
    if names:
        out += [
            (start, f"Taper {names[rx_id]}")
            for rx_id, start in session.execute(
                select(Taper.prescription_id, Taper.start_date).where(Taper.prescription_id.in_(list(names)))
            )
        ]
        changes = session.execute(
            select(AuditEvent.occurred_at, AuditEvent.entity_id).where(
                AuditEvent.patient_id == patient_id,
                AuditEvent.action == "prescription.dose_changed",
                AuditEvent.outcome == "success",
            )
        ).all()
        by_id = {str(k): v for k, v in names.items()}
        out += [(at.date(), f"Dose {by_id[str(eid)]}") for at, eid in changes if str(eid) in by_id]
    return out


def _may_read_plan(session: DbSession, actor, ref) -> bool:  # type: ignore[no-untyped-def]
    """As the plan page decides (shared with the reader, or they wrote a version of it)."""
    from careweave.records import repository as records_repo
    from careweave.records import service as records

    plan = records_repo.plan_for(session, ref.patient_id)
    authors = records_repo.version_authors(session, plan.id) if plan else set()
    return records.may_read_plan(actor, ref, authors).allowed


def _patient_page(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    patient_id: uuid.UUID,
    *,
    notice: str | None = None,
    error: DomainError | None = None,
    timer: str | None = None,
    status_code: int = 200,
) -> Response:
    from careweave import policy
    from careweave.outcomes import repository as repo
    from careweave.patients import service as patients

    actor = web_user.actor
    statuses = service.measurement_status(session, actor, patient_id, clock=clock)
    episode, history = service.score_history(session, actor, patient_id, clock=clock)
    patient, ref = patients.get_patient_ref(session, patient_id)
    all_reviews = reviews.list_reviews(session, actor, patient_id, clock=clock)
    charts = []
    if episode is not None:
        # Medication markers name drugs, plan markers the plan: only for readers the patient shares them with.
        marks = _markers(
            session,
            patient_id,
            all_reviews,
            show_medications=policy.may_see(actor, ref, "medications"),
            show_plan=_may_read_plan(session, actor, ref),
        )
        rs = rules.default_rules()
        for instrument, scores in history.items():
            definition = get_instrument(instrument)
            bands = [
                chart.Band(b["min"], b["max"], b["severity"].replace("_", " "))
                for b in definition.scoring.get("bands", [])
            ]
            spec = rs.instrument(instrument)
            points = [chart.Point(s.at.date(), s.value, s.prorated) for s in scores if s.complete]
            charts.append(
                {
                    "instrument": spec.label,
                    "svg": chart.trend_svg(
                        title=f"{spec.label} scores over time",
                        maximum=spec.max,
                        bands=bands,
                        points=points,
                        target=spec.target_below,
                        markers=marks,
                        start=episode.started_on,
                        end=max(clock.now().date(), episode.started_on),
                    ),
                    "points": points,
                    "markers": sorted(marks, key=lambda m: m.day),
                }
            )
    may_plan = policy.may(actor, policy.Action.PLAN_WRITE, ref) and actor.role in (
        Role.PSYCHIATRIST,
        Role.THERAPIST,
    )
    return render(
        request,
        "outcomes/patient.html",
        {
            "patient": patient,
            "patient_id": patient_id,
            "episode": episode,
            "open": episode is not None and episode.ended_on is None,
            "episodes": repo.episodes(session, patient_id),
            "statuses": statuses,
            "charts": charts,
            "reviews": all_reviews,
            "recommendations": reviews.RECOMMENDATIONS,
            "disciplines": {
                "therapy": "Therapy",
                "psychiatry": "Medication",
                "care_management": "Care coordination",
            },
            "activities": billing.default_rules().activities,
            "end_reasons": rules.default_rules().end_reasons,
            "can_review": actor.role in (Role.PSYCHIATRIST, Role.CARE_MANAGER),
            "can_decide": may_plan,
            "can_log": actor.role is Role.CARE_MANAGER,
            "can_manage": policy.may(actor, policy.Action.EPISODE_MANAGE, ref),
            "flag_label": rules.flag_label,
            "notice": notice,
            "error": error,
            "errors": {f.field: f.message for f in (error.fields if error else [])},
            "timer": timer,
            "today": clock.now().date().isoformat(),
        },
        status_code=status_code,
    )


@router.get("/patients/{patient_id}/outcomes")
def patient_outcomes(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    notice: Annotated[str | None, Query(max_length=60)] = None,
    timer: Annotated[str | None, Query(max_length=40)] = None,
    web_user: WebUser = CLINICIANS,
) -> Response:
    return _patient_page(request, session, web_user, clock, patient_id, notice=notice, timer=timer)


def _act(
    request: Request,
    session: DbSession,
    web_user: WebUser,
    clock: ClockDep,
    patient_id: uuid.UUID,
    fn,
    done: str,
) -> Response:  # type: ignore[no-untyped-def]
    try:
        fn()
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _patient_page(request, session, web_user, clock, patient_id, error=exc, status_code=exc.status)
    return _see_other(f"/patients/{patient_id}/outcomes?notice={done}")


@router.post("/patients/{patient_id}/outcomes/episode")
def start_episode(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    instruments: Annotated[list[str], Form()] = ["phq-9"],  # noqa: B006 (FastAPI form default)
    take_on: Annotated[bool, Form()] = False,
    web_user: WebUser = CLINICIANS,
) -> Response:
    actor = web_user.actor
    care_manager = actor.user_id if take_on and actor.role is Role.CARE_MANAGER else None
    return _act(
        request,
        session,
        web_user,
        clock,
        patient_id,
        lambda: service.start_episode(
            session,
            actor,
            patient_id,
            clock=clock,
            instruments=instruments,
            care_manager_user_id=care_manager,
        ),
        "started",
    )


@router.post("/patients/{patient_id}/outcomes/end")
def end_episode(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=20)],
    relapse_prevention_plan: Annotated[str, Form(max_length=2000)] = "",
    web_user: WebUser = CLINICIANS,
) -> Response:
    return _act(
        request,
        session,
        web_user,
        clock,
        patient_id,
        lambda: service.end_episode(
            session,
            web_user.actor,
            patient_id,
            reason=reason,
            relapse_prevention_plan=relapse_prevention_plan or None,
            clock=clock,
        ),
        "ended",
    )


@router.post("/patients/{patient_id}/outcomes/request")
def request_measure(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    instrument: Annotated[str, Form(max_length=10)] = "phq-9",
    web_user: WebUser = CLINICIANS,
) -> Response:
    return _act(
        request,
        session,
        web_user,
        clock,
        patient_id,
        lambda: service.request_measure(
            session, web_user.actor, patient_id, instrument=instrument, clock=clock
        ),
        "requested",
    )


@router.post("/patients/{patient_id}/outcomes/reviews")
def create_review(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    recommendation: Annotated[str, Form(max_length=32)],
    detail: Annotated[str, Form(max_length=2000)] = "",
    change_discipline: Annotated[str, Form(max_length=20)] = "",
    change_description: Annotated[str, Form(max_length=2000)] = "",
    web_user: WebUser = CLINICIANS,
) -> Response:
    proposed = (
        {"discipline": change_discipline, "description": change_description}
        if change_description.strip()
        else None
    )
    return _act(
        request,
        session,
        web_user,
        clock,
        patient_id,
        lambda: reviews.record_review(
            session,
            web_user.actor,
            patient_id,
            recommendation=recommendation,
            detail=detail or None,
            proposed_change=proposed,
            clock=clock,
        ),
        "reviewed",
    )


@router.post("/patients/{patient_id}/outcomes/reviews/{review_id}")
def decide_review(
    request: Request,
    patient_id: uuid.UUID,
    review_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    decision: Annotated[str, Form(pattern="^(accept|decline)$")],
    reason: Annotated[str, Form(max_length=2000)] = "",
    web_user: WebUser = CLINICIANS,
) -> Response:
    return _act(
        request,
        session,
        web_user,
        clock,
        patient_id,
        lambda: reviews.decide_review(
            session,
            web_user.actor,
            review_id,
            accept=decision == "accept",
            reason=reason or None,
            clock=clock,
        ),
        "accepted" if decision == "accept" else "declined",
    )


@router.post("/patients/{patient_id}/outcomes/timer")
def start_timer(patient_id: uuid.UUID, clock: ClockDep, web_user: WebUser = CLINICIANS) -> Response:
    """Start the minutes timer: the start time rides in the page (no server state until it is logged)."""
    return _see_other(
        f"/patients/{patient_id}/outcomes?timer={clock.now().strftime('%Y-%m-%dT%H:%M:%SZ')}#minutes"
    )


@router.post("/patients/{patient_id}/outcomes/minutes")
def log_minutes(
    request: Request,
    patient_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    activity: Annotated[str, Form(max_length=32)],
    minutes_spent: Annotated[str, Form(max_length=4)] = "",
    on_date: Annotated[str, Form(max_length=10)] = "",
    started_at: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    web_user: WebUser = CLINICIANS,
) -> Response:
    def log() -> None:
        start = stop = None
        if started_at:
            try:
                start = datetime.fromisoformat(started_at.replace("Z", "+00:00")).astimezone(UTC)
            except ValueError:
                raise InvalidInput("The timer's start is not a time.", fields=[]) from None
            stop = clock.now()
        try:
            day = date.fromisoformat(on_date) if on_date else clock.now().date()
        except ValueError:
            from careweave.core.errors import FieldError

            raise InvalidInput("The day is not a date.", fields=[FieldError("date", "YYYY-MM-DD")]) from None
        spent = int(minutes_spent) if minutes_spent.strip().isdecimal() else 0
        minutes.log_time(
            session,
            web_user.actor,
            patient_id,
            on_date=day,
            minutes=spent,
            activity=activity,
            note=note or None,
            started_at=start,
            stopped_at=stop,
            clock=clock,
        )

    return _act(request, session, web_user, clock, patient_id, log, "logged")


# ------------------------------------------------------------------ billing and outcomes


@router.get("/billing/cocm")
def billing_page(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    month: Annotated[str | None, Query(max_length=7)] = None,
    format: Annotated[str, Query(pattern="^(html|csv)$")] = "html",
    web_user: WebUser = PROGRAM,
) -> Response:
    chosen = month or clock.now().date().strftime("%Y-%m")
    error = None
    try:
        lines = minutes.billing_month(session, web_user.actor, chosen, clock=clock)
    except InvalidInput as exc:
        error, lines = exc, []
    if format == "csv" and error is None:
        return Response(
            minutes.billing_csv(lines),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="cocm-{chosen}.csv"'},
        )
    return render(
        request,
        "outcomes/billing.html",
        {"lines": lines, "month": chosen, "error": error, "descriptors": billing.descriptors()},
        status_code=error.status if error else 200,
    )


@router.get("/outcomes/report")
def report_page(
    request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = REPORT_READERS
) -> Response:
    groups = report.outcomes_report(session, web_user.actor, clock=clock)
    return render(request, "outcomes/report.html", {"groups": groups})


# ------------------------------------------------------------------ the patient's check-ins


@router.get("/checkins")
def checkins(request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = PATIENT) -> Response:
    patient_id = web_user.actor.patient_id
    due = service.due_for_patient(session, patient_id, on=clock.now().date()) if patient_id else []
    return render(request, "outcomes/checkins.html", {"due": due})
