"""FHIR R4 (4.0.1) mappings: pure functions from domain objects to plain JSON dicts (``clinical-spec.md`` §8).

No database access and no HTTP here; endpoints that serve these resources live elsewhere.
"""
