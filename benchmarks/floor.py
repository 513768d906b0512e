"""The "floor": the best hand-written SQL for matching's hard filters (issue #4 "Scale and speed").

One query per role returns the ids of every provider who passes every hard filter of ``directory.rules`` for
a need, with the same semantics, so matching can be compared with what the database alone needs to answer
the question. It is written by hand for speed (each branch starts from the state's licences or compact
privileges, the most selective index), but its constants come from the rule data (credentials.json,
compacts.json, scope_rules.json) so it follows the rules exactly:

* authority in the state on the date: an active licence there, issued on or before the date (or no issue
  date) and expiring on or after it, of a type valid for the credential; or (therapists only) an active,
  dated compact privilege for the state under a compact that grants practice, covers the credential, is
  operational and in effect (and verified, by default) in that state on the date, held with a valid
  licence in a member state;
* scope: therapists offer therapy and psychotherapy is in their credential's scope in the state;
  prescribers offer medication management, their credential may prescribe in the state (psychologists:
  only in a verified RxP state, from its enactment year, with that state's certificate) and they hold a
  full licence there (a compact privilege never suffices);
* in network with the plan, or self-pay when the need is self-pay (no plan and no self-pay: no filter);
* accepting new patients and under capacity (matching loads no care teams, so nobody is an existing
  patient);
* treats every requested condition (``RulesConfig.condition_match`` "all"; "any": at least one);
* has free time in the window: the provider's stored earliest free first visit for the role
  (scheduling.earliest, kept current by every change and computed for the synthetic directory as of its NOW)
  is not NULL. For a need from NOW that is exactly the rules' decision; for a later date it is a superset
  (free time before the date does not prove free time after it), which ``--verify`` allows.

Stored codes are compared as stored: the directory service saves credentials canonically, licence types
and compact codes upper-case, and conditions lower-case, and the need's conditions are case-folded here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, union

from careweave.directory import rules
from careweave.directory.documents import ANY_NETWORK, SELF_PAY_NETWORK, tag_pattern
from careweave.directory.models import (
    CompactPrivilege,
    License,
    MatchDocument,
    PrescriptiveCertification,
    Provider,
    ProviderCondition,
    ProviderNetwork,
)

P = Provider.__table__
L = License.__table__
CP = CompactPrivilege.__table__
NET = ProviderNetwork.__table__
COND = ProviderCondition.__table__
RXP = PrescriptiveCertification.__table__


def _stored(rs: rules.RuleSet, codes: Sequence[str]) -> list[str]:
    """The rule data's upper-case credential codes as the directory stores them (canonical: "PhD"), so the floor
    compares stored values directly, with no function on an indexed column."""
    return [spec.code for code in codes if (spec := rs.data.credential(code)) is not None]


def licence_valid(
    lic: Any, credential: ColumnElement, credentials: Sequence[str], on_date: date, rs: rules.RuleSet
) -> ColumnElement[bool]:
    """``lic`` (a licences table or alias) authorises practice on ``on_date`` for ``credential`` (one of
    ``credentials``): the licence types come from the rule data (rules.license_type_groups)."""
    c = lic.c
    type_ok = or_(
        *(
            and_(credential.in_(_stored(rs, creds)), c.license_type.in_(types))
            for creds, types in rules.license_type_groups(credentials, rules=rs)
        )
    )
    return and_(
        c.status == "active",
        or_(c.issued.is_(None), c.issued <= on_date),
        c.expires >= on_date,
        type_ok,
    )


def provider_filters(need: rules.Need, role: rules.Role, rs: rules.RuleSet) -> list[ColumnElement[bool]]:
    """Network, accepting, capacity, conditions and offer: the filters on the provider row and its tags."""
    filters: list[ColumnElement[bool]] = [
        P.c.is_active.is_(True),
        P.c.accepting_new_patients.is_(True),
        P.c.active_patients < P.c.capacity,
        (P.c.first_therapy_day if role == "therapist" else P.c.first_evaluation_day).is_not(None),
        (P.c.offers_therapy if role == "therapist" else P.c.offers_medication_management).is_(True),
    ]
    network = []
    if need.plan_id is not None:
        network.append(exists().where(NET.c.provider_id == P.c.id, NET.c.plan_id == _uuid(need.plan_id)))
    if need.self_pay:
        network.append(P.c.self_pay.is_(True))
    if network:
        filters.append(or_(*network))
    wanted = sorted({c.casefold() for c in need.conditions})
    if wanted and rs.config.condition_match == "all":
        filters += [exists().where(COND.c.provider_id == P.c.id, COND.c.condition == c) for c in wanted]
    elif wanted:
        filters.append(exists().where(COND.c.provider_id == P.c.id, COND.c.condition.in_(wanted)))
    return filters


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def floor_statement(need: rules.Need, role: rules.Role, rs: rules.RuleSet | None = None) -> Select | None:
    """SELECT the ids of providers eligible for ``role``; None when the rule data makes nobody eligible."""
    rs = rs or rules.default_rules()
    state, on_date = need.state, need.on_date
    outright, certified = (
        _stored(rs, codes) for codes in rules.role_credentials(role, state, on_date, rules=rs)
    )
    credentials = [*outright, *certified]
    credential = P.c.credential
    if not credentials:
        return None
    common = provider_filters(need, role, rs)
    can_fill = credential.in_(outright) if outright else false()
    if certified:
        cert = exists().where(
            RXP.c.provider_id == P.c.id,
            RXP.c.state == state,
            or_(RXP.c.expires.is_(None), RXP.c.expires >= on_date),
        )
        can_fill = or_(can_fill, and_(credential.in_(certified), cert))
    lic = L.alias("lic")
    by_licence = (
        select(P.c.id)
        .select_from(lic.join(P, P.c.id == lic.c.provider_id))
        .where(
            lic.c.state == state,
            licence_valid(lic, P.c.credential, credentials, on_date, rs),
            can_fill,
            *common,
        )
    )
    if role == "prescriber":  # prescribing needs a full licence in the state
        return by_licence
    branches = []
    for code, covered, homes in rules.practice_compacts(credentials, state, on_date, rules=rs):
        home = L.alias("home")
        branches.append(
            select(P.c.id)
            .select_from(CP.join(P, P.c.id == CP.c.provider_id))
            .where(
                CP.c.state == state,
                CP.c.compact == code,  # stored upper-case, as the rule data's codes
                CP.c.status == "active",
                or_(CP.c.issued.is_(None), CP.c.issued <= on_date),
                CP.c.expires >= on_date,
                credential.in_(_stored(rs, covered)),
                exists()
                .where(home.c.provider_id == P.c.id, home.c.state.in_(homes))
                .where(licence_valid(home, P.c.credential, covered, on_date, rs)),
                *common,
            )
        )
    if not branches:
        return by_licence
    return union(by_licence, *branches)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------------------
# The floor over the match documents (session 11)
#
# The statement above starts from the state's licences and joins the provider, the plan's network and each
# condition: ~100 ms for a large state on the benchmark VM, and 20,000 buffer visits. The directory also keeps
# match documents (models.MatchDocument, ADR 0013): one row per provider, source (licence or privilege) and
# network key, ordered by (state, network) with the provider's columns and tags in the index, which matching itself
# reads. Hand-written SQL over them answers the same question from one index range per network key, checking
# each document's source (licence type for the credential; compact, covered credential and a valid licence in a
# member state) by its primary key. Both floors are timed; the targets use the faster (docs/benchmarks.md).

DOC = MatchDocument.__table__


def _network_keys(need: rules.Need) -> list[uuid.UUID]:
    """The document keys a need reads (directory.documents): its plan and/or self-pay, else every document."""
    keys: list[uuid.UUID] = []
    if need.plan_id is not None:
        keys.append(_uuid(need.plan_id))
    if need.self_pay:
        keys.append(SELF_PAY_NETWORK)
    return keys or [ANY_NETWORK]


def documents_floor_statement(
    need: rules.Need, role: rules.Role, rs: rules.RuleSet | None = None, *, postgres: bool = True
) -> Select | None:
    """:func:`floor_statement`'s answer (the same ids) from the match documents; None when nobody is eligible."""
    rs = rs or rules.default_rules()
    state, on_date = need.state, need.on_date
    outright, certified = (
        _stored(rs, codes) for codes in rules.role_credentials(role, state, on_date, rules=rs)
    )
    credentials = [*outright, *certified]
    if not credentials:
        return None
    d = DOC.c
    credential = d.credential
    offers = d.offers_therapy if role == "therapist" else d.offers_medication_management
    opening = d.first_therapy_day if role == "therapist" else d.first_evaluation_day
    keys = _network_keys(need)
    filters: list[ColumnElement[bool]] = [
        d.state == state,
        d.network == keys[0] if len(keys) == 1 else d.network.in_(keys),
        or_(d.issued.is_(None), d.issued <= on_date),
        d.expires >= on_date,
        d.accepting_new_patients.is_(True),
        d.active_patients < d.capacity,
        offers.is_(True),
        opening.is_not(None),
    ]
    wanted = sorted({c.casefold() for c in need.conditions})
    position = func.strpos if postgres else func.instr  # the tag text holds ",tag," (documents.tag_pattern)
    has = [position(d.conditions, tag_pattern(c)) > 0 for c in wanted]
    if has and rs.config.condition_match == "all":
        filters += has
    elif has:
        filters.append(or_(*has))
    can_fill = credential.in_(outright) if outright else false()
    if certified:
        cert = exists().where(
            RXP.c.provider_id == d.provider_id,
            RXP.c.state == state,
            or_(RXP.c.expires.is_(None), RXP.c.expires >= on_date),
        )
        can_fill = or_(can_fill, and_(credential.in_(certified), cert))
    filters.append(can_fill)
    lic = L.alias("lic")
    by_licence = and_(
        d.compact.is_(False),
        exists().where(lic.c.id == d.source_id, licence_valid(lic, credential, credentials, on_date, rs)),
    )
    sources = [by_licence]
    if role == "therapist":  # a compact privilege never suffices to prescribe
        for code, covered, homes in rules.practice_compacts(credentials, state, on_date, rules=rs):
            home = L.alias("home")
            sources.append(
                and_(
                    d.compact.is_(True),
                    credential.in_(_stored(rs, covered)),
                    exists().where(CP.c.id == d.source_id, CP.c.compact == code, CP.c.status == "active"),
                    # Beside, not inside, the privilege's EXISTS: SQLAlchemy correlates one level only.
                    exists()
                    .where(home.c.provider_id == d.provider_id, home.c.state.in_(homes))
                    .where(licence_valid(home, credential, covered, on_date, rs)),
                )
            )
    filters.append(or_(*sources))
    return select(d.provider_id).where(*filters).distinct()
