"""Audit events are chained when their transaction commits (ADR 0015): an event row is written without its
place in the chain and ``audit.service.seal`` gives it ``seq``, ``prev_hash`` and ``hash`` at commit. So ``seq``
can no longer be the primary key: ``id`` (already unique) becomes it, ``seq`` stays unique, and the three chain
columns become nullable together (``ck_audit_events_chained_whole``: all three or none).

Downgrade restores ``seq`` as the primary key; it refuses while any row is unchained (none is, outside an open
transaction).

Revision ID: 0017_audit_chain_at_commit
Revises: 0016_caseload_backfill
Create Date: 2026-11-27 18:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_audit_chain_at_commit"
down_revision: str | None = "0016_caseload_backfill"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAINED_WHOLE = (
    "(seq IS NULL AND prev_hash IS NULL AND hash IS NULL) OR "
    "(seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events", recreate="auto") as batch:
        batch.drop_constraint(op.f("uq_audit_events_id"), type_="unique")
        batch.drop_constraint(op.f("pk_audit_events"), type_="primary")
        batch.create_primary_key(op.f("pk_audit_events"), ["id"])
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=True)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=True)
        batch.create_unique_constraint(op.f("uq_audit_events_seq"), ["seq"])
        batch.create_check_constraint(op.f("ck_audit_events_chained_whole"), CHAINED_WHOLE)


def downgrade() -> None:
    unchained = op.get_bind().scalar(sa.text("SELECT count(*) FROM audit_events WHERE seq IS NULL"))
    if unchained:
        raise RuntimeError(f"{unchained} audit events are not chained: cannot make seq the primary key again")
    with op.batch_alter_table("audit_events", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_audit_events_chained_whole"), type_="check")
        batch.drop_constraint(op.f("uq_audit_events_seq"), type_="unique")
        batch.drop_constraint(op.f("pk_audit_events"), type_="primary")
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.create_primary_key(op.f("pk_audit_events"), ["seq"])
        batch.create_unique_constraint(op.f("uq_audit_events_id"), ["id"])
