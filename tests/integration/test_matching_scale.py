"""Matching at scale keeps the rules' answer (issue #4 "Scale and speed"): on a small synthetic directory
(benchmarks.generate), ``run_match`` (SQL candidates, scoped facts in two round trips, the pure rules) returns
exactly the rules' own ranking over every provider with authority in the state, paging included, and the
benchmark's hand-written floors (over the tables, over the match documents) return exactly the providers the
rules find eligible."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from benchmarks import floor
from benchmarks.generate import DEFAULT_SEED, NOW, TABLES, DirectoryGenerator
from benchmarks.matching import legacy_facts, legacy_run_match, make_needs
from sqlalchemy import Connection, event, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from careweave.directory import documents, matching, rules
from careweave.directory import repository as repo
from careweave.directory.models import CompactPrivilege, License, Plan, Provider
from careweave.scheduling import earliest

PROVIDERS = 400


@pytest.fixture(params=["stored", "never_checked", "stale"])
def directory(
    request: pytest.FixtureRequest, connection: Connection, sessions: sessionmaker[Session]
) -> None:
    """The synthetic directory with its providers' earliest free times as the worker keeps them ("stored"),
    not yet computed ("never_checked": matching treats them as unknown), or computed a week before NOW and
    left stale (every stored time earlier than the truth: the lower bound matching relies on)."""
    gen = DirectoryGenerator(PROVIDERS, DEFAULT_SEED)
    connection.execute(Plan.__table__.insert(), gen.plan_rows())  # type: ignore[attr-defined]
    for chunk in gen.chunks():
        for name, table in TABLES.items():
            if chunk[name]:
                connection.execute(table.insert(), chunk[name])
    with sessions() as session:  # a bulk load: matching's documents built once (directory.documents)
        documents.refresh(session, list(session.scalars(select(Provider.id))))
        session.commit()
    if request.param != "never_checked":
        with sessions() as session:
            ids = list(session.scalars(select(Provider.id)))
            when = NOW if request.param == "stored" else NOW - timedelta(days=7)
            earliest.refresh(session, ids, now=when)
            if request.param == "stale":  # a stale "none" could hide a provider: only earlier times are stale
                session.execute(
                    update(Provider)
                    .where(Provider.first_therapy_day.is_(None))
                    .values(openings_checked_at=None)
                )
                session.execute(
                    update(Provider)
                    .where(Provider.first_evaluation_day.is_(None))
                    .values(openings_checked_at=None)
                )
                documents.refresh(session, ids)
            session.commit()


def _ids(result: rules.MatchResult, role: str) -> list[str]:
    return [r.provider_id for r in (result.therapists if role == "therapist" else result.prescribers)]


@pytest.mark.parametrize("limit", [3, matching.MATCH_LIMIT])
def test_run_match_is_the_rules_ranking(
    directory: None, sessions: sessionmaker[Session], limit: int, request: pytest.FixtureRequest
) -> None:
    needs = make_needs(60)
    assert any(bn.kind == "broad" for bn in needs)
    compared = explained = 0
    for bn in needs:
        with sessions() as session:
            oracle = legacy_run_match(session, bn.need, plan_name=bn.plan_name)
            result = matching.run_match(session, bn.need, plan_name=bn.plan_name, limit=limit, now=NOW)
        for role in rules.roles_for_pathway(bn.need.pathway):
            expected = _ids(oracle, role)
            assert _ids(result, role) == expected[:limit], (role, bn.need)
            ranked = {(r.role, r.provider_id): r for r in (oracle.therapists + oracle.prescribers)}
            for r in result.therapists + result.prescribers:
                assert r.reasons == ranked[r.role, r.provider_id].reasons
                assert r.score == ranked[r.role, r.provider_id].score
            if not expected:
                assert result.explanations.get(role) == oracle.explanations.get(role)
                if request.node.callspec.params["directory"] == "stored" and not bn.later:
                    # stored times are exact for needs from NOW: every count is the rules' own
                    assert result.excluded_summary[role] == oracle.excluded_summary[role], (role, bn.need)
                    explained += 1
            compared += len(expected) > limit  # the paging was exercised
        if bn.need.pathway == "both" and limit == matching.MATCH_LIMIT:
            assert result.pair == oracle.pair
    assert compared > 0
    assert explained > 0 or request.node.callspec.params["directory"] != "stored"


@pytest.mark.parametrize("form", ["tables", "documents"])
@pytest.mark.parametrize("directory", ["stored"], indirect=True)
def test_floor_is_exactly_the_eligible_providers(
    directory: None, sessions: sessionmaker[Session], form: str
) -> None:
    later = 0
    for bn in make_needs(80):
        with sessions() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            oracle = legacy_run_match(session, bn.need, plan_name=bn.plan_name)
            for role in rules.roles_for_pathway(bn.need.pathway):
                if form == "tables":
                    stmt = floor.floor_statement(bn.need, role)
                else:
                    stmt = floor.documents_floor_statement(bn.need, role, postgres=postgres)
                got = set() if stmt is None else {str(i) for i in session.scalars(stmt)}
                if bn.later:  # the stored earliest free time says nothing about later: a superset
                    assert got >= set(_ids(oracle, role)), (role, bn.need)
                else:
                    assert got == set(_ids(oracle, role)), (role, bn.need)
        later += bn.later
    assert later > 0


@pytest.mark.parametrize("directory", ["never_checked"], indirect=True)  # availability plays no part here
def test_scoped_facts_decide_as_the_full_facts(directory: None, sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        for bn in make_needs(30):
            ids = repo.candidate_ids_in_state(session, bn.need.state, bn.need.on_date)
            full = legacy_facts(session, ids, bn.need.on_date)
            scoped = matching._facts(session, ids, bn.need.on_date, matching._scope(bn.need))
            for role in rules.roles_for_pathway(bn.need.pathway):
                assert rules.rank(scoped, bn.need, role) == rules.rank(full, bn.need, role)
                assert rules.exclusion_counts(scoped, bn.need, role) == rules.exclusion_counts(
                    full, bn.need, role
                )
        # Without a scope, every tag is loaded, as stored.
        some = [uuid.UUID(f.id) for f in full[:5]]
        unscoped = {f.id: f for f in matching._facts(session, some, bn.need.on_date)}
        for f in full[:5]:
            assert unscoped[f.id].networks == f.networks
            assert unscoped[f.id].conditions == f.conditions
            assert unscoped[f.id].languages == f.languages


@pytest.mark.parametrize("directory", ["stored"], indirect=True)
@pytest.mark.parametrize("cap", [10, 40])
def test_the_walk_finds_the_ranked_first_page(
    directory: None, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    """repository.walk_top_candidates (a large state's licences read in name order, a few at a time) returns
    exactly the first page of ranking the whole state, or None; matching with it is still the rules' ranking.
    A small cap makes the synthetic states "large" here, and forces both answers."""
    monkeypatch.setattr(repo, "WALK_CAP", cap)
    monkeypatch.setattr(matching, "PREFETCH", 1 if cap == 10 else matching.PREFETCH)  # pages one by one too
    walked = declined = 0
    rs = rules.default_rules()
    for bn in make_needs(60):
        with sessions() as session:
            for role in rules.roles_for_pathway(bn.need.pathway):
                query = matching._candidate_query(bn.need, role, rs)
                if not query.credentials:
                    continue
                for page in (3, 25):
                    walk = repo.walk_top_candidates(session, query, limit=page)
                    if walk is None:
                        declined += 1
                        continue
                    walked += 1
                    ranked = list(dict.fromkeys(repo.match_candidates(session, query, limit=page + 10)))
                    firsts = list(dict.fromkeys(c.id for c in ranked))[:page]
                    assert [c.id for c in walk] == firsts, (role, bn.need)
            oracle = legacy_run_match(session, bn.need, plan_name=bn.plan_name)
            result = matching.run_match(session, bn.need, plan_name=bn.plan_name, now=NOW)
            for role in rules.roles_for_pathway(bn.need.pathway):
                assert _ids(result, role) == _ids(oracle, role)[: matching.MATCH_LIMIT], (role, bn.need)
    assert walked and declined


def _match_counting(session: Session, bn, starts: str, contains: str = "") -> tuple[rules.MatchResult, int]:  # type: ignore[no-untyped-def]
    """run_match for ``bn``, and how many statements it sent that start with ``starts`` (and contain
    ``contains``)."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith(starts) and contains in statement:
            seen.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = matching.run_match(session, bn.need, plan_name=bn.plan_name, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return result, len(seen)


@pytest.mark.parametrize("directory", ["stored"], indirect=True)
def test_a_both_need_reads_the_walk_edges_once(
    directory: None, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk's edges depend on the state and the network keys only: a "both" need reads them once, not once
    per role (repository.walk_top_candidates' ``edges_seen``), and still gets the rules' ranking."""
    monkeypatch.setattr(repo, "WALK_CAP", 10)  # every synthetic state "large": the walk is tried
    checked = 0
    for bn in make_needs(60):
        if bn.need.pathway != "both":
            continue
        with sessions() as session:
            result, edges = _match_counting(session, bn, "SELECT match_documents.rank_key", "OFFSET")
            keys = (bn.need.plan_id is not None) + bn.need.self_pay or 1
            assert edges == keys, bn.need
            oracle = legacy_run_match(session, bn.need, plan_name=bn.plan_name)
            for role in ("therapist", "prescriber"):
                assert _ids(result, role) == _ids(oracle, role)[: matching.MATCH_LIMIT], (role, bn.need)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("directory", ["stale"], indirect=True)  # every stored time stale: arithmetic for all
def test_a_both_need_reads_free_time_inputs_once_for_both_roles(
    directory: None, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """matching._prefetch: when both roles' first pages need the slot arithmetic, its inputs come in one round
    trip, not one per role — with the same answer as without it."""

    def run(bn) -> tuple[int, list[tuple[str, str, object]]]:  # type: ignore[no-untyped-def]
        with sessions() as session:
            result, inputs = _match_counting(
                session, bn, "SELECT 'A' AS kind, appointments.provider_id AS pid"
            )
        answer = [(r.role, r.provider_id, r.next_available) for r in result.therapists + result.prescribers]
        return inputs, answer

    with_prefetch = without = 0
    for bn in make_needs(60):
        if bn.need.pathway != "both":
            continue
        n1, answer = run(bn)
        with monkeypatch.context() as m:
            m.setattr(matching, "_prefetch", lambda *args, **kwargs: None)
            n2, expected = run(bn)
        assert answer == expected, bn.need
        assert n1 <= n2, bn.need
        with_prefetch, without = with_prefetch + n1, without + n2
    assert with_prefetch < without


def _assert_counts_are_the_rules(sessions: sessionmaker[Session]) -> None:
    """matching._directory_counts equals the rules' counts over every provider (legacy_run_match), for every
    role of the needs from NOW (their stored free times are exact)."""
    rs = rules.default_rules()
    checked = 0
    for bn in make_needs(60):
        if bn.later:
            continue
        with sessions() as session:
            oracle = legacy_run_match(session, bn.need, plan_name=bn.plan_name)
            for role in rules.roles_for_pathway(bn.need.pathway):
                assert matching._directory_counts(session, bn.need, role, rs) == dict(
                    oracle.excluded_summary[role]
                ), (role, bn.need)
                checked += 1
    assert checked > 40


@pytest.mark.parametrize("directory", ["stored"], indirect=True)
def test_directory_counts_are_the_rules_counts(directory: None, sessions: sessionmaker[Session]) -> None:
    """An empty role's explanation (matching._directory_counts: SQL decides each part of the hard filters and
    counts providers by kind) counts what the rules count over every provider, for every need and role, not
    only those that came back empty: licences, compact privileges with and without a home licence, RxP
    certificates, networks and self-pay of the synthetic directory. Needs from NOW, whose stored free times
    are exact."""
    _assert_counts_are_the_rules(sessions)


@pytest.mark.parametrize("directory", ["stored"], indirect=True)
def test_directory_counts_read_records_as_the_rules_do(
    directory: None, sessions: sessionmaker[Session]
) -> None:
    """The same, with records spelled and dated as older imports or hand edits may leave them (review,
    session 6): lower-case licence types and compact codes, a credential Careweave does not know, licences
    with no expiry on record and licences that start after the visit date. SQL must decide each as the rules
    do (``_license_problem`` upper-cases the type, compacts are looked up upper-cased, an unknown credential
    has no authority and no scope, no expiry or a later start is no authority)."""
    with sessions() as session:
        lic_ids = list(session.scalars(select(License.id).order_by(License.id)))
        priv_ids = list(session.scalars(select(CompactPrivilege.id).order_by(CompactPrivilege.id)))
        provider_ids = list(session.scalars(select(Provider.id).order_by(Provider.id)))
        session.execute(
            update(License)
            .where(License.id.in_(lic_ids[::7]))
            .values(license_type=func.lower(License.license_type))
        )
        session.execute(update(License).where(License.id.in_(lic_ids[3::17])).values(expires=None))
        late = NOW.date() + timedelta(days=60)  # after every need's date (make_needs: up to 27 days on)
        session.execute(
            update(License).where(License.id.in_(lic_ids[5::13]), License.expires >= late).values(issued=late)
        )
        session.execute(
            update(CompactPrivilege)
            .where(CompactPrivilege.id.in_(priv_ids[::3]))
            .values(compact=func.lower(CompactPrivilege.compact))
        )
        session.execute(update(Provider).where(Provider.id.in_(provider_ids[::13])).values(credential="XYZ"))
        documents.refresh(session, provider_ids)
        session.commit()
    _assert_counts_are_the_rules(sessions)
