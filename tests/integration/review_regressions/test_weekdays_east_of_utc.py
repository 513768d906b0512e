"""Review regression (matching at scale, session 4): _days_late's weekday bound counts from the need's UTC weekday, but the exact search (openings from_day)
starts at local midnight of the need's date in the provider's zone, which east of UTC is the previous UTC
day; the rules then clamp the days to 0. SQL's availability part is then not an upper bound."""

from __future__ import annotations

from datetime import date, time

from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory import matching, rules
from careweave.identity import service as identity
from careweave.scheduling import service as scheduling
from tests.builders import make_user
from tests.integration.test_matching_availability import NOW, _hours, _provider

MONDAY = date(2026, 12, 7)


def test_east_of_utc_provider_scored_too_low_in_sql(session: Session, settings) -> None:
    clock = FixedClock(NOW)
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    for i in range(6):
        _hours(session, clock, admin, _provider(session, clock, admin, f"Zed {i}"))
    guam = _provider(session, clock, admin, "Aaron Guam")
    data = scheduling.AvailabilityIn(
        "Pacific/Guam",
        (scheduling.WindowIn(0, time(9), time(10)),),
        (),
        min_notice_minutes=0,
        horizon_days=60,
    )
    scheduling.set_availability(session, admin, guam, data, clock=clock)
    session.flush()
    need = rules.Need(
        pathway="therapy", state="NY", on_date=MONDAY, self_pay=True, conditions=frozenset({"depression"})
    )
    everyone = matching.run_match(session, need, plan_name=None, now=NOW, limit=None)
    print([(r.name, r.score.total, r.next_available) for r in everyone.therapists])
    top = matching.run_match(session, need, plan_name=None, now=NOW, limit=1)
    assert [r.name for r in top.therapists] == [r.name for r in everyone.therapists][:1]
