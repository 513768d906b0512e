"""Patient record use cases. Every read or write goes through policy and is audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.audit.models import AuditEvent
from careweave.core import geo
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput, NotFound
from careweave.db import loaded
from careweave.patients import repository as repo
from careweave.patients.models import Patient

if TYPE_CHECKING:
    from careweave.consent import rules as consent_rules


def _ref(session: Session, patient: Patient) -> policy.PatientRef:
    """The patient with what access depends on, read now: care team, consents, emergency accesses."""
    from careweave.careteam import repository as team_repo
    from careweave.consent import repository as consent_repo

    now = datetime.now(UTC)
    return policy.PatientRef(
        patient.id,
        patient.clinic_id,
        team=team_repo.team_facts(session, patient.id),
        grants=consent_repo.grant_facts(session, patient.id),
        break_glass=team_repo.break_glass_users(session, patient.id, now),
        on_call=_on_call(session, patient.id, now),
        on=now.date(),
    )


ON_CALL_HOURS = 72  # an acknowledging clinician keeps access this long to follow up


def _on_call(session: Session, patient_id: uuid.UUID, now: datetime) -> frozenset[str]:
    from sqlalchemy import or_, select

    from careweave.safety.models import SafetyAlert

    rows = session.execute(
        select(SafetyAlert.assigned_user_id, SafetyAlert.acknowledged_by).where(
            SafetyAlert.patient_id == patient_id,
            or_(
                SafetyAlert.status == "open",
                SafetyAlert.acknowledged_at > now - timedelta(hours=ON_CALL_HOURS),
            ),
        )
    ).all()
    return frozenset(str(u) for pair in rows for u in pair if u is not None)


def create_for_user(
    session: Session,
    actor: Actor,
    *,
    user_id: uuid.UUID,
    clinic_id: uuid.UUID | None,
    given_name: str = "",
    family_name: str = "",
    birth_date: date | None = None,
    state: str | None = None,
    timezone: str = "America/New_York",
    phone: str | None = None,
    clock: Clock,
) -> Patient:
    """Create the patient record that belongs to a new patient user (identity calls this)."""
    patient = repo.add(
        session,
        Patient(
            user_id=user_id,
            clinic_id=clinic_id,
            given_name=given_name,
            family_name=family_name,
            birth_date=birth_date,
            state=state,
            timezone=timezone,
            phone=phone,
        ),
    )
    audit.record(
        session,
        actor,
        "patient.created",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    return patient


def patient_id_for_user(session: Session, user_id: uuid.UUID) -> uuid.UUID | None:
    patient = repo.by_user(session, user_id)
    loaded.keep(
        session, patient
    )  # the request acting as this patient reads their row again (careweave.db.loaded)
    return patient.id if patient else None


def display_names(session: Session, patient_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names for lists built by other services, which check policy and audit themselves."""
    return {p.id: p.display_name for p in repo.many(session, patient_ids)}


def timezones(session: Session, patient_ids: set[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """Each patient's IANA zone (None when unknown), for showing or deciding their calendar days."""
    from sqlalchemy import select

    if not patient_ids:
        return {}
    rows = session.execute(select(Patient.id, Patient.timezone).where(Patient.id.in_(list(patient_ids))))
    return {row[0]: row[1] for row in rows}


def patient_ids_for_users(session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    return repo.ids_by_users(session, user_ids)


def get_patient(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> Patient:
    """Read a patient's record (summary). Unknown and forbidden look the same: 404."""
    patient = repo.get(session, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    if not policy.may(actor, policy.Action.PATIENT_READ, _ref(session, patient)):
        audit.record(
            session,
            actor,
            "patient.viewed",
            clock=clock,
            outcome="denied",
            entity_type="patient",
            entity_id=patient.id,
            patient_id=patient.id,
        )
        raise policy_not_found()
    audit.record(
        session,
        actor,
        "patient.viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    return patient


REQUIRED_FIELDS = frozenset({"given_name", "family_name", "timezone"})
UPDATABLE_FIELDS = frozenset(
    {"given_name", "family_name", "preferred_name", "pronouns", "birth_date", "state", "timezone", "phone"}
)


def validate_changes(changes: dict[str, Any], *, today: date) -> list[FieldError]:
    """Rules that need meaning, not just shape (pure; the schema checked types and lengths)."""
    problems: list[FieldError] = []
    for name, value in changes.items():
        if name not in UPDATABLE_FIELDS:
            problems.append(FieldError(name, "cannot be changed here"))
        elif value is None and name in REQUIRED_FIELDS:
            problems.append(FieldError(name, "cannot be empty"))
    state = changes.get("state")
    if state is not None and not geo.is_us_jurisdiction(state.upper()):
        problems.append(FieldError("state", "must be a US state or territory code such as NY"))
    zone = changes.get("timezone")
    if zone is not None and not geo.is_timezone(zone):
        problems.append(FieldError("timezone", "must be an IANA time zone such as America/Chicago"))
    born = changes.get("birth_date")
    if born is not None and (born > today or born.year < 1900):
        problems.append(FieldError("birth_date", "must be a real date in the past"))
    return problems


def refs_for(
    session: Session,
    patients: Sequence[Patient],
    *,
    teams: dict[uuid.UUID, tuple[consent_rules.Member, ...]] | None = None,
    open_alerts: set[uuid.UUID] | None = None,
) -> dict[uuid.UUID, policy.PatientRef]:
    """:func:`_ref` for many patients at once (one query per kind of fact): lists that decide per row.

    ``patients`` need only ``id`` and ``clinic_id``. A caller that has already read the patients' care teams (all
    rows of ``care_team_members``, as ``careteam.repository.team_facts_many`` reads them) passes them as ``teams``
    instead of a second query. ``open_alerts``, when given, receives the patients with an open safety alert (read
    by the on-call query anyway)."""
    from sqlalchemy import Uuid, any_, bindparam, or_, select
    from sqlalchemy.dialects.postgresql import ARRAY

    from careweave.careteam import repository as team_repo
    from careweave.consent import repository as consent_repo
    from careweave.safety.models import SafetyAlert

    def _among(session: Session, column: Any, ids: list[uuid.UUID]) -> Any:
        # On PostgreSQL one array parameter, not an IN of one parameter per patient: the driver parses a new
        # statement text for every page size (outcomes.repository.among).
        if session.get_bind().dialect.name == "postgresql":
            return column == any_(bindparam(None, ids, type_=ARRAY(Uuid())))
        return column.in_(ids)

    now = datetime.now(UTC)
    ids = [p.id for p in patients]
    if teams is None:
        teams = team_repo.team_facts_many(session, ids)
    grants = consent_repo.grant_facts_many(session, ids)
    glass = team_repo.break_glass_users_many(session, ids, now)
    on_call: dict[uuid.UUID, set[str]] = {p: set() for p in ids}
    if ids:
        rows = session.execute(
            select(
                SafetyAlert.patient_id,
                SafetyAlert.status,
                SafetyAlert.assigned_user_id,
                SafetyAlert.acknowledged_by,
            ).where(
                _among(session, SafetyAlert.patient_id, ids),
                or_(
                    SafetyAlert.status == "open",
                    SafetyAlert.acknowledged_at > now - timedelta(hours=ON_CALL_HOURS),
                ),
            )
        ).all()
        for pid, alert_status, *users in rows:
            on_call[pid].update(str(u) for u in users if u is not None)
            if open_alerts is not None and alert_status == "open":
                open_alerts.add(pid)
    return {
        p.id: policy.PatientRef(
            p.id,
            p.clinic_id,
            team=teams[p.id],
            grants=grants[p.id],
            break_glass=glass[p.id],
            on_call=frozenset(on_call[p.id]),
            on=now.date(),
        )
        for p in patients
    }


def get_patient_ref(session: Session, patient_id: uuid.UUID) -> tuple[Patient, policy.PatientRef]:
    """Load a patient for another domain's service, which then asks policy itself."""
    patient = repo.get(session, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    return patient, _ref(session, patient)


def update_patient(
    session: Session, actor: Actor, patient_id: uuid.UUID, changes: dict[str, Any], *, clock: Clock
) -> Patient:
    patient = repo.get(session, patient_id)
    if patient is None or not policy.may(actor, policy.Action.PATIENT_UPDATE, _ref(session, patient)):
        raise NotFound("No such patient.")
    changed = apply_changes(patient, changes, today=clock.now().date())
    session.flush()
    audit.record(
        session,
        actor,
        "patient.updated",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        details={"fields": changed},
    )
    return patient


def apply_changes(patient: Patient, changes: dict[str, Any], *, today: date) -> list[str]:
    """Validate and apply demographic changes; returns the names that changed.

    Callers check policy and write the audit event (update_patient here; intake for its form).
    """
    problems = validate_changes(changes, today=today)
    if problems:
        raise InvalidInput("Some details are not valid.", fields=problems)
    if changes.get("state"):
        changes = {**changes, "state": changes["state"].upper()}
    changed = sorted(k for k, v in changes.items() if getattr(patient, k) != v)
    for name in changed:
        setattr(patient, name, changes[name])
    return changed


def access_log(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock, limit: int = 100
) -> list[AuditEvent]:
    """'Who looked at my record': every audited access to this patient's data."""
    patient = repo.get(session, patient_id)
    if patient is None or not policy.may(
        actor, policy.Action.PATIENT_ACCESS_LOG_READ, _ref(session, patient)
    ):
        raise NotFound("No such patient.")
    events = audit.events_for_patient(session, patient.id, limit=limit)
    audit.record(
        session,
        actor,
        "patient.access_log.viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    return events


def list_patients(
    session: Session,
    actor: Actor,
    *,
    clock: Clock,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Patient], int]:
    """Patients the actor may see, one audit event per patient shown."""
    policy.require(actor, policy.Action.PATIENT_LIST)
    # Clinicians list the patients of their care teams; administrators the whole clinic (operations).
    team_of = actor.user_id if actor.role is not None and actor.role.is_clinician else None
    rows, total = repo.in_clinic(
        session, actor.clinic_id, query=query, limit=min(limit, 200), offset=offset, team_of=team_of
    )
    visible = [p for p in rows if policy.may(actor, policy.Action.PATIENT_READ, _ref(session, p))]
    for patient in visible:
        audit.record(
            session,
            actor,
            "patient.listed",
            clock=clock,
            entity_type="patient",
            entity_id=patient.id,
            patient_id=patient.id,
        )
    return visible, total


def policy_not_found() -> NotFound:
    """A denial that must still be committed: the audit row of the refused access is kept."""
    return AccessRefused("No such patient.")


class AccessRefused(NotFound):
    keep_changes = True
