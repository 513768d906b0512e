"""Audited commits on PostgreSQL with one audit chain and with sixteen (ADR 0018), in one run.

    python -m benchmarks.audit_chain                     # 8 and 16 client processes, 3,000 commits per phase
    python -m benchmarks.audit_chain --clients 8 --commits 1000   # a quick run

Every request that reads or changes a patient's record ends with an audited transaction: the service's work, an
``audit.record`` and the COMMIT, where ``audit.service.seal`` locks a chain head, links the events and moves the
head — holding the head's row lock through the COMMIT's WAL flush. With one head every audited transaction of
every app process queues on that row; with sixteen, a committing transaction takes the first free one.

A fresh migrated PostgreSQL database (tests/pg.py, dropped afterwards). Each phase runs ``--clients`` client
processes (each its own connection pool of one) after a barrier; every client commits ``--commits / clients``
units of work, each with one audit event (what an audited read adds to a request) through the product's own
``unit_of_work`` and ``audit.record``. The one-chain phase runs first with heads 2-16 removed (they are empty),
which are then put back, so both are measured on the same database in the same run. After each phase
``audit.verify`` must pass and the events committed must equal the commits reported.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select

from benchmarks.matching import machine
from careweave.audit import chain
from careweave.audit.models import AuditChainHead, AuditEvent
from careweave.core.actor import Actor
from careweave.core.clock import SystemClock
from careweave.db.engine import make_engine, make_sessionmaker
from careweave.db.migrate import upgrade_to_head
from careweave.db.uow import unit_of_work

HEADS = 16


def _client(url: str, n: int, barrier: Any, out: Any) -> None:
    from careweave.audit import service as audit

    try:
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        clock = SystemClock()
        actor = Actor.system()
        for i in range(5):  # warm-up: connections, compiled statements
            with unit_of_work(sessions) as s:
                audit.record(s, actor, "bench.warmup", clock=clock, details={"i": i})
        barrier.wait()
        start = time.perf_counter()
        for i in range(n):
            with unit_of_work(sessions) as s:
                audit.record(s, actor, "bench.audited", clock=clock, details={"i": i})
        out.put({"start": start, "end": time.perf_counter(), "n": n})
        engine.dispose()
    except BaseException as exc:  # reported by the parent
        out.put({"crash": f"{type(exc).__name__}: {exc}"})


def run_phase(url: str, clients: int, commits: int) -> float:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(clients)
    out = ctx.Queue()
    per = commits // clients
    procs = [ctx.Process(target=_client, args=(url, per, barrier, out), daemon=True) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    if crashed := [r["crash"] for r in results if "crash" in r]:
        sys.exit(f"a client crashed: {crashed[0]}")
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    return sum(r["n"] for r in results) / seconds


def set_heads(engine: Any, heads: int) -> None:
    """Keep heads 1..``heads`` (the others must be empty), putting back missing empty ones."""
    with engine.begin() as conn:
        used = set(conn.scalars(select(AuditEvent.chain).where(AuditEvent.chain > heads).distinct()))
        if used:
            sys.exit(f"chains {sorted(used)} have events: cannot remove their heads")
        conn.execute(delete(AuditChainHead).where(AuditChainHead.id > heads))
        have = set(conn.scalars(select(AuditChainHead.id)))
        missing = [{"id": i, "seq": 0, "hash": chain.GENESIS} for i in range(1, heads + 1) if i not in have]
        if missing:
            conn.execute(insert(AuditChainHead), missing)


def check(engine: Any) -> tuple[bool, int, dict[int, int]]:
    from careweave.audit import service as audit

    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as s:
        result = audit.verify(s)
        per_chain = dict(
            s.execute(
                select(AuditEvent.chain, func.count())
                .where(AuditEvent.action == "bench.audited")
                .group_by(AuditEvent.chain)
            ).all()
        )
        if not result.ok:
            print("   ", result.problems[:5])
        return result.ok, result.checked, per_chain


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clients", default="8,16", help="client process counts, comma-separated (default 8,16)"
    )
    parser.add_argument("--commits", type=int, default=3000, help="audited commits per phase (default 3000)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from tests import pg

    args = parse_args(argv)
    info = machine()
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    print(
        f"Audited commits on PostgreSQL, 1 chain vs {HEADS}: clients {counts}, {args.commits} commits per phase; "
        f"{info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Python {info['python']}, {info['date']}"
    )
    url = pg.create_database("careweave_bench_audit")
    engine = make_engine(url)
    rows: list[dict[str, Any]] = []
    try:
        upgrade_to_head(engine)
        with engine.connect() as conn:
            setting = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        print(f"  synchronous_commit {setting}")
        expected = 0
        for heads in (1, HEADS):
            set_heads(engine, heads)
            for clients in counts:
                rate = run_phase(url, clients, args.commits)
                expected += (args.commits // clients) * clients
                ok, checked, per_chain = check(engine)
                done = sum(per_chain.values())
                rows.append(
                    {
                        "heads": heads,
                        "clients": clients,
                        "commits_per_s": rate,
                        "verify_ok": ok,
                        "events_checked": checked,
                        "chains_used": len(per_chain),
                        "events_match": done == expected,
                    }
                )
                print(
                    f"  {heads:>2} chain(s), {clients:>2} clients: {rate:7.0f} audited commits/s; verify "
                    f"{'ok' if ok else 'FAILED'} ({checked} events), events on {len(per_chain)} chain(s), "
                    f"committed == reported: {done == expected}",
                    flush=True,
                )
    finally:
        engine.dispose()
        pg.drop_database(url)
    print()
    print("| clients | 1 chain (commits/s) | 16 chains (commits/s) | ratio |")
    print("|---:|---:|---:|---:|")
    for clients in counts:
        one = next(r for r in rows if r["heads"] == 1 and r["clients"] == clients)
        many = next(r for r in rows if r["heads"] == HEADS and r["clients"] == clients)
        ratio = many["commits_per_s"] / one["commits_per_s"]
        print(f"| {clients} | {one['commits_per_s']:.0f} | {many['commits_per_s']:.0f} | {ratio:.2f}× |")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    return 0 if all(r["verify_ok"] and r["events_match"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
