"""Matching's documents (directory.documents) stay equal to a rebuild from the directory after every kind of
write: profile fields, tags, networks, a rename, licences and compact privileges (active or not), the licence
expiry job, and the earliest free times scheduling keeps. A stale document could leave an eligible provider
out of matching, so each write path is checked here, and a provider is matchable in the very transaction
that makes them so."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.core.actor import Actor
from careweave.core.clock import FixedClock
from careweave.directory import documents, licensing, matching, rules
from careweave.directory import service as directory
from careweave.directory.models import MatchDocument, Provider
from careweave.scheduling import earliest
from tests.integration.test_matching_availability import DAY, NOW, _hours

SYSTEM = Actor.system()
COLUMNS = [c.name for c in MatchDocument.__table__.columns]  # type: ignore[attr-defined]


def _key(row: Any) -> tuple[Any, ...]:
    return tuple(str(row[c]) for c in COLUMNS)


def _assert_current(session: Session) -> list[MatchDocument]:
    session.flush()
    stored = [dict(r._mapping) for r in session.execute(select(MatchDocument.__table__))]
    ids = list(session.scalars(select(Provider.id)))
    expected = documents.document_rows(session, ids) if ids else []
    assert sorted(map(_key, stored)) == sorted(map(_key, expected))
    return list(session.scalars(select(MatchDocument)))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def plans(session: Session, clock: FixedClock) -> list[uuid.UUID]:
    return [
        directory.create_plan(session, SYSTEM, payer="Synthetic Health", name=f"Plan {n}", clock=clock).id
        for n in range(2)
    ]


def _provider(
    session: Session, clock: FixedClock, plans: list[uuid.UUID], name: str = "Dana Docs"
) -> uuid.UUID:
    p = directory.create_provider(
        session,
        SYSTEM,
        {
            "name": name,
            "credential": "LCSW",
            "offers": ["therapy"],
            "conditions": ["depression", "anxiety"],
            "languages": ["en", "es"],
            "gender": "Female",
            "accepting_new_patients": True,
            "capacity": 10,
            "self_pay": True,
            "networks": [plans[0]],
        },
        clock=clock,
    )
    return p.id


def _licence(session: Session, clock: FixedClock, pid: uuid.UUID, state: str, **kw: Any) -> None:
    directory.add_license(
        session,
        SYSTEM,
        pid,
        state=state,
        license_type="LCSW",
        number=f"{state}-1",
        status=kw.get("status", "active"),
        issued=kw.get("issued", date(2020, 1, 1)),
        expires=kw.get("expires", date(2030, 1, 1)),
        clock=clock,
    )


def test_each_write_keeps_the_documents_equal_to_a_rebuild(
    session: Session, clock: FixedClock, plans: list[uuid.UUID]
) -> None:
    pid = _provider(session, clock, plans)
    assert _assert_current(session) == []  # no licence yet: nowhere to be matched
    _licence(session, clock, pid, "NY")
    docs = _assert_current(session)
    # ANY, self-pay and the one plan, for the one licence
    assert {d.network for d in docs} == {documents.ANY_NETWORK, documents.SELF_PAY_NETWORK, plans[0]}
    assert {(d.state, d.conditions, d.languages, d.gender) for d in docs} == {
        ("NY", ",anxiety,depression,", ",en,es,", "female")
    }
    _licence(session, clock, pid, "NJ", status="inactive")  # an inactive licence adds nothing
    assert {d.state for d in _assert_current(session)} == {"NY"}
    directory.add_compact_privilege(
        session,
        SYSTEM,
        pid,
        compact="SOCIAL_WORK",
        state="OH",
        status="active",
        issued=date(2025, 1, 1),
        expires=date(2030, 1, 1),
        clock=clock,
    )
    assert {(d.state, d.compact) for d in _assert_current(session)} == {("NY", False), ("OH", True)}
    for change in (
        {"name": "Aaron Renamed"},
        {"conditions": []},
        {"languages": ["fr"]},
        {"networks": [plans[1]]},
        {"networks": []},
        {"self_pay": False},
        {"accepting_new_patients": False},
        {"capacity": 0},
        {"gender": None},
        {"offers": ["therapy", "medication_management"]},
    ):
        directory.update_provider(session, SYSTEM, pid, change, clock=clock)
        _assert_current(session)
    docs = _assert_current(session)
    assert {d.network for d in docs} == {documents.ANY_NETWORK}
    assert all(d.rank_key.startswith("aaron renamed\x01") for d in docs)


def test_the_expiry_job_and_the_earliest_times_reach_the_documents(
    session: Session, clock: FixedClock, plans: list[uuid.UUID]
) -> None:
    pid = _provider(session, clock, plans)
    _licence(session, clock, pid, "NY")
    _licence(session, clock, pid, "CT", expires=NOW.date() - timedelta(days=1))
    assert {d.state for d in _assert_current(session)} == {"NY", "CT"}
    assert licensing.expire_licences(session, clock=clock) == 1
    assert {d.state for d in _assert_current(session)} == {"NY"}
    _hours(session, clock, SYSTEM, pid, days_off=2)  # scheduling.earliest stores the first free intake
    docs = _assert_current(session)
    assert {(d.openings_checked, d.first_therapy_day) for d in docs} == {
        (True, earliest.day_number(DAY + timedelta(days=2)))
    }


def test_a_provider_is_matchable_in_the_transaction_that_makes_them_so(
    session: Session, clock: FixedClock, plans: list[uuid.UUID]
) -> None:
    need = rules.Need(
        pathway="therapy",
        state="NY",
        on_date=DAY,
        plan_id=str(plans[0]),
        conditions=frozenset({"anxiety"}),
        language="es",
    )
    pid = _provider(session, clock, plans)
    _hours(session, clock, SYSTEM, pid)  # free time: the availability filter
    assert matching.run_match(session, need, plan_name="Plan 0", now=NOW).therapists == ()
    _licence(session, clock, pid, "NY")
    found = matching.run_match(session, need, plan_name="Plan 0", now=NOW).therapists
    assert [r.provider_id for r in found] == [str(pid)]
    directory.update_provider(session, SYSTEM, pid, {"networks": [plans[1]]}, clock=clock)  # out of network
    assert matching.run_match(session, need, plan_name="Plan 0", now=NOW).therapists == ()


def test_a_provider_who_cannot_take_a_patient_has_documents_under_any_only(
    session: Session, clock: FixedClock, plans: list[uuid.UUID]
) -> None:
    """Closed (not accepting, or at capacity): no document under their plan or self-pay (a need with coverage
    never reads them), still one under ANY, which an empty role's explanation counts from — and it still counts
    them as in network and taking self-pay, from the directory."""
    need = rules.Need(pathway="therapy", state="NY", on_date=DAY, plan_id=str(plans[0]))
    pid = _provider(session, clock, plans)
    _licence(session, clock, pid, "NY")
    _hours(session, clock, SYSTEM, pid)
    everything = {documents.ANY_NETWORK, documents.SELF_PAY_NETWORK, plans[0]}
    assert {d.network for d in _assert_current(session)} == everything
    for closed, reopened in (
        ({"accepting_new_patients": False}, {"accepting_new_patients": True}),
        ({"capacity": 0}, {"capacity": 10}),
    ):
        directory.update_provider(session, SYSTEM, pid, closed, clock=clock)
        assert {d.network for d in _assert_current(session)} == {documents.ANY_NETWORK}
        result = matching.run_match(session, need, plan_name="Plan 0", now=NOW)
        assert result.therapists == ()
        counts = dict(result.excluded_summary["therapist"])
        assert "network" not in counts  # in network, though filed under ANY only
        assert counts.get("not_accepting", 0) + counts.get("at_capacity", 0) == 1
        self_pay = matching.run_match(
            session, replace(need, plan_id=None, self_pay=True), plan_name=None, now=NOW
        )
        assert "network" not in dict(self_pay.excluded_summary["therapist"])  # takes self-pay
        directory.update_provider(session, SYSTEM, pid, reopened, clock=clock)
        assert {d.network for d in _assert_current(session)} == everything
        found = matching.run_match(session, need, plan_name="Plan 0", now=NOW).therapists
        assert [r.provider_id for r in found] == [str(pid)]
