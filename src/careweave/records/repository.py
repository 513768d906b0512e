"""Treatment-plan and clinical-note queries. Psychotherapy notes are only ever queried by their author."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.identity.models import User
from careweave.records.models import (
    ClinicalNote,
    NoteAddendum,
    PlanVersion,
    PsychotherapyNote,
    TreatmentPlan,
)
from careweave.scheduling.models import Appointment


def plan_for(session: Session, patient_id: uuid.UUID, *, for_update: bool = False) -> TreatmentPlan | None:
    stmt = select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def version(session: Session, plan_id: uuid.UUID, number: int) -> PlanVersion | None:
    return session.scalars(
        select(PlanVersion).where(PlanVersion.plan_id == plan_id, PlanVersion.version == number)
    ).one_or_none()


def versions(session: Session, plan_id: uuid.UUID) -> list[PlanVersion]:
    return list(
        session.scalars(
            select(PlanVersion).where(PlanVersion.plan_id == plan_id).order_by(PlanVersion.version)
        )
    )


def version_authors(session: Session, plan_id: uuid.UUID) -> set[uuid.UUID]:
    rows = session.scalars(
        select(PlanVersion.changed_by).where(
            PlanVersion.plan_id == plan_id, PlanVersion.changed_by.is_not(None)
        )
    )
    return {r for r in rows if r is not None}


def notes_for(session: Session, patient_id: uuid.UUID) -> list[ClinicalNote]:
    return list(
        session.scalars(
            select(ClinicalNote)
            .where(ClinicalNote.patient_id == patient_id)
            .order_by(ClinicalNote.created_at.desc(), ClinicalNote.id)
        )
    )


def psychotherapy_notes_by(
    session: Session, patient_id: uuid.UUID, author_user_id: uuid.UUID
) -> list[PsychotherapyNote]:
    """Only the author's own: no query returns anyone else's psychotherapy notes."""
    return list(
        session.scalars(
            select(PsychotherapyNote)
            .where(
                PsychotherapyNote.patient_id == patient_id, PsychotherapyNote.author_user_id == author_user_id
            )
            .order_by(PsychotherapyNote.created_at.desc(), PsychotherapyNote.id)
        )
    )


def addenda_for(session: Session, note_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[NoteAddendum]]:
    ids = list(note_ids)
    out: dict[uuid.UUID, list[NoteAddendum]] = {i: [] for i in ids}
    if not ids:
        return out
    for row in session.scalars(
        select(NoteAddendum)
        .where(NoteAddendum.note_id.in_(ids))
        .order_by(NoteAddendum.created_at, NoteAddendum.id)
    ):
        out[row.note_id].append(row)
    return out


def user_names(session: Session, user_ids: Iterable[uuid.UUID | str | None]) -> dict[str, str]:
    ids: set[uuid.UUID] = set()
    for raw in user_ids:
        if raw is None:
            continue
        try:
            ids.add(raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw)))
        except ValueError:
            continue
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.full_name, User.email).where(User.id.in_(ids)))
    return {str(uid): name or email for uid, name, email in rows}


def appointment_patient(session: Session, appointment_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalar(select(Appointment.patient_id).where(Appointment.id == appointment_id))
