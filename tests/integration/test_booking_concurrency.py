"""No double booking under real concurrency (issue #5): 50 patients fire a booking at the same slot at the
same moment, over HTTP, against a live server on its own database (committed transactions, a connection
pool). Exactly one gets 201; every other gets 409 with a clear message; nothing else is written for them.
Runs on SQLite (writers serialised by BEGIN IMMEDIATE) and on PostgreSQL (the exclusion constraint)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from sqlalchemy import func, select

from careweave.app import create_app
from careweave.audit.models import AuditEvent
from careweave.core.clock import FixedClock
from careweave.db.engine import make_sessionmaker
from careweave.db.uow import unit_of_work
from careweave.identity.models import User
from careweave.jobs.models import Job
from careweave.scheduling.models import Appointment
from tests.builders import PASSWORD, scheduling_world

ATTEMPTS = int(__import__("os").environ.get("CW_ATTEMPTS", "50"))
NY = ZoneInfo("America/New_York")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture
def live(databases, settings):
    engine = databases.engine()
    factory = make_sessionmaker(engine)
    clock = FixedClock(datetime(2026, 3, 2, 8, tzinfo=NY).astimezone(UTC))
    settings = settings.model_copy(update={"mfa_required": False, "database_url": str(engine.url)})
    with unit_of_work(factory) as session:
        world = scheduling_world(session, settings, clock, patients=ATTEMPTS)
        emails = [session.get(User, p.user_id).email for p in world["patients"]]
        ids = {"provider": world["provider"].id, "patients": [p.patient_id for p in world["patients"]]}
    app = create_app(settings, sessionmaker_=factory, clock=clock)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", factory, emails, ids
    server.should_exit = True
    thread.join(timeout=10)


def test_fifty_concurrent_bookings_of_one_slot(live):
    base, factory, emails, ids = live
    tokens = []
    for email in emails:
        status, body = _post(
            base + "/api/v1/auth/token",
            urllib.parse.urlencode({"username": email, "password": PASSWORD}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 200, body
        tokens.append(body["access_token"])
    with unit_of_work(factory) as session:
        before_jobs = session.scalar(select(func.count()).select_from(Job))
        before_audit = session.scalar(select(func.count()).select_from(AuditEvent))
    start = datetime.combine(date(2026, 3, 4), datetime.min.time().replace(hour=15), tzinfo=NY)
    barrier = threading.Barrier(ATTEMPTS)

    def attempt(i: int) -> tuple[int, dict]:
        body = json.dumps(
            {
                "provider_id": str(ids["provider"]),
                "patient_id": str(ids["patients"][i]),
                "start": start.isoformat(),
                "visit_type": "therapy_session",
            }
        ).encode()
        barrier.wait()
        return _post(
            base + "/api/v1/appointments",
            body,
            {"Content-Type": "application/json", "Authorization": f"Bearer {tokens[i]}"},
        )

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        results = list(pool.map(attempt, range(ATTEMPTS)))
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == 1, codes
    assert codes.count(409) == ATTEMPTS - 1, codes
    for code, body in results:
        if code == 409:
            assert body["error"]["code"] == "slot_taken"
            assert "no longer available" in body["error"]["message"]
    (winner,) = [body for code, body in results if code == 201]
    with unit_of_work(factory) as session:
        rows = session.scalars(select(Appointment)).all()
        assert [r.id for r in rows] == [uuid.UUID(winner["id"])]
        assert rows[0].start_at == start.astimezone(UTC)
        # only the winner's reminders/notice and audit rows were written
        jobs = session.scalars(select(Job)).all()
        assert len(jobs) > before_jobs
        assert {j.payload.get("appointment_id") for j in jobs[before_jobs:]} <= {winner["id"], None}
        booked = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "appointment.book")
        )
        assert booked == 1  # appointment.book, once (the winner also joined the care team)
        assert session.scalar(select(func.count()).select_from(AuditEvent)) - before_audit == 2
