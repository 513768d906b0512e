"""Match documents carry each provider's weekday mask as day bounds (directory.documents.day_bounds): for each
weekday of a need's date, the days to the first day the provider's own calendar has hours (less one east of
UTC), packed three bits per weekday. Matching's SQL computed this from the mask with two 30-branch CASE
expressions per row and copy (its statements ran to 10-14 kB of text with ~100 parameters: parsed and planned on
every match on PostgreSQL); it now reads ``(bounds >> 3 * weekday) & 7``.

The columns are renamed (``first_*_weekdays`` -> ``first_*_bounds``; PostgreSQL's primary-key index INCLUDEs
them by position, so it carries on) and their values recomputed from the masks they held. Downgrade copies the
masks back from the providers.

Revision ID: 0014_document_day_bounds
Revises: 0013_providers_active_index
Create Date: 2026-11-27 13:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_document_day_bounds"
down_revision: str | None = "0013_providers_active_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("therapy", "evaluation")
EAST_OF_UTC = 1 << 7  # frozen copy of directory.documents.EAST_OF_UTC


def day_bounds(mask: int) -> int:
    """Frozen copy of directory.documents.day_bounds (as of this revision)."""
    packed = 0
    for weekday in range(7):
        ahead = next((k for k in range(7) if mask & (1 << ((weekday + k) % 7))), 0)
        if mask & EAST_OF_UTC:
            ahead = max(0, ahead - 1)
        packed |= ahead << (3 * weekday)
    return packed


def upgrade() -> None:
    for kind in KINDS:
        old, new = f"first_{kind}_weekdays", f"first_{kind}_bounds"
        op.execute(f"ALTER TABLE match_documents RENAME COLUMN {old} TO {new}")
        # Masks are 8 bits (seven weekdays and EAST_OF_UTC): one CASE over the 256 values, in one statement.
        branches = " ".join(f"WHEN {mask} THEN {day_bounds(mask)}" for mask in range(256))
        recompute = f"UPDATE match_documents SET {new} = CASE {new} {branches} END WHERE {new} IS NOT NULL"  # noqa: S608 (no input)
        op.execute(recompute)


def downgrade() -> None:
    for kind in KINDS:
        old, new = f"first_{kind}_weekdays", f"first_{kind}_bounds"
        op.execute(f"ALTER TABLE match_documents RENAME COLUMN {new} TO {old}")
        copy_back = (
            f"UPDATE match_documents SET {old} = (SELECT providers.{old} FROM providers"  # noqa: S608 (no input)
            " WHERE providers.id = match_documents.provider_id)"
        )
        op.execute(copy_back)
