"""JSON API for the shared treatment plan and clinical notes (issue #6)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, status

from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.records import service
from careweave.records.schemas import (
    AcknowledgeRead,
    AcknowledgeRequest,
    AddendumCreate,
    AddendumRead,
    ChangeRead,
    GoalRead,
    HiddenPart,
    InterventionRead,
    NoteCreate,
    NoteRead,
    NoteUpdate,
    PlainPlanRead,
    PlanRead,
    PlanVersionRead,
    PlanWrite,
    ProblemRead,
)

router = APIRouter(tags=["records"])
HIDDEN = {
    403: {"description": "On the care team, but the patient has not shared this with you (reason given)"},
    404: {"description": "No such patient or note, or not yours to see"},
}
WRITE = {**HIDDEN, 409: {"description": "Stale base_version, or the note is signed (addenda only)"}}


def plan_read(view: service.PlanView) -> PlanRead:
    c = view.content
    return PlanRead(
        patient_id=view.patient_id,
        version=view.version,
        changed_by=view.changed_by,
        changed_by_name=view.names.get(str(view.changed_by)) if view.changed_by else None,
        changed_at=view.changed_at,
        reason=view.reason,
        problems=[ProblemRead(code=p["code"], description=p["description"]) for p in c["problems"]],
        goals=[
            GoalRead(
                instrument=g["instrument"],
                comparator=g["comparator"],
                target=g["target"],
                due=g["due"],
                description=g.get("description"),
            )
            for g in c["goals"]
        ],
        interventions=[
            InterventionRead(
                discipline=i["discipline"],
                owner_user_id=i["owner_user_id"],
                owner_name=view.names.get(i["owner_user_id"], ""),
                description=i["description"],
                frequency=i.get("frequency"),
            )
            for i in c["interventions"]
        ],
        review_date=c.get("review_date"),
        hidden=[
            HiddenPart(part=h.part, category=h.category, count=h.count, reason=h.reason) for h in view.hidden
        ],
        plain_language=PlainPlanRead(
            problems=view.plain.problems,
            goals=view.plain.goals,
            interventions=view.plain.interventions,
            review=view.plain.review,
        ),
        acknowledged_version=view.acknowledged_version,
        acknowledged_at=view.acknowledged_at,
    )


def note_read(view: service.NoteView) -> NoteRead:
    n = view.note
    progress = view.kind == "progress"
    return NoteRead(
        id=n.id,
        kind=view.kind,
        patient_id=n.patient_id,
        author_user_id=n.author_user_id,
        author_name=view.author_name,
        appointment_id=n.appointment_id,
        format=getattr(n, "format", None) if progress else None,
        sections=getattr(n, "sections", None) if progress else None,
        body=None if progress else getattr(n, "body", None),
        category=view.category,
        status=view.status,
        signed_at=n.signed_at,
        created_at=n.created_at,
        addenda=[
            AddendumRead(
                id=a.id,
                author_user_id=a.author_user_id,
                author_name=name,
                body=a.body,
                created_at=a.created_at,
            )
            for a, name in view.addenda
        ],
    )


@router.get(
    "/patients/{patient_id}/plan",
    response_model=PlanRead,
    responses=HIDDEN,
    summary="The treatment plan as you may see it (version 0: none yet), with a plain-language rendering",
)
def get_plan(patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep) -> PlanRead:
    return plan_read(service.get_plan(session, actor, patient_id, clock=clock))


@router.put(
    "/patients/{patient_id}/plan",
    response_model=PlanRead,
    responses=WRITE,
    summary="Write the full new plan (a new version) with the reason; base_version must be the current one",
)
def put_plan(
    patient_id: uuid.UUID, body: PlanWrite, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> PlanRead:
    raw = body.model_dump(mode="json", exclude={"reason", "base_version"})
    view = service.update_plan(
        session, actor, patient_id, raw, reason=body.reason, base_version=body.base_version, clock=clock
    )
    return plan_read(view)


@router.get(
    "/patients/{patient_id}/plan/versions",
    response_model=list[PlanVersionRead],
    responses=HIDDEN,
    summary="Every version with who, when, why and what changed",
)
def plan_versions(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[PlanVersionRead]:
    return [
        PlanVersionRead(
            version=v.version.version,
            changed_by=v.version.changed_by,
            changed_by_name=v.changed_by_name,
            changed_at=v.version.changed_at,
            reason=v.version.reason,
            changes=[
                ChangeRead(part=c.part, kind=c.kind, label=c.label, fields=list(c.fields)) for c in v.changes
            ],
        )
        for v in service.plan_versions(session, actor, patient_id, clock=clock)
    ]


@router.post(
    "/patients/{patient_id}/plan/acknowledge",
    response_model=AcknowledgeRead,
    responses=WRITE,
    summary='The patient acknowledges the current plan ("I have read this plan")',
)
def acknowledge_plan(
    patient_id: uuid.UUID,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    body: Annotated[AcknowledgeRequest | None, Body()] = None,
) -> AcknowledgeRead:
    plan = service.acknowledge_plan(
        session, actor, patient_id, version=body.version if body else None, clock=clock
    )
    assert plan.acknowledged_version is not None
    assert plan.acknowledged_at is not None
    return AcknowledgeRead(
        acknowledged_version=plan.acknowledged_version, acknowledged_at=plan.acknowledged_at
    )


@router.get(
    "/patients/{patient_id}/notes",
    response_model=list[NoteRead],
    responses=HIDDEN,
    summary="The notes you may see (yours; others' signed notes the patient shared with you)",
)
def list_notes(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[NoteRead]:
    return [note_read(v) for v in service.list_notes(session, actor, patient_id, clock=clock)]


@router.post(
    "/patients/{patient_id}/notes",
    response_model=NoteRead,
    status_code=status.HTTP_201_CREATED,
    responses=HIDDEN,
    summary="Write a draft progress note (SOAP or DAP) or a psychotherapy note (only you will ever see it)",
)
def create_note(
    patient_id: uuid.UUID, body: NoteCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> NoteRead:
    data = service.NoteIn(
        kind=body.kind,
        format=body.format,
        sections=body.sections,
        body=body.body,
        appointment_id=body.appointment_id,
        substance_use=body.substance_use,
    )
    return note_read(service.create_note(session, actor, patient_id, data, clock=clock))


@router.get("/notes/{note_id}", response_model=NoteRead, responses=HIDDEN, summary="One note")
def get_note(note_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep) -> NoteRead:
    return note_read(service.get_note(session, actor, note_id, clock=clock))


@router.put(
    "/notes/{note_id}",
    response_model=NoteRead,
    responses=WRITE,
    summary="Change a draft note (its author only); a signed note gets 409",
)
def update_note(
    note_id: uuid.UUID, body: NoteUpdate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> NoteRead:
    view = service.update_note(session, actor, note_id, sections=body.sections, body=body.body, clock=clock)
    return note_read(view)


@router.post(
    "/notes/{note_id}/sign",
    response_model=NoteRead,
    responses=WRITE,
    summary="Sign a note (its author only); it cannot be changed afterwards",
)
def sign_note(note_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep) -> NoteRead:
    return note_read(service.sign_note(session, actor, note_id, clock=clock))


@router.post(
    "/notes/{note_id}/addenda",
    response_model=NoteRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
    summary="Add an addendum to a signed progress note",
)
def add_addendum(
    note_id: uuid.UUID, body: AddendumCreate, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> NoteRead:
    return note_read(service.add_addendum(session, actor, note_id, body=body.body, clock=clock))
