"""Writing, verifying and reading the audit trail.

Every service that touches a patient's data calls :func:`record` in the same transaction
as the change or read, so an audit row exists exactly when the action happened.

The row is written at once, without its place in the chain; :func:`seal` chains the transaction's events
when it commits (a ``before_commit`` listener on every Session), so the chain head's lock is held only for
those few statements and the COMMIT, not from the first audited step of a request to its end (ADR 0015).
The trail is several chains, one per head; a transaction takes the first head no one else holds (ADR 0018).
A read of audit events inside the transaction chains its pending events first (a ``do_orm_execute``
listener), so such a read sees them as they will be committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select
from sqlalchemy.orm import ORMExecuteState, Session

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
    """Write one event, chained when the transaction commits (:func:`seal`). ``details`` must hold ids and
    codes only, never PHI."""
    fields: dict[str, Any] = {
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
    row = AuditEvent(**fields, chain=None, seq=None, prev_hash=None, hash=None)
    session.add(row)
    session.info.setdefault(_UNCHAINED, []).append(row)
    return row


_UNCHAINED = "careweave.audit.unchained"  # session.info: this transaction's events, in record order
_SEALING = "careweave.audit.sealing"
_HELD = "careweave.audit.head"  # session.info: the chain head this transaction locked, if it sealed before


def seal(session: Session) -> int:
    """Give this transaction's unchained events their place in a chain, in the order they were recorded:
    lock a free head (the one it locked already, if it sealed before), link each event to the one before,
    move the head. Events written in a savepoint that rolled back are gone and skipped; one detached from
    the session (expunged) is read again. The pending list is let
    go only once the links are flushed, so a failure leaves it for the commit to try again. Returns how many
    were chained."""
    pending = session.info.get(_UNCHAINED)
    if not pending or session.info.get(_SEALING):
        return 0
    session.info[_SEALING] = True  # its own reads of events must not seal again
    try:
        return _seal(session, pending)
    finally:
        session.info.pop(_SEALING, None)


def _seal(session: Session, pending: list[AuditEvent]) -> int:
    rows: list[AuditEvent] = []
    detached: list[uuid.UUID] = []
    for row in pending:
        state = inspect(row)
        if state.persistent or state.pending:
            rows.append(row)
        elif state.detached and state.key is not None:  # expunged after its INSERT: still in the database
            detached.append(row.id)
        # transient: added in a savepoint that rolled back, never committed
    # Events not written yet are written chained (one INSERT, no UPDATE after it); everything else the
    # transaction has pending is flushed before the head is locked, so the lock covers the chain's own
    # statements and the COMMIT only.
    unwritten = [row for row in rows if inspect(row).pending]
    for row in unwritten:
        session.expunge(row)
    try:
        session.flush()
        if detached:
            rows += session.scalars(select(AuditEvent).where(AuditEvent.id.in_(detached)))
            order = {row.id: i for i, row in enumerate(pending)}
            rows.sort(key=lambda row: order[row.id])
        rows = [row for row in rows if row.seq is None]
        if rows:
            head = repo.head_for_update(session, held=session.info.get(_HELD))
            session.info[_HELD] = head.id
            seq, prev = head.seq, head.hash
            for row in rows:
                seq += 1
                fields = {name: getattr(row, name) for name in chain.HASHED_FIELDS} | {"seq": seq}
                row.chain, row.seq, row.prev_hash = head.id, seq, prev
                row.hash = chain.event_hash(prev, fields)
                prev = row.hash
            head.seq, head.hash = seq, prev
    except BaseException:
        if session.is_active:  # a failed flush ended the transaction: nothing to put them back into
            session.add_all(unwritten)
        raise
    session.add_all(unwritten)
    session.flush()
    session.info.pop(_UNCHAINED, None)
    return len(rows)


@sa_event.listens_for(Session, "before_commit")
def _seal_before_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release is not the commit: chain at the end
        seal(session)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the whole transaction rolled back: its events are gone
        session.info.pop(_UNCHAINED, None)
        session.info.pop(_HELD, None)


@sa_event.listens_for(Session, "after_commit")
def _let_go_of_head(session: Session) -> None:
    session.info.pop(_HELD, None)  # the COMMIT released its lock: the next transaction takes any free head


_CHAIN_COLUMNS = frozenset({"chain", "seq", "prev_hash", "hash"})


@sa_event.listens_for(Session, "do_orm_execute")
def _seal_before_reading_events(state: ORMExecuteState) -> None:
    """An ORM read that loads audit events whole, or their place in the chain, in a transaction with unchained
    events chains them first (the audit pages, verify, tests): the reader sees them as they will be committed.
    Reads of other columns (a page listing when something happened) do not: they would take the head's lock
    early for nothing. Not inside a savepoint, whose rollback would undo the links but not bring them back."""
    session = state.session
    if not session.info.get(_UNCHAINED) or not state.is_select or session.in_nested_transaction():
        return
    for desc in getattr(state.statement, "column_descriptions", ()):
        if desc.get("entity") is AuditEvent and (
            desc.get("expr") is AuditEvent or desc.get("name") in _CHAIN_COLUMNS
        ):
            seal(session)
            return


@dataclass(frozen=True, slots=True)
class VerifyResult:
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, anchors: Sequence[chain.Anchor] = ()) -> VerifyResult:
    """Recompute every chain from its first event; report every break, any committed event left without a
    place in a chain, and any on a chain with no head. Checks each chain up to its head as first read: writers
    committing meanwhile only add after it. ``anchors`` (kept outside the database: ``anchor``): each must
    still match the stored hash at its place, which catches a history rewritten with every later hash
    recomputed."""
    if not session.in_nested_transaction():
        seal(session)
    heads = {h.id: (h.seq, h.hash) for h in repo.heads_now(session)}
    problems: list[str] = []
    checked = 0
    for number, (head_seq, head_hash) in heads.items():
        prev = chain.GENESIS
        expected_seq = 1
        for event in repo.iter_chain(session, number, upto=head_seq):
            checked += 1
            at = f"chain {number} seq {event.seq}"
            if event.seq != expected_seq:
                problems.append(
                    f"chain {number} seq {expected_seq}: missing (next stored event is {event.seq})"
                )
            if event.prev_hash != prev:
                problems.append(f"{at}: prev_hash does not match the event before it")
            fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
            if chain.event_hash(event.prev_hash, fields) != event.hash:
                problems.append(f"{at}: contents changed since it was written")
            prev = event.hash
            expected_seq = event.seq + 1
        if head_seq != expected_seq - 1 or head_hash != prev:
            problems.append(
                f"chain {number}: its head says seq {head_seq}; the stored chain ends at {expected_seq - 1}"
            )
    if unchained := repo.count_unchained(session):
        problems.append(f"{unchained} committed events have no place in the chain")
    for number, n in repo.chains_without_head(session).items():
        problems.append(f"chain {number}: {n} events on a chain whose head is gone")
    if anchors:
        stored = repo.hashes_at(session, [(a.chain, a.seq) for a in anchors])
        problems += chain.check_anchors(list(anchors), stored, {c: seq for c, (seq, _) in heads.items()})
    return VerifyResult(checked=checked, problems=problems)


def anchor(session: Session, *, clock: Clock) -> str:
    """Every chain's head that has events, one anchor line each (chain.anchor_line), to keep outside the
    database — append them to write-once storage, a ticket, a mail to the compliance officer — and give to
    ``verify`` later. Chain 1 is always included (its empty head at seq 0 on a new database)."""
    if not session.in_nested_transaction():
        seal(session)
    now = clock.now()
    lines = [
        chain.anchor_line(h.seq, h.hash, now, chain=h.id)
        for h in repo.heads_now(session)
        if h.seq > 0 or h.id == 1
    ]
    return "\n".join(lines) if lines else chain.anchor_line(0, chain.GENESIS, now)


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
