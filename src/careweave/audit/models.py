from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Base

OUTCOMES = ("success", "failure", "denied")


class AuditEvent(Base):
    """One audited action. ``chain`` and ``seq`` are its place in the trail; ``hash`` covers the row and
    ``prev_hash`` (the hash of the event before it in the same chain).

    A row is written when the action happens without its place in the chain (``chain``, ``seq``, ``prev_hash``
    and ``hash`` NULL) and chained when its transaction commits (audit.service.seal, ADR 0015), so a committed
    row always has all four. The trail is several independent chains, one per head row (ADR 0018), so
    committing transactions do not queue on one lock. Rows are never otherwise updated or deleted by the
    application.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint("outcome IN ('success', 'failure', 'denied')", name="outcome_known"),
        CheckConstraint(
            "(chain IS NULL AND seq IS NULL AND prev_hash IS NULL AND hash IS NULL) OR "
            "(chain IS NOT NULL AND seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL)",
            name="chained_whole",
        ),
        UniqueConstraint("chain", "seq"),  # uq_audit_events_chain
        Index("ix_audit_events_patient_time", "patient_id", "occurred_at"),
        Index("ix_audit_events_actor_time", "actor_user_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    chain: Mapped[int | None] = mapped_column(SmallInteger)
    seq: Mapped[int | None] = mapped_column(Integer, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor_user_id: Mapped[uuid.UUID | None]
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(80), index=True)
    entity_type: Mapped[str | None] = mapped_column(String(60))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[uuid.UUID | None]
    outcome: Mapped[str] = mapped_column(String(10), default="success")
    purpose: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Base):
    """One chain's last sequence number and hash (``id`` is the chain's number); a committing transaction
    that chains events locks one head — the first one free (ADR 0018)."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
