from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, select, update

from careweave.audit import service as audit
from careweave.audit.models import AuditEvent
from careweave.core.actor import Actor, Role
from careweave.core.clock import SystemClock
from careweave.core.errors import NotFound
from careweave.db.engine import make_sessionmaker
from careweave.db.uow import unit_of_work
from careweave.identity import service as identity
from careweave.patients import service as patients
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
        seqs = list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert result.ok, result.problems
    assert seqs == list(range(1, 81))
