"""Persistence plumbing: declarative base, engine, units of work, migrations."""
