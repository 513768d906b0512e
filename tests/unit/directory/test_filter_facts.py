"""An empty role's explanation counts providers by what SQL decides of them (rules.FilterFacts, issue #4
"explains which filter removed everyone"): the rule data in SQL's terms (role_credentials, license_type_groups,
practice_compacts) and filter_exclusions must give every provider exactly the codes ``exclusions`` gives.

``sql_facts`` below is SQL's decision written in Python, predicate for predicate as
directory.repository.provider_kinds writes it; tests/integration/test_matching_scale.py checks the SQL itself
against the rules on a synthetic directory."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from careweave.directory import rules
from careweave.directory.rules import CompactPrivilege, LicenseFact, Need, ProviderFacts, Role
from tests.unit.directory.helpers import LICENSE_TYPE, PLAN, VISIT, need, provider, rules_with

# States with and without prescribing psychologists, compact members and not, PSYPACT/Counseling/NLC
# joined at different dates (rule data: compacts.json, scope_rules.json).
STATES = ("WY", "NM", "ID", "IL", "CO", "TX", "CA")  # few, so records and needs often share a state
CREDENTIALS = (*LICENSE_TYPE, "XYZ")  # and one Careweave does not know
LICENCE_TYPES = (*sorted(set(LICENSE_TYPE.values())), "physician", "RN", "psychologist")
COMPACTS = ("PSYPACT", "psypact", "COUNSELING", "IMLC", "SOCIAL_WORK", "NLC", "APRN_COMPACT", "NOPE")
DAYS = (None, VISIT - timedelta(days=400), VISIT - timedelta(days=1), VISIT, VISIT + timedelta(days=1))


def _period(draw: st.DrawFn) -> tuple[date | None, date | None]:
    issued = draw(st.sampled_from(DAYS))
    expires = draw(st.sampled_from((*DAYS, VISIT + timedelta(days=900))))
    if issued is not None and expires is not None and issued > expires:
        issued, expires = expires, issued  # records are never dated backwards (rules._check_period)
    return issued, expires


@st.composite
def licences(draw: st.DrawFn) -> LicenseFact:
    issued, expires = _period(draw)
    return LicenseFact(
        draw(st.sampled_from(STATES)),
        draw(st.sampled_from(LICENCE_TYPES)),
        "TEST-1",
        draw(st.sampled_from(("active", "active", "inactive", "suspended"))),  # type: ignore[arg-type]
        issued,
        expires,
    )


@st.composite
def privileges(draw: st.DrawFn) -> CompactPrivilege:
    issued, expires = _period(draw)
    return CompactPrivilege(
        draw(st.sampled_from(COMPACTS)),
        draw(st.sampled_from(STATES)),
        draw(st.sampled_from(("active", "active", "inactive"))),  # type: ignore[arg-type]
        issued,
        expires,
    )


@st.composite
def providers(draw: st.DrawFn) -> ProviderFacts:
    credential = draw(st.sampled_from(CREDENTIALS))
    capacity = draw(st.integers(1, 3))
    return replace(
        provider("MD"),
        credential=credential,
        offers=frozenset(draw(st.sets(st.sampled_from(("therapy", "medication_management"))))),
        licenses=tuple(draw(st.lists(licences(), max_size=3))),
        compact_privileges=tuple(draw(st.lists(privileges(), max_size=2))),
        prescriptive_certifications=frozenset(draw(st.sets(st.sampled_from(("NM", "ID", "IL", "CO")))))
        if credential in ("PhD", "PsyD")
        else frozenset(),
        networks=frozenset(draw(st.sets(st.sampled_from((PLAN, "other-plan"))))),
        self_pay=draw(st.booleans()),
        accepting_new_patients=draw(st.booleans()),
        capacity=capacity,
        active_patients=draw(st.integers(0, capacity)),
        conditions=frozenset(draw(st.sets(st.sampled_from(("depression", "anxiety", "ptsd"))))),
    )


@st.composite
def needs(draw: st.DrawFn) -> Need:
    coverage = draw(st.sampled_from(("plan", "self_pay", "none", "plan+self_pay")))
    return need(
        state=draw(st.sampled_from(STATES)),
        plan_id=PLAN if "plan" in coverage else None,
        self_pay="self_pay" in coverage,
        conditions=frozenset(draw(st.sets(st.sampled_from(("Depression", "anxiety", "ptsd", "grief"))))),
    )


def sql_facts(p: ProviderFacts, n: Need, role: Role, rs: rules.RuleSet) -> rules.FilterFacts:
    """What repository.provider_kinds decides of ``p``, from the same rule data and with the same predicates
    (codes compared upper-case, stored states as they are)."""
    credential = p.credential.upper()
    known = [spec.code for spec in rs.data.credentials.values()]
    groups = rules.license_type_groups(known, rules=rs)
    outright, certifiable = rules.role_credentials(role, n.state, n.on_date, rules=rs)

    def valid(status: str, issued: date | None, expires: date | None) -> bool:
        return (
            status == "active"
            and (issued is None or issued <= n.on_date)
            and (expires is not None and expires >= n.on_date)
        )

    def type_ok(licence_type: str) -> bool:
        return any(credential in creds and licence_type.upper() in types for creds, types in groups)

    licence = any(
        x.state == n.state and valid(x.status, x.issued, x.expires) and type_ok(x.license_type)
        for x in p.licenses
    )
    privilege = any(
        credential in covered
        and any(
            x.state == n.state and x.compact.upper() == code and valid(x.status, x.issued, x.expires)
            for x in p.compact_privileges
        )
        and any(
            h.state in homes and valid(h.status, h.issued, h.expires) and type_ok(h.license_type)
            for h in p.licenses
        )
        for code, covered, homes in rules.practice_compacts(known, n.state, n.on_date, rules=rs)
    )
    wanted = {c.casefold() for c in n.conditions}
    return rules.FilterFacts(
        license=licence,
        privilege=privilege,
        offers=("therapy" if role == "therapist" else "medication_management") in p.offers,
        outright=credential in outright,
        certifiable=credential in certifiable,
        certified=n.state in p.prescriptive_certifications,
        in_plan=n.plan_id is not None and n.plan_id in p.networks,
        self_pay=p.self_pay,
        accepting_new_patients=p.accepting_new_patients,
        under_capacity=p.active_patients < p.capacity,
        conditions_treated=len(wanted & {c.casefold() for c in p.conditions}),
        no_free_time=False,
    )


def _codes(p: ProviderFacts, n: Need, role: Role, rs: rules.RuleSet) -> tuple[str, ...]:
    return tuple(e.code for e in rules.exclusions(p, n, role, rules=rs))


@settings(max_examples=600, deadline=None)
@given(providers(), needs(), st.sampled_from(("therapist", "prescriber")), st.booleans())
def test_filter_exclusions_are_the_rules_exclusions(
    p: ProviderFacts, n: Need, role: Role, any_condition: bool
) -> None:
    rs = rules_with(condition_match="any") if any_condition else rules.default_rules()
    assert rules.filter_exclusions(sql_facts(p, n, role, rs), n, role, rules=rs) == _codes(p, n, role, rs)


def test_each_authority_edge() -> None:
    """Crafted edges of spec §4.1/§4.2 the counting must decide as the rules do, for either role."""
    rs = rules.default_rules()
    cases = [
        # a full licence that expired the day before the visit
        (provider("LPC", licenses=(LicenseFact("WY", "LPC", "1", "active", None, VISIT - timedelta(1)),))),
        # a licence of a type that does not cover the credential
        (provider("LPC", licenses=(LicenseFact("WY", "LCSW", "1", "active", None, VISIT),))),
        # a lower-case type as an older import may have stored it
        (provider("LPC", licenses=(LicenseFact("WY", "lpc", "1", "active", None, VISIT),))),
        # a PSYPACT privilege with, and without, a home licence in a member state
        provider("PsyD", states=("CO",), compact_privileges=(CompactPrivilege("PSYPACT", "WY", "active", None, VISIT),)),
        provider("PsyD", states=("CA",), compact_privileges=(CompactPrivilege("PSYPACT", "WY", "active", None, VISIT),)),
        # a prescribing psychologist (Idaho certificate) whose only authority there is a PSYPACT privilege
        provider("PsyD", states=("TX",), prescriptive_certifications=frozenset({"ID"}), compact_privileges=(CompactPrivilege("PSYPACT", "ID", "active", None, VISIT),)),
        # a nurse practitioner with a compact privilege only
        provider("PMHNP", states=("CO",), compact_privileges=(CompactPrivilege("NLC", "WY", "active", None, VISIT),)),
    ]  # fmt: skip
    for p in cases:
        for role in ("therapist", "prescriber"):
            n = need(state=p.compact_privileges[0].state if p.compact_privileges else "WY", pathway="both")
            assert rules.filter_exclusions(sql_facts(p, n, role, rs), n, role, rules=rs) == _codes(
                p, n, role, rs
            )
