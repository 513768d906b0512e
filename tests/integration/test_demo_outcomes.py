"""The demo's measurement-based-care story does not depend on the time of day it is loaded.

Found by CI at 01:40 UTC: patient5's first check-in was seeded two hours before "11 weeks ago", which after
midnight UTC is the day before the episode's start date, so the episode did not count it and the registry showed
the second check-in (16) as the baseline instead of 17 (tests/e2e/test_outcomes.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.demo.seed import demo_email, seed_demo
from careweave.identity.models import User
from careweave.outcomes.models import MeasureSummary
from careweave.patients.models import Patient


@pytest.mark.parametrize("hour", [1, 13])
def test_patient5_baseline_is_the_first_check_in_whatever_the_hour(
    session: Session, settings, hour: int
) -> None:  # type: ignore[no-untyped-def]
    seed_demo(session, settings=settings, clock=FixedClock(datetime(2026, 11, 28, hour, 30, tzinfo=UTC)))
    session.flush()
    summary = session.scalars(
        select(MeasureSummary)
        .join(Patient, Patient.id == MeasureSummary.patient_id)
        .join(User, User.id == Patient.user_id)
        .where(User.email == demo_email(Role.PATIENT, 5), MeasureSummary.instrument == "phq-9")
    ).one()
    assert (summary.baseline_score, summary.latest_score) == (17, 16)
