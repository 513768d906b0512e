"""Hypothesis properties of the directory rules (clinical-spec.md §3, §4.1, §4.2, §8.3; issue #4 matching)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from careweave.directory.rules import (
    DEFAULT_WEIGHTS,
    SCORE_PARTS,
    LicenseFact,
    Need,
    ProviderFacts,
    authority_in_state,
    exclusions,
    is_prescriber_in,
    load_rule_data,
    npi_is_valid,
    rank,
    score,
)
from tests.unit.directory.helpers import LICENSE_TYPE, NEVER_PRESCRIBING, PLAN, at, priv

STATES = ("WY", "NM", "CO", "TX", "AZ", "CA", "ID", "MT", "OH", "DC")
CREDENTIALS = tuple(LICENSE_TYPE)
CONDITIONS = ("depression", "anxiety", "PTSD", "bipolar disorder")
LANGUAGES = ("English", "Spanish", "Vietnamese")
MODALITIES = ("CBT", "DBT", "EMDR")
BASE_DAY = date(2026, 1, 1)

days = st.integers(min_value=-900, max_value=900).map(lambda n: BASE_DAY + timedelta(days=n))
optional_days = st.none() | days


@st.composite
def licenses(draw: st.DrawFn, credential: str) -> LicenseFact:
    issued = draw(optional_days)
    expires = draw(optional_days)
    if issued is not None and expires is not None and issued > expires:
        issued, expires = expires, issued
    license_type = draw(st.sampled_from((LICENSE_TYPE[credential], "MD", "LCSW")))
    return LicenseFact(
        state=draw(st.sampled_from(STATES)),
        license_type=license_type,
        number="N-1",
        status=draw(st.sampled_from(("active", "active", "inactive", "suspended", "expired"))),
        issued=issued,
        expires=expires,
    )


@st.composite
def providers(draw: st.DrawFn, provider_id: str | None = None) -> ProviderFacts:
    credential = draw(st.sampled_from(CREDENTIALS))
    capacity = draw(st.integers(min_value=0, max_value=5))
    return ProviderFacts(
        id=provider_id or draw(st.text(alphabet="abcdef", min_size=1, max_size=4)),
        name=draw(st.sampled_from(("Avery", "Blake", "Casey", "Dana"))),
        credential=credential,
        offers=frozenset(draw(st.sets(st.sampled_from(("therapy", "medication_management"))))),
        conditions=frozenset(draw(st.sets(st.sampled_from(CONDITIONS)))),
        modalities=frozenset(draw(st.sets(st.sampled_from(MODALITIES)))),
        languages=frozenset(draw(st.sets(st.sampled_from(LANGUAGES)))),
        gender=draw(st.sampled_from((None, "female", "male", "nonbinary"))),
        accepting_new_patients=draw(st.booleans()),
        capacity=capacity,
        active_patients=draw(st.integers(min_value=0, max_value=6)),
        licenses=tuple(draw(st.lists(licenses(credential), max_size=3))),
        compact_privileges=tuple(
            draw(
                st.lists(
                    st.builds(
                        priv,
                        st.sampled_from(("PSYPACT", "COUNSELING", "IMLC", "SOCIAL_WORK", "APRN_COMPACT")),
                        st.sampled_from(STATES),
                    ),
                    max_size=2,
                )
            )
        ),
        networks=frozenset(draw(st.sets(st.sampled_from((PLAN, "plan-b"))))),
        self_pay=draw(st.booleans()),
        care_team_patient_ids=frozenset(draw(st.sets(st.sampled_from(("pat-1", "pat-2"))))),
        collaborators=frozenset(draw(st.sets(st.sampled_from(("x1", "x2"))))),
        next_available=draw(st.none() | days.map(at)),
        prescriptive_certifications=frozenset(draw(st.sets(st.sampled_from(STATES)))),
    )


needs = st.builds(
    Need,
    pathway=st.sampled_from(("therapy", "psychiatry", "both")),
    state=st.sampled_from(STATES),
    on_date=days,
    plan_id=st.sampled_from((None, PLAN, "plan-b")),
    self_pay=st.booleans(),
    conditions=st.frozensets(st.sampled_from(CONDITIONS), max_size=2),
    language=st.sampled_from((None, *LANGUAGES)),
    gender=st.sampled_from((None, "female", "male")),
    modalities=st.frozensets(st.sampled_from(MODALITIES), max_size=2),
    patient_id=st.sampled_from((None, "pat-1")),
    other_clinician_ids=st.frozensets(st.sampled_from(("x1", "x2")), max_size=1),
)
roles = st.sampled_from(("therapist", "prescriber"))


@settings(max_examples=80, deadline=None)
@given(st.lists(providers(), max_size=8), needs, roles)
def test_excluded_provider_never_ranks(pool: list[ProviderFacts], need: Need, role: str) -> None:
    """Issue #4: a provider who fails any hard filter is never shown; one who passes them all always is."""
    ranked_ids = [r.provider_id for r in rank(pool, need, role)]  # type: ignore[arg-type]
    eligible = [p.id for p in pool if not exclusions(p, need, role)]  # type: ignore[arg-type]
    assert sorted(ranked_ids) == sorted(eligible)


@settings(max_examples=50, deadline=None)
@given(st.lists(providers(), max_size=8), needs, roles, st.randoms(use_true_random=False))
def test_rank_is_deterministic_whatever_the_input_order(
    pool: list[ProviderFacts], need: Need, role: str, rnd: random.Random
) -> None:
    """Issue #4: stable, deterministic order (score, then name, then id)."""
    shuffled = pool[:]
    rnd.shuffle(shuffled)
    first = [(r.provider_id, r.score.total) for r in rank(pool, need, role)]  # type: ignore[arg-type]
    second = [(r.provider_id, r.score.total) for r in rank(shuffled, need, role)]  # type: ignore[arg-type]
    assert first == second
    totals = [total for _, total in first]
    assert totals == sorted(totals, reverse=True)


@settings(max_examples=100, deadline=None)
@given(providers(), needs, st.sampled_from(LANGUAGES))
def test_adding_a_matching_language_never_lowers_the_score(
    provider: ProviderFacts, need: Need, language: str
) -> None:
    """Issue #4 ranking: speaking the patient's language can only help."""
    need = replace(need, language=language)
    before = score(provider, need).total
    after = score(replace(provider, languages=provider.languages | {language}), need).total
    assert after >= before


@settings(max_examples=100, deadline=None)
@given(providers(), needs, st.sampled_from(CONDITIONS))
def test_treating_one_more_condition_never_lowers_the_score(
    provider: ProviderFacts, need: Need, condition: str
) -> None:
    """Issue #4 ranking: condition fit is monotone."""
    before = score(provider, need).total
    after = score(replace(provider, conditions=provider.conditions | {condition}), need).total
    assert after >= before


@settings(max_examples=100, deadline=None)
@given(providers(), needs)
def test_score_parts_are_bounded_by_their_weights(provider: ProviderFacts, need: Need) -> None:
    """Issue #4: every part is a fraction of its stated weight; the total is their sum."""
    breakdown = score(provider, need)
    assert tuple(breakdown.parts) == SCORE_PARTS
    for name, points in breakdown.parts.items():
        assert 0 <= points <= getattr(DEFAULT_WEIGHTS, name)
    assert abs(breakdown.total - sum(breakdown.parts.values())) < 1e-9


@settings(max_examples=100, deadline=None)
@given(providers(), st.sampled_from(STATES), days)
def test_psychologist_prescribes_only_in_a_verified_rxp_state_with_certificate(
    provider: ProviderFacts, state: str, on_date: date
) -> None:
    """§3: a psychologist is never a prescriber except in a verified RxP state, with that state's certificate and a
    full license there valid on the date."""
    psychologist = replace(provider, credential="PhD")
    rxp = load_rule_data().scope.rxp.get(state)
    licensed = any(
        lic.state == state
        and lic.status == "active"
        and lic.license_type in ("PSYCHOLOGIST", "PHD", "PSYD")
        and (lic.issued is None or lic.issued <= on_date)
        and lic.expires is not None
        and on_date <= lic.expires
        for lic in psychologist.licenses
    )
    expected = (
        rxp is not None
        and rxp.verified
        and on_date.year >= rxp.enacted_year
        and state in psychologist.prescriptive_certifications
        and licensed
    )
    assert is_prescriber_in(psychologist, state, on_date) is expected


@settings(max_examples=100, deadline=None)
@given(providers(), st.sampled_from(NEVER_PRESCRIBING), st.sampled_from(STATES), days)
def test_social_workers_counselors_mfts_never_prescribe(
    provider: ProviderFacts, credential: str, state: str, on_date: date
) -> None:
    """§3: LCSW/LPC/LMFT (and equivalents) never prescribe, whatever else is on record."""
    assert not is_prescriber_in(replace(provider, credential=credential), state, on_date)


@settings(max_examples=100, deadline=None)
@given(providers(), st.sampled_from(STATES), days)
def test_imlc_alone_never_gives_authority(provider: ProviderFacts, state: str, on_date: date) -> None:
    """§4.2: the IMLC grants no privilege to practise; removing every license removes every IMLC 'authority'."""
    physician = replace(
        provider,
        credential="MD",
        licenses=tuple(lic for lic in provider.licenses if lic.state != state),
        compact_privileges=(priv("IMLC", state, issued=None),),
    )
    assert authority_in_state(physician, state, on_date) is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.integers(0, 9), st.integers(0, 9))
def test_npi_single_digit_errors_are_caught(payload: str, position: int, delta: int) -> None:
    """§8.3 / CMS NPI check digit: exactly one check digit fits, and the Luhn digit catches any single-digit
    error."""
    valid = [payload + str(d) for d in range(10) if npi_is_valid(payload + str(d))]
    assert len(valid) == 1
    npi = valid[0]
    if delta:
        changed = npi[:position] + str((int(npi[position]) + delta) % 10) + npi[position + 1 :]
        assert not npi_is_valid(changed)
