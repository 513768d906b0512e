"""Constraints on free text that every supported database can store."""

from __future__ import annotations

# PostgreSQL text cannot hold U+0000 (SQLite can): refuse it at the front door with a 422
# naming the field, identically on both backends, rather than failing in the driver.
NO_NUL = r"^[^\x00]*$"
