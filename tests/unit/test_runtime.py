"""core.runtime: every app process runs with the GC thresholds the benchmarks measured (ADR 0014)."""

from __future__ import annotations

import gc

from careweave.core.runtime import GC_THRESHOLDS, tune_gc


def test_tune_gc_sets_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        # the young generation waits for more allocations than CPython's default
        assert GC_THRESHOLDS[0] > 700
    finally:
        gc.set_threshold(*before)
