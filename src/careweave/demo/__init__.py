"""Synthetic demo data: a clinic with clinicians and patients. Every person is fictional."""
