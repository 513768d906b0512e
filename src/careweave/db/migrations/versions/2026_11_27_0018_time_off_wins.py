"""Time off wins over extra hours on the same day (scheduling.rules._with_exceptions, session 8); before, the
result depended on the order the exceptions were read in. A provider's stored earliest free times
(scheduling.earliest) computed under the old rule may be too early where a date has both extra hours and time off:
their ``openings_checked_at`` is cleared, so matching computes those providers' free time exactly
(earliest.fresh_openings trusts only checked times) and the worker's next refresh (earliest.refresh_due, which
takes never-checked providers first) stores them again. The stored times stay in place as lower bounds (what
matching's SQL ordering needs). Nothing to undo on downgrade.

Revision ID: 0018_time_off_wins
Revises: 0017_audit_chain_at_commit
Create Date: 2026-11-27 19:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_time_off_wins"
down_revision: str | None = "0017_audit_chain_at_commit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE providers SET openings_checked_at = NULL WHERE id IN ("
            " SELECT extra.provider_id FROM availability_exceptions extra"
            " JOIN availability_exceptions off ON off.provider_id = extra.provider_id AND off.day = extra.day"
            " WHERE extra.available AND extra.start_time IS NOT NULL"
            " AND NOT off.available AND off.start_time IS NOT NULL)"
        )
    )


def downgrade() -> None:
    """Nothing to undo: the cleared times were recomputed, as the old rule would also have allowed."""
