"""Provider directory: licensure, scope of practice and explained matching (issue #4).

``rules`` holds the pure rules (``clinical-spec.md`` §3, §4.1–§4.3, §8.3) and ``data/`` the rule data they read:
credentials and their capabilities, per-state scope rules, and interstate compact membership with dates and
sources (spec §4.2 is VOLATILE, so membership is data, never code).
"""
