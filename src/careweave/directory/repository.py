from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    delete,
    distinct,
    exists,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased

from careweave.db.lists import one_of
from careweave.directory.documents import ANY_NETWORK, BOUND_BITS, SELF_PAY_NETWORK, tag_pattern
from careweave.directory.models import (
    CompactPrivilege,
    DeaRegistration,
    License,
    MatchDocument,
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


def plan_each_match(session: Session) -> None:
    """On PostgreSQL, plan this transaction's statements for their values (``plan_cache_mode`` for the rest of
    the transaction). The driver prepares a statement run often; PostgreSQL then may switch to a generic plan,
    and for matching's statements the best plan depends on the values (a state with 18,000 documents or 40, a
    common plan or a rare one): a generic plan took over a second for some needs where a custom one takes
    15 ms (docs/benchmarks.md). Planning costs well under a millisecond here.

    Also for the transaction, in the same statement: no JIT compilation (PostgreSQL compiles a statement whose
    estimated cost passes ``jit_above_cost``, ~50 ms for an empty role's explanation in a large state, more
    than the statement's own work) and no parallel workers (starting them cost ~15 ms for a scan of a few
    thousand documents)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_MATCH_SETTINGS)


_MATCH_SETTINGS = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('jit', 'off', true),"
    " set_config('max_parallel_workers_per_gather', '0', true)"
)


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
    # The need's weekday (Monday = 0): picks its bound from the document's day bounds (the column named like
    # ``opening_day`` with ``_bounds``: documents.day_bounds).
    on_weekday: int = 0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A provider SQL ranks for a need: ``opening_day`` is the first free day SQL scored them with (from their
    stored earliest free day and weekdays: scheduling.earliest), a lower bound on the true one."""

    id: uuid.UUID
    opening_day: int | None
    # Their stored earliest free day for the role's first visit (None: none, or never checked): a stored time
    # can be exact for the need only if it is on or after the need's day (scheduling.earliest.fresh_openings).
    stored_day: int | None = None


def match_candidates(session: Session, q: CandidateQuery, *, limit: int, offset: int = 0) -> list[Candidate]:
    """Providers who may fill a role, best first by the rules' preference score, ``limit`` from ``offset``.

    Reads the match documents (directory.documents). Applies in SQL the hard filters that SQL decides exactly:
    active, accepting new patients, under capacity,
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

    A provider with two licences (or a licence and a privilege) in the state, or in the plan's network and
    self-pay, comes once per document (the caller keeps the first; a page shorter than ``limit`` is the last).
    """
    stmts = _statements(_shape(session, q))
    params = _params(q) | {"limit": limit, "offset": offset}
    # .all(): one fetch, not a round of fetchone per row (rows are iterated per match, on every page)
    return [Candidate(pid, day, stored) for pid, day, stored in session.execute(stmts.ranked, params).all()]


# Documents a walk reads at most per state and network key, in name order (walk_top_candidates).
WALK_CAP = 1500


def walk_top_candidates(
    session: Session, q: CandidateQuery, *, limit: int, edges_seen: dict[Any, list[Any]] | None = None
) -> list[Candidate] | None:
    """The first ``limit`` of :func:`match_candidates` (offset 0) when they all have the best score SQL can
    give for the need, found without ranking the whole state; None when that cannot be shown cheaply.

    The best score means every preference part SQL computes is at its maximum: treats every requested
    condition, speaks the language, the requested gender, free on the need's date (as stored). Providers
    with the best score come first in :func:`match_candidates`' order and among themselves in name order
    (case-folded name, name, id), which is the order of the ``rank_key`` their match documents carry
    (models.rank_key). So a walk of the state's documents in ``rank_key`` order, keeping those that pass every
    filter at the best score, finds the same first ``limit`` — and stops as soon as it has them, where
    ranking reads every licence in the state (thousands in a large one). The walk reads at most WALK_CAP
    rows per source; if that is not enough to find ``limit`` providers (few have the best score), the answer
    is None and the caller ranks the whole state. A state with fewer rows than that is ranked whole anyway.

    ``edges_seen``: a match's memo of the edges it has read. An edge depends only on the state and the network
    keys, not on the role, so a "both" need's second role reuses the first's (one or two statements fewer).
    """
    shape = _shape(session, q)
    stmts = _statements(shape)
    params = _params(q) | {"edge_offset": WALK_CAP - 1, "limit": limit + 5}  # a few more: duplicates
    key = (q.state, shape.plan, shape.self_pay, q.plan_id)  # what the edge statements read (_networks)
    edges = edges_seen.get(key) if edges_seen is not None else None
    if edges is None:
        edges = [session.scalar(edge, params) for edge in stmts.edges]
        if edges_seen is not None:
            edges_seen[key] = edges
    if all(edge is None for edge in edges):
        return None  # a small state: ranking it whole costs no more than a walk
    rows: list[tuple[uuid.UUID, str, int | None, int | None]] = []
    bounds = [edge for edge in edges if edge is not None]  # beyond these a source may have unread rows
    for edge, capped, whole in zip(edges, stmts.walks_capped, stmts.walks, strict=True):
        found = (
            session.execute(whole, params).all()
            if edge is None
            else session.execute(capped, params | {"edge": edge}).all()
        )
        got = [(pid, key, day, stored) for pid, key, day, stored in found]
        if len(got) == params["limit"]:  # cut at the limit: the source's next row may precede others' rows
            bounds.append(got[-1][1])
        rows += got
    rows.sort(key=lambda row: row[1])
    if bounds:
        rows = [row for row in rows if row[1] <= min(bounds)]
    found_ids: dict[uuid.UUID, Candidate] = {}
    for pid, _key, day, stored in rows:
        found_ids.setdefault(pid, Candidate(pid, day, stored))
    if len(found_ids) < limit:
        return None
    return list(found_ids.values())[:limit]


@dataclass(frozen=True, slots=True)
class _Shape:
    """What decides the form of a need's candidate SQL (its values are parameters: _params)."""

    postgres: bool
    service: str
    compact_ok: bool
    plan: bool
    self_pay: bool
    conditions: int
    all_conditions: bool
    language: bool
    gender: bool
    opening_day: str
    availability: bool


def _shape(session: Session, q: CandidateQuery) -> _Shape:
    return _Shape(
        session.get_bind().dialect.name == "postgresql",
        q.service,
        q.compact_ok,
        q.plan_id is not None,
        q.self_pay,
        len(q.conditions),
        q.all_conditions,
        q.language is not None,
        q.gender is not None,
        q.opening_day,
        bool(q.availability[0]),
    )


def _params(q: CandidateQuery) -> dict[str, Any]:
    condition_w, language_w, gender_w = q.weights
    availability_w, half_life = q.availability
    return {
        "state": q.state,
        "on_date": q.on_date,
        "credentials": list(q.credentials),
        "plan_id": q.plan_id,
        "self_pay_network": SELF_PAY_NETWORK,
        "any_network": ANY_NETWORK,
        **{f"condition_{i}": tag_pattern(c) for i, c in enumerate(q.conditions)},
        "condition_share": condition_w / len(q.conditions) if q.conditions else 0.0,
        "language": tag_pattern(q.language) if q.language is not None else None,
        "language_w": language_w,
        "gender": q.gender,
        "gender_w": gender_w,
        "on_day": q.on_day,
        "bound_shift": BOUND_BITS * q.on_weekday,  # the date's weekday's bound (documents.day_bounds)
        "availability_w": availability_w,
        "half_life": half_life,
    }


@dataclass(frozen=True, slots=True)
class _Statements:
    ranked: Select[Any]  # match_candidates
    edges: tuple[Select[Any], ...]  # per source: the WALK_CAP-th rank key in the state, or nothing
    walks: tuple[Select[Any], ...]  # per source: the walk over the whole state
    walks_capped: tuple[Select[Any], ...]  # per source: the walk up to the edge


@functools.lru_cache(maxsize=512)
def _statements(shape: _Shape) -> _Statements:
    """The candidate statements for a shape, built once: a match only binds values (building and keying a
    statement of this size costs more than running it for a small state).

    They read only the match documents (models.MatchDocument, directory.documents): a need's rows are the
    state's documents for its network key(s), one index range each, in rank-key order."""
    doc = MatchDocument
    filters, parts, top = _candidate_sql(shape)
    score = _rounded(functools.reduce(operator.add, parts)) if parts else literal(0.0)
    # What SQL assumed of each candidate's first free day (need's day numbering), for the caller's bound.
    bound_day = bindparam("on_day", type_=Integer) + (_days_late(shape) if shape.availability else literal(0))
    stored_day = getattr(doc, shape.opening_day).label("stored_day")
    networks = _networks(shape)
    ranked = (
        select(doc.provider_id, bound_day.label("opening_day"), stored_day)
        .where(_in_network(networks), *_valid_in_state(), *filters)
        .order_by(score.desc(), doc.rank_key)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    edges, walks, capped = [], [], []
    for network in networks:  # each network key is one index range in rank-key order
        in_range = [doc.state == bindparam("state", type_=String), doc.network == network]
        edges.append(
            select(doc.rank_key)
            .where(*in_range)
            .order_by(doc.rank_key)
            .offset(bindparam("edge_offset", type_=Integer))
            .limit(1)
        )
        walk = select(doc.provider_id, doc.rank_key, bound_day, stored_day).where(
            *in_range, *_valid_in_state(), *filters, *top
        )
        walks.append(walk.order_by(doc.rank_key).limit(bindparam("limit", type_=Integer)))
        capped.append(
            walk.where(doc.rank_key <= bindparam("edge", type_=String))
            .order_by(doc.rank_key)
            .limit(bindparam("limit", type_=Integer))
        )
    return _Statements(ranked, tuple(edges), tuple(walks), tuple(capped))


def _networks(shape: _Shape) -> list[ColumnElement[Any]]:
    """The network keys a need's documents are filed under (directory.documents)."""
    keys: list[ColumnElement[Any]] = []
    if shape.plan:
        keys.append(bindparam("plan_id", type_=Uuid))
    if shape.self_pay:
        keys.append(bindparam("self_pay_network", type_=Uuid))
    return keys or [bindparam("any_network", type_=Uuid)]


def _in_network(networks: list[ColumnElement[Any]]) -> ColumnElement[bool]:
    doc = MatchDocument
    return doc.network == networks[0] if len(networks) == 1 else doc.network.in_(networks)


def _valid_in_state() -> list[ColumnElement[bool]]:
    """A document's source (an active licence or compact privilege: documents are kept for active ones only)
    is in the state and issued and unexpired on the date."""
    doc = MatchDocument
    on_date = bindparam("on_date", type_=Date)
    return [
        doc.state == bindparam("state", type_=String),
        or_(doc.issued.is_(None), doc.issued <= on_date),
        doc.expires >= on_date,
    ]


def _has_tag(column: Any, param: str, *, postgres: bool) -> ColumnElement[bool]:
    """The document's tag list (",a,b,") holds the parameter's pattern (documents.tag_pattern)."""
    position = func.strpos if postgres else func.instr
    return position(column, bindparam(param, type_=String)) > 0


def _candidate_sql(
    shape: _Shape,
) -> tuple[list[ColumnElement[bool]], list[ColumnElement[float]], list[ColumnElement[bool]]]:
    """(hard filters, score parts, the conditions under which every part is at its best) for a shape, over the
    match documents, with the need's values as parameters (_params)."""
    doc = MatchDocument
    has = functools.partial(_has_tag, postgres=shape.postgres)
    offers = doc.offers_therapy if shape.service == "therapy" else doc.offers_medication_management
    filters: list[ColumnElement[bool]] = [
        doc.accepting_new_patients.is_(True),
        doc.active_patients < doc.capacity,
        offers.is_(True),
        one_of(doc.credential, "credentials", String()),
    ]
    if not shape.compact_ok:
        filters.append(doc.compact.is_(False))
    opening = getattr(doc, shape.opening_day)
    filters.append(or_(doc.openings_checked.is_(False), opening.is_not(None)))

    def treats_each() -> list[ColumnElement[bool]]:
        return [has(doc.conditions, f"condition_{i}") for i in range(shape.conditions)]

    weight = functools.partial(bindparam, type_=Float)
    parts: list[ColumnElement[float]] = []
    top: list[ColumnElement[bool]] = []  # every part at its best
    if shape.conditions and shape.all_conditions:
        filters += treats_each()  # every eligible provider then scores the same here
    elif shape.conditions:
        filters.append(or_(*treats_each()))
        share = [case((each, weight("condition_share")), else_=0.0) for each in treats_each()]
        parts.append(_rounded(functools.reduce(operator.add, share)))  # one part, as the rules score it
        top += treats_each() if shape.conditions > 1 else []
    if shape.language:
        speaks = has(doc.languages, "language")
        parts.append(case((speaks, weight("language_w")), else_=0.0))
        top.append(speaks)
    if shape.gender:
        same = doc.gender == bindparam("gender", type_=String)
        parts.append(case((same, weight("gender_w")), else_=0.0))
        top.append(same)
    if shape.availability:
        parts.append(_availability_part(shape))
        top.append(_days_late(shape) <= 0)
    return filters, parts, top


def _days_late(shape: _Shape) -> ColumnElement[int]:
    """A lower bound on the days from the need's date to the provider's first free day (the UTC date the rules
    rank by): the later of the stored earliest free day and the bound their own calendar's weekdays with hours
    give for the date's weekday (documents.day_bounds; no mask, or never checked: 0, the best)."""
    opening = getattr(MatchDocument, shape.opening_day)
    bounds = getattr(MatchDocument, shape.opening_day.replace("_day", "_bounds"))
    ahead = func.coalesce(
        bounds.op(">>")(bindparam("bound_shift", type_=Integer)).op("&")(
            literal((1 << BOUND_BITS) - 1, Integer)
        ),
        0,
    )
    stored = opening - bindparam("on_day", type_=Integer)  # NULL when never checked
    return case((stored > ahead, stored), else_=ahead)


def _availability_part(shape: _Shape) -> ColumnElement[float]:
    """The rules' earliest-availability part (rules._availability_part) from _days_late: an upper bound."""
    best = bindparam("availability_w", type_=Float)
    late = _days_late(shape)
    return _rounded(
        case(
            (late > 0, best * func.power(0.5, cast(late, Float) / bindparam("half_life", type_=Float))),
            else_=best,
        )
    )


def _rounded(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """``value`` rounded to 4 places, as rules.score rounds each part and the total, so SQL's ties are the
    rules' ties (an unrounded float would order apart two scores the rules call equal)."""
    return func.round(cast(value, Numeric(20, 10)), 4)


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
    session: Session,
    ids: list[uuid.UUID],
    on_date: date,
    scope: FactScope | None = None,
    *,
    providers: Sequence[Any] | None = None,
    stored_openings: bool = False,
) -> dict[str, Any]:
    """What the matching rules need about ``ids``, as plain rows (no ORM objects: this runs per match), in two
    round trips: the provider rows; then their dated records (licences, compact privileges, DEA registrations,
    prescriptive certificates valid on ``on_date``) and their tags (conditions, languages, networks) in one
    UNION ALL. With a ``scope``, only the tags that need reads (FactScope).

    ``providers``: the caller has the provider rows already (objects with _FACT_PROVIDERS' columns as
    attributes, e.g. the Provider a booking locked): they are not read again (a booking's re-check: one round
    trip in all).

    ``stored_openings``: the provider rows also carry what says whether each one's stored earliest free times
    are exact (scheduling.earliest.exact_stored: ``first_therapy_at``, ``first_evaluation_at``,
    ``openings_checked_at``, ``min_notice_minutes`` — None without a schedule — and ``open_hold``), so matching
    needs no query of its own for them."""
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
    if providers is not None:
        out["providers"] = list(providers)
    else:
        stmt = _match_providers() if stored_openings else _FACT_PROVIDERS
        out["providers"] = session.execute(stmt, {"ids": ids}).all()
    params: dict[str, Any] = {"ids": ids, "on_date": on_date}
    if scope is not None:
        params |= {"conditions": list(scope.conditions), "language": scope.language, "plan_id": scope.plan_id}
    shape = (
        None
        if scope is None
        else (bool(scope.conditions), scope.language is not None, scope.plan_id is not None)
    )
    rows = session.execute(_child_rows(shape), params).all()
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


_FACT_PROVIDERS = select(
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
).where(one_of(Provider.id, "ids", Uuid()))


@functools.cache
def _match_providers() -> Select[Any]:
    """_FACT_PROVIDERS with the stored earliest free times and what decides whether they are exact
    (match_fact_rows' ``stored_openings``)."""
    from careweave.scheduling.earliest import open_hold
    from careweave.scheduling.models import ProviderSchedule

    return _FACT_PROVIDERS.add_columns(
        Provider.first_therapy_at,
        Provider.first_evaluation_at,
        Provider.openings_checked_at,
        ProviderSchedule.min_notice_minutes,
        open_hold(Provider.id),
    ).outerjoin(ProviderSchedule, ProviderSchedule.provider_id == Provider.id)


@functools.lru_cache(maxsize=16)
def _child_rows(scoped: tuple[bool, bool, bool] | None) -> Any:
    """(kind, provider id, four texts, two dates, DEA schedules) for every child row of the ``ids`` parameter:
    dated records (licences, compact privileges, DEA registrations, RxP certificates valid on ``on_date``),
    then tags (conditions, languages, networks; with ``scoped`` — whether the scope has conditions, a language,
    a plan — only the scope's: the ``conditions``, ``language`` and ``plan_id`` parameters). Built once per
    shape. The first branch of each carries the columns' types, so dates, ids and JSON come back converted on
    every backend.

    One statement: until session 10 a match sent the records and the tags as two, because PostgreSQL 15 took
    ~15 ms over the single seven-branch UNION ALL with an expanding IN list of ids in every branch (its parse and
    plan), ~1-2 ms over each of the two. With the ids bound as one array (db.lists) the statement text is fixed
    and prepared, and one statement measured ~1 ms per match faster than two (docs/benchmarks.md, session 10)."""
    on_date = bindparam("on_date", type_=Date)
    none = null()
    no_json = cast(null(), JSON)  # typed in every branch: PostgreSQL would resolve bare NULLs as text
    tag = functools.partial(literal_column, type_=String)

    def branch(kind: str, model: Any, *columns: Any) -> Select[Any]:
        labelled = (c.label(f"c{n}") for n, c in enumerate((tag(f"'{kind}'"), model.provider_id, *columns)))
        return select(*labelled).where(one_of(model.provider_id, "ids", Uuid()))

    def tags(kind: str, model: Any, column: Any, wanted: Any, present: bool) -> list[Select[Any]]:
        stmt = branch(kind, model, cast(column, String), none, none, none, none, none, no_json)
        if scoped is None:
            return [stmt]
        return [stmt.where(wanted)] if present else []

    L, P, D, R = License, CompactPrivilege, DeaRegistration, PrescriptiveCertification
    C, G, N = ProviderCondition, ProviderLanguage, ProviderNetwork
    records = (
        branch("L", L, L.state, L.license_type, L.number, L.status, L.issued, L.expires, no_json),
        branch("P", P, P.compact, P.state, P.status, none, P.issued, P.expires, no_json),
        branch("D", D, D.state, none, none, none, none, D.expires, D.schedules),
        branch("R", R, R.state, none, none, none, none, none, no_json).where(
            or_(R.expires.is_(None), R.expires >= on_date)
        ),
    )
    conditions, language, plan = scoped or (True, True, True)
    tag_rows = [
        *tags("C", C, C.condition, one_of(C.condition, "conditions", String()), conditions),
        *tags("G", G, G.language, G.language == bindparam("language", type_=String), language),
        *tags("N", N, N.plan_id, N.plan_id == bindparam("plan_id", type_=Uuid), plan),
    ]
    return union_all(*records, *tag_rows)


def _chunked(run: Any, ids: list[Any], stmt: Any, size: int = 900) -> list[Any]:
    """``run(stmt, {"cand": chunk})`` over ``ids`` a chunk at a time, the rows joined."""
    out: list[Any] = []
    for i in range(0, len(ids), size):
        out += list(run(stmt, {"cand": ids[i : i + size]}))
    return out


@dataclass(frozen=True, slots=True)
class ExclusionQuery:
    """A need for one role in the terms :func:`exclusion_kinds` counts providers by (built by ``matching`` from
    the rule data: rules.role_credentials, license_type_groups, practice_compacts; codes upper-case)."""

    state: str
    on_date: date
    service: str  # "therapy" or "medication_management": the role's offer
    outright: tuple[str, ...]  # credentials filling the role in the state outright
    certifiable: tuple[str, ...]  # credentials filling it with the state's prescribing certificate
    type_groups: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (credentials, valid licence types)
    compacts: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]  # (code, credentials, member states)
    plan_id: uuid.UUID | None
    self_pay: bool
    conditions: tuple[str, ...]  # case-folded, distinct
    opening_day: str  # the document column holding the role's first visit's stored free day


# The columns of exclusion_kinds' rows besides ``providers``: rules.FilterFacts' fields.
KIND_COLUMNS = (
    "license",
    "privilege",
    "offers",
    "outright",
    "certifiable",
    "certified",
    "in_plan",
    "self_pay",
    "accepting_new_patients",
    "under_capacity",
    "conditions_treated",
    "no_free_time",
)


def exclusion_kinds(session: Session, q: ExclusionQuery) -> list[Any]:
    """The active providers with an active licence or compact privilege in the state that has not expired by
    the date (the state's match documents), counted by kind: one row per distinct combination of what the
    hard filters read of them (KIND_COLUMNS, each 0/1 but ``conditions_treated``) with ``providers``, the
    count. Each part is decided in SQL exactly as rules.FilterFacts describes, in one statement, so an empty
    role's explanation costs one pass over the state's documents and a few index probes per provider, not the
    loading of every licence (docs/benchmarks.md)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    kinds = provider_kinds(q, postgres=postgres).subquery("kinds")
    columns = [kinds.c[name] for name in KIND_COLUMNS]
    stmt = select(*columns, func.count().label("providers")).group_by(*columns)
    return session.execute(stmt, exclusion_params(q)).all()


def provider_kinds(q: ExclusionQuery, *, postgres: bool) -> Select[Any]:
    """Each provider of :func:`exclusion_kinds`' population with their KIND_COLUMNS (parameters:
    exclusion_params).

    The population is the state's documents for the "any" key. On PostgreSQL it is joined with the state's
    valid licences and privileges (hash joins), each provider's rows folded by GROUP BY; on SQLite each provider
    probes them by index (its joins would scan). Plan and self-pay membership are a key probe per provider,
    certificates an uncorrelated IN list (built once). Arizona's ~4,200 providers: ~35 ms on either engine (a probe per provider and part on
    PostgreSQL cost ~45 ms, with JIT ~85 ms)."""
    doc = MatchDocument
    on_date = bindparam("on_date", type_=Date)
    state = bindparam("state", type_=String)
    offers = doc.offers_therapy if q.service == "therapy" else doc.offers_medication_management
    opening = getattr(doc, q.opening_day)
    population = (
        select(
            doc.provider_id,
            func.upper(doc.credential).label("credential"),
            offers.label("offers"),
            doc.accepting_new_patients,
            doc.active_patients,
            doc.capacity,
            doc.conditions,
            doc.openings_checked,
            opening.label("opening"),
        )
        .where(
            doc.state == state,
            doc.network == bindparam("any_network", type_=Uuid),
            or_(doc.expires.is_(None), doc.expires >= on_date),
        )
        .distinct()
        .subquery("population")
    )
    p = population.c
    credential = p.credential

    def type_ok(licence_type: Any) -> ColumnElement[bool]:
        groups = [
            and_(credential.in_(creds), func.upper(licence_type).in_(types)) for creds, types in q.type_groups
        ]
        return or_(*groups) if groups else false()

    def valid(table: Any) -> list[ColumnElement[bool]]:
        return [
            table.status == "active",
            or_(table.issued.is_(None), table.issued <= on_date),
            table.expires >= on_date,
        ]

    lic, priv, home = aliased(License), aliased(CompactPrivilege), aliased(License)
    # A licence in the state valid on the date for the provider's credential; a privilege there under a compact
    # granting practice to it, held with a valid licence in a member state (rules.practice_compacts).
    licence_ok = and_(lic.state == state, *valid(lic), type_ok(lic.license_type))
    homes_ok = [
        exists()
        .where(
            home.provider_id == priv.provider_id,
            # SQLite: ``state || ''`` keeps it off the (state, provider) index, which it would probe once per
            # member state; the provider's few licences are read by the provider index instead.
            (home.state if postgres else home.state.op("||")("")).in_(homes),
            *valid(home),
            type_ok(home.license_type),
        )
        .correlate(population, priv)
        for _code, _covered, homes in q.compacts
    ]
    grants = [
        and_(
            credential.in_(covered),  # first: no privilege read for credentials the compact does not cover
            func.upper(priv.compact) == bindparam(f"compact_{n}", code, type_=String),
            home_ok,
        )
        for n, ((code, covered, _homes), home_ok) in enumerate(zip(q.compacts, homes_ok, strict=True))
    ]
    privilege_ok = and_(priv.state == state, *valid(priv), or_(*grants) if grants else false())
    if postgres:
        # A hash join of the population with the state's licences and privileges, each provider's rows
        # folded by GROUP BY (a probe per provider and part cost ~45 ms for Arizona on PostgreSQL, this ~15).
        source = population.outerjoin(lic, and_(lic.provider_id == p.provider_id, licence_ok))
        source = source.outerjoin(priv, and_(priv.provider_id == p.provider_id, privilege_ok))
        licence_flag: ColumnElement[int] = func.max(case((lic.id.is_not(None), 1), else_=0))
        privilege_flag: ColumnElement[int] = func.max(case((priv.id.is_not(None), 1), else_=0))
        grouping: list[Any] = list(population.c)
    else:
        # SQLite: a probe per provider by index (its joins would scan), the fastest form there (~25 ms).
        source = population
        licence_flag = case((exists().where(lic.provider_id == p.provider_id, licence_ok), 1), else_=0)
        privilege_flag = case(
            (exists().where(priv.provider_id == p.provider_id, privilege_ok).correlate(population), 1),
            else_=0,
        )
        grouping = []

    # Plan and self-pay membership from the directory, a key probe per provider: a provider who cannot take a new
    # patient has no document under those keys (documents.is_open), yet counts as in network or not.
    in_plan = (
        exists()
        .where(
            ProviderNetwork.provider_id == p.provider_id,
            ProviderNetwork.plan_id == bindparam("plan_id", type_=Uuid),
        )
        .correlate(population)
    )
    takes_self_pay = (
        exists().where(Provider.id == p.provider_id, Provider.self_pay.is_(True)).correlate(population)
    )

    rxp = PrescriptiveCertification
    certified = p.provider_id.in_(
        select(rxp.provider_id).where(rxp.state == state, or_(rxp.expires.is_(None), rxp.expires >= on_date))
    )
    treated: ColumnElement[int] = literal(0, Integer)
    for n in range(len(q.conditions)):
        treated = treated + case((_has_tag(p.conditions, f"condition_{n}", postgres=postgres), 1), else_=0)

    def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return case((condition, 1), else_=0)

    return (
        select(
            p.provider_id,
            licence_flag.label("license"),
            privilege_flag.label("privilege"),
            flag(p.offers.is_(True)).label("offers"),
            flag(credential.in_(q.outright) if q.outright else false()).label("outright"),
            flag(credential.in_(q.certifiable) if q.certifiable else false()).label("certifiable"),
            flag(certified if q.certifiable else false()).label("certified"),
            flag(in_plan if q.plan_id is not None else false()).label("in_plan"),
            flag(takes_self_pay if q.self_pay else false()).label("self_pay"),
            flag(p.accepting_new_patients.is_(True)).label("accepting_new_patients"),
            flag(p.active_patients < p.capacity).label("under_capacity"),
            treated.label("conditions_treated"),
            flag(and_(p.openings_checked.is_(True), p.opening.is_(None))).label("no_free_time"),
        )
        .select_from(source)
        .group_by(*grouping)
    )


def exclusion_params(q: ExclusionQuery) -> dict[str, Any]:
    return {
        "state": q.state,
        "on_date": q.on_date,
        "any_network": ANY_NETWORK,
        "plan_id": q.plan_id,
        **{f"condition_{n}": tag_pattern(c) for n, c in enumerate(q.conditions)},
    }


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


# Collaborators looked up per match, at most: the clinicians sharing the most current patients with the patient's
# clinicians (a therapist with a full caseload works with a few dozen prescribers at most). Each is examined as a
# candidate besides SQL's (its free time computed when it passes the other filters), so the cap bounds a match's
# cost; a collaborator past it gets no continuity bonus.
COLLABORATOR_LIMIT = 50


def care_team_continuity(
    session: Session, patient_id: uuid.UUID
) -> tuple[frozenset[uuid.UUID], dict[uuid.UUID, frozenset[uuid.UUID]]]:
    """(the patient's current clinicians with an active directory profile, {another active clinician: the
    patient's clinicians they currently share a patient with}), for matching's continuity preference
    (directory.rules ``_continuity_part``). Current memberships only (``end_date`` NULL); collaborators ranked by
    patients shared, at most COLLABORATOR_LIMIT. Index ranges per clinician (ix_care_team_members_provider_current,
    then each shared patient's memberships)."""
    from careweave.careteam.models import CareTeamMember

    team = frozenset(
        session.scalars(
            select(CareTeamMember.provider_id)
            .join(Provider, Provider.id == CareTeamMember.provider_id)
            .where(
                CareTeamMember.patient_id == patient_id,
                CareTeamMember.end_date.is_(None),
                Provider.is_active.is_(True),
            )
            .distinct()
        )
    )
    if not team:
        return team, {}
    mine, theirs = aliased(CareTeamMember), aliased(CareTeamMember)
    shared = func.count(distinct(theirs.patient_id))
    rows = session.execute(
        select(theirs.provider_id, mine.provider_id, shared)
        .join(theirs, theirs.patient_id == mine.patient_id)
        .join(Provider, Provider.id == theirs.provider_id)
        .where(
            mine.provider_id.in_(team),
            mine.end_date.is_(None),
            theirs.end_date.is_(None),
            theirs.provider_id.not_in(team),
            Provider.is_active.is_(True),
        )
        .group_by(theirs.provider_id, mine.provider_id)
        .order_by(shared.desc(), theirs.provider_id, mine.provider_id)
        .limit(COLLABORATOR_LIMIT * len(team))
    ).all()
    found: dict[uuid.UUID, set[uuid.UUID]] = {}
    for other, member, _ in rows:
        if other in found or len(found) < COLLABORATOR_LIMIT:
            found.setdefault(other, set()).add(member)
    return team, {other: frozenset(members) for other, members in found.items()}
