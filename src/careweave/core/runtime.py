"""Process-wide runtime policy for Careweave's long-running processes (app servers, the worker, benchmarks).

Garbage collection: CPython's cyclic collector runs a young-generation pass every 700 net container
allocations by default and, every so often, a full pass over every tracked object. An app process holds
~250,000 tracked objects (modules, SQLAlchemy's compiled-statement caches, the rule data), and a full pass
over them takes 100-200 ms on a 2-vCPU machine — paid by whichever request happens to be running. A match
or a page builds tens of thousands of short-lived objects (result rows, facts), and with the default
threshold many of them are still alive at a young pass, get promoted, and soon trigger a full pass:
measured, about 14 full passes per 1,000 matches, at the p99 (docs/benchmarks.md, ADR 0014). With a
young-generation threshold of 10,000 the same objects die before a pass sees them: one full pass per
1,000 matches, matching p99 52 -> 40 ms on SQLite, the same memory to within a few MB. Reference counting
still frees everything that is not in a cycle immediately; only cycles wait longer.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Apply GC_THRESHOLDS to this process (idempotent)."""
    gc.set_threshold(*GC_THRESHOLDS)
