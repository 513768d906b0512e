"""Review regression (matching at scale, session 4): SQL ranks by the unrounded float score; the rules by parts rounded to 4 places: far-off openings tie in
the rules (name decides) but not in SQL, so run_match can differ from the rules' whole ranking."""

from __future__ import annotations

from datetime import time, timedelta

from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory import matching
from careweave.identity import service as identity
from careweave.scheduling import service as scheduling
from tests.builders import make_user
from tests.integration.test_matching_availability import DAY, NOW, ZONE, _need, _provider


def _hours(session, clock, admin, pid, days_off, horizon=150):
    weekly = tuple(scheduling.WindowIn(d, time(9), time(17)) for d in range(7))
    off = tuple(scheduling.ExceptionIn(DAY + timedelta(days=i)) for i in range(days_off))
    data = scheduling.AvailabilityIn(ZONE, weekly, off, min_notice_minutes=0, horizon_days=horizon)
    scheduling.set_availability(session, admin, pid, data, clock=clock)


def test_far_openings_tie_in_rules_but_not_in_sql(session: Session, settings) -> None:
    clock = FixedClock(NOW)
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    for i in range(6):
        _hours(session, clock, admin, _provider(session, clock, admin, f"Zed {i}"), days_off=100)
    _hours(session, clock, admin, _provider(session, clock, admin, "Aaron"), days_off=101)
    session.flush()
    everyone = matching.run_match(session, _need(), plan_name=None, now=NOW, limit=None)
    top = matching.run_match(session, _need(), plan_name=None, now=NOW, limit=1)
    print([(r.name, r.score.total, r.next_available) for r in everyone.therapists])
    assert [r.name for r in top.therapists] == [r.name for r in everyone.therapists][:1]
