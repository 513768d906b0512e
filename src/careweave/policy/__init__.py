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
    INTAKE_READ = "intake.read"
    INTAKE_WRITE = "intake.write"
    SCREENING_READ = "screening.read"
    SCREENING_SUBMIT = "screening.submit"
    PATHWAY_READ = "care_pathway.read"
    PATHWAY_OVERRIDE = "care_pathway.override"
    SAFETY_ALERT_READ = "safety_alert.read"
    SAFETY_ALERT_ACKNOWLEDGE = "safety_alert.acknowledge"
    SAFETY_QUEUE_READ = "safety_queue.read"
    SAFETY_HELP_REQUEST = "safety_help.request"
    ONCALL_MANAGE = "oncall.manage"
    DIRECTORY_READ = "directory.read"
    DIRECTORY_MANAGE = "directory.manage"
    COVERAGE_READ = "coverage.read"
    COVERAGE_WRITE = "coverage.write"
    MATCH = "match.run"
    APPOINTMENT_READ = "appointment.read"
    APPOINTMENT_BOOK = "appointment.book"
    APPOINTMENT_CANCEL = "appointment.cancel"
    APPOINTMENT_NO_SHOW = "appointment.no_show"
    WAITLIST_JOIN = "waitlist.join"
    VISIT_JOIN = "visit.join"
    SCHEDULE_MANAGE = "schedule.manage"
    VISIT_TYPES_MANAGE = "visit_types.manage"
    AUDIT_SEARCH = "audit.search"
    USER_MANAGE = "user.manage"


@dataclass(frozen=True, slots=True)
class PatientRef:
    patient_id: uuid.UUID
    clinic_id: uuid.UUID | None = None


Resource = PatientRef | None


@dataclass(frozen=True, slots=True)
class PatientRule:
    """Who may do an action on one patient's data: the patient themself, which staff roles
    of the patient's clinic. (The collaboration issue narrows staff to the care team and
    adds consent here.)"""

    patient_self: bool
    staff: frozenset[Role]


PRESCRIBING_OR_TREATING = frozenset({Role.THERAPIST, Role.PSYCHIATRIST})
NO_STAFF: frozenset[Role] = frozenset()

PATIENT_RULES: dict[Action, PatientRule] = {
    Action.PATIENT_READ: PatientRule(True, CLINICAL_ROLES | {Role.ADMIN}),
    # Demographics: the patient, or the clinic's administrators.
    Action.PATIENT_UPDATE: PatientRule(True, frozenset({Role.ADMIN})),
    Action.PATIENT_ACCESS_LOG_READ: PatientRule(True, frozenset({Role.ADMIN})),
    # Intake holds clinical history: clinicians, not administrators.
    Action.INTAKE_READ: PatientRule(True, CLINICAL_ROLES),
    Action.INTAKE_WRITE: PatientRule(True, CLINICAL_ROLES),
    Action.SCREENING_READ: PatientRule(True, CLINICAL_ROLES),
    Action.SCREENING_SUBMIT: PatientRule(True, CLINICAL_ROLES),
    Action.PATHWAY_READ: PatientRule(True, CLINICAL_ROLES),
    Action.PATHWAY_OVERRIDE: PatientRule(False, PRESCRIBING_OR_TREATING),
    Action.SAFETY_ALERT_READ: PatientRule(False, CLINICAL_ROLES),
    Action.SAFETY_ALERT_ACKNOWLEDGE: PatientRule(False, CLINICAL_ROLES),
    # "I can't keep myself safe": the patient, or a clinician on their behalf.
    Action.SAFETY_HELP_REQUEST: PatientRule(True, CLINICAL_ROLES),
    # Coverage is payment information: the patient, clinic staff who handle it.
    Action.COVERAGE_READ: PatientRule(True, CLINICAL_ROLES | {Role.ADMIN}),
    Action.COVERAGE_WRITE: PatientRule(True, frozenset({Role.ADMIN, Role.CARE_MANAGER})),
    # Matching for a patient: the patient, or clinicians and administrators on their behalf.
    Action.MATCH: PatientRule(True, CLINICAL_ROLES | {Role.ADMIN}),
    # Visits: the patient books and cancels their own; clinic staff book on their behalf. The scheduling
    # service narrows further where a visit has a provider (a clinician sees the visits they hold).
    Action.APPOINTMENT_READ: PatientRule(True, CLINICAL_ROLES | {Role.ADMIN}),
    Action.APPOINTMENT_BOOK: PatientRule(True, CLINICAL_ROLES | {Role.ADMIN}),
    Action.APPOINTMENT_CANCEL: PatientRule(True, CLINICAL_ROLES | {Role.ADMIN}),
    Action.APPOINTMENT_NO_SHOW: PatientRule(False, CLINICAL_ROLES | {Role.ADMIN}),
    Action.WAITLIST_JOIN: PatientRule(True, CLINICAL_ROLES | {Role.ADMIN}),
    # The visit room: the patient and clinicians; visits.service admits only the visit's own clinician.
    Action.VISIT_JOIN: PatientRule(True, PRESCRIBING_OR_TREATING),
}

GLOBAL_RULES: dict[Action, frozenset[Role]] = {
    Action.PATIENT_LIST: CLINICAL_ROLES | {Role.ADMIN},
    Action.SAFETY_QUEUE_READ: CLINICAL_ROLES,
    Action.ONCALL_MANAGE: frozenset({Role.ADMIN}),
    # The directory's public profiles are for every signed-in user; only administrators edit it.
    Action.DIRECTORY_READ: frozenset(Role),
    Action.DIRECTORY_MANAGE: frozenset({Role.ADMIN}),
    Action.AUDIT_SEARCH: frozenset({Role.ADMIN}),
    # Any provider's availability (a clinician edits their own: scheduling.service checks the link).
    Action.SCHEDULE_MANAGE: frozenset({Role.ADMIN}),
    Action.VISIT_TYPES_MANAGE: frozenset({Role.ADMIN}),
    Action.USER_MANAGE: frozenset({Role.ADMIN}),
}


def _same_clinic(actor: Actor, ref: PatientRef) -> bool:
    return actor.clinic_id is not None and actor.clinic_id == ref.clinic_id


def may(actor: Actor, action: Action, resource: Resource = None) -> bool:
    role = actor.role
    if role is None:  # only the system actor (jobs, CLI commands) acts without a role
        return actor.is_system
    if action in GLOBAL_RULES:
        return role in GLOBAL_RULES[action]
    rule = PATIENT_RULES[action]
    if resource is None:
        return False
    if role is Role.PATIENT:
        return rule.patient_self and actor.patient_id == resource.patient_id
    return role in rule.staff and _same_clinic(actor, resource)


def require(actor: Actor, action: Action, resource: Resource = None) -> None:
    if may(actor, action, resource):
        return
    if isinstance(resource, PatientRef):
        raise NotFound("No such patient.")
    raise PolicyDenied("You do not have permission to do this.")
