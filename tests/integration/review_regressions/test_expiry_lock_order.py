"""Review regression (match documents, session 5): the licence-expiry job locked the audit chain's head (one
audit.record per expired licence) before the providers' rows (documents.refresh at its end), the opposite order
of booking and directory edits (provider first, audit last): a booking holding a provider while the job held
the head deadlocked on PostgreSQL. The job now locks the providers first (documents.lock)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import sessionmaker

from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import FixedClock
from careweave.db.uow import unit_of_work
from careweave.directory import licensing
from careweave.directory import service as directory
from careweave.scheduling import earliest

SYSTEM = Actor.system()
CLOCK = FixedClock(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))


def test_the_expiry_job_and_a_booking_do_not_deadlock(databases) -> None:  # type: ignore[no-untyped-def]
    if databases.backend != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): no lock order to get wrong")
    engine = databases.engine()
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with unit_of_work(factory) as session:
        p = directory.create_provider(
            session,
            SYSTEM,
            {"name": "Pat Expiring", "credential": "LCSW", "offers": ["therapy"]},
            clock=CLOCK,
        )
        directory.add_license(
            session,
            SYSTEM,
            p.id,
            state="NY",
            license_type="LCSW",
            number="NY-1",
            status="active",
            issued=date(2020, 1, 1),
            expires=date(2026, 1, 1),  # expired: the job will mark it
            clock=CLOCK,
        )
        pid = p.id
    outcome: dict[str, object] = {}
    booking = factory()
    earliest.lock(booking, [pid])  # as book() does first

    def job() -> None:
        try:
            with unit_of_work(factory) as session:
                outcome["job"] = licensing.expire_licences(session, clock=CLOCK)
        except BaseException as exc:  # pragma: no cover - reported below
            outcome["job"] = repr(exc)

    worker = threading.Thread(target=job)
    worker.start()
    time.sleep(0.5)  # the job claims the licence and waits for the provider the booking holds
    try:
        audit.record(
            booking, SYSTEM, "appointment.booked", clock=CLOCK, entity_type="provider", entity_id=pid
        )
        booking.commit()
        outcome["booking"] = "ok"
    except BaseException as exc:  # pragma: no cover - reported below
        outcome["booking"] = repr(exc)
        booking.rollback()
    finally:
        worker.join(timeout=30)
        booking.close()
    assert outcome == {"booking": "ok", "job": 1}
