"""Every SQL statement of the job queue. Functions take the session first and never commit."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from careweave.jobs.models import Job


def by_dedupe_key(session: Session, key: str) -> Job | None:
    """The job holding ``key`` (any status). Not locked: a booking transaction must never wait for a worker
    that is running the job (the worker may be waiting for the audit head the booking holds)."""
    return session.scalars(select(Job).where(Job.dedupe_key == key)).first()


def by_dedupe_keys(session: Session, keys: list[str]) -> dict[str, Job]:
    """The jobs holding ``keys`` (any status), by key. Not locked, like :func:`by_dedupe_key`."""
    if not keys:
        return {}
    if len(keys) == 1:
        job = by_dedupe_key(session, keys[0])
        return {} if job is None else {keys[0]: job}
    return {job.dedupe_key or "": job for job in session.scalars(select(Job).where(Job.dedupe_key.in_(keys)))}


def next_claimable(session: Session, now: datetime) -> Job | None:
    """The oldest job that is due, or whose lease ran out (its worker died), skipping rows another worker
    holds. PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite ignores the clause and is serialised by the write
    lock every transaction takes first (BEGIN IMMEDIATE, db.engine)."""
    stmt = (
        select(Job)
        .where(
            or_(
                and_(Job.status == "queued", Job.run_at <= now),
                and_(Job.status == "running", Job.locked_until <= now),
            )
        )
        .order_by(Job.run_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(stmt).first()


def for_update(session: Session, job_id: uuid.UUID) -> Job | None:
    """The job row, locked until the end of the transaction (the run holds it: nobody else can claim it)."""
    return session.get(Job, job_id, with_for_update=True, populate_existing=True)


def queued_matching(session: Session, *, kind: str | None, dedupe_key_prefix: str | None) -> list[Job]:
    """Queued jobs by kind and/or key prefix. Rows being claimed right now are skipped, not waited for."""
    stmt = select(Job).where(Job.status == "queued")
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    if dedupe_key_prefix is not None:
        stmt = stmt.where(Job.dedupe_key.startswith(dedupe_key_prefix, autoescape=True))
    return list(session.scalars(stmt.order_by(Job.run_at).with_for_update(skip_locked=True)))


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: int(n) for status, n in rows}
