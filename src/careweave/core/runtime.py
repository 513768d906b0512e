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

A process that has finished starting also freezes its heap (:func:`freeze_heap`): what is alive then — modules,
the app and its routes, the rule data — moves to CPython's permanent generation, which later full passes do not
traverse. And the middle generation is collected after 100 young passes, not 10: a middle pass sees whatever
a match in flight holds (~80,000 objects) and took ~55 ms on the 2-vCPU machine, three times per 1,000 matches,
while what it would free is only cycles (everything else is freed by reference counting at once). Measured on
the matching benchmark (PostgreSQL, 100,000 providers, 1,000 matches): one full pass (~220 ms) and three middle
passes (~55 ms) before, none after; the process's peak RSS 170 MB (ADR 0014).
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (10_000, 100, 10)


def tune_gc() -> None:
    """Apply GC_THRESHOLDS to this process (idempotent)."""
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_heap() -> None:
    """Collect once, then move every object alive now into CPython's permanent generation (``gc.freeze``): later
    collections never traverse it, so a full pass costs what the process allocated since, not its whole start-up
    heap. Call once, when a long-running process has finished starting (``careweave.asgi``, the single-process
    server, the worker): frozen objects are never collected, so a process that builds and drops many apps (the
    test suite) must not call it."""
    gc.collect()
    gc.freeze()
