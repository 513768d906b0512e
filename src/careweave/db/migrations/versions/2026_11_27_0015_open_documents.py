"""Match documents under a plan's key or the self-pay key only for providers who can take a new patient
(accepting and under capacity: directory.documents.is_open); those who cannot keep their documents under the
"any" key, which an empty role's explanation counts them from. A need with coverage (nearly every need) reads
only its plan's or the self-pay key, so ranking a large state no longer reads the documents of providers it
would filter out (about a third of them on the benchmark directory; docs/benchmarks.md, session 7).

Upgrade deletes those documents; downgrade writes them back from the "any" documents, the providers' networks
and their self-pay flag.

Revision ID: 0015_open_documents
Revises: 0014_document_day_bounds
Create Date: 2026-11-27 16:30:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_open_documents"
down_revision: str | None = "0014_document_day_bounds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of directory.documents' network keys.
SELF_PAY_NETWORK = uuid.UUID(int=0)
ANY_NETWORK = uuid.UUID(int=1)
# The document's columns besides the network key (frozen, as of this revision).
COLUMNS = (
    "state", "rank_key", "source_id", "provider_id", "compact", "issued", "expires", "credential",
    "offers_therapy", "offers_medication_management", "accepting_new_patients", "active_patients", "capacity",
    "gender", "conditions", "languages", "openings_checked", "first_therapy_day", "first_therapy_bounds",
    "first_evaluation_day", "first_evaluation_bounds",
)  # fmt: skip

docs = sa.table(
    "match_documents",
    sa.column("network", sa.Uuid()),
    sa.column("accepting_new_patients", sa.Boolean()),
    sa.column("active_patients", sa.Integer()),
    sa.column("capacity", sa.Integer()),
    *(sa.column(c) for c in COLUMNS if c not in ("accepting_new_patients", "active_patients", "capacity")),
)
networks = sa.table("provider_networks", sa.column("provider_id", sa.Uuid()), sa.column("plan_id", sa.Uuid()))
providers = sa.table("providers", sa.column("id", sa.Uuid()), sa.column("self_pay", sa.Boolean()))


def _closed() -> sa.ColumnElement[bool]:
    return sa.or_(
        docs.c.accepting_new_patients.is_not(True),
        docs.c.active_patients.is_(None),
        docs.c.capacity.is_(None),
        docs.c.active_patients >= docs.c.capacity,
    )


def upgrade() -> None:
    op.execute(sa.delete(docs).where(docs.c.network != ANY_NETWORK, _closed()))


def downgrade() -> None:
    any_docs = sa.and_(docs.c.network == ANY_NETWORK, _closed())
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
        rows = sa.select(key, *rest).select_from(joined).where(any_docs)
        op.execute(sa.insert(docs).from_select(["network", *COLUMNS], rows))
