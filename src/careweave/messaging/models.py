"""Message threads about a patient: the patient with their care team, or clinicians among themselves."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Base, Entity


class Thread(Entity):
    __tablename__ = "message_threads"
    __table_args__ = (CheckConstraint("kind IN ('patient', 'clinician')", name="kind"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(
        String(10)
    )  # patient: the patient takes part; clinician: clinicians only
    subject: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_message_at: Mapped[datetime | None]


class ThreadParticipant(Base):
    """A participant and how far they have read (read receipts, unread counts)."""

    __tablename__ = "message_thread_participants"
    __table_args__ = (Index("ix_message_thread_participants_user", "user_id"),)

    thread_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("message_threads.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    joined_at: Mapped[datetime]
    last_read_at: Mapped[datetime | None]


class Message(Entity):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_thread_created", "thread_id", "created_at"),)

    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("message_threads.id", ondelete="CASCADE"))
    sender_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    crisis_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    safety_alert_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("safety_alerts.id", ondelete="SET NULL")
    )
