"""Review regression (matching at scale, session 4): A waitlist hold stops counting as busy at expires_at (repository.busy_many: expires_at > now), but the stored
earliest free time is only refreshed when expire_offer runs (the worker's job): in between the stored time is
LATER than the truth, and fresh_openings reported it as exact. Matching, which reads the stored times with its
provider rows since session 10, must not either."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory import matching, rules
from careweave.identity import service as identity
from careweave.patients import service as patients
from careweave.scheduling import earliest, waitlist
from careweave.scheduling import service as scheduling
from tests.builders import make_user
from tests.integration.test_matching_availability import NOW, _hours, _provider


def test_expired_hold_leaves_stored_time_later_than_truth(session: Session, settings) -> None:
    clock = FixedClock(NOW)
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    p1 = patients.patient_id_for_user(session, make_user(session, settings, Role.PATIENT, state="NY").id)
    p2 = patients.patient_id_for_user(session, make_user(session, settings, Role.PATIENT, state="NY").id)
    pid = _provider(session, clock, admin, "Hal Held")
    _hours(session, clock, admin, pid, start=9, end=11)
    first = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    for h in (0, 1):
        scheduling.book(
            session,
            admin,
            provider_id=pid,
            patient_id=p1,
            start=first + timedelta(hours=h),
            visit_type="therapy_intake",
            clock=clock,
            settings=settings,
        )
    first += timedelta(days=1)
    appt = scheduling.book(
        session,
        admin,
        provider_id=pid,
        patient_id=p1,
        start=first,
        visit_type="therapy_intake",
        clock=clock,
        settings=settings,
    )
    waitlist.join(
        session,
        admin,
        patient_id=p2,
        provider_id=pid,
        visit_type="therapy_intake",
        window_start=NOW,
        window_end=NOW + timedelta(days=3),
        clock=clock,
    )
    scheduling.cancel(session, admin, appt.id, reason=None, clock=clock, settings=settings)
    session.flush()
    later = NOW + timedelta(minutes=settings.waitlist_offer_minutes, seconds=1)  # hold expired, job not run
    assert later < first
    fresh = earliest.fresh_openings(session, [pid], "therapy_intake", now=later, on_date=later.date())
    exact = scheduling.openings(
        session, [pid], visit_type_for={pid: "therapy_intake"}, now=later, from_day=later.date()
    )
    assert fresh.get(pid) is None or fresh[pid] == exact[pid].start
    # Matching reads the stored times with its provider rows (not through fresh_openings): the same rule.
    need = rules.Need(
        pathway="therapy",
        state="NY",
        on_date=later.date(),
        self_pay=True,
        conditions=frozenset({"depression"}),
    )
    result = matching.run_match(session, need, plan_name=None, now=later)
    shown = {r.provider_id: r.next_available for r in result.therapists}
    assert shown[str(pid)] == exact[pid].start
