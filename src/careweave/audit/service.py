"""Writing, verifying and reading the audit trail.

Every service that touches a patient's data calls :func:`record` in the same transaction
as the change or read, so an audit row exists exactly when the action happened.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import chain
from careweave.audit import repository as repo
from careweave.audit.models import AuditEvent
from careweave.audit.repository import AuditFilter

__all__ = ["AuditFilter", "events_for_patient", "record", "search", "verify", "verify_as"]
from careweave.core.actor import Actor
from careweave.core.clock import Clock


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    clock: Clock,
    entity_type: str | None = None,
    entity_id: object | None = None,
    patient_id: uuid.UUID | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
    actor_user_id: uuid.UUID | None = None,
    actor_role: str | None = None,
) -> AuditEvent:
    """Append one event to the chain. ``details`` must hold ids and codes only, never PHI."""
    head = repo.head_for_update(session)
    fields: dict[str, Any] = {
        "seq": head.seq + 1,
        "id": uuid.uuid4(),
        "occurred_at": clock.now(),
        "actor_user_id": actor_user_id or actor.user_id,
        "actor_role": actor_role or (actor.role.value if actor.role else None),
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id) if entity_id is not None else None,
        "patient_id": patient_id,
        "outcome": outcome,
        "purpose": actor.purpose,
        "ip": actor.ip,
        "request_id": actor.request_id,
        "details": details or {},
    }
    digest = chain.event_hash(head.hash, fields)
    event = AuditEvent(**fields, prev_hash=head.hash, hash=digest)
    repo.add(session, event)
    head.seq, head.hash = event.seq, digest
    session.flush()
    return event


@dataclass(frozen=True, slots=True)
class VerifyResult:
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session) -> VerifyResult:
    """Recompute the chain from the first event; report every break."""
    problems: list[str] = []
    prev = chain.GENESIS
    expected_seq = 1
    checked = 0
    for event in repo.iter_chain(session):
        checked += 1
        if event.seq != expected_seq:
            problems.append(f"seq {expected_seq}: missing (next stored event is {event.seq})")
        if event.prev_hash != prev:
            problems.append(f"seq {event.seq}: prev_hash does not match the event before it")
        fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
        if chain.event_hash(event.prev_hash, fields) != event.hash:
            problems.append(f"seq {event.seq}: contents changed since it was written")
        prev = event.hash
        expected_seq = event.seq + 1
    head = repo.chain_head(session)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        problems.append(f"chain head says seq {head.seq}; the stored chain ends at {expected_seq - 1}")
    return VerifyResult(checked=checked, problems=problems)


def search(
    session: Session,
    actor: Actor,
    filters: AuditFilter,
    *,
    clock: Clock,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditEvent], int]:
    policy.require(actor, policy.Action.AUDIT_SEARCH)
    rows, total = repo.search(session, filters, limit=limit, offset=offset)
    record(
        session,
        actor,
        "audit.searched",
        clock=clock,
        patient_id=filters.patient_id,
        details={"results": total},
    )
    return rows, total


def events_for_patient(session: Session, patient_id: uuid.UUID, *, limit: int = 100) -> list[AuditEvent]:
    """Audited accesses to one patient's data, newest first. The caller has checked policy
    (patients.service.access_log does) and records the viewing itself."""
    return repo.for_patient(session, patient_id, limit=limit)


def verify_as(session: Session, actor: Actor, *, clock: Clock) -> VerifyResult:
    """An administrator checks the chain from the admin pages (the check is itself audited)."""
    policy.require(actor, policy.Action.AUDIT_SEARCH)
    result = verify(session)
    record(
        session,
        actor,
        "audit.verified",
        clock=clock,
        outcome="success" if result.ok else "failure",
        details={"checked": result.checked, "problems": len(result.problems)},
    )
    return result


def require(
    session: Session,
    actor: Actor,
    action: policy.Action,
    ref: policy.PatientRef,
    *,
    clock: Clock,
    event: str,
    entity_type: str | None = None,
    entity_id: object | None = None,
) -> None:
    """policy.require, and a refused access to a patient's record is itself audited (``event``, outcome
    denied, with the reason code): the patient's "who looked at my record" and the admin log show it."""
    verdict = policy.decide(actor, action, ref)
    if verdict.allowed:
        return
    record(
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
    raise policy.refusal(verdict, ref, recorded=True)
