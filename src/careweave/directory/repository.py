from __future__ import annotations

import functools
import itertools
import operator
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Exists,
    Float,
    Select,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from careweave.directory.models import (
    CompactPrivilege,
    DeaRegistration,
    License,
    PatientCoverage,
    Plan,
    PrescriptiveCertification,
    Provider,
    ProviderCondition,
    ProviderLanguage,
    ProviderNetwork,
)


def add(session: Session, obj: object) -> None:
    session.add(obj)
    session.flush()


def plans(session: Session) -> list[Plan]:
    return list(session.scalars(select(Plan).order_by(Plan.payer, Plan.name)))


def plan(session: Session, plan_id: uuid.UUID) -> Plan | None:
    return session.get(Plan, plan_id)


def plan_by_name(session: Session, payer: str, name: str) -> Plan | None:
    return session.scalars(select(Plan).where(Plan.payer == payer, Plan.name == name)).one_or_none()


def existing_plan_ids(session: Session, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(ids)
    if not ids:
        return set()
    return set(session.scalars(select(Plan.id).where(Plan.id.in_(ids))))


def provider(session: Session, provider_id: uuid.UUID) -> Provider | None:
    return session.get(Provider, provider_id)


def provider_by_npi(session: Session, npi: str) -> Provider | None:
    return session.scalars(select(Provider).where(Provider.npi == npi)).one_or_none()


def provider_by_user(session: Session, user_id: uuid.UUID) -> Provider | None:
    return session.scalars(select(Provider).where(Provider.user_id == user_id)).one_or_none()


def set_conditions(session: Session, provider_id: uuid.UUID, values: Iterable[str]) -> None:
    session.execute(delete(ProviderCondition).where(ProviderCondition.provider_id == provider_id))
    session.add_all(ProviderCondition(provider_id=provider_id, condition=v) for v in sorted(set(values)))


def set_languages(session: Session, provider_id: uuid.UUID, values: Iterable[str]) -> None:
    session.execute(delete(ProviderLanguage).where(ProviderLanguage.provider_id == provider_id))
    session.add_all(ProviderLanguage(provider_id=provider_id, language=v) for v in sorted(set(values)))


def set_networks(session: Session, provider_id: uuid.UUID, plan_ids: Iterable[uuid.UUID]) -> None:
    session.execute(delete(ProviderNetwork).where(ProviderNetwork.provider_id == provider_id))
    session.add_all(ProviderNetwork(provider_id=provider_id, plan_id=p) for p in sorted(set(plan_ids)))


def set_rank_key(session: Session, provider_id: uuid.UUID, key: str) -> None:
    """Copy a provider's rank key (models.rank_key) onto their licences and compact privileges."""
    for model in (License, CompactPrivilege):
        session.execute(update(model).where(model.provider_id == provider_id).values(rank_key=key))


def conditions(session: Session, provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    return _grouped(session, ProviderCondition.provider_id, ProviderCondition.condition, provider_ids)


def languages(session: Session, provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    return _grouped(session, ProviderLanguage.provider_id, ProviderLanguage.language, provider_ids)


def networks(session: Session, provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    return _grouped(session, ProviderNetwork.provider_id, ProviderNetwork.plan_id, provider_ids)


def _grouped(session: Session, key, value, ids: list[uuid.UUID]) -> dict:  # type: ignore[no-untyped-def]
    out: dict = {i: [] for i in ids}
    if ids:
        for k, v in session.execute(select(key, value).where(key.in_(ids)).order_by(key, value)):
            out[k].append(v)
    return out


def licenses(session: Session, provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[License]]:
    return _children(session, License, provider_ids)


def compact_privileges(
    session: Session, provider_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[CompactPrivilege]]:
    return _children(session, CompactPrivilege, provider_ids)


def dea_registrations(
    session: Session, provider_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[DeaRegistration]]:
    return _children(session, DeaRegistration, provider_ids)


def _children(session: Session, model, ids: list[uuid.UUID]) -> dict:  # type: ignore[no-untyped-def]
    out: dict = {i: [] for i in ids}
    if ids:
        for row in session.scalars(select(model).where(model.provider_id.in_(ids))):
            out[row.provider_id].append(row)
    return out


def search_providers(
    session: Session,
    *,
    query: str | None,
    credential: str | None,
    state: str | None,
    condition: str | None,
    language: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Provider], int]:
    stmt = select(Provider).where(Provider.is_active.is_(True))
    if query:
        stmt = stmt.where(func.lower(Provider.name).like(f"%{query.lower()}%"))
    if credential:
        stmt = stmt.where(Provider.credential == credential)
    if state:
        stmt = stmt.where(Provider.id.in_(select(License.provider_id).where(License.state == state)))
    if condition:
        stmt = stmt.where(
            Provider.id.in_(
                select(ProviderCondition.provider_id).where(ProviderCondition.condition == condition)
            )
        )
    if language:
        stmt = stmt.where(
            Provider.id.in_(select(ProviderLanguage.provider_id).where(ProviderLanguage.language == language))
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Provider.name, Provider.id).limit(limit).offset(offset))
    return list(rows), total


def coverage(session: Session, patient_id: uuid.UUID) -> PatientCoverage | None:
    return session.scalars(
        select(PatientCoverage).where(PatientCoverage.patient_id == patient_id)
    ).one_or_none()


def candidate_ids_in_state(session: Session, state: str, on_date: object) -> list[uuid.UUID]:
    """Active providers with a licence or compact privilege in ``state`` that may be valid on
    ``on_date`` (SQL pre-filter; the pure rules make the exact decision)."""
    from sqlalchemy import or_, union

    lic = select(License.provider_id).where(
        License.state == state,
        License.status == "active",
        or_(License.expires.is_(None), License.expires >= on_date),
    )
    comp = select(CompactPrivilege.provider_id).where(
        CompactPrivilege.state == state,
        CompactPrivilege.status == "active",
        or_(CompactPrivilege.expires.is_(None), CompactPrivilege.expires >= on_date),
    )
    ids = union(lic, comp).subquery()
    stmt = select(Provider.id).where(Provider.is_active.is_(True), Provider.id.in_(select(ids.c[0])))
    return list(session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class CandidateQuery:
    """A need for one role, in the terms SQL can filter and order by exactly (built by ``matching``)."""

    state: str
    on_date: date
    service: str  # "therapy" or "medication_management": the role's offer
    credentials: tuple[str, ...]  # credentials whose scope can fill the role in the state
    compact_ok: bool  # False for prescribers: prescribing needs a full licence in the state
    plan_id: uuid.UUID | None
    self_pay: bool
    conditions: tuple[str, ...]  # case-folded; stored conditions are lower-case (service._tags)
    all_conditions: bool  # RulesConfig.condition_match == "all"
    language: str | None  # case-folded; stored languages are lower-case
    gender: str | None  # case-folded
    weights: tuple[float, float, float]  # condition_fit, language, gender (MatchWeights)
    # Earliest availability (scheduling.earliest): the provider column holding the role's first visit's day,
    # the need's day (same numbering), the weight and the half-life in days (MatchWeights).
    opening_day: str = "first_therapy_day"
    on_day: int = 0
    availability: tuple[float, float] = (0.0, 7.0)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A provider SQL ranks for a need: ``opening_day`` is their stored earliest free day (None: never
    checked), a lower bound on the true one (scheduling.earliest)."""

    id: uuid.UUID
    opening_day: int | None


def match_candidates(session: Session, q: CandidateQuery, *, limit: int, offset: int = 0) -> list[Candidate]:
    """Providers who may fill a role, best first by the rules' preference score, ``limit`` from ``offset``.

    Applies in SQL the hard filters that SQL decides exactly: active, accepting new patients, under capacity,
    offers the role's service, a credential that can fill the role in the state, in network with the plan
    (or self-pay), treats the conditions; and, as a superset of the rules' authority check, an active licence
    (or, when ``compact_ok``, compact privilege) in the state that is issued and unexpired on the date. The
    pure rules still decide every returned provider (licence type, compact membership, RxP certificates).
    Matching loads no care teams, so nobody is exempt from the accepting and capacity filters.

    Availability: a provider whose stored earliest free time (scheduling.earliest) says they have none is left
    out; one never checked is kept. Their stored earliest day scores the rules' earliest-availability part
    (never checked, or before the need's date: the best score), an upper bound on the exact part.

    Order: the preference parts SQL can compute (condition fit, language, gender, earliest availability, with
    the rules' weights), then the case-folded name, the name (code-point order) and id: the rules' own
    tie-break, so the first ``limit`` eligible here are the rules' first ``limit`` when the stored times are
    exact.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    filters, parts, _top, speaks = _candidate_sql(q)
    score = functools.reduce(operator.add, parts) if parts else literal(0.0)
    name_key, name = Provider.sort_name, Provider.name
    if postgres:  # code-point order, as Python compares strings
        name_key, name = name_key.collate("C"), name.collate("C")
    columns = (
        Provider.id.label("id"),
        score.label("score"),
        name_key.label("name_key"),
        name.label("name"),
        getattr(Provider, q.opening_day).label("opening_day"),
    )

    # Each branch starts from the state's licences (or compact privileges): the most selective index.
    def scored(stmt: Select[Any]) -> Select[Any]:
        return stmt.outerjoin(ProviderLanguage, speaks) if speaks is not None else stmt

    branches = [
        scored(select(*columns).join_from(model, Provider, Provider.id == model.provider_id)).where(
            *_valid_in_state(model, q), *filters
        )
        for model in _sources(q)
    ]
    rows = union_all(*branches).subquery() if len(branches) > 1 else branches[0].subquery()
    stmt = (
        select(rows.c.id, rows.c.opening_day)
        .order_by(rows.c.score.desc(), rows.c.name_key, rows.c.name, rows.c.id)
        .limit(limit)
        .offset(offset)
    )
    # A provider with two licences (or a licence and a privilege) in the state comes twice, once per row (the
    # caller keeps the first; a page shorter than ``limit`` is the last).
    return [Candidate(pid, day) for pid, day in session.execute(stmt)]


# Licence (and privilege) rows a walk reads at most per state, in name order (walk_top_candidates).
WALK_CAP = 1500


def walk_top_candidates(session: Session, q: CandidateQuery, *, limit: int) -> list[Candidate] | None:
    """The first ``limit`` of :func:`match_candidates` (offset 0) when they all have the best score SQL can
    give for the need, found without ranking the whole state; None when that cannot be shown cheaply.

    The best score means every preference part SQL computes is at its maximum: treats every requested
    condition, speaks the language, the requested gender, free on the need's date (as stored). Providers
    with the best score come first in :func:`match_candidates`' order and among themselves in name order
    (case-folded name, name, id), which is the order of the ``rank_key`` their licences and privileges carry
    (models.rank_key). So a walk of the state's licences in ``rank_key`` order, keeping those that pass every
    filter at the best score, finds the same first ``limit`` — and stops as soon as it has them, where
    ranking reads every licence in the state (thousands in a large one). The walk reads at most WALK_CAP
    rows per source; if that is not enough to find ``limit`` providers (few have the best score), the answer
    is None and the caller ranks the whole state.
    """
    filters, _parts, top, speaks = _candidate_sql(q)
    opening = getattr(Provider, q.opening_day)
    rows: list[tuple[uuid.UUID, str, int | None]] = []
    edges: list[str] = []
    sources = []
    for model in _sources(q):
        valid = _valid_in_state(model, q)
        key = model.rank_key  # code-point order on every engine (models.RANK_KEY_TYPE)
        # The WALK_CAP-th row in rank order (an index-only read): the walk reads up to it, or the whole state.
        edge = session.scalar(select(key).where(*valid).order_by(key).offset(WALK_CAP - 1).limit(1))
        sources.append((model, valid, key, edge))
    if all(edge is None for *_, edge in sources):
        return None  # a small state: ranking it whole costs no more than a walk
    for model, valid, key, edge in sources:
        stmt = select(Provider.id, model.rank_key, opening).join_from(
            model, Provider, Provider.id == model.provider_id
        )
        if speaks is not None:
            stmt = stmt.join(ProviderLanguage, speaks)
        stmt = stmt.where(*valid, *filters, *top)
        if edge is not None:
            stmt = stmt.where(key <= edge)
            edges.append(edge)
        # A few extra rows: a provider with two licences in the state comes twice.
        rows += [(pid, rk, day) for pid, rk, day in session.execute(stmt.order_by(key).limit(limit + 5))]
    rows.sort(key=lambda row: row[1])
    if edges:  # beyond the first edge a capped source may have rows it did not read
        rows = [row for row in rows if row[1] <= min(edges)]
    found: dict[uuid.UUID, Candidate] = {}
    for pid, _key, day in rows:
        found.setdefault(pid, Candidate(pid, day))
    if len(found) < limit:
        return None
    return list(found.values())[:limit]


def _sources(q: CandidateQuery) -> list[Any]:
    """Where authority in the state comes from: licences, and for therapists compact privileges."""
    return [License, CompactPrivilege] if q.compact_ok else [License]


def _valid_in_state(model: Any, q: CandidateQuery) -> list[ColumnElement[bool]]:
    return [
        model.state == q.state,
        model.status == "active",
        or_(model.issued.is_(None), model.issued <= q.on_date),
        model.expires >= q.on_date,
    ]


def _candidate_sql(
    q: CandidateQuery,
) -> tuple[list[ColumnElement[bool]], list[ColumnElement[float]], list[ColumnElement[bool]], Any]:
    """(hard filters on the provider, score parts, the conditions under which every part is at its best,
    the language join condition or None) for :func:`match_candidates` and :func:`walk_top_candidates`."""
    offers = Provider.offers_therapy if q.service == "therapy" else Provider.offers_medication_management
    filters: list[ColumnElement[bool]] = [
        Provider.is_active.is_(True),
        Provider.accepting_new_patients.is_(True),
        Provider.active_patients < Provider.capacity,
        offers.is_(True),
        Provider.credential.in_(q.credentials),
    ]
    opening = getattr(Provider, q.opening_day)
    filters.append(or_(Provider.openings_checked_at.is_(None), opening.is_not(None)))
    network = []
    if q.plan_id is not None:
        network.append(
            exists().where(ProviderNetwork.provider_id == Provider.id, ProviderNetwork.plan_id == q.plan_id)
        )
    if q.self_pay:
        network.append(Provider.self_pay.is_(True))
    if network:
        filters.append(or_(*network))

    def treats(*conditions: str) -> Exists:
        return exists().where(
            ProviderCondition.provider_id == Provider.id, ProviderCondition.condition.in_(conditions)
        )

    condition_w, language_w, gender_w = q.weights
    parts: list[ColumnElement[float]] = []
    top: list[ColumnElement[bool]] = []  # every part at its best
    if q.conditions and q.all_conditions:
        filters += [treats(c) for c in q.conditions]  # every eligible provider then scores the same here
    elif q.conditions:
        filters.append(treats(*q.conditions))
        share = condition_w / len(q.conditions)
        parts += [case((treats(c), share), else_=0.0) for c in q.conditions]
        top += [treats(c) for c in q.conditions] if len(q.conditions) > 1 else []
    speaks = None
    if q.language:  # an outer join on the (provider, language) key: one probe per eligible provider
        speaks = and_(ProviderLanguage.provider_id == Provider.id, ProviderLanguage.language == q.language)
        parts.append(case((ProviderLanguage.provider_id.is_not(None), language_w), else_=0.0))
        top.append(ProviderLanguage.provider_id.is_not(None))
    if q.gender:
        parts.append(case((func.lower(Provider.gender) == q.gender, gender_w), else_=0.0))
        top.append(func.lower(Provider.gender) == q.gender)
    availability_w, half_life = q.availability
    if availability_w:
        late = opening - q.on_day  # days after the need's date (never checked: NULL, the best score)
        parts.append(
            case(
                (late > 0, availability_w * func.power(0.5, cast(late, Float) / half_life)),
                else_=availability_w,
            )
        )
        top.append(or_(opening.is_(None), opening <= q.on_day))
    return filters, parts, top, speaks


@dataclass(frozen=True, slots=True)
class FactScope:
    """The tags one need reads: only its plan (None: no plan, no networks), its conditions and its language
    (case-folded; stored tags are lower-case). The rules look at nothing else in a provider's networks,
    conditions and languages for that need (membership of the plan, the requested conditions treated, the
    requested language spoken), so they decide and rank exactly as with every tag loaded, from fewer rows."""

    plan_id: uuid.UUID | None
    conditions: tuple[str, ...]
    language: str | None


def match_fact_rows(
    session: Session, ids: list[uuid.UUID], on_date: date, scope: FactScope | None = None
) -> dict[str, Any]:
    """What the matching rules need about ``ids``, as plain rows (no ORM objects: this runs per match), in three
    round trips: the provider rows; their dated records (licences, compact privileges, DEA registrations,
    prescriptive certificates valid on ``on_date``) in one UNION ALL; their tags (conditions, languages,
    networks) in another. With a ``scope``, only the tags that need reads (FactScope)."""
    out: dict[str, Any] = {
        "providers": [],
        "conditions": {i: [] for i in ids},
        "languages": {i: [] for i in ids},
        "networks": {i: [] for i in ids},
        "licenses": {i: [] for i in ids},
        "compact_privileges": {i: [] for i in ids},
        "dea_registrations": {i: [] for i in ids},
        "prescriptive_certifications": {i: set() for i in ids},
    }
    if not ids:
        return out
    out["providers"] = list(
        session.execute(
            select(
                Provider.id,
                Provider.name,
                Provider.credential,
                Provider.offers_therapy,
                Provider.offers_medication_management,
                Provider.modalities,
                Provider.gender,
                Provider.accepting_new_patients,
                Provider.capacity,
                Provider.active_patients,
                Provider.self_pay,
            ).where(Provider.id.in_(ids))
        )
    )
    rows = itertools.chain.from_iterable(session.execute(stmt) for stmt in _child_rows(ids, on_date, scope))
    for kind, pid, s1, s2, s3, s4, d1, d2, schedules in rows:
        if kind == "L":
            out["licenses"][pid].append((s1, s2, s3, s4, d1, d2))
        elif kind == "P":
            out["compact_privileges"][pid].append((s1, s2, s3, d1, d2))
        elif kind == "D":
            out["dea_registrations"][pid].append((s1, schedules or [], d2))
        elif kind == "C":
            out["conditions"][pid].append(s1)
        elif kind == "G":
            out["languages"][pid].append(s1)
        elif kind == "N":
            out["networks"][pid].append(uuid.UUID(s1))
        else:
            out["prescriptive_certifications"][pid].add(s1)
    return out


def _child_rows(ids: list[uuid.UUID], on_date: date, scope: FactScope | None) -> tuple[Any, ...]:
    """(kind, provider id, four texts, two dates, DEA schedules) for every child row of ``ids``: dated records
    (licences, compact privileges, DEA registrations, RxP certificates), then tags (conditions, languages,
    networks). The first branch of each carries the columns' types, so dates, ids and JSON come back
    converted on every backend. Two statements, not one: on the benchmark machine PostgreSQL 15 answered the
    single seven-branch UNION ALL in ~15 ms and these two in ~1-2 ms each (executor time ~1 ms either way;
    the cause was not pinned down)."""
    none = null()
    no_json = cast(null(), JSON)  # typed in every branch: PostgreSQL would resolve bare NULLs as text
    tag = functools.partial(literal_column, type_=String)

    def branch(kind: str, model: Any, *columns: Any) -> Select[Any]:
        labelled = (c.label(f"c{n}") for n, c in enumerate((tag(f"'{kind}'"), model.provider_id, *columns)))
        return select(*labelled).where(model.provider_id.in_(ids))

    def tags(kind: str, model: Any, column: Any, wanted: Iterable[Any] | None) -> list[Select[Any]]:
        stmt = branch(kind, model, cast(column, String), none, none, none, none, none, no_json)
        if wanted is None:
            return [stmt]
        wanted = list(wanted)
        return [stmt.where(column.in_(wanted))] if wanted else []

    L, P, D, R = License, CompactPrivilege, DeaRegistration, PrescriptiveCertification
    C, G, N = ProviderCondition, ProviderLanguage, ProviderNetwork
    records = union_all(
        branch("L", L, L.state, L.license_type, L.number, L.status, L.issued, L.expires, no_json),
        branch("P", P, P.compact, P.state, P.status, none, P.issued, P.expires, no_json),
        branch("D", D, D.state, none, none, none, none, D.expires, D.schedules),
        branch("R", R, R.state, none, none, none, none, none, no_json).where(
            or_(R.expires.is_(None), R.expires >= on_date)
        ),
    )
    tag_rows = [
        *tags("C", C, C.condition, None if scope is None else scope.conditions),
        *tags("G", G, G.language, None if scope is None else (scope.language,) if scope.language else ()),
        *tags("N", N, N.plan_id, None if scope is None else (scope.plan_id,) if scope.plan_id else ()),
    ]
    if not tag_rows:
        return (records,)
    return records, union_all(*tag_rows) if len(tag_rows) > 1 else tag_rows[0]


def exclusion_fact_rows(
    session: Session, state: str, on_date: date, plan_id: uuid.UUID | None, conditions: tuple[str, ...]
) -> dict[str, Any]:
    """For every active provider with a licence or compact privilege in ``state`` (``candidate_ids_in_state``):
    what the hard filters read, keyed by the id as text, joined in SQL rather than listed (there may be
    thousands). Only the need's plan and conditions are read: the filters look at nothing else."""
    lic = select(License.provider_id).where(
        License.state == state,
        License.status == "active",
        or_(License.expires.is_(None), License.expires >= on_date),
    )
    comp = select(CompactPrivilege.provider_id).where(
        CompactPrivilege.state == state,
        CompactPrivilege.status == "active",
        or_(CompactPrivilege.expires.is_(None), CompactPrivilege.expires >= on_date),
    )
    cand = select(Provider.id).where(Provider.is_active.is_(True), Provider.id.in_(union_all(lic, comp)))

    def key(column: Any) -> Any:
        return cast(column, String)

    out: dict[str, Any] = {
        "providers": list(
            session.execute(
                select(
                    key(Provider.id),
                    Provider.name,
                    Provider.credential,
                    Provider.offers_therapy,
                    Provider.offers_medication_management,
                    Provider.accepting_new_patients,
                    Provider.capacity,
                    Provider.active_patients,
                    Provider.self_pay,
                    Provider.openings_checked_at,
                    Provider.first_therapy_day,
                    Provider.first_evaluation_day,
                ).where(Provider.id.in_(cand))
            )
        )
    }
    out["licenses"] = list(
        session.execute(
            select(
                key(License.provider_id),
                License.state,
                License.license_type,
                License.number,
                License.status,
                License.issued,
                License.expires,
            ).where(License.provider_id.in_(cand))
        )
    )
    out["compact_privileges"] = list(
        session.execute(
            select(
                key(CompactPrivilege.provider_id),
                CompactPrivilege.compact,
                CompactPrivilege.state,
                CompactPrivilege.status,
                CompactPrivilege.issued,
                CompactPrivilege.expires,
            ).where(CompactPrivilege.provider_id.in_(cand), CompactPrivilege.state == state)
        )
    )
    out["prescriptive_certifications"] = set(
        session.scalars(
            select(key(PrescriptiveCertification.provider_id)).where(
                PrescriptiveCertification.provider_id.in_(cand),
                PrescriptiveCertification.state == state,
                or_(
                    PrescriptiveCertification.expires.is_(None), PrescriptiveCertification.expires >= on_date
                ),
            )
        )
    )
    out["in_network"] = (
        set(
            session.scalars(
                select(key(ProviderNetwork.provider_id)).where(
                    ProviderNetwork.plan_id == plan_id, ProviderNetwork.provider_id.in_(cand)
                )
            )
        )
        if plan_id is not None
        else set()
    )
    out["conditions"] = (
        list(
            session.execute(
                select(key(ProviderCondition.provider_id), ProviderCondition.condition).where(
                    ProviderCondition.condition.in_(conditions), ProviderCondition.provider_id.in_(cand)
                )
            )
        )
        if conditions
        else []
    )
    return out


def providers_by_ids(session: Session, ids: list[uuid.UUID]) -> list[Provider]:
    if not ids:
        return []
    return list(session.scalars(select(Provider).where(Provider.id.in_(ids))))


def count_active_providers(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Provider).where(Provider.is_active.is_(True))) or 0


def prescriptive_certification_states(session: Session, ids: list[uuid.UUID], on_date: object) -> dict:
    from sqlalchemy import or_

    from careweave.directory.models import PrescriptiveCertification

    out: dict = {i: set() for i in ids}
    if ids:
        stmt = select(PrescriptiveCertification.provider_id, PrescriptiveCertification.state).where(
            PrescriptiveCertification.provider_id.in_(ids),
            or_(PrescriptiveCertification.expires.is_(None), PrescriptiveCertification.expires >= on_date),
        )
        for pid, state in session.execute(stmt):
            out[pid].add(state)
    return out
