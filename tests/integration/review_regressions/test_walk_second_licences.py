"""Review regression (matching at scale, session 4): walk_top_candidates merges per-source walks each cut at limit+5 rows; a source whose rows are mostly a
provider's second licence stops short, and the merge then takes another source's later rows past it."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory import matching
from careweave.directory import repository as repo
from careweave.directory import service as directory
from careweave.identity import service as identity
from tests.builders import make_user
from tests.integration.test_matching_availability import NOW, _hours, _need, _profile


def _lpc(session, clock, admin, name):
    return _profile(session, clock, admin, name, credential="LPC")


def test_walk_with_second_licences(session: Session, settings, monkeypatch) -> None:
    clock = FixedClock(NOW)
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    for i in range(10):
        pid = _lpc(session, clock, admin, f"A0{i}")
        for n in range(2):
            directory.add_license(
                session,
                admin,
                pid,
                state="OH",
                license_type="LPC",
                number=f"N{i}{n}",
                status="active",
                issued=None,
                expires=date(2030, 1, 1),
                clock=clock,
            )
        if i >= 5:
            _hours(session, clock, admin, pid)  # A00..A04: no schedule, refused by the exact check
    for name in ("A075", "A076"):
        pid = _lpc(session, clock, admin, name)
        directory.add_license(
            session,
            admin,
            pid,
            state="AZ",
            license_type="LPC",
            number=name,
            status="active",
            issued=None,
            expires=date(2030, 1, 1),
            clock=clock,
        )
        directory.add_compact_privilege(
            session,
            admin,
            pid,
            compact="COUNSELING",
            state="OH",
            status="active",
            issued=None,
            expires=date(2030, 1, 1),
            clock=clock,
        )
        _hours(session, clock, admin, pid)
    session.flush()
    need = _need("OH")
    everyone = matching.run_match(session, need, plan_name=None, now=NOW, limit=None)
    truth = [r.name for r in everyone.therapists][:4]
    print("truth", truth)
    monkeypatch.setattr(repo, "WALK_CAP", 20)
    top = matching.run_match(session, need, plan_name=None, now=NOW, limit=4)
    print("walk", [r.name for r in top.therapists])
    assert [r.name for r in top.therapists] == truth
