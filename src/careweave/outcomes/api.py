"""JSON API for measurement-based care (issue #8): status, episodes, the registry, reviews, minutes, billing."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.outcomes import minutes, registry, report, reviews, rules, service
from careweave.outcomes.models import CareEpisode, CaseReview
from careweave.outcomes.schemas import (
    BillingRead,
    CodeRead,
    EpisodeEnd,
    EpisodeRead,
    EpisodeStart,
    MeasurementStatusRead,
    MeasureRequestCreate,
    OutcomeGroupRead,
    ProposedChange,
    RegistryRead,
    RegistryRowRead,
    RegistrySummaryRead,
    ReviewCreate,
    ReviewDecision,
    ReviewRead,
    ScoreRead,
    TimeEntryCreate,
    TimeEntryRead,
)

router = APIRouter(tags=["measurement-based care"])
HIDDEN = {
    403: {"description": "On the care team, but the patient has not shared this with you (reason given)"},
    404: {"description": "No such patient, or not yours to see"},
}
WRITE = {**HIDDEN, 409: {"description": "No open episode, one already open, or already decided"}}


def _score(s: rules.Score | None) -> ScoreRead | None:
    return ScoreRead(score=s.value, at=s.at, prorated=s.prorated) if s else None


def _episode(e: CareEpisode) -> EpisodeRead:
    return EpisodeRead(
        id=e.id,
        patient_id=e.patient_id,
        started_on=e.started_on,
        start_reason=e.start_reason,
        care_manager_id=e.care_manager_user_id,
        consultant_id=e.consultant_user_id,
        instruments=list(e.instruments),
        interval_days=e.interval_days,
        ended_on=e.ended_on,
        end_reason=e.end_reason,
        relapse_prevention_plan=e.relapse_prevention_plan,
        status=e.status,
        next_due_on=e.next_due_on,
        last_contact_on=e.last_contact_on,
    )


def _review(r: CaseReview) -> ReviewRead:
    return ReviewRead(
        id=r.id,
        patient_id=r.patient_id,
        episode_id=r.episode_id,
        consultant_id=r.consultant_user_id,
        reviewed_on=r.reviewed_on,
        recommendation=r.recommendation,
        detail=r.detail,
        proposed_change=ProposedChange(**r.proposed_change) if r.proposed_change else None,
        decision=r.decision,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        decision_reason=r.decision_reason,
        plan_version=r.plan_version,
    )


@router.get(
    "/patients/{patient_id}/measurement-status",
    response_model=list[MeasurementStatusRead],
    responses=HIDDEN,
    summary="Per followed instrument: baseline, latest, change, % change, weeks in treatment, status (spec §2.2–2.3)",
)
def measurement_status(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[MeasurementStatusRead]:
    return [
        MeasurementStatusRead(
            instrument=s.instrument,
            baseline=_score(s.baseline),
            latest=_score(s.latest),
            change=s.change,
            percent_change=s.percent_change,
            weeks_in_treatment=s.weeks_in_treatment,
            status=s.status,
            flags=list(s.flags),
        )
        for s in service.measurement_status(session, actor, patient_id, clock=clock)
    ]


@router.post(
    "/patients/{patient_id}/episodes",
    response_model=EpisodeRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
    summary="Start an episode of care (enrolment or referral); assigned care manager and consultant join the team",
)
def start_episode(
    patient_id: uuid.UUID, body: EpisodeStart, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> EpisodeRead:
    episode = service.start_episode(
        session,
        actor,
        patient_id,
        clock=clock,
        start_reason=body.start_reason,
        care_manager_user_id=body.care_manager_id,
        consultant_user_id=body.consultant_id,
        instruments=body.instruments,
        interval_days=body.interval_days,
        started_on=body.started_on,
    )
    return _episode(episode)


@router.post(
    "/patients/{patient_id}/episodes/end",
    response_model=EpisodeRead,
    responses=WRITE,
    summary="End the open episode: goals_met (with a relapse-prevention plan), referred_out, patient_withdrew, inactive",
)
def end_episode(
    patient_id: uuid.UUID, body: EpisodeEnd, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> EpisodeRead:
    episode = service.end_episode(
        session,
        actor,
        patient_id,
        reason=body.reason,
        relapse_prevention_plan=body.relapse_prevention_plan,
        clock=clock,
    )
    return _episode(episode)


@router.post(
    "/patients/{patient_id}/measure-requests",
    response_model=EpisodeRead,
    responses=WRITE,
    summary="Send a questionnaire now: due today, the patient is told by e-mail and SMS",
)
def request_measure(
    patient_id: uuid.UUID,
    body: MeasureRequestCreate,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
) -> EpisodeRead:
    return _episode(
        service.request_measure(session, actor, patient_id, instrument=body.instrument, clock=clock)
    )


@router.get(
    "/registry",
    response_model=RegistryRead,
    summary="The caseload: open episodes you are care manager or consultant for, or treat; flags and filters",
)
def get_registry(
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    flag: Annotated[str | None, Query(description="any, or one of: " + ", ".join(rules.FLAGS))] = None,
    status_: Annotated[str | None, Query(alias="status", description=", ".join(rules.STATUSES))] = None,
    clinician_id: uuid.UUID | None = None,
    care_manager_id: uuid.UUID | None = None,
    sort: Annotated[
        str,
        Query(
            description=", ".join(
                ("flags", "name", "weeks", "latest", "percent_change", "last_contact", "next_due")
            )
        ),
    ] = "flags",
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> RegistryRead:
    page = registry.caseload(
        session,
        actor,
        clock=clock,
        flag=flag,
        status=status_,
        clinician_id=clinician_id,
        care_manager_id=care_manager_id,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )
    return RegistryRead(
        total=page.total,
        limit=limit,
        offset=offset,
        on=page.on,
        rows=[
            RegistryRowRead(
                patient_id=r.episode.patient_id,
                patient_name=r.patient_name,
                episode_id=r.episode.id,
                clinicians=r.clinicians,
                weeks_in_treatment=r.weeks_in_treatment,
                scores_visible=r.visible,
                measures=[
                    RegistrySummaryRead(
                        instrument=s.instrument,
                        baseline=s.baseline_score,
                        latest=s.latest_score,
                        percent_change=s.percent_change,
                        status=s.status,
                    )
                    for s in r.summaries
                ],
                last_contact_on=r.episode.last_contact_on,
                next_due_on=r.episode.next_due_on,
                flags=list(r.flags),
                last_review_on=r.episode.last_review_on,
                last_review_decision=r.reviewed.decision if r.reviewed else None,
            )
            for r in page.rows
        ],
    )


@router.post(
    "/patients/{patient_id}/reviews",
    response_model=ReviewRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
    summary="Record a caseload-review recommendation; a proposed_change waits for the treating clinician",
)
def create_review(
    patient_id: uuid.UUID, body: ReviewCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ReviewRead:
    review = reviews.record_review(
        session,
        actor,
        patient_id,
        recommendation=body.recommendation,
        detail=body.detail,
        proposed_change=body.proposed_change.model_dump() if body.proposed_change else None,
        clock=clock,
    )
    return _review(review)


@router.get("/patients/{patient_id}/reviews", response_model=list[ReviewRead], responses=HIDDEN)
def list_reviews(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[ReviewRead]:
    return [_review(r) for r in reviews.list_reviews(session, actor, patient_id, clock=clock)]


@router.post(
    "/reviews/{review_id}/decision",
    response_model=ReviewRead,
    responses=WRITE,
    summary="The treating clinician accepts (a new plan version) or declines (with a reason) the proposed change",
)
def decide_review(
    review_id: uuid.UUID, body: ReviewDecision, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ReviewRead:
    review = reviews.decide_review(
        session, actor, review_id, accept=body.accept, reason=body.reason, clock=clock
    )
    return _review(review)


@router.post(
    "/patients/{patient_id}/time-entries",
    response_model=TimeEntryRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
    summary="Log care-manager minutes (entered, or a timer's started_at/stopped_at)",
)
def log_time(
    patient_id: uuid.UUID, body: TimeEntryCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> TimeEntryRead:
    entry = minutes.log_time(
        session,
        actor,
        patient_id,
        on_date=body.date,
        minutes=body.minutes if body.minutes is not None else 0,
        activity=body.activity,
        note=body.note,
        started_at=body.started_at,
        stopped_at=body.stopped_at,
        clock=clock,
    )
    return TimeEntryRead(
        id=entry.id,
        patient_id=entry.patient_id,
        episode_id=entry.episode_id,
        staff_user_id=entry.staff_user_id,
        date=entry.on_date,
        minutes=entry.minutes,
        activity=entry.activity,
        note=entry.note,
    )


@router.get(
    "/billing/cocm",
    response_model=list[BillingRead],
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV"}},
    summary="Month-end CoCM codes per patient (99492/99493/99494/G2214, midpoint rule); format=csv for a file",
)
def billing_cocm(
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    month: Annotated[str, Query(pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")],
    format: Literal["json", "csv"] = "json",
) -> list[BillingRead] | Response:
    lines = minutes.billing_month(session, actor, month, clock=clock)
    if format == "csv":
        return Response(
            minutes.billing_csv(lines),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="cocm-{month}.csv"'},
        )
    return [
        BillingRead(
            patient_id=line.patient_id,
            month=line.summary.month,
            episode_month=line.summary.episode_month,
            minutes=line.summary.minutes,
            codes=[CodeRead(code=c.code, units=c.units) for c in line.summary.codes],
            qualifies=line.summary.qualifies,
            note=line.summary.note,
        )
        for line in lines
    ]


@router.get(
    "/outcomes/report",
    response_model=list[OutcomeGroupRead],
    summary="Follow-up share, response and remission at 6 and 12 months, median weeks to response; per clinician",
)
def outcomes_report(actor: CurrentActor, session: DbSession, clock: ClockDep) -> list[OutcomeGroupRead]:
    return [
        OutcomeGroupRead(
            group=g.group,
            clinician_id=g.clinician_id,
            patients=g.patients,
            with_follow_up=g.with_follow_up,
            follow_up_rate=g.follow_up_rate,
            six_months=g.six,
            twelve_months=g.twelve,
            median_weeks_to_response=g.median_weeks_to_response,
        )
        for g in report.outcomes_report(session, actor, clock=clock)
    ]
