"""A clinician's caseload (``Provider.active_patients``) counts the patients on their care teams: a patient's
first visit (or an accepted referral, or an assignment) adds one, leaving the team takes one off
(directory.service.recount_caseload, called by careteam.ensure_member / end_member). The capacity filter reads it: a
clinician at capacity takes no new patient — booking refuses, matching leaves them out and says why, their
documents leave the plan and self-pay keys — while a patient already on their team still books."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.careteam import service as careteam
from careweave.careteam.models import CareTeamMember
from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory import documents, matching, rules
from careweave.directory import service as directory
from careweave.directory.models import MatchDocument, Provider
from careweave.scheduling import service
from careweave.settings import Settings
from tests.builders import join_team, make_prescriber, make_user, scheduling_world, weekday_hours
from tests.integration.test_booking import MONDAY, at, book


@pytest.fixture
def world(session: Session, settings: Settings):  # type: ignore[no-untyped-def]
    w = scheduling_world(session, settings, FixedClock(at(MONDAY, 8)), patients=3)
    directory.update_provider(session, w["admin"], w["provider"].id, {"capacity": 2}, clock=w["clock"])
    return w


def _caseload(session: Session, w) -> int:  # type: ignore[no-untyped-def]
    session.flush()
    return session.scalar(select(Provider.active_patients).where(Provider.id == w["provider"].id)) or 0


def _keys(session: Session, w) -> set:  # type: ignore[no-untyped-def]
    rows = session.scalars(select(MatchDocument.network).where(MatchDocument.provider_id == w["provider"].id))
    return set(rows)


def _need(w) -> rules.Need:  # type: ignore[no-untyped-def]
    return rules.Need(pathway="therapy", state="NY", on_date=MONDAY + timedelta(days=1), self_pay=True)


def test_visits_fill_the_caseload_and_a_full_caseload_takes_no_new_patient(
    session: Session, settings: Settings, world
) -> None:  # type: ignore[no-untyped-def]
    w = world
    a, b, c = w["patients"]
    assert _caseload(session, w) == 0
    assert _keys(session, w) == {documents.ANY_NETWORK, documents.SELF_PAY_NETWORK}
    book(session, settings, w, a, at(MONDAY + timedelta(days=1), 10))
    assert _caseload(session, w) == 1
    book(session, settings, w, a, at(MONDAY + timedelta(days=8), 10))  # a second visit: still one patient
    assert _caseload(session, w) == 1
    book(session, settings, w, b, at(MONDAY + timedelta(days=1), 12))
    assert _caseload(session, w) == 2  # at capacity (2)
    assert _keys(session, w) == {documents.ANY_NETWORK}  # closed: no document under self-pay
    with pytest.raises(service.Ineligible, match=r"(?i)caseload|capacity"):
        book(session, settings, w, c, at(MONDAY + timedelta(days=1), 14))
    result = matching.run_match(session, _need(w), plan_name=None, now=w["clock"].now())
    assert result.therapists == ()
    assert dict(result.excluded_summary["therapist"]).get("at_capacity") == 1
    # A patient already on the team is not a new patient: they still book.
    book(session, settings, w, b, at(MONDAY + timedelta(days=2), 12))

    # b leaves the team: room for one again, and c books.
    member = session.scalar(
        select(CareTeamMember).where(
            CareTeamMember.patient_id == b.patient_id, CareTeamMember.end_date.is_(None)
        )
    )
    assert member is not None
    careteam.end_member(session, w["admin"], member.id, clock=w["clock"])
    assert _caseload(session, w) == 1
    assert _keys(session, w) == {documents.ANY_NETWORK, documents.SELF_PAY_NETWORK}
    book(session, settings, w, c, at(MONDAY + timedelta(days=1), 14))
    assert _caseload(session, w) == 2


def test_a_patient_on_the_team_before_any_visit_counts_and_still_books(
    session: Session, settings: Settings, world
) -> None:  # type: ignore[no-untyped-def]
    """An assignment (or an accepted referral) puts the patient on the caseload before any visit; at capacity
    they are not a new patient, so their first visit books. A cancelled visit keeps them on the team."""
    w = world
    a, b, _ = w["patients"]
    directory.update_provider(session, w["admin"], w["provider"].id, {"capacity": 1}, clock=w["clock"])
    careteam.add_member(
        session, w["admin"], a.patient_id, user_id=w["therapist"].user_id, role=None, clock=w["clock"]
    )
    assert _caseload(session, w) == 1
    with pytest.raises(service.Ineligible):  # full: a new patient is refused
        book(session, settings, w, b, at(MONDAY + timedelta(days=1), 10))
    visit = book(session, settings, w, a, at(MONDAY + timedelta(days=1), 10))
    service.cancel(session, a, visit.id, reason=None, clock=w["clock"], settings=settings)
    book(
        session, settings, w, a, at(MONDAY + timedelta(days=2), 10)
    )  # still on the team after a cancellation
    assert _caseload(session, w) == 1


def test_the_count_is_distinct_patients_and_a_late_profile_counts_them(
    session: Session, settings: Settings, world
) -> None:  # type: ignore[no-untyped-def]
    w = world
    a = w["patients"][0]
    # Two current memberships naming the provider for one patient (the profile re-linked to another clinician
    # account in between): one patient.
    other = make_user(session, settings, Role.THERAPIST)
    careteam.ensure_member(session, patient_id=a.patient_id, user_id=w["therapist"].user_id, basis="assigned",
                           clock=w["clock"])  # fmt: skip
    careteam.ensure_member(session, patient_id=a.patient_id, user_id=other.id, basis="assigned", clock=w["clock"],
                           provider_id=w["provider"].id)  # fmt: skip
    assert _caseload(session, w) == 1
    # A clinician who joined a team before having a profile is counted once the profile exists and they meet
    # the patient again.
    late = make_user(session, settings, Role.THERAPIST)
    careteam.ensure_member(
        session, patient_id=a.patient_id, user_id=late.id, basis="assigned", clock=w["clock"]
    )
    profile = directory.create_provider(
        session,
        w["admin"],
        {"name": "Lee Late", "credential": "LCSW", "offers": ["therapy"], "capacity": 5, "user_id": late.id},
        clock=w["clock"],
    )
    careteam.ensure_member(
        session, patient_id=a.patient_id, user_id=late.id, basis="assigned", clock=w["clock"]
    )
    session.flush()
    assert session.scalar(select(Provider.active_patients).where(Provider.id == profile.id)) == 1


def _ranked(result: rules.MatchResult, provider_id) -> rules.Ranked | None:  # type: ignore[no-untyped-def]
    return next(
        (r for r in (*result.therapists, *result.prescribers) if r.provider_id == str(provider_id)), None
    )


def test_a_full_clinician_still_matches_their_own_patient_with_continuity(
    session: Session, settings: Settings, world
) -> None:  # type: ignore[no-untyped-def]
    """Matching knows who already treats the patient (directory.matching._Continuity): their own clinician is
    found although the caseload is closed to new patients, and ranks as "Already part of your care team"; a
    patient with no place on the team does not see them."""
    w = world
    a, b, c = w["patients"]
    book(session, settings, w, a, at(MONDAY + timedelta(days=1), 10))
    book(session, settings, w, b, at(MONDAY + timedelta(days=1), 12))
    assert _caseload(session, w) == 2  # at capacity: only the "any" key's documents are left
    own = matching.run_match(
        session, replace(_need(w), patient_id=str(a.patient_id)), plan_name=None, now=w["clock"].now()
    )
    ranked = _ranked(own, w["provider"].id)
    assert ranked is not None
    assert "Already part of your care team" in ranked.reasons
    everyone = matching.run_match(
        session,
        replace(_need(w), patient_id=str(a.patient_id)),
        plan_name=None,
        limit=None,
        now=w["clock"].now(),
    )
    assert _ranked(everyone, w["provider"].id) is not None  # the rank-everyone path agrees
    other = matching.run_match(
        session, replace(_need(w), patient_id=str(c.patient_id)), plan_name=None, now=w["clock"].now()
    )
    assert other.therapists == ()
    assert dict(other.excluded_summary["therapist"]).get("at_capacity") == 1
    # A membership that ended is not continuity.
    member = session.scalar(
        select(CareTeamMember).where(
            CareTeamMember.patient_id == a.patient_id, CareTeamMember.end_date.is_(None)
        )
    )
    assert member is not None
    careteam.end_member(session, w["admin"], member.id, clock=w["clock"])
    session.flush()
    again = matching.run_match(
        session, replace(_need(w), patient_id=str(a.patient_id)), plan_name=None, now=w["clock"].now()
    )
    ranked = _ranked(again, w["provider"].id)
    assert ranked is not None  # room again (b alone), but no longer "part of your care team"
    assert "Already part of your care team" not in ranked.reasons


def test_a_prescriber_who_works_with_the_patients_therapist_ranks_first(
    session: Session, settings: Settings, world
) -> None:  # type: ignore[no-untyped-def]
    """Continuity across roles: a prescriber sharing another patient with this patient's therapist outranks an
    otherwise equal prescriber, with the reason shown, and "both" pairs them."""
    w = world
    a, b, _ = w["patients"]
    clock = w["clock"]
    prescribers = []
    for _ in range(2):
        user, actor, provider = make_prescriber(session, settings, w["admin"], clock=clock)
        weekday_hours(session, actor, provider.id, clock)
        prescribers.append((user, provider))
    book(session, settings, w, a, at(MONDAY + timedelta(days=1), 10))  # a sees the therapist
    book(session, settings, w, b, at(MONDAY + timedelta(days=1), 12))  # b sees the therapist ...
    # ... and, of the two prescribers, the one whose name sorts last (so the name tie-break cannot explain it)
    (first_user, first), (last_user, last) = sorted(prescribers, key=lambda p: p[1].name.casefold())
    join_team(session, b.patient_id, last_user)
    session.flush()
    need = rules.Need(
        pathway="both",
        state="NY",
        on_date=MONDAY + timedelta(days=1),
        self_pay=True,
        patient_id=str(a.patient_id),
    )
    result = matching.run_match(session, need, plan_name=None, now=clock.now())
    assert [r.provider_id for r in result.prescribers][:2] == [str(last.id), str(first.id)]
    assert "Already works with your other clinician" in result.prescribers[0].reasons
    assert result.pair is not None
    assert (result.pair.therapist_id, result.pair.prescriber_id) == (str(w["provider"].id), str(last.id))
    assert result.pair.shares_patients
    # a's own prescriber (the other one) now: they lead the list and the pair keeps a's own two clinicians
    join_team(session, a.patient_id, first_user)
    session.flush()
    result = matching.run_match(session, need, plan_name=None, now=clock.now())
    assert result.prescribers[0].provider_id == str(first.id)
    assert "Already part of your care team" in result.prescribers[0].reasons
    assert result.pair is not None
    assert (result.pair.therapist_id, result.pair.prescriber_id) == (str(w["provider"].id), str(first.id))
    # an inactive clinician is no one's match, care team or not
    first.is_active = False
    session.flush()
    documents.refresh(session, [first.id])
    result = matching.run_match(session, need, plan_name=None, now=clock.now())
    assert str(first.id) not in {r.provider_id for r in result.prescribers}
