from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.orm import Session

from careweave.audit.models import AuditChainHead, AuditEvent

# A committing transaction chains its events on the first head no other transaction holds (ADR 0018): with
# one writer at a time (SQLite, or a quiet PostgreSQL) that is always chain 1, so the trail reads as one chain;
# under load the others take the overflow instead of queueing on chain 1's row lock through its COMMIT.
_FREE_HEAD = (
    select(AuditChainHead).order_by(AuditChainHead.id).limit(1).with_for_update(skip_locked=True)
)  # built once
_HEAD_BY_ID = select(AuditChainHead).where(AuditChainHead.id == bindparam("id")).with_for_update()


def head_for_update(session: Session, *, held: int | None = None) -> AuditChainHead:
    """Lock a chain head until COMMIT: ``held`` (a head this transaction already locked: its events stay on
    one chain, and it never waits for itself), else the first free one, else — every head is held by a
    committing transaction — wait for one picked at random. SQLite has no row locks: its transactions start
    IMMEDIATE (ADR 0003), so one writer chains at a time and the first head is always free."""
    if held is not None:
        head = session.scalars(_HEAD_BY_ID, {"id": held}).one_or_none()
    else:
        head = session.scalars(_FREE_HEAD).one_or_none()
        if head is None:
            ids = list(session.scalars(select(AuditChainHead.id)))
            if ids:
                head = session.scalars(_HEAD_BY_ID, {"id": random.choice(ids)}).one_or_none()
    if head is None:
        raise RuntimeError("audit chain head row missing: was the database migrated?")
    return head


def count_unchained(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None))) or 0


def iter_chain(
    session: Session, chain: int, batch: int = 2000, *, upto: int | None = None
) -> Iterator[AuditEvent]:
    """One chain's events in order, ``upto`` a seq if given."""
    last = 0
    while True:
        stmt = select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq > last)
        if upto is not None:
            stmt = stmt.where(AuditEvent.seq <= upto)
        rows = list(session.scalars(stmt.order_by(AuditEvent.seq).limit(batch)))
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def chains_without_head(session: Session) -> dict[int, int]:
    """Chained events on a chain that has no head row (someone deleted it), counted per chain."""
    rows = session.execute(
        select(AuditEvent.chain, func.count())
        .where(AuditEvent.chain.is_not(None), AuditEvent.chain.not_in(select(AuditChainHead.id)))
        .group_by(AuditEvent.chain)
    )
    return {chain: n for chain, n in rows if chain is not None}


def hashes_at(session: Session, places: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """The stored hash of each event at (chain, seq) of ``places`` that exists."""
    if not places:
        return {}
    rows = session.execute(
        select(AuditEvent.chain, AuditEvent.seq, AuditEvent.hash).where(
            tuple_(AuditEvent.chain, AuditEvent.seq).in_(set(places))
        )
    )
    return {(c, seq): h for c, seq, h in rows if c is not None and seq is not None and h is not None}


def heads_now(session: Session) -> list[AuditChainHead]:
    """Every chain's head as stored now (not a copy the session loaded earlier), by chain."""
    return list(
        session.scalars(
            select(AuditChainHead).order_by(AuditChainHead.id).execution_options(populate_existing=True)
        )
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_user_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    action_prefix: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# Newest first by when they happened (the chains order commits within each chain only); in one chain, ties in
# time (one transaction's events) keep their chain order.
_NEWEST_FIRST = (AuditEvent.occurred_at.desc(), AuditEvent.chain, AuditEvent.seq.desc())


def search(session: Session, f: AuditFilter, *, limit: int, offset: int) -> tuple[list[AuditEvent], int]:
    stmt = select(AuditEvent)
    if f.actor_user_id:
        stmt = stmt.where(AuditEvent.actor_user_id == f.actor_user_id)
    if f.patient_id:
        stmt = stmt.where(AuditEvent.patient_id == f.patient_id)
    if f.action_prefix:
        stmt = stmt.where(AuditEvent.action.startswith(f.action_prefix, autoescape=True))
    if f.outcome:
        stmt = stmt.where(AuditEvent.outcome == f.outcome)
    if f.since:
        stmt = stmt.where(AuditEvent.occurred_at >= f.since)
    if f.until:
        stmt = stmt.where(AuditEvent.occurred_at < f.until)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(*_NEWEST_FIRST).limit(limit).offset(offset))
    return list(rows), total


def for_patient(session: Session, patient_id: uuid.UUID, *, limit: int) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.patient_id == patient_id).order_by(*_NEWEST_FIRST).limit(limit)
    return list(session.scalars(stmt))
