"""The audit trail becomes several hash chains, one per head row (ADR 0018): a committing transaction chains its
events on the first head no other transaction holds (``FOR UPDATE SKIP LOCKED``), so audited writes from many
app processes stop queueing on one row lock held through every COMMIT.

``audit_events.chain`` names the chain an event is on; ``seq`` is unique within its chain. The existing chain
becomes chain 1 unchanged (every hash still verifies: the chain number is not hashed, and moving an event to
another chain breaks the ``prev_hash`` links of both). Heads 2-16 start empty.

Downgrade refuses once any event is on a chain other than 1 (one chain cannot hold them without rehashing).

Revision ID: 0020_audit_chains
Revises: 0019_api_clients
Create Date: 2026-11-28 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_audit_chains"
down_revision: str | None = "0019_api_clients"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAINS = 16
GENESIS = "0" * 64
OLD_CHAINED_WHOLE = (
    "(seq IS NULL AND prev_hash IS NULL AND hash IS NULL) OR "
    "(seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL)"
)
CHAINED_WHOLE = (
    "(chain IS NULL AND seq IS NULL AND prev_hash IS NULL AND hash IS NULL) OR "
    "(chain IS NOT NULL AND seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL)"
)


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("chain", sa.SmallInteger(), nullable=True))
    op.execute("UPDATE audit_events SET chain = 1 WHERE seq IS NOT NULL")
    with op.batch_alter_table("audit_events", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_audit_events_chained_whole"), type_="check")
        batch.drop_constraint(op.f("uq_audit_events_seq"), type_="unique")
        batch.create_unique_constraint(op.f("uq_audit_events_chain"), ["chain", "seq"])
        batch.create_check_constraint(op.f("ck_audit_events_chained_whole"), CHAINED_WHOLE)
    head = sa.table(
        "audit_chain_head",
        sa.column("id", sa.Integer),
        sa.column("seq", sa.Integer),
        sa.column("hash", sa.String),
    )
    op.bulk_insert(head, [{"id": i, "seq": 0, "hash": GENESIS} for i in range(2, CHAINS + 1)])


def downgrade() -> None:
    bind = op.get_bind()
    elsewhere = bind.scalar(
        sa.text("SELECT count(*) FROM audit_events WHERE chain IS NOT NULL AND chain <> 1")
    )
    if elsewhere:
        raise RuntimeError(f"{elsewhere} audit events are on chains other than 1: one chain cannot hold them")
    op.execute("DELETE FROM audit_chain_head WHERE id <> 1")
    with op.batch_alter_table("audit_events", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_audit_events_chained_whole"), type_="check")
        batch.drop_constraint(op.f("uq_audit_events_chain"), type_="unique")
        batch.create_unique_constraint(op.f("uq_audit_events_seq"), ["seq"])
        batch.create_check_constraint(op.f("ck_audit_events_chained_whole"), OLD_CHAINED_WHOLE)
        batch.drop_column("chain")
