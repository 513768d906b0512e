"""The measurement-based care registry at scale (issue #8 "Scale (benchmark)"), on SQLite and PostgreSQL.

    python -m benchmarks.registry                                  # 1,000,000 patients, 10,000,000 scores
    python -m benchmarks.registry --patients 20000 --calls 100     # a quick smoke run
    python -m benchmarks.registry --json /tmp/registry.json --markdown    # the run in docs/benchmarks.md

For each backend in turn: a fresh migrated database (SQLite in a temporary directory, PostgreSQL a throwaway
database on the local cluster, tests/pg.py; dropped afterwards unless ``--keep``), the synthetic clinic below
loaded in bulk (PostgreSQL: ``COPY``; SQLite: executemany in large transactions), ``ANALYZE``, then:

(a) caseload page: ``outcomes.registry.caseload(care_manager_id=<cm>, limit=200)`` as that care manager, over
    ``--calls`` different care managers, each in a fresh session (the audit row rolled back): p50/p95/p99;
(b) whole-clinic flagged list: the consultant's ``caseload(flag="any", limit=200)`` (the first page and the
    total), against the floor: the best hand-written SQL over the summary tables for the same answer (the count
    of flagged open episodes and the first page in the registry's order) run through the driver, no ORM; and,
    for context, the same flagged count computed from the raw scores (baselines from ``screening_responses``);
(c) the month-end CoCM summary ``outcomes.minutes.billing_month`` against a hand-written SQL floor.

Before timing, once per backend, the run checks the service and the floor against an oracle: the flags the
pure rules (``outcomes.rules.registry_flags``) give every open episode from the generator's own facts. Any
difference is printed, never hidden.

The synthetic clinic (deterministic for a seed; synthetic names, nobody real):

* one clinic; one psychiatric consultant on every episode (the whole-clinic view); care managers with 120-200
  open episodes each (1,000,000 patients: about 5,300 of them); psychiatrists and therapists treating some
  patients (care-team rows: care manager and consultant "assigned", clinicians "patient_choice"/"referral");
  an admin who reads the billing summary;
* one episode of care per patient, started within the last year: 85 % open, 15 % closed (goals met with a
  relapse-prevention plan, inactive after 6 idle months, referred out, withdrew);
* ``--scores-per-patient`` (default 10, 4 to 16 each, exactly the mean in total) PHQ-9 scores, every 2, 3 or 4
  weeks from the intake, and for a quarter of the patients GAD-7 alongside; trajectories: improving, partial,
  flat, worsening (baseline PHQ-9 10-24); 3 % prorated (one item missing), 2 % of baselines prorated (the next
  complete score is the baseline), 0.7 % with item 9 unanswered (incomplete), item 9 positive for some
  patients; answers scored by ``screening.scoring`` itself;
* ``measure_summaries`` and the ``care_episodes`` facts exactly as ``outcomes.service`` leaves them after those
  scores (``rules.measurement_status`` at each instrument's last score, the worst status, ``rules.next_due``);
* safety alerts for item 9 positive/unanswered (recent ones open), overdue monitoring-lab orders for some,
  consultant case reviews, care-team consent (93 % of patients share screening with their care team), and
  care-manager minutes in the billing month (the last complete calendar month) for 20 % of open episodes.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.matching import Database, Samples, fresh_database, machine
from careweave.core.actor import Actor, Role
from careweave.core.clock import FixedClock
from careweave.db.base import Base
from careweave.db.engine import make_sessionmaker
from careweave.outcomes import minutes, registry, rules
from careweave.outcomes.service import STATUS_ORDER
from careweave.screening import scoring
from careweave.screening.instruments import get_instrument

DEFAULT_SEED = 8
TARGET_PAGE_P99_MS = 100.0  # issue #8: a care manager's caseload page <= 100 ms p99 ...
TARGET_RATIO = 2.0  # ... and the whole-clinic flagged list within 2x the floor measured in the same run
PAGE = 200

GIVEN = [
    "Avery",
    "Blair",
    "Casey",
    "Dana",
    "Eden",
    "Finley",
    "Gray",
    "Harper",
    "Indy",
    "Jules",
    "Kai",
    "Lane",
    "Morgan",
    "Noor",
    "Oakley",
    "Parker",
    "Quinn",
    "Reese",
    "Sage",
    "Tatum",
    "Umi",
    "Vale",
    "Wren",
    "Xen",
    "Yael",
    "Zion",
    "Ari",
    "Bo",
    "Cleo",
    "Dax",
    "Ember",
    "Fern",
    "Gus",
    "Hollis",
    "Iris",
    "Jonah",
    "Kit",
    "Lior",
    "Mika",
    "Nico",
    "Orla",
    "Pax",
    "Rio",
    "Sol",
    "Teo",
    "Uma",
    "Vida",
    "Wynn",
    "Yuri",
    "Zara",
]
FAMILY = [
    "Ashdown",
    "Brightwater",
    "Coldbrook",
    "Dunmere",
    "Elmsworth",
    "Fairhollow",
    "Glenrock",
    "Hartwell",
    "Ivywood",
    "Juniper",
    "Kestrel",
    "Larkspur",
    "Merrow",
    "Northcote",
    "Oakhurst",
    "Pembry",
    "Quillon",
    "Rookwood",
    "Stillwater",
    "Thornbury",
    "Underhill",
    "Vantwood",
    "Whitmore",
    "Yarrowby",
    "Zephyr",
    "Alderney",
    "Birchall",
    "Calloway",
    "Dovecote",
    "Everly",
    "Foxmere",
    "Greywell",
    "Hollins",
    "Ingleby",
    "Jessop",
    "Kirkwall",
    "Lindqvist",
    "Moorcroft",
    "Netherby",
    "Ormsby",
    "Penhallow",
    "Quarrie",
    "Redfern",
    "Saltmarsh",
    "Tamsin",
    "Upfield",
    "Verity",
    "Wolstan",
    "Yelland",
    "Zennor",
]
STATES = ("CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "NC", "MI", "WA", "MA", "AZ", "CO", "OR")
ACTIVITIES = ("outreach", "follow_up", "brief_intervention", "care_coordination", "relapse_prevention")

# ------------------------------------------------------------------------------------------------------------
# Encoding: one row is a tuple of str / int / bool / None; dates are ISO strings, datetimes "YYYY-MM-DD
# HH:MM:SS.ffffff" (+ "+00" on PostgreSQL), UUIDs 32 hex digits (what SQLAlchemy's Uuid stores on SQLite and
# what PostgreSQL's uuid accepts).


def _ident(tag: int, n: int) -> str:
    """A unique, random-looking id (random UUIDs are what the application writes)."""
    x = (n * 0x9E3779B97F4A7C15 + tag * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    return f"{x:016x}{tag:04x}{n:012x}"


def _uuid(ident: str) -> uuid.UUID:
    return uuid.UUID(ident)


TAG = {
    "clinics": 1,
    "users": 2,
    "patients": 3,
    "care_episodes": 4,
    "screening_responses": 5,
    "care_team_members": 6,
    "consent_directives": 7,
    "safety_alerts": 8,
    "lab_orders": 9,
    "case_reviews": 10,
    "cocm_time_entries": 11,
}

# Parents first (foreign keys).
COLUMNS: dict[str, tuple[str, ...]] = {
    "clinics": ("id", "created_at", "updated_at", "name", "timezone"),
    "users": (
        "id",
        "created_at",
        "updated_at",
        "email",
        "password_hash",
        "role",
        "full_name",
        "clinic_id",
        "is_active",
        "failed_logins",
        "password_changed_at",
    ),
    "patients": (
        "id",
        "created_at",
        "updated_at",
        "clinic_id",
        "given_name",
        "family_name",
        "birth_date",
        "state",
        "timezone",
        "phone",
    ),
    "care_episodes": (
        "id",
        "created_at",
        "updated_at",
        "patient_id",
        "clinic_id",
        "started_on",
        "start_reason",
        "care_manager_user_id",
        "consultant_user_id",
        "started_by",
        "ended_on",
        "end_reason",
        "ended_by",
        "relapse_prevention_plan",
        "instruments",
        "interval_days",
        "last_contact_on",
        "last_activity_on",
        "next_due_on",
        "reminded_due_on",
        "last_measured_on",
        "status",
        "last_item9_positive_on",
        "last_review_on",
    ),
    "measure_summaries": (
        "episode_id",
        "instrument",
        "patient_id",
        "baseline_score",
        "baseline_at",
        "latest_score",
        "latest_at",
        "latest_prorated",
        "change",
        "percent_change",
        "weeks_in_treatment",
        "status",
        "flags",
        "scores",
        "updated_at",
    ),
    "screening_responses": (
        "id",
        "created_at",
        "updated_at",
        "patient_id",
        "instrument",
        "instrument_version",
        "answers",
        "extra",
        "total",
        "severity",
        "positive",
        "prorated",
        "complete",
        "answered_count",
        "risk_level",
        "flags",
        "details",
        "authored_at",
        "author_user_id",
        "source",
        "status",
    ),
    "care_team_members": (
        "id",
        "created_at",
        "updated_at",
        "patient_id",
        "user_id",
        "role",
        "basis",
        "start_date",
        "end_date",
        "added_by",
    ),
    "consent_directives": (
        "id",
        "created_at",
        "updated_at",
        "patient_id",
        "grantee_user_id",
        "grantee_care_team",
        "categories",
        "expires",
        "status",
        "granted_at",
        "granted_by",
    ),
    "safety_alerts": (
        "id",
        "created_at",
        "updated_at",
        "patient_id",
        "clinic_id",
        "screening_id",
        "level",
        "reason",
        "status",
        "escalation_count",
        "escalate_at",
        "acknowledged_at",
        "acknowledged_by",
        "acknowledgement_note",
    ),
    "lab_orders": (
        "id",
        "created_at",
        "updated_at",
        "patient_id",
        "protocol_item",
        "test",
        "loinc",
        "due_on",
        "status",
        "reason",
        "ordered_by",
        "resulted_at",
    ),
    "case_reviews": (
        "id",
        "created_at",
        "updated_at",
        "patient_id",
        "episode_id",
        "consultant_user_id",
        "reviewed_on",
        "recommendation",
        "detail",
        "decision",
    ),
    "cocm_time_entries": (
        "id",
        "created_at",
        "updated_at",
        "patient_id",
        "episode_id",
        "staff_user_id",
        "on_date",
        "minutes",
        "activity",
        "note",
    ),
}


def check_columns() -> None:
    """Every NOT NULL column without a server default is written (the application's defaults are Python's)."""
    for name, cols in COLUMNS.items():
        table = Base.metadata.tables[name]
        unknown = set(cols) - set(table.c.keys())
        missing = {c.name for c in table.c if not c.nullable and c.server_default is None} - set(cols)
        if unknown or missing:
            raise SystemExit(
                f"{name}: unknown columns {sorted(unknown)}, NOT NULL columns missing {sorted(missing)}"
            )


# ------------------------------------------------------------------------------------------------------------
# The synthetic clinic


@dataclass
class Oracle:
    """What the pure rules say about the generated data, to check the service and the floor against."""

    flagged: set[str] = field(default_factory=set)  # open episodes with any registry flag today
    by_flag: dict[str, int] = field(default_factory=dict)
    open_by_cm: dict[str, int] = field(default_factory=dict)
    billing_patients: int = 0
    billing_minutes: int = 0


@dataclass
class World:
    today: date
    now: datetime
    clinic_id: str
    consultant_id: str
    admin_id: str
    care_managers: list[str]
    billing_month: str
    oracle: Oracle
    counts: dict[str, int]
    seconds: float = 0.0


class Template:
    """A scored questionnaire (the real scoring function's result), pre-encoded."""

    __slots__ = ("complete", "item9_positive", "item9_unanswered", "middle", "prorated", "total")

    def __init__(self, code: str, answers: list[int | None], version: str) -> None:
        r = scoring.score(code, answers)
        self.total = int(r.total or 0)
        self.prorated = r.prorated
        self.complete = r.complete
        self.item9_positive = "suicide_item_positive" in r.flags
        self.item9_unanswered = "suicide_item_unanswered" in r.flags
        self.middle = (
            code,
            version,
            json.dumps(list(answers)),
            "{}",
            r.total,
            r.severity,
            r.positive,
            r.prorated,
            r.complete,
            r.answered_count,
            r.risk_level,
            json.dumps(list(r.flags)),
            json.dumps(r.details),
        )


class Generator:
    """Rows for every table, chunk by chunk (each chunk independent, so worker processes can make them), and
    the oracle, for ``patients`` patients."""

    def __init__(self, patients: int, scores_per_patient: int, seed: int, today: date, backend: str) -> None:
        self.n = patients
        self.spp = scores_per_patient
        self.seed = seed
        self.today = today
        self.sfx = "+00" if backend == "postgresql" else ""
        self.rs = rules.default_rules()
        first = today.replace(day=1)
        self.bill_last = first - timedelta(days=1)
        self.bill_first = self.bill_last.replace(day=1)
        self.days = [(today - timedelta(days=k)).isoformat() for k in range(800)]
        self.midnight = [
            datetime.combine(today - timedelta(days=k), datetime.min.time(), tzinfo=UTC) for k in range(800)
        ]
        self.minutes = [timedelta(minutes=m) for m in range(1440)]
        self.stamp = f"{today.isoformat()} 06:00:00.000000{self.sfx}"
        self.clinic_id = _ident(TAG["clinics"], 0)
        self.consultant_id = _ident(TAG["users"], 0)
        self.admin_id = _ident(TAG["users"], 1)
        self.prescribers = [_ident(TAG["users"], 10 + k) for k in range(max(4, patients // 4000))]
        self.therapists = [_ident(TAG["users"], 500_000 + k) for k in range(max(8, patients // 1500))]
        self.per_patient = 2 * scores_per_patient + 16  # an upper bound of one patient's scores
        self.phq: dict[tuple[int, int, int], Template] = {}
        self.gad: dict[tuple[int, int], Template] = {}
        self.phq_version = get_instrument("phq-9").version
        self.gad_version = get_instrument("gad-7").version
        rng = random.Random(seed)
        self.prefix = [f"{rng.getrandbits(64):016x}" for _ in range(4096)]

    def _id(self, tag: str, n: int) -> str:
        """Unique per table (the counter), random-looking (the prefix), as the application's random UUIDs."""
        return f"{self.prefix[n & 4095]}{tag}{n:012x}"

    def _user(self, ident: str, role: str, name: str, email: str) -> tuple[Any, ...]:
        return (ident, self.stamp, self.stamp, email, "!", role, name, self.clinic_id, True, 0, self.stamp)

    def staff(self) -> dict[str, list[tuple[Any, ...]]]:
        rng = random.Random(self.seed - 1)
        rows = [
            self._user(
                self.consultant_id, "psychiatrist", "Dr Sol Oakhurst", "consultant@bench.careweave.test"
            ),
            self._user(self.admin_id, "admin", "Clinic Admin", "admin@bench.careweave.test"),
        ]
        for k, ident in enumerate(self.prescribers):
            name = f"Dr {rng.choice(GIVEN)} {rng.choice(FAMILY)}"
            rows.append(self._user(ident, "psychiatrist", name, f"psychiatrist{k}@bench.careweave.test"))
        for k, ident in enumerate(self.therapists):
            name = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}, LCSW"
            rows.append(self._user(ident, "therapist", name, f"therapist{k}@bench.careweave.test"))
        clinic = (
            self.clinic_id,
            self.stamp,
            self.stamp,
            "Benchmark Collaborative Care Clinic",
            "America/New_York",
        )
        return {"clinics": [clinic], "users": rows}

    # -- questionnaires, scored once per distinct answer pattern by screening.scoring itself

    def _phq9(self, total: int, item9: int, missing: int, variant: int) -> Template:
        """PHQ-9 answers summing to ``total`` with item 9 = ``item9`` (-1: unanswered); ``missing`` is the
        index (0-7) of an unanswered item (prorated), or -1."""
        key = (total, item9, missing * 4 + variant)
        t = self.phq.get(key)
        if t is None:
            rest = max(0, min(24, total - max(item9, 0)))
            items: list[int | None] = [rest // 8] * 8
            for k in range(rest % 8):
                j = (k + variant * 3) % 8
                items[j] = (items[j] or 0) + 1
            if missing >= 0:
                items[missing] = None
            answers = [*items, None if item9 < 0 else item9]
            t = self.phq[key] = Template("phq-9", answers, self.phq_version)
        return t

    def _gad7(self, total: int, missing: int) -> Template:
        key = (total, missing)
        t = self.gad.get(key)
        if t is None:
            items: list[int | None] = [total // 7 + (1 if k < total % 7 else 0) for k in range(7)]
            if missing >= 0:
                items[missing] = None
            t = self.gad[key] = Template("gad-7", items, self.gad_version)
        return t

    # -- one chunk

    def chunk(self, k: int, size: int) -> Chunk:
        out = Chunk({t: [] for t in COLUMNS if t != "clinics"}, Oracle(), [])
        rng = random.Random(self.seed * 1_000_003 + k)
        cms = _CareManagers(self, k, rng, out)
        for i in range(k * size, min(self.n, (k + 1) * size)):
            self._patient(i, rng, cms, out)
        return out

    def _count(self, i: int, rng: random.Random) -> int:
        """Scores for patient ``i``: 4-16 around the mean, in pairs that cancel (the total is exact)."""
        spread = max(0, min(6, self.spp - 4))
        if i + 1 >= self.n and i % 2 == 0:
            return self.spp
        delta = random.Random(self.seed * 7919 + i // 2).randint(-spread, spread) if spread else 0
        return self.spp + (delta if i % 2 == 0 else -delta)

    def _patient(self, i: int, rng: random.Random, cms: _CareManagers, out: Chunk) -> None:
        rnd, rs, sfx, today, days = rng.random, self.rs, self.sfx, self.today, self.days
        rows = out.rows
        pid = _ident(TAG["patients"], i)
        eid = _ident(TAG["care_episodes"], i)
        count = self._count(i, rng)
        is_open = rnd() < 0.85
        dual = rnd() < 0.25
        # visits: PHQ-9 at each; GAD-7 too for dual patients (the intake alone when the count is odd)
        n_gad = count // 2 if dual else 0
        n_phq = count - n_gad
        interval = (14, 14, 21, 28, 28)[int(rnd() * 5)]
        lag = int(rnd() * 36) if rnd() < 0.88 else 36 + int(rnd() * 60)
        span = 360 - lag
        gap = min(interval, max(3, span // max(1, n_phq - 1)))
        gaps = [max(3, gap - 3 + int(rnd() * 7)) for _ in range(n_phq - 1)]
        while sum(gaps) > span:
            gaps = [max(3, g - 1) for g in gaps]
        duration = sum(gaps)
        last_off = lag if is_open else 40 + int(rnd() * (max(0, 365 - duration - 40) + 1))
        start_off = last_off + duration
        start = today - timedelta(days=start_off)
        # trajectory: improving, partial, flat, worsening
        base = min(24, max(10, round(rng.triangular(10, 24, 15))))
        kind = rnd()
        if kind < 0.45:
            target, tau = 2 + 5 * rnd(), 4 + 8 * rnd()
        elif kind < 0.65:
            target, tau = base * (0.5 + 0.25 * rnd()), 4 + 6 * rnd()
        elif kind < 0.9:
            target, tau = base - 2 + 3 * rnd(), 6.0
        else:
            target, tau = min(27.0, base + 3 + 4 * rnd()), 6 + 10 * rnd()
        at_risk = rnd() < 0.08
        prorated_baseline = rnd() < 0.02
        minute0 = 780 + int(rnd() * 540)
        phq_scores: list[rules.Score] = []
        gad_scores: list[rules.Score] = []
        stamps: dict[datetime, str] = {}
        item9_days: list[int] = []
        signals: list[int] = []
        responses = rows["screening_responses"]
        sbase = i * self.per_patient
        off = start_off
        for v in range(n_phq):
            if v:
                off -= gaps[v - 1]
            weeks = (start_off - off) / 7
            value = base + (target - base) * (1 - math.exp(-weeks / tau)) + rng.gauss(0, 1.5)
            total = min(27, max(0, round(value)))
            r = rnd()
            item9 = 0
            if at_risk and total >= 8 and rnd() < 0.4:
                item9 = 1 if rnd() < 0.75 else 2
            missing = -1
            if (v == 0 and prorated_baseline) or r < 0.03:
                missing = int(rnd() * 8)
            elif r < 0.037:
                item9 = -1
            t = self._phq9(total, item9, missing, i & 3)
            minute = minute0 - 30 + int(rnd() * 61)
            stamp = f"{days[off]} {minute // 60:02d}:{minute % 60:02d}:00.000000{sfx}"
            responses.append(
                (
                    self._id("0005", sbase + 2 * v),
                    stamp,
                    stamp,
                    pid,
                    *t.middle,
                    stamp,
                    None,
                    "patient",
                    "completed",
                )
            )
            at = self.midnight[off] + self.minutes[minute]
            stamps[at] = stamp
            phq_scores.append(rules.Score(t.total, at, prorated=t.prorated, complete=t.complete))
            if t.item9_positive:
                item9_days.append(off)
                signals.append(off)
            elif t.item9_unanswered:
                signals.append(off)
            if v < n_gad:
                g = min(21, max(0, round(total * 21 / 27 + rng.gauss(0, 1.5))))
                gt = self._gad7(g, int(rnd() * 7) if rnd() < 0.03 else -1)
                gmin = minute + 4
                gstamp = f"{days[off]} {gmin // 60:02d}:{gmin % 60:02d}:00.000000{sfx}"
                responses.append(
                    (
                        self._id("0005", sbase + 2 * v + 1),
                        gstamp,
                        gstamp,
                        pid,
                        *gt.middle,
                        gstamp,
                        None,
                        "patient",
                        "completed",
                    )
                )
                gat = self.midnight[off] + self.minutes[gmin]
                stamps[gat] = gstamp
                gad_scores.append(rules.Score(gt.total, gat, prorated=gt.prorated, complete=gt.complete))
        instruments = ["phq-9", "gad-7"] if dual else ["phq-9"]
        # summaries: the status after each instrument's last score (outcomes.service._apply_score)
        statuses: list[rules.MeasurementStatus] = []
        for code, scores in (("phq-9", phq_scores), ("gad-7", gad_scores)):
            if not scores:
                continue
            last = scores[-1].at
            st = rules.measurement_status(code, scores, episode_start=start, on=last.date(), rules=rs)
            statuses.append(st)
            b, lt = st.baseline, st.latest
            rows["measure_summaries"].append(
                (
                    eid, code, pid,
                    b.value if b else None, stamps[b.at] if b else None,
                    lt.value if lt else None, stamps[lt.at] if lt else None,
                    bool(lt and lt.prorated), st.change, st.percent_change, st.weeks_in_treatment, st.status,
                    _json_list(st.flags), sum(1 for s in scores if s.complete), stamps[last],
                )
            )  # fmt: skip
        measured = [s.latest.at.date() for s in statuses if s.latest is not None]
        last_measured = min(measured) if len(measured) == len(instruments) and measured else None
        worst = [s.status for s in statuses if s.status]
        status = min(worst, key=STATUS_ORDER.index) if worst else None
        next_due = rules.next_due(
            last_measured=last_measured, episode_start=start, next_contact=None, rules=rs
        )
        # contacts: each measure is taken in a care-manager contact; half have a later call
        contact_off = last_off
        if rnd() < 0.5 and is_open:
            contact_off = max(0, contact_off - 5 - int(rnd() * 17))
        cm = cms.next() if is_open else cms.any()
        # the month-end minutes (20 % of open episodes started by the end of the billing month)
        if is_open and start <= self.bill_last and rnd() < 0.2:
            lo = max(start, self.bill_first)
            width = (min(self.bill_last, today) - lo).days + 1
            tbase = i * 8
            if start < self.bill_first:
                self._time_entry(out, tbase + 7, pid, eid, cm, start_off, 20 + int(rnd() * 31), "assessment")
            for j in range(1 + int(rnd() * 5)):
                toff = (today - lo).days - int(rnd() * width)
                mins = 5 + int(rnd() * 41)
                self._time_entry(out, tbase + j, pid, eid, cm, toff, mins, ACTIVITIES[int(rnd() * 5)])
                contact_off = min(contact_off, toff)
        last_contact = today - timedelta(days=contact_off)
        # a consultant's caseload review (open episodes, from week 8)
        last_review: date | None = None
        if is_open and start_off >= 56 and rnd() < 0.12:
            roff = int(rnd() * (min(60, start_off - 56) + 1))
            last_review = today - timedelta(days=roff)
            rows["case_reviews"].append(
                (
                    self._id("000a", i), self.ts(roff, 900), self.ts(roff, 900), pid, eid, self.consultant_id,
                    days[roff], ("increase_dose", "switch_medication", "add_therapy", "continue")[int(rnd() * 4)],
                    "Caseload review: discussed the trajectory with the care manager.", "none",
                )
            )  # fmt: skip
        activity = max(d for d in (start, last_contact, last_review) if d is not None)
        item9_last = today - timedelta(days=min(item9_days)) if item9_days else None
        # the episode's end
        ended_on = end_reason = plan = None
        if not is_open:
            kind_end = rnd()
            if kind_end < 0.6:
                end_reason = "goals_met"
                plan = "Relapse-prevention plan: warning signs, coping steps, who to call."
            elif kind_end < 0.8 and last_off >= 190:
                end_reason = "inactive"
                ended_on = rules.idle_end(activity, today, rs)
            else:
                end_reason = ("referred_out", "patient_withdrew")[int(rnd() * 2)]
            if ended_on is None:
                ended_on = today - timedelta(days=max(0, last_off - int(rnd() * 31)))
                end_reason = "patient_withdrew" if end_reason == "inactive" else end_reason
        ep_stamp = self.ts(start_off, minute0)
        rows["care_episodes"].append(
            (
                eid, ep_stamp, ep_stamp, pid, self.clinic_id, start.isoformat(),
                "enrolment" if rnd() < 0.8 else "referral", cm, self.consultant_id, cm,
                ended_on.isoformat() if ended_on else None, end_reason,
                cm if ended_on and end_reason != "inactive" else None, plan, _json_list(instruments),
                rs.interval_days, last_contact.isoformat(), activity.isoformat(), next_due.isoformat(),
                next_due.isoformat() if next_due <= today else None,
                last_measured.isoformat() if last_measured else None, status,
                item9_last.isoformat() if item9_last else None, last_review.isoformat() if last_review else None,
            )
        )  # fmt: skip
        age = 18 + int(rnd() * 63)
        birth = f"{today.year - age}-{1 + int(rnd() * 12):02d}-{1 + int(rnd() * 28):02d}"
        phone = f"+1555{i % 10_000_000:07d}" if rnd() < 0.7 else None
        given, family = GIVEN[int(rnd() * len(GIVEN))], FAMILY[int(rnd() * len(FAMILY))]
        rows["patients"].append(
            (pid, ep_stamp, ep_stamp, self.clinic_id, given, family, birth, STATES[int(rnd() * len(STATES))],
             "America/New_York", phone)
        )  # fmt: skip
        # care team: care manager and consultant assigned; treating clinicians chosen or referred
        team = rows["care_team_members"]
        day = start.isoformat()
        before = (start - timedelta(days=int(rnd() * 61))).isoformat()
        tb = i * 4
        team.append(
            (self._id("0006", tb), ep_stamp, ep_stamp, pid, cm, "care_manager", "assigned", day, None, cm)
        )
        team.append(
            (self._id("0006", tb + 1), ep_stamp, ep_stamp, pid, self.consultant_id, "psychiatric_consultant",
             "assigned", day, None, cm)
        )  # fmt: skip
        if rnd() < 0.6:
            doc = self.prescribers[int(rnd() * len(self.prescribers))]
            team.append(
                (self._id("0006", tb + 2), ep_stamp, ep_stamp, pid, doc, "prescriber", "patient_choice", before,
                 None, None)
            )  # fmt: skip
        if rnd() < 0.35:
            doc = self.therapists[int(rnd() * len(self.therapists))]
            team.append(
                (self._id("0006", tb + 3), ep_stamp, ep_stamp, pid, doc, "therapist", "referral", before, None,
                 None)
            )  # fmt: skip
        if rnd() < 0.93:
            rows["consent_directives"].append(
                (self._id("0007", i), ep_stamp, ep_stamp, pid, None, True, '["screening", "plan", "medications"]',
                 None, "active", ep_stamp, None)
            )  # fmt: skip
        # safety: each item-9 signal raised an alert; the latest is still open when recent
        open_alert = False
        for k, soff in enumerate(sorted(signals)[:3]):
            still_open = k == 0 and is_open and (soff <= 2 or rnd() < 0.05)
            open_alert = open_alert or still_open
            positive = soff in item9_days
            rows["safety_alerts"].append(
                (
                    self._id("0008", i * 4 + k), self.ts(soff, minute0), self.ts(soff, minute0), pid,
                    self.clinic_id, None, "moderate" if positive else "low",
                    "phq9_item9_positive" if positive else "phq9_item9_unanswered",
                    "open" if still_open else "acknowledged", 0, self.ts(soff, minute0 + 60),
                    None if still_open else self.ts(max(0, soff - 1), 600), None if still_open else cm,
                    None if still_open else "Called the patient; safety plan reviewed.",
                )
            )  # fmt: skip
        # monitoring labs (lithium levels) for some
        overdue_labs = 0
        if rnd() < 0.04:
            for j in range(1 + int(rnd() * 3)):
                due_off = -60 + int(rnd() * 181)
                state = "resulted" if due_off > 0 and rnd() < 0.7 else "ordered"
                overdue_labs += state == "ordered" and due_off > 0
                rows["lab_orders"].append(
                    (
                        self._id("0009", i * 4 + j), self.stamp, self.stamp, pid, "lithium.level", "lithium_level",
                        "14334-7", (today - timedelta(days=due_off)).isoformat(), state, "schedule", None,
                        self.ts(max(0, due_off - 1), 700) if state == "resulted" else None,
                    )
                )  # fmt: skip
        # the oracle: the registry flags the pure rules give this open episode today
        if is_open:
            oracle = out.oracle
            oracle.open_by_cm[cm] = oracle.open_by_cm.get(cm, 0) + 1
            case = rules.CaseFacts(
                statuses=statuses,
                weeks_in_treatment=rules.weeks_between(start, today),
                next_due=next_due,
                last_contact=last_contact,
                episode_start=start,
                open_safety_alert=open_alert,
                last_item9_positive=item9_last,
                overdue_labs=overdue_labs,
                last_review=last_review,
            )
            flags = rules.registry_flags(case, on=today, rules=rs)
            if flags:
                oracle.flagged.add(eid)
            for fl in flags:
                oracle.by_flag[fl] = oracle.by_flag.get(fl, 0) + 1

    def ts(self, dayoff: int, minute: int = 0) -> str:
        return f"{self.days[dayoff]} {minute // 60:02d}:{minute % 60:02d}:00.000000{self.sfx}"

    def _time_entry(
        self, out: Chunk, n: int, pid: str, eid: str, cm: str, off: int, mins: int, activity: str
    ) -> None:
        day = self.today - timedelta(days=off)
        if self.bill_first <= day <= self.bill_last:
            out.oracle.billing_minutes += mins
        stamp = self.ts(off, 1000)
        out.rows["cocm_time_entries"].append(
            (self._id("000b", n), stamp, stamp, pid, eid, cm, self.days[off], mins, activity, None)
        )


@dataclass
class Chunk:
    rows: dict[str, list[tuple[Any, ...]]]
    oracle: Oracle
    care_managers: list[str]


class _CareManagers:
    """The chunk's care managers, 120-200 open episodes each (closed episodes go to any of them)."""

    def __init__(self, gen: Generator, k: int, rng: random.Random, out: Chunk) -> None:
        self.gen, self.k, self.rng, self.out = gen, k, rng, out
        self.left = 0

    def next(self) -> str:
        if self.left <= 0:
            self._new()
        self.left -= 1
        return self.out.care_managers[-1]

    def any(self) -> str:
        if not self.out.care_managers:
            self._new()
        return self.out.care_managers[int(self.rng.random() * len(self.out.care_managers))]

    def _new(self) -> None:
        seq = 1_000_000 + self.k * 10_000 + len(self.out.care_managers)
        ident = _ident(TAG["users"], seq)
        name = f"{self.rng.choice(GIVEN)} {self.rng.choice(FAMILY)}, RN"
        email = f"caremanager{self.k}-{len(self.out.care_managers)}@bench.careweave.test"
        self.out.rows.setdefault("users", []).append(self.gen._user(ident, "care_manager", name, email))
        self.out.care_managers.append(ident)
        self.left = 120 + int(self.rng.random() * 81)


_WORKER: Generator | None = None


@functools.cache
def _json_list_cached(values: tuple[str, ...]) -> str:
    return json.dumps(list(values))


def _json_list(values: Sequence[str]) -> str:
    return _json_list_cached(tuple(values))


def _worker_init(args: tuple[int, int, int, date, str]) -> None:
    global _WORKER
    _WORKER = Generator(*args)


def _worker_chunk(job: tuple[int, int]) -> Chunk:
    assert _WORKER is not None
    return _WORKER.chunk(*job)


# ------------------------------------------------------------------------------------------------------------
# Bulk loading


def _pg_field(v: Any) -> str:
    if v is None:
        return "\\N"
    if v is True:
        return "t"
    if v is False:
        return "f"
    return str(v)


class PgLoader:
    """COPY into the tables, with their foreign keys and secondary indexes dropped during the load and put back
    afterwards (re-adding a foreign key validates every row in one pass)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.raw = engine.raw_connection()
        self.conn = self.raw.driver_connection
        self.saved: list[tuple[str, str, str]] = []  # (kind, table, definition)

    def prepare(self) -> None:
        tables = list(COLUMNS)
        with self.conn.cursor() as cur:
            for table in dict.fromkeys(tables):
                cur.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f'",
                    (table,),
                )
                for name, definition in cur.fetchall():
                    self.saved.append(
                        ("fk", table, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                    )
                cur.execute(
                    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                    "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid "
                    "WHERE i.indrelid = %s::regclass AND c.oid IS NULL",
                    (table,),
                )
                for name, definition in cur.fetchall():
                    self.saved.append(("ix", table, definition))
                    cur.execute(f"DROP INDEX {name}")
            for kind, table, definition in self.saved:
                if kind == "fk":
                    name = definition.split('"')[1]
                    cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        self.conn.commit()

    def write(self, chunk: dict[str, list[tuple[Any, ...]]]) -> None:
        with self.conn.cursor() as cur:
            for table, rows in _ordered(chunk):
                cols = ", ".join(COLUMNS[table])
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    buf = []
                    for row in rows:
                        buf.append("\t".join([_pg_field(v) for v in row]))
                        if len(buf) >= 20_000:
                            copy.write("\n".join(buf) + "\n")
                            buf = []
                    if buf:
                        copy.write("\n".join(buf) + "\n")
        self.conn.commit()

    def finish(self) -> None:
        with self.conn.cursor() as cur:
            for kind, _table, definition in self.saved:
                if kind == "ix":
                    cur.execute(definition)
            self.conn.commit()
            for kind, _table, definition in self.saved:
                if kind == "fk":
                    cur.execute(definition)
        self.conn.commit()
        self.raw.close()


class SqliteLoader:
    """executemany in one large transaction per chunk, journal and sync off for the load only."""

    def __init__(self, engine: Engine) -> None:
        import sqlite3

        path = engine.url.database
        assert path
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode = OFF",
            "synchronous = OFF",
            "cache_size = -2000000",
            "temp_store = MEMORY",
            "foreign_keys = OFF",
            "locking_mode = EXCLUSIVE",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.indexes: list[str] = []

    def prepare(self) -> None:
        rows = self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ("
            + ", ".join(f"'{t}'" for t in [*COLUMNS, "measure_summaries"])
            + ")"
        ).fetchall()
        for name, sql in rows:
            self.indexes.append(sql)
            self.conn.execute(f'DROP INDEX "{name}"')

    def write(self, chunk: dict[str, list[tuple[Any, ...]]]) -> None:
        self.conn.execute("BEGIN")
        for table, rows in _ordered(chunk):
            cols = COLUMNS[table]
            marks = ", ".join("?" * len(cols))
            self.conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)
        self.conn.execute("COMMIT")

    def finish(self) -> None:
        for sql in self.indexes:
            self.conn.execute(sql)
        problems = self.conn.execute("PRAGMA foreign_key_check").fetchmany(5)
        if problems:
            raise SystemExit(f"foreign key problems in the generated data: {problems}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.close()


def _ordered(chunk: dict[str, list[tuple[Any, ...]]]) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    for table in COLUMNS:
        rows = chunk.get(table)
        if rows:
            yield table, rows


def _chunks(gen: Generator, args: argparse.Namespace, today: date, backend: str) -> Iterator[Chunk]:
    """The chunks in order, made by ``--workers`` processes (the loader runs beside them)."""
    jobs = [(k, args.chunk) for k in range(math.ceil(args.patients / args.chunk))]
    if args.workers <= 0:
        yield from (gen.chunk(*job) for job in jobs)
        return
    import multiprocessing as mp

    params = (args.patients, args.scores_per_patient, args.seed, today, backend)
    with mp.get_context("fork").Pool(args.workers, _worker_init, (params,)) as pool:
        yield from pool.imap(_worker_chunk, jobs)


def load(db: Database, args: argparse.Namespace, today: date) -> World:
    check_columns()
    started = time.perf_counter()
    gen = Generator(args.patients, args.scores_per_patient, args.seed, today, db.backend)
    loader: PgLoader | SqliteLoader = (
        PgLoader(db.engine) if db.backend == "postgresql" else SqliteLoader(db.engine)
    )
    loader.prepare()
    loader.write(gen.staff())
    counts: dict[str, int] = {"clinics": 1, "users": len(gen.staff()["users"])}
    oracle = Oracle()
    care_managers: list[str] = []
    last_print = started
    for chunk in _chunks(gen, args, today, db.backend):
        loader.write(chunk.rows)
        for table, rows in chunk.rows.items():
            counts[table] = counts.get(table, 0) + len(rows)
        care_managers += chunk.care_managers
        oracle.flagged |= chunk.oracle.flagged
        oracle.open_by_cm.update(chunk.oracle.open_by_cm)
        oracle.billing_minutes += chunk.oracle.billing_minutes
        for flag, n in chunk.oracle.by_flag.items():
            oracle.by_flag[flag] = oracle.by_flag.get(flag, 0) + n
        if time.perf_counter() - last_print > 30:
            last_print = time.perf_counter()
            done = counts.get("patients", 0)
            print(f"  loaded {done:,}/{args.patients:,} patients ({last_print - started:.0f} s)", flush=True)
    rows_done = time.perf_counter()
    loader.finish()
    _analyze(db.engine)
    seconds = time.perf_counter() - started
    print(
        f"  loaded in {seconds:.0f} s (rows {rows_done - started:.0f} s, indexes, keys and analyze "
        f"{seconds - (rows_done - started):.0f} s): " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
    )
    return World(
        today=today,
        now=datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=15),
        clinic_id=gen.clinic_id,
        consultant_id=gen.consultant_id,
        admin_id=gen.admin_id,
        care_managers=care_managers,
        billing_month=gen.bill_first.strftime("%Y-%m"),
        oracle=oracle,
        counts=counts,
        seconds=seconds,
    )


def _analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


# ------------------------------------------------------------------------------------------------------------
# The floor: hand-written SQL over the summary tables, run through the driver (no ORM, no result processing)


def _lit(engine: Engine, ident: str) -> str:
    return f"'{uuid.UUID(ident)}'" if engine.dialect.name == "postgresql" else f"'{ident}'"


def flagged_sql(engine: Engine, world: World, viewer: str) -> tuple[str, FloorPage, str]:
    """(count, first page, every id): the viewer's open episodes with any registry flag, in the registry's
    order (safety, then not improving, then the longest in treatment, then the name)."""
    rs = rules.default_rules()
    on = world.today
    clinic, v = _lit(engine, world.clinic_id), _lit(engine, viewer)
    item9 = (on - timedelta(days=rs.safety_item9_days)).isoformat()
    contact = (on - timedelta(days=rs.no_contact_days)).isoformat()
    enr = (on - timedelta(weeks=rs.early_non_response_weeks)).isoformat()
    review = (on - timedelta(days=rs.review_interval_days)).isoformat()
    today = on.isoformat()
    # The worst status is kept on the episode: "not_improving" is the worst there is, so an episode has an
    # instrument not improving exactly when its status is; either non-response exactly when its status is one.
    base = f"""
        FROM care_episodes e
        WHERE e.ended_on IS NULL AND e.clinic_id = {clinic}
          AND (e.consultant_user_id = {v} OR e.care_manager_user_id = {v}
               OR e.patient_id IN (SELECT m.patient_id FROM care_team_members m WHERE m.user_id = {v}
                                   AND m.start_date <= '{today}' AND (m.end_date IS NULL OR m.end_date >= '{today}')))
          AND (e.status IN ('not_improving', 'early_non_response')
               OR e.last_item9_positive_on >= '{item9}'
               OR e.next_due_on < '{today}'
               OR COALESCE(e.last_contact_on, e.started_on) <= '{contact}'
               OR e.patient_id IN (SELECT a.patient_id FROM safety_alerts a WHERE a.status = 'open')
               OR e.patient_id IN (SELECT o.patient_id FROM lab_orders o WHERE o.status = 'ordered'
                                   AND o.due_on < '{today}')
               OR (e.status IS NOT NULL AND e.status NOT IN ('response', 'remission')
                   AND e.started_on <= '{enr}'
                   AND (e.last_review_on IS NULL OR e.last_review_on <= '{review}')
                   AND NOT EXISTS (SELECT 1 FROM measure_summaries s WHERE s.episode_id = e.id
                                   AND s.status IN ('response', 'remission'))))"""
    safety_test = f"""(e.last_item9_positive_on >= '{item9}'
                   OR e.patient_id IN (SELECT a.patient_id FROM safety_alerts a WHERE a.status = 'open'))"""
    # The "flags" order's first keys: 0 safety and not improving, 1 safety, 2 not improving, 3 neither.
    rank = f"(CASE WHEN {safety_test} THEN 0 ELSE 2 END + (CASE WHEN e.status = 'not_improving' THEN 0 ELSE 1 END))"
    count = f"SELECT count(*) {base}"
    # The page's last key, looked for in the first rank (safety and not improving) in start order: the index on
    # (clinic, status, start) of open episodes reads them in that order, so this stops after the page's rows.
    probe = f"""SELECT e.started_on {base} AND e.status = 'not_improving' AND {safety_test}
        ORDER BY e.started_on LIMIT 1 OFFSET {PAGE - 1}"""
    # Otherwise (fewer rows in the first rank): the flagged rows counted per (rank, start) key.
    grouped = f"""SELECT f.rk, f.started_on, count(*) FROM (SELECT {rank} AS rk, e.started_on {base}) f
        GROUP BY f.rk, f.started_on ORDER BY f.rk, f.started_on"""
    # Then only the rows up to that key, with the conditions the key range implies written out (not improving,
    # safety, the start's range within one rank) so that the same index finds them; joined to their patients and
    # sorted by name (the same page as sorting everything).
    page = f"""
        SELECT f.id FROM (SELECT e.id, e.patient_id, e.started_on, {rank} AS rk {base} {{implied}}) f
        JOIN patients p ON p.id = f.patient_id
        WHERE {{bound}}
        ORDER BY f.rk, f.started_on, p.family_name, p.given_name, f.id
        LIMIT {PAGE}"""
    every = f"SELECT e.id {base}"
    return count, FloorPage(probe, grouped, page, safety_test), every


@dataclass(frozen=True)
class FloorPage:
    probe: str
    grouped: str
    page: str  # with {implied} and {bound} to fill in
    safety: str


def floor_clinic(engine: Engine, count: str, paged: FloorPage) -> tuple[float, tuple[int, list[Any]]]:
    """The floor on one connection: the count (the one pass over the clinic), the page's last key (in the first
    rank by the index, else from the rows per key), then the page."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            cur.execute("SET jit = off")  # as the service does (repository.registry_rows)
        started = time.perf_counter()
        cur.execute(count)
        total = cur.fetchall()[0][0]
        ids: list[Any] = []
        if total:
            cur.execute(paged.probe)
            found = cur.fetchall()
            if found:
                first_rank, last = 0, (0, found[0][0])
            else:
                cur.execute(paged.grouped)
                groups = cur.fetchall()
                seen, last = 0, groups[-1]
                for g in groups:
                    seen += g[2]
                    if seen >= PAGE:
                        last = g
                        break
                first_rank = groups[0][0]
            ranks = set(range(first_rank, last[0] + 1))
            implied = []
            if ranks <= {0, 2}:
                implied.append("e.status = 'not_improving'")
            if ranks <= {0, 1}:
                implied.append(paged.safety)
            if first_rank == last[0]:
                implied.append(f"e.started_on <= '{last[1]}'")
            where = f"(f.rk < {last[0]} OR (f.rk = {last[0]} AND f.started_on <= '{last[1]}'))"
            cur.execute(
                paged.page.replace("{implied}", "".join(" AND " + c for c in implied)).replace(
                    "{bound}", where
                )
            )
            ids = [r[0] for r in cur.fetchall()]
        elapsed = (time.perf_counter() - started) * 1000
        cur.close()
        raw.rollback()
    finally:
        raw.close()
    return elapsed, (total, ids)


def raw_scores_sql(engine: Engine, world: World) -> str:
    """The flagged count computed as if there were no summaries: every open episode's baseline, latest score
    and status from the raw scores (spec §2.3's rule in SQL), then the same flags. For context."""
    rs = rules.default_rules()
    on = world.today
    clinic = _lit(engine, world.clinic_id)
    pg = engine.dialect.name == "postgresql"
    start_ts = "e.started_on::timestamptz" if pg else "e.started_on || ' 00:00:00.000000'"
    weeks = (
        "((r.authored_at AT TIME ZONE 'UTC')::date - e.started_on) / 7"
        if pg
        else "CAST((julianday(substr(r.authored_at, 1, 10)) - julianday(e.started_on)) / 7 AS INTEGER)"
    )
    item9 = (on - timedelta(days=rs.safety_item9_days)).isoformat()
    contact = (on - timedelta(days=rs.no_contact_days)).isoformat()
    enr = (on - timedelta(weeks=rs.early_non_response_weeks)).isoformat()
    review = (on - timedelta(days=rs.review_interval_days)).isoformat()
    today = on.isoformat()
    true = "true" if pg else "1"
    return f"""
        WITH s AS (
            SELECT e.id AS episode_id, r.instrument, r.total, r.prorated, r.authored_at,
                   {weeks} AS weeks,
                   ROW_NUMBER() OVER (PARTITION BY e.id, r.instrument ORDER BY r.authored_at DESC) AS from_last
            FROM care_episodes e
            JOIN screening_responses r ON r.patient_id = e.patient_id AND r.authored_at >= {start_ts}
            WHERE e.ended_on IS NULL AND e.clinic_id = {clinic} AND r.total IS NOT NULL AND r.complete = {true}
        ),
        b AS (
            SELECT episode_id, instrument, total AS baseline, authored_at AS baseline_at,
                   ROW_NUMBER() OVER (PARTITION BY episode_id, instrument ORDER BY authored_at) AS k
            FROM s WHERE prorated = {"false" if pg else "0"}
        ),
        st AS (
            SELECT l.episode_id,
                   CASE WHEN l.total < 5 THEN 'remission'
                        WHEN b.baseline > 0 AND (b.baseline - l.total) * 1.0 / b.baseline >= {rs.response_reduction}
                             THEN 'response'
                        WHEN l.weeks >= {rs.not_improving_weeks} THEN 'not_improving'
                        WHEN l.weeks >= {rs.early_non_response_weeks}
                             AND (b.baseline = 0
                                  OR (b.baseline - l.total) * 1.0 / b.baseline < {rs.early_non_response_reduction})
                             THEN 'early_non_response'
                        ELSE 'other' END AS status
            FROM s l JOIN b ON b.episode_id = l.episode_id AND b.instrument = l.instrument AND b.k = 1
            WHERE l.from_last = 1 AND l.authored_at > b.baseline_at
        )
        SELECT count(*) FROM care_episodes e
        WHERE e.ended_on IS NULL AND e.clinic_id = {clinic}
          AND (e.id IN (SELECT episode_id FROM st WHERE status IN ('not_improving', 'early_non_response'))
               OR e.last_item9_positive_on >= '{item9}'
               OR e.next_due_on < '{today}'
               OR COALESCE(e.last_contact_on, e.started_on) <= '{contact}'
               OR e.patient_id IN (SELECT a.patient_id FROM safety_alerts a WHERE a.status = 'open')
               OR e.patient_id IN (SELECT o.patient_id FROM lab_orders o WHERE o.status = 'ordered'
                                   AND o.due_on < '{today}')
               OR (e.id IN (SELECT episode_id FROM st) AND e.started_on <= '{enr}'
                   AND (e.last_review_on IS NULL OR e.last_review_on <= '{review}')
                   AND e.id NOT IN (SELECT episode_id FROM st WHERE status IN ('response', 'remission'))))"""


def billing_sql(engine: Engine, world: World) -> str:
    """The month-end summary's data: per patient and episode, minutes in the month, the episode's first
    activity (its CoCM month number) and the patient's name."""
    first = date.fromisoformat(world.billing_month + "-01")
    last = rules.add_months(first, 1) - timedelta(days=1)
    clinic = _lit(engine, world.clinic_id)
    return f"""
        SELECT t.patient_id, t.episode_id, t.minutes, f.first_day, p.preferred_name, p.given_name, p.family_name
        FROM (SELECT te.patient_id, te.episode_id, SUM(te.minutes) AS minutes
              FROM cocm_time_entries te JOIN care_episodes e ON e.id = te.episode_id
              WHERE e.clinic_id = {clinic} AND te.on_date >= '{first}' AND te.on_date <= '{last}'
              GROUP BY te.patient_id, te.episode_id) t
        JOIN (SELECT episode_id, MIN(on_date) AS first_day FROM cocm_time_entries GROUP BY episode_id) f
          ON f.episode_id = t.episode_id
        JOIN patients p ON p.id = t.patient_id"""


def run_sql(engine: Engine, sql: str) -> tuple[float, list[tuple[Any, ...]]]:
    """Time one statement through the driver on a fresh connection."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        started = time.perf_counter()
        cur.execute(sql)
        rows = cur.fetchall()
        elapsed = (time.perf_counter() - started) * 1000
        cur.close()
        raw.rollback()
    finally:
        raw.close()
    return elapsed, rows


def run_sqls(engine: Engine, sqls: Sequence[str]) -> tuple[float, list[list[tuple[Any, ...]]]]:
    raw = engine.raw_connection()
    out = []
    try:
        cur = raw.cursor()
        started = time.perf_counter()
        for sql in sqls:
            cur.execute(sql)
            out.append(cur.fetchall())
        elapsed = (time.perf_counter() - started) * 1000
        cur.close()
        raw.rollback()
    finally:
        raw.close()
    return elapsed, out


# ------------------------------------------------------------------------------------------------------------
# Timing


def _timed(sessions: sessionmaker[Session], fn: Callable[[Session], Any]) -> tuple[float, Any]:
    with sessions() as session:
        started = time.perf_counter()
        value = fn(session)
        elapsed = (time.perf_counter() - started) * 1000
        session.expunge_all()  # keep what was loaded readable; drop the audit row
        session.rollback()
    return elapsed, value


def _actor(user_id: str, role: Role, clinic_id: str) -> Actor:
    return Actor(user_id=_uuid(user_id), role=role, clinic_id=_uuid(clinic_id))


@dataclass
class BackendResult:
    backend: str
    load_seconds: float
    counts: dict[str, int]
    series: dict[str, Samples]
    facts: dict[str, Any]
    verify: list[str]


def _hex(value: Any) -> str:
    return value.hex if isinstance(value, uuid.UUID) else str(value).replace("-", "")


def verify(
    db: Database, sessions: sessionmaker[Session], world: World, clock: FixedClock
) -> tuple[list[str], dict[str, Any]]:
    """The service and the floor against the oracle (the pure rules over the generator's facts)."""
    lines: list[str] = []
    facts: dict[str, Any] = {}
    engine = db.engine
    consultant = _actor(world.consultant_id, Role.PSYCHIATRIST, world.clinic_id)
    count_sql, page_sql, every_sql = flagged_sql(engine, world, world.consultant_id)
    _, (total, floor_page_ids) = floor_clinic(engine, count_sql, page_sql)
    floor_count, floor_page = [(total,)], [(i,) for i in floor_page_ids]
    _, floor_every = run_sql(engine, every_sql)
    floor_set = {_hex(r[0]) for r in floor_every}
    oracle = world.oracle.flagged
    facts["open_episodes"] = sum(world.oracle.open_by_cm.values())
    facts["flagged"] = len(oracle)
    facts["by_flag"] = dict(sorted(world.oracle.by_flag.items()))
    if floor_set == oracle and floor_count[0][0] == len(oracle):
        lines.append(f"floor == rules: {len(oracle):,} flagged open episodes")
    else:
        lines.append(
            f"floor != rules: floor {floor_count[0][0]:,} ({len(floor_set):,} ids), rules {len(oracle):,}; "
            f"only floor {sorted(floor_set - oracle)[:5]}, only rules {sorted(oracle - floor_set)[:5]}"
        )
    _, page = _timed(
        sessions, lambda s: registry.caseload(s, consultant, clock=clock, flag="any", limit=PAGE)
    )
    service_page = [e.episode.id.hex for e in page.rows]
    floor_ids = [_hex(r[0]) for r in floor_page]
    if page.total == len(oracle) and service_page == floor_ids:
        lines.append(
            f"service == floor: total {page.total:,}, the first page of {len(service_page)} in the same order"
        )
    else:
        lines.append(
            f"service != floor: total {page.total:,} vs {floor_count[0][0]:,}; first page equal: "
            f"{service_page == floor_ids}, same set: {set(service_page) == set(floor_ids)}"
        )
    wrong = [r.episode.id.hex for r in page.rows if not r.flags]
    if wrong:
        lines.append(f"service page rows without flags: {wrong[:5]}")
    # every flag on its own, through the service, against the rules
    diffs = []
    for flag in rules.FLAGS:
        _, p = _timed(
            sessions, lambda s, flag=flag: registry.caseload(s, consultant, clock=clock, flag=flag, limit=1)
        )
        want = world.oracle.by_flag.get(flag, 0)
        if p.total != want:
            diffs.append(f"{flag}: service {p.total:,}, rules {want:,}")
    lines.append("per flag: service == rules" if not diffs else "per flag DIFFERENCES: " + "; ".join(diffs))
    # care managers' caseloads
    rng = random.Random(1)
    bad = []
    for cm in rng.sample(world.care_managers, min(20, len(world.care_managers))):
        actor = _actor(cm, Role.CARE_MANAGER, world.clinic_id)
        _, p = _timed(
            sessions,
            lambda s, cm=cm, actor=actor: registry.caseload(
                s, actor, clock=clock, care_manager_id=_uuid(cm), limit=PAGE
            ),
        )
        if p.total != world.oracle.open_by_cm.get(cm, 0) or len(p.rows) != min(PAGE, p.total):
            bad.append(f"{cm}: {p.total} vs {world.oracle.open_by_cm.get(cm, 0)}")
    sizes = sorted(world.oracle.open_by_cm.values())
    facts["care_managers"] = len(world.care_managers)
    facts["caseload_max"] = sizes[-1] if sizes else 0
    lines.append(
        f"20 care managers' caseloads == the generator's ({len(world.care_managers):,} care managers, "
        f"{sizes[0] if sizes else 0}-{sizes[-1] if sizes else 0} open episodes each)"
        if not bad
        else "caseload DIFFERENCES: " + "; ".join(bad)
    )
    # billing: the service's lines against the floor's rows
    admin = _actor(world.admin_id, Role.ADMIN, world.clinic_id)
    _, lines_ = _timed(sessions, lambda s: minutes.billing_month(s, admin, world.billing_month, clock=clock))
    _, floor_rows = run_sql(engine, billing_sql(engine, world))
    got = sorted((line.patient_id.hex, line.summary.minutes) for line in lines_)
    want_rows = sorted((_hex(r[0]), int(r[2])) for r in floor_rows)
    facts["billing_patients"] = len(want_rows)
    facts["billing_minutes"] = sum(m for _, m in want_rows)
    if got == want_rows and facts["billing_minutes"] == world.oracle.billing_minutes:
        lines.append(
            f"billing == floor == generator: {len(got):,} patients, {facts['billing_minutes']:,} minutes"
        )
    else:
        lines.append(
            f"billing DIFFERENCES: service {len(got):,} lines / {sum(m for _, m in got):,} min, floor "
            f"{len(want_rows):,} / {facts['billing_minutes']:,}, generator {world.oracle.billing_minutes:,} min"
        )
    return lines, facts


def run_backend(db: Database, args: argparse.Namespace, today: date) -> BackendResult:
    print(
        f"\n== {db.backend}: {args.patients:,} patients, {args.patients * args.scores_per_patient:,} scores =="
    )
    if db.backend == "sqlite":
        db.engine.dispose()
    world = load(db, args, today)
    gc.collect()
    gc.freeze()  # the generator's leftovers are not the application's heap: keep them out of the collector
    sessions = make_sessionmaker(db.engine)
    clock = FixedClock(world.now)
    engine = db.engine
    lines, facts = verify(db, sessions, world, clock)
    for line in lines:
        print("  " + line)
    series = {
        k: Samples() for k in ("caseload", "clinic", "clinic_floor", "raw_scores", "billing", "billing_floor")
    }
    rng = random.Random(args.seed)
    cms = [rng.choice(world.care_managers) for _ in range(args.calls + 20)]

    def page(cm: str) -> tuple[float, Any]:
        actor = _actor(cm, Role.CARE_MANAGER, world.clinic_id)
        return _timed(
            sessions,
            lambda s: registry.caseload(s, actor, clock=clock, care_manager_id=_uuid(cm), limit=PAGE),
        )

    gc.collect()
    for cm in cms[:20]:  # warm-up
        page(cm)
    started = time.perf_counter()
    for cm in cms[20:]:
        series["caseload"].values.append(page(cm)[0])
    print(f"  (a) {args.calls} caseload pages in {time.perf_counter() - started:.0f} s")

    consultant = _actor(world.consultant_id, Role.PSYCHIATRIST, world.clinic_id)
    count_sql, page_sql, _ = flagged_sql(engine, world, world.consultant_id)

    def clinic() -> float:
        return _timed(
            sessions, lambda s: registry.caseload(s, consultant, clock=clock, flag="any", limit=PAGE)
        )[0]

    def floor() -> float:
        return floor_clinic(engine, count_sql, page_sql)[0]

    clinic(), floor()  # warm-up
    started = time.perf_counter()
    for i in range(args.clinic_calls):
        if i % 2:
            f, c = floor(), clinic()
        else:
            c, f = clinic(), floor()
        series["clinic"].values.append(c)
        series["clinic_floor"].values.append(f)
    print(
        f"  (b) {args.clinic_calls} whole-clinic flagged lists and floors in {time.perf_counter() - started:.0f} s"
    )
    raw_sql = raw_scores_sql(engine, world)
    for _ in range(args.raw_calls):
        ms, rows = run_sql(engine, raw_sql)
        series["raw_scores"].values.append(ms)
        facts["raw_scores_flagged"] = rows[0][0]
    print(
        f"      from raw scores: {series['raw_scores'].summary().get('p50', 0):.0f} ms, {facts.get('raw_scores_flagged', 0):,} flagged"
    )

    admin = _actor(world.admin_id, Role.ADMIN, world.clinic_id)
    bsql = billing_sql(engine, world)

    def bill() -> float:
        return _timed(sessions, lambda s: minutes.billing_month(s, admin, world.billing_month, clock=clock))[
            0
        ]

    bill(), run_sql(engine, bsql)
    for i in range(args.billing_calls):
        if i % 2:
            f, b = run_sql(engine, bsql)[0], bill()
        else:
            b, f = bill(), run_sql(engine, bsql)[0]
        series["billing"].values.append(b)
        series["billing_floor"].values.append(f)
    print(f"  (c) {args.billing_calls} billing summaries and floors")
    return BackendResult(db.backend, world.seconds, world.counts, series, facts, lines)


# ------------------------------------------------------------------------------------------------------------
# Output

LABELS = {
    "caseload": "(a) caseload page (care manager, 200 rows)",
    "clinic": "(b) whole-clinic flagged list (service)",
    "clinic_floor": "(b) floor: hand-written SQL",
    "raw_scores": "(b) from raw scores (context)",
    "billing": "(c) month-end billing (service)",
    "billing_floor": "(c) floor: hand-written SQL",
}


def verdicts(r: BackendResult) -> list[str]:
    out = []
    a = r.series["caseload"].summary()
    if a:
        ok = a["p99"] <= TARGET_PAGE_P99_MS
        out.append(
            f"caseload page p99 {a['p99']:.1f} ms (target <= {TARGET_PAGE_P99_MS:.0f}): {'met' if ok else 'NOT met'}"
        )
    c, f = r.series["clinic"].summary(), r.series["clinic_floor"].summary()
    if c and f:
        ratio = c["p99"] / f["p99"]
        out.append(
            f"whole-clinic flagged list p99 {c['p99']:.0f} ms = {ratio:.2f}x the floor's p99 {f['p99']:.0f} ms "
            f"(target <= {TARGET_RATIO:.0f}x): {'met' if ratio <= TARGET_RATIO else 'NOT met'}"
        )
    b, bf = r.series["billing"].summary(), r.series["billing_floor"].summary()
    if b and bf:
        out.append(
            f"billing p50 {b['p50']:.0f} ms = {b['p50'] / bf['p50']:.2f}x the floor's {bf['p50']:.0f} ms"
        )
    return out


def print_table(results: list[BackendResult]) -> None:
    head = f"{'backend':<11} {'what':<45} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}"
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        for key, samples in r.series.items():
            s = samples.summary()
            if s:
                print(
                    f"{r.backend:<11} {LABELS[key]:<45} {s['n']:>5} {s['p50']:9.1f} {s['p95']:9.1f} "
                    f"{s['p99']:9.1f} {s['max']:9.1f}"
                )
        for line in verdicts(r):
            print(f"{r.backend:<11} {line}")
        print()


def print_markdown(results: list[BackendResult]) -> None:
    print()
    print("| backend | what | n | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        for key, samples in r.series.items():
            s = samples.summary()
            if s:
                print(
                    f"| {r.backend} | {LABELS[key]} | {s['n']} | {s['p50']:.1f} | {s['p95']:.1f} | "
                    f"{s['p99']:.1f} | {s['max']:.1f} |"
                )
        for a, b in (
            ("clinic", "clinic_floor"),
            ("billing", "billing_floor"),
            ("raw_scores", "clinic_floor"),
        ):
            x, y = r.series[a].summary(), r.series[b].summary()
            if x and y:
                cells = " | ".join(f"{x[p] / y[p]:.2f}x" for p in ("p50", "p95", "p99"))
                print(f"| {r.backend} | {LABELS[a]} / floor | | {cells} | |")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.registry", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--patients", type=int, default=1_000_000, help="patients (default 1000000)")
    parser.add_argument(
        "--scores-per-patient", type=int, default=10, help="mean scores per patient (default 10)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--calls", type=int, default=300, help="caseload pages timed (default 300)")
    parser.add_argument(
        "--clinic-calls", type=int, default=15, help="whole-clinic lists and floors (default 15)"
    )
    parser.add_argument("--raw-calls", type=int, default=2, help="from-raw-scores computations (default 2)")
    parser.add_argument(
        "--billing-calls", type=int, default=5, help="billing summaries and floors (default 5)"
    )
    parser.add_argument("--chunk", type=int, default=10_000, help="patients per load transaction")
    parser.add_argument("--workers", type=int, default=2, help="generator processes (0: in the loader's)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and print their URLs")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        sys.exit(f"unknown backends {sorted(unknown)}")
    info = machine()
    today = datetime.now(UTC).date()
    print(
        f"Registry benchmark: {args.patients:,} patients, {args.patients * args.scores_per_patient:,} scores, "
        f"seed {args.seed}, today {today}; {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, "
        f"Python {info['python']}"
    )
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="careweave-registry-"))
    for backend in backends:
        db = fresh_database(backend, tmp, args.keep)
        try:
            if backend == "postgresql":
                with db.engine.connect() as conn:
                    info["postgresql"] = str(conn.exec_driver_sql("SHOW server_version").scalar())
            else:
                import sqlite3

                info["sqlite"] = sqlite3.sqlite_version
            results.append(run_backend(db, args, today))
        finally:
            db.cleanup()
            if args.keep:
                print(f"  kept {db.url}")
    if not args.keep:
        for path in tmp.iterdir():
            path.unlink()
        tmp.rmdir()
    print_table(results)
    if args.markdown:
        print_markdown(results)
    if args.json:
        payload = {
            "machine": info,
            "patients": args.patients,
            "scores": args.patients * args.scores_per_patient,
            "seed": args.seed,
            "today": today.isoformat(),
            "results": [
                {
                    "backend": r.backend,
                    "load_seconds": r.load_seconds,
                    "rows": r.counts,
                    "facts": r.facts,
                    "verify": r.verify,
                    "series": {k: s.summary() for k, s in r.series.items()},
                    "verdicts": verdicts(r),
                }
                for r in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
