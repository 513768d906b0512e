"""Concurrency of measurement-based care (issue #8), on a real committed database: eight requests starting an
episode of care for the same patient at once open exactly one (the partial unique index on open episodes); the
others get a clean 409 Conflict and leave nothing behind."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from careweave.core.actor import Role
from careweave.core.clock import SystemClock
from careweave.core.errors import Conflict
from careweave.db.engine import make_sessionmaker
from careweave.db.uow import unit_of_work
from careweave.identity import service as identity
from careweave.outcomes import service as outcomes
from careweave.outcomes.models import CareEpisode
from careweave.patients import service as patients
from careweave.settings import Settings
from tests.builders import make_user

ATTEMPTS = 8


def test_concurrent_starts_open_exactly_one_episode(databases, tmp_path: Path):
    settings = Settings(
        env="test", secret_key="test-secret-key-" + "x" * 32, data_dir=tmp_path, database_url="sqlite://"
    )
    engine = databases.engine()
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        admin = make_user(session, settings, Role.ADMIN)
        patient = make_user(session, settings, Role.PATIENT, state="NY")
        pid = patients.patient_id_for_user(session, patient.id)
        admin_id = admin.id
    outcomes_seen: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(ATTEMPTS)

    def attempt() -> None:
        worker_factory = make_sessionmaker(engine)
        barrier.wait()
        try:
            with unit_of_work(worker_factory) as session:
                actor = identity.actor_for(session, identity.get_user(session, admin_id))
                outcomes.start_episode(session, actor, pid, clock=SystemClock())
            result = "opened"
        except Conflict:
            result = "conflict"
        except BaseException as exc:  # pragma: no cover - reported below
            result = f"error: {exc!r}"
        with lock:
            outcomes_seen.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(ATTEMPTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes_seen) == ["conflict"] * (ATTEMPTS - 1) + ["opened"], outcomes_seen
    with factory() as session:
        assert (
            session.scalar(select(func.count()).select_from(CareEpisode).where(CareEpisode.patient_id == pid))
            == 1
        )
