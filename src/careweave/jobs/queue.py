"""A durable job queue in the application's own database (docs/adr/0008-job-queue.md).

- :func:`enqueue` adds a job to the *caller's* session: it commits or rolls back with the change that needs it.
  A ``dedupe_key`` makes enqueueing idempotent (see the function for what happens to an old row with that key).
  :func:`enqueue_many` adds several in one round trip.
- :func:`cancel` cancels queued jobs by kind and/or key prefix.
- :func:`handler` registers the function that runs a kind of job.
- :func:`run_due` (the worker) claims due jobs one at a time in a short transaction (``SELECT … FOR UPDATE SKIP
  LOCKED`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises it), then runs each in its own unit of work
  that also marks it done, so a handler's database effects and "done" commit together. A failure rolls the
  handler back and reschedules the job with exponential backoff and jitter, until ``max_attempts``; then it is
  ``failed``. A job whose worker died is claimable again when its lease (``job_lease_seconds``) runs out.

Handlers must be idempotent with respect to the database (they can run again after a crash) and re-check their
preconditions (a queued job can be claimed while the change that would cancel it is being committed).
"""

from __future__ import annotations

import importlib
import os
import random
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from careweave.core.clock import Clock
from careweave.db.base import utcnow
from careweave.db.uow import finish
from careweave.jobs import repository as repo
from careweave.jobs.models import Job
from careweave.notify.mail import Mailer
from careweave.notify.sms import SmsSender
from careweave.settings import Settings

log = structlog.get_logger(__name__)

LIVE = ("queued", "running")
DEFAULT_MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
BACKOFF_JITTER = 0.25  # up to +25 % at random, so jobs that failed together do not retry together

# Modules whose import registers handlers. The worker imports them (by name: the queue itself depends on no
# domain), so a process that never imported a domain still runs its jobs.
HANDLER_MODULES: tuple[str, ...] = (
    "careweave.scheduling.reminders",
    "careweave.scheduling.waitlist",
    "careweave.careteam.service",
    "careweave.careteam.referrals",
    "careweave.messaging.jobs",
    "careweave.outcomes.service",
)


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What a worker hands its handlers besides the session: built once per worker process."""

    settings: Settings
    mailer: Mailer
    sms: SmsSender


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler gets: the job's own unit of work and the worker's services."""

    session: Session
    settings: Settings
    clock: Clock
    mailer: Mailer
    sms: SmsSender
    worker_id: str
    job_id: uuid.UUID
    attempt: int  # 1 on the first run


Handler = Callable[[JobContext, Mapping[str, Any]], None]
_HANDLERS: dict[str, Handler] = {}


class RetryJob(Exception):
    """Raise from a handler to **commit** what it did so far and run the job again later (with backoff).

    For partial success: e.g. the e-mail reminder went out and is recorded, the SMS gateway was down. The
    ``reason`` is stored as ``last_error``: ids and codes only, never PHI.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownJobKind(LookupError):
    pass


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of ``kind``: ``@handler("reminder.send")``."""

    def register(fn: Handler) -> Handler:
        existing = _HANDLERS.get(kind)
        if existing is not None and existing.__qualname__ != fn.__qualname__:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        _HANDLERS[kind] = fn
        return fn

    return register


def unregister(kind: str) -> None:
    """Forget a handler (tests)."""
    _HANDLERS.pop(kind, None)


def load_handlers() -> None:
    for module in HANDLER_MODULES:
        importlib.import_module(module)


def default_worker_id() -> str:
    """``hostname:pid``: who holds a job's lease (``locked_by``), and who sent a reminder."""
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


# ---------------------------------------------------------------- producing


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job for :func:`enqueue_many` (the arguments of :func:`enqueue`)."""

    kind: str
    payload: Mapping[str, Any]
    run_at: datetime
    dedupe_key: str | None = None
    max_attempts: int | None = None


def enqueue(
    session: Session,
    kind: str,
    payload: Mapping[str, Any],
    *,
    run_at: datetime,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> Job | None:
    """Add a job to the caller's unit of work; it runs at or after ``run_at`` once that unit commits.

    ``payload`` must be JSON (ids, codes, ISO times; never PHI: it is stored and logged by id only).

    With a ``dedupe_key`` (unique over **all** rows, so a finished job keeps its key: put whatever makes the
    work distinct in the key, e.g. the visit time):

    - a live (queued/running) job or a ``done`` one with that key: nothing is added, returns ``None``;
    - a ``cancelled`` or ``failed`` one: it is queued again with this payload, run time and a fresh attempt
      count, and returned (e.g. a visit moved away and back to the same time is reminded again).

    A concurrent enqueue of the same key never poisons the caller's transaction, and never waits for a worker
    running the job: see :func:`enqueue_many`, which this is the one-job case of.
    """
    return enqueue_many(
        session,
        [NewJob(kind, payload, run_at, dedupe_key=dedupe_key, max_attempts=max_attempts)],
    )[0]


def enqueue_many(session: Session, jobs: Sequence[NewJob]) -> list[Job | None]:
    """:func:`enqueue` for several jobs in one round trip; returns, in order, what :func:`enqueue` would for
    each, as if they were enqueued one after the other (so a key repeated in ``jobs`` gets ``None`` after its
    first occurrence).

    The common case is one statement: a multi-row ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING``.
    It never fails on a duplicate key (no SAVEPOINT needed), and on PostgreSQL it waits only for a concurrent
    transaction *inserting* the same key (then does nothing if that one committed). Only keys that already
    exist cost more: one unlocked SELECT of those rows, then an UPDATE per ``cancelled``/``failed`` one to
    requeue it. Deliberately not ``ON CONFLICT DO UPDATE … WHERE status IN ('cancelled', 'failed')``:
    PostgreSQL locks the conflicting row before testing the WHERE, so a booking would wait for a worker
    running that job (which may itself wait for the audit chain head the booking holds).
    """
    if any(job.run_at.tzinfo is None for job in jobs):
        raise ValueError("run_at must be timezone-aware")
    results: list[Job | None] = [None] * len(jobs)
    todo: list[int] = []
    seen: set[str] = set()
    for i, job in enumerate(jobs):
        if job.dedupe_key is not None:
            if job.dedupe_key in seen:
                continue  # enqueued one after the other, the second finds the first live: None
            seen.add(job.dedupe_key)
        todo.append(i)
    for _ in range(3):
        if not todo:
            break
        todo = _insert_or_requeue(session, jobs, todo, results)
    return results


def _fields(job: NewJob) -> dict[str, Any]:
    return {"kind": job.kind, "payload": dict(job.payload), "run_at": job.run_at}


def _insert_or_requeue(
    session: Session, jobs: Sequence[NewJob], todo: list[int], results: list[Job | None]
) -> list[int]:
    """Insert the jobs ``todo`` indexes, requeue the cancelled/failed holders of keys that exist; returns the
    indexes to try again (a key whose row vanished between the INSERT and the SELECT)."""
    now = utcnow()
    ids = {i: uuid.uuid4() for i in todo}
    rows = [
        {
            "id": ids[i],
            "created_at": now,
            "updated_at": now,
            "status": "queued",
            "attempts": 0,
            "max_attempts": jobs[i].max_attempts or DEFAULT_MAX_ATTEMPTS,
            "dedupe_key": jobs[i].dedupe_key,
            **_fields(jobs[i]),
        }
        # in key order: two transactions enqueueing overlapping keys take them in the same order (no deadlock)
        for i in sorted(todo, key=lambda i: (jobs[i].dedupe_key or "", i))
    ]
    # Parameters as a list, not .values(rows): the statement is compiled once and cached, and SQLAlchemy
    # sends the rows as one multi-row INSERT (its "insertmanyvalues"; jobs without a key go in a second one).
    inserted = {job.id: job for job in session.scalars(_insert_statement(session), rows)}
    conflicts = [i for i in todo if ids[i] not in inserted]
    for i in todo:
        results[i] = inserted.get(ids[i])
    if not conflicts:
        return []
    existing = repo.by_dedupe_keys(session, [jobs[i].dedupe_key or "" for i in conflicts])
    again: list[int] = []
    requeued = False
    for i in conflicts:
        job = jobs[i]
        old = existing.get(job.dedupe_key or "")
        if old is None:
            again.append(i)  # its row was gone when we looked: insert it again
        elif old.status in LIVE or old.status == "done":
            results[i] = None
        else:
            _requeue(old, _fields(job), job.max_attempts or DEFAULT_MAX_ATTEMPTS)
            log.info("job.requeued", job_id=str(old.id), kind=job.kind)
            results[i] = old
            requeued = True
    if requeued:
        session.flush()
    return again


def _insert_statement(session: Session) -> Any:
    """``INSERT INTO jobs … ON CONFLICT (dedupe_key) DO NOTHING RETURNING …`` in the session's dialect
    (PostgreSQL and SQLite both have it)."""
    name = session.get_bind().dialect.name
    stmt = _INSERTS.get(name)
    if stmt is None:
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(Job).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Job)
        _INSERTS[name] = stmt
    return stmt


_INSERTS: dict[str, Any] = {}


def _requeue(job: Job, fields: dict[str, Any], attempts_cap: int) -> None:
    job.kind, job.payload, job.run_at = fields["kind"], fields["payload"], fields["run_at"]
    job.status, job.attempts, job.max_attempts = "queued", 0, attempts_cap
    job.locked_by = job.locked_until = job.finished_at = None
    job.last_error = None


def cancel(
    session: Session,
    *,
    kind: str | None = None,
    dedupe_key_prefix: str | None = None,
    now: datetime | None = None,
) -> int:
    """Cancel the queued jobs of ``kind`` and/or whose key starts with ``dedupe_key_prefix``; returns how many.

    A job already running (or being claimed at this instant) is not stopped: handlers re-check what they act
    on. ``now`` stamps ``finished_at`` (left empty without it).
    """
    if kind is None and dedupe_key_prefix is None:
        raise ValueError("cancel needs a kind or a dedupe_key_prefix")
    jobs = repo.queued_matching(session, kind=kind, dedupe_key_prefix=dedupe_key_prefix)
    for job in jobs:
        job.status = "cancelled"
        job.finished_at = now
    session.flush()
    return len(jobs)


# ---------------------------------------------------------------- running


def backoff(attempts: int, *, jitter: float) -> timedelta:
    """Delay before the next try after ``attempts`` failed runs: 30 s, 1 min, 2 min, … capped at 1 h, plus
    ``jitter`` (0 ≤ jitter < 1) times 25 %. Pure."""
    exponent = max(attempts - 1, 0)
    base = (
        BACKOFF_CAP_SECONDS
        if exponent >= 12
        else min(BACKOFF_BASE_SECONDS * 2**exponent, BACKOFF_CAP_SECONDS)
    )
    return timedelta(seconds=base * (1 + BACKOFF_JITTER * jitter))


def claim(
    factory: sessionmaker[Session], *, worker_id: str, clock: Clock, lease_seconds: int
) -> uuid.UUID | None:
    """Claim one due job in a short transaction of its own: status running, lease until now + lease, one more
    attempt. A job whose lease expired with no attempts left is marked failed instead. Returns its id."""
    while True:
        with factory() as session:
            now = clock.now()
            job = repo.next_claimable(session, now)
            if job is None:
                session.rollback()
                return None
            reclaimed = job.status == "running"
            if reclaimed and job.attempts >= job.max_attempts:
                job.status, job.finished_at = "failed", now
                job.locked_by = job.locked_until = None
                job.last_error = "lease expired: the worker stopped before finishing"
                finish(session, None)
                log.error(
                    "job.failed", job_id=str(job.id), kind=job.kind, attempts=job.attempts, reason="lease"
                )
                continue
            if reclaimed:
                log.warning("job.lease_expired", job_id=str(job.id), kind=job.kind, previous=job.locked_by)
            job.status = "running"
            job.locked_by = worker_id
            job.locked_until = now + timedelta(seconds=lease_seconds)
            job.attempts += 1
            job_id = job.id
            finish(session, None)
            return job_id


def run_due(
    factory: sessionmaker[Session],
    *,
    worker_id: str,
    clock: Clock,
    context: WorkerContext,
    limit: int = 100,
) -> int:
    """Claim and run up to ``limit`` due jobs, one at a time; returns how many were run (whatever the outcome).

    Safe with any number of workers in any number of processes and hosts (PostgreSQL), and with several
    threads on one SQLite file.
    """
    load_handlers()
    ran = 0
    while ran < limit:
        job_id = claim(
            factory, worker_id=worker_id, clock=clock, lease_seconds=context.settings.job_lease_seconds
        )
        if job_id is None:
            break
        run_claimed(factory, job_id, worker_id=worker_id, clock=clock, context=context)
        ran += 1
    return ran


def run_claimed(
    factory: sessionmaker[Session], job_id: uuid.UUID, *, worker_id: str, clock: Clock, context: WorkerContext
) -> str:
    """Run a job this worker claimed, in one unit of work with marking it done. Returns the job's new status
    (``lost`` if another worker took it over after the lease ran out)."""
    session = factory()
    try:
        job = repo.for_update(session, job_id)  # held until commit: no one can reclaim it while it runs
        if job is None or job.status != "running" or job.locked_by != worker_id:
            session.rollback()
            log.warning("job.lost", job_id=str(job_id))
            return "lost"
        kind, attempt = job.kind, job.attempts
        ctx = JobContext(
            session=session,
            settings=context.settings,
            clock=clock,
            mailer=context.mailer,
            sms=context.sms,
            worker_id=worker_id,
            job_id=job_id,
            attempt=attempt,
        )
        try:
            fn = _HANDLERS.get(kind)
            if fn is None:
                raise UnknownJobKind(kind)
            fn(ctx, dict(job.payload))
            job.status, job.finished_at = "done", clock.now()
            job.locked_by = job.locked_until = None
            job.last_error = None
            finish(session, None)  # the handler's effects and "done" commit together
        except RetryJob as retry:
            try:
                status = _after_failure(job, retry.reason, clock)  # keep what the handler did
                finish(session, None)
                return status
            except Exception as exc:
                finish(session, exc)
                return _record_failure(
                    factory, job_id, worker_id=worker_id, error=_describe(exc), clock=clock
                )
        except Exception as exc:
            finish(session, exc)  # roll the handler's work back (also after a failed commit)
            return _record_failure(factory, job_id, worker_id=worker_id, error=_describe(exc), clock=clock)
        log.info("job.done", job_id=str(job_id), kind=kind, attempt=attempt)
        return "done"
    finally:
        session.close()


def _describe(exc: BaseException) -> str:
    """The exception's type only: messages can carry addresses or data (SMTP errors name the recipient)."""
    if isinstance(exc, UnknownJobKind):
        return f"no handler for job kind {exc.args[0]!r}"
    code = getattr(exc, "code", None)  # DomainError codes are safe
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    return f"{name} ({code})" if isinstance(code, str) else name


def _after_failure(job: Job, error: str, clock: Clock) -> str:
    now = clock.now()
    job.last_error = error[:2000]
    job.locked_by = job.locked_until = None
    if job.attempts >= job.max_attempts:
        job.status, job.finished_at = "failed", now
        log.error(
            "job.failed", job_id=str(job.id), kind=job.kind, attempts=job.attempts, error=job.last_error
        )
        return "failed"
    job.status = "queued"
    job.run_at = now + backoff(job.attempts, jitter=random.random())
    log.warning(
        "job.retry",
        job_id=str(job.id),
        kind=job.kind,
        attempts=job.attempts,
        error=job.last_error,
        run_at=str(job.run_at),
    )
    return "queued"


def _record_failure(
    factory: sessionmaker[Session], job_id: uuid.UUID, *, worker_id: str, error: str, clock: Clock
) -> str:
    with factory() as session:
        job = repo.for_update(session, job_id)
        if job is None or job.status != "running" or job.locked_by != worker_id:
            session.rollback()
            return "lost"
        status = _after_failure(job, error, clock)
        finish(session, None)
        return status
