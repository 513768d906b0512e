from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Base

OUTCOMES = ("success", "failure", "denied")


class AuditEvent(Base):
    """One audited action. ``seq`` orders the chain; ``hash`` covers the row and ``prev_hash``.

    A row is written when the action happens without its place in the chain (``seq``, ``prev_hash`` and
    ``hash`` NULL) and chained when its transaction commits (audit.service.seal, ADR 0015), so a committed row
    always has all three. Rows are never otherwise updated or deleted by the application.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint("outcome IN ('success', 'failure', 'denied')", name="outcome_known"),
        CheckConstraint(
            "(seq IS NULL AND prev_hash IS NULL AND hash IS NULL) OR "
            "(seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL)",
            name="chained_whole",
        ),
        Index("ix_audit_events_patient_time", "patient_id", "occurred_at"),
        Index("ix_audit_events_actor_time", "actor_user_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int | None] = mapped_column(Integer, unique=True, autoincrement=False)
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
    """Single row holding the last sequence number and hash; locked by each commit that chains events."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
