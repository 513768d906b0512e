from __future__ import annotations

import contextlib
import threading
import warnings

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError, SAWarning

from careweave.audit import chain
from careweave.audit import service as audit
from careweave.audit.models import AuditChainHead, AuditEvent
from careweave.core.actor import Actor, Role
from careweave.core.clock import SystemClock
from careweave.core.errors import NotFound
from careweave.db.engine import make_sessionmaker
from careweave.db.uow import unit_of_work
from careweave.identity import service as identity
from careweave.patients import service as patients
from careweave.scheduling.models import VisitType
from tests.builders import join_team, make_user


def test_every_patient_read_is_audited_with_who_and_outcome(session, settings, clock):
    ana = make_user(session, settings, Role.PATIENT)
    cara = make_user(session, settings, Role.THERAPIST)
    patient_id = patients.patient_id_for_user(session, ana.id)
    join_team(session, patient_id, cara)
    actor = identity.actor_for(session, cara, ip="203.0.113.5", request_id="req-1")
    patients.get_patient(session, actor, patient_id, clock=clock)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.patient_id == patient_id, AuditEvent.action == "patient.viewed")
    ).one()
    assert event.actor_user_id == cara.id
    assert event.actor_role == "therapist"
    assert event.outcome == "success"
    assert event.ip == "203.0.113.5"
    assert event.request_id == "req-1"
    assert event.purpose == "treatment"


def test_listing_patients_audits_each_patient_shown(session, settings, clock):
    make_user(session, settings, Role.PATIENT)
    make_user(session, settings, Role.PATIENT)
    dr = make_user(session, settings, Role.PSYCHIATRIST)
    rows, _ = patients.list_patients(session, identity.actor_for(session, dr), clock=clock)
    listed = session.scalars(
        select(AuditEvent.patient_id).where(
            AuditEvent.action == "patient.listed", AuditEvent.actor_user_id == dr.id
        )
    ).all()
    assert set(listed) == {p.id for p in rows}


def test_verify_passes_on_an_untouched_chain(session, settings):
    make_user(session, settings, Role.PATIENT)
    result = audit.verify(session)
    assert result.ok, result.problems
    assert result.checked >= 2


def test_verify_detects_an_edited_event(session, settings):
    make_user(session, settings, Role.PATIENT)
    victim = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    session.execute(update(AuditEvent).where(AuditEvent.seq == victim.seq).values(actor_role="admin"))
    session.expire_all()
    result = audit.verify(session)
    assert not result.ok
    assert any(f"seq {victim.seq}: contents changed" in p for p in result.problems)


def test_verify_detects_a_deleted_event(session, settings):
    make_user(session, settings, Role.PATIENT)
    make_user(session, settings, Role.PATIENT)
    first = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    session.execute(delete(AuditEvent).where(AuditEvent.seq == first.seq - 1))
    session.expire_all()
    result = audit.verify(session)
    assert not result.ok


def test_patient_sees_who_looked_at_their_record(session, settings, clock):
    ana = make_user(session, settings, Role.PATIENT)
    cara = make_user(session, settings, Role.THERAPIST)
    patient_id = patients.patient_id_for_user(session, ana.id)
    # A clinician off the team is refused, and the refusal shows too; on the team, the read shows.
    with pytest.raises(NotFound):
        patients.get_patient(session, identity.actor_for(session, cara), patient_id, clock=clock)
    join_team(session, patient_id, cara)
    patients.get_patient(session, identity.actor_for(session, cara), patient_id, clock=clock)
    log = patients.access_log(session, identity.actor_for(session, ana), patient_id, clock=clock)
    seen = [(e.action, e.outcome) for e in log if e.actor_user_id == cara.id]
    assert ("patient.viewed", "success") in seen and ("patient.viewed", "denied") in seen


def test_concurrent_appends_keep_one_unbroken_chain(databases, settings):
    """Many writers at once: the chain-head lock serialises them; no gaps, no forks."""
    engine = databases.engine()
    factory = make_sessionmaker(engine)
    clock = SystemClock()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                with unit_of_work(factory) as s:
                    audit.record(s, Actor.system(), "test.concurrent", clock=clock, details={"w": n, "i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with unit_of_work(factory) as s:
        result = audit.verify(s)
        places = s.execute(
            select(AuditEvent.chain, AuditEvent.seq).order_by(AuditEvent.chain, AuditEvent.seq)
        )
        by_chain: dict[int, list[int]] = {}
        for number, seq in places:
            by_chain.setdefault(number, []).append(seq)
    assert result.ok, result.problems
    assert result.checked == 80
    # each chain used is whole: 1, 2, 3, ... with no gap (on PostgreSQL the writers spread over several heads)
    assert sum(len(seqs) for seqs in by_chain.values()) == 80
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_chain.values()), by_chain


def _committed(factory):  # type: ignore[no-untyped-def]
    """(the committed events' actions in chain order, verify's result), in a fresh unit of work."""
    with unit_of_work(factory) as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))), audit.verify(s)


def test_events_are_chained_at_commit_in_the_order_recorded(databases, settings):
    """ADR 0015: a transaction's events are written at once and chained when it commits; an event written in
    a savepoint that rolled back is not chained (it is gone); a rolled-back transaction leaves nothing."""
    factory = make_sessionmaker(databases.engine())
    clock = SystemClock()
    with unit_of_work(factory) as s:
        first = audit.record(s, Actor.system(), "test.first", clock=clock)
        assert first.seq is None  # not chained yet: the head is not locked
        with contextlib.suppress(RuntimeError), s.begin_nested():
            audit.record(s, Actor.system(), "test.rolled_back", clock=clock)
            raise RuntimeError("roll the savepoint back")
        audit.record(s, Actor.system(), "test.second", clock=clock)

    def rolled_back() -> None:
        with unit_of_work(factory) as s:
            audit.record(s, Actor.system(), "test.never", clock=clock)
            raise RuntimeError("roll everything back")

    with pytest.raises(RuntimeError):
        rolled_back()
    actions, result = _committed(factory)
    assert actions == ["test.first", "test.second"]
    assert result.ok, result.problems


def test_a_commit_that_fails_loses_its_events_quietly(databases, settings):
    """An event not yet written is set aside while the rest of the transaction flushes; when that flush fails
    the commit fails with the database's error (no warning about the session's state), the event is not
    committed, and the chain stays whole."""
    factory = make_sessionmaker(databases.engine())
    clock = SystemClock()

    def commit_that_fails() -> None:
        with unit_of_work(factory) as s:
            audit.record(s, Actor.system(), "test.lost", clock=clock)
            # the seeded visit type's code again: the flush at commit fails on the primary key
            s.add(VisitType(code="therapy_session", name="Again", duration_minutes=50, service="therapy"))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(IntegrityError):
            commit_that_fails()
    assert not [w for w in caught if issubclass(w.category, SAWarning)], [str(w.message) for w in caught]
    actions, result = _committed(factory)
    assert "test.lost" not in actions
    assert result.ok, result.problems


def test_a_read_of_events_inside_the_transaction_sees_them_chained(session, settings):
    make_user(session, settings, Role.PATIENT)  # records events, not yet committed
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert rows and all(r.seq is not None and r.hash is not None for r in rows)
    assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + len(rows)))


def test_verify_reports_a_committed_event_without_a_place(session, settings):
    make_user(session, settings, Role.PATIENT)
    victim = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.id == victim.id)
        .values(chain=None, seq=None, prev_hash=None, hash=None)
    )
    session.expire_all()
    result = audit.verify(session)
    assert any("have no place in the chain" in p for p in result.problems), result.problems


def test_an_open_transaction_does_not_hold_the_chain(databases, settings):
    """The head is locked only while a transaction commits: a writer that has recorded an event and not yet
    committed does not make another writer wait (before ADR 0015 it held the head from its first event)."""
    if databases.backend != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): nothing to overlap")
    factory = make_sessionmaker(databases.engine())
    clock = SystemClock()
    with unit_of_work(factory) as slow:
        audit.record(slow, Actor.system(), "test.slow", clock=clock)
        slow.flush()
        with unit_of_work(factory) as quick:
            quick.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting on the head would fail here
            audit.record(quick, Actor.system(), "test.quick", clock=clock)
    with unit_of_work(factory) as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
        assert audit.verify(s).ok
    assert actions[-2:] == ["test.quick", "test.slow"]


def test_a_committing_transaction_takes_the_next_free_chain(databases, settings):
    """ADR 0018: while one transaction holds chain 1's head (it has chained its events and not yet committed),
    another commits on chain 2 without waiting; both chains verify, an anchor covers both, and an edit on
    chain 2 is caught there."""
    if databases.backend != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): one chain at a time")
    factory = make_sessionmaker(databases.engine())
    clock = SystemClock()
    with unit_of_work(factory) as slow:
        audit.record(slow, Actor.system(), "test.slow", clock=clock)
        assert audit.seal(slow) == 1  # holds chain 1's head until it commits
        with unit_of_work(factory) as quick:
            quick.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting on a head would fail here
            quick_event = audit.record(quick, Actor.system(), "test.quick", clock=clock)
        audit.record(
            slow, Actor.system(), "test.slow.after", clock=clock
        )  # sealed again at commit: same head
    with unit_of_work(factory) as s:
        rows = {e.action: (e.chain, e.seq) for e in s.scalars(select(AuditEvent))}
        assert rows["test.quick"][0] != rows["test.slow"][0]
        assert rows["test.slow.after"] == (rows["test.slow"][0], rows["test.slow"][1] + 1)
        assert audit.verify(s).ok
        lines = audit.anchor(s, clock=clock).splitlines()
    anchors, bad = chain.parse_anchors("\n".join(lines))
    assert bad == [] and {a.chain for a in anchors} >= {rows["test.quick"][0], rows["test.slow"][0]}
    with unit_of_work(factory) as s:
        s.execute(update(AuditEvent).where(AuditEvent.id == quick_event.id).values(action="test.edited"))
    with unit_of_work(factory) as s:
        result = audit.verify(s, anchors)
    number, seq = rows["test.quick"]
    assert result.problems == [f"chain {number} seq {seq}: contents changed since it was written"]


def test_events_on_a_chain_without_a_head_are_reported(session, settings):
    audit.record(session, Actor.system(), "test.orphan", clock=SystemClock())
    audit.seal(session)
    session.execute(delete(AuditChainHead).where(AuditChainHead.id == 1))
    result = audit.verify(session)
    assert any(
        p.startswith("chain 1: ") and p.endswith("events on a chain whose head is gone")
        for p in result.problems
    ), result.problems


def test_a_transaction_with_many_events_is_chained_whole(session, settings):
    for i in range(30):
        audit.record(session, Actor.system(), "test.bulk", clock=SystemClock(), details={"i": i})
    assert audit.seal(session) == 30
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "test.bulk").order_by(AuditEvent.seq)
    )
    assert [r.details["i"] for r in rows] == list(range(30))
    assert audit.verify(session).ok


def test_chaining_survives_savepoints_and_detached_events(databases, settings):
    """Review findings: a read of events inside a savepoint that rolls back, and an event expunged from the
    session after its INSERT, are still chained at commit."""
    factory = make_sessionmaker(databases.engine())
    clock = SystemClock()
    with unit_of_work(factory) as s:
        audit.record(s, Actor.system(), "test.before_savepoint", clock=clock)
        with contextlib.suppress(RuntimeError), s.begin_nested():
            s.scalars(select(AuditEvent)).all()  # inside a savepoint: does not chain
            raise RuntimeError("roll the savepoint back")
    with unit_of_work(factory) as s:
        audit.record(s, Actor.system(), "test.expunged", clock=clock)
        s.flush()
        s.expunge_all()
    actions, result = _committed(factory)
    assert actions == ["test.before_savepoint", "test.expunged"]
    assert result.ok, result.problems


def test_reading_other_columns_does_not_take_the_chain(session, settings):
    """A page reading when events happened does not chain (and lock the head) early; loading events does."""
    event = audit.record(session, Actor.system(), "test.when", clock=SystemClock())
    session.scalars(select(AuditEvent.occurred_at).where(AuditEvent.action == "test.when")).all()
    assert event.seq is None
    session.scalars(select(AuditEvent).where(AuditEvent.action == "test.when")).all()
    assert event.seq is not None


def test_verify_while_others_write_finds_no_false_break(databases, settings):
    """verify checks up to the head it read first: writers committing meanwhile are no break (it said "chain
    head says seq N; the stored chain ends at N-1" before)."""
    factory = make_sessionmaker(databases.engine())
    clock = SystemClock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                with unit_of_work(factory) as s:
                    audit.record(s, Actor.system(), "test.busy", clock=clock)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        results = []
        for _ in range(10):
            with unit_of_work(factory) as s:
                results.append(audit.verify(s))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert all(r.ok for r in results), [r.problems for r in results if not r.ok]
