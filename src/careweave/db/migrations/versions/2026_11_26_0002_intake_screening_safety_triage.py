"""Intake, screening responses, safety alerts with on-call roster and notifications, pathway overrides

Revision ID: 0002_intake_screening
Revises: 0001_foundation
Create Date: 2026-11-26 20:12:57.720550
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careweave.db.base

revision: str = "0002_intake_screening"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "notifications",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=True),
        sa.Column("read_at", careweave.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_user_id"), ["user_id"], unique=False)

    op.create_table(
        "oncall_members",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_oncall_members_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oncall_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_members")),
        sa.UniqueConstraint("clinic_id", "position", name="uq_oncall_members_clinic_position"),
        sa.UniqueConstraint("clinic_id", "user_id", name="uq_oncall_members_clinic_user"),
    )
    op.create_table(
        "intakes",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("completed_at", careweave.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("emergency_contact_name", sa.String(length=200), nullable=True),
        sa.Column("emergency_contact_phone", sa.String(length=32), nullable=True),
        sa.Column("emergency_contact_relationship", sa.String(length=60), nullable=True),
        sa.Column("coverage_type", sa.String(length=20), nullable=True),
        sa.Column("insurance_plan", sa.String(length=200), nullable=True),
        sa.Column("insurance_member_id", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("provider_gender_preference", sa.String(length=20), nullable=True),
        sa.Column("provider_language", sa.String(length=35), nullable=True),
        sa.Column("treatment_preference", sa.String(length=20), nullable=True),
        sa.Column("goals", sa.JSON(), nullable=False),
        sa.Column("goals_text", sa.Text(), nullable=True),
        sa.Column("current_medications", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "coverage_type IS NULL OR coverage_type IN ('insurance', 'self_pay')",
            name=op.f("ck_intakes_coverage_known"),
        ),
        sa.CheckConstraint(
            "treatment_preference IS NULL OR treatment_preference IN ('therapy', 'medication', 'both', 'unsure')",
            name=op.f("ck_intakes_treatment_preference_known"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_intakes_patient_id_patients"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intakes")),
        sa.UniqueConstraint("patient_id", name=op.f("uq_intakes_patient_id")),
    )
    op.create_table(
        "pathway_overrides",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("pathway", sa.String(length=16), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("computed_pathway", sa.String(length=16), nullable=False),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "pathway IN ('therapy', 'psychiatry', 'both', 'urgent', 'none')",
            name=op.f("ck_pathway_overrides_pathway_known"),
        ),
        sa.CheckConstraint(
            "urgency IN ('emergency', 'urgent', 'routine')", name=op.f("ck_pathway_overrides_urgency_known")
        ),
        sa.ForeignKeyConstraint(
            ["clinician_id"],
            ["users.id"],
            name=op.f("fk_pathway_overrides_clinician_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_pathway_overrides_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pathway_overrides")),
    )
    with op.batch_alter_table("pathway_overrides", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pathway_overrides_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "screening_responses",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("instrument", sa.String(length=32), nullable=False),
        sa.Column("instrument_version", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("severity", sa.String(length=32), nullable=True),
        sa.Column("positive", sa.Boolean(), nullable=True),
        sa.Column("prorated", sa.Boolean(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("answered_count", sa.Integer(), nullable=False),
        sa.Column("risk_level", sa.String(length=16), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("authored_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("author_user_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('patient', 'clinician')", name=op.f("ck_screening_responses_source_known")
        ),
        sa.CheckConstraint(
            "status IN ('completed', 'entered-in-error')", name=op.f("ck_screening_responses_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_screening_responses_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_screening_responses_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_responses")),
    )
    with op.batch_alter_table("screening_responses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_screening_responses_patient_time", ["patient_id", "authored_at"], unique=False
        )

    op.create_table(
        "safety_alerts",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=True),
        sa.Column("screening_id", sa.Uuid(), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assigned_user_id", sa.Uuid(), nullable=True),
        sa.Column("roster_position", sa.Integer(), nullable=True),
        sa.Column("escalation_count", sa.Integer(), nullable=False),
        sa.Column("escalate_at", careweave.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", careweave.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("acknowledgement_note", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level IN ('low', 'moderate', 'high')", name=op.f("ck_safety_alerts_level_known")),
        sa.CheckConstraint("status IN ('open', 'acknowledged')", name=op.f("ck_safety_alerts_status_known")),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["users.id"],
            name=op.f("fk_safety_alerts_acknowledged_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_user_id"],
            ["users.id"],
            name=op.f("fk_safety_alerts_assigned_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_safety_alerts_clinic_id_clinics"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_safety_alerts_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["screening_id"],
            ["screening_responses.id"],
            name=op.f("fk_safety_alerts_screening_id_screening_responses"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_alerts")),
    )
    with op.batch_alter_table("safety_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_safety_alerts_clinic_status", ["clinic_id", "status"], unique=False)
        batch_op.create_index("ix_safety_alerts_due", ["status", "escalate_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_safety_alerts_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("safety_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_alerts_patient_id"))
        batch_op.drop_index("ix_safety_alerts_due")
        batch_op.drop_index("ix_safety_alerts_clinic_status")

    op.drop_table("safety_alerts")
    with op.batch_alter_table("screening_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_screening_responses_patient_time")

    op.drop_table("screening_responses")
    with op.batch_alter_table("pathway_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pathway_overrides_patient_id"))

    op.drop_table("pathway_overrides")
    op.drop_table("intakes")
    op.drop_table("oncall_members")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_user_id"))

    op.drop_table("notifications")
