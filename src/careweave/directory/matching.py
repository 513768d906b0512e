"""Matching use cases: who can legally see this patient, ranked and explained (issue #4).

The database narrows the directory to the best few candidates per role: it applies the hard filters SQL
decides exactly, a superset of the licence/compact check, and orders by the preference parts it can compute
(repository.match_candidates, walk_top_candidates). The pure rules (directory.rules) then apply every hard filter exactly to
each candidate, rank them, suggest a pair for "both", and explain empty results. See docs/benchmarks.md for
why (a large state has thousands of candidates) and what it costs.

Availability (issue #4 "has availability in the window"): SQL leaves out providers whose stored earliest free
time (scheduling.earliest, kept current on every change) says they have none, and ranks the rest by it, so its
order is the rules' own. For the candidates the rules are about to rank, and only those, each provider's
earliest free start for the role's first visit (FIRST_VISIT) from the need's date to the end of their booking
horizon is then computed exactly in one batch per page (scheduling.service.openings) and put in
``ProviderFacts.next_available``; the rules refuse a provider with none ("no_availability", no schedule
included) and rank the others by it. The stored time is a lower bound on the exact one, so a candidate whose
stored time was too early only drops in the rules' ranking, and the search reads on until no later candidate
can outrank the last result (``_may_outrank``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from typing import Any

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput
from careweave.directory import documents, rules
from careweave.directory import repository as repo
from careweave.directory import service as directory
from careweave.intake import service as intake_service
from careweave.patients import service as patients
from careweave.scheduling import earliest
from careweave.scheduling import rules as slot_rules
from careweave.screening import service as screening
from careweave.triage import service as triage

# Conditions to look for in a clinician, from the patient's latest screenings and history.
# This routes; it does not diagnose (cut points: spec §1.1, §1.3, §1.5, §1.6, §1.8).
SCREEN_CONDITIONS = {
    "phq-9": "depression",
    "gad-7": "anxiety",
    "mdq": "bipolar",
    "pcl-5": "ptsd",
    "audit-c": "substance_use",
}
MATCHABLE_PATHWAYS = ("therapy", "psychiatry", "both")
# The visit a new patient books first with each role: its free time decides availability.
FIRST_VISIT: Mapping[str, str] = earliest.FIRST_VISIT


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    need: rules.Need | None
    result: rules.MatchResult | None
    message: str | None  # why there is nothing to match (urgent, no state, …)
    names: dict[str, str]
    plan_name: str | None
    timezone: str | None = None  # the patient's zone, for showing times (None: an explicit need)

    def local_time(self, instant: datetime) -> str:
        """``instant`` as the patient reads it, zone named ("Tue 3 Mar 2026, 9:00 AM EST"); UTC without one."""
        return slot_rules.local_label(instant, self.timezone or "UTC")


def provider_facts(
    session: Session,
    provider: Any,
    on_date: date,
    *,
    plan_id: uuid.UUID | None = None,
    locked: bool = False,
) -> rules.ProviderFacts | None:
    """The legal rules' facts about one clinician on ``on_date`` — licences and compact privileges, credential
    and what they offer, DEA registrations, capacity, and membership of ``plan_id``'s networks — loaded as
    matching loads them, for the other places that decide with directory.rules: booking (eligibility at that
    instant), referrals (may the receiver treat the patient there) and prescribing (authority).
    ``provider``: its directory row; ``locked``: the caller read that row locked in this transaction, so it
    is current and not read again. None when the clinician is not in the directory."""
    scope = repo.FactScope(plan_id=plan_id, conditions=(), language=None)
    facts = _facts(session, [provider.id], on_date, scope, providers=[provider] if locked else None)
    return facts[0] if facts else None


def _facts(
    session: Session,
    ids: list[uuid.UUID],
    on_date: date,
    scope: repo.FactScope | None = None,
    continuity: _Continuity | None = None,
    *,
    providers: Sequence[Any] | None = None,
    stored: dict[str, Any] | None = None,
) -> list[rules.ProviderFacts]:
    """The rules' facts about ``ids`` (with a ``scope``, only the tags of one need: repo.FactScope; with
    ``continuity``, who already treats the patient or works with their clinicians; with ``providers``, their
    rows as the caller has them: repo.match_fact_rows). ``stored``: filled with each provider's row of stored
    earliest free times (repo.match_fact_rows' ``stored_openings``), by id, for _with_availability."""
    rows = repo.match_fact_rows(
        session, ids, on_date, scope, providers=providers, stored_openings=stored is not None
    )
    out = []
    for p in rows["providers"]:
        if stored is not None:
            stored[str(p.id)] = p
        out.append(
            rules.ProviderFacts(
                id=str(p.id),
                name=p.name,
                credential=p.credential,
                offers=rules.offers_from(
                    therapy=p.offers_therapy, medication_management=p.offers_medication_management
                ),
                conditions=frozenset(rows["conditions"][p.id]),
                modalities=frozenset(p.modalities or ()),
                languages=frozenset(rows["languages"][p.id]),
                gender=p.gender,
                accepting_new_patients=p.accepting_new_patients,
                capacity=p.capacity,
                active_patients=p.active_patients,
                licenses=tuple(rules.LicenseFact(*x) for x in rows["licenses"][p.id]),
                compact_privileges=tuple(
                    rules.CompactPrivilege(*x) for x in rows["compact_privileges"][p.id]
                ),
                dea_registrations=tuple(
                    rules.DeaRegistration(state, frozenset(schedules), expires)
                    for state, schedules, expires in rows["dea_registrations"][p.id]
                ),
                networks=frozenset(str(n) for n in rows["networks"][p.id]),
                self_pay=p.self_pay,
                prescriptive_certifications=frozenset(rows["prescriptive_certifications"][p.id]),
            )
        )
    return [continuity.apply(f) for f in out] if continuity else out


@dataclass(frozen=True, slots=True)
class _Continuity:
    """The patient's current clinicians (``team``) and the clinicians who share other patients with them
    (``collaborators``: id -> which of the team), as the rules' continuity preference reads them
    (ProviderFacts.care_team_patient_ids and .collaborators against Need.other_clinician_ids). SQL's candidate
    order does not know this preference, so these providers are always examined besides SQL's candidates: a
    clinician the patient already sees is found even when their caseload is closed to new patients (their
    documents then hold the "any" key only) and ranks with "Already part of your care team"."""

    patient_id: str
    team: frozenset[str]
    collaborators: Mapping[str, frozenset[str]]

    @property
    def extra(self) -> list[str]:
        return sorted(self.team) + sorted(self.collaborators)

    def apply(self, fact: rules.ProviderFacts) -> rules.ProviderFacts:
        if fact.id in self.team:  # the patient's clinicians work together on this patient
            return replace(
                fact,
                care_team_patient_ids=fact.care_team_patient_ids | {self.patient_id},
                collaborators=fact.collaborators | (self.team - {fact.id}),
            )
        if fact.id in self.collaborators:
            return replace(fact, collaborators=fact.collaborators | self.collaborators[fact.id])
        return fact


def _continuity(session: Session, need: rules.Need) -> tuple[rules.Need, _Continuity | None]:
    """``need`` with the patient's current clinicians as ``other_clinician_ids``, and what continuity the
    candidates' facts need (None: no patient, or no clinician yet)."""
    try:
        patient_id = uuid.UUID(need.patient_id) if need.patient_id is not None else None
    except ValueError:  # not one of ours: no care team to know about
        patient_id = None
    if patient_id is None:
        return need, None
    team, collaborators = repo.care_team_continuity(session, patient_id)
    if not team:
        return need, None
    ids = frozenset(str(t) for t in team)
    continuity = _Continuity(
        need.patient_id,
        ids,
        MappingProxyType({str(k): frozenset(str(m) for m in v) for k, v in collaborators.items()}),
    )
    return replace(need, other_clinician_ids=need.other_clinician_ids | ids), continuity


# Results per role, best first (screens show the first ten). Loading and ranking only these keeps a match
# fast at directory scale; see docs/benchmarks.md.
MATCH_LIMIT = 20


def run_match(
    session: Session,
    need: rules.Need,
    *,
    plan_name: str | None,
    limit: int | None = MATCH_LIMIT,
    now: datetime | None = None,
) -> rules.MatchResult:
    """The best ``limit`` providers per role for ``need`` (all of them when ``limit`` is None), ranked by the
    pure rules, with a pair for "both" and an explanation for each empty role.

    SQL applies the hard filters it can decide exactly and orders by the preference parts it can compute
    (repository.match_candidates, walk_top_candidates), so only about ``limit`` providers per role are loaded; the pure rules
    then decide and rank every one of them, and more are fetched if the rules refuse some. ``excluded_summary``
    counts, for a role with no result, how many providers each filter removed over the whole directory (the
    rules over every provider with authority in the state, as its explanation needs; "no_availability" over the
    candidates whose free time was looked up); for a role with results it is empty ({}), since counting would
    cost as much as matching the whole state.

    Availability is looked up as of ``now`` (the minimum notice counts from it); callers with a clock pass
    ``clock.now()``. Without it, the start of the need's date (UTC) stands for now.
    """
    now = now if now is not None else datetime.combine(need.on_date, time(0), tzinfo=UTC)
    need, continuity = _continuity(session, need)
    if limit is None or need.modalities:  # modality fit is not computed in SQL: rank everyone
        return _match_everyone(session, need, plan_name=plan_name, now=now, continuity=continuity)
    rs = rules.default_rules()
    repo.plan_each_match(session)
    facts: dict[str, rules.ProviderFacts] = {}
    stored: dict[str, Any] = {}  # provider rows with their stored earliest free times (_facts)
    checked: dict[str, dict[str, rules.ProviderFacts]] = {"therapist": {}, "prescriber": {}}
    lists: dict[str, tuple[rules.Ranked, ...]] = {"therapist": (), "prescriber": ()}
    summary: dict[str, Mapping[str, int]] = {}
    explanations: dict[str, rules.Explanation] = {}
    roles = rules.roles_for_pathway(need.pathway)
    queries = {role: _candidate_query(need, role, rs) for role in roles}
    page = limit + max(5, limit // 4)  # a little slack for the few the rules refuse
    # The walk's edges are the same for both roles (repo.walk_top_candidates): read once.
    edges_seen: dict[Any, list[Any]] = {}
    first = {role: _first_page(session, queries[role], page, edges_seen) for role in roles}
    extra = [uuid.UUID(i) for i in continuity.extra] if continuity else []
    _load(session, [c.id for cs, _ in first.values() for c in cs] + extra, need, facts, continuity, stored)
    prefetched = _prefetch(session, need, first, facts, stored, rs, now) if len(roles) == 2 else None
    for role in roles:
        search = _Search(
            session,
            need,
            role,
            queries[role],
            page,
            rs,
            now,
            facts,
            checked[role],
            stored,
            continuity,
            prefetched,
        )
        lists[role] = tuple(_top(search, *first[role], limit))
        summary[role] = MappingProxyType({})
        if not lists[role]:
            # Every SQL candidate was examined (the last page was short): those refused only for want of free
            # time are among them.
            counts = _directory_counts(session, need, role, rs)
            unavailable = rules.exclusion_counts(checked[role].values(), need, role, rules=rs)
            if unavailable.get("no_availability"):
                counts["no_availability"] = counts.get("no_availability", 0) + unavailable["no_availability"]
            summary[role] = MappingProxyType({c: counts[c] for c in rules.EXCLUSION_CODES if counts.get(c)})
            explanations[role] = rules.explain_empty(need, summary[role], role, plan_name=plan_name, rules=rs)
    pair = None
    if need.pathway == "both":
        pair = rules.suggest_pair(lists["therapist"], lists["prescriber"], facts)
    return rules.MatchResult(
        need.pathway,
        lists["therapist"],
        lists["prescriber"],
        pair,
        MappingProxyType(summary),
        MappingProxyType(explanations),
    )


def _candidate_query(need: rules.Need, role: rules.Role, rs: rules.RuleSet) -> repo.CandidateQuery:
    capability: rules.Capability = "psychotherapy" if role == "therapist" else "prescribe"
    credentials = tuple(
        sorted(
            spec.code
            for spec in rs.data.credentials.values()
            if rules.capability_in_state(spec.code, capability, need.state, rules=rs) is True
        )
    )
    weights = rules.DEFAULT_WEIGHTS
    return repo.CandidateQuery(
        state=need.state,
        on_date=need.on_date,
        service="therapy" if role == "therapist" else "medication_management",
        credentials=credentials,
        compact_ok=role == "therapist",  # prescribing needs a full licence in the state
        plan_id=_plan_uuid(need.plan_id),
        self_pay=need.self_pay,
        conditions=tuple(sorted({c.casefold() for c in need.conditions})),
        all_conditions=rs.config.condition_match == "all",
        language=need.language.casefold() if need.language else None,
        gender=need.gender.casefold() if need.gender else None,
        weights=(weights.condition_fit, weights.language, weights.gender),
        opening_day=earliest.COLUMNS[FIRST_VISIT[role]][1],
        on_day=earliest.day_number(need.on_date),
        on_weekday=need.on_date.weekday(),
        availability=(weights.earliest_availability, weights.availability_half_life_days),
    )


def _plan_uuid(plan_id: str | None) -> uuid.UUID | None:
    """The need's plan as stored; a plan id that is not a UUID matches no stored plan (nor a network key of the
    match documents: documents.NO_PLAN)."""
    if plan_id is None:
        return None
    try:
        return uuid.UUID(plan_id)
    except ValueError:
        return documents.NO_PLAN


def _candidate_ids(
    session: Session, query: repo.CandidateQuery, page: int, offset: int
) -> list[repo.Candidate]:
    if not query.credentials:
        return []
    return repo.match_candidates(session, query, limit=page, offset=offset)


# Pages SQL ranks at once when it has to rank a state: ranking costs the scan of the state's documents, about
# the same for a few more rows, and a search that needs a second page often needs a third.
PREFETCH = 4


@dataclass(slots=True)
class _Pages:
    """SQL's candidates for a role, served a page at a time from rows fetched ahead (``rows``, up to row
    ``fetched`` of SQL's order; ``done`` when SQL has no more)."""

    rows: list[repo.Candidate]
    fetched: int
    done: bool

    def take(self, session: Session, query: repo.CandidateQuery, page: int) -> list[repo.Candidate]:
        if len(self.rows) < page and not self.done:
            more = _candidate_ids(session, query, page * PREFETCH, self.fetched)
            self.rows += more
            self.fetched += len(more)
            self.done = len(more) < page * PREFETCH
        out, self.rows = self.rows[:page], self.rows[page:]
        return out


def _first_page(
    session: Session, query: repo.CandidateQuery, page: int, edges_seen: dict[Any, list[Any]] | None = None
) -> tuple[list[repo.Candidate], _Pages]:
    """SQL's first ``page`` candidates, and the rest to come: by a walk in name order when they all have the
    best score (repository.walk_top_candidates: a large state is not ranked whole), else by ranking the state
    (PREFETCH pages at once)."""
    if not query.credentials:
        return [], _Pages([], 0, True)
    walked = repo.walk_top_candidates(session, query, limit=page, edges_seen=edges_seen)
    if walked is not None:
        return walked, _Pages([], page, False)  # as ranking's first page: the next starts at row ``page``
    pages = _Pages([], 0, False)
    return pages.take(session, query, page), pages


def _scope(need: rules.Need) -> repo.FactScope:
    """The tags ``need`` reads (repo.FactScope), folded as the candidate query folds them."""
    return repo.FactScope(
        plan_id=_plan_uuid(need.plan_id),
        conditions=tuple(sorted({c.casefold() for c in need.conditions})),
        language=need.language.casefold() if need.language else None,
    )


def _load(
    session: Session,
    ids: list[uuid.UUID],
    need: rules.Need,
    facts: dict[str, rules.ProviderFacts],
    continuity: _Continuity | None,
    stored: dict[str, Any],
) -> None:
    missing = list(dict.fromkeys(i for i in ids if str(i) not in facts))
    facts.update(
        (f.id, f) for f in _facts(session, missing, need.on_date, _scope(need), continuity, stored=stored)
    )


@dataclass(frozen=True, slots=True)
class _Search:
    """One role's candidate search: ``facts`` is shared by the roles (without availability), ``checked`` holds
    this role's facts with its availability looked up, ``stored`` the provider rows with their stored earliest
    free times (shared, as ``facts``)."""

    session: Session
    need: rules.Need
    role: rules.Role
    query: repo.CandidateQuery
    page: int
    rs: rules.RuleSet
    now: datetime
    facts: dict[str, rules.ProviderFacts]
    checked: dict[str, rules.ProviderFacts]
    stored: dict[str, Any]
    continuity: _Continuity | None = None
    prefetched: _Prefetched | None = None  # both roles' slot-arithmetic inputs, read at once (_prefetch)


# Candidates per role whose free time may be looked up only because earlier availability could still lift
# them into the results (beyond those needed to fill the results at all): bounds a match's cost when a large
# state has thousands of providers tied on every other preference. See docs/directory.md.
AVAILABILITY_SCAN = 100


def _top(search: _Search, candidates: list[repo.Candidate], pages: _Pages, limit: int) -> list[rules.Ranked]:
    """The rules' first ``limit`` for the role, from SQL's candidates (the first page), fetching further pages
    while the rules refuse too many of them (providers with no free time included), and while a later
    candidate could still outrank the last result (SQL ranks by the stored earliest free time, a lower bound
    on the exact one), up to AVAILABILITY_SCAN more candidates. The continuity candidates (_Continuity) are
    examined with the first page, wherever SQL would have put them."""
    s = search
    seen: list[str] = []
    filled_at: int | None = None  # candidates seen when the results first filled up
    ids = [c.id for c in candidates]
    extra = [i for i in s.continuity.extra if i in s.facts] if s.continuity else []  # (active providers only)
    on_day = earliest.day_number(s.need.on_date)
    while True:
        # Pages may overlap by a provider (two licences in the state, or a walked first page): once each.
        known = set(seen)
        page_ids = list(dict.fromkeys(i for i in [*(str(i) for i in ids), *extra] if i not in known))
        extra = []
        # A stored time before the need's day says nothing exact about it: not asked (a later date's need).
        stored = {str(c.id) for c in candidates if c.stored_day is not None and c.stored_day >= on_day}
        s.checked.update(
            _with_availability(
                s.session,
                [s.facts[i] for i in page_ids],
                s.need,
                s.role,
                s.rs,
                s.now,
                maybe_fresh=stored,
                stored=s.stored,
                prefetched=s.prefetched,
            )
        )
        seen += page_ids
        ranked = rules.rank([s.checked[i] for i in seen], s.need, s.role, rules=s.rs)
        if len(ids) < s.page:
            return ranked[:limit]
        if len(ranked) >= limit:
            filled_at = len(seen) if filled_at is None else filled_at
            last = candidates[-1]
            if len(seen) - filled_at >= AVAILABILITY_SCAN or not _may_outrank(
                s.facts[str(last.id)], last.opening_day, ranked[limit - 1], s.need
            ):
                return ranked[:limit]
        candidates = pages.take(s.session, s.query, s.page)
        ids = [c.id for c in candidates]
        _load(s.session, ids, s.need, s.facts, s.continuity, s.stored)


def _may_outrank(
    last: rules.ProviderFacts, opening_day: int | None, worst: rules.Ranked, need: rules.Need
) -> bool:
    """Whether a candidate after ``last`` in SQL's order could rank above ``worst`` (the last result): SQL's
    order is the rules' score with availability from the stored earliest free day (``opening_day``; None:
    never checked, counted as the need's date), a lower bound on the exact day, then the rules' tie-break,
    so no later candidate beats ``last`` as SQL scored it."""
    day = need.on_date
    if opening_day is not None:
        day = max(day, earliest.from_day_number(opening_day))
    best = replace(last, next_available=datetime.combine(day, time(0), tzinfo=UTC))
    bound = rules.score(best, need, rules.DEFAULT_WEIGHTS).total
    return (-bound, last.name.casefold(), last.name, last.id) < (
        -worst.score.total,
        worst.name.casefold(),
        worst.name,
        worst.provider_id,
    )


def _lookups(
    session: Session,
    facts: Iterable[rules.ProviderFacts],
    need: rules.Need,
    role: rules.Role,
    rs: rules.RuleSet,
    now: datetime,
    trust_stored: bool,
    maybe_fresh: set[str] | None,
    stored: Mapping[str, Any] | None,
) -> tuple[dict[uuid.UUID, datetime], list[uuid.UUID]]:
    """For the providers of ``facts`` passing every other hard filter: (the stored times exact for the need,
    the ids that need the slot arithmetic). See _with_availability."""
    wanted = [uuid.UUID(f.id) for f in facts if not rules.exclusions(f, need, role, rules=rs)]
    if not wanted:
        return {}, []
    # Stored times still exact need no slot arithmetic (scheduling.earliest.fresh_openings); the rest do.
    asked = wanted if maybe_fresh is None else [pid for pid in wanted if str(pid) in maybe_fresh]
    visit = FIRST_VISIT[role]
    fresh: dict[uuid.UUID, datetime] = {}
    if trust_stored and asked and stored is not None:  # the rows _facts read hold every candidate's times
        exact = (
            (p, earliest.exact_from_row(stored[str(p)], visit, now=now, on_date=need.on_date)) for p in asked
        )
        fresh = {pid: at for pid, at in exact if at is not None}
    elif trust_stored and asked:
        fresh = earliest.fresh_openings(session, asked, visit, now=now, on_date=need.on_date)
    return fresh, [pid for pid in wanted if pid not in fresh]


@dataclass(frozen=True, slots=True)
class _Prefetched:
    """The slot arithmetic's inputs (scheduling.service.opening_inputs) read once for both roles' first pages."""

    ids: frozenset[uuid.UUID]
    inputs: Any  # scheduling.repository.OpeningInputs

    def covers(self, ids: Iterable[uuid.UUID]) -> bool:
        return self.ids.issuperset(ids)


def _prefetch(
    session: Session,
    need: rules.Need,
    first: Mapping[rules.Role, tuple[list[repo.Candidate], Any]],
    facts: Mapping[str, rules.ProviderFacts],
    stored: Mapping[str, Any],
    rs: rules.RuleSet,
    now: datetime,
) -> _Prefetched | None:
    """For a "both" need whose two first pages both need the slot arithmetic (mostly a later date's need): its
    inputs for both pages in one round trip instead of one per role (docs/benchmarks.md, session 11). None when
    at most one role needs it."""
    from careweave.scheduling import service as scheduling  # it imports this module

    on_day = earliest.day_number(need.on_date)
    rests = []
    for role, (candidates, _pages) in first.items():
        # As _top asks: a stored time before the need's day says nothing exact about it.
        maybe_fresh = {str(c.id) for c in candidates if c.stored_day is not None and c.stored_day >= on_day}
        if len(maybe_fresh) == len({c.id for c in candidates}):
            # Every stored time may be exact (a need from today, mostly): _top's own lookup is cheap and rarely
            # reads anything, so the filters are not run here a first time for nothing.
            return None
        page = [facts[str(c.id)] for c in candidates if str(c.id) in facts]
        rests.append(_lookups(session, page, need, role, rs, now, True, maybe_fresh, stored)[1])
    if len(rests) < 2 or not all(rests):
        return None
    ids = list(dict.fromkeys(pid for rest in rests for pid in rest))
    codes = {FIRST_VISIT[role] for role in first}
    inputs = scheduling.opening_inputs(session, ids, codes, now=now, from_day=need.on_date)
    return _Prefetched(frozenset(ids), inputs)


def _with_availability(
    session: Session,
    facts: Iterable[rules.ProviderFacts],
    need: rules.Need,
    role: rules.Role,
    rs: rules.RuleSet,
    now: datetime,
    *,
    trust_stored: bool = True,
    maybe_fresh: set[str] | None = None,
    stored: Mapping[str, Any] | None = None,
    prefetched: _Prefetched | None = None,
) -> dict[str, rules.ProviderFacts]:
    """``facts`` by id, with ``next_available`` for the role's first visit and ``schedule_published`` filled
    in for those passing every other hard filter (the rest refused anyway: not looked up). One batch of
    queries for all of them (scheduling.service.openings). ``maybe_fresh``: the only ids whose stored time may
    be exact for the need (None: any). ``stored``: provider rows with their stored times (_facts), read instead
    of querying them again. ``prefetched``: the slot arithmetic's inputs read ahead for both roles (_prefetch)."""
    from careweave.scheduling import service as scheduling  # it imports this module

    out = {f.id: f for f in facts}
    fresh, rest = _lookups(session, out.values(), need, role, rs, now, trust_stored, maybe_fresh, stored)
    found = {pid: scheduling.Opening(True, start) for pid, start in fresh.items()}
    if rest:
        found |= scheduling.openings(
            session,
            rest,
            visit_type_for=dict.fromkeys(rest, FIRST_VISIT[role]),
            now=now,
            from_day=need.on_date,
            inputs=prefetched.inputs if prefetched and prefetched.covers(rest) else None,
        )
    for pid, opening in found.items():
        key = str(pid)
        out[key] = replace(out[key], next_available=opening.start, schedule_published=opening.published)
    return out


def _directory_counts(
    session: Session, need: rules.Need, role: rules.Role, rs: rules.RuleSet
) -> dict[str, int]:
    """How many providers each hard filter removed for ``role`` (for an empty result's explanation): the rules
    over every provider with a licence or privilege in the state, plus everyone without one. Availability as
    stored (scheduling.earliest): those it says have no free time count as "no_availability"; the candidates
    whose exact free time refused them are counted by the caller.

    SQL decides each part the filters read (rules.FilterFacts) from the rule data for the state and date, and
    counts the state's providers by kind (repository.exclusion_kinds); the rules' filter_exclusions then
    gives each kind's codes. A large state has thousands of providers and a few dozen kinds.
    """
    on_date = need.on_date
    known_credentials = [spec.code for spec in rs.data.credentials.values()]
    outright, certifiable = rules.role_credentials(role, need.state, on_date, rules=rs)
    query = repo.ExclusionQuery(
        state=need.state,
        on_date=on_date,
        service="therapy" if role == "therapist" else "medication_management",
        outright=outright,
        certifiable=certifiable,
        type_groups=rules.license_type_groups(known_credentials, rules=rs),
        compacts=rules.practice_compacts(known_credentials, need.state, on_date, rules=rs),
        plan_id=_plan_uuid(need.plan_id),
        self_pay=need.self_pay,
        conditions=tuple(sorted({c.casefold() for c in need.conditions})),
        opening_day=earliest.COLUMNS[FIRST_VISIT[role]][1],
    )
    counts: Counter[str] = Counter()
    population = 0
    for row in repo.exclusion_kinds(session, query):
        flags = {name: bool(getattr(row, name)) for name in repo.KIND_COLUMNS}
        facts = rules.FilterFacts(**(flags | {"conditions_treated": row.conditions_treated}))
        population += row.providers
        for code in rules.filter_exclusions(facts, need, role, rules=rs):
            counts[code] += row.providers
    outside = repo.count_active_providers(session) - population
    if outside:
        counts["no_authority_in_state"] += outside
    return {code: counts[code] for code in rules.EXCLUSION_CODES if counts.get(code)}


def _match_everyone(
    session: Session,
    need: rules.Need,
    *,
    plan_name: str | None,
    now: datetime,
    continuity: _Continuity | None = None,
) -> rules.MatchResult:
    """The rules over every provider with authority in the state (availability looked up for each one passing
    the other filters: this path costs as much as the state is large)."""
    ids = repo.candidate_ids_in_state(session, need.state, need.on_date)
    facts = _facts(session, ids, need.on_date, _scope(need), continuity)
    # Providers the SQL pre-filter left out have no authority in the state: count them so an
    # empty result can say so.
    outside = repo.count_active_providers(session) - len(ids)
    return rank_everyone(session, need, facts, plan_name=plan_name, now=now, outside=outside)


def rank_everyone(
    session: Session,
    need: rules.Need,
    facts: list[rules.ProviderFacts],
    *,
    plan_name: str | None,
    now: datetime,
    outside: int = 0,
    trust_stored: bool = True,
) -> rules.MatchResult:
    """The rules' whole answer over ``facts`` (every provider to consider), each one passing the other hard
    filters with its availability looked up; ``outside``: providers not in ``facts``, counted as having no
    authority in the state."""
    rs = rules.default_rules()
    lists: dict[str, tuple[rules.Ranked, ...]] = {"therapist": (), "prescriber": ()}
    summary: dict[str, Mapping[str, int]] = {}
    explanations: dict[str, rules.Explanation] = {}
    for role in rules.roles_for_pathway(need.pathway):
        checked = list(
            _with_availability(session, facts, need, role, rs, now, trust_stored=trust_stored).values()
        )
        lists[role] = tuple(rules.rank(checked, need, role, rules=rs))
        counts = rules.exclusion_counts(checked, need, role, rules=rs)
        if outside:
            counts["no_authority_in_state"] = counts.get("no_authority_in_state", 0) + outside
        summary[role] = MappingProxyType({c: counts[c] for c in rules.EXCLUSION_CODES if counts.get(c)})
        if not lists[role]:
            explanations[role] = rules.explain_empty(need, summary[role], role, plan_name=plan_name, rules=rs)
    pair = None
    if need.pathway == "both":
        pair = rules.suggest_pair(lists["therapist"], lists["prescriber"], {f.id: f for f in facts})
    return rules.MatchResult(
        need.pathway,
        lists["therapist"],
        lists["prescriber"],
        pair,
        MappingProxyType(summary),
        MappingProxyType(explanations),
    )


def need_for_patient(
    session: Session, patient_id: uuid.UUID, *, on_date: date, pathway: str
) -> tuple[rules.Need | None, str | None, str | None]:
    """(need, plan name, reason there is none) from intake, screenings and coverage."""
    patient, _ = patients.get_patient_ref(session, patient_id)
    if not patient.state:
        return None, None, "Tell us which US state you will be in during visits (intake) to see clinicians."
    intake = intake_service.intake_for_rules(session, patient.id)
    latest = {r.instrument: r for r in screening.responses_for_rules(session, patient.id)}
    conditions = {
        cond for code, cond in SCREEN_CONDITIONS.items() if code in latest and latest[code].positive
    }
    if intake and (intake.history or {}).get("bipolar"):
        conditions.add("bipolar")
    coverage = directory.coverage_for_rules(session, patient.id)
    plan_id = str(coverage.plan_id) if coverage and coverage.plan_id else None
    self_pay = bool(coverage and coverage.self_pay) or bool(
        coverage is None and intake and intake.coverage_type == "self_pay"
    )
    plan_name = None
    if coverage and coverage.plan_id:
        plan = repo.plan(session, coverage.plan_id)
        plan_name = f"{plan.payer} {plan.name}" if plan else None
    gender = intake.provider_gender_preference if intake else None
    need = rules.Need(
        pathway=pathway,  # type: ignore[arg-type]
        state=patient.state,
        on_date=on_date,
        plan_id=plan_id,
        self_pay=self_pay,
        conditions=frozenset(conditions),
        language=(intake.provider_language or intake.language) if intake else None,
        gender=None if gender in (None, "any") else gender,
        patient_id=str(patient.id),
    )
    return need, plan_name, None


def match_for_patient(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock, on_date: date | None = None
) -> MatchOutcome:
    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.MATCH, ref)
    pathway = triage.care_pathway(session, actor, patient.id, clock=clock)
    day = on_date or clock.now().date()
    audit.record(
        session,
        actor,
        "match.run",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        details={"pathway": pathway.pathway},
    )
    if pathway.pathway not in MATCHABLE_PATHWAYS:
        why = (
            "A clinician will contact you first; online matching is paused."
            if pathway.pathway == "urgent"
            else "Your answers don't suggest treatment right now, so there is nothing to match yet."
        )
        return MatchOutcome(None, None, why, {}, None)
    need, plan_name, why = need_for_patient(session, patient.id, on_date=day, pathway=pathway.pathway)
    if need is None:
        return MatchOutcome(None, None, why, {}, None)
    result = run_match(session, need, plan_name=plan_name, now=clock.now())
    return MatchOutcome(need, result, None, {}, plan_name, patient.timezone)


def match_need(
    session: Session,
    actor: Actor,
    *,
    pathway: str,
    state: str,
    on_date: date,
    plan_id: uuid.UUID | None,
    self_pay: bool,
    conditions: list[str],
    language: str | None,
    gender: str | None,
    clock: Clock,
) -> MatchOutcome:
    """An explicit need (integrators, a clinician exploring options): no patient data involved."""
    policy.require(actor, policy.Action.DIRECTORY_READ)
    plan_name = None
    if plan_id is not None:
        plan = repo.plan(session, plan_id)
        if plan is None:
            raise InvalidInput("No such plan.", fields=[FieldError("need.plan_id", "no such plan")])
        plan_name = f"{plan.payer} {plan.name}"
    try:
        need = rules.Need(
            pathway=pathway,
            state=state,
            on_date=on_date,  # type: ignore[arg-type]
            plan_id=str(plan_id) if plan_id else None,
            self_pay=self_pay,
            conditions=frozenset(conditions),
            language=language,
            gender=gender,
        )
    except ValueError as exc:
        raise InvalidInput("The need is not valid.", fields=[FieldError("need", str(exc))]) from exc
    return MatchOutcome(
        need, run_match(session, need, plan_name=plan_name, now=clock.now()), None, {}, plan_name
    )
