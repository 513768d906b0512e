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
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, union

from careweave.directory import rules
from careweave.directory.models import (
    CompactPrivilege,
    License,
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


def _type_groups(rs: rules.RuleSet, credentials: list[str]) -> list[tuple[list[str], list[str]]]:
    """[(credentials, licence types valid for them)] with credentials sharing the same types grouped."""
    groups: dict[frozenset[str], list[str]] = defaultdict(list)
    for code in credentials:
        spec = rs.data.credential(code)
        assert spec is not None
        groups[spec.license_types].append(spec.code)
    return [(sorted(creds), sorted(types)) for types, creds in groups.items()]


def licence_valid(
    lic: Any, credential: ColumnElement, credentials: list[str], on_date: date, rs: rules.RuleSet
) -> ColumnElement[bool]:
    """``lic`` (a licences table or alias) authorises practice on ``on_date`` for ``credential``."""
    c = lic.c
    type_ok = or_(
        *(
            and_(credential.in_(creds), c.license_type.in_(types))
            for creds, types in _type_groups(rs, credentials)
        )
    )
    return and_(
        c.status == "active",
        or_(c.issued.is_(None), c.issued <= on_date),
        c.expires >= on_date,
        type_ok,
    )


def role_credentials(
    rs: rules.RuleSet, role: rules.Role, state: str, on_date: date
) -> tuple[list[str], list[str]]:
    """(credentials that may take ``role`` in ``state`` outright, psychologists who need an RxP certificate)."""
    outright: list[str] = []
    certified: list[str] = []
    for spec in rs.data.credentials.values():
        if role == "therapist":
            if rules.capability_in_state(spec.code, "psychotherapy", state, rules=rs) is True:
                outright.append(spec.code)
            continue
        if spec.capabilities["prescribe"] == "yes":
            outright.append(spec.code)
        elif spec.discipline == "psychology":
            rxp = rs.data.scope.rxp.get(state)
            if (
                rxp is not None
                and (rxp.verified or rs.config.grant_unverified_rxp)
                and on_date.year >= rxp.enacted_year
            ):
                certified.append(spec.code)
        elif rs.data.scope.per_state.get(spec.discipline, {}).get("prescribe", {}).get(state):
            outright.append(spec.code)
    return sorted(outright), sorted(certified)


def _member_ok(compact: rules.CompactSpec, state: str, on_date: date, config: rules.RulesConfig) -> bool:
    member = compact.members.get(state)
    return (
        member is not None
        and member.effective is not None
        and member.effective <= on_date
        and (member.verified or not config.require_verified_compact_membership)
    )


def compact_branches(
    rs: rules.RuleSet, credentials: list[str], state: str, on_date: date
) -> list[tuple[str, list[str], list[str]]]:
    """[(compact code, credentials it covers here, home member states)] for compacts that grant practice in
    ``state`` on ``on_date`` (spec §4.2, as directory.rules decides it)."""
    out = []
    for compact in rs.data.compacts.values():
        if not compact.grants_practice:
            continue
        if compact.operational_since is not None and compact.operational_since > on_date:
            continue
        if not _member_ok(compact, state, on_date, rs.config):
            continue
        covered = sorted(c for c in credentials if c in compact.credentials)
        homes = sorted(s for s in compact.members if _member_ok(compact, s, on_date, rs.config))
        if covered and homes:
            out.append((compact.code, covered, homes))
    return out


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
    outright, certified = role_credentials(rs, role, state, on_date)
    credentials = outright + certified
    if not credentials:
        return None
    common = provider_filters(need, role, rs)
    can_fill = P.c.credential.in_(outright) if outright else false()
    if certified:
        cert = exists().where(
            RXP.c.provider_id == P.c.id,
            RXP.c.state == state,
            or_(RXP.c.expires.is_(None), RXP.c.expires >= on_date),
        )
        can_fill = or_(can_fill, and_(P.c.credential.in_(certified), cert))
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
    for code, covered, homes in compact_branches(rs, credentials, state, on_date):
        home = L.alias("home")
        branches.append(
            select(P.c.id)
            .select_from(CP.join(P, P.c.id == CP.c.provider_id))
            .where(
                CP.c.state == state,
                CP.c.compact == code,
                CP.c.status == "active",
                or_(CP.c.issued.is_(None), CP.c.issued <= on_date),
                CP.c.expires >= on_date,
                P.c.credential.in_(covered),
                exists()
                .where(home.c.provider_id == P.c.id, home.c.state.in_(homes))
                .where(licence_valid(home, P.c.credential, covered, on_date, rs)),
                *common,
            )
        )
    if not branches:
        return by_licence
    return union(by_licence, *branches)  # type: ignore[return-value]
