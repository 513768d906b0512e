"""An index on providers.is_active: an empty role's explanation counts the active providers (those without
authority in the state are "no licence there"), and the count read the whole providers table (12 ms on SQLite,
24 ms on PostgreSQL at 100,000 providers; ~3 and ~8 ms from this index: docs/benchmarks.md).

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
    op.create_index("ix_providers_active", "providers", ["is_active"])


def downgrade() -> None:
    op.drop_index("ix_providers_active", table_name="providers")
