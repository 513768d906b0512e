"""Secure messaging: patient and care team, clinician and clinician about a patient (issue #6)."""
