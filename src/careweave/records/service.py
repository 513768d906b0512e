"""Treatment plan and clinical notes (issue #6).

The plan: one per patient, every change a new version with who, when and why; optimistic concurrency on the
version a writer started from. Readers need the "plan" category (or to have written a version of it); medication
interventions also need "medications", substance-related problems and alcohol goals "substance_use" (the author
of an item always sees it). A writer keeps what they cannot see untouched. The patient reads a plain-language
version and acknowledges it.

Notes: progress notes (SOAP/DAP), drafts visible only to their author, signed notes immutable (addenda only);
each note is shown to others by its category (progress_notes or substance_use). Psychotherapy notes live in
their own table and exist only for their author: anyone else gets 404, and they are in no one else's list or
count. Their audit events carry no patient id, so they stay out of the patient's "who viewed my record".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound, PolicyDenied
from careweave.patients import service as patients
from careweave.records import repository as repo
from careweave.records import rules
from careweave.records.models import ClinicalNote, NoteAddendum, PlanVersion, PsychotherapyNote, TreatmentPlan

EMPTY: dict[str, Any] = {"problems": [], "goals": [], "interventions": []}


class StaleVersion(Conflict):
    code = "records.stale_version"


class NoteSigned(Conflict):
    code = "records.note_signed"


class NotAuthor(PolicyDenied):
    code = "records.not_author"


# ------------------------------------------------------------------ access


def may_read_plan(actor: Actor, ref: policy.PatientRef, authors: set[uuid.UUID]) -> policy.Verdict:
    """PLAN_READ, where having written any version of the plan counts as being its author (a clinician keeps
    seeing the plan they contributed to while on the team, whatever consent says)."""
    verdict = policy.decide(actor, policy.Action.PLAN_READ, ref)
    if verdict.allowed or actor.user_id is None or actor.user_id not in authors or actor.role is Role.ADMIN:
        return verdict
    return policy.category_verdict(actor, ref, "plan", author_user_id=actor.user_id)


def _refuse(
    session: Session,
    actor: Actor,
    verdict: policy.Verdict,
    ref: policy.PatientRef,
    *,
    clock: Clock,
    event: str,
    action: policy.Action,
    entity_type: str | None = None,
    entity_id: object | None = None,
) -> Exception:
    audit.record(
        session,
        actor,
        event,
        clock=clock,
        outcome="denied",
        entity_type=entity_type,
        entity_id=entity_id,
        patient_id=ref.patient_id,
        details={"action": action.value, "on_team": verdict.on_team},
    )
    return policy.refusal(verdict, ref, recorded=True)


def _require_plan_read(
    session: Session,
    actor: Actor,
    ref: policy.PatientRef,
    plan: TreatmentPlan | None,
    *,
    clock: Clock,
    event: str,
) -> None:
    authors = repo.version_authors(session, plan.id) if plan is not None else set()
    verdict = may_read_plan(actor, ref, authors)
    if plan is None and verdict.on_team:
        return  # no plan yet: nothing to withhold from the team, who may start one
    if not verdict.allowed:
        raise _refuse(
            session,
            actor,
            verdict,
            ref,
            clock=clock,
            event=event,
            action=policy.Action.PLAN_READ,
            entity_type="treatment_plan",
            entity_id=plan.id if plan else None,
        )


def _sees(actor: Actor, ref: policy.PatientRef) -> rules.Sees:
    """Per item of a plan the reader may already read: medications and substance use ask consent again."""
    if actor.role is Role.PATIENT:
        return lambda category, authors: actor.patient_id == ref.patient_id
    me = str(actor.user_id)

    def sees(category: rules.ItemCategory, authors: frozenset[str]) -> bool:
        if category == "plan":
            return True
        author = actor.user_id if me in authors else None
        return policy.may_see(actor, ref, category, author_user_id=author)

    return sees


# ------------------------------------------------------------------ the plan


@dataclass(frozen=True, slots=True)
class PlanView:
    patient_id: uuid.UUID
    version: int
    content: dict[str, Any]  # as this reader may see it
    hidden: list[rules.Hidden]
    plain: rules.PlainPlan
    names: dict[str, str]
    changed_by: uuid.UUID | None = None
    changed_at: Any = None
    reason: str | None = None
    acknowledged_version: int | None = None
    acknowledged_at: Any = None
    team: list[tuple[str, str]] = field(default_factory=list)  # (user id, name) of current members


@dataclass(frozen=True, slots=True)
class VersionView:
    version: PlanVersion
    changed_by_name: str | None
    changes: list[rules.Change]


def _current_content(
    session: Session, plan: TreatmentPlan | None
) -> tuple[PlanVersion | None, dict[str, Any]]:
    if plan is None or plan.current_version == 0:
        return None, dict(EMPTY)
    current = repo.version(session, plan.id, plan.current_version)
    return current, dict(current.content) if current else dict(EMPTY)


def _team_ids(ref: policy.PatientRef) -> list[str]:
    on = ref.today()
    return [m.user_id for m in ref.team if m.active(on)]


def _plan_view(
    session: Session,
    actor: Actor,
    ref: policy.PatientRef,
    plan: TreatmentPlan | None,
    current: PlanVersion | None,
    content: dict[str, Any],
) -> PlanView:
    visible, hidden = rules.redact(content, _sees(actor, ref))
    team = _team_ids(ref)
    names = repo.user_names(
        session,
        [i["owner_user_id"] for i in visible["interventions"]]
        + [current.changed_by if current else None]
        + list(team),
    )
    return PlanView(
        patient_id=ref.patient_id,
        version=plan.current_version if plan else 0,
        content=visible,
        hidden=hidden,
        plain=rules.plain_language(visible, names),
        names=names,
        changed_by=current.changed_by if current else None,
        changed_at=current.changed_at if current else None,
        reason=current.reason if current else None,
        acknowledged_version=plan.acknowledged_version if plan else None,
        acknowledged_at=plan.acknowledged_at if plan else None,
        team=[(t, names.get(t, t)) for t in team],
    )


def get_plan(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> PlanView:
    patient, ref = patients.get_patient_ref(session, patient_id)
    plan = repo.plan_for(session, patient.id)
    _require_plan_read(session, actor, ref, plan, clock=clock, event="plan.viewed")
    current, content = _current_content(session, plan)
    view = _plan_view(session, actor, ref, plan, current, content)
    audit.record(
        session,
        actor,
        "plan.viewed",
        clock=clock,
        entity_type="treatment_plan",
        entity_id=plan.id if plan else None,
        patient_id=patient.id,
        details={"version": view.version, "hidden": sum(h.count for h in view.hidden)},
    )
    return view


def may_write_plan(session: Session, actor: Actor, patient_id: uuid.UUID) -> bool:
    """For pages: show the edit form? (The write itself checks again.)"""
    _, ref = patients.get_patient_ref(session, patient_id)
    if not policy.may(actor, policy.Action.PLAN_WRITE, ref):
        return False
    plan = repo.plan_for(session, patient_id)
    return plan is None or may_read_plan(actor, ref, repo.version_authors(session, plan.id)).allowed


def update_plan(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    raw: dict[str, Any],
    *,
    reason: str,
    base_version: int,
    clock: Clock,
) -> PlanView:
    """Write the full new content as the next version. ``base_version``: the version the writer edited."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.PLAN_WRITE, ref, clock=clock, event="plan.updated")
    plan = repo.plan_for(session, patient.id, for_update=True)
    if plan is not None:
        _require_plan_read(session, actor, ref, plan, clock=clock, event="plan.updated")
    current_number = plan.current_version if plan else 0
    if base_version != current_number:
        raise StaleVersion(
            f"The plan changed since you opened it (now version {current_number}). Reload it and reapply your changes.",
            fields=[FieldError("base_version", f"stale: the current version is {current_number}")],
        )
    now = clock.now()
    content, errors = rules.validate_plan(raw, today=ref.today(), team_user_ids=_team_ids(ref))
    errors += rules.validate_reason(reason)
    if errors:
        raise InvalidInput("The plan is not valid.", fields=errors)
    current, before = _current_content(session, plan)
    sees = _sees(actor, ref)
    content = rules.stamp_authors(content, before, str(actor.user_id))
    content = rules.merge_hidden(content, before, sees)
    try:
        with session.begin_nested():
            if plan is None:
                plan = TreatmentPlan(patient_id=patient.id, current_version=0, created_by=actor.user_id)
                session.add(plan)
                session.flush()
            plan.current_version = current_number + 1
            row = PlanVersion(
                plan_id=plan.id,
                version=plan.current_version,
                content=content,
                changed_by=actor.user_id,
                changed_at=now,
                reason=reason.strip(),
            )
            session.add(row)
            session.flush()
    except IntegrityError as exc:  # another writer created the plan or this version first
        raise StaleVersion(
            "Someone else changed the plan at the same moment. Reload it and reapply your changes.",
            fields=[FieldError("base_version", "stale")],
        ) from exc
    changes = rules.diff(before if current else None, content)
    audit.record(
        session,
        actor,
        "plan.updated",
        clock=clock,
        entity_type="treatment_plan",
        entity_id=plan.id,
        patient_id=patient.id,
        details={"version": plan.current_version, "base_version": base_version, "changes": len(changes)},
    )
    return _plan_view(session, actor, ref, plan, row, content)


def plan_versions(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> list[VersionView]:
    """Every version, oldest first, with who/when/why and what changed (as far as the reader may see)."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    plan = repo.plan_for(session, patient.id)
    _require_plan_read(session, actor, ref, plan, clock=clock, event="plan.viewed")
    rows = repo.versions(session, plan.id) if plan else []
    sees = _sees(actor, ref)
    names = repo.user_names(session, [r.changed_by for r in rows])
    out: list[VersionView] = []
    previous: dict[str, Any] | None = None
    for row in rows:
        visible, _ = rules.redact(row.content, sees)
        out.append(VersionView(row, names.get(str(row.changed_by)), rules.diff(previous, visible)))
        previous = visible
    audit.record(
        session,
        actor,
        "plan.viewed",
        clock=clock,
        entity_type="treatment_plan",
        entity_id=plan.id if plan else None,
        patient_id=patient.id,
        details={"history": True, "versions": len(rows)},
    )
    return out


def acknowledge_plan(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, version: int | None, clock: Clock
) -> TreatmentPlan:
    """The patient says "I have read this plan" (the current version, or the one they name if still current)."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.PLAN_ACKNOWLEDGE, ref, clock=clock, event="plan.acknowledged")
    plan = repo.plan_for(session, patient.id, for_update=True)
    if plan is None or plan.current_version == 0:
        raise NotFound("There is no plan to acknowledge yet.")
    if version is not None and version != plan.current_version:
        raise StaleVersion(
            "Your care team changed the plan since you opened it. Please read the new version.",
            fields=[FieldError("version", f"stale: the current version is {plan.current_version}")],
        )
    plan.acknowledged_version, plan.acknowledged_at = plan.current_version, clock.now()
    session.flush()
    audit.record(
        session,
        actor,
        "plan.acknowledged",
        clock=clock,
        entity_type="treatment_plan",
        entity_id=plan.id,
        patient_id=patient.id,
        details={"version": plan.current_version},
    )
    return plan


# ------------------------------------------------------------------ notes

Kind = Literal["progress", "psychotherapy"]


@dataclass(frozen=True, slots=True)
class NoteView:
    kind: Kind
    note: ClinicalNote | PsychotherapyNote
    author_name: str
    addenda: list[tuple[NoteAddendum, str]] = field(default_factory=list)

    @property
    def signed(self) -> bool:
        return self.note.signed_at is not None

    @property
    def status(self) -> Literal["draft", "signed"]:
        return "signed" if self.signed else "draft"

    @property
    def category(self) -> str:
        return self.note.category if isinstance(self.note, ClinicalNote) else "psychotherapy_notes"


@dataclass(frozen=True, slots=True)
class NoteIn:
    kind: Kind = "progress"
    format: str | None = None
    sections: dict[str, str] | None = None
    body: str | None = None
    appointment_id: uuid.UUID | None = None
    substance_use: bool = False


def _note_verdict(actor: Actor, ref: policy.PatientRef, note: ClinicalNote) -> policy.Verdict:
    if actor.role is Role.ADMIN:
        return policy.HIDDEN
    if note.status != "signed" and note.author_user_id != actor.user_id:
        return policy.HIDDEN  # a draft is its author's alone
    return policy.category_verdict(
        actor,
        ref,
        "substance_use" if note.category == "substance_use" else "progress_notes",
        author_user_id=note.author_user_id,
    )


def _may_see_psychotherapy(actor: Actor, ref: policy.PatientRef, note: PsychotherapyNote) -> bool:
    return (
        actor.user_id is not None
        and actor.user_id == note.author_user_id
        and policy.may_see(actor, ref, "psychotherapy_notes", author_user_id=note.author_user_id)
    )


def _psychotherapy_event(
    session: Session, actor: Actor, event: str, note_id: uuid.UUID, *, clock: Clock, outcome: str = "success"
) -> None:
    # No patient id: a psychotherapy note must not surface in the patient's record views or counts.
    audit.record(
        session,
        actor,
        event,
        clock=clock,
        outcome=outcome,
        entity_type="psychotherapy_note",
        entity_id=note_id,
    )


def _views(session: Session, notes: list[ClinicalNote], psych: list[PsychotherapyNote]) -> list[NoteView]:
    addenda = repo.addenda_for(session, [n.id for n in notes])
    names = repo.user_names(
        session,
        [n.author_user_id for n in notes]
        + [p.author_user_id for p in psych]
        + [a.author_user_id for rows in addenda.values() for a in rows],
    )
    out = [
        NoteView(
            "progress",
            n,
            names.get(str(n.author_user_id), ""),
            [(a, names.get(str(a.author_user_id), "")) for a in addenda.get(n.id, [])],
        )
        for n in notes
    ]
    out += [NoteView("psychotherapy", p, names.get(str(p.author_user_id), "")) for p in psych]
    return out


def list_notes(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> list[NoteView]:
    """The notes this caller may see: their own; others' signed notes by category and consent; their own
    psychotherapy notes (nobody else's, ever)."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    verdict = policy.decide(actor, policy.Action.NOTE_READ, ref)
    if not verdict.allowed and not verdict.on_team:
        raise _refuse(
            session, actor, verdict, ref, clock=clock, event="note.viewed", action=policy.Action.NOTE_READ
        )
    notes = [n for n in repo.notes_for(session, patient.id) if _note_verdict(actor, ref, n).allowed]
    psych: list[PsychotherapyNote] = []
    if actor.user_id is not None and actor.role in (Role.THERAPIST, Role.PSYCHIATRIST, Role.CARE_MANAGER):
        psych = [
            p
            for p in repo.psychotherapy_notes_by(session, patient.id, actor.user_id)
            if _may_see_psychotherapy(actor, ref, p)
        ]
    audit.record(
        session,
        actor,
        "note.viewed",
        clock=clock,
        entity_type="clinical_note",
        patient_id=patient.id,
        details={"listed": len(notes), "note_ids": [str(n.id) for n in notes][:50]},
    )
    for p in psych:
        _psychotherapy_event(session, actor, "psychotherapy_note.viewed", p.id, clock=clock)
    return _views(session, notes, psych)


def _load(
    session: Session, actor: Actor, note_id: uuid.UUID, *, clock: Clock, event: str
) -> tuple[ClinicalNote | PsychotherapyNote, policy.PatientRef]:
    """The note if the actor may see it; else 403 (a team member without consent) or 404, audited."""
    note = session.get(ClinicalNote, note_id)
    if note is not None:
        _, ref = patients.get_patient_ref(session, note.patient_id)
        verdict = _note_verdict(actor, ref, note)
        if not verdict.allowed:
            raise _refuse(
                session,
                actor,
                verdict,
                ref,
                clock=clock,
                event=event,
                action=policy.Action.NOTE_READ,
                entity_type="clinical_note",
                entity_id=note.id,
            )
        return note, ref
    psych = session.get(PsychotherapyNote, note_id)
    if psych is not None:
        _, ref = patients.get_patient_ref(session, psych.patient_id)
        if not _may_see_psychotherapy(actor, ref, psych):
            _psychotherapy_event(
                session, actor, "psychotherapy_note.viewed", psych.id, clock=clock, outcome="denied"
            )
            raise policy.RecordedNotFound("No such note.")
        return psych, ref
    raise NotFound("No such note.")


def _view(session: Session, note: ClinicalNote | PsychotherapyNote) -> NoteView:
    if isinstance(note, ClinicalNote):
        return _views(session, [note], [])[0]
    return _views(session, [], [note])[0]


def get_note(session: Session, actor: Actor, note_id: uuid.UUID, *, clock: Clock) -> NoteView:
    note, _ = _load(session, actor, note_id, clock=clock, event="note.viewed")
    if isinstance(note, PsychotherapyNote):
        _psychotherapy_event(session, actor, "psychotherapy_note.viewed", note.id, clock=clock)
    else:
        audit.record(
            session,
            actor,
            "note.viewed",
            clock=clock,
            entity_type="clinical_note",
            entity_id=note.id,
            patient_id=note.patient_id,
        )
    return _view(session, note)


def _check_appointment(session: Session, patient_id: uuid.UUID, appointment_id: uuid.UUID | None) -> None:
    if appointment_id is not None and repo.appointment_patient(session, appointment_id) != patient_id:
        raise InvalidInput(
            "That visit is not one of this patient's.",
            fields=[FieldError("appointment_id", "no such visit of this patient")],
        )


def _content(kind: Kind, fmt: str | None, sections: Any, body: Any) -> tuple[dict[str, str], str]:
    if kind == "psychotherapy":
        errors = [FieldError("sections", "psychotherapy notes are free text: use body")] if sections else []
        text, more = rules.validate_body(body)
        if errors or more:
            raise InvalidInput("The note is not valid.", fields=errors + more)
        return {}, text
    errors = [FieldError("body", "progress notes are written in sections")] if body else []
    clean, more = rules.validate_sections(fmt, sections)
    if errors or more:
        raise InvalidInput("The note is not valid.", fields=errors + more)
    return clean, ""


def create_note(
    session: Session, actor: Actor, patient_id: uuid.UUID, data: NoteIn, *, clock: Clock
) -> NoteView:
    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.NOTE_WRITE, ref, clock=clock, event="note.created")
    sections, body = _content(data.kind, data.format, data.sections, data.body)
    _check_appointment(session, patient.id, data.appointment_id)
    assert actor.user_id is not None
    if data.kind == "psychotherapy":
        psych = PsychotherapyNote(
            patient_id=patient.id, author_user_id=actor.user_id, appointment_id=data.appointment_id, body=body
        )
        session.add(psych)
        session.flush()
        _psychotherapy_event(session, actor, "psychotherapy_note.created", psych.id, clock=clock)
        return _view(session, psych)
    note = ClinicalNote(
        patient_id=patient.id,
        author_user_id=actor.user_id,
        appointment_id=data.appointment_id,
        format=data.format,
        sections=sections,
        category="substance_use" if data.substance_use else "progress_notes",
        status="draft",
    )
    session.add(note)
    session.flush()
    audit.record(
        session,
        actor,
        "note.created",
        clock=clock,
        entity_type="clinical_note",
        entity_id=note.id,
        patient_id=patient.id,
        details={"format": note.format, "category": note.category},
    )
    return _view(session, note)


def _writable(
    session: Session, actor: Actor, note_id: uuid.UUID, *, clock: Clock, event: str
) -> tuple[ClinicalNote | PsychotherapyNote, policy.PatientRef]:
    note, ref = _load(session, actor, note_id, clock=clock, event=event)
    if not policy.may(actor, policy.Action.NOTE_WRITE, ref):
        raise PolicyDenied("Only clinicians on the patient's care team change notes.")
    return note, ref


def update_note(
    session: Session,
    actor: Actor,
    note_id: uuid.UUID,
    *,
    sections: dict[str, str] | None,
    body: str | None,
    clock: Clock,
) -> NoteView:
    """Change a draft (its author only). A signed note is immutable: 409, add an addendum instead."""
    note, _ = _writable(session, actor, note_id, clock=clock, event="note.updated")
    if note.signed_at is not None:
        raise NoteSigned("This note is signed and cannot be changed. Add an addendum instead.")
    if note.author_user_id != actor.user_id:
        raise NotAuthor("Only the author edits a draft note.")
    if isinstance(note, PsychotherapyNote):
        _, note.body = _content("psychotherapy", None, sections, body)
        session.flush()
        _psychotherapy_event(session, actor, "psychotherapy_note.updated", note.id, clock=clock)
    else:
        note.sections, _ = _content("progress", note.format, sections, body)
        session.flush()
        audit.record(
            session,
            actor,
            "note.updated",
            clock=clock,
            entity_type="clinical_note",
            entity_id=note.id,
            patient_id=note.patient_id,
        )
    return _view(session, note)


def sign_note(session: Session, actor: Actor, note_id: uuid.UUID, *, clock: Clock) -> NoteView:
    note, _ = _writable(session, actor, note_id, clock=clock, event="note.signed")
    if note.author_user_id != actor.user_id:
        raise NotAuthor("Only the author signs a note.")
    if note.signed_at is not None:
        raise NoteSigned("This note is already signed.")
    note.signed_at = clock.now()
    if isinstance(note, PsychotherapyNote):
        session.flush()
        _psychotherapy_event(session, actor, "psychotherapy_note.signed", note.id, clock=clock)
    else:
        note.status = "signed"
        session.flush()
        audit.record(
            session,
            actor,
            "note.signed",
            clock=clock,
            entity_type="clinical_note",
            entity_id=note.id,
            patient_id=note.patient_id,
        )
    return _view(session, note)


def add_addendum(session: Session, actor: Actor, note_id: uuid.UUID, *, body: str, clock: Clock) -> NoteView:
    """An addendum to a signed progress note, by a clinician on the team who may see the note."""
    note, _ = _writable(session, actor, note_id, clock=clock, event="note.addendum_added")
    if isinstance(note, PsychotherapyNote):
        raise Conflict("Psychotherapy notes take no addenda; write a new note instead.")
    if note.status != "signed":
        raise Conflict("This note is still a draft: edit it instead of adding an addendum.")
    text, errors = rules.validate_body(body)
    if errors:
        raise InvalidInput("The addendum is not valid.", fields=errors)
    assert actor.user_id is not None
    row = NoteAddendum(note_id=note.id, author_user_id=actor.user_id, body=text)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "note.addendum_added",
        clock=clock,
        entity_type="clinical_note",
        entity_id=note.id,
        patient_id=note.patient_id,
        details={"addendum_id": str(row.id)},
    )
    return _view(session, note)
