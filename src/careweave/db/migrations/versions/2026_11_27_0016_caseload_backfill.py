"""Caseloads counted from care teams: ``providers.active_patients`` becomes the number of patients with a
current membership (no end date) on the provider's care teams, as directory.recount_caseload keeps it from now on
(before, nothing maintained it). The match documents follow: their copy of the count is updated, documents under
a plan or the self-pay key are removed for providers now closed and written (from their "any" documents) for
providers now open, as directory.documents builds them (migration 0015's rule).

Adds ``ix_care_team_members_provider_current`` (a clinician's current patients), which the backfill and every
recount read. Downgrade drops it and leaves the counts as they are (they were unmaintained before).

Revision ID: 0016_caseload_backfill
Revises: 0015_open_documents
Create Date: 2026-11-27 17:05:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_caseload_backfill"
down_revision: str | None = "0015_open_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies (as of this revision) of directory.documents' keys and the document's columns.
SELF_PAY_NETWORK = uuid.UUID(int=0)
ANY_NETWORK = uuid.UUID(int=1)
COLUMNS = (
    "state", "rank_key", "source_id", "provider_id", "compact", "issued", "expires", "credential",
    "offers_therapy", "offers_medication_management", "accepting_new_patients", "active_patients", "capacity",
    "gender", "conditions", "languages", "openings_checked", "first_therapy_day", "first_therapy_bounds",
    "first_evaluation_day", "first_evaluation_bounds",
)  # fmt: skip
TYPED = {
    "provider_id": sa.Uuid(),
    "source_id": sa.Uuid(),
    "accepting_new_patients": sa.Boolean(),
    "active_patients": sa.Integer(),
    "capacity": sa.Integer(),
}

docs = sa.table(
    "match_documents", sa.column("network", sa.Uuid()), *(sa.column(c, TYPED.get(c)) for c in COLUMNS)
)
providers = sa.table(
    "providers",
    sa.column("id", sa.Uuid()),
    sa.column("self_pay", sa.Boolean()),
    sa.column("active_patients", sa.Integer()),
)
members = sa.table(
    "care_team_members",
    sa.column("patient_id", sa.Uuid()),
    sa.column("provider_id", sa.Uuid()),
    sa.column("end_date", sa.Date()),
)
networks = sa.table("provider_networks", sa.column("provider_id", sa.Uuid()), sa.column("plan_id", sa.Uuid()))


def _closed(d: sa.TableClause) -> sa.ColumnElement[bool]:
    return sa.or_(
        d.c.accepting_new_patients.is_not(True),
        d.c.active_patients.is_(None),
        d.c.capacity.is_(None),
        d.c.active_patients >= d.c.capacity,
    )


def upgrade() -> None:
    op.create_index(
        "ix_care_team_members_provider_current",
        "care_team_members",
        ["provider_id", "patient_id"],
        sqlite_where=sa.text("end_date IS NULL"),
        postgresql_where=sa.text("end_date IS NULL"),
    )
    count = (
        sa.select(sa.func.count(sa.distinct(members.c.patient_id)))
        .where(members.c.provider_id == providers.c.id, members.c.end_date.is_(None))
        .scalar_subquery()
    )
    op.execute(sa.update(providers).values(active_patients=count))
    copied = (
        sa.select(providers.c.active_patients).where(providers.c.id == docs.c.provider_id).scalar_subquery()
    )
    op.execute(sa.update(docs).values(active_patients=copied))
    op.execute(sa.delete(docs).where(docs.c.network != ANY_NETWORK, _closed(docs)))
    # Providers now open get their plan and self-pay documents, copied from their "any" documents.
    present = sa.alias(docs, "present")
    rest = [docs.c[c] for c in COLUMNS]
    for key, joined in (
        (networks.c.plan_id, networks.join(docs, networks.c.provider_id == docs.c.provider_id)),
        (
            sa.literal(SELF_PAY_NETWORK, sa.Uuid()),
            providers.join(
                docs, sa.and_(providers.c.id == docs.c.provider_id, providers.c.self_pay.is_(True))
            ),
        ),
    ):
        missing = ~sa.exists().where(
            present.c.state == docs.c.state,
            present.c.network == key,
            present.c.rank_key == docs.c.rank_key,
            present.c.source_id == docs.c.source_id,
        )
        rows = (
            sa.select(key, *rest)
            .select_from(joined)
            .where(docs.c.network == ANY_NETWORK, sa.not_(_closed(docs)), missing)
        )
        op.execute(sa.insert(docs).from_select(["network", *COLUMNS], rows))


def downgrade() -> None:
    # The counts stay (they were unmaintained before); the documents stay consistent with them.
    op.drop_index("ix_care_team_members_provider_current", table_name="care_team_members")
