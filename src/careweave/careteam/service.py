"""Care-team use cases: who is on a patient's team (the patient sees it), joining (booking, an accepted
referral, assignment by the clinic), leaving, and break-the-glass access for an emergency."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.careteam import repository as repo
from careweave.careteam.models import MEMBER_ROLES, BreakGlassAccess, CareTeamMember
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound
from careweave.directory.models import Provider
from careweave.identity.models import User
from careweave.jobs import queue
from careweave.notify.mail import Mail
from careweave.patients import service as patients

ROLE_FOR_USER = {
    Role.THERAPIST: "therapist",
    Role.PSYCHIATRIST: "prescriber",
    Role.CARE_MANAGER: "care_manager",
}
BREAK_GLASS_MINUTES = 60
MIN_REASON = 10


@dataclass(frozen=True, slots=True)
class TeamView:
    member: CareTeamMember
    name: str
    email: str
    credential: str | None

    @property
    def current(self) -> bool:
        return self.member.end_date is None


def ensure_member(
    session: Session,
    *,
    patient_id: uuid.UUID,
    user_id: uuid.UUID,
    basis: str,
    clock: Clock,
    role: str | None = None,
    provider_id: uuid.UUID | None = None,
    added_by: uuid.UUID | None = None,
    referral_id: uuid.UUID | None = None,
) -> CareTeamMember:
    """Put the clinician on the patient's team (idempotent: an existing membership is kept as it is)."""
    existing = repo.current(session, patient_id, user_id)
    if existing is not None:
        if existing.provider_id is None:  # joined before the clinician had a directory profile
            existing.provider_id = provider_id or session.scalar(
                select(Provider.id).where(Provider.user_id == user_id)
            )
            if existing.provider_id is not None:
                _recount(session, existing.provider_id)
        return existing
    user = session.get(User, user_id)
    if user is None or Role(user.role) not in CLINICAL_ROLES:
        raise InvalidInput(
            "Only clinicians join a care team.", fields=[FieldError("user_id", "not a clinician")]
        )
    if provider_id is None:
        provider_id = session.scalar(select(Provider.id).where(Provider.user_id == user_id))
    member = CareTeamMember(
        patient_id=patient_id,
        user_id=user_id,
        provider_id=provider_id,
        role=role or ROLE_FOR_USER[Role(user.role)],
        basis=basis,
        start_date=clock.now().date(),
        added_by=added_by,
        referral_id=referral_id,
    )
    session.add(member)
    session.flush()
    if provider_id is not None:
        _recount(session, provider_id)
    audit.record(
        session,
        Actor.system() if added_by is None else _as_user(added_by),
        "care_team.joined",
        clock=clock,
        entity_type="care_team_member",
        entity_id=member.id,
        patient_id=patient_id,
        details={"user_id": str(user_id), "role": member.role, "basis": basis},
    )
    return member


def _recount(session: Session, provider_id: uuid.UUID) -> None:
    from careweave.directory import service as directory  # it imports patients, which import care teams

    directory.recount_caseload(session, provider_id)


def _as_user(user_id: uuid.UUID) -> Actor:
    return Actor(user_id=user_id, role=None, system_actor=True, purpose="treatment")


def team(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> list[TeamView]:
    """The patient's team (current and past), for the patient, their team and clinic administrators."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.CARE_TEAM_READ, ref, clock=clock, event="care_team.viewed")
    rows = repo.members(session, patient.id)
    audit.record(
        session,
        actor,
        "care_team.viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    return views(session, rows)


def views(session: Session, rows: list[CareTeamMember]) -> list[TeamView]:
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({r.user_id for r in rows})))}
    provider_ids = {r.provider_id for r in rows if r.provider_id}
    stmt = select(Provider.id, Provider.credential).where(Provider.id.in_(provider_ids))
    creds = {row[0]: row[1] for row in session.execute(stmt)}
    return [
        TeamView(
            r,
            users[r.user_id].full_name or users[r.user_id].email,
            users[r.user_id].email,
            creds.get(r.provider_id) if r.provider_id else None,
        )
        for r in rows
        if r.user_id in users
    ]


def add_member(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    user_id: uuid.UUID,
    role: str | None,
    clock: Clock,
) -> CareTeamMember:
    """The clinic assigns a clinician (a care manager, a consultant, a covering clinician)."""
    _, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.CARE_TEAM_MANAGE, ref)
    if role is not None and role not in MEMBER_ROLES:
        raise InvalidInput("Unknown role.", fields=[FieldError("role", f"one of {', '.join(MEMBER_ROLES)}")])
    user = session.get(User, user_id)
    if user is None or user.clinic_id != ref.clinic_id:
        raise InvalidInput("No such clinician in this clinic.", fields=[FieldError("user_id", "unknown")])
    return ensure_member(
        session,
        patient_id=patient_id,
        user_id=user_id,
        basis="assigned",
        role=role,
        clock=clock,
        added_by=actor.user_id,
    )


def end_member(session: Session, actor: Actor, member_id: uuid.UUID, *, clock: Clock) -> CareTeamMember:
    member = session.get(CareTeamMember, member_id)
    if member is None:
        raise NotFound("No such care-team member.")
    _, ref = patients.get_patient_ref(session, member.patient_id)
    if actor.user_id != member.user_id:  # anyone may step off a team themself
        policy.require(actor, policy.Action.CARE_TEAM_MANAGE, ref)
    if member.end_date is not None:
        raise Conflict("This clinician has already left the care team.")
    member.end_date = clock.now().date()
    if member.provider_id is not None:
        _recount(session, member.provider_id)
    audit.record(
        session,
        actor,
        "care_team.left",
        clock=clock,
        entity_type="care_team_member",
        entity_id=member.id,
        patient_id=member.patient_id,
        details={"user_id": str(member.user_id)},
    )
    return member


def my_patient_ids(session: Session, actor: Actor, on: date) -> list[uuid.UUID]:
    if actor.user_id is None:
        return []
    return repo.patients_of(session, actor.user_id, on)


# ------------------------------------------------------------------ break the glass


def break_glass(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, reason: str, clock: Clock
) -> BreakGlassAccess:
    """Open a record outside the care team for a recorded emergency reason, for an hour: audited, shown to the
    patient's team and on the administrators' review list. Psychotherapy notes stay closed."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    if actor.role not in CLINICAL_ROLES or actor.clinic_id is None or actor.clinic_id != ref.clinic_id:
        raise NotFound("No such patient.")
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise InvalidInput(
            "Say why this is an emergency.",
            fields=[FieldError("reason", f"at least {MIN_REASON} characters")],
        )
    now = clock.now()
    access = BreakGlassAccess(
        patient_id=patient.id,
        user_id=actor.user_id,
        reason=reason[:2000],
        started_at=now,
        expires_at=now + timedelta(minutes=BREAK_GLASS_MINUTES),
        minutes=BREAK_GLASS_MINUTES,
    )
    session.add(access)
    session.flush()
    audit.record(
        session,
        actor,
        "break_glass.opened",
        clock=clock,
        entity_type="break_glass_access",
        entity_id=access.id,
        patient_id=patient.id,
        details={"minutes": BREAK_GLASS_MINUTES},
    )
    _flag_break_glass(session, access, clock=clock)
    return access


def _flag_break_glass(session: Session, access: BreakGlassAccess, *, clock: Clock) -> None:
    """Tell the patient's current team (by e-mail, through the job queue; no clinical content)."""
    queue.enqueue(
        session,
        "break_glass.notice",
        {"access_id": str(access.id)},
        run_at=clock.now(),
        dedupe_key=f"break-glass:{access.id}",
    )


def review_list(session: Session, actor: Actor, *, include_reviewed: bool = False) -> list[BreakGlassAccess]:
    policy.require(actor, policy.Action.BREAK_GLASS_REVIEW)
    from careweave.patients.models import Patient

    stmt = (
        select(BreakGlassAccess)
        .join(Patient, Patient.id == BreakGlassAccess.patient_id)
        .where(Patient.clinic_id == actor.clinic_id)
        .order_by(BreakGlassAccess.started_at.desc())
        .limit(200)
    )
    if not include_reviewed:
        stmt = stmt.where(BreakGlassAccess.reviewed_at.is_(None))
    return list(session.scalars(stmt))


def review(
    session: Session, actor: Actor, access_id: uuid.UUID, *, note: str, clock: Clock
) -> BreakGlassAccess:
    policy.require(actor, policy.Action.BREAK_GLASS_REVIEW)
    access = session.get(BreakGlassAccess, access_id)
    if access is None:
        raise NotFound("No such access.")
    if access.reviewed_at is not None:
        raise Conflict("Already reviewed.")
    access.reviewed_at, access.reviewed_by, access.review_note = (
        clock.now(),
        actor.user_id,
        (note or "")[:2000],
    )
    audit.record(
        session,
        actor,
        "break_glass.reviewed",
        clock=clock,
        entity_type="break_glass_access",
        entity_id=access.id,
        patient_id=access.patient_id,
    )
    return access


# ------------------------------------------------------------------ jobs


@queue.handler("break_glass.notice")
def send_break_glass_notice(ctx: queue.JobContext, payload: Mapping[str, Any]) -> None:
    """Tell the patient's care team and the clinic's administrators that someone broke the glass (who and when;
    the reason stays in the record)."""
    from careweave.patients.models import Patient

    access = ctx.session.get(BreakGlassAccess, uuid.UUID(str(payload["access_id"])))
    if access is None:
        return
    patient = ctx.session.get(Patient, access.patient_id)
    opener = ctx.session.get(User, access.user_id)
    if patient is None or opener is None:
        return
    team_ids = {m.user_id for m in repo.members(ctx.session, patient.id, current_on=access.started_at.date())}
    admins = set(
        ctx.session.scalars(
            select(User.id).where(User.clinic_id == patient.clinic_id, User.role == Role.ADMIN.value)
        )
    )
    link = f"{ctx.settings.base_url}/admin/break-glass"
    for user in ctx.session.scalars(select(User).where(User.id.in_((team_ids | admins) - {opener.id}))):
        ctx.mailer.send(
            Mail(
                to=user.email,
                subject="Emergency access to a patient's record in Careweave",
                body=(
                    f"{opener.full_name or opener.email} opened the record of a patient of your clinic outside the "
                    f"care team for an emergency, at {access.started_at:%Y-%m-%d %H:%M} UTC. The access is recorded "
                    f"with its reason and will be reviewed:\n{link}"
                ),
            )
        )
