"""Review regression (match documents, session 5): documents hold a provider's conditions as ",a,b," text and SQL
tested ",<condition>," as a substring, so a need's condition containing a comma ("anxiety,depression") matched
providers with both tags, while the rules treat it as one tag nobody has: the explanation of the empty result
named no cause. A tag with a comma now matches nothing (documents.tag_pattern)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy.orm import Session

from careweave.core.clock import FixedClock
from careweave.directory import matching, rules
from careweave.directory import service as directory
from tests.integration.test_match_documents import SYSTEM, _licence, _provider
from tests.integration.test_matching_availability import DAY, NOW, _hours


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def plans(session: Session, clock: FixedClock) -> list[uuid.UUID]:
    return [directory.create_plan(session, SYSTEM, payer="Synthetic Health", name="Plan 0", clock=clock).id]


def test_a_condition_with_a_comma_is_nobodys(session: Session, clock, plans) -> None:  # type: ignore[no-untyped-def]
    for name in ("Ann One", "Bea Two", "Cy Three"):
        pid = _provider(session, clock, plans, name)  # treats anxiety and depression
        _licence(session, clock, pid, "NY")
        _hours(session, clock, SYSTEM, pid)
    need = rules.Need(
        pathway="therapy", state="NY", on_date=DAY, self_pay=True, conditions=frozenset({"anxiety"})
    )
    assert len(matching.run_match(session, need, plan_name=None, now=NOW).therapists) == 3
    odd = replace(need, conditions=frozenset({"anxiety,depression"}))
    fast = matching.run_match(session, odd, plan_name=None, now=NOW)
    everyone = matching.run_match(session, odd, plan_name=None, now=NOW, limit=None)  # the rules over all
    assert fast.therapists == everyone.therapists == ()
    assert fast.excluded_summary["therapist"] == everyone.excluded_summary["therapist"]
    assert fast.excluded_summary["therapist"]["condition_not_treated"] == 3
