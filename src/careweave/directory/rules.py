"""Licensure, scope of practice and explained matching as pure functions (``clinical-spec.md`` §3, §4, §8.3).

Nothing here touches the database, the clock or the network. The only I/O is reading the three rule-data files
in ``careweave/directory/data/`` once (:func:`load_rule_data`, cached); they are validated as they load, so a
bad file fails at start-up, not in the middle of a match.

* **Facts** (:class:`ProviderFacts`, :class:`LicenseFact`, :class:`CompactPrivilege`, :class:`DeaRegistration`,
  :class:`Need`) are what the persistence layer loads; they map 1:1 to stored rows.
* **Legal eligibility**: :func:`authority_in_state` (a full license, or a compact privilege in a state where the
  compact is in effect, spec §4.1–§4.2), :func:`is_prescriber_in` and :func:`can_prescribe_controlled`
  (spec §3 "platform implications", §4.3).
* **Matching**: :func:`exclusions` (every hard filter of issue #4, with a stable code and a plain reason),
  :func:`score` and :func:`rank` (stated weights, reasons and a breakdown on every result),
  :func:`suggest_pair` and :func:`explain_empty`; :func:`match` runs them for a whole pathway.

Conservative defaults (each documented where it is decided, and switchable in :class:`RulesConfig` where the
brief asks for it): an unverified rule grants nothing; a compact member state without a known effective date
grants nothing; the IMLC never grants practice; prescribing always needs a full license in the patient's state.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal, get_args

from careweave.core.geo import US_JURISDICTIONS

Pathway = Literal["therapy", "psychiatry", "both"]
PathwayPart = Literal["therapy", "psychiatry"]
Role = Literal["therapist", "prescriber"]
Urgency = Literal["emergency", "urgent", "routine"]
Offer = Literal["therapy", "medication_management"]
LicenseStatus = Literal["active", "inactive", "suspended", "expired"]
Discipline = Literal[
    "psychiatry",
    "psychiatric_nursing",
    "physician_assistant",
    "psychology",
    "social_work",
    "counseling",
    "marriage_family_therapy",
]
Capability = Literal["diagnose", "psychotherapy", "prescribe", "controlled_substances", "order_labs"]
Grant = Literal[
    "privilege_to_practice",
    "telepsychology_authority",
    "multistate_license",
    "expedited_license",
    "none_yet",
    "not_applicable",
]
EffectiveBasis = Literal["reported", "listed_by", "unknown", "not_applicable"]
ExclusionCode = Literal[
    "no_authority_in_state",
    "scope",
    "network",
    "not_accepting",
    "at_capacity",
    "condition_not_treated",
    "no_availability",
]
ConditionMatch = Literal["all", "any"]

# Hard filters of issue #4, in the order they are checked and reported.
EXCLUSION_CODES: tuple[ExclusionCode, ...] = get_args(ExclusionCode)
CAPABILITIES: tuple[Capability, ...] = get_args(Capability)
DISCIPLINES: frozenset[str] = frozenset(get_args(Discipline))
LICENSE_STATUSES: frozenset[str] = frozenset(get_args(LicenseStatus))
OFFERS: frozenset[str] = frozenset(get_args(Offer))
# Compacts whose privilege lets the holder practise in the member state (spec §4.2). The IMLC
# ("expedited_license") only speeds up a full license, which must then be recorded as a license.
PRACTICE_GRANTS: frozenset[str] = frozenset(
    {"privilege_to_practice", "telepsychology_authority", "multistate_license"}
)
# DEA registration schedules (21 CFR 1308; "N" = non-narcotic), spec §4.3.
DEA_SCHEDULES: frozenset[str] = frozenset({"2", "2N", "3", "3N", "4", "5"})
SCHEDULE_II: frozenset[str] = frozenset({"2", "2N"})
ROLE_FOR_PART: Mapping[PathwayPart, Role] = MappingProxyType(
    {"therapy": "therapist", "psychiatry": "prescriber"}
)
ROLES_FOR_PATHWAY: Mapping[Pathway, tuple[Role, ...]] = MappingProxyType(
    {"therapy": ("therapist",), "psychiatry": ("prescriber",), "both": ("therapist", "prescriber")}
)
ROLE_NOUN: Mapping[Role, str] = MappingProxyType(
    {"therapist": "therapist", "prescriber": "psychiatric prescriber"}
)

_CAPABILITY_VALUES: Mapping[str, frozenset[str]] = MappingProxyType(
    {cap: frozenset({"yes", "no", "per_state"}) for cap in CAPABILITIES}
    | {"controlled_substances": frozenset({"with_dea", "no", "per_state"})}
)
_NUCC = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")
_DATA_PACKAGE = "careweave.directory"
_DATA_FILES = ("credentials", "compacts", "scope_rules")


# Display names for the language tags used in intake and profiles (BCP 47 primary subtags).
LANGUAGE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "en": "English",
        "es": "Spanish",
        "zh": "Chinese",
        "vi": "Vietnamese",
        "tl": "Tagalog",
        "ar": "Arabic",
        "fr": "French",
        "ko": "Korean",
        "ru": "Russian",
        "ht": "Haitian Creole",
        "pt": "Portuguese",
        "de": "German",
        "hi": "Hindi",
        "ja": "Japanese",
        "pl": "Polish",
        "it": "Italian",
        "fa": "Persian",
        "ur": "Urdu",
        "asl": "American Sign Language",
    }
)


# --------------------------------------------------------------------------------------------------------------
# NPI


def offers_from(*, therapy: bool, medication_management: bool) -> frozenset[str]:
    """A provider's offers (OFFERS) from the two flags the directory stores."""
    return frozenset(
        o for o, on in (("therapy", therapy), ("medication_management", medication_management)) if on
    )


def npi_is_valid(npi: str) -> bool:
    """True when ``npi`` is 10 ASCII digits whose last digit is the NPI check digit.

    CMS, "Requirements for National Provider Identifier (NPI) and NPI Enumeration" / "NPI check digit"
    (NPIcheckdigit.pdf): the check digit is the Luhn (ISO/IEC 7812) mod-10 "double-add-double" digit computed
    over the card-issuer prefix 80840 followed by the first nine digits of the NPI. Valid example from that
    document: 1234567893. The check digit proves the number is well-formed, not that CMS issued it.
    """
    if len(npi) != 10 or not (npi.isascii() and npi.isdigit()):
        return False
    return _luhn_check_digit("80840" + npi[:9]) == int(npi[9])


def _luhn_check_digit(payload: str) -> int:
    total = 0
    # Double every second digit starting with the rightmost digit of the payload (the check digit's neighbour).
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return (10 - total % 10) % 10


# --------------------------------------------------------------------------------------------------------------
# Rule data (credentials.json, compacts.json, scope_rules.json)


class RuleDataError(ValueError):
    """A rule-data file is malformed: raised when it is loaded, never during a match."""


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    title: str
    url: str | None
    date: date | None


@dataclass(frozen=True, slots=True)
class CredentialSpec:
    """One credential of ``credentials.json``: capability values are "yes", "no", "per_state" or "with_dea"."""

    code: str
    name: str
    discipline: Discipline
    capabilities: Mapping[str, str]
    nucc_taxonomy: tuple[str, ...]
    license_types: frozenset[str]  # upper case
    compacts: tuple[str, ...]
    v2_0360: str | None


@dataclass(frozen=True, slots=True)
class CompactMember:
    state: str
    effective: date | None  # when practice under the compact became available there; None: not (known) yet
    effective_basis: EffectiveBasis
    verified: bool
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompactSpec:
    code: str
    name: str
    credentials: frozenset[str]  # canonical credential codes
    grants: Grant
    operational_since: date | None
    as_of: date
    verified: bool
    complete: bool
    members: Mapping[str, CompactMember]
    sources: Mapping[str, Source]
    notes: tuple[str, ...]

    @property
    def grants_practice(self) -> bool:
        return self.grants in PRACTICE_GRANTS


@dataclass(frozen=True, slots=True)
class RxpJurisdiction:
    """A jurisdiction where specially certified psychologists may prescribe (spec §3 RxP table)."""

    state: str
    enacted_year: int
    verified: bool
    controlled_substances: bool | None  # None: unknown (not granted)
    order_labs: bool | None
    notes: str


@dataclass(frozen=True, slots=True)
class ScopeRules:
    rxp: Mapping[str, RxpJurisdiction]
    rxp_as_of: date
    np_schedule_ii_restricted: Mapping[str, bool]  # state -> restricted; missing: unknown
    np_practice_environment: Mapping[str, str]  # informational, unverified (see scope_rules.json)
    np_practice_as_of: date
    # discipline -> capability -> state -> allowed (capabilities marked per_state in credentials.json)
    per_state: Mapping[str, Mapping[str, Mapping[str, bool]]]


@dataclass(frozen=True, slots=True)
class RuleData:
    credentials: Mapping[str, CredentialSpec]  # keyed by upper-case code
    compacts: Mapping[str, CompactSpec]  # keyed by upper-case code
    scope: ScopeRules

    def credential(self, code: str) -> CredentialSpec | None:
        return self.credentials.get(code.upper())

    def compact(self, code: str) -> CompactSpec | None:
        return self.compacts.get(code.upper())


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Switches for the conservative defaults. Every default is the conservative reading."""

    # Spec §3/§9 item 7: Colorado and Utah RxP rest on one secondary source; do not grant unless verified.
    grant_unverified_rxp: bool = False
    # Compact members are granted only when their membership is corroborated (see compacts.json notes).
    require_verified_compact_membership: bool = True
    # Spec §3: "some states restrict Schedule II" for NPs, no per-state data (§9 item 15): deny when unknown.
    allow_np_schedule_ii_when_unknown: bool = False
    # Issue #4 "treats the condition": every requested condition ("all") or at least one ("any").
    condition_match: ConditionMatch = "all"

    def __post_init__(self) -> None:
        if self.condition_match not in get_args(ConditionMatch):
            raise ValueError(f"condition_match must be one of {get_args(ConditionMatch)}")


@dataclass(frozen=True, slots=True)
class RuleSet:
    data: RuleData
    config: RulesConfig = field(default_factory=RulesConfig)


def _fail(where: str, message: str) -> RuleDataError:
    return RuleDataError(f"{where}: {message}")


def _get(obj: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise _fail(where, f"missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _fail(where, f"{key!r} has the wrong type ({type(value).__name__})")
    return value


def _opt_date(obj: Mapping[str, Any], key: str, where: str) -> date | None:
    value = _get(obj, key, where, (str, type(None)))
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(where, f"{key!r} is not an ISO date: {value!r}") from None


def _req_date(obj: Mapping[str, Any], key: str, where: str) -> date:
    value = _opt_date(obj, key, where)
    if value is None:
        raise _fail(where, f"{key!r} must be a date")
    return value


def _state(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in US_JURISDICTIONS:
        raise _fail(where, f"unknown state {value!r}")
    return value


def _tristate(value: Any, where: str) -> bool | None:
    mapping = {"yes": True, "no": False, "unknown": None}
    if value not in mapping:
        raise _fail(where, f"expected yes/no/unknown, got {value!r}")
    return mapping[value]


def _strings(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = _get(obj, key, where, list)
    if not all(isinstance(v, str) and v for v in values):
        raise _fail(where, f"{key!r} must be a list of non-empty strings")
    return tuple(values)


def _sources(raw: Any, where: str) -> Mapping[str, Source]:
    if not isinstance(raw, list):
        raise _fail(where, "'sources' must be a list")
    out: dict[str, Source] = {}
    for i, item in enumerate(raw):
        at = f"{where} source {i}"
        sid = _get(item, "id", at, str)
        if sid in out:
            raise _fail(at, f"duplicate source id {sid!r}")
        out[sid] = Source(sid, _get(item, "title", at, str), item.get("url"), _opt_date(item, "date", at))
    return MappingProxyType(out)


def _parse_credential(item: Mapping[str, Any], where: str) -> CredentialSpec:
    code = _get(item, "code", where, str)
    discipline = _get(item, "discipline", where, str)
    if discipline not in DISCIPLINES:
        raise _fail(where, f"unknown discipline {discipline!r}")
    caps = _get(item, "capabilities", where, dict)
    if set(caps) != set(CAPABILITIES):
        raise _fail(where, f"capabilities must be exactly {sorted(CAPABILITIES)}")
    for cap, value in caps.items():
        if value not in _CAPABILITY_VALUES[cap]:
            raise _fail(where, f"capability {cap}={value!r} is not one of {sorted(_CAPABILITY_VALUES[cap])}")
    nucc = _strings(item, "nucc_taxonomy", where)
    if bad := [c for c in nucc if not _NUCC.match(c)]:
        raise _fail(where, f"malformed NUCC taxonomy codes {bad}")
    license_types = frozenset(t.upper() for t in _strings(item, "license_types", where))
    if not license_types:
        raise _fail(where, "license_types must not be empty")
    return CredentialSpec(
        code=code,
        name=_get(item, "name", where, str),
        discipline=discipline,
        capabilities=MappingProxyType(dict(caps)),
        nucc_taxonomy=nucc,
        license_types=license_types,
        compacts=tuple(c.upper() for c in _strings(item, "compacts", where)),
        v2_0360=_get(item, "v2_0360", where, (str, type(None))),
    )


def _parse_credentials(raw: Mapping[str, Any]) -> Mapping[str, CredentialSpec]:
    out: dict[str, CredentialSpec] = {}
    by_discipline: dict[str, Mapping[str, str]] = {}
    for i, item in enumerate(_get(raw, "credentials", "credentials.json", list)):
        spec = _parse_credential(item, f"credentials.json credential {i}")
        key = spec.code.upper()
        if key in out:
            raise _fail("credentials.json", f"duplicate credential {spec.code!r}")
        first = by_discipline.setdefault(spec.discipline, spec.capabilities)
        if dict(first) != dict(spec.capabilities):
            raise _fail(
                "credentials.json", f"{spec.code}: capabilities differ from others in {spec.discipline}"
            )
        out[key] = spec
    return MappingProxyType(out)


def _parse_member(item: Mapping[str, Any], where: str, sources: Mapping[str, Source]) -> CompactMember:
    state = _state(_get(item, "state", where, str), where)
    effective = _opt_date(item, "effective", where)
    basis = _get(item, "effective_basis", where, str)
    if basis not in get_args(EffectiveBasis):
        raise _fail(where, f"unknown effective_basis {basis!r}")
    if (effective is None) != (basis in ("unknown", "not_applicable")):
        raise _fail(where, f"effective {effective} does not agree with effective_basis {basis!r}")
    member_sources = _strings(item, "sources", where)
    if missing := [s for s in member_sources if s not in sources]:
        raise _fail(where, f"unknown sources {missing}")
    return CompactMember(state, effective, basis, _get(item, "verified", where, bool), member_sources)


def _parse_compact(
    item: Mapping[str, Any], where: str, credentials: Mapping[str, CredentialSpec]
) -> CompactSpec:
    code = _get(item, "code", where, str)
    grants = _get(item, "grants", where, str)
    if grants not in get_args(Grant):
        raise _fail(where, f"unknown grants {grants!r}")
    covered: set[str] = set()
    for name in _strings(item, "credentials", where):
        spec = credentials.get(name.upper())
        if spec is None:
            raise _fail(where, f"unknown credential {name!r}")
        covered.add(spec.code)
    sources = _sources(item.get("sources"), where)
    members: dict[str, CompactMember] = {}
    for j, raw_member in enumerate(_get(item, "members", where, list)):
        member = _parse_member(raw_member, f"{where} member {j}", sources)
        if member.state in members:
            raise _fail(where, f"duplicate member {member.state}")
        if member.effective is not None and grants not in PRACTICE_GRANTS:
            raise _fail(where, f"{member.state}: an effective date on a compact that grants no practice")
        members[member.state] = member
    return CompactSpec(
        code=code.upper(),
        name=_get(item, "name", where, str),
        credentials=frozenset(covered),
        grants=grants,
        operational_since=_opt_date(item, "operational_since", where),
        as_of=_req_date(item, "as_of", where),
        verified=_get(item, "verified", where, bool),
        complete=_get(item, "complete", where, bool),
        members=MappingProxyType(members),
        sources=sources,
        notes=_strings(item, "notes", where),
    )


def _parse_compacts(
    raw: Mapping[str, Any], credentials: Mapping[str, CredentialSpec]
) -> Mapping[str, CompactSpec]:
    out: dict[str, CompactSpec] = {}
    for i, item in enumerate(_get(raw, "compacts", "compacts.json", list)):
        spec = _parse_compact(item, f"compacts.json compact {i}", credentials)
        if spec.code in out:
            raise _fail("compacts.json", f"duplicate compact {spec.code}")
        out[spec.code] = spec
    for cred in credentials.values():
        for code in cred.compacts:
            if code not in out:
                raise _fail("credentials.json", f"{cred.code}: unknown compact {code!r}")
            if cred.code not in out[code].credentials:
                raise _fail("compacts.json", f"{code} does not list credential {cred.code} that names it")
    for compact in out.values():
        for name in compact.credentials:
            if compact.code not in credentials[name.upper()].compacts:
                raise _fail("credentials.json", f"{name} does not name compact {compact.code} that covers it")
    return MappingProxyType(out)


def _parse_rxp(raw: Mapping[str, Any]) -> tuple[Mapping[str, RxpJurisdiction], date]:
    where = "scope_rules.json psychologist_prescriptive_authority"
    block = _get(raw, "psychologist_prescriptive_authority", "scope_rules.json", dict)
    out: dict[str, RxpJurisdiction] = {}
    for i, item in enumerate(_get(block, "jurisdictions", where, list)):
        at = f"{where} jurisdiction {i}"
        state = _state(_get(item, "state", at, str), at)
        if state in out:
            raise _fail(at, f"duplicate {state}")
        out[state] = RxpJurisdiction(
            state=state,
            enacted_year=_get(item, "enacted_year", at, int),
            verified=_get(item, "verified", at, bool),
            controlled_substances=_tristate(item.get("controlled_substances"), at),
            order_labs=_tristate(item.get("order_labs"), at),
            notes=_get(item, "notes", at, str),
        )
    return MappingProxyType(out), _req_date(block, "as_of", where)


def _state_flags(raw: Any, where: str, allowed: frozenset[str]) -> Mapping[str, bool]:
    if not isinstance(raw, dict):
        raise _fail(where, "expected an object of state flags")
    out: dict[str, bool] = {}
    for state, value in raw.items():
        if value not in allowed:
            raise _fail(where, f"{state}: expected one of {sorted(allowed)}, got {value!r}")
        out[_state(state, where)] = value in ("yes", True)
    return MappingProxyType(out)


def _parse_per_state(raw: Mapping[str, Any], credentials: Mapping[str, CredentialSpec]) -> Mapping[str, Any]:
    where = "scope_rules.json per_state_capabilities"
    block = _get(_get(raw, "per_state_capabilities", "scope_rules.json", dict), "disciplines", where, dict)
    per_discipline = {c.discipline: c.capabilities for c in credentials.values()}
    out: dict[str, Mapping[str, Mapping[str, bool]]] = {}
    for discipline, caps in block.items():
        if discipline not in per_discipline:
            raise _fail(where, f"unknown discipline {discipline!r}")
        parsed: dict[str, Mapping[str, bool]] = {}
        for cap, flags in caps.items():
            if per_discipline[discipline].get(cap) != "per_state":
                raise _fail(where, f"{discipline}.{cap} is not marked per_state in credentials.json")
            parsed[cap] = _state_flags(flags, f"{where} {discipline}.{cap}", frozenset({"yes", "no"}))
        out[discipline] = MappingProxyType(parsed)
    return MappingProxyType(out)


def _parse_scope(raw: Mapping[str, Any], credentials: Mapping[str, CredentialSpec]) -> ScopeRules:
    rxp, rxp_as_of = _parse_rxp(raw)
    np_block = _get(raw, "nurse_practitioner", "scope_rules.json", dict)
    where = "scope_rules.json nurse_practitioner"
    environment = _get(np_block, "practice_environment", where, dict)
    states = _get(environment, "states", f"{where}.practice_environment", dict)
    for state, value in states.items():
        _state(state, f"{where}.practice_environment")
        if value not in ("full", "reduced", "restricted"):
            raise _fail(where, f"practice environment {state}={value!r}")
    return ScopeRules(
        rxp=rxp,
        rxp_as_of=rxp_as_of,
        np_schedule_ii_restricted=_state_flags(
            _get(np_block, "schedule_ii_restricted", where, dict), where, frozenset({True, False})
        ),
        np_practice_environment=MappingProxyType(dict(states)),
        np_practice_as_of=_req_date(environment, "as_of", f"{where}.practice_environment"),
        per_state=_parse_per_state(raw, credentials),
    )


def parse_rule_data(
    credentials: Mapping[str, Any], compacts: Mapping[str, Any], scope_rules: Mapping[str, Any]
) -> RuleData:
    """Validate and freeze the three decoded JSON documents. Raises :class:`RuleDataError`."""
    creds = _parse_credentials(credentials)
    return RuleData(
        credentials=creds, compacts=_parse_compacts(compacts, creds), scope=_parse_scope(scope_rules, creds)
    )


def read_rule_documents() -> dict[str, Any]:
    """The three packaged JSON documents, decoded (for :func:`parse_rule_data` and tests)."""
    folder = resources.files(_DATA_PACKAGE).joinpath("data")
    return {name: json.loads(folder.joinpath(f"{name}.json").read_text("utf-8")) for name in _DATA_FILES}


@functools.cache
def load_rule_data() -> RuleData:
    """The packaged rule data, read and validated once per process."""
    docs = read_rule_documents()
    return parse_rule_data(docs["credentials"], docs["compacts"], docs["scope_rules"])


@functools.cache
def default_rules() -> RuleSet:
    return RuleSet(load_rule_data(), RulesConfig())


def _rules(rules: RuleSet | None) -> RuleSet:
    return rules if rules is not None else default_rules()


def is_known_credential(code: str, *, rules: RuleSet | None = None) -> bool:
    return _rules(rules).data.credential(code) is not None


def credential_spec(code: str, *, rules: RuleSet | None = None) -> CredentialSpec | None:
    return _rules(rules).data.credential(code)


# --------------------------------------------------------------------------------------------------------------
# Facts (what the persistence layer stores; see the module docstring)


def _check_state(state: str, what: str) -> None:
    if state not in US_JURISDICTIONS:
        raise ValueError(f"{what}: unknown state {state!r} (use the USPS code, e.g. 'WY')")


def _check_period(start: date | None, end: date | None, what: str) -> None:
    if start is not None and end is not None and start > end:
        raise ValueError(f"{what}: issued {start} is after expires {end}")


@dataclass(frozen=True, slots=True)
class LicenseFact:
    state: str
    license_type: str
    number: str
    status: LicenseStatus
    issued: date | None = None
    expires: date | None = None

    def __post_init__(self) -> None:
        _check_state(self.state, "license")
        if self.status not in LICENSE_STATUSES:
            raise ValueError(f"license: unknown status {self.status!r}")
        _check_period(self.issued, self.expires, "license")


@dataclass(frozen=True, slots=True)
class CompactPrivilege:
    compact: str  # compacts.json code, e.g. "PSYPACT"
    state: str  # the remote state the privilege is for
    status: LicenseStatus
    issued: date | None = None
    expires: date | None = None

    def __post_init__(self) -> None:
        _check_state(self.state, "compact privilege")
        if self.status not in LICENSE_STATUSES:
            raise ValueError(f"compact privilege: unknown status {self.status!r}")
        _check_period(self.issued, self.expires, "compact privilege")


@dataclass(frozen=True, slots=True)
class DeaRegistration:
    state: str
    schedules: frozenset[str]
    expires: date | None

    def __post_init__(self) -> None:
        _check_state(self.state, "DEA registration")
        object.__setattr__(self, "schedules", frozenset(s.upper() for s in self.schedules))
        if unknown := self.schedules - DEA_SCHEDULES:
            raise ValueError(f"DEA registration: unknown schedules {sorted(unknown)}")


_PROVIDER_SETS = (
    "offers",
    "conditions",
    "modalities",
    "languages",
    "networks",
    "care_team_patient_ids",
    "collaborators",
    "prescriptive_certifications",
)


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    id: str
    name: str
    credential: str
    offers: frozenset[str] = frozenset()
    conditions: frozenset[str] = frozenset()
    modalities: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    gender: str | None = None
    accepting_new_patients: bool = True
    capacity: int = 0
    active_patients: int = 0
    licenses: tuple[LicenseFact, ...] = ()
    compact_privileges: tuple[CompactPrivilege, ...] = ()
    dea_registrations: tuple[DeaRegistration, ...] = ()
    networks: frozenset[str] = frozenset()  # plan ids
    self_pay: bool = False
    care_team_patient_ids: frozenset[str] = frozenset()
    collaborators: frozenset[str] = frozenset()  # provider ids they share patients with
    # Earliest free start for the role's first visit in the need's window (see ``schedule_published``).
    next_available: datetime | None = None
    prescriptive_certifications: frozenset[str] = frozenset()  # states of a psychologist's RxP certificate
    # Whether availability was looked up: None, not looked up (no availability filter; ``next_available`` only
    # ranks); True, the provider has a schedule and ``next_available`` None means no free time in the window;
    # False, no published schedule, so no time can be booked (filtered as unavailable).
    schedule_published: bool | None = None

    def __post_init__(self) -> None:
        for name in _PROVIDER_SETS:
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        for name in ("licenses", "compact_privileges", "dea_registrations"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if unknown := self.offers - OFFERS:
            raise ValueError(f"provider {self.id}: unknown offers {sorted(unknown)}")
        if self.capacity < 0 or self.active_patients < 0:
            raise ValueError(f"provider {self.id}: capacity and active_patients must be >= 0")
        for state in self.prescriptive_certifications:
            _check_state(state, f"provider {self.id} prescriptive certification")


@dataclass(frozen=True, slots=True)
class Need:
    """What the patient needs. ``state`` is where the patient will physically be at the visit (spec §4.1)."""

    pathway: Pathway
    state: str
    on_date: date
    plan_id: str | None = None
    self_pay: bool = False
    conditions: frozenset[str] = frozenset()
    language: str | None = None
    gender: str | None = None
    modalities: frozenset[str] = frozenset()
    urgency: Urgency = "routine"
    patient_id: str | None = None
    other_clinician_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.pathway not in ROLES_FOR_PATHWAY:
            raise ValueError(f"need: unknown pathway {self.pathway!r}")
        if self.urgency not in get_args(Urgency):
            raise ValueError(f"need: unknown urgency {self.urgency!r}")
        _check_state(self.state, "need")
        for name in ("conditions", "modalities", "other_clinician_ids"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))


# --------------------------------------------------------------------------------------------------------------
# Authority in a state (spec §4.1, §4.2)


def state_name(code: str) -> str:
    return US_JURISDICTIONS.get(code, code)


@functools.lru_cache(maxsize=4096)
def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


@dataclass(frozen=True, slots=True)
class Authority:
    """Why a provider may practise in a state on a date: a full license, or a compact privilege."""

    kind: Literal["license", "compact_privilege"]
    state: str
    reason: str
    valid_until: date | None
    license: LicenseFact | None = None
    privilege: CompactPrivilege | None = None


def _period_problem(what: str, issued: date | None, expires: date | None, on_date: date) -> str | None:
    # Valid when issued <= on_date <= expires. An unknown issue date is accepted (the record exists and is
    # active); an unknown expiry is not, because nothing then shows the license is still valid on the visit date.
    if issued is not None and issued > on_date:
        return f"the {what} starts on {long_date(issued)}"
    if expires is None:
        return f"the {what} has no expiry date on record"
    if expires < on_date:
        return f"the {what} expired on {long_date(expires)}"
    return None


def _license_problem(lic: LicenseFact, spec: CredentialSpec, on_date: date) -> str | None:
    what = f"{state_name(lic.state)} license {lic.number}"
    if lic.license_type.upper() not in spec.license_types:
        return f"the {what} is a {lic.license_type} license, which does not cover {spec.code} practice"
    if lic.status != "active":
        return f"the {what} is {lic.status}"
    return _period_problem(what, lic.issued, lic.expires, on_date)


def _license_authority(
    provider: ProviderFacts, spec: CredentialSpec, state: str, on_date: date
) -> Authority | None:
    valid = [
        lic
        for lic in provider.licenses
        if lic.state == state and _license_problem(lic, spec, on_date) is None
    ]
    if not valid:
        return None
    best = max(valid, key=lambda lic: (lic.expires or date.min, lic.number))
    assert best.expires is not None  # _license_problem refuses an unknown expiry
    reason = (
        f"Licensed in {state_name(state)} (license {best.number}, valid through {long_date(best.expires)})"
    )
    return Authority("license", state, reason, best.expires, license=best)


def _membership_problem(compact: CompactSpec, state: str, on_date: date, config: RulesConfig) -> str | None:
    name = state_name(state)
    member = compact.members.get(state)
    if member is None:
        return f"{name} is not a {compact.name} member in Careweave's data (as of {long_date(compact.as_of)})"
    if member.effective is None:
        return f"{compact.name} is not yet in effect in {name}"
    if member.effective > on_date:
        return f"{compact.name} takes effect in {name} on {long_date(member.effective)}"
    if config.require_verified_compact_membership and not member.verified:
        return f"{name}'s {compact.name} membership is not yet verified"
    return None


def _compact_problem(compact: CompactSpec, spec: CredentialSpec, on_date: date) -> str | None:
    if not compact.grants_practice:
        if compact.grants == "expedited_license":
            return (
                f"the {compact.name} only speeds up getting a full license; it grants no practice by itself"
            )
        return f"the {compact.name} does not grant practice yet"
    if spec.code not in compact.credentials:
        return f"the {compact.name} does not cover {spec.code} clinicians"
    if compact.operational_since is not None and compact.operational_since > on_date:
        return f"the {compact.name} is operational only from {long_date(compact.operational_since)}"
    return None


def _home_license_problem(
    provider: ProviderFacts, spec: CredentialSpec, compact: CompactSpec, on_date: date, config: RulesConfig
) -> str | None:
    # Every practice-granting compact works from an active, unencumbered license in a home state that is itself
    # a member (spec §4.2: PSYPACT "from the home state"; Counseling Compact "unencumbered home-state license").
    for lic in provider.licenses:
        if _license_problem(lic, spec, on_date) is None and not _membership_problem(
            compact, lic.state, on_date, config
        ):
            return None
    return f"no valid home-state license in a {compact.name} member state"


def _privilege_problem(
    provider: ProviderFacts, spec: CredentialSpec, priv: CompactPrivilege, on_date: date, rules: RuleSet
) -> str | None:
    compact = rules.data.compact(priv.compact)
    if compact is None or (problem := _compact_problem(compact, spec, on_date)):
        return problem if compact is not None else f"the compact {priv.compact!r} is unknown"
    label = f"{state_name(priv.state)} {compact.name} privilege"
    if priv.status != "active":
        return f"the {label} is {priv.status}"
    return (
        _period_problem(label, priv.issued, priv.expires, on_date)
        or _membership_problem(compact, priv.state, on_date, rules.config)
        or _home_license_problem(provider, spec, compact, on_date, rules.config)
    )


def _compact_authority(
    provider: ProviderFacts, spec: CredentialSpec, state: str, on_date: date, rules: RuleSet
) -> Authority | None:
    valid = [
        priv
        for priv in provider.compact_privileges
        if priv.state == state and _privilege_problem(provider, spec, priv, on_date, rules) is None
    ]
    if not valid:
        return None
    best = max(valid, key=lambda priv: (priv.expires or date.min, priv.compact))
    compact = rules.data.compact(best.compact)
    assert compact is not None
    assert best.expires is not None  # _period_problem refuses an unknown expiry
    kind = compact.grants.replace("_", " ")
    reason = (
        f"Can practice in {state_name(state)} under the {compact.name} "
        f"({kind}, valid through {long_date(best.expires)})"
    )
    return Authority("compact_privilege", state, reason, best.expires, privilege=best)


def authority_in_state(
    provider: ProviderFacts, state: str, on_date: date, *, rules: RuleSet | None = None
) -> Authority | None:
    """A full license valid in ``state`` on ``on_date``, else a valid compact privilege there, else None.

    Spec §4.1: care is delivered where the patient is at the time of the visit. Spec §4.2: a compact privilege
    counts only when the compact grants practice, covers the credential, is in effect in that state on that date
    (dated membership data), and the provider holds a valid home-state license in a member state.
    """
    rs = _rules(rules)
    spec = rs.data.credential(provider.credential)
    if spec is None:
        return None
    return _license_authority(provider, spec, state, on_date) or _compact_authority(
        provider, spec, state, on_date, rs
    )


def authority_problems(
    provider: ProviderFacts, state: str, on_date: date, *, rules: RuleSet | None = None
) -> tuple[str, ...]:
    """Why each license and privilege held for ``state`` does not authorise practice there on ``on_date``."""
    rs = _rules(rules)
    spec = rs.data.credential(provider.credential)
    if spec is None:
        return (f"{provider.credential!r} is not a credential Careweave knows",)
    problems = [
        problem
        for lic in provider.licenses
        if lic.state == state and (problem := _license_problem(lic, spec, on_date))
    ]
    problems += [
        problem
        for priv in provider.compact_privileges
        if priv.state == state and (problem := _privilege_problem(provider, spec, priv, on_date, rs))
    ]
    return tuple(problems) or (f"no license or compact privilege for {state_name(state)}",)


# --------------------------------------------------------------------------------------------------------------
# Scope of practice (spec §3)


def capability_in_state(
    credential: str, capability: Capability, state: str, *, rules: RuleSet | None = None
) -> bool | None:
    """Whether the credential's scope includes ``capability`` in ``state``: True, False, or None (unknown).

    "with_dea" counts as True (the DEA registration is checked by :func:`can_prescribe_controlled`). For
    psychologists, True for ``prescribe`` means the state has prescribing psychologists; the individual still
    needs that state's certificate (:func:`is_prescriber_in`).
    """
    rs = _rules(rules)
    spec = rs.data.credential(credential)
    if spec is None:
        return False
    value = spec.capabilities[capability]
    if value != "per_state":
        return value != "no"
    if spec.discipline == "psychology":
        return _rxp_capability(rs, capability, state)
    return rs.data.scope.per_state.get(spec.discipline, {}).get(capability, {}).get(state)


def _rxp_capability(rs: RuleSet, capability: Capability, state: str) -> bool | None:
    jurisdiction = rs.data.scope.rxp.get(state)
    if jurisdiction is None:
        return False
    if not (jurisdiction.verified or rs.config.grant_unverified_rxp):
        return None
    if capability == "prescribe":
        return True
    if capability == "controlled_substances":
        return jurisdiction.controlled_substances
    return jurisdiction.order_labs


def _rxp_problem(provider: ProviderFacts, state: str, on_date: date, rs: RuleSet) -> str | None:
    name = state_name(state)
    jurisdiction = rs.data.scope.rxp.get(state)
    if jurisdiction is None:
        return f"psychologists cannot prescribe in {name}"
    if not (jurisdiction.verified or rs.config.grant_unverified_rxp):
        return f"prescribing by psychologists in {name} is not verified"
    if on_date.year < jurisdiction.enacted_year:
        return f"psychologists could not prescribe in {name} before {jurisdiction.enacted_year}"
    if state not in provider.prescriptive_certifications:
        return f"holds no {name} prescribing-psychologist certificate"
    return None


def _prescribing_problem(
    provider: ProviderFacts, spec: CredentialSpec | None, state: str, on_date: date, rs: RuleSet
) -> str | None:
    """Why the credential (and, for psychologists, the certificate) does not allow prescribing in ``state``."""
    if spec is None:
        return f"{provider.credential!r} is not a credential Careweave knows"
    value = spec.capabilities["prescribe"]
    if value == "yes":
        return None
    if value == "no":
        return f"{spec.code} clinicians do not prescribe"
    if spec.discipline == "psychology":
        return _rxp_problem(provider, state, on_date, rs)
    allowed = rs.data.scope.per_state.get(spec.discipline, {}).get("prescribe", {}).get(state)
    return None if allowed else f"{spec.code} prescribing in {state_name(state)} is not on record"


def is_prescriber_in(
    provider: ProviderFacts, state: str, on_date: date, *, rules: RuleSet | None = None
) -> bool:
    """Spec §3: a prescribing credential (MD, DO, NP/APRN, PA, or a certified prescribing psychologist in a
    verified RxP state) and a full license in the patient's state valid on the date.

    A compact privilege never suffices for prescribing: no compact in the data grants prescriptive authority
    (the IMLC grants no practice at all; the NLC does not cover APRN prescribing, spec §4.2).
    """
    rs = _rules(rules)
    spec = rs.data.credential(provider.credential)
    if spec is None or _prescribing_problem(provider, spec, state, on_date, rs) is not None:
        return False
    return _license_authority(provider, spec, state, on_date) is not None


def _schedule(schedule: str) -> str:
    value = str(schedule).upper()
    if value not in DEA_SCHEDULES:
        raise ValueError(
            f"unknown controlled-substance schedule {schedule!r}; use one of {sorted(DEA_SCHEDULES)}"
        )
    return value


def _controlled_scope(spec: CredentialSpec, state: str, schedule: str, rs: RuleSet) -> bool:
    allowed = capability_in_state(spec.code, "controlled_substances", state, rules=rs) is True
    if allowed and spec.discipline == "psychiatric_nursing" and schedule in SCHEDULE_II:
        restricted = rs.data.scope.np_schedule_ii_restricted.get(state)
        if restricted is None:
            return rs.config.allow_np_schedule_ii_when_unknown
        return not restricted
    return allowed


def can_prescribe_controlled(
    provider: ProviderFacts, state: str, on_date: date, schedule: str, *, rules: RuleSet | None = None
) -> bool:
    """Spec §3/§4.3: a prescriber in ``state`` whose scope includes controlled substances, holding a DEA
    registration for ``state`` that lists ``schedule`` and is valid on the date (an unknown expiry is not).

    The telemedicine conditions of §4.3 (in-person evaluation, flexibilities, PDMP checks) are per encounter and
    are not decided here.
    """
    sched = _schedule(schedule)
    rs = _rules(rules)
    spec = rs.data.credential(provider.credential)
    if spec is None or not is_prescriber_in(provider, state, on_date, rules=rs):
        return False
    if not _controlled_scope(spec, state, sched, rs):
        return False
    return any(
        reg.state == state and sched in reg.schedules and reg.expires is not None and reg.expires >= on_date
        for reg in provider.dea_registrations
    )


def roles_for_pathway(pathway: Pathway) -> tuple[Role, ...]:
    return ROLES_FOR_PATHWAY[pathway]


def role_for(
    provider: ProviderFacts,
    pathway_part: PathwayPart,
    state: str,
    on_date: date,
    *,
    rules: RuleSet | None = None,
) -> Role | None:
    """The role the provider can take for one part of a pathway, or None.

    "therapist": offers therapy and psychotherapy is in the credential's scope in ``state`` (authority in the
    state is a separate filter). "prescriber": offers medication management and :func:`is_prescriber_in`
    ``state`` on ``on_date``.
    """
    if pathway_part == "therapy":
        in_scope = capability_in_state(provider.credential, "psychotherapy", state, rules=rules) is True
        return "therapist" if in_scope and "therapy" in provider.offers else None
    if pathway_part == "psychiatry":
        offers = "medication_management" in provider.offers
        return "prescriber" if offers and is_prescriber_in(provider, state, on_date, rules=rules) else None
    raise ValueError(f"unknown pathway part {pathway_part!r}")


# --------------------------------------------------------------------------------------------------------------
# The rule data in the terms SQL filters by (directory.repository.exclusion_counts, benchmarks/floor.py): pure
# derivations of the functions above for one state and date, so SQL decides exactly what they decide.


def role_credentials(
    role: Role, state: str, on_date: date, *, rules: RuleSet | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(credentials whose scope fills ``role`` in ``state`` on ``on_date`` outright, psychology credentials
    that fill it with that state's prescribing certificate), upper-case: the credential half of
    ``_therapist_scope`` and ``_prescribing_problem`` (the offer and, for prescribers, the full-licence
    requirement are the caller's)."""
    rs = _rules(rules)
    outright: list[str] = []
    certified: list[str] = []
    for spec in rs.data.credentials.values():
        if role == "therapist":
            if capability_in_state(spec.code, "psychotherapy", state, rules=rs) is True:
                outright.append(spec.code.upper())
            continue
        value = spec.capabilities["prescribe"]
        if value == "yes":
            outright.append(spec.code.upper())
        elif value == "no":
            continue
        elif spec.discipline == "psychology":
            rxp = rs.data.scope.rxp.get(state)
            if (
                rxp is not None
                and (rxp.verified or rs.config.grant_unverified_rxp)
                and on_date.year >= rxp.enacted_year
            ):
                certified.append(spec.code.upper())
        elif rs.data.scope.per_state.get(spec.discipline, {}).get("prescribe", {}).get(state):
            outright.append(spec.code.upper())
    return tuple(sorted(outright)), tuple(sorted(certified))


def license_type_groups(
    credentials: Iterable[str], *, rules: RuleSet | None = None
) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """((credentials, the licence types valid for them), ...), credentials with the same types grouped, all
    upper-case: the type check of ``_license_problem``. Unknown credentials are left out (no licence of
    theirs is valid)."""
    rs = _rules(rules)
    groups: dict[frozenset[str], list[str]] = {}
    for code in credentials:
        spec = rs.data.credential(code)
        if spec is not None:
            groups.setdefault(spec.license_types, []).append(spec.code.upper())
    return tuple(
        (tuple(sorted(creds)), tuple(sorted(types)))
        for types, creds in sorted(groups.items(), key=lambda item: sorted(item[1]))
    )


def _member_in_effect(compact: CompactSpec, state: str, on_date: date, config: RulesConfig) -> bool:
    return _membership_problem(compact, state, on_date, config) is None


def practice_compacts(
    credentials: Iterable[str], state: str, on_date: date, *, rules: RuleSet | None = None
) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    """((compact code, the ``credentials`` it covers, its member states on ``on_date``), ...) for the compacts
    whose privilege authorises practice in ``state`` on ``on_date`` (``_privilege_problem`` less the
    privilege's own status and dates and the home licence's validity), upper-case codes."""
    rs = _rules(rules)
    wanted = {code.upper() for code in credentials}
    out = []
    for compact in rs.data.compacts.values():
        if not compact.grants_practice:
            continue
        if compact.operational_since is not None and compact.operational_since > on_date:
            continue
        if not _member_in_effect(compact, state, on_date, rs.config):
            continue
        covered = sorted(c.upper() for c in compact.credentials if c.upper() in wanted)
        homes = sorted(s for s in compact.members if _member_in_effect(compact, s, on_date, rs.config))
        if covered and homes:
            out.append((compact.code.upper(), tuple(covered), tuple(homes)))
    return tuple(out)


# --------------------------------------------------------------------------------------------------------------
# Hard filters (issue #4)


@dataclass(frozen=True, slots=True)
class Exclusion:
    code: ExclusionCode
    reason: str


def _fold(values: Iterable[str]) -> dict[str, str]:
    """casefolded value -> original, for case-insensitive matching with the caller's spelling kept."""
    return {value.casefold(): value for value in values}


def _join(items: Sequence[str], word: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _existing_patient(provider: ProviderFacts, need: Need) -> bool:
    return need.patient_id is not None and need.patient_id in provider.care_team_patient_ids


@dataclass(frozen=True, slots=True)
class _Subject:
    """One provider assessed for one need and role; ``authority`` is computed once and shared by the filters."""

    provider: ProviderFacts
    need: Need
    role: Role
    rs: RuleSet
    authority: Authority | None


def _authority_exclusion(s: _Subject) -> Exclusion | None:
    if s.authority is not None:
        return None
    problems = authority_problems(s.provider, s.need.state, s.need.on_date, rules=s.rs)
    reason = f"Not authorized to practice in {state_name(s.need.state)} on {long_date(s.need.on_date)}: "
    return Exclusion("no_authority_in_state", reason + "; ".join(problems) + ".")


def _therapist_scope(s: _Subject) -> str | None:
    if "therapy" not in s.provider.offers:
        return "Does not offer therapy."
    if capability_in_state(s.provider.credential, "psychotherapy", s.need.state, rules=s.rs) is not True:
        return f"Psychotherapy is not within {s.provider.credential} scope in {state_name(s.need.state)} on record."
    return None


def _prescriber_scope(s: _Subject) -> str | None:
    if "medication_management" not in s.provider.offers:
        return "Does not offer medication management."
    spec = s.rs.data.credential(s.provider.credential)
    state = state_name(s.need.state)
    if problem := _prescribing_problem(s.provider, spec, s.need.state, s.need.on_date, s.rs):
        return f"Cannot prescribe in {state}: {problem}."
    # authority_in_state prefers a full license, so a compact authority means there is no valid license.
    if s.authority is not None and s.authority.kind != "license":
        return f"Prescribing in {state} needs a full state license; a compact privilege is not enough."
    return None


def _scope_exclusion(s: _Subject) -> Exclusion | None:
    problem = _therapist_scope(s) if s.role == "therapist" else _prescriber_scope(s)
    return Exclusion("scope", problem) if problem else None


def _network_exclusion(s: _Subject) -> Exclusion | None:
    need, provider = s.need, s.provider
    if need.plan_id is not None and need.plan_id in provider.networks:
        return None
    if need.self_pay:
        return None if provider.self_pay else Exclusion("network", "Does not take self-pay patients.")
    if need.plan_id is None:
        return None  # no coverage given: nothing to filter on
    return Exclusion("network", "Not in network with the patient's plan.")


def _accepting_exclusion(s: _Subject) -> Exclusion | None:
    # A patient already on the provider's care team is not a new patient.
    if s.provider.accepting_new_patients or _existing_patient(s.provider, s.need):
        return None
    return Exclusion("not_accepting", "Not accepting new patients.")


def _capacity_exclusion(s: _Subject) -> Exclusion | None:
    provider = s.provider
    if provider.active_patients < provider.capacity or _existing_patient(provider, s.need):
        return None
    return Exclusion("at_capacity", f"Caseload is full ({provider.active_patients} of {provider.capacity}).")


def _condition_exclusion(s: _Subject) -> Exclusion | None:
    wanted = _fold(s.need.conditions)
    missing = sorted(wanted[key] for key in wanted.keys() - _fold(s.provider.conditions).keys())
    if not missing:
        return None
    if s.rs.config.condition_match == "any" and len(missing) < len(wanted):
        return None
    return Exclusion("condition_not_treated", f"Does not treat {_join(missing)}.")


def _availability_exclusion(s: _Subject) -> Exclusion | None:
    """Issue #4 "has availability in the window": only when it was looked up (``schedule_published``)."""
    provider = s.provider
    if provider.schedule_published is None or provider.next_available is not None:
        return None
    if not provider.schedule_published:
        return Exclusion(
            "no_availability", "Has not published a schedule, so no visit can be booked with them yet."
        )
    return Exclusion(
        "no_availability",
        f"No free time for a first visit from {long_date(s.need.on_date)} to the end of their booking window.",
    )


_FILTERS: tuple[Callable[[_Subject], Exclusion | None], ...] = (
    _authority_exclusion,
    _scope_exclusion,
    _network_exclusion,
    _accepting_exclusion,
    _capacity_exclusion,
    _condition_exclusion,
    _availability_exclusion,
)


def _assess(provider: ProviderFacts, need: Need, role: Role, rs: RuleSet) -> _Subject:
    if role not in ROLE_NOUN:
        raise ValueError(f"unknown role {role!r}")
    return _Subject(
        provider, need, role, rs, authority_in_state(provider, need.state, need.on_date, rules=rs)
    )


def _exclusions(subject: _Subject) -> tuple[Exclusion, ...]:
    return tuple(exclusion for check in _FILTERS if (exclusion := check(subject)) is not None)


def exclusions(
    provider: ProviderFacts, need: Need, role: Role, *, rules: RuleSet | None = None
) -> tuple[Exclusion, ...]:
    """Every hard filter ``provider`` fails for ``need`` in ``role``, in :data:`EXCLUSION_CODES` order.

    Empty means the provider may be shown. Availability in the date window is filtered only when it was looked
    up (``ProviderFacts.schedule_published`` not None: matching does, booking's eligibility check does not);
    otherwise ``next_available`` None means unknown and only affects ranking.
    """
    return _exclusions(_assess(provider, need, role, _rules(rules)))


def exclusion_counts(
    providers: Iterable[ProviderFacts], need: Need, role: Role, *, rules: RuleSet | None = None
) -> dict[str, int]:
    """How many providers each hard filter removed (a provider failing two filters counts under both)."""
    return _rank_and_count(providers, need, role, DEFAULT_WEIGHTS, _rules(rules), with_ranking=False)[1]


@dataclass(frozen=True, slots=True)
class FilterFacts:
    """All the hard filters read of one provider for one need and role, as SQL decides each part with the rule
    data of :func:`role_credentials`, :func:`license_type_groups` and :func:`practice_compacts`
    (directory.repository.exclusion_kinds): an empty role's explanation counts the providers of a state by
    these, kind by kind, instead of loading each one's licences. Nobody is an existing patient here."""

    license: bool  # a licence in the state valid on the date for their credential (_license_problem)
    privilege: bool  # a compact privilege authorising practice there on the date (_privilege_problem)
    offers: bool  # offers the role's service
    outright: bool  # their credential fills the role in the state (role_credentials' first part)
    certifiable: bool  # a psychology credential that prescribes there with the certificate (its second)
    certified: bool  # holds that state's prescribing certificate, valid on the date
    in_plan: bool  # in network with the need's plan
    self_pay: bool
    accepting_new_patients: bool
    under_capacity: bool
    conditions_treated: int  # how many of the need's (case-folded, distinct) conditions they treat
    no_free_time: bool  # their free time was looked up and there is none for the role's first visit


def filter_exclusions(
    facts: FilterFacts, need: Need, role: Role, *, rules: RuleSet | None = None
) -> tuple[ExclusionCode, ...]:
    """The codes :func:`exclusions` gives a provider with these facts (``_FILTERS`` in the same order, each
    from the parts it reads); availability counts only for a provider passing every other filter, as
    matching looks it up only for those."""
    rs = _rules(rules)
    codes: list[ExclusionCode] = []
    authority = facts.license or facts.privilege  # authority_in_state: a licence, else a privilege
    if not authority:
        codes.append("no_authority_in_state")
    if role == "therapist":
        in_scope = facts.offers and facts.outright
    else:  # _prescriber_scope: prescribing needs a full licence, a compact authority is not enough
        prescribes = facts.outright or (facts.certifiable and facts.certified)
        in_scope = facts.offers and prescribes and not (facts.privilege and not facts.license)
    if not in_scope:
        codes.append("scope")
    plan_ok = need.plan_id is not None and facts.in_plan
    if not plan_ok and (
        (need.self_pay and not facts.self_pay) or (not need.self_pay and need.plan_id is not None)
    ):
        codes.append("network")
    if not facts.accepting_new_patients:
        codes.append("not_accepting")
    if not facts.under_capacity:
        codes.append("at_capacity")
    wanted = len(_fold(need.conditions))
    missing = wanted - facts.conditions_treated
    if missing and not (rs.config.condition_match == "any" and missing < wanted):
        codes.append("condition_not_treated")
    if not codes and facts.no_free_time:
        codes.append("no_availability")
    return tuple(codes)


# --------------------------------------------------------------------------------------------------------------
# Scoring and ranking


@dataclass(frozen=True, slots=True)
class MatchWeights:
    """Ranking weights (configuration). Each part scores a fraction in [0, 1] times its weight.

    * condition_fit: share of the requested conditions the provider treats;
    * language: speaks the requested language; gender: matches the requested gender;
    * modality: share of the requested modalities offered;
    * earliest_availability: 0.5 ** (days from the requested date to next_available / half-life); unknown = 0;
    * continuity: 1 when already on this patient's care team, ``collaborator_continuity`` when already sharing
      patients with one of the patient's other clinicians.
    """

    condition_fit: float = 3.0
    language: float = 2.0
    gender: float = 1.0
    modality: float = 1.0
    earliest_availability: float = 1.5
    continuity: float = 2.0
    availability_half_life_days: float = 7.0
    collaborator_continuity: float = 0.5

    def __post_init__(self) -> None:
        for name in SCORE_PARTS:
            if getattr(self, name) < 0:
                raise ValueError(f"weight {name} must be >= 0")
        if self.availability_half_life_days <= 0:
            raise ValueError("availability_half_life_days must be > 0")
        if not 0 <= self.collaborator_continuity <= 1:
            raise ValueError("collaborator_continuity must be between 0 and 1")


SCORE_PARTS: tuple[str, ...] = (
    "condition_fit",
    "language",
    "gender",
    "modality",
    "earliest_availability",
    "continuity",
)
DEFAULT_WEIGHTS = MatchWeights()


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    total: float
    parts: Mapping[str, float]  # SCORE_PARTS -> weighted points
    reasons: tuple[str, ...]


Part = tuple[float, str | None]  # fraction in [0, 1], reason when it contributed


def _condition_part(provider: ProviderFacts, need: Need, weights: MatchWeights) -> Part:
    wanted = _fold(need.conditions)
    treated = sorted(wanted[key] for key in wanted.keys() & _fold(provider.conditions).keys())
    if not wanted or not treated:
        return 0.0, None
    return len(treated) / len(wanted), f"Treats {_join(treated)}"


def _language_part(provider: ProviderFacts, need: Need, weights: MatchWeights) -> Part:
    if need.language and need.language.casefold() in _fold(provider.languages):
        return 1.0, f"Speaks {LANGUAGE_NAMES.get(need.language, need.language)}"
    return 0.0, None


def _gender_part(provider: ProviderFacts, need: Need, weights: MatchWeights) -> Part:
    if need.gender and provider.gender and need.gender.casefold() == provider.gender.casefold():
        return 1.0, "Matches your gender preference"
    return 0.0, None


def _modality_part(provider: ProviderFacts, need: Need, weights: MatchWeights) -> Part:
    wanted = _fold(need.modalities)
    offered = sorted(wanted[key] for key in wanted.keys() & _fold(provider.modalities).keys())
    if not wanted or not offered:
        return 0.0, None
    return len(offered) / len(wanted), f"Offers {_join(offered)}"


def _availability_part(provider: ProviderFacts, need: Need, weights: MatchWeights) -> Part:
    if provider.next_available is None:
        return 0.0, None
    day = provider.next_available.date()
    days = max(0, (day - need.on_date).days)
    return 0.5 ** (
        days / weights.availability_half_life_days
    ), f"Next available {long_date(max(day, need.on_date))}"


def _continuity_part(provider: ProviderFacts, need: Need, weights: MatchWeights) -> Part:
    if _existing_patient(provider, need):
        return 1.0, "Already part of your care team"
    if provider.collaborators & need.other_clinician_ids:
        return weights.collaborator_continuity, "Already works with your other clinician"
    return 0.0, None


_PARTS: Mapping[str, Callable[[ProviderFacts, Need, MatchWeights], Part]] = MappingProxyType(
    {
        "condition_fit": _condition_part,
        "language": _language_part,
        "gender": _gender_part,
        "modality": _modality_part,
        "earliest_availability": _availability_part,
        "continuity": _continuity_part,
    }
)


def score(provider: ProviderFacts, need: Need, weights: MatchWeights = DEFAULT_WEIGHTS) -> ScoreBreakdown:
    """Weighted preference score (no eligibility: call :func:`exclusions` first). Parts are rounded to 4 places."""
    parts: dict[str, float] = {}
    reasons: list[str] = []
    for name in SCORE_PARTS:
        fraction, reason = _PARTS[name](provider, need, weights)
        parts[name] = round(fraction * getattr(weights, name), 4)
        if reason and parts[name] > 0:
            reasons.append(reason)
    return ScoreBreakdown(round(sum(parts.values()), 4), MappingProxyType(parts), tuple(reasons))


@dataclass(frozen=True, slots=True)
class Ranked:
    provider_id: str
    name: str
    credential: str
    role: Role
    score: ScoreBreakdown
    reasons: tuple[str, ...]  # eligibility reasons, then the score's reasons
    next_available: datetime | None
    authority: Authority


def _eligibility_reasons(provider: ProviderFacts, need: Need, role: Role, authority: Authority) -> list[str]:
    reasons = [authority.reason]
    if role == "prescriber":
        reasons.append(f"Can prescribe in {state_name(need.state)}")
    else:
        reasons.append("Offers therapy")
    if need.plan_id is not None and need.plan_id in provider.networks:
        reasons.append("In network with your plan")
    elif need.self_pay:
        reasons.append("Accepts self-pay")
    return reasons


def _rank_key(ranked: Ranked) -> tuple[float, str, str, str]:
    return (-ranked.score.total, ranked.name.casefold(), ranked.name, ranked.provider_id)


def _ranked(subject: _Subject, weights: MatchWeights) -> Ranked:
    provider, authority = subject.provider, subject.authority
    assert authority is not None  # only called for providers that passed every filter
    breakdown = score(provider, subject.need, weights)
    reasons = (*_eligibility_reasons(provider, subject.need, subject.role, authority), *breakdown.reasons)
    return Ranked(
        provider.id,
        provider.name,
        provider.credential,
        subject.role,
        breakdown,
        reasons,
        provider.next_available,
        authority,
    )


def _rank_and_count(
    providers: Iterable[ProviderFacts],
    need: Need,
    role: Role,
    weights: MatchWeights,
    rs: RuleSet,
    *,
    with_ranking: bool = True,
) -> tuple[list[Ranked], dict[str, int]]:
    """One pass: the eligible providers ranked, and how many each filter removed."""
    ranked: list[Ranked] = []
    counts: Counter[str] = Counter()
    for provider in providers:
        subject = _assess(provider, need, role, rs)
        found = _exclusions(subject)
        if found:
            counts.update(exclusion.code for exclusion in found)
        elif with_ranking:
            ranked.append(_ranked(subject, weights))
    ranked.sort(key=_rank_key)
    return ranked, {code: counts[code] for code in EXCLUSION_CODES if counts[code]}


def rank(
    providers: Iterable[ProviderFacts],
    need: Need,
    role: Role,
    weights: MatchWeights = DEFAULT_WEIGHTS,
    *,
    rules: RuleSet | None = None,
) -> list[Ranked]:
    """Providers passing every hard filter for ``role``, best first; ties by name, then id (deterministic)."""
    return _rank_and_count(providers, need, role, weights, _rules(rules))[0]


# --------------------------------------------------------------------------------------------------------------
# Therapist + prescriber pair (pathway "both")


@dataclass(frozen=True, slots=True)
class Pair:
    therapist_id: str
    prescriber_id: str
    shares_patients: bool
    reasons: tuple[str, ...]


def _collaborators_of(provider_id: str, facts: Mapping[str, ProviderFacts]) -> frozenset[str]:
    provider = facts.get(provider_id)
    return provider.collaborators if provider is not None else frozenset()


def _collaborating_candidates(
    therapists: Sequence[Ranked], prescribers: Sequence[Ranked], facts: Mapping[str, ProviderFacts]
) -> set[tuple[int, int]]:
    t_index = {r.provider_id: i for i, r in reversed(list(enumerate(therapists)))}
    p_index = {r.provider_id: i for i, r in reversed(list(enumerate(prescribers)))}
    found: set[tuple[int, int]] = set()
    for ti, t in enumerate(therapists):
        for other in _collaborators_of(t.provider_id, facts):
            if other in p_index and other != t.provider_id:
                found.add((ti, p_index[other]))
    for pi, p in enumerate(prescribers):
        for other in _collaborators_of(p.provider_id, facts):
            if other in t_index and other != p.provider_id:
                found.add((t_index[other], pi))
    return found


def _pair_key(
    therapists: Sequence[Ranked], prescribers: Sequence[Ranked], ti: int, pi: int
) -> tuple[float, int, int]:
    return (-(therapists[ti].score.total + prescribers[pi].score.total), ti, pi)


def suggest_pair(
    therapists: Sequence[Ranked], prescribers: Sequence[Ranked], facts: Mapping[str, ProviderFacts]
) -> Pair | None:
    """Two different clinicians for pathway "both": the best-scored pair who already share patients
    (``ProviderFacts.collaborators``, either direction), else the best-scored pair. Lists come from :func:`rank`.
    """
    collaborating = _collaborating_candidates(therapists, prescribers, facts)
    if collaborating:
        ti, pi = min(collaborating, key=lambda c: _pair_key(therapists, prescribers, *c))
        t, p = therapists[ti], prescribers[pi]
        return Pair(
            t.provider_id,
            p.provider_id,
            True,
            (
                f"{t.name} and {p.name} already care for patients together, so your care starts coordinated.",
                f"{t.name} is a therapist and {p.name} a prescriber who can both see you.",
            ),
        )
    candidates = [
        (ti, pi)
        for ti in range(min(2, len(therapists)))
        for pi in range(min(2, len(prescribers)))
        if therapists[ti].provider_id != prescribers[pi].provider_id
    ]
    if not candidates:
        return None
    ti, pi = min(candidates, key=lambda c: _pair_key(therapists, prescribers, *c))
    t, p = therapists[ti], prescribers[pi]
    return Pair(
        t.provider_id,
        p.provider_id,
        False,
        (f"{t.name} and {p.name} are the best-matched therapist and prescriber who can both see you.",),
    )


# --------------------------------------------------------------------------------------------------------------
# Explaining an empty result


@dataclass(frozen=True, slots=True)
class Explanation:
    message: str  # one sentence naming the filters that removed everyone
    relax: tuple[str, ...]  # stable codes of what could be relaxed, e.g. "self_pay", "later_date"
    suggestions: tuple[str, ...] = ()  # the same, in plain language, in the same order
    details: tuple[str, ...] = ()  # one sentence per filter with how many it removed


_RELAX_TEXT: Mapping[str, str] = MappingProxyType(
    {
        "another_state": (
            "Clinicians must be licensed where you are at the time of the visit. "
            "If you will be in another state then, search for that state."
        ),
        "self_pay": "Paying for yourself (self-pay) would include clinicians outside your plan.",
        "use_coverage": "Adding your insurance plan would include clinicians who do not take self-pay.",
        "later_date": "Try a later date: clinicians open their caseloads over time.",
        "later_dates": (
            "Try later dates, or look again soon: calendars open up as visits are cancelled and as "
            "clinicians publish more hours."
        ),
        "fewer_conditions": "Search for one concern at a time; your care team can coordinate the rest.",
        "care_team_referral": "Ask your care team to arrange a referral.",
    }
)


def _relax_codes(code: str, need: Need) -> tuple[str, ...]:
    if code == "no_authority_in_state":
        return ("another_state", "care_team_referral")
    if code == "network":
        return ("use_coverage",) if need.self_pay else ("self_pay",)
    if code in ("not_accepting", "at_capacity"):
        return ("later_date",)
    if code == "condition_not_treated" and len(need.conditions) > 1:
        return ("fewer_conditions",)
    if code == "no_availability":
        return ("later_dates", "care_team_referral")
    return ("care_team_referral",)


def _plan_label(need: Need, plan_name: str | None) -> str:
    return "self-pay" if need.self_pay else (plan_name or "your plan")


def _conditions_text(need: Need, rs: RuleSet) -> str:
    return _join(sorted(need.conditions), "or" if rs.config.condition_match == "any" else "and")


def _predicate(
    code: str, need: Need, role: Role, plan_name: str | None, licensed_clause: bool, rs: RuleSet
) -> str:
    where = "there" if licensed_clause else f"in {state_name(need.state)}"
    conditions = _conditions_text(need, rs)
    return {
        "scope": "offers therapy" if role == "therapist" else f"can prescribe {where}",
        "network": f"accepts {_plan_label(need, plan_name)}",
        "not_accepting": "is accepting new patients",
        "at_capacity": "has room for new patients",
        "condition_not_treated": f"treats {conditions}",
        "no_availability": "has free time for a first visit",
    }[code]


def _detail(code: str, count: int, need: Need, role: Role, plan_name: str | None, rs: RuleSet) -> str:
    noun = ROLE_NOUN[role] + ("" if count == 1 else "s")
    verb_be, verb_do, verb_have = ("is", "does", "has") if count == 1 else ("are", "do", "have")
    state = state_name(need.state)
    text = {
        "no_authority_in_state": f"{verb_be} not licensed to practice in {state} on that date",
        "scope": f"{verb_do} not offer therapy within their scope"
        if role == "therapist"
        else f"cannot prescribe in {state} or {verb_do} not offer medication management",
        "network": f"{verb_do} not take self-pay"
        if need.self_pay
        else f"{verb_be} not in network with {plan_name or 'your plan'}",
        "not_accepting": f"{verb_be} not accepting new patients",
        "at_capacity": f"{verb_have} no room in their caseload",
        "condition_not_treated": f"{verb_do} not treat {_conditions_text(need, rs)}",
        "no_availability": f"{verb_have} no free time for a first visit in their booking window "
        "(or no published schedule)",
    }[code]
    return f"{count} {noun} {text}."


def explain_empty(
    need: Need,
    exclusion_counts: Mapping[str, int],
    role: Role,
    *,
    plan_name: str | None = None,
    rules: RuleSet | None = None,
) -> Explanation:
    """Plain-language reason that nobody matched, from :func:`exclusion_counts`, and what could be relaxed.

    Example: "No psychiatric prescriber licensed in Wyoming accepts Aetna PPO on 1 December 2026." Each filter
    that removed anyone appears in the sentence; together they removed everyone. Language, gender and modality
    are preferences that only rank, so they never empty a result and are never suggested for relaxing.
    """
    rs = _rules(rules)
    noun = ROLE_NOUN[role]
    blocking = [code for code in EXCLUSION_CODES if exclusion_counts.get(code, 0) > 0]
    when = f"{'from' if 'no_availability' in blocking else 'on'} {long_date(need.on_date)}"
    if not blocking:
        message = f"No {noun} in the directory can see you in {state_name(need.state)} {when}."
        return Explanation(message, ("care_team_referral",), (_RELAX_TEXT["care_team_referral"],))
    licensed = "no_authority_in_state" in blocking
    subject = (
        f"No {noun} licensed in {state_name(need.state)}"
        if licensed
        else f"No {noun} who can see you in {state_name(need.state)}"
    )
    predicates = [
        _predicate(code, need, role, plan_name, licensed, rs)
        for code in blocking
        if code != "no_authority_in_state"
    ]
    message = f"{subject} {_join(predicates) if predicates else 'is available'} {when}."
    relax = tuple(dict.fromkeys(c for code in blocking for c in _relax_codes(code, need)))
    details = tuple(_detail(code, exclusion_counts[code], need, role, plan_name, rs) for code in blocking)
    return Explanation(message, relax, tuple(_RELAX_TEXT[c] for c in relax), details)


# --------------------------------------------------------------------------------------------------------------
# A whole match


@dataclass(frozen=True, slots=True)
class MatchResult:
    pathway: Pathway
    therapists: tuple[Ranked, ...]
    prescribers: tuple[Ranked, ...]
    pair: Pair | None
    excluded_summary: Mapping[str, Mapping[str, int]]  # role -> exclusion code -> count
    explanations: Mapping[str, Explanation]  # role -> why it is empty (only for empty roles)


def match(
    providers: Sequence[ProviderFacts],
    need: Need,
    weights: MatchWeights = DEFAULT_WEIGHTS,
    *,
    rules: RuleSet | None = None,
    plan_name: str | None = None,
) -> MatchResult:
    """Rank every role of ``need.pathway``; for "both", suggest a pair; explain each empty list."""
    rs = _rules(rules)
    lists: dict[str, tuple[Ranked, ...]] = {"therapist": (), "prescriber": ()}
    summary: dict[str, Mapping[str, int]] = {}
    explanations: dict[str, Explanation] = {}
    for role in roles_for_pathway(need.pathway):
        ranked, counts = _rank_and_count(providers, need, role, weights, rs)
        lists[role] = tuple(ranked)
        summary[role] = MappingProxyType(counts)
        if not lists[role]:
            explanations[role] = explain_empty(need, summary[role], role, plan_name=plan_name, rules=rs)
    pair = None
    if need.pathway == "both":
        pair = suggest_pair(lists["therapist"], lists["prescriber"], {p.id: p for p in providers})
    return MatchResult(
        need.pathway,
        lists["therapist"],
        lists["prescriber"],
        pair,
        MappingProxyType(summary),
        MappingProxyType(explanations),
    )
