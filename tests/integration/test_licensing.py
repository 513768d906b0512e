"""Licence expiry (issue #4): warning buckets at 60/30/7 days, the administrator's list, and the
worker job that marks expired licences, audited and idempotent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.cli import _worker_pass
from careweave.core.actor import Actor, Role
from careweave.core.clock import FixedClock
from careweave.core.errors import PolicyDenied
from careweave.directory import documents, licensing, service
from careweave.directory.licensing import Expiry, classify_expiry
from careweave.directory.models import License
from careweave.identity import service as identity
from tests.builders import make_user

SYSTEM = Actor.system()
TODAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (400, None),
        (61, None),
        (60, 60),  # exactly 60 days: the 60-day bucket
        (31, 60),
        (30, 30),  # exactly 30
        (8, 30),
        (7, 7),  # exactly 7
        (1, 7),
        (0, 7),  # expires today: still valid today, most urgent
    ],
)
def test_buckets_at_the_edges(days, bucket):
    expiry = classify_expiry(TODAY + timedelta(days=days), TODAY)
    assert expiry == Expiry(days, bucket)
    assert not expiry.expired


def test_expired_yesterday_and_undated():
    expiry = classify_expiry(TODAY - timedelta(days=1), TODAY)
    assert expiry == Expiry(-1, None) and expiry.expired
    assert classify_expiry(None, TODAY) is None


def test_thresholds_are_configurable():
    assert classify_expiry(TODAY + timedelta(days=90), TODAY, (90, 14)).bucket == 90
    assert classify_expiry(TODAY + timedelta(days=14), TODAY, [14, 90]).bucket == 14
    assert classify_expiry(TODAY + timedelta(days=91), TODAY, (90, 14)).bucket is None
    for bad in ((), (-1,), (7.5,)):
        with pytest.raises(ValueError, match="thresholds"):
            classify_expiry(TODAY, TODAY, bad)


def test_licence_today_is_the_date_anywhere_on_earth():
    assert licensing.licence_today(FixedClock(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))) == TODAY
    # 05:00 UTC on the 27th is still the 26th in American Samoa (UTC−11)
    assert licensing.licence_today(FixedClock(datetime(2026, 11, 27, 5, 0, tzinfo=UTC))) == TODAY
    noon = FixedClock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    assert licensing.licence_today(noon) == date(2026, 11, 27)


def _provider(session, clock, name: str, *, credential: str = "LCSW", active: bool = True):
    provider = service.create_provider(session, SYSTEM, {"name": name, "credential": credential}, clock=clock)
    provider.is_active = active
    documents.refresh(session, [provider.id])  # a direct write: matching's copy follows
    return provider


def _licence(session, clock, provider, state: str, expires: date | None, status: str = "active") -> License:
    return service.add_license(
        session,
        SYSTEM,
        provider.id,
        state=state,
        license_type=provider.credential if provider.credential != "PhD" else "PSYCHOLOGIST",
        number=f"{state}-{expires}",
        status=status,
        issued=None,
        expires=expires,
        clock=clock,
    )


@pytest.fixture
def fleet(session, fixed_clock):
    """Licences around today's edges (the fixed clock is 2026-11-26 15:00 UTC)."""
    ada = _provider(session, fixed_clock, "Ada Example")
    bo = _provider(session, fixed_clock, "Bo Example", credential="LPC")
    gone = _provider(session, fixed_clock, "Gone Example", active=False)
    day = {n: TODAY + timedelta(days=n) for n in (-30, -1, 0, 7, 8, 30, 31, 60, 61)}
    return {
        "today": _licence(session, fixed_clock, ada, "TX", day[0]),
        "d7": _licence(session, fixed_clock, ada, "CA", day[7]),
        "d8": _licence(session, fixed_clock, bo, "CA", day[8]),
        "d30": _licence(session, fixed_clock, bo, "NY", day[30]),
        "d31": _licence(session, fixed_clock, bo, "NJ", day[31]),
        "d60": _licence(session, fixed_clock, ada, "NY", day[60]),
        "d61": _licence(session, fixed_clock, ada, "NJ", day[61]),
        "undated": _licence(session, fixed_clock, ada, "FL", None),
        "yesterday": _licence(session, fixed_clock, ada, "CO", day[-1]),
        "long_ago": _licence(session, fixed_clock, bo, "CO", day[-30]),
        "suspended_past": _licence(session, fixed_clock, bo, "WA", day[-30], status="suspended"),
        "inactive_soon": _licence(session, fixed_clock, bo, "OR", day[7], status="inactive"),
        "inactive_provider": _licence(session, fixed_clock, gone, "TX", day[7]),
    }


def test_administrators_see_licences_expiring_within_60_days(session, fleet, fixed_clock):
    warnings = licensing.expiring_licences(session, SYSTEM, clock=fixed_clock)
    assert warnings.today == TODAY and warnings.thresholds == (7, 30, 60)
    got = {item.license_id: (item.days_left, item.bucket) for item in warnings.items}
    assert got == {
        fleet["today"].id: (0, 7),
        fleet["d7"].id: (7, 7),
        fleet["d8"].id: (8, 30),
        fleet["d30"].id: (30, 30),
        fleet["d31"].id: (31, 60),
        fleet["d60"].id: (60, 60),
    }
    assert warnings.counts == {7: 2, 30: 2, 60: 2} and warnings.total == 6
    assert [i.days_left for i in warnings.items] == sorted(i.days_left for i in warnings.items)
    first = warnings.items[0]
    assert (first.provider_name, first.state, first.credential) == ("Ada Example", "TX", "LCSW")
    assert [(t, n, len(shown)) for t, n, shown in warnings.buckets()] == [(7, 2, 2), (30, 2, 2), (60, 2, 2)]
    # the list is bounded; the counts are not
    short = licensing.expiring_licences(session, SYSTEM, clock=fixed_clock, limit=1)
    assert len(short.items) == 1 and short.total == 6 and short.truncated


def test_only_administrators_see_the_warnings(session, settings, fixed_clock):
    therapist = make_user(session, settings, Role.THERAPIST)
    with pytest.raises(PolicyDenied):
        licensing.expiring_licences(session, identity.actor_for(session, therapist), clock=fixed_clock)


def _expired_events(session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "license.expired")))


def test_the_job_marks_expired_licences_once(session, fleet, fixed_clock):
    assert licensing.expire_licences(session, clock=fixed_clock) == 2
    for key in ("yesterday", "long_ago"):
        session.refresh(fleet[key])
        assert fleet[key].status == "expired", key
    for key in ("today", "d7", "undated"):  # expires today: still valid today
        session.refresh(fleet[key])
        assert fleet[key].status == "active", key
    session.refresh(fleet["suspended_past"])
    assert fleet["suspended_past"].status == "suspended"

    events = _expired_events(session)
    assert len(events) == 2
    assert {e.details["license_id"] for e in events} == {
        str(fleet["yesterday"].id),
        str(fleet["long_ago"].id),
    }
    assert all(e.actor_user_id is None and e.purpose == "operations" for e in events)
    assert {e.entity_id for e in events} == {str(fleet["yesterday"].provider_id)} | {
        str(fleet["long_ago"].provider_id)
    }

    # idempotent: nothing more to do, no more audit
    assert licensing.expire_licences(session, clock=fixed_clock) == 0
    assert len(_expired_events(session)) == 2
    # a day later, today's licence has expired too
    fixed_clock.advance(days=1)
    assert licensing.expire_licences(session, clock=fixed_clock) == 1
    session.refresh(fleet["today"])
    assert fleet["today"].status == "expired"


def test_the_worker_pass_runs_the_job(session, sessions, settings, mailer, fixed_clock):
    provider = _provider(session, fixed_clock, "Old Example")
    lic = _licence(session, fixed_clock, provider, "TX", date(2001, 1, 1))
    session.commit()
    _worker_pass(settings, sessions, mailer)
    session.refresh(lic)
    assert lic.status == "expired"
