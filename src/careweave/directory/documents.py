"""Match documents: a denormalised copy of what matching's SQL reads, one row per provider, state and network
(models.MatchDocument; ADR 0013 "Match documents").

Why: ranking a large state through the normalised tables probes the provider, the plan's network, each
condition and the language for every one of the state's 10,000-18,000 licences (docs/benchmarks.md). A
document holds all of it in one row, keyed (state, network, rank key), so a need's candidates are one index
range read in the rules' name order with nothing else to visit.

Which keys: every active provider with an active licence or compact privilege in a state has a document there
under ANY_NETWORK; under each plan they are in network with and SELF_PAY_NETWORK only while they can take a new
patient (:func:`is_open`), since matching never shows them otherwise.

Keeping them current: every write that changes an input calls :func:`refresh` for the providers it touched, in
the same transaction (directory.service for profiles, tags, networks, licences and privileges, the CSV import
through it, licensing.expire_licences); scheduling.earliest copies the earliest free times with
:func:`copy_openings`. A document is only ever a superset filter and an upper-bound score: the rules decide every
candidate from the normalised facts (directory.matching), so a stale document can cost time, never a wrong
answer, except by leaving someone out; tests/integration/test_match_documents.py checks each write path against
a rebuild from scratch.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from careweave.directory.models import (
    CompactPrivilege,
    License,
    MatchDocument,
    Provider,
    ProviderCondition,
    ProviderLanguage,
    ProviderNetwork,
    rank_key,
)

# Network keys besides plan ids (random UUIDs, so never these): a self-pay need reads SELF_PAY_NETWORK, a need
# without coverage ANY_NETWORK.
SELF_PAY_NETWORK = uuid.UUID(int=0)
ANY_NETWORK = uuid.UUID(int=1)
NO_PLAN = uuid.UUID(int=2)  # a need's plan id that is not a UUID: no plan and no network key

CHUNK = 500  # providers per statement (bound parameters stay well under every engine's limit)

# The provider's stored earliest-time columns (scheduling.earliest) the documents carry: the days as they are,
# each weekday mask as the day bounds it gives (day_bounds), in the column named with ``_bounds``.
OPENING_COLUMNS = (
    "first_therapy_day",
    "first_therapy_weekdays",
    "first_evaluation_day",
    "first_evaluation_weekdays",
)
# Bit 7 of a stored weekday mask (scheduling.earliest.hours_weekdays): the zone is east of UTC (at the time of the
# refresh or half a year on), so a visit on a local day can fall on the previous UTC day.
EAST_OF_UTC = 1 << 7
BOUND_BITS = 3  # per weekday in day_bounds' packing (bounds are 0-6)


def day_bounds(mask: int | None) -> int | None:
    """A provider's weekday mask as matching's SQL reads it: for each weekday ``w`` of a need's date (Monday = 0),
    a lower bound on the days from that date to the UTC date of their first free time, packed ``BOUND_BITS`` bits
    per weekday (``(bounds >> 3w) & 7``); None for no mask (never checked: no bound).

    The exact search starts at the date's local midnight, so free time is on the first local day with hours
    ``k`` days on or later (bit ``(w + k) % 7`` of the mask): west of UTC (or at it) its UTC date is that day or
    later, ``k``; east of UTC (EAST_OF_UTC) it may be the day before, ``k - 1`` (at least 0). No day with hours:
    0 (no bound). Stored rather than computed in SQL, where it took two 30-branch CASE expressions per row."""
    if mask is None:
        return None
    packed = 0
    for weekday in range(7):
        ahead = next((k for k in range(7) if mask & (1 << ((weekday + k) % 7))), 0)
        if mask & EAST_OF_UTC:
            ahead = max(0, ahead - 1)
        packed |= ahead << (BOUND_BITS * weekday)
    return packed


def opening_values(values: Any) -> dict[str, Any]:
    """The document columns for a provider's stored earliest-time columns (``values[c]`` for OPENING_COLUMNS)."""
    return {
        c.replace("_weekdays", "_bounds"): day_bounds(values[c]) if c.endswith("_weekdays") else values[c]
        for c in OPENING_COLUMNS
    }


DOCUMENT_OPENING_COLUMNS = tuple(c.replace("_weekdays", "_bounds") for c in OPENING_COLUMNS)


def is_open(accepting_new_patients: bool | None, active_patients: int | None, capacity: int | None) -> bool:
    """Whether a provider can take a new patient: accepting and under capacity (the hard filter matching's SQL
    applies as ``accepting_new_patients IS true AND active_patients < capacity``). A provider who cannot has
    documents under ANY_NETWORK only (the key an empty role's explanation counts them from), none under their
    plans or self-pay: a need with coverage, nearly every need, then never reads them (about a third of a large
    state's documents on the benchmark directory)."""
    if not accepting_new_patients or active_patients is None or capacity is None:
        return False
    return active_patients < capacity


def tag_text(tags: Iterable[str]) -> str:
    """Tags between commas (",a,b,"): a need's tag occurs as ",tag," exactly when the provider has it."""
    return "," + ",".join(sorted(tags)) + "," if tags else ","


def _chunks(ids: Iterable[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i : i + CHUNK]


def document_rows(session: Session, provider_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """The documents ``provider_ids`` should have now (an inactive or unknown provider has none)."""
    providers = session.execute(
        select(
            Provider.id,
            Provider.name,
            Provider.credential,
            Provider.offers_therapy,
            Provider.offers_medication_management,
            Provider.accepting_new_patients,
            Provider.active_patients,
            Provider.capacity,
            Provider.gender,
            Provider.self_pay,
            Provider.openings_checked_at,
            *(getattr(Provider, c) for c in OPENING_COLUMNS),
        ).where(Provider.id.in_(provider_ids), Provider.is_active.is_(True))
    ).all()
    if not providers:
        return []
    ids = [p.id for p in providers]
    sources: dict[uuid.UUID, list[tuple[uuid.UUID, str, bool, Any, Any]]] = defaultdict(list)
    for model, compact in ((License, False), (CompactPrivilege, True)):
        for sid, pid, state, issued, expires in session.execute(
            select(model.id, model.provider_id, model.state, model.issued, model.expires).where(
                model.provider_id.in_(ids), model.status == "active"
            )
        ):
            sources[pid].append((sid, state, compact, issued, expires))
    networks: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for pid, plan_id in session.execute(
        select(ProviderNetwork.provider_id, ProviderNetwork.plan_id).where(
            ProviderNetwork.provider_id.in_(ids)
        )
    ):
        networks[pid].append(plan_id)
    tags: dict[str, dict[uuid.UUID, list[str]]] = {}
    for kind, model, column in (
        ("conditions", ProviderCondition, ProviderCondition.condition),
        ("languages", ProviderLanguage, ProviderLanguage.language),
    ):
        grouped: dict[uuid.UUID, list[str]] = defaultdict(list)
        for pid, tag in session.execute(select(model.provider_id, column).where(model.provider_id.in_(ids))):
            grouped[pid].append(tag)
        tags[kind] = grouped
    rows: list[dict[str, Any]] = []
    for p in providers:
        if not sources.get(p.id):
            continue
        keys = [ANY_NETWORK]
        if is_open(p.accepting_new_patients, p.active_patients, p.capacity):
            keys += networks.get(p.id, ())
            if p.self_pay:
                keys.append(SELF_PAY_NETWORK)
        common = {
            "provider_id": p.id,
            "rank_key": rank_key(p.id, p.name),
            "credential": p.credential,
            "offers_therapy": p.offers_therapy,
            "offers_medication_management": p.offers_medication_management,
            "accepting_new_patients": p.accepting_new_patients,
            "active_patients": p.active_patients,
            "capacity": p.capacity,
            "gender": p.gender.casefold() if p.gender else None,
            "conditions": tag_text(tags["conditions"].get(p.id, ())),
            "languages": tag_text(tags["languages"].get(p.id, ())),
            "openings_checked": p.openings_checked_at is not None,
            **opening_values({c: getattr(p, c) for c in OPENING_COLUMNS}),
        }
        for sid, state, compact, issued, expires in sources[p.id]:
            for network in keys:
                rows.append(
                    common
                    | {
                        "state": state,
                        "network": network,
                        "source_id": sid,
                        "compact": compact,
                        "issued": issued,
                        "expires": expires,
                    }
                )
    return rows


def lock(session: Session, provider_ids: Iterable[uuid.UUID]) -> None:
    """Lock providers' rows in id order (PostgreSQL ``FOR NO KEY UPDATE``; SQLite serialises writers anyway): the
    lock every writer of a provider's bookings, openings or documents takes first, before anything else it locks
    (the audit chain's head above all), so two of them never wait for each other in opposite orders."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for chunk in _chunks(provider_ids):
        session.execute(
            select(Provider.id)
            .where(Provider.id.in_(chunk))
            .order_by(Provider.id)
            .with_for_update(key_share=True)
        )


def tag_pattern(tag: str) -> str:
    """What a document's tag text (tag_text) holds exactly when the provider has ``tag``: ",tag,". A tag with a
    comma is no provider's tag (service._tags allows none), so its pattern is one no tag text contains."""
    return f",{tag}," if "," not in tag else "#"  # tag text holds only a-z, 0-9, "-", "_" and commas


def refresh(session: Session, provider_ids: Iterable[uuid.UUID]) -> int:
    """Rebuild the documents of ``provider_ids`` from the directory as it stands in this transaction (flushes
    first); returns how many documents they now have.

    On PostgreSQL the providers' rows are locked first (FOR NO KEY UPDATE, in id order, as
    scheduling.earliest.lock does): a concurrent earliest-time refresh then either commits before we read the
    provider or waits and updates the documents we wrote, never the ones we deleted."""
    session.flush()
    written = 0
    with session.no_autoflush:
        for chunk in _chunks(provider_ids):
            lock(session, chunk)  # the earliest-time refresh then never misses our new rows
            session.execute(delete(MatchDocument).where(MatchDocument.provider_id.in_(chunk)))
            rows = document_rows(session, chunk)
            if rows:
                session.execute(insert(MatchDocument), rows)
            written += len(rows)
    return written


def copy_openings(session: Session, values: Iterable[dict[str, Any]]) -> None:
    """Copy providers' stored earliest free times (``values``: ``id``, ``openings_checked_at`` and the opening
    columns, as scheduling.earliest writes them to the provider) onto their documents."""
    params = [
        {
            "pid": v["id"],
            "checked": v["openings_checked_at"] is not None,
            **{f"v_{c}": value for c, value in opening_values(v).items()},
        }
        for v in values
    ]
    if not params:
        return
    table = MatchDocument.__table__
    stmt = (
        update(table)
        .where(table.c.provider_id == bindparam("pid"))
        .values(
            openings_checked=bindparam("checked"),
            **{c: bindparam(f"v_{c}") for c in DOCUMENT_OPENING_COLUMNS},
        )
    )
    session.connection().execute(stmt, params)
