"""Licensure, compacts, scope of practice and NPI (clinical-spec.md §3, §4.1, §4.2, §4.3, §8.3).

Every test names the spec section it exercises. Matching (filters, ranking, pairs, explanations) is in
``test_matching.py``; the rule-data files in ``test_data.py``; hypothesis properties in ``test_properties.py``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from careweave.directory.rules import (
    LicenseFact,
    Need,
    ProviderFacts,
    authority_in_state,
    authority_problems,
    can_prescribe_controlled,
    capability_in_state,
    is_prescriber_in,
    npi_is_valid,
    role_for,
    roles_for_pathway,
)
from tests.unit.directory.helpers import (
    LICENSE_TYPE,
    NEVER_PRESCRIBING,
    PRESCRIBING,
    PSYCHOLOGISTS,
    VISIT,
    dea,
    lic,
    priv,
    provider,
    rules_with,
)

# --------------------------------------------------------------------------------------------------------------
# NPI (spec §8.3: Practitioner.identifier is the NPI; CMS "NPI check digit": Luhn over 80840 + 9 digits)


@pytest.mark.parametrize("npi", ["1234567893", "1000000004", "2000000002", "1111111112"])
def test_npi_valid_check_digit(npi: str) -> None:
    """§8.3: 1234567893 is the CMS example; the others are synthetic, their check digits computed by hand with
    the CMS shortcut (double alternate digits from the right of the nine, sum, add 24 for the 80840 prefix)."""
    assert npi_is_valid(npi)


@pytest.mark.parametrize(
    "npi",
    [
        "1234567898",  # wrong check digit
        "1234567890",
        "2000000004",  # check digit of 1000000004 on a different payload
        "123456789",  # 9 digits
        "12345678931",  # 11 digits
        "123456789X",
        "",
        " 1234567893",
        "1234-567893",
        "１２３４５６７８９３",  # full-width digits are not ASCII digits
    ],
)
def test_npi_invalid(npi: str) -> None:
    """§8.3: anything but 10 ASCII digits with the right check digit is refused."""
    assert not npi_is_valid(npi)


# --------------------------------------------------------------------------------------------------------------
# Full licenses (spec §4.1: care is delivered where the patient is, at the time of the visit)


def test_active_license_in_patient_state_authorises() -> None:
    """§4.1: an active license in the patient's state, valid on the visit date."""
    authority = authority_in_state(provider("MD"), "WY", VISIT)
    assert authority is not None
    assert authority.kind == "license"
    assert "Licensed in Wyoming" in authority.reason
    assert authority.valid_until == date(2028, 6, 30)


def test_license_in_another_state_does_not_authorise() -> None:
    """§4.1: the provider's own state does not matter; only the patient's state at the visit."""
    assert authority_in_state(provider("MD", states=("CO",)), "WY", VISIT) is None
    assert authority_problems(provider("MD", states=("CO",)), "WY", VISIT) == (
        "no license or compact privilege for Wyoming",
    )


def test_license_expiring_the_day_before_the_visit_does_not_authorise() -> None:
    """§4.1 (issue #4 edge): expires the day before the visit."""
    p = provider("MD", licenses=(lic("WY", "MD", expires=VISIT - timedelta(days=1)),))
    assert authority_in_state(p, "WY", VISIT) is None
    assert "expired on 30 November 2026" in authority_problems(p, "WY", VISIT)[0]


def test_license_expiring_on_the_visit_day_still_authorises() -> None:
    """§4.1: issued <= visit date <= expires (inclusive)."""
    p = provider("MD", licenses=(lic("WY", "MD", expires=VISIT),))
    assert authority_in_state(p, "WY", VISIT) is not None


def test_license_issued_after_the_visit_does_not_authorise() -> None:
    """§4.1: a license must already be in force at the time of the visit."""
    p = provider("MD", licenses=(lic("WY", "MD", issued=VISIT + timedelta(days=1)),))
    assert authority_in_state(p, "WY", VISIT) is None
    assert authority_in_state(p, "WY", VISIT + timedelta(days=1)) is not None


@pytest.mark.parametrize("status", ["suspended", "inactive", "expired"])
def test_license_not_active_does_not_authorise(status: str) -> None:
    """§4.2 platform rule: each license is stored with its status; only an active one counts."""
    p = provider("MD", licenses=(lic("WY", "MD", status=status),))
    assert authority_in_state(p, "WY", VISIT) is None
    assert f"is {status}" in authority_problems(p, "WY", VISIT)[0]


def test_license_without_expiry_on_record_does_not_authorise() -> None:
    """§4.2 platform rule (license stored with expiry): an unknown expiry cannot prove validity on the date."""
    p = provider("MD", licenses=(lic("WY", "MD", expires=None),))
    assert authority_in_state(p, "WY", VISIT) is None
    assert "no expiry date on record" in authority_problems(p, "WY", VISIT)[0]


def test_license_without_issue_date_is_accepted() -> None:
    """§4.2: the issue date is optional; status and expiry decide."""
    p = provider("MD", licenses=(lic("WY", "MD", issued=None),))
    assert authority_in_state(p, "WY", VISIT) is not None


def test_license_of_another_profession_does_not_authorise() -> None:
    """§3: scope follows the license; an LCSW license does not let an MD practise medicine."""
    p = provider("MD", licenses=(lic("WY", "LCSW"),))
    assert authority_in_state(p, "WY", VISIT) is None
    assert "does not cover MD practice" in authority_problems(p, "WY", VISIT)[0]


def test_best_of_several_licenses_is_reported() -> None:
    """§4.1: the valid license with the latest expiry is the one shown."""
    p = provider(
        "MD",
        licenses=(
            lic("WY", "MD", number="WY-OLD", status="expired", expires=date(2025, 1, 1)),
            lic("WY", "MD", number="WY-A", expires=date(2027, 1, 1)),
            lic("WY", "MD", number="WY-B", expires=date(2029, 1, 1)),
        ),
    )
    authority = authority_in_state(p, "WY", VISIT)
    assert authority is not None
    assert authority.license is not None
    assert authority.license.number == "WY-B"


def test_unknown_credential_has_no_authority() -> None:
    """§3: only credentials in credentials.json have a scope; anything else is never eligible."""
    p = replace(provider("MD"), credential="ND")
    assert authority_in_state(p, "WY", VISIT) is None
    assert authority_problems(p, "WY", VISIT) == ("'ND' is not a credential Careweave knows",)


def test_facts_refuse_bad_values() -> None:
    """§4.2 platform rule: state, status and dates are validated when facts are built."""
    with pytest.raises(ValueError, match="unknown state"):
        LicenseFact("Wyoming", "MD", "1", "active", None, EXPIRES_2028)
    with pytest.raises(ValueError, match="unknown status"):
        LicenseFact("WY", "MD", "1", "revoked", None, EXPIRES_2028)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="after expires"):
        LicenseFact("WY", "MD", "1", "active", date(2027, 1, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown schedules"):
        dea("WY", ("2", "6"))
    with pytest.raises(ValueError, match="unknown offers"):
        ProviderFacts(id="x", name="x", credential="MD", offers=frozenset({"coaching"}))
    with pytest.raises(ValueError, match="unknown pathway"):
        Need(pathway="urgent", state="WY", on_date=VISIT)  # type: ignore[arg-type]


EXPIRES_2028 = date(2028, 6, 30)


# --------------------------------------------------------------------------------------------------------------
# Compact privileges (spec §4.2, VOLATILE: membership is dated data in compacts.json)


def psychologist_with_psypact(state: str = "TX", home: str = "AZ", **kw: object) -> ProviderFacts:
    return provider("PhD", states=(home,), compact_privileges=(priv("PSYPACT", state, **kw),))  # type: ignore[arg-type]


def test_psypact_authority_in_member_state() -> None:
    """§4.2: PSYPACT APIT lets a psychologist practise telepsychology in a member state from the home state."""
    authority = authority_in_state(psychologist_with_psypact("TX"), "TX", VISIT)
    assert authority is not None
    assert authority.kind == "compact_privilege"
    assert "Texas under the Psychology Interjurisdictional Compact" in authority.reason


def test_full_license_is_preferred_over_a_compact_privilege() -> None:
    """§4.2: a full license in the state is the primary authority; a privilege is only the fallback."""
    p = provider("PhD", states=("AZ", "TX"), compact_privileges=(priv("PSYPACT", "TX"),))
    authority = authority_in_state(p, "TX", VISIT)
    assert authority is not None
    assert authority.kind == "license"


def test_psypact_state_enacted_but_not_in_effect_grants_nothing() -> None:
    """§4.2: Montana enacted PSYPACT in 2025 but its effective date is not known: no authority there."""
    p = psychologist_with_psypact("MT")
    assert authority_in_state(p, "MT", VISIT) is None
    assert "not yet in effect in Montana" in authority_problems(p, "MT", VISIT)[0]


def test_psypact_needs_a_home_license_in_a_member_state() -> None:
    """§4.2: APIT works from the home-state license; California is not a PSYPACT member."""
    assert authority_in_state(psychologist_with_psypact("TX", home="CA"), "TX", VISIT) is None
    no_home = provider("PhD", licenses=(), compact_privileges=(priv("PSYPACT", "TX"),))
    assert authority_in_state(no_home, "TX", VISIT) is None
    assert "no valid home-state license" in authority_problems(no_home, "TX", VISIT)[0]


def test_psypact_privilege_expired_or_suspended_grants_nothing() -> None:
    """§4.2 platform rule: a compact privilege has its own status and expiry."""
    expired = psychologist_with_psypact("TX", expires=VISIT - timedelta(days=1))
    suspended = psychologist_with_psypact("TX", status="suspended")
    assert authority_in_state(expired, "TX", VISIT) is None
    assert authority_in_state(suspended, "TX", VISIT) is None


def test_psypact_state_joined_after_the_visit_date() -> None:
    """§4.2 (issue #4 edge): Vermont's PSYPACT membership took effect 1 July 2024 (compacts.json)."""
    p = psychologist_with_psypact("VT")
    assert authority_in_state(p, "VT", date(2024, 6, 30)) is None
    assert "takes effect in Vermont on 1 July 2024" in authority_problems(p, "VT", date(2024, 6, 30))[0]
    assert authority_in_state(p, "VT", date(2024, 7, 1)) is not None


def counselor_with_privilege(state: str, home: str = "AZ") -> ProviderFacts:
    return provider("LPC", states=(home,), compact_privileges=(priv("COUNSELING", state, issued=None),))


def test_counseling_compact_state_joined_after_the_visit_date() -> None:
    """§4.2 (issue #4 edge): Ohio began granting Counseling Compact privileges on 5 January 2026."""
    p = counselor_with_privilege("OH")
    assert authority_in_state(p, "OH", date(2026, 1, 4)) is None
    assert authority_in_state(p, "OH", date(2026, 1, 5)) is not None


def test_counseling_compact_not_operational_before_30_september_2025() -> None:
    """§4.2: the Counseling Compact began granting privileges on 30 Sept 2025 (Arizona and Minnesota)."""
    p = counselor_with_privilege("MN")
    assert authority_in_state(p, "MN", date(2025, 9, 29)) is None
    assert authority_in_state(p, "MN", date(2025, 9, 30)) is not None


def test_counseling_compact_enacted_state_not_operational_grants_nothing() -> None:
    """§4.2: enacting the compact is not granting privileges: Colorado enacted it but is not operational."""
    assert authority_in_state(counselor_with_privilege("CO"), "CO", VISIT) is None


def test_unverified_compact_member_grants_nothing_by_default() -> None:
    """§4.2 VOLATILE: Georgia (operational June 2026 per one secondary source) is unverified; configurable."""
    p = counselor_with_privilege("GA")
    assert authority_in_state(p, "GA", VISIT) is None
    assert "not yet verified" in authority_problems(p, "GA", VISIT)[0]
    relaxed = rules_with(require_verified_compact_membership=False)
    assert authority_in_state(p, "GA", VISIT, rules=relaxed) is not None
    assert authority_in_state(p, "GA", date(2026, 6, 1), rules=relaxed) is None


def test_counseling_compact_does_not_cover_mfts() -> None:
    """§4.2: the Counseling Compact covers professional counselors only, not MFTs."""
    p = provider("LMFT", states=("AZ",), compact_privileges=(priv("COUNSELING", "MN"),))
    assert authority_in_state(p, "MN", VISIT) is None
    assert "does not cover LMFT" in authority_problems(p, "MN", VISIT)[0]


@pytest.mark.parametrize("state", ["WY", "CO", "TX", "DC", "GU"])
def test_imlc_never_grants_practice(state: str) -> None:
    """§4.2: the IMLC is only an expedited pathway to a full license; it never makes a physician eligible."""
    p = provider("MD", states=("AZ",), compact_privileges=(priv("IMLC", state),))
    assert authority_in_state(p, state, VISIT) is None
    assert "only speeds up getting a full license" in authority_problems(p, state, VISIT)[0]
    assert not is_prescriber_in(p, state, VISIT)


def test_social_work_compact_grants_nothing_yet() -> None:
    """§4.2: no Social Work Compact multistate license has been issued yet."""
    p = provider("LCSW", states=("KS",), compact_privileges=(priv("SOCIAL_WORK", "MO"),))
    assert authority_in_state(p, "MO", VISIT) is None
    assert "does not grant practice yet" in authority_problems(p, "MO", VISIT)[0]


def test_aprn_compact_grants_nothing() -> None:
    """§4.2: the APRN Compact is not operational (5 of 7 states)."""
    p = provider("PMHNP", states=("UT",), compact_privileges=(priv("APRN_COMPACT", "WY"),))
    assert authority_in_state(p, "WY", VISIT) is None
    assert not is_prescriber_in(p, "WY", VISIT)


def test_unknown_compact_grants_nothing() -> None:
    """§4.2: only compacts in compacts.json exist."""
    p = provider("LPC", states=("AZ",), compact_privileges=(priv("MADE_UP", "MN"),))
    assert authority_in_state(p, "MN", VISIT) is None
    assert "'MADE_UP' is unknown" in authority_problems(p, "MN", VISIT)[0]


# --------------------------------------------------------------------------------------------------------------
# Scope of practice (spec §3)


@pytest.mark.parametrize("credential", PRESCRIBING)
def test_md_do_np_pa_prescribe_where_licensed(credential: str) -> None:
    """§3: MD/DO, PMHNP/APRN (all states + DC) and PA (under supervision) are prescribers where licensed."""
    p = provider(credential, states=("TX",))
    assert is_prescriber_in(p, "TX", VISIT)
    assert not is_prescriber_in(p, "WY", VISIT)


@pytest.mark.parametrize("credential", NEVER_PRESCRIBING)
def test_social_workers_counselors_mfts_never_prescribe(credential: str) -> None:
    """§3: LCSW/LICSW, LPC/LMHC/LCPC/LPCC and LMFT do not prescribe, in any state."""
    p = provider(credential, states=("NM", "WY"), prescriptive_certifications=frozenset({"NM"}))
    assert not is_prescriber_in(p, "NM", VISIT)
    assert not is_prescriber_in(p, "WY", VISIT)
    assert role_for(p, "psychiatry", "NM", VISIT) is None
    assert not can_prescribe_controlled(replace(p, dea_registrations=(dea("NM"),)), "NM", VISIT, "4")


@pytest.mark.parametrize("credential", PSYCHOLOGISTS)
@pytest.mark.parametrize("state", ["NM", "LA", "IL", "IA", "ID"])
def test_psychologist_prescribes_in_verified_rxp_state_with_certificate(credential: str, state: str) -> None:
    """§3 RxP table: NM 2002, LA 2004, IL 2014, IA 2016, ID 2017 (verified), with the state's certificate."""
    certified = provider(credential, states=(state,), prescriptive_certifications=frozenset({state}))
    assert is_prescriber_in(certified, state, VISIT)
    uncertified = provider(credential, states=(state,))
    assert not is_prescriber_in(uncertified, state, VISIT)


@pytest.mark.parametrize("state", ["CA", "WY", "TX", "NY"])
def test_psychologist_never_prescribes_outside_rxp_states(state: str) -> None:
    """§3: psychologists do not prescribe, except prescribing psychologists in a few jurisdictions."""
    p = provider("PsyD", states=(state,), prescriptive_certifications=frozenset({state}))
    assert not is_prescriber_in(p, state, VISIT)


@pytest.mark.parametrize("state", ["CO", "UT"])
def test_psychologist_in_unverified_rxp_state_is_not_a_prescriber_by_default(state: str) -> None:
    """§3/§9 item 7: Colorado 2023 and Utah 2024 are UNVERIFIED: not granted unless configured."""
    p = provider("PhD", states=(state,), prescriptive_certifications=frozenset({state}))
    assert not is_prescriber_in(p, state, VISIT)
    assert capability_in_state("PhD", "prescribe", state) is None
    assert is_prescriber_in(p, state, VISIT, rules=rules_with(grant_unverified_rxp=True))


def test_psychologist_certificate_of_another_state_does_not_count() -> None:
    """§3: the RxP certificate is per state; a New Mexico certificate gives nothing in Louisiana."""
    p = provider("PhD", states=("NM", "LA"), prescriptive_certifications=frozenset({"NM"}))
    assert is_prescriber_in(p, "NM", VISIT)
    assert not is_prescriber_in(p, "LA", VISIT)


def test_psychologist_rxp_not_before_enactment() -> None:
    """§3: New Mexico's prescribing-psychologist law dates from 2002."""
    p = provider(
        "PhD",
        licenses=(lic("NM", "PSYCHOLOGIST", issued=date(1995, 1, 1), expires=date(2003, 1, 1)),),
        prescriptive_certifications=frozenset({"NM"}),
    )
    assert not is_prescriber_in(p, "NM", date(2001, 6, 1))
    assert is_prescriber_in(p, "NM", date(2002, 6, 1))


def test_psychologist_with_only_a_compact_privilege_is_not_a_prescriber() -> None:
    """§3/§4.2: prescribing needs a full license in the patient's state; PSYPACT covers telepsychology only."""
    p = provider(
        "PhD",
        states=("AZ",),
        compact_privileges=(priv("PSYPACT", "ID"),),
        prescriptive_certifications=frozenset({"ID"}),
    )
    assert authority_in_state(p, "ID", VISIT) is not None
    assert not is_prescriber_in(p, "ID", VISIT)


def test_np_is_a_prescriber_in_every_practice_environment() -> None:
    """§3: NPs may prescribe in all states and DC; independence (full/reduced/restricted) is not recorded."""
    for state in ("WY", "TX", "CA", "DC"):
        assert is_prescriber_in(provider("PMHNP", states=(state,)), state, VISIT)


def test_capabilities_per_credential() -> None:
    """§3 table: diagnosis for LCSW/LPC/LMFT is a per-state flag (unknown without data); PA psychotherapy varies."""
    assert capability_in_state("MD", "diagnose", "WY") is True
    assert capability_in_state("MD", "order_labs", "WY") is True
    assert capability_in_state("LCSW", "diagnose", "WY") is None
    assert capability_in_state("LPC", "diagnose", "WY") is None
    assert capability_in_state("LMFT", "diagnose", "WY") is None
    assert capability_in_state("LCSW", "psychotherapy", "WY") is True
    assert capability_in_state("PA", "psychotherapy", "WY") is None
    assert capability_in_state("PhD", "order_labs", "NM") is None  # "per state law", no data
    assert capability_in_state("PhD", "prescribe", "NM") is True
    assert capability_in_state("PhD", "prescribe", "CA") is False
    assert capability_in_state("ND", "prescribe", "WY") is False


# --------------------------------------------------------------------------------------------------------------
# Controlled substances (spec §3, §4.3: DEA registration valid in the patient's state)


def test_md_with_dea_in_patient_state_prescribes_controlled() -> None:
    """§4.3: DEA-registered in the state where the patient is located."""
    p = provider("MD", dea_registrations=(dea("WY"),))
    assert can_prescribe_controlled(p, "WY", VISIT, "2")
    assert can_prescribe_controlled(p, "WY", VISIT, "4")


def test_dea_registration_in_another_state_does_not_count() -> None:
    """§4.3: the DEA registration must be for the patient's state."""
    p = provider("MD", states=("WY", "CO"), dea_registrations=(dea("CO"),))
    assert not can_prescribe_controlled(p, "WY", VISIT, "4")
    assert can_prescribe_controlled(p, "CO", VISIT, "4")


def test_dea_registration_expired_or_missing_schedule() -> None:
    """§4.3: the registration must be valid on the date and list the schedule."""
    expired = provider("MD", dea_registrations=(dea("WY", expires=VISIT - timedelta(days=1)),))
    assert not can_prescribe_controlled(expired, "WY", VISIT, "4")
    no_expiry = provider("MD", dea_registrations=(dea("WY", expires=None),))
    assert not can_prescribe_controlled(no_expiry, "WY", VISIT, "4")
    narrow = provider("MD", dea_registrations=(dea("WY", schedules=("3", "4", "5")),))
    assert not can_prescribe_controlled(narrow, "WY", VISIT, "2")
    assert can_prescribe_controlled(narrow, "WY", VISIT, "3")


def test_dea_without_license_is_not_enough() -> None:
    """§3: controlled prescribing needs the prescriber's license in the state as well as the DEA registration."""
    p = provider("MD", states=("CO",), dea_registrations=(dea("WY"),))
    assert not can_prescribe_controlled(p, "WY", VISIT, "4")


def test_np_schedule_ii_denied_while_state_restrictions_are_unknown() -> None:
    """§3 'some states restrict Schedule II' for NPs, no per-state data (§9 item 15): deny II by default."""
    p = provider("PMHNP", dea_registrations=(dea("WY"),))
    assert not can_prescribe_controlled(p, "WY", VISIT, "2")
    assert not can_prescribe_controlled(p, "WY", VISIT, "2N")
    assert can_prescribe_controlled(p, "WY", VISIT, "3N")
    assert can_prescribe_controlled(
        p, "WY", VISIT, "2", rules=rules_with(allow_np_schedule_ii_when_unknown=True)
    )


def test_pa_controlled_with_dea() -> None:
    """§3: PA — controlled substances with DEA registration and state authority."""
    p = provider("PA", dea_registrations=(dea("WY"),))
    assert can_prescribe_controlled(p, "WY", VISIT, "2")


def test_prescribing_psychologist_controlled_substances_unknown_so_denied() -> None:
    """§3: prescribing psychologists' controlled-substance authority is 'per state law' with no data: denied."""
    p = provider(
        "PhD", states=("NM",), prescriptive_certifications=frozenset({"NM"}), dea_registrations=(dea("NM"),)
    )
    assert is_prescriber_in(p, "NM", VISIT)
    assert not can_prescribe_controlled(p, "NM", VISIT, "4")


def test_unknown_schedule_is_an_error() -> None:
    """§4.3: schedules are 2, 2N, 3, 3N, 4, 5."""
    with pytest.raises(ValueError, match="unknown controlled-substance schedule"):
        can_prescribe_controlled(provider("MD"), "WY", VISIT, "6")
    assert can_prescribe_controlled(provider("MD", dea_registrations=(dea("WY"),)), "WY", VISIT, "2n")


# --------------------------------------------------------------------------------------------------------------
# Roles (issue #4 pathway: therapy -> therapist; psychiatry -> prescriber; both -> one of each)


def test_roles_for_pathway() -> None:
    """§7.3 pathways as matched by issue #4."""
    assert roles_for_pathway("therapy") == ("therapist",)
    assert roles_for_pathway("psychiatry") == ("prescriber",)
    assert roles_for_pathway("both") == ("therapist", "prescriber")


def test_psychiatrist_offering_both_can_take_either_role() -> None:
    """§3: MD/DO psychiatrists provide psychotherapy and medication management."""
    p = provider("MD")
    assert role_for(p, "therapy", "WY", VISIT) == "therapist"
    assert role_for(p, "psychiatry", "WY", VISIT) == "prescriber"


def test_role_needs_the_offer() -> None:
    """Issue #4: 'offers therapy and/or medication management' is the provider's own choice."""
    meds_only = provider("MD", offers=frozenset({"medication_management"}))
    assert role_for(meds_only, "therapy", "WY", VISIT) is None
    therapy_only = provider("MD", offers=frozenset({"therapy"}))
    assert role_for(therapy_only, "psychiatry", "WY", VISIT) is None


def test_pa_is_not_matched_as_therapist() -> None:
    """§3: PA psychotherapy is 'Limited/varies' with no per-state data: not a therapist."""
    assert role_for(provider("PA"), "therapy", "WY", VISIT) is None
    assert role_for(provider("PA"), "psychiatry", "WY", VISIT) == "prescriber"


@pytest.mark.parametrize("credential", [*NEVER_PRESCRIBING, *PSYCHOLOGISTS])
def test_therapists_by_credential(credential: str) -> None:
    """§3: social workers, counselors, MFTs and psychologists provide psychotherapy."""
    p = provider(credential, licenses=(lic("WY", LICENSE_TYPE[credential]),))
    assert role_for(p, "therapy", "WY", VISIT) == "therapist"
    assert role_for(p, "psychiatry", "WY", VISIT) is None
