"""An index on providers.is_active, on PostgreSQL: an empty role's explanation counts the active providers
(those without authority in the state are "no licence there"), and the count read the whole providers table
(~24 ms at 100,000 providers; ~8 ms from this index, an index-only scan: docs/benchmarks.md).

Not on SQLite: without planner statistics (nothing runs ANALYZE on the embedded database) SQLite takes an index
on a two-valued column for a selective one and started the benchmark floor's queries from it (0.5 s instead of
40 ms); the count there reads the table (~12 ms).

Revision ID: 0013_providers_active_index
Revises: 0012_match_documents
Create Date: 2026-11-27 14:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_providers_active_index"
down_revision: str | None = "0012_match_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_providers_active", "providers", ["is_active"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_providers_active", table_name="providers")
