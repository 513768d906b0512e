"""The provider directory: clinicians (or directory-only providers), their licences by state,
compact privileges, DEA registrations and insurance networks; insurance plans; a patient's
coverage. Facts map 1:1 onto directory.rules' dataclasses, which decide eligibility."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from careweave.db.base import Base, Entity

STATUSES = "('active', 'inactive', 'suspended', 'expired')"


# Compared in code-point order, as Python compares strings: SQLite's default (BINARY); on PostgreSQL the "C"
# collation, so the per-state index serves the walk's order whatever the database's default collation.
RANK_KEY_TYPE = String(1000).with_variant(String(1000, collation="C"), "postgresql")  # 3 x 200 + id, folded


def rank_key(provider_id: uuid.UUID, name: str) -> str:
    """One string whose code-point order is the rules' tie-break between providers (case-folded name, name,
    id: directory.rules._rank_key), kept on licences and compact privileges (migration 0011)."""
    return f"{name.casefold()}\x01{name}\x01{provider_id}"


class Plan(Entity):
    """An insurance plan of a payer (e.g. "Aetna" / "Open Access PPO")."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("payer", "name", name="uq_plans_payer_name"),)

    payer: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(160))


class Provider(Entity):
    __tablename__ = "providers"
    __table_args__ = (
        # Matching looks up thousands of providers by id per request: every column its filters and ordering
        # read, so the lookup never touches the table (issue #4 "Scale and speed", docs/benchmarks.md).
        Index(
            "ix_providers_match",
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
            "openings_checked_at",
            "first_therapy_day",
            "first_evaluation_day",
            "first_therapy_weekdays",
            "first_evaluation_weekdays",
            "sort_name",
            "name",
        ),
        # PostgreSQL only (migration 0013): an empty role's explanation counts the active providers. SQLite
        # without planner statistics takes an index on a two-valued column for a selective one.
        Index("ix_providers_active", "is_active").ddl_if(dialect="postgresql"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clinics.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # name.casefold(), kept by validate_name: the rules' tie-break, so SQL sorts names as Python does.
    sort_name: Mapped[str] = mapped_column(String(600), default="", server_default="")  # folding can lengthen
    credential: Mapped[str] = mapped_column(String(20), index=True)
    npi: Mapped[str | None] = mapped_column(String(10), unique=True)
    taxonomy_code: Mapped[str | None] = mapped_column(String(10))
    bio: Mapped[str | None] = mapped_column(Text)
    gender: Mapped[str | None] = mapped_column(String(20))
    age_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    modalities: Mapped[list[str]] = mapped_column(JSON, default=list)
    offers_therapy: Mapped[bool] = mapped_column(Boolean, default=False)
    offers_medication_management: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    accepting_new_patients: Mapped[bool] = mapped_column(Boolean, default=True)
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    active_patients: Mapped[int] = mapped_column(Integer, default=0)
    self_pay: Mapped[bool] = mapped_column(Boolean, default=True)
    self_pay_rate_cents: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The earliest free first visit, kept current by scheduling.earliest (migration 0011): the start, and its
    # UTC date as days since 1970-01-01 (what matching's SQL ranks by). NULL with openings_checked_at set: no
    # free time (or no schedule) when last checked; openings_checked_at NULL: never computed.
    first_therapy_at: Mapped[datetime | None]
    first_therapy_day: Mapped[int | None] = mapped_column(Integer)
    first_evaluation_at: Mapped[datetime | None]
    first_evaluation_day: Mapped[int | None] = mapped_column(Integer)
    openings_checked_at: Mapped[datetime | None]
    # The UTC weekdays (bit 0 = Monday) on which hours for each first visit may fall (a bound for later dates).
    first_therapy_weekdays: Mapped[int | None] = mapped_column(Integer)
    first_evaluation_weekdays: Mapped[int | None] = mapped_column(Integer)

    @validates("name")
    def validate_name(self, _key: str, value: str) -> str:
        self.sort_name = value.casefold()
        return value


class ProviderCondition(Base):
    __tablename__ = "provider_conditions"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True
    )
    condition: Mapped[str] = mapped_column(String(60), primary_key=True, index=True)


class ProviderLanguage(Base):
    __tablename__ = "provider_languages"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(35), primary_key=True, index=True)


class ProviderNetwork(Base):
    """The plans a provider is in network with."""

    __tablename__ = "provider_networks"
    __table_args__ = (Index("ix_provider_networks_plan_provider", "plan_id", "provider_id"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True
    )
    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class License(Entity):
    """A state licence. Telehealth is delivered where the patient is (spec §4.1)."""

    __tablename__ = "licenses"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status_known"),
        # A state's licences in provider order, with what matching filters on (covering).
        Index("ix_licenses_state_provider", "state", "provider_id", "status", "expires", "issued"),
        # ... and in the rules' name order (matching's walk read it before the match documents, ADR 0013; no
        # longer read, still kept: a later migration can drop it with the rank_key columns).
        Index("ix_licenses_state_rank", "state", "rank_key", "provider_id", "status", "expires", "issued"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(2))
    license_type: Mapped[str] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default="active")
    issued: Mapped[date | None]
    expires: Mapped[date | None]
    # The provider's rank_key (rank_key()), copied so a state's licences can be walked in the rules' name order.
    rank_key: Mapped[str] = mapped_column(RANK_KEY_TYPE, default="", server_default="")


class CompactPrivilege(Entity):
    """A privilege or authority to practise in a state under an interstate compact (spec §4.2)."""

    __tablename__ = "compact_privileges"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status_known"),
        Index("ix_compact_privileges_state_provider", "state", "provider_id", "status", "expires", "issued"),
        Index(
            "ix_compact_privileges_state_rank",
            "state",
            "rank_key",
            "provider_id",
            "status",
            "expires",
            "issued",
        ),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    compact: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(12), default="active")
    issued: Mapped[date | None]
    expires: Mapped[date | None]
    rank_key: Mapped[str] = mapped_column(RANK_KEY_TYPE, default="", server_default="")  # as License.rank_key


class DeaRegistration(Entity):
    """DEA registration per state, with its schedules (spec §4.3)."""

    __tablename__ = "dea_registrations"

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(2))
    number: Mapped[str] = mapped_column(String(9))
    schedules: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires: Mapped[date | None]


class PatientCoverage(Entity):
    """A patient's coverage: an in-directory plan and member id, or self-pay."""

    __tablename__ = "patient_coverages"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), unique=True)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plans.id", ondelete="RESTRICT"))
    member_id: Mapped[str | None] = mapped_column(String(64))
    self_pay: Mapped[bool] = mapped_column(Boolean, default=False)


class PrescriptiveCertification(Entity):
    """A psychologist's certificate to prescribe in a state that allows it (spec §3 RxP table)."""

    __tablename__ = "prescriptive_certifications"

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(2))
    number: Mapped[str] = mapped_column(String(40))
    expires: Mapped[date | None]


# What a match document carries besides its key, in the order of the covering key (PostgreSQL INCLUDE).
DOCUMENT_PAYLOAD = (
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
    "first_therapy_bounds",
    "first_evaluation_day",
    "first_evaluation_bounds",
)


class MatchDocument(Base):
    """What matching's hard filters and score read about one provider in one state for one network, in one row
    (directory.documents keeps them; ADR 0013): one per active provider x active licence or compact privilege
    x network key (ANY always; each plan they are in network with and SELF_PAY if they take self-pay, while they
    are accepting and under capacity: documents.is_open).

    The key orders a state's documents for a network in the rules' name order (rank_key), and every other
    column rides in the key's index (SQLite: a WITHOUT ROWID table is its primary key; PostgreSQL: INCLUDE), so
    ranking a state for a plan reads one index range and nothing else. A copy: the licences, privileges,
    networks, tags and provider columns stay the truth, and matching's rules decide every candidate it returns.
    """

    __tablename__ = "match_documents"
    __table_args__ = (
        PrimaryKeyConstraint(
            "state", "network", "rank_key", "source_id", postgresql_include=list(DOCUMENT_PAYLOAD)
        ),
        Index("ix_match_documents_provider_id", "provider_id"),
        {"sqlite_with_rowid": False},
    )

    state: Mapped[str] = mapped_column(String(2))
    # A plan's id, SELF_PAY_NETWORK or ANY_NETWORK (directory.documents).
    network: Mapped[uuid.UUID] = mapped_column(Uuid)
    rank_key: Mapped[str] = mapped_column(RANK_KEY_TYPE)
    source_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the licence's or compact privilege's id
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    compact: Mapped[bool] = mapped_column(Boolean)  # the source is a compact privilege
    issued: Mapped[date | None]
    expires: Mapped[date | None]
    credential: Mapped[str] = mapped_column(String(20))
    offers_therapy: Mapped[bool] = mapped_column(Boolean)
    offers_medication_management: Mapped[bool] = mapped_column(Boolean)
    accepting_new_patients: Mapped[bool] = mapped_column(Boolean)
    active_patients: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    gender: Mapped[str | None] = mapped_column(String(60))  # case-folded
    # The provider's conditions and languages, each between commas (",anxiety,depression,"): tags are
    # lower-case codes without commas (service._tags), so ",tag," occurs exactly when the provider has it.
    conditions: Mapped[str] = mapped_column(Text)
    languages: Mapped[str] = mapped_column(Text)
    openings_checked: Mapped[bool] = mapped_column(Boolean)  # Provider.openings_checked_at is set
    first_therapy_day: Mapped[int | None] = mapped_column(Integer)
    # The provider's weekday mask as day bounds per weekday of a need's date (documents.day_bounds).
    first_therapy_bounds: Mapped[int | None] = mapped_column(Integer)
    first_evaluation_day: Mapped[int | None] = mapped_column(Integer)
    first_evaluation_bounds: Mapped[int | None] = mapped_column(Integer)
