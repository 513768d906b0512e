"""Booking throughput on PostgreSQL (issue #5): the raw SQL claim, the service layer and the HTTP API, in one run.

    python -m benchmarks.booking                       # 300 generated providers, 8 clients, every phase
    python -m benchmarks.booking --spread 1000 --hot 40    # a quick smoke run
    python -m benchmarks.booking --diagnose            # also: by hand without the audit chain; the service layer
                                                       # without audit / without jobs

A fresh migrated PostgreSQL database (tests/pg.py, dropped afterwards) gets the synthetic directory of
benchmarks.generate, then a schedule for every provider (Monday-Friday 8:00-18:00 in their own zone, 10-minute
buffers, 12 hours' notice, 60 days ahead) and a cohort of patients per provider who may legally see them (a state
where the provider holds a licence or compact privilege valid for the whole window, self-pay or an in-network
plan; checked with directory.rules), each with a user account and an API token made up front.

Every phase runs ``--clients`` client **processes** (2 cores: processes avoid the GIL; each client holds one
connection) after a barrier and a warm-up, and is measured twice:

* spread: every client books its own distinct slots (no two attempts on one slot): bookings/s;
* contended: every client attempts the same hot slots in the same order (``--hot`` slots, each attempted by
  every client at about the same moment): exactly one wins, every other one must get a clean refusal.

The phases, on disjoint slots of the same database:

1. raw: psycopg directly, autocommit, one ``INSERT INTO appointments`` per booking (the exclusion constraint
   decides): the database's ceiling for the claim itself;
2. txn (a diagnostic, not a target): the service's transaction written by hand with psycopg, prepared
   statements and no ORM: the eligibility facts in one SELECT that locks the provider, the claim + its reminder
   jobs + the audit event in one INSERT statement, the audit chain head locked, the event linked and the head
   moved, COMMIT. What the product's steps cost in statements alone: the bound any Python service layer with
   this transaction shape stays under;
3. service: ``careweave.scheduling.service.book`` in a unit of work per booking (policy, schedule and
   eligibility checks, the claim, reminder jobs, the audit row; commit);
4. http: ``python -m careweave serve --workers 2`` against the same database; clients POST
   /api/v1/appointments with their bearer tokens over keep-alive connections.

After each phase SQL checks that no provider and no patient has overlapping visits that are not cancelled, that
every hot slot has exactly one visit, that the rows written equal the successes reported, and that every loser
got SlotTaken (service) / 409 ``slot_taken`` (http) / an exclusion violation (raw) and nothing else.

Last, slot listing: ``service.list_slots`` over 60 days for providers with a realistic diary (about 70 % of their
hours booked), ``--listing-calls`` calls in fresh sessions, on PostgreSQL and on SQLite: p50/p95/p99.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.engine import make_url

from benchmarks.generate import DEFAULT_SEED, load
from benchmarks.matching import Samples, machine
from careweave.clinics.models import Clinic
from careweave.core.actor import Actor, Role
from careweave.core.clock import SystemClock
from careweave.db.engine import make_engine, make_sessionmaker
from careweave.db.migrate import upgrade_to_head
from careweave.directory import documents, matching
from careweave.directory import rules as directory_rules
from careweave.directory.models import PatientCoverage, Provider
from careweave.identity import tokens
from careweave.identity.models import ApiToken, User
from careweave.patients.models import Patient
from careweave.scheduling.models import (
    Appointment,
    AvailabilityException,
    AvailabilityWindow,
    ProviderSchedule,
)

WINDOW_DAYS = 60  # the listing window, and the schedules' horizon
HOURS = (8, 18)  # weekly hours, local, Monday-Friday
BUFFER = 10
NOTICE_MINUTES = 720
VISIT = {"therapy": ("therapy_session", 50), "medication_management": ("medication_management_30", 30)}
SERVICE_ROLE: dict[str, directory_rules.Role] = {
    "therapy": "therapist",
    "medication_management": "prescriber",
}
SERVICE_PATHWAY = {"therapy": "therapy", "medication_management": "psychiatry"}
LISTING_PROVIDERS = 5
LISTING_FILL = 0.7

# issue #5's targets
TARGET_SERVICE = 0.40  # service-layer bookings/s >= 40 % of the raw ceiling measured in the same run
TARGET_HTTP = 0.20  # HTTP API (two app workers) >= 20 %
TARGET_LIST_P99_MS = 20.0

# ------------------------------------------------------------------------------------------------------------
# The synthetic world


@dataclass(frozen=True, slots=True)
class Person:
    patient_id: uuid.UUID
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    token: str


@dataclass
class Diary:
    """One bookable provider: the visit type they get booked for, their cohort and their free slot starts."""

    provider_id: uuid.UUID
    timezone: str
    visit_type: str
    minutes: int
    cohort: list[Person]
    slots: list[datetime]


@dataclass
class World:
    diaries: list[Diary]
    listing: list[Diary]
    counts: dict[str, int]
    seconds: float


def _slot_starts(tz_name: str, now: datetime) -> list[datetime]:
    """Hourly starts in the provider's hours, from a day after ``now`` (notice) to two days short of the
    horizon (so the run's own minutes never move a slot out of range)."""
    tz = ZoneInfo(tz_name)
    out = []
    first = (now + timedelta(days=1)).astimezone(tz).date() + timedelta(days=1)
    for d in range(WINDOW_DAYS - 3):
        day = first + timedelta(days=d)
        if day.weekday() >= 5:
            continue
        for hour in range(HOURS[0], HOURS[1]):
            out.append(datetime.combine(day, dtime(hour), tzinfo=tz).astimezone(UTC))
    return out


def _eligible_option(
    fact: directory_rules.ProviderFacts, service: str, days: tuple[date, date]
) -> list[tuple[str, str | None, bool]]:
    """(state, plan id, self-pay) options under which a new patient may see this provider for the whole window."""
    states = sorted({lic.state for lic in fact.licenses} | {c.state for c in fact.compact_privileges})
    coverages: list[tuple[str | None, bool]] = [(None, True)] if fact.self_pay else []
    coverages += [(plan, False) for plan in sorted(fact.networks)[:3]]
    out = []
    for state in states:
        for plan, self_pay in coverages:
            ok = all(
                not directory_rules.exclusions(
                    fact,
                    directory_rules.Need(
                        pathway=SERVICE_PATHWAY[service],  # type: ignore[arg-type]
                        state=state,
                        on_date=day,
                        plan_id=plan,
                        self_pay=self_pay,
                    ),
                    SERVICE_ROLE[service],
                )
                for day in days
            )
            if ok:
                out.append((state, plan, self_pay))
    return out


def build_world(engine: Engine, *, providers: int, cohort: int, seed: int, now: datetime) -> World:
    """Directory (benchmarks.generate), schedules, patients with accounts, coverage and API tokens."""
    from benchmarks.generate import _timezone

    started = time.perf_counter()
    loaded = load(engine, providers, seed=seed, progress=False)
    rng = random.Random(f"{seed}-booking")
    sessions = make_sessionmaker(engine)
    # A patient's first visit with a clinician puts them on their caseload (directory.service.recount_caseload): leave
    # room for the whole cohort where there is room at all (the full stay full), so no booking meets the cap.
    with sessions() as s:
        open_ = Provider.active_patients < Provider.capacity
        s.execute(update(Provider).where(open_, Provider.capacity < cohort).values(capacity=cohort))
        room = Provider.capacity - cohort  # >= 0 for every open provider now
        s.execute(update(Provider).where(open_, Provider.active_patients > room).values(active_patients=room))
        documents.refresh(s, list(s.scalars(select(Provider.id))))
        s.commit()
    days = ((now + timedelta(days=1)).date(), (now + timedelta(days=WINDOW_DAYS)).date())
    with sessions() as s:
        rows = s.execute(
            select(Provider.id, Provider.timezone).where(Provider.is_active.is_(True)).order_by(Provider.id)
        ).all()
        facts = {f.id: f for f in matching._facts(s, [r.id for r in rows], days[0])}
    clinic_id = uuid.uuid4()
    stamp = datetime.now(UTC)
    tables: dict[str, list[dict[str, Any]]] = {
        "clinics": [{"id": clinic_id, "name": "Benchmark clinic", "timezone": "America/New_York"}],
        "provider_schedules": [],
        "availability_windows": [],
        "users": [],
        "patients": [],
        "patient_coverages": [],
        "api_tokens": [],
    }
    diaries: list[Diary] = []
    for pid, tz in rows:
        fact = facts.get(str(pid))
        if fact is None:
            continue
        service = "therapy" if "therapy" in fact.offers else "medication_management"
        options = _eligible_option(fact, service, days)
        if not options:
            continue
        tables["provider_schedules"].append(
            {
                "provider_id": pid,
                "timezone": tz,
                "buffer_minutes": BUFFER,
                "min_notice_minutes": NOTICE_MINUTES,
                "horizon_days": WINDOW_DAYS,
                "late_cancel_hours": 24,
                "updated_at": stamp,
            }
        )
        tables["availability_windows"] += [
            {"provider_id": pid, "weekday": d, "start_time": dtime(HOURS[0]), "end_time": dtime(HOURS[1])}
            for d in range(5)
        ]
        people = []
        for _ in range(cohort):
            state, plan, self_pay = rng.choice(options)
            user_id, patient_id, raw = uuid.uuid4(), uuid.uuid4(), tokens.new_token()
            n = len(tables["users"]) + 1
            tables["users"].append(
                {
                    "id": user_id,
                    "email": f"bench.patient{n}@bench.careweave.example",
                    "password_hash": "!",  # no password: the benchmark signs in with API tokens
                    "role": Role.PATIENT.value,
                    "full_name": f"Bench Patient {n}",
                    "clinic_id": clinic_id,
                    "password_changed_at": stamp,
                }
            )
            tables["patients"].append(
                {
                    "id": patient_id,
                    "user_id": user_id,
                    "clinic_id": clinic_id,
                    "given_name": "Bench",
                    "family_name": f"Patient {n}",
                    "state": state,
                    "timezone": _timezone(state),
                }
            )
            tables["patient_coverages"].append(
                {
                    "patient_id": patient_id,
                    "plan_id": uuid.UUID(plan) if plan else None,
                    "member_id": f"M{n:08d}" if plan else None,
                    "self_pay": self_pay,
                }
            )
            tables["api_tokens"].append(
                {
                    "token_hash": tokens.digest(raw),
                    "user_id": user_id,
                    "created_at": stamp,
                    "expires_at": stamp + timedelta(days=2),
                }
            )
            people.append(Person(patient_id, user_id, clinic_id, raw))
        code, minutes = VISIT[service]
        diaries.append(Diary(pid, tz, code, minutes, people, _slot_starts(tz, now)))
    models = {
        "clinics": Clinic,
        "provider_schedules": ProviderSchedule,
        "availability_windows": AvailabilityWindow,
        "users": User,
        "patients": Patient,
        "patient_coverages": PatientCoverage,
        "api_tokens": ApiToken,
    }
    with engine.begin() as conn:
        # The directory generator gives most providers a random week of hours and some a leave (for
        # matching); the booking run replaces them with its own fixed hours and no days off, so the diaries
        # below are exact.
        configured = [row["provider_id"] for row in tables["provider_schedules"]]
        for i in range(0, len(configured), 5000):
            chunk = configured[i : i + 5000]
            conn.execute(delete(AvailabilityWindow).where(AvailabilityWindow.provider_id.in_(chunk)))
            conn.execute(delete(AvailabilityException).where(AvailabilityException.provider_id.in_(chunk)))
            conn.execute(delete(ProviderSchedule).where(ProviderSchedule.provider_id.in_(chunk)))
        for name, model in models.items():
            for i in range(0, len(tables[name]), 5000):
                conn.execute(model.__table__.insert(), tables[name][i : i + 5000])  # type: ignore[attr-defined]
    counts = dict(loaded.counts) | {name: len(v) for name, v in tables.items()}
    rng.shuffle(diaries)
    listing, diaries = diaries[:LISTING_PROVIDERS], diaries[LISTING_PROVIDERS:]
    _fill_diaries(engine, listing, rng)
    with engine.connect() as conn:
        counts["listing_visits"] = conn.scalar(text("SELECT count(*) FROM appointments")) or 0
    return World(diaries, listing, counts, time.perf_counter() - started)


def _row(d: Diary, person: Person, start: datetime) -> dict[str, Any]:
    end = start + timedelta(minutes=d.minutes)
    appt_id = uuid.uuid4()
    return {
        "id": appt_id,
        "provider_id": d.provider_id,
        "patient_id": person.patient_id,
        "visit_type": d.visit_type,
        "start_at": start,
        "end_at": end,
        "block_end_at": end + timedelta(minutes=BUFFER),
        "status": "booked",
        "booked_by": person.user_id,
        "ics_uid": f"{appt_id}@careweave",
        "ics_sequence": 0,
        "late_cancellation": False,
    }


def _fill_diaries(engine: Engine, diaries: list[Diary], rng: random.Random) -> None:
    """Book about LISTING_FILL of each listing provider's hours (a busy clinician's 60 days)."""
    rows = []
    for d in diaries:
        taken = [s for s in d.slots if rng.random() < LISTING_FILL]
        rows += [_row(d, rng.choice(d.cohort), s) for s in taken]
    with engine.begin() as conn:
        conn.execute(Appointment.__table__.insert(), rows)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------------------
# Workload: (key, provider, patient, user, clinic, token, start, visit type, minutes) per attempt

Task = tuple[str, str, str, str, str, str, str, str, int]


@dataclass
class Plan:
    warmup: list[list[Task]]  # per client
    spread: list[list[Task]]  # per client, disjoint slots
    hot: list[list[Task]]  # per client: the same hot slots in the same order, a different patient each
    hot_keys: list[tuple[str, str]]  # (provider id, start) of each hot slot


class SlotPool:
    """Every bookable (diary, start), shuffled; phases take disjoint slots from it."""

    def __init__(self, diaries: list[Diary], seed: int) -> None:
        self.rng = random.Random(f"{seed}-slots")
        self.free = [(d, s) for d in diaries for s in d.slots]
        self.rng.shuffle(self.free)

    def take(self, n: int) -> list[tuple[Diary, datetime]]:
        if n > len(self.free):
            sys.exit(f"not enough free slots ({len(self.free)} left, {n} wanted): raise --providers")
        out, self.free = self.free[:n], self.free[n:]
        return out

    def task(self, key: str, d: Diary, start: datetime, person: Person | None = None) -> Task:
        p = person or self.rng.choice(d.cohort)
        return (
            key,
            str(d.provider_id),
            str(p.patient_id),
            str(p.user_id),
            str(p.clinic_id),
            p.token,
            start.isoformat(),
            d.visit_type,
            d.minutes,
        )


def make_plan(pool: SlotPool, *, clients: int, spread: int, hot: int, warmup: int, name: str) -> Plan:
    warm = [
        [pool.task(f"{name}-w{c}-{i}", d, s) for i, (d, s) in enumerate(pool.take(warmup))]
        for c in range(clients)
    ]
    slots = pool.take(spread)
    per = [
        [pool.task(f"{name}-s{i}", d, s) for i, (d, s) in enumerate(slots) if i % clients == c]
        for c in range(clients)
    ]
    hot_slots = [(d, s) for d, s in pool.take(hot * 3) if len(d.cohort) >= clients][:hot]
    hot_tasks = [
        [pool.task(f"{name}-h{i}", d, s, d.cohort[c]) for i, (d, s) in enumerate(hot_slots)]
        for c in range(clients)
    ]
    return Plan(warm, per, hot_tasks, [(str(d.provider_id), s.isoformat()) for d, s in hot_slots])


# ------------------------------------------------------------------------------------------------------------
# Clients (one process each)

Outcome = str  # "ok" | "taken" | "patient_busy" | "error: ..."


RAW_INSERT = (
    "INSERT INTO appointments (id, provider_id, patient_id, visit_type, start_at, end_at, block_end_at, "
    "status, booked_by, ics_uid, ics_sequence, late_cancellation, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, 'booked', %s, %s, 0, false, now(), now())"
)
# The same claim with the service's per-provider lock, still one statement (and one round trip).
RAW_LOCKED = (
    "WITH p AS (SELECT id FROM providers WHERE id = %s FOR NO KEY UPDATE) "
    "INSERT INTO appointments (id, provider_id, patient_id, visit_type, start_at, end_at, block_end_at, "
    "status, booked_by, ics_uid, ics_sequence, late_cancellation, created_at, updated_at) "
    "SELECT %s, %s, %s, %s, %s, %s, %s, 'booked', %s, %s, 0, false, now(), now() FROM p"
)


# The service's transaction written by hand (phase "txn"): an upper bound for any Python service layer that keeps
# the product's steps (eligibility facts read and the provider locked, the claim, its reminder jobs, the audit
# event chained at commit), with no ORM and no rules engine: what the statements themselves cost.
TXN_FACTS = (
    "SELECT pa.state, c.plan_id, c.self_pay, p.is_active, p.accepting_new_patients, p.capacity, p.active_patients, "
    "s.min_notice_minutes, v.duration_minutes, "
    "EXISTS (SELECT 1 FROM licenses l WHERE l.provider_id = p.id AND l.state = pa.state AND l.status = 'active' "
    "AND (l.expires IS NULL OR l.expires >= %(day)s)) AS licensed, "
    "EXISTS (SELECT 1 FROM provider_networks n WHERE n.provider_id = p.id AND n.plan_id = c.plan_id) AS in_network, "
    "EXISTS (SELECT 1 FROM appointments a WHERE a.provider_id = p.id AND a.patient_id = pa.id "
    "AND a.status <> 'cancelled') AS seen, "
    "EXISTS (SELECT 1 FROM availability_windows w WHERE w.provider_id = p.id AND w.weekday = %(weekday)s "
    "AND w.start_time <= %(at)s AND w.end_time >= %(until)s) AS in_hours, "
    "EXISTS (SELECT 1 FROM availability_exceptions e WHERE e.provider_id = p.id AND e.day = %(day)s) AS exception "
    "FROM providers p JOIN patients pa ON pa.id = %(patient)s "
    "LEFT JOIN patient_coverages c ON c.patient_id = pa.id "
    "LEFT JOIN provider_schedules s ON s.provider_id = p.id LEFT JOIN visit_types v ON v.code = %(vt)s "
    "WHERE p.id = %(provider)s FOR NO KEY UPDATE OF p"
)
TXN_WRITE = (
    "WITH a AS (INSERT INTO appointments (id, provider_id, patient_id, visit_type, start_at, end_at, block_end_at, "
    "status, booked_by, ics_uid, ics_sequence, late_cancellation, created_at, updated_at) "
    "VALUES (%(id)s, %(provider)s, %(patient)s, %(vt)s, %(start)s, %(end)s, %(block_end)s, 'booked', %(user)s, "
    "%(uid)s, 0, false, now(), now()) RETURNING id), "
    "j AS (INSERT INTO jobs (id, kind, payload, run_at, status, attempts, max_attempts, dedupe_key, created_at, "
    "updated_at) SELECT gen_random_uuid(), k.kind, json_build_object('appointment_id', a.id), k.run_at, 'queued', "
    "0, 5, k.kind || ':' || a.id, now(), now() FROM a, (VALUES ('reminder.email.1440', %(r1)s::timestamptz), "
    "('reminder.email.60', %(r2)s::timestamptz), ('notice.email.booked', now()), ('notice.sms.booked', now())) "
    "AS k(kind, run_at) ON CONFLICT (dedupe_key) DO NOTHING), "
    "e AS (INSERT INTO audit_events (id, occurred_at, actor_user_id, actor_role, action, entity_type, entity_id, "
    "patient_id, outcome, purpose, details) SELECT %(event)s, %(at)s, %(user)s, 'patient', 'appointment.book', "
    "'appointment', a.id::text, %(patient)s, 'success', 'self', %(details)s FROM a) "
    "SELECT id FROM a"
)


def _raw_client(url: str, variant: str) -> Callable[[Task], Outcome]:
    import psycopg

    pg_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(pg_url, autocommit=True)
    locked = variant == "locked"
    sql = RAW_LOCKED if locked else RAW_INSERT

    def book(t: Task) -> Outcome:
        _, provider, patient, user, _, _, start_iso, vt, minutes = t
        start = datetime.fromisoformat(start_iso)
        end = start + timedelta(minutes=minutes)
        appt_id = uuid.uuid4()
        for _ in range(5):  # a deadlock among overlapping inserts: try again for a definite answer
            outcome = _insert(appt_id, provider, patient, user, vt, start, end)
            if outcome != "deadlock":
                return outcome
        return "error: deadlocked 5 times"

    def _insert(
        appt_id: uuid.UUID, provider: str, patient: str, user: str, vt: str, start: datetime, end: datetime
    ) -> Outcome:
        try:
            conn.execute(
                sql,
                (
                    *((uuid.UUID(provider),) if locked else ()),
                    appt_id,
                    uuid.UUID(provider),
                    uuid.UUID(patient),
                    vt,
                    start,
                    end,
                    end + timedelta(minutes=BUFFER),
                    uuid.UUID(user),
                    f"{appt_id}@careweave",
                ),
                prepare=True,
            )
        except psycopg.errors.DeadlockDetected:
            return "deadlock"
        except psycopg.errors.ExclusionViolation as exc:
            return "patient_busy" if "patient_overlap" in str(exc) else "taken"
        except psycopg.Error as exc:
            return f"error: {type(exc).__name__}: {str(exc)[:200]}"
        return "ok"

    return book


def _txn_client(url: str, variant: str) -> Callable[[Task], Outcome]:
    import psycopg

    from careweave.audit import chain

    pg_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(pg_url)

    def _link(
        event_id: uuid.UUID,
        appt_id: uuid.UUID,
        user: str,
        patient: str,
        now: datetime,
        details: dict[str, str],
    ) -> None:
        """Chain the event as audit.service.seal does: lock the first free head (else wait for one), link the
        event, move the head."""
        head = (
            conn.execute(
                "SELECT id, seq, hash FROM audit_chain_head ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                prepare=True,
            ).fetchone()
            or conn.execute(
                "SELECT id, seq, hash FROM audit_chain_head WHERE id = %s FOR UPDATE",
                (random.randint(1, 16),),
            ).fetchone()
        )
        assert head is not None
        number, seq, prev = head[0], head[1] + 1, head[2]
        fields = {
            "seq": seq,
            "id": event_id,
            "occurred_at": now,
            "actor_user_id": uuid.UUID(user),
            "actor_role": "patient",
            "action": "appointment.book",
            "entity_type": "appointment",
            "entity_id": str(appt_id),
            "patient_id": uuid.UUID(patient),
            "outcome": "success",
            "purpose": "self",
            "details": details,
        }
        digest = chain.event_hash(prev, fields)
        conn.execute(
            "UPDATE audit_events SET chain = %s, seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
            (number, seq, prev, digest, event_id),
            prepare=True,
        )
        conn.execute(
            "UPDATE audit_chain_head SET seq = %s, hash = %s WHERE id = %s",
            (seq, digest, number),
            prepare=True,
        )

    def book(t: Task) -> Outcome:
        _, provider, patient, user, _, _, start_iso, vt, minutes = t
        start = datetime.fromisoformat(start_iso)
        end = start + timedelta(minutes=minutes)
        now = datetime.now(UTC)
        appt_id, event_id = uuid.uuid4(), uuid.uuid4()
        details = {"provider_id": provider, "visit_type": vt}
        params = {
            "provider": uuid.UUID(provider),
            "patient": uuid.UUID(patient),
            "user": uuid.UUID(user),
            "vt": vt,
            "day": start.date(),
            "weekday": start.weekday(),
            "at": start.time(),
            "until": end.time(),
        }
        for _ in range(5):  # a deadlock among overlapping inserts: try again for a definite answer
            try:
                with conn.transaction():
                    conn.execute(TXN_FACTS, params, prepare=True).fetchone()
                    conn.execute(
                        TXN_WRITE,
                        params
                        | {
                            "id": appt_id,
                            "start": start,
                            "end": end,
                            "block_end": end + timedelta(minutes=BUFFER),
                            "uid": f"{appt_id}@careweave",
                            "r1": start - timedelta(hours=24),
                            "r2": start - timedelta(hours=1),
                            "event": event_id,
                            "at": now,
                            "details": json.dumps(details),
                        },
                        prepare=True,
                    )
                    if variant != "unchained":  # diagnostic: the audit event left out of the chain
                        _link(event_id, appt_id, user, patient, now, details)
            except psycopg.errors.DeadlockDetected:
                continue
            except psycopg.errors.ExclusionViolation as exc:
                return "patient_busy" if "patient_overlap" in str(exc) else "taken"
            except psycopg.Error as exc:
                return f"error: {type(exc).__name__}: {str(exc)[:200]}"
            return "ok"
        return "error: deadlocked 5 times"

    return book


def _service_client(url: str, variant: str) -> Callable[[Task], Outcome]:
    from careweave.db.uow import unit_of_work
    from careweave.scheduling import service
    from careweave.settings import Settings

    _apply_variant(variant)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    clock = SystemClock()
    settings = Settings(database_url=url, mfa_required=False)

    def book(t: Task) -> Outcome:
        _, provider, patient, user, clinic, _, start_iso, vt, _ = t
        actor = Actor(
            user_id=uuid.UUID(user),
            role=Role.PATIENT,
            patient_id=uuid.UUID(patient),
            clinic_id=uuid.UUID(clinic),
            purpose="self",
        )
        try:
            with unit_of_work(sessions) as session:
                service.book(
                    session,
                    actor,
                    provider_id=uuid.UUID(provider),
                    patient_id=uuid.UUID(patient),
                    start=datetime.fromisoformat(start_iso),
                    visit_type=vt,
                    clock=clock,
                    settings=settings,
                )
        except service.SlotTaken as exc:
            return "patient_busy" if exc.message == service.PATIENT_BUSY else "taken"
        except Exception as exc:
            return f"error: {type(exc).__name__}: {str(exc)[:200]}"
        return "ok"

    return book


def _apply_variant(variant: str) -> None:
    """Diagnostic variants of the service phase (``--diagnose``); never part of the targets."""
    if variant == "no-audit":
        from careweave.audit import service as audit

        audit.record = lambda *a, **k: None  # type: ignore[assignment]
    elif variant == "no-jobs":
        from careweave.scheduling import reminders

        reminders.schedule = lambda *a, **k: None  # type: ignore[assignment]
        reminders.notify_change = lambda *a, **k: None  # type: ignore[assignment]
        reminders.schedule_and_notify = lambda *a, **k: None  # type: ignore[assignment]
    elif variant == "no-audit-no-jobs":
        _apply_variant("no-audit")
        _apply_variant("no-jobs")


def _http_client(base: str) -> Callable[[Task], Outcome]:
    host, port = base.rsplit("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    last = [time.monotonic()]

    def book(t: Task) -> Outcome:
        nonlocal conn
        if time.monotonic() - last[0] > 2:  # idle (a barrier): the server may have closed the keep-alive
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=120)
        last[0] = time.monotonic()
        _, provider, patient, _, _, token, start_iso, vt, _ = t
        body = json.dumps(
            {"provider_id": provider, "patient_id": patient, "start": start_iso, "visit_type": vt}
        )
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        try:
            conn.request("POST", "/api/v1/appointments", body, headers)
            resp = conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=120)
            return f"error: {type(exc).__name__}: {exc}"
        if resp.status == 201:
            return "ok"
        try:
            error = json.loads(payload)["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "?", "message": payload[:200].decode(errors="replace")}
        if resp.status == 409 and error.get("code") == "slot_taken":
            return "patient_busy" if "patient already" in error.get("message", "") else "taken"
        return f"error: {resp.status} {error.get('code')}: {error.get('message')}"

    return book


def _client_main(
    phase: str,
    target: str,
    variant: str,
    plan: tuple[list[Task], list[Task], list[Task]],
    barrier: Any,
    out: Any,
) -> None:
    warm, spread, hot = plan
    try:
        if phase == "raw":
            book = _raw_client(target, variant)
        elif phase == "txn":
            book = _txn_client(target, variant)
        elif phase == "service":
            book = _service_client(target, variant)
        else:
            book = _http_client(target)
        results: dict[str, Any] = {"warmup": [(t[0], book(t)) for t in warm]}
        gc.collect()
        for name, tasks in (("spread", spread), ("hot", hot)):
            barrier.wait(timeout=600)
            started = time.perf_counter()
            outcomes = [(t[0], book(t)) for t in tasks]
            results[name] = {"outcomes": outcomes, "start": started, "end": time.perf_counter()}
        out.put(results)
    except BaseException as exc:
        barrier.abort()
        out.put({"crash": f"{type(exc).__name__}: {exc}"})


@dataclass
class SubResult:
    attempts: int
    outcomes: Counter[str]
    seconds: float
    per_key: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.attempts / self.seconds if self.seconds else 0.0

    @property
    def booked_rate(self) -> float:
        return self.outcomes["ok"] / self.seconds if self.seconds else 0.0


@dataclass
class PhaseResult:
    name: str
    label: str
    clients: int
    spread: SubResult
    hot: SubResult
    warmup: Counter[str]
    checks: dict[str, Any] = field(default_factory=dict)


def run_phase(name: str, label: str, target: str, plan: Plan, *, variant: str = "") -> PhaseResult:
    ctx = mp.get_context("fork")
    clients = len(plan.spread)
    barrier = ctx.Barrier(clients)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=_client_main,
            args=(name, target, variant, (plan.warmup[c], plan.spread[c], plan.hot[c]), barrier, out),
            daemon=True,
        )
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    if crashed := [r["crash"] for r in results if "crash" in r]:
        sys.exit(f"{label}: a client crashed: {crashed[0]}")

    def sub(which: str) -> SubResult:
        outcomes: Counter[str] = Counter()
        per_key: dict[str, Counter[str]] = {}
        for r in results:
            for key, outcome in r[which]["outcomes"]:
                outcomes[_short(outcome)] += 1
                per_key.setdefault(key, Counter())[_short(outcome)] += 1
        seconds = max(r[which]["end"] for r in results) - min(r[which]["start"] for r in results)
        return SubResult(sum(outcomes.values()), outcomes, seconds, per_key)

    warm: Counter[str] = Counter(_short(o) for r in results for _, o in r["warmup"])
    result = PhaseResult(name, label, clients, sub("spread"), sub("hot"), warm)
    errors = [
        o for r in results for w in ("spread", "hot") for _, o in r[w]["outcomes"] if o.startswith("error")
    ]
    errors += [o for r in results for _, o in r["warmup"] if o.startswith("error")]
    if errors:
        result.checks["first_errors"] = sorted(set(errors))[:5]
    return result


def _short(outcome: str) -> str:
    return "error" if outcome.startswith("error") else outcome


def check_phase(engine: Engine, result: PhaseResult, plan: Plan, rows_before: int) -> int:
    """SQL and outcome checks after a phase; returns the row count now."""
    with engine.connect() as conn:
        provider_overlaps = conn.scalar(
            text(
                "SELECT count(*) FROM appointments a JOIN appointments b ON a.provider_id = b.provider_id "
                "AND a.id < b.id WHERE a.status <> 'cancelled' AND b.status <> 'cancelled' "
                "AND a.start_at < b.block_end_at AND b.start_at < a.block_end_at"
            )
        )
        patient_overlaps = conn.scalar(
            text(
                "SELECT count(*) FROM appointments a JOIN appointments b ON a.patient_id = b.patient_id "
                "AND a.id < b.id WHERE a.status <> 'cancelled' AND b.status <> 'cancelled' "
                "AND a.start_at < b.end_at AND b.start_at < a.end_at"
            )
        )
        rows = conn.scalar(text("SELECT count(*) FROM appointments")) or 0
        per_hot = Counter(
            (str(p), s.astimezone(UTC).isoformat())
            for p, s in conn.execute(
                text("SELECT provider_id, start_at FROM appointments WHERE status = 'booked'")
            ).all()
        )
    oks = result.warmup["ok"] + result.spread.outcomes["ok"] + result.hot.outcomes["ok"]
    hot_rows = [
        per_hot.get((p, datetime.fromisoformat(s).astimezone(UTC).isoformat()), 0) for p, s in plan.hot_keys
    ]
    one_winner = sum(
        1 for c in result.hot.per_key.values() if c["ok"] == 1 and c["taken"] == result.clients - 1
    )
    losers = result.hot.attempts - result.hot.outcomes["ok"]
    result.checks.update(
        {
            "provider_overlaps": provider_overlaps,
            "patient_overlaps": patient_overlaps,
            "rows_written": rows - rows_before,
            "successes_reported": oks,
            "hot_slots": len(plan.hot_keys),
            "hot_slots_with_one_row": sum(1 for n in hot_rows if n == 1),
            "hot_slots_one_winner_rest_taken": one_winner,
            "hot_losers": losers,
            "hot_losers_clean": result.hot.outcomes["taken"],
            "spread_refused": result.spread.attempts - result.spread.outcomes["ok"],
            "errors": sum(r.outcomes["error"] for r in (result.spread, result.hot)) + result.warmup["error"],
        }
    )
    c = result.checks
    c["ok"] = (
        c["provider_overlaps"] == 0
        and c["patient_overlaps"] == 0
        and c["rows_written"] == c["successes_reported"]
        and c["hot_slots_with_one_row"] == c["hot_slots"]
        and c["hot_slots_one_winner_rest_taken"] == c["hot_slots"]
        and c["hot_losers_clean"] == c["hot_losers"]
        and c["spread_refused"] == 0
        and c["errors"] == 0
    )
    return rows


# ------------------------------------------------------------------------------------------------------------
# The HTTP server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m careweave serve --workers N`` on its own port, against the benchmark database."""

    def __init__(self, url: str, workers: int, log: Path) -> None:
        self.port = _free_port()
        env = os.environ | {
            "CAREWEAVE_DATABASE_URL": url,
            "CAREWEAVE_MFA_REQUIRED": "false",
            "CAREWEAVE_LOG_LEVEL": "WARNING",
            "CAREWEAVE_SECRET_KEY": "benchmark-" + "x" * 40,
        }
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "careweave", "serve", "--workers", str(workers), "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {log}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    conn.close()
                    time.sleep(1.0)  # let the second worker finish starting too
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not become ready; see {log}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# ------------------------------------------------------------------------------------------------------------
# Slot listing


def time_listing(engine: Engine, listing: list[Diary], calls: int, warmup: int = 20) -> tuple[Samples, float]:
    """``service.list_slots`` over WINDOW_DAYS for each listing provider in turn, in a fresh session each."""
    from careweave.scheduling import service

    sessions = make_sessionmaker(engine)
    clock = SystemClock()
    free: list[int] = []
    samples = Samples()
    for i in range(warmup + calls):
        d = listing[i % len(listing)]
        person = d.cohort[0]
        actor = Actor(
            user_id=person.user_id,
            role=Role.PATIENT,
            patient_id=person.patient_id,
            clinic_id=person.clinic_id,
            purpose="self",
        )
        now = clock.now()
        with sessions() as session:
            started = time.perf_counter()
            slots, _, _ = service.list_slots(
                session,
                actor,
                d.provider_id,
                start=now,
                end=now + timedelta(days=WINDOW_DAYS),
                visit_type=d.visit_type,
                clock=clock,
            )
            elapsed = (time.perf_counter() - started) * 1000
            session.rollback()
        if i >= warmup:
            samples.values.append(elapsed)
            free.append(len(slots))
    return samples, sum(free) / len(free) if free else 0.0


@dataclass
class ListingResult:
    backend: str
    samples: Samples
    visits_per_provider: float
    free_per_call: float


def listing_on(backend: str, url: str, args: argparse.Namespace, now: datetime) -> ListingResult:
    engine = make_engine(url)
    try:
        if backend == "sqlite":
            upgrade_to_head(engine)
            world = build_world(engine, providers=60, cohort=4, seed=args.seed, now=now)
        else:
            world = args._world
        samples, free = time_listing(engine, world.listing, args.listing_calls)
        with engine.connect() as conn:
            ids = [d.provider_id for d in world.listing]
            visits = conn.execute(
                select(Appointment.provider_id).where(Appointment.provider_id.in_(ids))
            ).all()
        return ListingResult(backend, samples, len(visits) / len(ids), free)
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------------------------
# Output


def print_table(phases: list[PhaseResult], raw: PhaseResult) -> None:
    head = (
        f"{'phase':<24} {'workload':<10} {'clients':>7} {'attempts':>8} {'booked':>7} {'refused':>7} "
        f"{'errors':>6} {'seconds':>7} {'attempts/s':>10} {'booked/s':>9} {'vs raw':>7}"
    )
    print()
    print(head)
    print("-" * len(head))
    for p in phases:
        for wl, s, r in (("spread", p.spread, raw.spread), ("contended", p.hot, raw.hot)):
            refused = s.outcomes["taken"] + s.outcomes["patient_busy"]
            ratio = s.rate / r.rate if r.rate else 0.0
            print(
                f"{p.label:<24} {wl:<10} {p.clients:>7} {s.attempts:>8} {s.outcomes['ok']:>7} {refused:>7} "
                f"{s.outcomes['error']:>6} {s.seconds:>7.2f} {s.rate:>10.0f} {s.booked_rate:>9.0f} {ratio:>6.1%}"
            )
    print()
    head = f"{'phase':<24} {'prov. overlaps':>14} {'pat. overlaps':>13} {'rows = successes':>16} {'hot: 1 winner, rest 409':>23} {'ok':>4}"
    print(head)
    print("-" * len(head))
    for p in phases:
        c = p.checks
        print(
            f"{p.label:<24} {c['provider_overlaps']:>14} {c['patient_overlaps']:>13} "
            f"{str(c['rows_written']) + ' = ' + str(c['successes_reported']):>16} "
            f"{str(c['hot_slots_one_winner_rest_taken']) + '/' + str(c['hot_slots']):>23} {'yes' if c['ok'] else 'NO':>4}"
        )
        for e in c.get("first_errors", []):
            print(f"    error: {e}")


def print_listing(listings: list[ListingResult]) -> None:
    print()
    head = f"{'slot listing (60 days)':<24} {'n':>5} {'visits/provider':>15} {'free/call':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(head)
    print("-" * len(head))
    for r in listings:
        s = r.samples.summary()
        print(
            f"{r.backend:<24} {s['n']:>5} {r.visits_per_provider:>15.0f} {r.free_per_call:>9.0f} "
            f"{s['p50']:>8.2f} {s['p95']:>8.2f} {s['p99']:>8.2f} {s['max']:>8.2f}"
        )


def _ceiling(phases: dict[str, PhaseResult]) -> PhaseResult:
    """The raw phase the ratios are taken against: the faster of the two raw claims."""
    return max((p for k, p in phases.items() if k.startswith("raw")), key=lambda p: p.spread.rate)


def verdicts(phases: dict[str, PhaseResult], listings: list[ListingResult]) -> list[str]:
    raw = _ceiling(phases).spread.rate
    out = []
    for name, target in (("service", TARGET_SERVICE), ("http", TARGET_HTTP)):
        if name in phases:
            ratio = phases[name].spread.rate / raw
            out.append(
                f"{phases[name].label}: {phases[name].spread.rate:.0f} bookings/s = {ratio:.1%} of raw "
                f"{raw:.0f}/s (target >= {target:.0%}): {'met' if ratio >= target else 'NOT met'}"
            )
    if "txn" in phases:  # ADR 0016's proposed restatement: against the same transaction written by hand
        bound = phases["txn"].spread.rate
        for name in ("service", "http"):
            if name in phases:
                out.append(
                    f"  (ADR 0016, proposed) {phases[name].label}: {phases[name].spread.rate / bound:.0%} of the "
                    f"same transaction by hand ({bound:.0f}/s)"
                )
    bad = [p.label for p in phases.values() if not p.checks.get("ok")]
    out.append(
        "zero double bookings, every loser a clean 409/SlotTaken: "
        + ("met" if not bad else f"NOT met ({', '.join(bad)})")
    )
    for r in listings:
        p99 = r.samples.pct(99)
        out.append(
            f"slot listing on {r.backend}: p99 {p99:.1f} ms (target <= {TARGET_LIST_P99_MS:.0f}): "
            f"{'met' if p99 <= TARGET_LIST_P99_MS else 'NOT met'}"
        )
    return out


def print_markdown(phases: list[PhaseResult], raw: PhaseResult, listings: list[ListingResult]) -> None:
    print()
    print(
        "| phase | workload | clients | attempts | booked | refused | errors | s | attempts/s | booked/s | vs raw |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in phases:
        for wl, s, r in (("spread", p.spread, raw.spread), ("contended", p.hot, raw.hot)):
            refused = s.outcomes["taken"] + s.outcomes["patient_busy"]
            ratio = s.rate / r.rate if r.rate else 0.0
            print(
                f"| {p.label} | {wl} | {p.clients} | {s.attempts} | {s.outcomes['ok']} | {refused} | "
                f"{s.outcomes['error']} | {s.seconds:.2f} | {s.rate:.0f} | {s.booked_rate:.0f} | {ratio:.1%} |"
            )
    print()
    print(
        "| phase | provider overlaps | patient overlaps | rows written = successes | hot slots: one winner, rest refused | ok |"
    )
    print("|---|---:|---:|---|---|---|")
    for p in phases:
        c = p.checks
        print(
            f"| {p.label} | {c['provider_overlaps']} | {c['patient_overlaps']} | "
            f"{c['rows_written']} = {c['successes_reported']} | {c['hot_slots_one_winner_rest_taken']}/{c['hot_slots']} | "
            f"{'yes' if c['ok'] else 'NO'} |"
        )
    print()
    print(
        "| slot listing, 60 days | calls | visits per provider | free slots per call | p50 ms | p95 ms | p99 ms | max ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in listings:
        s = r.samples.summary()
        print(
            f"| {r.backend} | {s['n']} | {r.visits_per_provider:.0f} | {r.free_per_call:.0f} | {s['p50']:.2f} | "
            f"{s['p95']:.2f} | {s['p99']:.2f} | {s['max']:.2f} |"
        )


# ------------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.booking", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--providers", type=int, default=300, help="generated providers (default 300)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes (default 8)")
    parser.add_argument("--cohort", type=int, default=16, help="patients per provider (default 16)")
    parser.add_argument("--spread", type=int, default=4000, help="spread bookings per phase (default 4000)")
    parser.add_argument(
        "--raw-spread", type=int, default=20000, help="spread bookings in the raw phase (default 20000)"
    )
    parser.add_argument(
        "--hot", type=int, default=100, help="hot slots per phase, each tried by every client"
    )
    parser.add_argument("--warmup", type=int, default=10, help="warm-up bookings per client per phase")
    parser.add_argument("--http-workers", type=int, default=2, help="app worker processes (default 2)")
    parser.add_argument(
        "--phases", default="raw,txn,service,http", help="comma-separated (raw is always run)"
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also run the by-hand phase without the audit chain, and the service phase without the audit row, "
        "without the jobs, and without both",
    )
    parser.add_argument("--listing-calls", type=int, default=500, help="slot-listing calls per backend")
    parser.add_argument("--listing-backends", default="postgresql,sqlite")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database and print its URL")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    return parser.parse_args(argv)


def _server_settings(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            name: str(conn.exec_driver_sql(f"SHOW {name}").scalar())
            for name in ("server_version", "max_connections", "synchronous_commit", "shared_buffers")
        }


def main(argv: Sequence[str] | None = None) -> int:
    from tests import pg

    args = parse_args(argv)
    from careweave.core.runtime import tune_gc

    tune_gc()  # as app processes run (ADR 0014); forked clients inherit it
    wanted = {p.strip() for p in args.phases.split(",") if p.strip()} | {"raw"}
    info = machine()
    print(
        f"Booking benchmark: {args.providers} generated providers, {args.clients} client processes, "
        f"{args.spread} spread bookings per phase ({args.raw_spread} raw), {args.hot} hot slots x "
        f"{args.clients} clients; {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Python {info['python']}"
    )
    now = datetime.now(UTC)
    url = pg.create_database("careweave_bench_booking")
    engine = make_engine(url)
    tmp = Path(tempfile.mkdtemp(prefix="careweave-booking-"))
    phases: dict[str, PhaseResult] = {}
    listings: list[ListingResult] = []
    try:
        upgrade_to_head(engine)
        pg_info = _server_settings(engine)
        print(f"PostgreSQL {pg_info['server_version']}: " + ", ".join(f"{k} {v}" for k, v in pg_info.items()))
        world = build_world(
            engine, providers=args.providers, cohort=max(args.cohort, args.clients), seed=args.seed, now=now
        )
        args._world = world
        print(
            f"  world in {world.seconds:.1f} s: {len(world.diaries)} bookable providers (+{len(world.listing)} for "
            f"listing), {world.counts['patients']} patients with tokens, "
            f"{sum(len(d.slots) for d in world.diaries)} free slots; "
            + ", ".join(
                f"{k} {v}"
                for k, v in world.counts.items()
                if k in ("providers", "licenses", "plans", "listing_visits")
            )
        )
        pool = SlotPool(world.diaries, args.seed)
        order = [("raw", "raw: one INSERT", ""), ("raw", "raw: lock + INSERT, 1 stmt", "locked")]
        if "txn" in wanted:
            order.append(("txn", "by hand: the service's statements", ""))
        if "service" in wanted:
            order.append(("service", "service (book + UoW)", ""))
        if args.diagnose:
            order.append(("txn", "by hand, audit event unchained", "unchained"))
            order += [("service", f"service, {v}", v) for v in ("no-audit", "no-jobs", "no-audit-no-jobs")]
        if "http" in wanted:
            order.append(("http", f"http ({args.http_workers} workers)", ""))
        with engine.connect() as conn:
            rows = conn.scalar(text("SELECT count(*) FROM appointments")) or 0
        engine.dispose()
        for name, label, variant in order:
            spread = args.raw_spread if name == "raw" else args.spread
            plan = make_plan(
                pool, clients=args.clients, spread=spread, hot=args.hot, warmup=args.warmup, name=label
            )
            print(
                f"  {label}: {spread} spread + {len(plan.hot_keys)} x {args.clients} contended ...",
                flush=True,
            )
            server = Server(url, args.http_workers, tmp / "server.log") if name == "http" else None
            try:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE appointments")
                engine.dispose()
                result = run_phase(name, label, server.base if server else url, plan, variant=variant)
            finally:
                if server:
                    server.stop()
            rows = check_phase(engine, result, plan, rows)
            key = name if not variant else f"{name}:{variant}"
            phases[key] = result
            print(
                f"    spread {result.spread.rate:.0f}/s, contended {result.hot.rate:.0f} attempts/s; "
                f"checks {'ok' if result.checks['ok'] else 'FAILED'}",
                flush=True,
            )
        for backend in [b.strip() for b in args.listing_backends.split(",") if b.strip()]:
            lurl = url if backend == "postgresql" else f"sqlite:///{tmp / 'listing.sqlite3'}"
            print(f"  slot listing on {backend} ...", flush=True)
            listings.append(listing_on(backend, lurl, args, now))
    finally:
        engine.dispose()
        if args.keep:
            print(f"  kept {url}")
        else:
            pg.drop_database(url)
        for path in tmp.iterdir():
            path.unlink()
        tmp.rmdir()
    raw = _ceiling(phases)
    print_table(list(phases.values()), raw)
    print_listing(listings)
    print()
    for line in verdicts(phases, listings):
        print(line)
    if args.markdown:
        print_markdown(list(phases.values()), raw, listings)
    if args.json:
        payload = {
            "machine": info,
            "postgresql": pg_info,
            "args": {k: v for k, v in vars(args).items() if not k.startswith("_") and k != "json"},
            "world": world.counts,
            "phases": {
                key: {
                    "label": p.label,
                    "clients": p.clients,
                    **{
                        wl: {
                            "attempts": s.attempts,
                            "outcomes": dict(s.outcomes),
                            "seconds": s.seconds,
                            "attempts_per_s": s.rate,
                            "booked_per_s": s.booked_rate,
                            "vs_raw": s.rate / (raw.spread.rate if wl == "spread" else raw.hot.rate),
                        }
                        for wl, s in (("spread", p.spread), ("contended", p.hot))
                    },
                    "checks": p.checks,
                }
                for key, p in phases.items()
            },
            "listing": [
                {"backend": r.backend, "visits_per_provider": r.visits_per_provider, **r.samples.summary()}
                for r in listings
            ],
            "verdicts": verdicts(phases, listings),
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
