"""Measurement-based care: treat to target, the caseload registry and collaborative-care minutes (issue #8)."""
