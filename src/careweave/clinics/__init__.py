"""Clinics (organisations) that users belong to."""
