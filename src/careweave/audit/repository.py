from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careweave.audit.models import AuditChainHead, AuditEvent

HEAD_ID = 1


_HEAD_FOR_UPDATE = select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).with_for_update()  # built once


def head_for_update(session: Session) -> AuditChainHead:
    # FOR UPDATE serialises the chaining of committing transactions on PostgreSQL (held to their COMMIT);
    # SQLite transactions start IMMEDIATE.
    head = session.scalars(_HEAD_FOR_UPDATE).one_or_none()
    if head is None:
        raise RuntimeError("audit chain head row missing: was the database migrated?")
    return head


def count_unchained(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None))) or 0


def iter_chain(session: Session, batch: int = 2000, *, upto: int | None = None) -> Iterator[AuditEvent]:
    last = 0
    while True:
        stmt = select(AuditEvent).where(AuditEvent.seq > last)
        if upto is not None:
            stmt = stmt.where(AuditEvent.seq <= upto)
        rows = list(session.scalars(stmt.order_by(AuditEvent.seq).limit(batch)))
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def chain_head(session: Session) -> AuditChainHead | None:
    return session.get(AuditChainHead, HEAD_ID)


def hashes_at(session: Session, seqs: list[int]) -> dict[int, str]:
    """The stored hash of each event of ``seqs`` that exists."""
    if not seqs:
        return {}
    rows = session.execute(select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seq.in_(set(seqs))))
    return {seq: hash_ for seq, hash_ in rows if seq is not None and hash_ is not None}


def chain_head_now(session: Session) -> AuditChainHead | None:
    """The head as stored now (not a copy the session loaded earlier)."""
    return session.scalars(
        select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).execution_options(populate_existing=True)
    ).one_or_none()


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_user_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    action_prefix: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


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
    rows = session.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit).offset(offset))
    return list(rows), total


def for_patient(session: Session, patient_id: uuid.UUID, *, limit: int) -> list[AuditEvent]:
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.patient_id == patient_id)
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))
