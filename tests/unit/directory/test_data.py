"""The rule-data files: what they say (clinical-spec.md §3, §4.2) and that bad data fails at load."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from careweave.core.geo import US_JURISDICTIONS
from careweave.directory.rules import (
    PRACTICE_GRANTS,
    RuleDataError,
    RuleSet,
    capability_in_state,
    credential_spec,
    is_known_credential,
    load_rule_data,
    parse_rule_data,
    read_rule_documents,
)

DATA = load_rule_data()


def test_credentials_and_disciplines() -> None:
    """§3 table: each credential's discipline."""
    expected = {
        "MD": "psychiatry",
        "DO": "psychiatry",
        "PMHNP": "psychiatric_nursing",
        "APRN": "psychiatric_nursing",
        "NP": "psychiatric_nursing",
        "PA": "physician_assistant",
        "PhD": "psychology",
        "PsyD": "psychology",
        "LCSW": "social_work",
        "LICSW": "social_work",
        "LPC": "counseling",
        "LMHC": "counseling",
        "LCPC": "counseling",
        "LPCC": "counseling",
        "LMFT": "marriage_family_therapy",
    }
    assert {spec.code: spec.discipline for spec in DATA.credentials.values()} == expected


def test_credential_lookup_is_case_insensitive() -> None:
    """§8.3: credential codes as typed by admins (e.g. 'psyd') resolve to one canonical code."""
    spec = credential_spec("psyd")
    assert spec is not None
    assert spec.code == "PsyD"
    assert is_known_credential("lcsw")
    assert not is_known_credential("RN")


def test_nucc_codes_follow_the_spec() -> None:
    """§3 / §8.3 NUCC taxonomy examples."""
    assert "2084P0800X" in DATA.credentials["MD"].nucc_taxonomy
    assert DATA.credentials["PMHNP"].nucc_taxonomy == ("363LP0808X",)
    assert DATA.credentials["PA"].nucc_taxonomy == ("363A00000X",)
    assert "103TP2701X" in DATA.credentials["PHD"].nucc_taxonomy
    assert DATA.credentials["LCSW"].nucc_taxonomy == ("1041C0700X",)
    assert DATA.credentials["LMFT"].nucc_taxonomy == ("106H00000X",)


def test_capabilities_follow_the_spec() -> None:
    """§3 table: who prescribes, who needs DEA, who may only by state rule."""
    caps = {code: dict(spec.capabilities) for code, spec in DATA.credentials.items()}
    assert caps["MD"]["controlled_substances"] == "with_dea"
    assert caps["PHD"]["prescribe"] == "per_state"
    for code in ("LCSW", "LICSW", "LPC", "LMHC", "LCPC", "LPCC", "LMFT"):
        assert (
            caps[code]["prescribe"] == caps[code]["controlled_substances"] == caps[code]["order_labs"] == "no"
        )
        assert caps[code]["diagnose"] == "per_state"


def test_compact_grants() -> None:
    """§4.2: what each compact grants."""
    grants = {code: c.grants for code, c in DATA.compacts.items()}
    assert grants == {
        "PSYPACT": "telepsychology_authority",
        "COUNSELING": "privilege_to_practice",
        "IMLC": "expedited_license",
        "SOCIAL_WORK": "none_yet",
        "NLC": "not_applicable",
        "APRN_COMPACT": "none_yet",
    }
    for code in ("IMLC", "SOCIAL_WORK", "NLC", "APRN_COMPACT"):
        assert DATA.compacts[code].grants not in PRACTICE_GRANTS
        assert not DATA.compacts[code].grants_practice
        assert all(m.effective is None for m in DATA.compacts[code].members.values())


def test_compact_lists_are_dated_sourced_and_marked_partial() -> None:
    """§4.2 VOLATILE: every list has an as-of date and sources; unverified lists say so."""
    for compact in DATA.compacts.values():
        assert isinstance(compact.as_of, date)
        assert compact.sources
        assert all(state in US_JURISDICTIONS for state in compact.members)
        for member in compact.members.values():
            assert set(member.sources) <= set(compact.sources)
    assert not DATA.compacts["PSYPACT"].verified
    assert not DATA.compacts["PSYPACT"].complete
    assert not DATA.compacts["COUNSELING"].complete


def test_psypact_members_are_corroborated() -> None:
    """§4.2: a verified PSYPACT member is named by at least two independent sources."""
    psypact = DATA.compacts["PSYPACT"]
    for member in psypact.members.values():
        if member.verified:
            assert len(member.sources) >= 2, member.state
    assert psypact.members["MT"].effective is None
    assert psypact.members["AZ"].effective == date(2020, 7, 1)
    assert psypact.operational_since == date(2020, 7, 1)


def test_counseling_compact_live_states() -> None:
    """§4.2: privileges granted from 30 Sept 2025 (Arizona and Minnesota first)."""
    members = DATA.compacts["COUNSELING"].members
    assert members["AZ"].effective == members["MN"].effective == date(2025, 9, 30)
    assert members["AZ"].verified
    assert members["MN"].verified
    assert "MFT" not in " ".join(DATA.compacts["COUNSELING"].credentials)


def test_rxp_jurisdictions() -> None:
    """§3 RxP table: NM, LA, IL, IA, ID verified; CO and UT unverified."""
    rxp = DATA.scope.rxp
    assert {s for s, j in rxp.items() if j.verified} == {"NM", "LA", "IL", "IA", "ID"}
    assert not rxp["CO"].verified
    assert not rxp["UT"].verified
    assert (rxp["NM"].enacted_year, rxp["LA"].enacted_year, rxp["IL"].enacted_year) == (2002, 2004, 2014)
    assert (
        rxp["IA"].enacted_year,
        rxp["ID"].enacted_year,
        rxp["CO"].enacted_year,
        rxp["UT"].enacted_year,
    ) == (
        2016,
        2017,
        2023,
        2024,
    )


def test_np_practice_environment_is_informational() -> None:
    """§3: NP independence varies by state; the 2023 list covers 50 states + DC and is dated."""
    environment = DATA.scope.np_practice_environment
    assert len(environment) == 51
    assert set(environment.values()) == {"full", "reduced", "restricted"}
    assert DATA.scope.np_practice_as_of == date(2023, 3, 14)
    assert DATA.scope.np_schedule_ii_restricted == {}


# --------------------------------------------------------------------------------------------------------------
# Bad data fails at load


def _broken(mutate: Callable[[dict[str, Any]], None]) -> None:
    docs = copy.deepcopy(read_rule_documents())
    mutate(docs)
    parse_rule_data(docs["credentials"], docs["compacts"], docs["scope_rules"])


def _credential(docs: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in docs["credentials"]["credentials"] if c["code"] == code)


def _compact(docs: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in docs["compacts"]["compacts"] if c["code"] == code)


def _set(
    path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any
) -> Callable[[dict[str, Any]], None]:
    def mutate(docs: dict[str, Any]) -> None:
        path(docs)[key] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            _set(lambda d: _compact(d, "PSYPACT"), "credentials", ["PhD", "PsyDr"]),
            "unknown credential 'PsyDr'",
        ),
        (_set(lambda d: _compact(d, "PSYPACT"), "as_of", "2025-02-30"), "not an ISO date"),
        (_set(lambda d: _compact(d, "PSYPACT")["members"][0], "effective", "July 2020"), "not an ISO date"),
        (_set(lambda d: _compact(d, "PSYPACT")["members"][0], "state", "Alabama"), "unknown state"),
        (_set(lambda d: _compact(d, "PSYPACT")["members"][0], "sources", ["nowhere"]), "unknown sources"),
        (_set(lambda d: _compact(d, "PSYPACT")["members"][0], "effective", None), "does not agree"),
        (_set(lambda d: _compact(d, "IMLC")["members"][0], "effective", "2017-04-01"), "does not agree"),
        (_set(lambda d: _compact(d, "PSYPACT"), "grants", "license"), "unknown grants"),
        (_set(lambda d: _credential(d, "MD"), "discipline", "surgery"), "unknown discipline"),
        (_set(lambda d: _credential(d, "MD"), "compacts", ["IMLC", "NOPE"]), "unknown compact 'NOPE'"),
        (_set(lambda d: _credential(d, "MD"), "nucc_taxonomy", ["2084P0800"]), "malformed NUCC"),
        (_set(lambda d: _credential(d, "LPC"), "compacts", []), "does not name compact COUNSELING"),
        (_set(lambda d: _credential(d, "LMFT"), "compacts", ["COUNSELING"]), "does not list credential LMFT"),
        (_set(lambda d: _credential(d, "MD")["capabilities"], "prescribe", "maybe"), "is not one of"),
        (_set(lambda d: _credential(d, "LPCC")["capabilities"], "diagnose", "yes"), "capabilities differ"),
        (_set(lambda d: _credential(d, "DO"), "code", "md"), "duplicate credential"),
        (
            _set(
                lambda d: d["scope_rules"]["psychologist_prescriptive_authority"]["jurisdictions"][0],
                "enacted_year",
                "2002",
            ),
            "wrong type",
        ),
        (
            _set(
                lambda d: d["scope_rules"]["per_state_capabilities"]["disciplines"],
                "psychiatry",
                {"diagnose": {}},
            ),
            "not marked per_state",
        ),
        (
            _set(
                lambda d: d["scope_rules"]["per_state_capabilities"]["disciplines"]["social_work"],
                "diagnose",
                {"WY": "sometimes"},
            ),
            "expected one of",
        ),
    ],
)
def test_bad_rule_data_fails_at_load(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    """§3/§4.2: rule data is validated when loaded (unknown names, bad dates -> error), never mid-match."""
    with pytest.raises(RuleDataError, match=message):
        _broken(mutate)


def test_per_state_flags_are_used() -> None:
    """§3: 'Diagnosis capability for LCSW/LPC/LMFT must be a per-state flag' — data, not code."""
    docs = copy.deepcopy(read_rule_documents())
    docs["scope_rules"]["per_state_capabilities"]["disciplines"]["social_work"]["diagnose"] = {
        "WY": "yes",
        "TX": "no",
    }
    data = parse_rule_data(docs["credentials"], docs["compacts"], docs["scope_rules"])
    assert data.scope.per_state["social_work"]["diagnose"] == {"WY": True, "TX": False}
    rules = RuleSet(data)
    assert capability_in_state("LCSW", "diagnose", "WY", rules=rules) is True
    assert capability_in_state("LCSW", "diagnose", "TX", rules=rules) is False
    assert capability_in_state("LCSW", "diagnose", "CA", rules=rules) is None
