"""Consent use cases: the patient grants, changes and revokes what their clinicians may share; clinicians ask;
"who can see what". Only the patient writes directives. Policy reads them on every request (nothing cached),
so a revocation takes effect on the next request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.careteam import repository as team_repo
from careweave.consent import repository as repo
from careweave.consent import rules
from careweave.consent.models import ConsentDirective, ConsentRequest
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound
from careweave.identity.models import User
from careweave.patients import service as patients


@dataclass(frozen=True, slots=True)
class GrantIn:
    grantee_user_id: uuid.UUID | None
    care_team: bool
    categories: tuple[str, ...]
    expires: date | None = None


def _validate(session: Session, patient_clinic: uuid.UUID | None, data: GrantIn, today: date) -> list[str]:
    errors: list[FieldError] = []
    ok, bad = rules.shareable(data.categories)
    if "psychotherapy_notes" in bad:
        errors.append(
            FieldError(
                "categories",
                "psychotherapy notes are never shared by a consent (they stay with the clinician who wrote them)",
            )
        )
    elif bad:
        errors.append(FieldError("categories", f"unknown categories: {', '.join(sorted(bad))}"))
    if not ok and not bad:
        errors.append(FieldError("categories", "choose at least one"))
    if (data.grantee_user_id is None) == (not data.care_team):
        errors.append(FieldError("grantee", "a named clinician or the whole care team, not both"))
    if data.grantee_user_id is not None:
        user = session.get(User, data.grantee_user_id)
        if user is None or Role(user.role) not in CLINICAL_ROLES or user.clinic_id != patient_clinic:
            errors.append(FieldError("grantee.provider_id", "no such clinician"))
    if data.expires is not None and data.expires < today:
        errors.append(FieldError("expires", "must be today or later"))
    if errors:
        raise InvalidInput("The consent is not valid.", fields=errors)
    return sorted(set(ok))


def grant(
    session: Session, actor: Actor, patient_id: uuid.UUID, data: GrantIn, *, clock: Clock
) -> ConsentDirective:
    """The patient permits sharing ``categories`` with one clinician or their whole care team."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.CONSENT_MANAGE, ref)
    categories = _validate(session, patient.clinic_id, data, clock.now().date())
    directive = ConsentDirective(
        patient_id=patient.id,
        grantee_user_id=data.grantee_user_id,
        grantee_care_team=data.care_team,
        categories=categories,
        expires=data.expires,
        status="active",
        granted_at=clock.now(),
        granted_by=actor.user_id,
    )
    session.add(directive)
    session.flush()
    audit.record(
        session,
        actor,
        "consent.granted",
        clock=clock,
        entity_type="consent_directive",
        entity_id=directive.id,
        patient_id=patient.id,
        details={
            "categories": categories,
            "grantee": str(data.grantee_user_id) if data.grantee_user_id else "care_team",
            "expires": data.expires.isoformat() if data.expires else None,
        },
    )
    _settle_requests(session, patient.id, directive, clock=clock)
    return directive


def _settle_requests(
    session: Session, patient_id: uuid.UUID, directive: ConsentDirective, *, clock: Clock
) -> None:
    """Pending requests this directive now covers are granted."""
    for req in session.scalars(
        select(ConsentRequest).where(
            ConsentRequest.patient_id == patient_id, ConsentRequest.status == "pending"
        )
    ):
        covered = directive.grantee_care_team or directive.grantee_user_id == req.for_user_id
        if covered and set(req.categories) <= set(directive.categories):
            req.status, req.resolved_at, req.directive_id = "granted", clock.now(), directive.id


def revoke(session: Session, actor: Actor, directive_id: uuid.UUID, *, clock: Clock) -> ConsentDirective:
    directive = session.get(ConsentDirective, directive_id)
    if directive is None:
        raise NotFound("No such consent.")
    _, ref = patients.get_patient_ref(session, directive.patient_id)
    if not policy.may(actor, policy.Action.CONSENT_MANAGE, ref):
        raise NotFound("No such consent.")
    if directive.status != "active":
        raise Conflict("This consent is already revoked.")
    directive.status, directive.revoked_at, directive.revoked_by = "revoked", clock.now(), actor.user_id
    audit.record(
        session,
        actor,
        "consent.revoked",
        clock=clock,
        entity_type="consent_directive",
        entity_id=directive.id,
        patient_id=directive.patient_id,
        details={"categories": list(directive.categories)},
    )
    return directive


def directives(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> list[ConsentDirective]:
    """The patient's directives (history included): the patient, and their care team (to know what they have)."""
    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, policy.Action.CONSENT_READ, ref, clock=clock, event="consent.viewed")
    rows = repo.directives(session, patient.id)
    audit.record(
        session,
        actor,
        "consent.viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    return rows


@dataclass(frozen=True, slots=True)
class Row:
    """One line of "who can see what": a clinician on the team and, per category, yes/no with why."""

    user_id: uuid.UUID
    name: str
    role: str
    cells: dict[str, rules.Decision]


def who_can_see(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> list[Row]:
    _, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.CONSENT_READ, ref)
    today = clock.now().date()
    members = [m for m in ref.team if m.active(today)]
    names = {
        str(u.id): u.full_name or u.email
        for u in session.scalars(select(User).where(User.id.in_([uuid.UUID(m.user_id) for m in members])))
    }
    return [
        Row(
            uuid.UUID(m.user_id),
            names.get(m.user_id, "Clinician"),
            m.role,
            {c: rules.decide(m.user_id, ref.team, ref.grants, c, on=today) for c in rules.CATEGORIES},
        )
        for m in members
    ]


def request_consent(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    for_user_id: uuid.UUID,
    categories: list[str],
    clock: Clock,
    referral_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> ConsentRequest | None:
    """Ask the patient to share ``categories`` with ``for_user_id`` (a care-team member or a referral's
    receiver). None when everything asked is already shared with them."""
    _, ref = patients.get_patient_ref(session, patient_id)
    if not actor.is_system:
        policy.require(actor, policy.Action.CONSENT_REQUEST, ref)
    ok, bad = rules.shareable(categories)
    if bad:
        raise InvalidInput(
            "Unknown or unshareable categories.", fields=[FieldError("categories", ", ".join(bad))]
        )
    today = clock.now().date()
    missing = [
        c
        for c in ok
        if not any(
            g.covers(str(for_user_id), member=True, category=c, on=today)  # type: ignore[arg-type]
            for g in ref.grants
        )
    ]
    if not missing:
        return None
    req = ConsentRequest(
        patient_id=patient_id,
        requested_by=actor.user_id,
        for_user_id=for_user_id,
        categories=sorted(set(missing)),
        referral_id=referral_id,
        reason=(reason or "")[:500] or None,
        status="pending",
    )
    session.add(req)
    session.flush()
    audit.record(
        session,
        actor,
        "consent.requested",
        clock=clock,
        entity_type="consent_request",
        entity_id=req.id,
        patient_id=patient_id,
        details={"categories": req.categories, "for_user_id": str(for_user_id)},
    )
    return req


def pending_requests(session: Session, actor: Actor, patient_id: uuid.UUID) -> list[ConsentRequest]:
    _, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.CONSENT_READ, ref)
    return list(
        session.scalars(
            select(ConsentRequest)
            .where(ConsentRequest.patient_id == patient_id, ConsentRequest.status == "pending")
            .order_by(ConsentRequest.created_at)
        )
    )


def answer_request(
    session: Session, actor: Actor, request_id: uuid.UUID, *, accept: bool, clock: Clock
) -> ConsentRequest:
    """The patient grants (a directive naming that clinician) or declines a request."""
    req = session.get(ConsentRequest, request_id)
    if req is None:
        raise NotFound("No such request.")
    _, ref = patients.get_patient_ref(session, req.patient_id)
    if not policy.may(actor, policy.Action.CONSENT_MANAGE, ref):
        raise NotFound("No such request.")
    if req.status != "pending":
        raise Conflict(f"This request is already {req.status}.")
    if accept:
        grant(
            session,
            actor,
            req.patient_id,
            GrantIn(req.for_user_id, False, tuple(req.categories)),
            clock=clock,
        )
        req.status = "granted"
    else:
        req.status = "declined"
        audit.record(
            session,
            actor,
            "consent.request_declined",
            clock=clock,
            entity_type="consent_request",
            entity_id=req.id,
            patient_id=req.patient_id,
        )
    req.resolved_at = clock.now()
    return req


def team_member_ids(session: Session, patient_id: uuid.UUID, today: date) -> set[uuid.UUID]:
    return {m.user_id for m in team_repo.members(session, patient_id, current_on=today)}


def user_for_provider(session: Session, provider_id: uuid.UUID) -> uuid.UUID:
    from careweave.directory.models import Provider

    user_id = session.scalar(select(Provider.user_id).where(Provider.id == provider_id))
    if user_id is None:
        raise InvalidInput(
            "That clinician has no account here.",
            fields=[FieldError("grantee.provider_id", "no such clinician")],
        )
    return user_id
