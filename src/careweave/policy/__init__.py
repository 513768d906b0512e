"""The single policy decision point: ``may(actor, action, resource)``.

Every service asks here before it reads or writes; no page, API route or export decides
access on its own. Today the decision uses role and clinic; the collaboration issue adds
care-team membership and consent directives here, and every caller follows automatically.

Denials on a patient's data surface as ``NotFound`` (no hint that the record exists).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.errors import NotFound, PolicyDenied


class Action(enum.StrEnum):
    PATIENT_READ = "patient.read"
    PATIENT_UPDATE = "patient.update"
    PATIENT_LIST = "patient.list"
    PATIENT_ACCESS_LOG_READ = "patient.access_log.read"
    AUDIT_SEARCH = "audit.search"
    USER_MANAGE = "user.manage"


@dataclass(frozen=True, slots=True)
class PatientRef:
    patient_id: uuid.UUID
    clinic_id: uuid.UUID | None = None


Resource = PatientRef | None


def _same_clinic(actor: Actor, ref: PatientRef) -> bool:
    return actor.clinic_id is not None and actor.clinic_id == ref.clinic_id


def may(actor: Actor, action: Action, resource: Resource = None) -> bool:
    role = actor.role
    if role is None:  # the system actor acts only through jobs and CLI commands
        return actor.is_system
    match action:
        case Action.PATIENT_READ:
            if resource is None:
                return False
            if role is Role.PATIENT:
                return actor.patient_id == resource.patient_id
            if role in CLINICAL_ROLES or role is Role.ADMIN:
                return _same_clinic(actor, resource)
            return False
        case Action.PATIENT_UPDATE:
            # Demographics: the patient themself, or the clinic's administrators.
            if resource is None:
                return False
            if role is Role.PATIENT:
                return actor.patient_id == resource.patient_id
            return role is Role.ADMIN and _same_clinic(actor, resource)
        case Action.PATIENT_LIST:
            return role in CLINICAL_ROLES or role is Role.ADMIN
        case Action.PATIENT_ACCESS_LOG_READ:
            if resource is None:
                return False
            if role is Role.PATIENT:
                return actor.patient_id == resource.patient_id
            return role is Role.ADMIN
        case Action.AUDIT_SEARCH | Action.USER_MANAGE:
            return role is Role.ADMIN
    return False  # pragma: no cover - every Action is matched above


def require(actor: Actor, action: Action, resource: Resource = None) -> None:
    if may(actor, action, resource):
        return
    if isinstance(resource, PatientRef):
        raise NotFound("No such patient.")
    raise PolicyDenied("You do not have permission to do this.")
