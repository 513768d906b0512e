"""Jobs: work enqueued in the same transaction as the change that needs it, run by `careweave worker`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careweave.db.base import Entity

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")


class Job(Entity):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="status"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts"),
        # The claim reads queued jobs that are due, oldest first.
        Index("ix_jobs_status_run_at", "status", "run_at"),
    )

    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    run_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
    # At most one live job per key (e.g. one reminder per appointment, offset and visit time).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
