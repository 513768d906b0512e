"""Provider directory: plans, providers, conditions, languages, networks, licences, compact privileges, DEA registrations, prescriptive certifications, patient coverage

Revision ID: 0003_directory
Revises: 0002_intake_screening
Create Date: 2026-11-26 21:13:23.453773
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careweave.db.base

revision: str = "0003_directory"
down_revision: str | None = "0002_intake_screening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "plans",
        sa.Column("payer", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("payer", "name", name="uq_plans_payer_name"),
    )
    op.create_table(
        "providers",
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("clinic_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credential", sa.String(length=20), nullable=False),
        sa.Column("npi", sa.String(length=10), nullable=True),
        sa.Column("taxonomy_code", sa.String(length=10), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("gender", sa.String(length=20), nullable=True),
        sa.Column("age_groups", sa.JSON(), nullable=False),
        sa.Column("modalities", sa.JSON(), nullable=False),
        sa.Column("offers_therapy", sa.Boolean(), nullable=False),
        sa.Column("offers_medication_management", sa.Boolean(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("accepting_new_patients", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("active_patients", sa.Integer(), nullable=False),
        sa.Column("self_pay", sa.Boolean(), nullable=False),
        sa.Column("self_pay_rate_cents", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_providers_clinic_id_clinics"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_providers_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("npi", name=op.f("uq_providers_npi")),
        sa.UniqueConstraint("user_id", name=op.f("uq_providers_user_id")),
    )
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_providers_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_providers_credential"), ["credential"], unique=False)

    op.create_table(
        "compact_privileges",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("compact", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("issued", sa.Date(), nullable=True),
        sa.Column("expires", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'suspended', 'expired')",
            name=op.f("ck_compact_privileges_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_compact_privileges_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compact_privileges")),
    )
    with op.batch_alter_table("compact_privileges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compact_privileges_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index("ix_compact_privileges_state_status", ["state", "status"], unique=False)

    op.create_table(
        "dea_registrations",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("number", sa.String(length=9), nullable=False),
        sa.Column("schedules", sa.JSON(), nullable=False),
        sa.Column("expires", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_dea_registrations_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dea_registrations")),
    )
    with op.batch_alter_table("dea_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dea_registrations_provider_id"), ["provider_id"], unique=False)

    op.create_table(
        "licenses",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("license_type", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("issued", sa.Date(), nullable=True),
        sa.Column("expires", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'suspended', 'expired')", name=op.f("ck_licenses_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_licenses_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses")),
    )
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_licenses_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(
            "ix_licenses_state_status_expires", ["state", "status", "expires"], unique=False
        )

    op.create_table(
        "patient_coverages",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("self_pay", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_coverages_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_patient_coverages_plan_id_plans"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_coverages")),
        sa.UniqueConstraint("patient_id", name=op.f("uq_patient_coverages_patient_id")),
    )
    op.create_table(
        "prescriptive_certifications",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("expires", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careweave.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_prescriptive_certifications_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescriptive_certifications")),
    )
    with op.batch_alter_table("prescriptive_certifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prescriptive_certifications_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "provider_conditions",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("condition", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_conditions_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("provider_id", "condition", name=op.f("pk_provider_conditions")),
    )
    with op.batch_alter_table("provider_conditions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_conditions_condition"), ["condition"], unique=False)

    op.create_table(
        "provider_languages",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_languages_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("provider_id", "language", name=op.f("pk_provider_languages")),
    )
    with op.batch_alter_table("provider_languages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_languages_language"), ["language"], unique=False)

    op.create_table(
        "provider_networks",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_provider_networks_plan_id_plans"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_networks_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("provider_id", "plan_id", name=op.f("pk_provider_networks")),
    )
    with op.batch_alter_table("provider_networks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_networks_plan_id"), ["plan_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("provider_networks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_networks_plan_id"))

    op.drop_table("provider_networks")
    with op.batch_alter_table("provider_languages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_languages_language"))

    op.drop_table("provider_languages")
    with op.batch_alter_table("provider_conditions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_conditions_condition"))

    op.drop_table("provider_conditions")
    with op.batch_alter_table("prescriptive_certifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prescriptive_certifications_provider_id"))

    op.drop_table("prescriptive_certifications")
    op.drop_table("patient_coverages")
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.drop_index("ix_licenses_state_status_expires")
        batch_op.drop_index(batch_op.f("ix_licenses_provider_id"))

    op.drop_table("licenses")
    with op.batch_alter_table("dea_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dea_registrations_provider_id"))

    op.drop_table("dea_registrations")
    with op.batch_alter_table("compact_privileges", schema=None) as batch_op:
        batch_op.drop_index("ix_compact_privileges_state_status")
        batch_op.drop_index(batch_op.f("ix_compact_privileges_provider_id"))

    op.drop_table("compact_privileges")
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_providers_credential"))
        batch_op.drop_index(batch_op.f("ix_providers_clinic_id"))

    op.drop_table("providers")
    op.drop_table("plans")
