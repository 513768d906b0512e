"""Matching filters and ranks by free time (issue #4 "has availability in the window", "earliest
availability"): a provider with no schedule, or fully booked in the window, is never shown, the next one with
free time is (fetching further candidate pages when a whole page has none), an earlier opening ranks first all
else equal, and an empty result says nobody has free time and suggests later dates."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory import matching, rules
from careweave.directory import repository as repo
from careweave.directory import service as directory
from careweave.identity import service as identity
from careweave.patients import service as patients
from careweave.scheduling import earliest
from careweave.scheduling import service as scheduling
from careweave.scheduling.models import Appointment
from careweave.settings import Settings
from tests.builders import make_user
from tests.visit_builders import make_appointment

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday, 7:00 AM in New York
DAY = NOW.date()
ZONE = "America/New_York"


@pytest.fixture
def world(session: Session, settings: Settings):  # type: ignore[no-untyped-def]
    clock = FixedClock(NOW)
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    patient = make_user(session, settings, Role.PATIENT, state="NY")
    return clock, admin, patients.patient_id_for_user(session, patient.id)


def _profile(session: Session, clock: FixedClock, admin, name: str, credential: str = "LCSW") -> uuid.UUID:  # type: ignore[no-untyped-def]
    """A self-pay therapist treating depression in English, accepting, with room: no licence yet."""
    provider = directory.create_provider(
        session,
        admin,
        {
            "name": name,
            "credential": credential,
            "offers": ["therapy"],
            "conditions": ["depression"],
            "languages": ["en"],
            "accepting_new_patients": True,
            "capacity": 10,
            "self_pay": True,
        },
        clock=clock,
    )
    return provider.id


def _provider(session: Session, clock: FixedClock, admin, name: str, state: str = "NY") -> uuid.UUID:  # type: ignore[no-untyped-def]
    pid = _profile(session, clock, admin, name)
    directory.add_license(
        session,
        admin,
        pid,
        state=state,
        license_type="LCSW",
        number=name[:8],
        status="active",
        issued=None,
        expires=date(2030, 1, 1),
        clock=clock,
    )
    return pid


def _hours(  # type: ignore[no-untyped-def]
    session: Session,
    clock: FixedClock,
    admin,
    provider_id: uuid.UUID,
    *,
    start: int = 9,
    end: int = 17,
    days_off: int = 0,
    horizon: int = 60,
) -> None:
    """Hours every day from ``start`` to ``end`` New York time, no notice, the first ``days_off`` days off."""
    weekly = tuple(scheduling.WindowIn(d, time(start), time(end)) for d in range(7))
    off = tuple(scheduling.ExceptionIn(DAY + timedelta(days=i)) for i in range(days_off))
    data = scheduling.AvailabilityIn(ZONE, weekly, off, min_notice_minutes=0, horizon_days=horizon)
    scheduling.set_availability(session, admin, provider_id, data, clock=clock)


def _need(state: str = "NY") -> rules.Need:
    return rules.Need(
        pathway="therapy", state=state, on_date=DAY, self_pay=True, conditions=frozenset({"depression"})
    )


def _names(result: rules.MatchResult) -> list[str]:
    return [r.name for r in result.therapists]


def test_unavailable_providers_are_never_shown_and_earlier_openings_rank_first(
    session: Session, world
) -> None:  # type: ignore[no-untyped-def]
    clock, admin, patient_id = world
    _provider(session, clock, admin, "Aaron Unscheduled")  # no schedule at all
    booked = _provider(session, clock, admin, "Abby Booked")
    # One hour a day over a three-day horizon, every hour taken: no free time in the window.
    _hours(session, clock, admin, booked, start=9, end=10, horizon=3)
    for i in range(4):
        start = datetime.combine(DAY + timedelta(days=i), time(9), tzinfo=ZoneInfo(ZONE))
        make_appointment(
            session, patient_id=patient_id, provider_id=booked, start_at=start.astimezone(UTC), minutes=60
        )
    later = _provider(session, clock, admin, "Adam Later")  # first in name order, free only in five days
    _hours(session, clock, admin, later, days_off=5)
    soon = _provider(session, clock, admin, "Zoe Soon")
    _hours(session, clock, admin, soon)
    session.flush()

    result = matching.run_match(session, _need(), plan_name=None, now=NOW)
    assert _names(result) == ["Zoe Soon", "Adam Later"]
    first, second = result.therapists
    assert first.next_available == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 9:00 AM in New York today
    assert second.next_available == datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    assert first.score.parts["earliest_availability"] > second.score.parts["earliest_availability"]
    assert first.score.total > second.score.total
    assert "Next available 1 December 2026" in first.reasons

    # The same through the path that ranks everyone in the state (no limit, or a modality preference).
    everyone = matching.run_match(session, _need(), plan_name=None, now=NOW, limit=None)
    assert _names(everyone) == ["Zoe Soon", "Adam Later"]
    assert everyone.excluded_summary["therapist"]["no_availability"] == 2

    # The booked provider frees up once a visit is cancelled.
    appt = session.scalars(select(Appointment).where(Appointment.provider_id == booked).limit(1)).one()
    appt.status = "cancelled"
    session.flush()
    earliest.refresh(session, [booked], now=NOW)  # as scheduling.cancel does
    assert "Abby Booked" in _names(matching.run_match(session, _need(), plan_name=None, now=NOW))


def test_a_page_of_unavailable_candidates_fetches_the_next(session: Session, world) -> None:  # type: ignore[no-untyped-def]
    """The SQL candidates come in pages; when the rules refuse a whole page for want of free time, the next
    page is fetched, so the results stay the rules' top N among providers with free time."""
    clock, admin, _ = world
    for i in range(8):  # more than a page (limit 1 + 5 slack) of unscheduled providers, first by name
        _provider(session, clock, admin, f"Aa Unscheduled {i}")
    available = _provider(session, clock, admin, "Zed Available")
    _hours(session, clock, admin, available)
    session.flush()
    result = matching.run_match(session, _need(), plan_name=None, now=NOW, limit=1)
    assert _names(result) == ["Zed Available"]


def test_nobody_with_free_time_is_explained(session: Session, world) -> None:  # type: ignore[no-untyped-def]
    clock, admin, _ = world
    _provider(session, clock, admin, "Vera Unscheduled", state="VT")
    closed = _provider(session, clock, admin, "Vic Closed", state="VT")
    _hours(session, clock, admin, closed, days_off=10, horizon=5)  # every day of the horizon off
    session.flush()
    result = matching.run_match(session, _need("VT"), plan_name=None, now=NOW)
    assert result.therapists == ()
    assert result.excluded_summary["therapist"]["no_availability"] == 2
    explanation = result.explanations["therapist"]
    assert "has free time for a first visit" in explanation.message
    assert explanation.relax[0] == "later_dates"
    reasons = {
        f.name: rules.exclusions(f, _need("VT"), "therapist")
        for f in matching._with_availability(
            session,
            matching._facts(session, list(_vt_ids(session)), DAY),
            _need("VT"),
            "therapist",
            rules.default_rules(),
            NOW,
        ).values()
    }
    assert "not published a schedule" in reasons["Vera Unscheduled"][0].reason
    assert reasons["Vic Closed"][0].reason.startswith("No free time for a first visit")


def _vt_ids(session: Session) -> list[uuid.UUID]:
    return repo.candidate_ids_in_state(session, "VT", DAY)
