"""Exactly once with concurrent workers: two workers (threads, each with its own connections) run the same
100 due reminders on a real, committed database. Each reminder is recorded once per channel and reaches the
transport once. On PostgreSQL the claim is ``FOR UPDATE SKIP LOCKED``; on SQLite every transaction takes the
write lock first (BEGIN IMMEDIATE), so the same code holds there too."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from careweave.core.clock import FixedClock
from careweave.db.engine import make_sessionmaker
from careweave.db.uow import unit_of_work
from careweave.jobs import queue
from careweave.jobs.models import Job
from careweave.jobs.queue import WorkerContext
from careweave.notify.mail import Mail
from careweave.notify.sms import Sms
from careweave.scheduling import reminders
from careweave.scheduling.models import ReminderDelivery
from careweave.settings import Settings
from tests.integration.test_reminders import make_appointment, make_patient, make_provider

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
SIDE = 10  # 10 patients x 10 clinicians = 100 visits within 10 hours, none overlapping


class SlowRecordingMailer:
    """Counts every message the transport accepted; a little slow, so the workers interleave."""

    def __init__(self) -> None:
        self.sent: list[Mail] = []
        self.lock = threading.Lock()

    def send(self, mail: Mail) -> None:
        time.sleep(0.002)
        with self.lock:
            self.sent.append(mail)


class SlowRecordingSms:
    def __init__(self) -> None:
        self.sent: list[Sms] = []
        self.lock = threading.Lock()

    def send(self, sms: Sms) -> None:
        time.sleep(0.002)
        with self.lock:
            self.sent.append(sms)


@pytest.fixture
def workers_settings(tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        secret_key="test-secret-key-" + "x" * 32,
        data_dir=tmp_path,
        database_url="sqlite://",
        base_url="http://testserver",
    )


def test_two_workers_send_each_of_100_reminders_exactly_once(databases, backend, workers_settings):
    settings = workers_settings
    engine = databases.engine()
    factory = make_sessionmaker(engine)
    clock = FixedClock(T0)
    first_start = T0 + timedelta(hours=30)
    with unit_of_work(factory) as session:
        providers = [make_provider(session, settings, f"Dr. Test Clinician {j}") for j in range(SIDE)]
        patients = [make_patient(session, settings, name=f"Pat Test{i}")[1] for i in range(SIDE)]
        visits = [
            make_appointment(
                session,
                provider_id=providers[j].id,
                patient_id=patients[i],
                start=first_start + timedelta(hours=(i + j) % SIDE),
            )
            for i in range(SIDE)
            for j in range(SIDE)
        ]
        for appt in visits:
            reminders.schedule(session, appt, settings=settings, clock=clock)
    # every 24-hour reminder is due, no 1-hour one is
    clock.advance(hours=16)

    mailer, sms = SlowRecordingMailer(), SlowRecordingSms()
    context = WorkerContext(settings=settings, mailer=mailer, sms=sms)
    ran: dict[str, int] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(worker_id: str) -> None:
        worker_factory = make_sessionmaker(engine)  # its own sessions and pooled connections
        start.wait()
        total = 0
        try:
            while n := queue.run_due(
                worker_factory, worker_id=worker_id, clock=clock, context=context, limit=7
            ):
                total += n
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        ran[worker_id] = total

    threads = [threading.Thread(target=work, args=(f"host-{k}:{1000 + k}",)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert sum(ran.values()) == 100, ran
    if backend == "postgresql":
        assert all(n > 0 for n in ran.values()), ran  # they really ran side by side

    with factory() as session:
        deliveries = session.scalars(select(ReminderDelivery)).all()
        keys = Counter((d.appointment_id, d.start_at, d.offset_minutes, d.channel) for d in deliveries)
        assert len(keys) == 200 and set(keys.values()) == {1}
        assert {d.offset_minutes for d in deliveries} == {1440}
        assert {(d.appointment_id, d.channel) for d in deliveries} == {
            (v.id, channel) for v in visits for channel in ("email", "sms")
        }
        jobs = session.scalars(select(Job).where(Job.payload["offset_minutes"].as_integer() == 1440)).all()
        assert len(jobs) == 100
        assert {(j.status, j.attempts) for j in jobs} == {("done", 1)}  # each claimed and run once
        assert set(Counter(d.worker for d in deliveries)) <= set(ran)
        pending = session.scalar(select(func.count()).select_from(Job).where(Job.status == "queued"))
        assert pending == 100  # the 1-hour reminders, not due yet

    # the transport saw each message once
    assert len(mailer.sent) == 100 and len({m.message_id for m in mailer.sent}) == 100
    assert len(sms.sent) == 100 and len({s.key for s in sms.sent}) == 100
