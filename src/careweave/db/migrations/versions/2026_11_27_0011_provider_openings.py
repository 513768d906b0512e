"""Each provider's earliest free first visit kept on the provider row, and a case-folded name to sort by
(issue #4 "Scale and speed": matching filters and ranks by earliest availability in SQL; docs/directory.md
"Earliest free time").

* ``first_therapy_at`` / ``first_therapy_day``: the earliest free start of a therapy intake from now (plus the
  provider's minimum notice) to the end of their booking horizon, and its UTC date as days since 1970-01-01
  (what SQL ranks by); ``first_evaluation_*`` likewise for a psychiatric evaluation. NULL with
  ``openings_checked_at`` set: no free time (or no schedule) when last checked; ``openings_checked_at`` NULL:
  never computed (matching then treats availability as unknown and checks it exactly).
* ``first_therapy_weekdays`` / ``first_evaluation_weekdays``: the UTC weekdays (bit 0 = Monday) on which the
  provider's hours for that visit could fall, so matching can bound free time after a later date too.
* ``sort_name``: ``name.casefold()``, the rules' tie-break, so SQL's name order equals Python's on every engine.
* ``rank_key`` on licences and compact privileges: the provider's case-folded name, name and id in one string
  (directory.models.rank_key), indexed per state, so matching can walk a state's licences in the rules' order
  and stop after the first few (repository.match_candidates).

Existing rows get ``sort_name`` here; their openings are computed by ``careweave worker`` (never-checked
providers stay matchable meanwhile).

Revision ID: 0011_provider_openings
Revises: 0010_registry_indexes
Create Date: 2026-11-27 07:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_provider_openings"
down_revision: str | None = "0010_registry_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_MATCH_COLUMNS = [
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
MATCH_COLUMNS = [
    *OLD_MATCH_COLUMNS[:-1],
    "openings_checked_at",
    "first_therapy_day",
    "first_evaluation_day",
    "first_therapy_weekdays",
    "first_evaluation_weekdays",
    "sort_name",
    "name",
]


def upgrade() -> None:
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_therapy_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_therapy_day", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("first_evaluation_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_evaluation_day", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("openings_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_therapy_weekdays", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("first_evaluation_weekdays", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sort_name", sa.String(600), nullable=False, server_default=""))
    providers = sa.table("providers", sa.column("id", sa.Uuid()), sa.column("name"), sa.column("sort_name"))
    conn = op.get_bind()
    rows = [
        {"pid": pid, "key": name.casefold()}
        for pid, name in conn.execute(sa.select(providers.c.id, providers.c.name))
    ]
    if rows:
        conn.execute(
            providers.update()
            .where(providers.c.id == sa.bindparam("pid"))
            .values(sort_name=sa.bindparam("key")),
            rows,
        )
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.drop_index("ix_providers_match")
        batch_op.create_index("ix_providers_match", MATCH_COLUMNS, unique=False)
    # Licences and compact privileges carry their provider's rank key (models.rank_key), to be walked in
    # the rules' name order per state.
    names: dict[object, str] = {}
    for row in conn.execute(sa.select(providers.c.id, providers.c.name)):
        names[row[0]] = row[1]
    for table, index in (
        ("licenses", "ix_licenses_state_rank"),
        ("compact_privileges", "ix_compact_privileges_state_rank"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "rank_key",
                    sa.String(1000).with_variant(sa.String(1000, collation="C"), "postgresql"),
                    nullable=False,
                    server_default="",
                )
            )
        records = sa.table(
            table, sa.column("id", sa.Uuid()), sa.column("provider_id", sa.Uuid()), sa.column("rank_key")
        )
        keys = [
            {"rid": rid, "key": f"{names[pid].casefold()}\x01{names[pid]}\x01{pid}"}
            for rid, pid in conn.execute(sa.select(records.c.id, records.c.provider_id))
        ]
        if keys:
            conn.execute(
                records.update()
                .where(records.c.id == sa.bindparam("rid"))
                .values(rank_key=sa.bindparam("key")),
                keys,
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(
                index, ["state", "rank_key", "provider_id", "status", "expires", "issued"], unique=False
            )


def downgrade() -> None:
    for table, index in (
        ("licenses", "ix_licenses_state_rank"),
        ("compact_privileges", "ix_compact_privileges_state_rank"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
            batch_op.drop_column("rank_key")
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.drop_index("ix_providers_match")
        batch_op.create_index("ix_providers_match", OLD_MATCH_COLUMNS, unique=False)
        batch_op.drop_column("sort_name")
        batch_op.drop_column("first_evaluation_weekdays")
        batch_op.drop_column("first_therapy_weekdays")
        batch_op.drop_column("openings_checked_at")
        batch_op.drop_column("first_evaluation_day")
        batch_op.drop_column("first_evaluation_at")
        batch_op.drop_column("first_therapy_day")
        batch_op.drop_column("first_therapy_at")
