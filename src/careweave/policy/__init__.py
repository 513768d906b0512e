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
from datetime import UTC, date, datetime

from careweave.consent import rules as consent_rules
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
    APPOINTMENT_COMPLETE = "appointment.complete"
    WAITLIST_JOIN = "waitlist.join"
    VISIT_JOIN = "visit.join"
    SCHEDULE_MANAGE = "schedule.manage"
    CARE_TEAM_READ = "care_team.read"
    CARE_TEAM_MANAGE = "care_team.manage"
    CONSENT_READ = "consent.read"
    CONSENT_MANAGE = "consent.manage"
    CONSENT_REQUEST = "consent.request"
    BREAK_GLASS_REVIEW = "break_glass.review"
    REFERRAL_CREATE = "referral.create"
    REFERRAL_READ = "referral.read"
    THREAD_READ = "thread.read"
    MESSAGE_SEND = "message.send"
    PLAN_READ = "plan.read"
    PLAN_WRITE = "plan.write"
    PLAN_ACKNOWLEDGE = "plan.acknowledge"
    NOTE_READ = "note.read"
    NOTE_WRITE = "note.write"
    MEDICATION_READ = "medication.read"
    # Measurement-based care (issue #8)
    EPISODE_MANAGE = "episode.manage"
    MEASUREMENT_READ = "measurement.read"
    CASE_REVIEW_WRITE = "case_review.write"
    COCM_TIME_LOG = "cocm_time.log"
    REGISTRY_READ = "registry.read"
    BILLING_READ = "billing.read"
    OUTCOMES_REPORT_READ = "outcomes_report.read"
    VISIT_TYPES_MANAGE = "visit_types.manage"
    AUDIT_SEARCH = "audit.search"
    USER_MANAGE = "user.manage"


@dataclass(frozen=True, slots=True)
class PatientRef:
    """A patient and the facts access depends on: clinic, care team, consent directives, break-the-glass
    accesses in force, and the day they were read (patients.get_patient_ref loads them; nothing is cached)."""

    patient_id: uuid.UUID
    clinic_id: uuid.UUID | None = None
    team: tuple[consent_rules.Member, ...] = ()
    grants: tuple[consent_rules.Grant, ...] = ()
    break_glass: frozenset[str] = frozenset()  # user ids with an emergency access in force
    # The on-call rule: whoever holds (or just acknowledged) an open safety alert of this patient acts as an
    # assigned member of the team until it is handled.
    on_call: frozenset[str] = frozenset()
    on: date | None = None

    def today(self) -> date:
        return self.on or datetime.now(UTC).date()


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
    Action.APPOINTMENT_COMPLETE: PatientRule(False, CLINICAL_ROLES | {Role.ADMIN}),
    Action.WAITLIST_JOIN: PatientRule(True, CLINICAL_ROLES | {Role.ADMIN}),
    # The visit room: the patient and clinicians; visits.service admits only the visit's own clinician.
    Action.VISIT_JOIN: PatientRule(True, PRESCRIBING_OR_TREATING),
    # Collaboration (issue #6). Staff rules apply to members of the patient's care team; the categories
    # (ACTION_CATEGORY) then ask the patient's consent directives.
    Action.CARE_TEAM_READ: PatientRule(True, CLINICAL_ROLES | {Role.ADMIN}),
    Action.CARE_TEAM_MANAGE: PatientRule(False, frozenset({Role.ADMIN, Role.CARE_MANAGER})),
    Action.CONSENT_READ: PatientRule(True, CLINICAL_ROLES),
    Action.CONSENT_MANAGE: PatientRule(True, NO_STAFF),  # only the patient grants and revokes
    Action.CONSENT_REQUEST: PatientRule(False, CLINICAL_ROLES),
    Action.REFERRAL_CREATE: PatientRule(False, PRESCRIBING_OR_TREATING),
    Action.REFERRAL_READ: PatientRule(True, CLINICAL_ROLES),
    Action.THREAD_READ: PatientRule(True, CLINICAL_ROLES),
    Action.MESSAGE_SEND: PatientRule(True, CLINICAL_ROLES),
    Action.PLAN_READ: PatientRule(True, CLINICAL_ROLES),
    Action.PLAN_WRITE: PatientRule(False, CLINICAL_ROLES),
    Action.PLAN_ACKNOWLEDGE: PatientRule(True, NO_STAFF),
    Action.NOTE_READ: PatientRule(True, CLINICAL_ROLES),
    Action.NOTE_WRITE: PatientRule(False, PRESCRIBING_OR_TREATING),
    Action.MEDICATION_READ: PatientRule(True, CLINICAL_ROLES),
    # Measurement-based care (issue #8): episodes are opened and closed by the care team (or the clinic's
    # administrators, enrolling); scores are the screening category; the psychiatric consultant and the care
    # manager review the caseload; care-manager minutes are logged by care managers.
    Action.EPISODE_MANAGE: PatientRule(False, CLINICAL_ROLES | {Role.ADMIN}),
    Action.MEASUREMENT_READ: PatientRule(True, CLINICAL_ROLES),
    Action.CASE_REVIEW_WRITE: PatientRule(False, frozenset({Role.PSYCHIATRIST, Role.CARE_MANAGER})),
    Action.COCM_TIME_LOG: PatientRule(False, frozenset({Role.CARE_MANAGER})),
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
    Action.BREAK_GLASS_REVIEW: frozenset({Role.ADMIN}),
    Action.USER_MANAGE: frozenset({Role.ADMIN}),
    # The registry lists only patients the clinician may see (outcomes.service); billing and outcome reports
    # are aggregates and minutes, for those who run the program.
    Action.REGISTRY_READ: CLINICAL_ROLES,
    Action.BILLING_READ: frozenset({Role.ADMIN, Role.CARE_MANAGER}),
    Action.OUTCOMES_REPORT_READ: frozenset({Role.ADMIN, Role.CARE_MANAGER, Role.PSYCHIATRIST}),
}


# What part of the record an action reads (consent categories, consent.rules). Actions not listed touch the
# record's administrative part (who, when, where, coverage, visits), which the care team and clinic
# administrators see without a directive.
ACTION_CATEGORY: dict[Action, consent_rules.Category] = {
    Action.INTAKE_READ: "screening",
    Action.SCREENING_READ: "screening",
    Action.PATHWAY_READ: "screening",
    Action.PATHWAY_OVERRIDE: "screening",
    Action.MATCH: "screening",  # a patient's match uses their screenings
    Action.PLAN_READ: "plan",
    Action.NOTE_READ: "progress_notes",
    Action.MEDICATION_READ: "medications",
    Action.MEASUREMENT_READ: "screening",
    Action.CASE_REVIEW_WRITE: "screening",  # the review reads the scores
}
# The on-call rule: whoever is on call may have to act for any patient of the clinic, team or not.
CLINIC_WIDE: frozenset[Action] = frozenset(
    {Action.SAFETY_ALERT_READ, Action.SAFETY_ALERT_ACKNOWLEDGE, Action.SAFETY_HELP_REQUEST}
)
# Clinic administrators run operations for every patient of the clinic, never reading clinical categories.
ADMIN_OPERATIONS: frozenset[Action] = frozenset(a for a, r in PATIENT_RULES.items() if Role.ADMIN in r.staff)


def _same_clinic(actor: Actor, ref: PatientRef) -> bool:
    return actor.clinic_id is not None and actor.clinic_id == ref.clinic_id


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    on_team: bool  # a refused team member gets 403 and the reason; anyone else 404 (no hint)
    reason: str


ALLOW = Verdict(True, True, "")
HIDDEN = Verdict(False, False, "No such patient.")


def decide(actor: Actor, action: Action, resource: Resource = None) -> Verdict:
    """The decision with its reason. Staff see a patient only from their care team (or a recorded emergency
    access), except the on-call rule and administrators' operations; each category of the record moves between
    clinicians only as the patient's consent directives allow (consent.rules)."""
    role = actor.role
    if role is None:  # only the system actor (jobs, CLI commands) acts without a role
        return ALLOW if actor.is_system else HIDDEN
    if action in GLOBAL_RULES:
        ok = role in GLOBAL_RULES[action]
        return ALLOW if ok else Verdict(False, False, "You do not have permission to do this.")
    rule = PATIENT_RULES[action]
    if resource is None:
        return HIDDEN
    if role is Role.PATIENT:
        return ALLOW if rule.patient_self and actor.patient_id == resource.patient_id else HIDDEN
    if role not in rule.staff or not _same_clinic(actor, resource):
        return HIDDEN
    if role is Role.ADMIN:
        return ALLOW if action in ADMIN_OPERATIONS and action not in ACTION_CATEGORY else HIDDEN
    if action in CLINIC_WIDE:
        return ALLOW
    return category_verdict(actor, resource, ACTION_CATEGORY.get(action))


def category_verdict(
    actor: Actor,
    ref: PatientRef,
    category: consent_rules.Category | None,
    *,
    author_user_id: uuid.UUID | None = None,
) -> Verdict:
    """For a clinician: on the team (or breaking the glass), and, for a category, allowed by consent."""
    if actor.role is Role.PATIENT:
        if actor.patient_id != ref.patient_id:
            return HIDDEN
        # Psychotherapy notes are excluded from the patient's right of access (45 CFR 164.524(a)(1)(i)).
        return HIDDEN if category == "psychotherapy_notes" else ALLOW
    if actor.role is None:
        return ALLOW if actor.is_system else HIDDEN
    if actor.user_id is None or not _same_clinic(actor, ref):
        return HIDDEN
    user = str(actor.user_id)
    on = ref.today()
    glass = user in ref.break_glass
    team = ref.team
    if user in ref.on_call and consent_rules.current_member(team, user, on) is None:
        team = (*team, consent_rules.Member(user, "on_call", "assigned", on))
    if category is None:
        on_team = consent_rules.current_member(team, user, on) is not None
        return ALLOW if on_team or glass else HIDDEN
    d = consent_rules.decide(
        user,
        team,
        ref.grants,
        category,
        on=on,
        author_user_id=str(author_user_id) if author_user_id else None,
        break_glass=glass,
    )
    return Verdict(d.allowed, d.on_team, d.reason)


def may(actor: Actor, action: Action, resource: Resource = None) -> bool:
    return decide(actor, action, resource).allowed


def may_see(
    actor: Actor,
    ref: PatientRef,
    category: consent_rules.Category,
    *,
    author_user_id: uuid.UUID | None = None,
) -> bool:
    """Per item: may ``actor`` see this item of ``category`` (by ``author_user_id``)? Staff outside the team: no."""
    if actor.role is Role.ADMIN:
        return False
    return category_verdict(actor, ref, category, author_user_id=author_user_id).allowed


class ConsentRequired(PolicyDenied):
    """A care-team member the patient has not (or no longer) shared this with: 403 with the reason."""

    code = "consent_required"


def require(actor: Actor, action: Action, resource: Resource = None) -> None:
    verdict = decide(actor, action, resource)
    if verdict.allowed:
        return
    raise refusal(verdict, resource)


class RecordedConsentRequired(ConsentRequired):
    keep_changes = True  # the audit row of the refused access is committed


class RecordedNotFound(NotFound):
    keep_changes = True


def refusal(verdict: Verdict, resource: Resource, *, recorded: bool = False) -> PolicyDenied | NotFound:
    """The error for a refusal; ``recorded``: the caller audited it, so the unit keeps that row."""
    if isinstance(resource, PatientRef):
        if verdict.on_team:
            return (RecordedConsentRequired if recorded else ConsentRequired)(verdict.reason)
        return (RecordedNotFound if recorded else NotFound)("No such patient.")
    return PolicyDenied(verdict.reason or "You do not have permission to do this.")
