"""The job queue (docs/adr/0008-job-queue.md): same-transaction enqueue with dedupe keys, cancel, claim with a
lease, handler effects committed with "done", retries with backoff, failure after max attempts, reclaiming a job
whose worker died."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from careweave.core.clock import FixedClock
from careweave.jobs import queue
from careweave.jobs import repository as jobs_repo
from careweave.jobs.models import Job
from careweave.jobs.queue import JobContext, RetryJob, WorkerContext

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


class Boom(RuntimeError):
    pass


class Calls:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any], int, str]] = []


calls = Calls()


@queue.handler("test.ok")
def _ok(ctx: JobContext, payload: Mapping[str, Any]) -> None:
    calls.seen.append(("ok", dict(payload), ctx.attempt, ctx.worker_id))
    # a database effect of the handler: it must commit with "done" (or vanish with a failure)
    queue.enqueue(ctx.session, "test.child", {"of": payload.get("n")}, run_at=NOW + timedelta(days=365))


@queue.handler("test.fail")
def _fail(ctx: JobContext, payload: Mapping[str, Any]) -> None:
    calls.seen.append(("fail", dict(payload), ctx.attempt, ctx.worker_id))
    queue.enqueue(ctx.session, "test.child", {"of": "failed"}, run_at=NOW + timedelta(days=365))
    raise Boom("secret patient detail ana@test.careweave.example")  # must not reach last_error


@queue.handler("test.partial")
def _partial(ctx: JobContext, payload: Mapping[str, Any]) -> None:
    calls.seen.append(("partial", dict(payload), ctx.attempt, ctx.worker_id))
    queue.enqueue(
        ctx.session, "test.child", {"of": "partial", "attempt": ctx.attempt}, run_at=NOW + timedelta(days=365)
    )
    if ctx.attempt < 2:
        raise RetryJob("channel sms:SmsError")


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    calls.seen.clear()
    yield
    calls.seen.clear()


@pytest.fixture
def clock() -> FixedClock:  # type: ignore[override]
    return FixedClock(NOW)


@pytest.fixture
def context(settings) -> WorkerContext:
    return WorkerContext(settings=settings, mailer=_NoMail(), sms=_NoSms())


class _NoMail:
    def send(self, mail: object) -> None:
        raise AssertionError("no mail expected")


class _NoSms:
    def send(self, sms: object) -> None:
        raise AssertionError("no sms expected")


def _jobs(session, kind: str | None = None) -> list[Job]:
    session.expire_all()
    stmt = select(Job).order_by(Job.created_at)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    return list(session.scalars(stmt))


def _run(sessions, clock, context, worker: str = "host:1") -> int:
    return queue.run_due(sessions, worker_id=worker, clock=clock, context=context)


# ---------------------------------------------------------------- enqueue


def test_enqueue_adds_to_the_callers_transaction(session, sessions, clock):
    job = queue.enqueue(session, "test.ok", {"n": 1}, run_at=NOW)
    assert job is not None and job.status == "queued" and job.attempts == 0
    assert job.max_attempts == queue.DEFAULT_MAX_ATTEMPTS
    session.rollback()  # the change that needed it did not happen: neither does the job
    assert _jobs(session) == []


def test_enqueue_refuses_a_naive_run_at(session):
    with pytest.raises(ValueError, match="aware"):
        queue.enqueue(session, "test.ok", {}, run_at=datetime(2026, 1, 1))


def test_enqueue_with_a_live_key_adds_nothing(session):
    first = queue.enqueue(session, "test.ok", {"n": 1}, run_at=NOW, dedupe_key="k:1")
    assert first is not None
    assert queue.enqueue(session, "test.ok", {"n": 2}, run_at=NOW, dedupe_key="k:1") is None
    first.status = "running"
    session.flush()
    assert queue.enqueue(session, "test.ok", {"n": 3}, run_at=NOW, dedupe_key="k:1") is None
    assert [j.payload for j in _jobs(session)] == [{"n": 1}]


def test_a_done_key_is_not_run_again_but_a_cancelled_or_failed_one_is_requeued(session):
    job = queue.enqueue(session, "test.ok", {"n": 1}, run_at=NOW, dedupe_key="k:done")
    assert job is not None
    job.status = "done"
    session.flush()
    assert queue.enqueue(session, "test.ok", {"n": 2}, run_at=NOW, dedupe_key="k:done") is None

    for status in ("cancelled", "failed"):
        old = queue.enqueue(session, "test.ok", {"n": 1}, run_at=NOW, dedupe_key=f"k:{status}")
        assert old is not None
        old.status, old.attempts, old.last_error, old.finished_at = status, 5, "x", NOW
        session.flush()
        again = queue.enqueue(
            session, "test.ok", {"n": 2}, run_at=NOW + timedelta(hours=1), dedupe_key=f"k:{status}"
        )
        assert again is not None and again.id == old.id
        assert (again.status, again.attempts, again.last_error, again.finished_at) == (
            "queued",
            0,
            None,
            None,
        )
        assert (again.payload, again.run_at) == ({"n": 2}, NOW + timedelta(hours=1))


def test_a_duplicate_key_inserted_concurrently_does_not_poison_the_transaction(session, monkeypatch):
    """The race: the key is absent when checked, then another transaction commits it before our INSERT.
    The unique violation rolls back only the SAVEPOINT; the caller's transaction carries on (PostgreSQL
    would otherwise refuse every later statement)."""
    queue.enqueue(session, "test.ok", {"n": 1}, run_at=NOW, dedupe_key="k:race")
    real = jobs_repo.by_dedupe_key
    misses = iter([True])

    def racing(s, key):  # the first look misses the row, as if it were not committed yet
        return None if next(misses, False) else real(s, key)

    monkeypatch.setattr(jobs_repo, "by_dedupe_key", racing)
    assert queue.enqueue(session, "test.ok", {"n": 2}, run_at=NOW, dedupe_key="k:race") is None
    # the transaction is still usable
    assert queue.enqueue(session, "test.ok", {"n": 3}, run_at=NOW, dedupe_key="k:other") is not None
    session.commit()
    assert sorted(j.dedupe_key or "" for j in _jobs(session)) == ["k:other", "k:race"]


def test_cancel_by_kind_and_key_prefix_leaves_running_and_other_jobs(session):
    a = queue.enqueue(session, "test.ok", {}, run_at=NOW, dedupe_key="reminder:a:1")
    b = queue.enqueue(session, "test.ok", {}, run_at=NOW, dedupe_key="reminder:a:2")
    c = queue.enqueue(session, "test.ok", {}, run_at=NOW, dedupe_key="reminder:b:1")
    other_kind = queue.enqueue(session, "test.fail", {}, run_at=NOW, dedupe_key="reminder:a:3")
    assert a and b and c and other_kind
    b.status = "running"
    session.flush()
    assert queue.cancel(session, kind="test.ok", dedupe_key_prefix="reminder:a:", now=NOW) == 1
    statuses = {j.dedupe_key: (j.status, j.finished_at) for j in _jobs(session)}
    assert statuses == {
        "reminder:a:1": ("cancelled", NOW),
        "reminder:a:2": ("running", None),
        "reminder:b:1": ("queued", None),
        "reminder:a:3": ("queued", None),
    }
    with pytest.raises(ValueError, match="needs"):
        queue.cancel(session)


def test_cancel_prefix_is_not_a_pattern(session):
    queue.enqueue(session, "test.ok", {}, run_at=NOW, dedupe_key="reminder:a_b:1")
    queue.enqueue(session, "test.ok", {}, run_at=NOW, dedupe_key="reminder:aXb:1")
    assert queue.cancel(session, dedupe_key_prefix="reminder:a_b:") == 1


# ---------------------------------------------------------------- running


def test_due_jobs_run_once_and_commit_with_done(session, sessions, clock, context):
    queue.enqueue(session, "test.ok", {"n": 1}, run_at=NOW - timedelta(minutes=1))
    queue.enqueue(session, "test.ok", {"n": 2}, run_at=NOW + timedelta(minutes=5))  # not due yet
    session.commit()
    assert _run(sessions, clock, context) == 1
    assert calls.seen == [("ok", {"n": 1}, 1, "host:1")]
    jobs = {j.payload.get("n"): j for j in _jobs(session, "test.ok")}
    assert (jobs[1].status, jobs[1].attempts, jobs[1].finished_at, jobs[1].locked_by) == (
        "done",
        1,
        NOW,
        None,
    )
    assert jobs[2].status == "queued"
    assert [j.payload for j in _jobs(session, "test.child")] == [{"of": 1}]  # the handler's effect committed

    assert _run(sessions, clock, context) == 0  # nothing due: nothing runs twice
    clock.advance(minutes=5)
    assert _run(sessions, clock, context) == 1
    assert [c[1] for c in calls.seen] == [{"n": 1}, {"n": 2}]


def test_run_due_stops_at_its_limit(session, sessions, clock, context):
    for n in range(5):
        queue.enqueue(session, "test.ok", {"n": n}, run_at=NOW - timedelta(minutes=5 - n))
    session.commit()
    assert queue.run_due(sessions, worker_id="w", clock=clock, context=context, limit=3) == 3
    assert [c[1]["n"] for c in calls.seen] == [0, 1, 2]  # oldest first
    assert queue.run_due(sessions, worker_id="w", clock=clock, context=context, limit=3) == 2


def test_a_failure_rolls_back_the_handler_and_retries_with_backoff(session, sessions, clock, context):
    queue.enqueue(session, "test.fail", {}, run_at=NOW, max_attempts=3)
    session.commit()
    assert _run(sessions, clock, context) == 1
    (job,) = _jobs(session, "test.fail")
    assert (job.status, job.attempts, job.locked_by, job.locked_until) == ("queued", 1, None, None)
    assert NOW + timedelta(seconds=30) <= job.run_at <= NOW + timedelta(seconds=37.5)
    assert job.last_error == "tests.integration.test_jobs.Boom"  # the type, never the message
    assert _jobs(session, "test.child") == []  # the handler's write went with the rollback

    assert _run(sessions, clock, context) == 0  # not before the backoff
    clock.advance(seconds=38)
    assert _run(sessions, clock, context) == 1
    (job,) = _jobs(session, "test.fail")
    assert (job.status, job.attempts) == ("queued", 2)
    assert clock.now() + timedelta(seconds=60) <= job.run_at <= clock.now() + timedelta(seconds=75)

    clock.advance(seconds=76)
    assert _run(sessions, clock, context) == 1
    (job,) = _jobs(session, "test.fail")
    assert (job.status, job.attempts, job.finished_at) == ("failed", 3, clock.now())
    clock.advance(hours=2)
    assert _run(sessions, clock, context) == 0  # failed for good
    assert [c[2] for c in calls.seen] == [1, 2, 3]


def test_retry_job_keeps_what_the_handler_did(session, sessions, clock, context):
    queue.enqueue(session, "test.partial", {}, run_at=NOW)
    session.commit()
    _run(sessions, clock, context)
    (job,) = _jobs(session, "test.partial")
    assert (job.status, job.attempts, job.last_error) == ("queued", 1, "channel sms:SmsError")
    assert [j.payload for j in _jobs(session, "test.child")] == [{"of": "partial", "attempt": 1}]
    clock.advance(minutes=1)
    _run(sessions, clock, context)
    (job,) = _jobs(session, "test.partial")
    assert (job.status, job.last_error) == ("done", None)
    assert len(_jobs(session, "test.child")) == 2


def test_a_job_without_a_handler_is_retried_then_fails(session, sessions, clock, context):
    queue.enqueue(session, "test.nobody", {}, run_at=NOW, max_attempts=1)
    session.commit()
    _run(sessions, clock, context)
    (job,) = _jobs(session, "test.nobody")
    assert job.status == "failed"
    assert job.last_error == "no handler for job kind 'test.nobody'"


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (7, 1920), (8, 3600), (30, 3600), (10_000, 3600)],
)
def test_backoff_doubles_up_to_an_hour(attempts, seconds):
    assert queue.backoff(attempts, jitter=0.0) == timedelta(seconds=seconds)
    assert queue.backoff(attempts, jitter=0.999) < timedelta(seconds=seconds * 1.25)
    assert queue.backoff(attempts, jitter=0.999) > timedelta(seconds=seconds * 1.24)


# ---------------------------------------------------------------- leases


def test_a_job_whose_worker_died_is_reclaimed_after_its_lease(session, sessions, clock, context, settings):
    queue.enqueue(session, "test.ok", {"n": 1}, run_at=NOW)
    session.commit()
    # worker A claims the job, then dies before running it
    job_id = queue.claim(
        sessions, worker_id="host-a:1", clock=clock, lease_seconds=settings.job_lease_seconds
    )
    assert job_id is not None
    (job,) = _jobs(session, "test.ok")
    assert (job.status, job.locked_by, job.attempts) == ("running", "host-a:1", 1)
    assert job.locked_until == NOW + timedelta(seconds=settings.job_lease_seconds)

    assert _run(sessions, clock, context, "host-b:2") == 0  # still leased to A
    clock.advance(seconds=settings.job_lease_seconds)
    assert _run(sessions, clock, context, "host-b:2") == 1
    assert calls.seen == [("ok", {"n": 1}, 2, "host-b:2")]
    (job,) = _jobs(session, "test.ok")
    assert (job.status, job.attempts, job.locked_by) == ("done", 2, None)

    # A comes back to life: the job is no longer its to run
    status = queue.run_claimed(sessions, job_id, worker_id="host-a:1", clock=clock, context=context)
    assert status == "lost"
    assert len(calls.seen) == 1


def test_a_job_whose_lease_expired_with_no_attempts_left_fails(session, sessions, clock, context):
    queue.enqueue(session, "test.ok", {}, run_at=NOW, max_attempts=1)
    session.commit()
    assert queue.claim(sessions, worker_id="host-a:1", clock=clock, lease_seconds=60) is not None
    clock.advance(seconds=61)
    assert _run(sessions, clock, context, "host-b:2") == 0
    (job,) = _jobs(session, "test.ok")
    assert (job.status, job.finished_at) == ("failed", clock.now())
    assert job.last_error is not None and "lease expired" in job.last_error
    assert calls.seen == []


def test_worker_id_is_host_and_pid():
    import os

    host, _, pid = queue.default_worker_id().rpartition(":")
    assert host and pid == str(os.getpid())


def test_handler_kinds_cannot_be_registered_twice():
    def other(ctx: JobContext, payload: Mapping[str, Any]) -> None:  # pragma: no cover
        pass

    with pytest.raises(ValueError, match="already registered"):
        queue.handler("test.ok")(other)


def test_the_worker_loads_every_domain_handler():
    queue.load_handlers()
    assert {"reminder.send", "appointment.notice"} <= set(queue._HANDLERS)


# ---------------------------------------------------------------- enqueue_many


class _Statements:
    def __init__(self, session) -> None:
        self.seen: list[str] = []
        self.engine = session.get_bind().engine

    def __enter__(self) -> _Statements:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, params, context, executemany) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):
            self.seen.append(statement)


def test_enqueue_many_inserts_new_jobs_in_one_statement(session):
    batch = [
        queue.NewJob(
            "test.ok", {"n": i}, NOW + timedelta(minutes=i), dedupe_key=f"many:{i}", max_attempts=i + 1
        )
        for i in range(4)
    ] + [queue.NewJob("test.ok", {"n": "no key"}, NOW)]
    session.flush()
    with _Statements(session) as stmts:
        got = queue.enqueue_many(session, batch)
    # one multi-row INSERT for the jobs with a key, one for the job without
    assert len(stmts.seen) == 2 and all("ON CONFLICT" in seen.upper() for seen in stmts.seen)
    with _Statements(session) as stmts:
        more = queue.enqueue_many(
            session, [queue.NewJob("test.ok", {"n": i}, NOW, dedupe_key=f"more:{i}") for i in range(3)]
        )
    assert len(stmts.seen) == 1 and all(more)
    assert all(job is not None for job in got)
    assert [(j.payload, j.run_at, j.dedupe_key, j.max_attempts, j.status, j.attempts) for j in got] == [
        ({"n": i}, NOW + timedelta(minutes=i), f"many:{i}", i + 1, "queued", 0) for i in range(4)
    ] + [({"n": "no key"}, NOW, None, queue.DEFAULT_MAX_ATTEMPTS, "queued", 0)]
    session.commit()
    assert sorted(str(j.payload["n"]) for j in _jobs(session)) == [
        "0",
        "0",
        "1",
        "1",
        "2",
        "2",
        "3",
        "no key",
    ]


def test_enqueue_many_answers_as_enqueue_one_after_the_other(session):
    """Each key in each state, a key twice in the batch, and jobs without a key: the same results and rows as
    the same calls to enqueue in order."""
    for key, status in [
        ("live", "queued"),
        ("run", "running"),
        ("done", "done"),
        ("c", "cancelled"),
        ("f", "failed"),
    ]:
        job = queue.enqueue(session, "test.ok", {"old": key}, run_at=NOW, dedupe_key=f"m:{key}")
        assert job is not None
        job.status, job.attempts, job.last_error = status, 3, "x"
        job.finished_at = NOW if status in ("done", "cancelled", "failed") else None
        job.locked_by = "host:9" if status == "running" else None
    session.flush()
    later = NOW + timedelta(hours=2)
    batch = [
        queue.NewJob("test.ok", {"new": "live"}, later, dedupe_key="m:live"),
        queue.NewJob("test.ok", {"new": "run"}, later, dedupe_key="m:run"),
        queue.NewJob("test.ok", {"new": "done"}, later, dedupe_key="m:done"),
        queue.NewJob("test.other", {"new": "c"}, later, dedupe_key="m:c", max_attempts=9),
        queue.NewJob("test.ok", {"new": "f"}, later, dedupe_key="m:f"),
        queue.NewJob("test.ok", {"new": "fresh"}, later, dedupe_key="m:fresh"),
        queue.NewJob("test.ok", {"new": "fresh again"}, later, dedupe_key="m:fresh"),
        queue.NewJob("test.ok", {"new": "c again"}, later, dedupe_key="m:c"),
        queue.NewJob("test.ok", {"new": "keyless"}, later),
    ]
    got = queue.enqueue_many(session, batch)
    assert [j is not None for j in got] == [False, False, False, True, True, True, False, False, True]
    by_key = {j.dedupe_key: j for j in _jobs(session)}
    for key in ("live", "run", "done"):
        assert by_key[f"m:{key}"].payload == {"old": key}  # untouched
    requeued = by_key["m:c"]
    assert got[3] is not None and got[3].id == requeued.id
    assert (requeued.kind, requeued.payload, requeued.run_at, requeued.max_attempts) == (
        "test.other",
        {"new": "c"},
        later,
        9,
    )
    for job in (by_key["m:c"], by_key["m:f"]):
        assert (job.status, job.attempts, job.last_error, job.finished_at, job.locked_by) == (
            "queued",
            0,
            None,
            None,
            None,
        )
    assert by_key["m:fresh"].payload == {"new": "fresh"}
    assert by_key[None].payload == {"new": "keyless"}


def test_enqueue_many_checks_every_run_at_before_writing(session):
    with pytest.raises(ValueError, match="aware"):
        queue.enqueue_many(
            session,
            [
                queue.NewJob("test.ok", {}, NOW, dedupe_key="ok"),
                queue.NewJob("test.ok", {}, datetime(2026, 1, 1)),
            ],
        )
    assert _jobs(session) == []
    assert queue.enqueue_many(session, []) == []


def test_enqueue_many_reinserts_a_key_whose_row_vanished_between_insert_and_lookup(session, monkeypatch):
    queue.enqueue(session, "test.ok", {"n": 1}, run_at=NOW, dedupe_key="k:a")
    queue.enqueue(session, "test.ok", {"n": 1}, run_at=NOW, dedupe_key="k:b")
    real = jobs_repo.by_dedupe_keys
    looks: list[list[str]] = []

    def vanishing(s, keys):
        looks.append(sorted(keys))
        if len(looks) == 1:  # k:a was deleted (a purge) after our INSERT found it: gone at the lookup
            s.execute(Job.__table__.delete().where(Job.dedupe_key == "k:a"))
        return real(s, keys)

    monkeypatch.setattr(jobs_repo, "by_dedupe_keys", vanishing)
    got = queue.enqueue_many(
        session,
        [
            queue.NewJob("test.ok", {"n": 2}, NOW, dedupe_key="k:a"),
            queue.NewJob("test.ok", {"n": 2}, NOW, dedupe_key="k:b"),
        ],
    )
    assert got[0] is not None and got[0].payload == {"n": 2} and got[1] is None
    assert looks == [["k:a", "k:b"]]  # the second try inserted k:a: nothing left to look up


def test_enqueue_many_neither_waits_for_a_worker_running_the_job_nor_for_a_racing_enqueuer(
    databases, backend
):
    """PostgreSQL, real transactions: (1) a job row a worker holds (``FOR UPDATE`` while it runs) does not make
    an enqueue of its key wait; (2) two transactions enqueueing the same keys: the second waits for the first,
    then gets None for those keys and still commits its own jobs (no unique violation, no poisoned
    transaction)."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): no concurrent enqueue to race")
    import threading

    from sqlalchemy import text

    from careweave.db.engine import make_sessionmaker

    engine = databases.engine()
    factory = make_sessionmaker(engine)
    with factory() as s:
        job = queue.enqueue(s, "test.ok", {}, run_at=NOW, dedupe_key="held")
        assert job is not None
        job.status = "running"
        s.commit()
    worker = factory()
    assert jobs_repo.for_update(worker, job.id) is not None  # the worker holds the row
    try:
        with factory() as booking:
            booking.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert queue.enqueue_many(booking, [queue.NewJob("test.ok", {}, NOW, dedupe_key="held")]) == [
                None
            ]
            booking.commit()
    finally:
        worker.rollback()
        worker.close()

    first, second = factory(), factory()
    got_first = queue.enqueue_many(
        first, [queue.NewJob("test.ok", {"by": 1}, NOW, dedupe_key=k) for k in ("r:1", "r:2")]
    )
    assert all(got_first)
    result: list[object] = []

    def racer() -> None:
        try:
            result.append(
                queue.enqueue_many(
                    second,
                    [queue.NewJob("test.ok", {"by": 2}, NOW, dedupe_key=k) for k in ("r:2", "r:3", "r:1")],
                )
            )
            second.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            result.append(exc)

    thread = threading.Thread(target=racer)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive()  # waiting for the first transaction's keys
    first.commit()
    thread.join(10)
    first.close()
    second.close()
    got = result[0]
    assert isinstance(got, list), got
    assert [j is not None for j in got] == [False, True, False]
    with factory() as s:
        rows = {j.dedupe_key: j.payload for j in s.scalars(select(Job).where(Job.dedupe_key.like("r:%")))}
    assert rows == {"r:1": {"by": 1}, "r:2": {"by": 1}, "r:3": {"by": 2}}
