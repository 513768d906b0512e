"""Match documents: one row per active provider x active licence or compact privilege x network key, holding
everything matching's hard filters and score read (directory.documents, ADR 0013), so a state's candidates for a
plan are one index range in the rules' name order.

The table is its primary key's index: WITHOUT ROWID on SQLite; on PostgreSQL the key's index INCLUDEs every
other column (index-only scans). Existing data gets its documents here, with the rules of directory.documents
frozen below (network keys: each plan, 00000000-0000-0000-0000-000000000000 for self-pay,
00000000-0000-0000-0000-000000000001 for any). Stored weekday masks are reset (see upgrade()).

Revision ID: 0012_match_documents
Revises: 0011_provider_openings
Create Date: 2026-11-27 10:30:00.000000
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_match_documents"
down_revision: str | None = "0011_provider_openings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAYLOAD = [
    "provider_id",
    "compact",
    "issued",
    "expires",
    "credential",
    "offers_therapy",
    "offers_medication_management",
    "accepting_new_patients",
    "active_patients",
    "capacity",
    "gender",
    "conditions",
    "languages",
    "openings_checked",
    "first_therapy_day",
    "first_therapy_weekdays",
    "first_evaluation_day",
    "first_evaluation_weekdays",
]
OPENINGS = [
    "first_therapy_day",
    "first_therapy_weekdays",
    "first_evaluation_day",
    "first_evaluation_weekdays",
]
SELF_PAY, ANY = uuid.UUID(int=0), uuid.UUID(int=1)


def upgrade() -> None:
    table = op.create_table(
        "match_documents",
        sa.Column("state", sa.String(2), nullable=False),
        sa.Column("network", sa.Uuid(), nullable=False),
        sa.Column(
            "rank_key",
            sa.String(1000).with_variant(sa.String(1000, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("compact", sa.Boolean(), nullable=False),
        sa.Column("issued", sa.Date(), nullable=True),
        sa.Column("expires", sa.Date(), nullable=True),
        sa.Column("credential", sa.String(20), nullable=False),
        sa.Column("offers_therapy", sa.Boolean(), nullable=False),
        sa.Column("offers_medication_management", sa.Boolean(), nullable=False),
        sa.Column("accepting_new_patients", sa.Boolean(), nullable=False),
        sa.Column("active_patients", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("gender", sa.String(60), nullable=True),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("languages", sa.Text(), nullable=False),
        sa.Column("openings_checked", sa.Boolean(), nullable=False),
        sa.Column("first_therapy_day", sa.Integer(), nullable=True),
        sa.Column("first_therapy_weekdays", sa.Integer(), nullable=True),
        sa.Column("first_evaluation_day", sa.Integer(), nullable=True),
        sa.Column("first_evaluation_weekdays", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_match_documents_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "state",
            "network",
            "rank_key",
            "source_id",
            name=op.f("pk_match_documents"),
            postgresql_include=PAYLOAD,
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_match_documents_provider_id", "match_documents", ["provider_id"], unique=False)
    # The weekday masks gain a flag (scheduling.earliest.EAST_OF_UTC) without which matching's bound now counts
    # from the date itself: masks stored before it are dropped (NULL: no bound, always safe) until the worker's
    # next refresh recomputes them (within scheduling.earliest.STALE_AFTER).
    op.execute("UPDATE providers SET first_therapy_weekdays = NULL, first_evaluation_weekdays = NULL")
    _backfill(table)


def _tags(values: list[str]) -> str:
    return "," + ",".join(sorted(values)) + "," if values else ","


def _backfill(table: sa.Table) -> None:
    conn = op.get_bind()
    providers = sa.table(
        "providers",
        *(
            sa.column(c)
            for c in (
                "id",
                "name",
                "is_active",
                "credential",
                "offers_therapy",
                "offers_medication_management",
                "accepting_new_patients",
                "active_patients",
                "capacity",
                "gender",
                "self_pay",
                "openings_checked_at",
                *OPENINGS,
            )
        ),
    )
    sources: dict[object, list[tuple[object, str, bool, object, object]]] = defaultdict(list)
    for name, compact in (("licenses", False), ("compact_privileges", True)):
        t = sa.table(
            name,
            *(sa.column(c) for c in ("id", "provider_id", "state", "status")),
            sa.column("issued", sa.Date()),
            sa.column("expires", sa.Date()),
        )
        for sid, pid, state, issued, expires in conn.execute(
            sa.select(t.c.id, t.c.provider_id, t.c.state, t.c.issued, t.c.expires).where(
                t.c.status == "active"
            )
        ):
            sources[pid].append((sid, state, compact, issued, expires))
    grouped: dict[str, dict[object, list[object]]] = {}
    for kind, name, column in (
        ("networks", "provider_networks", "plan_id"),
        ("conditions", "provider_conditions", "condition"),
        ("languages", "provider_languages", "language"),
    ):
        t = sa.table(name, sa.column("provider_id"), sa.column(column))
        found: dict[object, list[object]] = defaultdict(list)
        for pid, value in conn.execute(sa.select(t.c.provider_id, t.c[column])):
            found[pid].append(value)
        grouped[kind] = found
    rows = []
    for p in conn.execute(sa.select(providers).where(providers.c.is_active.is_(True))):
        pid = uuid.UUID(str(p.id))
        keys = [ANY, *(uuid.UUID(str(n)) for n in grouped["networks"].get(p.id, ()))]
        if p.self_pay:
            keys.append(SELF_PAY)
        common = {
            "provider_id": pid,
            "rank_key": f"{p.name.casefold()}\x01{p.name}\x01{pid}",
            "credential": p.credential,
            "offers_therapy": bool(p.offers_therapy),
            "offers_medication_management": bool(p.offers_medication_management),
            "accepting_new_patients": bool(p.accepting_new_patients),
            "active_patients": p.active_patients,
            "capacity": p.capacity,
            "gender": p.gender.casefold() if p.gender else None,
            "conditions": _tags([str(v) for v in grouped["conditions"].get(p.id, ())]),
            "languages": _tags([str(v) for v in grouped["languages"].get(p.id, ())]),
            "openings_checked": p.openings_checked_at is not None,
            **{c: getattr(p, c) for c in OPENINGS},
        }
        for sid, state, compact, issued, expires in sources.get(p.id, ()):
            for network in keys:
                rows.append(
                    common
                    | {
                        "state": state,
                        "network": network,
                        "source_id": uuid.UUID(str(sid)),
                        "compact": compact,
                        "issued": issued,
                        "expires": expires,
                    }
                )
        if len(rows) >= 5000:
            conn.execute(table.insert(), rows)
            rows = []
    if rows:
        conn.execute(table.insert(), rows)


def downgrade() -> None:
    op.drop_index("ix_match_documents_provider_id", table_name="match_documents")
    op.drop_table("match_documents")
    # The masks now hold local weekdays and the east flag, which the code before this revision would read as UTC
    # weekdays: dropped (NULL: no bound, safe) until its worker recomputes them.
    op.execute("UPDATE providers SET first_therapy_weekdays = NULL, first_evaluation_weekdays = NULL")
