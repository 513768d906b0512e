"""Matching at directory scale: covering indexes for the state's licences and compact privileges (in provider
order), for provider lookups by id, and for a plan's network (issue #4 "Scale and speed", docs/benchmarks.md)

Revision ID: 0004_matching_indexes
Revises: 0003_directory
Create Date: 2026-11-26 22:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_matching_indexes"
down_revision: str | None = "0003_directory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROVIDER_MATCH_COLUMNS = [
    "id",
    "is_active",
    "accepting_new_patients",
    "offers_therapy",
    "offers_medication_management",
    "self_pay",
    "active_patients",
    "capacity",
    "credential",
    "gender",
    "name",
]


def upgrade() -> None:
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.drop_index("ix_licenses_state_status_expires")
        batch_op.create_index(
            "ix_licenses_state_provider",
            ["state", "provider_id", "status", "expires", "issued"],
            unique=False,
        )
    with op.batch_alter_table("compact_privileges", schema=None) as batch_op:
        batch_op.drop_index("ix_compact_privileges_state_status")
        batch_op.create_index(
            "ix_compact_privileges_state_provider",
            ["state", "provider_id", "status", "expires", "issued"],
            unique=False,
        )
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.create_index("ix_providers_match", PROVIDER_MATCH_COLUMNS, unique=False)
    with op.batch_alter_table("provider_networks", schema=None) as batch_op:
        batch_op.create_index("ix_provider_networks_plan_provider", ["plan_id", "provider_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("provider_networks", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_networks_plan_provider")
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.drop_index("ix_providers_match")
    with op.batch_alter_table("compact_privileges", schema=None) as batch_op:
        batch_op.drop_index("ix_compact_privileges_state_provider")
        batch_op.create_index("ix_compact_privileges_state_status", ["state", "status"], unique=False)
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.drop_index("ix_licenses_state_provider")
        batch_op.create_index(
            "ix_licenses_state_status_expires", ["state", "status", "expires"], unique=False
        )
