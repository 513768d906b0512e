"""scheduling.earliest.exact_stored: when a provider's stored earliest free time is exact for a need (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from careweave.scheduling.earliest import LATEST_DAY_START, exact_stored

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = date(2026, 12, 1)
AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _exact(at: datetime | None = AT, notice: int | None = 60, **kw: object) -> datetime | None:
    args = {"checked": True, "held": False, "now": NOW, "on_date": DAY} | kw
    return exact_stored(at, notice, **args)  # type: ignore[arg-type]


def test_a_checked_bookable_time_on_the_day_is_exact() -> None:
    assert _exact() == AT


def test_the_minimum_notice_is_counted_from_now() -> None:
    assert _exact(notice=6 * 60) == AT  # 15:00 is exactly 9:00 + 6 h
    assert _exact(notice=6 * 60 + 1) is None  # a minute too soon to book


def test_the_time_must_be_on_or_after_the_need_day_in_every_zone() -> None:
    start = datetime.combine(DAY, LATEST_DAY_START, tzinfo=UTC)  # 00:00 at UTC-12
    early = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert _exact(at=start, now=early) == start
    assert _exact(at=start - timedelta(minutes=1), now=early) is None


def test_unchecked_held_or_unscheduled_times_are_never_trusted() -> None:
    assert _exact(checked=False) is None  # a schedule change cleared the check
    assert _exact(held=True) is None  # an open waitlist hold frees its time when it runs out
    assert _exact(notice=None) is None  # no schedule
    assert _exact(at=None) is None  # no stored time
