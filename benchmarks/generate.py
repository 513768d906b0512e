"""A deterministic synthetic provider directory (issue #4 "Scale and speed").

Same seed, same size -> the same rows, byte for byte (ids included). Nothing here is a real person, licence
or NPI (NPIs are well-formed: they pass the CMS Luhn check, and are sequential from 100000000).

Shape of the data (tunable constants below, each a rough public-workforce proportion, not a census):

* credentials: mostly therapists (LCSW/LICSW, LPC/LMHC/LCPC/LPCC, LMFT, PhD/PsyD psychologists), then
  psychiatrists (MD/DO), psychiatric nurse practitioners (PMHNP/NP/APRN) and a few PAs;
* offers consistent with the credential (prescribers manage medication, some also do therapy; a handful of
  PAs list therapy, which their scope does not cover, so the rules exclude them);
* 1–3 state licences each in the 50 states + DC, population-weighted, of a type valid for the credential
  (credentials.json ``license_types``; 0.3 % carry a type that is not, as after a credential edit), mostly
  active with realistic expiry dates (a few lapse inside the benchmark's date window), a few with no expiry;
* compact privileges: PSYPACT for psychologists licensed in a member state, the Counseling Compact for
  counselors licensed in an effective member state (some in states the rule data does not yet verify), and
  a few Social Work Compact entries recorded ahead of that compact granting practice (the rules refuse them);
* DEA registrations for most prescribers' licensed states; prescribing-psychologist certificates in the RxP
  states for a few psychologists;
* 200 plans: 60 national (a few very common, a long tail) and 140 regional ones (Blue Cross Blue Shield and
  Medicaid managed care per state, in network mostly with providers licensed there); about a fifth of the
  providers take no insurance;
* 20 languages (English nearly universal, Spanish common, more so in the South-West, a long tail) and 12
  conditions; accepting new patients, capacity and caseload with a realistic share full;
* weekly hours in the provider's own zone for all but a few (SCHEDULE_PATTERNS: full-time weekdays, late
  shifts with evenings, four long days, part-time with a Saturday, mornings), with a minimum notice of half a
  day to two days and a 30–90-day booking horizon; about 4 % have published no schedule yet, so matching's
  availability filter refuses them. About 15 % take LEAVE: 3–28 days off (a date exception per day) starting
  in the benchmark's first three weeks, so their earliest free time is days or weeks away (a few, whose
  horizon ends inside the leave, have none). No visits are booked.
* each provider's earliest free first visits as of ``NOW`` (scheduling.earliest), computed after loading.

``load(engine, providers=...)`` inserts it with SQLAlchemy Core executemany in chunks (minutes for 100,000).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from sqlalchemy import Engine, Table

from careweave.directory import rules
from careweave.directory.models import (
    CompactPrivilege,
    DeaRegistration,
    License,
    Plan,
    PrescriptiveCertification,
    Provider,
    ProviderCondition,
    ProviderLanguage,
    ProviderNetwork,
    rank_key,
)
from careweave.scheduling.models import AvailabilityException, AvailabilityWindow, ProviderSchedule

# Weekly hours (weekday, Monday = 0, start hour, end hour), local to the provider, with their share.
SCHEDULE_PATTERNS: tuple[tuple[tuple[tuple[int, int, int], ...], float], ...] = (
    (tuple((d, 9, 17) for d in range(5)), 0.45),  # full-time weekdays
    ((*((d, 12, 20) for d in range(4)), (4, 9, 13)), 0.2),  # late shifts with evenings, short Friday
    (tuple((d, 8, 18) for d in range(4)), 0.15),  # four long days
    (((1, 9, 17), (3, 9, 17), (5, 10, 14)), 0.12),  # part-time with a Saturday
    (tuple((d, 7, 12) for d in range(5)), 0.08),  # mornings
)
NO_SCHEDULE_SHARE = 0.04
LEAVE_SHARE = 0.15  # providers on leave for LEAVE_DAYS days starting within LEAVE_START_DAYS of NOW
LEAVE_DAYS = (3, 28)
LEAVE_START_DAYS = 21

DEFAULT_SEED = 20261126
TODAY = date(2026, 11, 26)  # the data's "today": licences are issued before it, most expire after it
STAMP = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# The benchmark's "now": stored earliest free times are computed as of it, and matching runs as of it.
NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)

# 2020 census resident population, thousands: 50 states + DC.
STATE_POPULATION: dict[str, int] = {
    "CA": 39538, "TX": 29146, "FL": 21538, "NY": 20201, "PA": 13003, "IL": 12813, "OH": 11799,
    "GA": 10712, "NC": 10439, "MI": 10077, "NJ": 9289, "VA": 8631, "WA": 7705, "AZ": 7152, "MA": 7030,
    "TN": 6911, "IN": 6786, "MD": 6177, "MO": 6154, "WI": 5894, "CO": 5774, "MN": 5706, "SC": 5119,
    "AL": 5024, "LA": 4658, "KY": 4506, "OR": 4237, "OK": 3959, "CT": 3606, "UT": 3272, "IA": 3190,
    "NV": 3105, "AR": 3012, "MS": 2961, "KS": 2938, "NM": 2118, "NE": 1962, "ID": 1839, "WV": 1794,
    "HI": 1455, "NH": 1378, "ME": 1362, "RI": 1097, "MT": 1084, "DE": 990, "SD": 887, "ND": 779,
    "AK": 733, "DC": 690, "VT": 643, "WY": 577,
}  # fmt: skip
STATES: tuple[str, ...] = tuple(STATE_POPULATION)
_PACIFIC = {"CA", "WA", "OR", "NV"}
_MOUNTAIN = {"CO", "UT", "NM", "MT", "WY", "ID"}
_CENTRAL = {"TX", "IL", "MN", "WI", "IA", "MO", "AR", "LA", "MS", "AL", "OK", "KS", "NE", "SD", "ND", "TN"}
_SPANISH_HEAVY = {"CA", "TX", "FL", "NM", "AZ", "NV", "NY", "NJ", "IL", "CO"}

# (credential, share of providers)
CREDENTIAL_MIX: tuple[tuple[str, float], ...] = (
    ("LCSW", 0.24), ("LICSW", 0.02), ("LPC", 0.14), ("LMHC", 0.04), ("LCPC", 0.02), ("LPCC", 0.01),
    ("LMFT", 0.12), ("PhD", 0.09), ("PsyD", 0.06), ("MD", 0.09), ("DO", 0.02), ("PMHNP", 0.09),
    ("NP", 0.03), ("APRN", 0.01), ("PA", 0.02),
)  # fmt: skip
PRESCRIBERS = frozenset({"MD", "DO", "PMHNP", "NP", "APRN", "PA"})
PSYCHOLOGISTS = frozenset({"PhD", "PsyD"})
COUNSELORS = frozenset({"LPC", "LMHC", "LCPC", "LPCC"})
SOCIAL_WORKERS = frozenset({"LCSW", "LICSW"})
# The licence type each credential is usually licensed under; otherwise another valid one.
USUAL_LICENSE_TYPE: dict[str, str] = {
    "MD": "MD", "DO": "DO", "PMHNP": "APRN", "APRN": "APRN", "NP": "NP", "PA": "PA",
    "PhD": "PSYCHOLOGIST", "PsyD": "PSYCHOLOGIST", "LCSW": "LCSW", "LICSW": "LICSW", "LPC": "LPC",
    "LMHC": "LMHC", "LCPC": "LCPC", "LPCC": "LPCC", "LMFT": "LMFT",
}  # fmt: skip
LICENSE_STATUS_MIX = (("active", 0.94), ("inactive", 0.025), ("expired", 0.025), ("suspended", 0.01))

# (code, share of providers speaking it); English is near universal, then Spanish, then a long tail.
LANGUAGES: tuple[tuple[str, float], ...] = (
    ("en", 0.985), ("es", 0.13), ("zh", 0.025), ("vi", 0.012), ("tl", 0.012), ("ko", 0.01),
    ("ru", 0.012), ("ar", 0.01), ("fr", 0.015), ("hi", 0.012), ("pt", 0.01), ("de", 0.008),
    ("ht", 0.006), ("pl", 0.005), ("fa", 0.006), ("ja", 0.005), ("it", 0.005), ("ur", 0.004),
    ("pa", 0.004), ("asl", 0.004),
)  # fmt: skip
# (condition, share among therapists, share among prescribers)
CONDITIONS: tuple[tuple[str, float, float], ...] = (
    ("depression", 0.92, 0.95), ("anxiety", 0.93, 0.93), ("bipolar", 0.35, 0.85), ("ptsd", 0.55, 0.6),
    ("substance_use", 0.3, 0.45), ("schizophrenia_spectrum", 0.1, 0.6), ("ocd", 0.35, 0.55),
    ("adhd", 0.3, 0.6), ("eating_disorders", 0.15, 0.2), ("insomnia", 0.2, 0.45), ("grief", 0.45, 0.15),
    ("relationship_issues", 0.45, 0.05),
)  # fmt: skip
THERAPY_MODALITIES = (
    "cbt", "dbt", "emdr", "ipt", "act", "psychodynamic", "family_systems", "motivational_interviewing",
    "exposure_therapy", "mindfulness",
)  # fmt: skip
AGE_GROUPS = ("children", "adolescents", "adults", "older_adults")
GENDERS = (("female", 0.65), ("male", 0.32), ("nonbinary", 0.02), (None, 0.01))

_FIRST = (
    "Alex", "Amara", "Ana", "Ben", "Cara", "Chen", "Dana", "David", "Elena", "Emma", "Farah", "Grace",
    "Hana", "Isaac", "Jamal", "Jordan", "Julia", "Kai", "Kavya", "Leah", "Liam", "Lucia", "Maya", "Mei",
    "Mira", "Nadia", "Noah", "Olivia", "Omar", "Priya", "Quinn", "Rafael", "Rosa", "Sam", "Sara", "Tariq",
    "Tom", "Uma", "Victor", "Wen", "Yusuf", "Zara", "José", "Zoë", "Renée", "Ángel", "Søren", "Chloé",
)  # fmt: skip
_LAST = (
    "Adams", "Ahmed", "Alvarez", "Baker", "Brown", "Chen", "Clark", "Cohen", "Davis", "Diaz", "Evans",
    "Fischer", "Garcia", "Gupta", "Hall", "Hernandez", "Ito", "Jackson", "Johnson", "Kim", "Kowalski",
    "Lee", "Lopez", "Martin", "Miller", "Moore", "Nguyen", "Okafor", "Olsen", "Patel", "Perez", "Reyes",
    "Rivera", "Robinson", "Rossi", "Sato", "Schmidt", "Shah", "Singh", "Smith", "Taylor", "Thomas",
    "Torres", "Walker", "Wang", "White", "Williams", "Wilson", "Wright", "Young", "Zhang", "Núñez",
    "Müller", "O'Brien", "Łukasz", "de la Cruz",
)  # fmt: skip

_NATIONAL_PAYERS = (
    ("UnitedHealthcare", ("Choice Plus", "Options PPO", "Navigate HMO", "Charter", "Core")),
    ("Aetna", ("Open Access PPO", "Choice POS II", "HMO", "Managed Choice", "Signature Administrators")),
    ("Cigna", ("Open Access Plus", "PPO", "LocalPlus", "Connect HMO", "SureFit")),
    ("Optum", ("Behavioral Health EAP", "Behavioral Health Commercial", "Medicare Advantage")),
    ("Anthem", ("Blue Access PPO", "Pathway X", "HMO")),
    ("Humana", ("ChoiceCare PPO", "Medicare Advantage HMO", "Gold Plus")),
    ("Magellan", ("Behavioral Health", "EAP")),
    ("Carelon", ("Behavioral Health", "EAP")),
    ("Medicare", ("Original Medicare Part B",)),
    ("TRICARE", ("Prime", "Select")),
    ("Oscar", ("EPO", "Simple")),
    ("Ambetter", ("Essential Care", "Balanced Care")),
    ("Molina", ("Marketplace", "Medicare Complete Care")),
    ("Kaiser Permanente", ("Traditional HMO", "Added Choice")),
    ("Centene", ("WellCare Value", "WellCare Giveback")),
    ("Beacon", ("Commercial", "EAP")),
    ("Lyra", ("EAP",)),
    ("Spring Health", ("EAP",)),
    ("ComPsych", ("GuidanceResources EAP",)),
    ("MultiPlan", ("PHCS PPO", "MultiPlan PPO")),
    ("First Health", ("PPO",)),
    ("Meritain", ("PPO",)),
    ("UMR", ("Choice Plus", "PPO")),
    ("GEHA", ("Standard", "High")),
    ("Mutual of Omaha", ("PPO",)),
    ("Allied Benefit", ("PPO",)),
    ("HealthSmart", ("PPO",)),
    ("Cofinity", ("PPO",)),
    ("Evernorth", ("Behavioral Health",)),
    ("Quest Behavioral Health", ("EAP",)),
)
N_NATIONAL = 60
N_PLANS = 200


@dataclass(frozen=True, slots=True)
class PlanInfo:
    id: uuid.UUID
    payer: str
    name: str
    state: str | None  # regional plans: the state they serve
    in_network: float  # probability that an insurance-taking provider (licensed there) is in network

    @property
    def label(self) -> str:
        return f"{self.payer} {self.name}"


@dataclass
class Counts:
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def npi_for(n: int) -> str:
    """The n-th synthetic NPI: 9 digits from 100000000, then the CMS Luhn check digit."""
    base = f"{100_000_000 + n:09d}"
    for check in range(10):
        if rules.npi_is_valid(base + str(check)):
            return base + str(check)
    raise AssertionError("unreachable: exactly one check digit is valid")


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    x = rng.random() * sum(w for _, w in weighted)
    for value, weight in weighted:
        x -= weight
        if x < 0:
            return value
    return weighted[-1][0]


def _timezone(state: str) -> str:
    if state == "AZ":
        return "America/Phoenix"
    if state == "AK":
        return "America/Anchorage"
    if state == "HI":
        return "Pacific/Honolulu"
    if state in _PACIFIC:
        return "America/Los_Angeles"
    if state in _MOUNTAIN:
        return "America/Denver"
    if state in _CENTRAL:
        return "America/Chicago"
    return "America/New_York"


def make_plans(seed: int = DEFAULT_SEED) -> list[PlanInfo]:
    """200 plans: 60 national (in-network probability 0.75 for the commonest, falling like a power law)
    and 140 regional (BCBS PPO and Medicaid managed care in every state, BCBS HMO in the 38 largest)."""
    rng = random.Random(f"{seed}-plans")
    national = [(payer, name) for payer, names in _NATIONAL_PAYERS for name in names][:N_NATIONAL]
    assert len(national) == N_NATIONAL, len(national)
    plans = [
        PlanInfo(_uuid(rng), payer, name, None, round(0.75 / (rank + 1) ** 0.95, 4))
        for rank, (payer, name) in enumerate(national)
    ]
    by_size = sorted(STATES, key=lambda s: -STATE_POPULATION[s])
    for state in STATES:
        plans.append(PlanInfo(_uuid(rng), f"Blue Cross Blue Shield ({state})", "PPO", state, 0.5))
        plans.append(PlanInfo(_uuid(rng), f"Medicaid ({state})", "Managed Care", state, 0.25))
    for state in by_size[: N_PLANS - N_NATIONAL - 2 * len(STATES)]:
        plans.append(PlanInfo(_uuid(rng), f"Blue Cross Blue Shield ({state})", "HMO", state, 0.3))
    assert len(plans) == N_PLANS
    return plans


class DirectoryGenerator:
    """Rows for ``providers`` providers, in chunks: ``{table name: [row dict, ...]}``."""

    def __init__(self, providers: int, seed: int = DEFAULT_SEED) -> None:
        self.providers = providers
        self.seed = seed
        self.plans = make_plans(seed)
        self.national = [p for p in self.plans if p.state is None]
        self.regional: dict[str, list[PlanInfo]] = {}
        for p in self.plans:
            if p.state is not None:
                self.regional.setdefault(p.state, []).append(p)
        data = rules.load_rule_data()
        self._license_types = {c: sorted(data.credential(c).license_types) for c in USUAL_LICENSE_TYPE}  # type: ignore[union-attr]
        self._all_types = sorted({t for types in self._license_types.values() for t in types})
        self._psypact = self._members(data, "PSYPACT", verified_only=False)
        self._counseling_home = self._members(data, "COUNSELING", verified_only=True)
        self._counseling_all = self._members(data, "COUNSELING", verified_only=False)
        self._social_work = [m for m in data.compact("SOCIAL_WORK").members if m in STATE_POPULATION]  # type: ignore[union-attr]
        self._rxp = [s for s in data.scope.rxp if s in STATE_POPULATION]
        self._weights = [STATE_POPULATION[s] for s in STATES]

    @staticmethod
    def _members(data: rules.RuleData, compact: str, *, verified_only: bool) -> list[str]:
        spec = data.compact(compact)
        assert spec is not None
        return [
            m.state
            for m in spec.members.values()
            if m.state in STATE_POPULATION
            and m.effective is not None
            and m.effective <= TODAY
            and (m.verified or not verified_only)
        ]

    def plan_rows(self) -> list[dict[str, Any]]:
        return [
            {"id": p.id, "payer": p.payer, "name": p.name, "created_at": STAMP, "updated_at": STAMP}
            for p in self.plans
        ]

    def chunks(self, size: int = 5000) -> Iterator[dict[str, list[dict[str, Any]]]]:
        rng = random.Random(f"{self.seed}-providers")
        hours = random.Random(
            f"{self.seed}-schedules"
        )  # its own stream: the directory rows stay as they were
        chunk: dict[str, list[dict[str, Any]]] = _empty()
        for n in range(self.providers):
            self._provider(rng, n, chunk)
            self._schedule(hours, chunk["providers"][-1], chunk)
            if (n + 1) % size == 0:
                yield chunk
                chunk = _empty()
        if chunk["providers"]:
            yield chunk

    # ---------------------------------------------------------------------------------------------------------

    def _states(self, rng: random.Random) -> list[str]:
        k = _pick(rng, ((1, 0.55), (2, 0.28), (3, 0.17)))
        states: list[str] = []
        while len(states) < k:
            s = rng.choices(STATES, self._weights)[0]
            if s not in states:
                states.append(s)
        return states

    def _dates(self, rng: random.Random, status: str) -> tuple[date | None, date | None]:
        if status == "expired":
            expires = TODAY - timedelta(days=rng.randint(1, 700))
            return expires - timedelta(days=rng.randint(365, 20 * 365)), expires
        issued = TODAY - timedelta(days=rng.randint(60, 25 * 365))
        if rng.random() < 0.003:
            return issued, None  # no expiry on record: the rules refuse it
        # Renewal cycles of about two years; ~4 % lapse inside the benchmark's 90-day window.
        return issued, TODAY + timedelta(days=rng.randint(5, 3 * 365))

    def _provider(self, rng: random.Random, n: int, out: dict[str, list[dict[str, Any]]]) -> None:
        pid = _uuid(rng)
        credential = _pick(rng, CREDENTIAL_MIX)
        prescriber = credential in PRESCRIBERS
        states = self._states(rng)
        home = states[0]
        offers_therapy = not prescriber or rng.random() < {"MD": 0.25, "DO": 0.25, "PA": 0.1}.get(
            credential, 0.15
        )
        offers_meds = prescriber
        rxp_states: list[str] = []
        if credential in PSYCHOLOGISTS:
            rxp_states = [s for s in states if s in self._rxp and rng.random() < 0.15]
            offers_meds = bool(rxp_states)
        capacity = rng.randint(80, 300) if prescriber else rng.randint(15, 40)
        full = rng.random() < 0.2
        active = capacity if full else int(capacity * rng.uniform(0.4, 0.98))
        takes_insurance = rng.random() < 0.78
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        out["providers"].append(
            {
                "id": pid,
                "user_id": None,
                "clinic_id": None,
                "name": f"{first} {last}, {credential}",
                "sort_name": f"{first} {last}, {credential}".casefold(),
                "credential": credential,
                "npi": npi_for(n),
                "taxonomy_code": None,
                "bio": None,
                "gender": _pick(rng, GENDERS),
                "age_groups": [g for g in AGE_GROUPS if rng.random() < (0.9 if g == "adults" else 0.35)],
                "modalities": sorted(rng.sample(THERAPY_MODALITIES, rng.randint(1, 4)))
                if offers_therapy
                else ["medication_management"],
                "offers_therapy": offers_therapy,
                "offers_medication_management": offers_meds,
                "timezone": _timezone(home),
                "accepting_new_patients": rng.random() < 0.8,
                "capacity": capacity,
                "active_patients": active,
                "self_pay": (not takes_insurance) or rng.random() < 0.8,
                "self_pay_rate_cents": rng.choice((9000, 12000, 15000, 18000, 25000, 35000)),
                "is_active": rng.random() < 0.98,
                "created_at": STAMP,
                "updated_at": STAMP,
            }
        )
        for state in states:
            self._license(rng, pid, credential, state, out)
        self._compacts(rng, pid, credential, states, out)
        if prescriber:
            for state in states:
                if rng.random() < 0.88:
                    all_schedules = credential not in ("NP", "APRN", "PMHNP") or rng.random() < 0.7
                    out["dea_registrations"].append(
                        {
                            "id": _uuid(rng),
                            "provider_id": pid,
                            "state": state,
                            "number": f"F{last[0].upper() if last[0].isascii() else 'X'}{rng.randint(0, 9_999_999):07d}",
                            "schedules": ["2", "2N", "3", "3N", "4", "5"]
                            if all_schedules
                            else ["3", "3N", "4", "5"],
                            "expires": TODAY + timedelta(days=rng.randint(-30, 3 * 365)),
                            "created_at": STAMP,
                            "updated_at": STAMP,
                        }
                    )
        for state in rxp_states:
            out["prescriptive_certifications"].append(
                {
                    "id": _uuid(rng),
                    "provider_id": pid,
                    "state": state,
                    "number": f"RXP-{state}-{rng.randint(0, 99999):05d}",
                    "expires": TODAY + timedelta(days=rng.randint(30, 3 * 365)),
                    "created_at": STAMP,
                    "updated_at": STAMP,
                }
            )
        group = 2 if prescriber else 1
        conditions = [c[0] for c in CONDITIONS if rng.random() < c[group]]
        if credential == "LMFT" and "relationship_issues" not in conditions:
            conditions.append("relationship_issues")
        for condition in sorted(set(conditions)):
            out["provider_conditions"].append({"provider_id": pid, "condition": condition})
        key = rank_key(pid, out["providers"][-1]["name"])
        for table in ("licenses", "compact_privileges"):
            for row in reversed(out[table]):
                if row["provider_id"] != pid:
                    break
                row["rank_key"] = key
        spanish = 0.28 if home in _SPANISH_HEAVY else 0.08
        languages = {code for code, share in LANGUAGES if rng.random() < (spanish if code == "es" else share)}
        for language in sorted(languages or {"en"}):
            out["provider_languages"].append({"provider_id": pid, "language": language})
        if takes_insurance:
            plan_ids = {p.id for p in self.national if rng.random() < p.in_network}
            for state in states:
                plan_ids |= {p.id for p in self.regional[state] if rng.random() < p.in_network}
            for plan_id in sorted(plan_ids):
                out["provider_networks"].append({"provider_id": pid, "plan_id": plan_id})

    @staticmethod
    def _schedule(rng: random.Random, provider: dict[str, Any], out: dict[str, list[dict[str, Any]]]) -> None:
        if rng.random() < NO_SCHEDULE_SHARE:
            return
        pid = provider["id"]
        out["provider_schedules"].append(
            {
                "provider_id": pid,
                "timezone": provider["timezone"],
                "buffer_minutes": _pick(rng, ((0, 0.6), (10, 0.3), (15, 0.1))),
                "min_notice_minutes": _pick(rng, ((720, 0.6), (1440, 0.3), (2880, 0.1))),
                "horizon_days": _pick(rng, ((30, 0.2), (60, 0.6), (90, 0.2))),
                "late_cancel_hours": 24,
                "updated_at": STAMP,
            }
        )
        for weekday, start, end in _pick(rng, SCHEDULE_PATTERNS):
            out["availability_windows"].append(
                {
                    "id": _uuid(rng),
                    "provider_id": pid,
                    "weekday": weekday,
                    "start_time": clock_time(start),
                    "end_time": clock_time(end),
                    "visit_types": [],
                    "created_at": STAMP,
                    "updated_at": STAMP,
                }
            )
        if rng.random() < LEAVE_SHARE:
            first = NOW.date() + timedelta(days=rng.randrange(LEAVE_START_DAYS))
            for offset in range(rng.randint(*LEAVE_DAYS)):
                out["availability_exceptions"].append(
                    {
                        "id": _uuid(rng),
                        "provider_id": pid,
                        "day": first + timedelta(days=offset),
                        "start_time": None,
                        "end_time": None,
                        "available": False,
                        "note": "leave",
                        "created_at": STAMP,
                        "updated_at": STAMP,
                    }
                )

    def _license(
        self, rng: random.Random, pid: uuid.UUID, credential: str, state: str, out: dict[str, list[Any]]
    ) -> None:
        x = rng.random()
        if x < 0.003:  # a type that no longer fits the credential (the rules refuse it)
            kind = rng.choice([t for t in self._all_types if t not in self._license_types[credential]])
        elif x < 0.1:
            kind = rng.choice(self._license_types[credential])
        else:
            kind = USUAL_LICENSE_TYPE[credential]
        status = _pick(rng, LICENSE_STATUS_MIX)
        issued, expires = self._dates(rng, status)
        out["licenses"].append(
            {
                "id": _uuid(rng),
                "provider_id": pid,
                "state": state,
                "license_type": kind,
                "number": f"{state}-{kind}-{rng.randint(0, 9_999_999):07d}",
                "status": status,
                "issued": issued,
                "expires": expires,
                "created_at": STAMP,
                "updated_at": STAMP,
            }
        )

    def _compacts(
        self,
        rng: random.Random,
        pid: uuid.UUID,
        credential: str,
        states: list[str],
        out: dict[str, list[Any]],
    ) -> None:
        remote: list[tuple[str, str]] = []
        if credential in PSYCHOLOGISTS and states[0] in self._psypact and rng.random() < 0.45:
            pool = [s for s in self._psypact if s not in states]
            remote = [("PSYPACT", s) for s in rng.sample(pool, min(len(pool), rng.randint(3, 12)))]
        elif credential in COUNSELORS and states[0] in self._counseling_home and rng.random() < 0.4:
            pool = [s for s in self._counseling_all if s not in states]
            remote = [("COUNSELING", s) for s in rng.sample(pool, min(len(pool), rng.randint(1, 4)))]
        elif credential in SOCIAL_WORKERS and rng.random() < 0.005:
            remote = [("SOCIAL_WORK", rng.choice(self._social_work))]
        for compact, state in remote:
            status = "active" if rng.random() < 0.97 else "inactive"
            issued = TODAY - timedelta(days=rng.randint(30, 3 * 365))
            out["compact_privileges"].append(
                {
                    "id": _uuid(rng),
                    "provider_id": pid,
                    "compact": compact,
                    "state": state,
                    "status": status,
                    "issued": issued,
                    "expires": max(
                        issued + timedelta(days=30), TODAY + timedelta(days=rng.randint(-60, 2 * 365))
                    ),
                    "created_at": STAMP,
                    "updated_at": STAMP,
                }
            )


TABLES: dict[str, Table] = {
    "providers": Provider.__table__,  # type: ignore[dict-item]
    "licenses": License.__table__,  # type: ignore[dict-item]
    "compact_privileges": CompactPrivilege.__table__,  # type: ignore[dict-item]
    "dea_registrations": DeaRegistration.__table__,  # type: ignore[dict-item]
    "prescriptive_certifications": PrescriptiveCertification.__table__,  # type: ignore[dict-item]
    "provider_conditions": ProviderCondition.__table__,  # type: ignore[dict-item]
    "provider_languages": ProviderLanguage.__table__,  # type: ignore[dict-item]
    "provider_networks": ProviderNetwork.__table__,  # type: ignore[dict-item]
    "provider_schedules": ProviderSchedule.__table__,  # type: ignore[dict-item]
    "availability_windows": AvailabilityWindow.__table__,  # type: ignore[dict-item]
    "availability_exceptions": AvailabilityException.__table__,  # type: ignore[dict-item]
}


def _empty() -> dict[str, list[dict[str, Any]]]:
    return {name: [] for name in TABLES}


@dataclass(frozen=True, slots=True)
class Loaded:
    generator: DirectoryGenerator
    counts: dict[str, int]
    seconds: float


def load(engine: Engine, providers: int, *, seed: int = DEFAULT_SEED, progress: bool = True) -> Loaded:
    """Insert the synthetic directory into a migrated, empty database (Core executemany, one transaction
    per chunk), then compact and refresh the planner statistics as a maintained database would be (:func:`analyze`)."""
    gen = DirectoryGenerator(providers, seed)
    counts = Counts()
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(Plan.__table__.insert(), gen.plan_rows())  # type: ignore[attr-defined]
    counts.add("plans", len(gen.plans))
    done = 0
    for chunk in gen.chunks():
        with engine.begin() as conn:
            for name, table in TABLES.items():  # parents first (foreign keys)
                if chunk[name]:
                    conn.execute(table.insert(), chunk[name])
                    counts.add(name, len(chunk[name]))
        done += len(chunk["providers"])
        if progress and (done % 25_000 == 0 or done == providers):
            took = time.perf_counter() - started
            print(f"  loaded {done:,}/{providers:,} providers ({took:.0f} s)", flush=True)
    build_documents(engine, progress=progress)
    compute_openings(engine, now=NOW, progress=progress)
    analyze(engine)
    return Loaded(gen, dict(counts.rows), time.perf_counter() - started)


def build_documents(engine: Engine, *, progress: bool = True) -> None:
    """Matching's documents for the loaded directory (directory.documents: the services keep them on every
    write; a bulk load builds them once), one transaction per 5,000 providers."""
    from sqlalchemy import select

    from careweave.db.engine import make_sessionmaker
    from careweave.directory import documents

    started = time.perf_counter()
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        ids = list(session.scalars(select(Provider.id).order_by(Provider.id)))
    written = 0
    for i in range(0, len(ids), 5000):
        with sessions.begin() as session:
            written += documents.refresh(session, ids[i : i + 5000])
    if progress:
        print(f"  {written:,} match documents in {time.perf_counter() - started:.0f} s", flush=True)


def compute_openings(engine: Engine, *, now: datetime, progress: bool = True) -> None:
    """Every provider's stored earliest free first visits as of ``now`` (scheduling.earliest.refresh, as the
    worker keeps them), one transaction per 5,000 providers."""
    from sqlalchemy import select

    from careweave.db.engine import make_sessionmaker
    from careweave.scheduling import earliest

    started = time.perf_counter()
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        ids = list(session.scalars(select(Provider.id).order_by(Provider.id)))
    for i in range(0, len(ids), 5000):
        with sessions.begin() as session:
            earliest.refresh(session, ids[i : i + 5000], now=now)
    if progress:
        print(
            f"  earliest free times of {len(ids):,} providers in {time.perf_counter() - started:.0f} s",
            flush=True,
        )


def analyze(engine: Engine) -> None:
    """The maintenance a bulk load calls for (docs/deployment.md "After a bulk load"), then fresh planner
    statistics. Loading writes every match document and then rewrites it with its provider's earliest free times,
    in provider order, not key order: on PostgreSQL the table and its covering key index end up about twice their
    size (dead versions, half-full leaves), on SQLite the key's pages half full and out of order, so a state's
    range is scattered over the file. ``VACUUM FULL match_documents`` (PostgreSQL; then ``VACUUM`` sets the
    visibility map its index-only scans need) and ``VACUUM`` (SQLite) rebuild them as a fresh build would."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM FULL match_documents")
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        raw = engine.raw_connection()  # outside any transaction: the engine's connections BEGIN IMMEDIATE
        try:
            raw.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
            raw.driver_connection.execute("ANALYZE")  # type: ignore[union-attr]
        finally:
            raw.close()
