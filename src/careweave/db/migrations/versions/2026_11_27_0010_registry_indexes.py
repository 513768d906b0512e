"""Registry indexes (issue #8): one index of open episodes holding every column the registry's flag conditions
and its "flags" order read, so that the whole clinic's flagged list is counted from the index alone (no table
lookup per episode) and its first page is found by (clinic, status, start) without reading the clinic.

Revision ID: 0010_registry_indexes
Revises: 0009_outcomes
Create Date: 2026-11-27 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_registry_indexes"
down_revision: str | None = "0009_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REGISTRY_COLUMNS = [
    "clinic_id",
    "status",
    "started_on",
    "last_item9_positive_on",
    "next_due_on",
    "last_contact_on",
    "last_review_on",
    "consultant_user_id",
    "care_manager_user_id",
    "patient_id",
    "id",
]


def upgrade() -> None:
    with op.batch_alter_table("care_episodes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_episodes_registry",
            REGISTRY_COLUMNS,
            unique=False,
            sqlite_where=sa.text("ended_on IS NULL"),
            postgresql_where=sa.text("ended_on IS NULL"),
        )
        batch_op.drop_index("ix_care_episodes_clinic_open")


def downgrade() -> None:
    with op.batch_alter_table("care_episodes", schema=None) as batch_op:
        batch_op.create_index("ix_care_episodes_clinic_open", ["clinic_id", "ended_on"], unique=False)
        batch_op.drop_index(
            "ix_care_episodes_registry",
            sqlite_where=sa.text("ended_on IS NULL"),
            postgresql_where=sa.text("ended_on IS NULL"),
        )
