"""Benchmarks (issue #4 "Scale and speed"): not tests, not timed in CI.

``python -m benchmarks`` runs every benchmark; ``python -m benchmarks.matching`` runs the matching one.
See docs/benchmarks.md.
"""
