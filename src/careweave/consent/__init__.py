"""Consent directives: what a patient lets which clinicians share, enforced by policy (issue #6)."""
