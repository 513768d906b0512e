from __future__ import annotations

import datetime as dt
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from careweave.core.text import NO_NUL

Offer = Literal["therapy", "medication_management"]
Status = Literal["active", "inactive", "suspended", "expired"]
TAG = r"^[a-z0-9][a-z0-9_\-]{0,59}$"  # condition / modality / age-group codes, e.g. "depression"
LANGUAGE_TAG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
STATE = r"^[A-Z]{2}$"


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    payer: str = Field(min_length=1, max_length=120, pattern=NO_NUL)
    name: str = Field(min_length=1, max_length=160, pattern=NO_NUL)


class PlanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    payer: str
    name: str


class ProviderWrite(BaseModel):
    """Fields shared by create and update (update: every field optional)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    credential: str | None = Field(default=None, min_length=1, max_length=20)
    npi: str | None = Field(
        default=None, pattern=r"^\d{10}$", description="10 digits with a valid check digit"
    )
    taxonomy_code: str | None = Field(default=None, pattern=r"^[0-9A-Z]{9}X$")
    bio: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)
    gender: Literal["female", "male", "nonbinary"] | None = None
    offers: list[Offer] | None = Field(default=None, max_length=2)
    conditions: list[Annotated[str, Field(max_length=60)]] | None = Field(default=None, max_length=40)
    modalities: list[Annotated[str, Field(max_length=60)]] | None = Field(default=None, max_length=40)
    age_groups: list[Literal["children", "adolescents", "adults", "older_adults"]] | None = None
    languages: list[Annotated[str, Field(max_length=35, pattern=LANGUAGE_TAG)]] | None = Field(
        default=None, max_length=20
    )
    timezone: str | None = Field(default=None, max_length=64)
    accepting_new_patients: bool | None = None
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    self_pay: bool | None = None
    self_pay_rate_cents: int | None = Field(default=None, ge=0, le=10_000_000)
    networks: list[uuid.UUID] | None = Field(default=None, max_length=500, description="plan ids")
    user_id: uuid.UUID | None = Field(
        default=None, description="the clinician account this profile belongs to"
    )


class ProviderCreate(ProviderWrite):
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    credential: str = Field(min_length=1, max_length=20)


class LicenseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    state: str = Field(pattern=STATE)
    type: str = Field(min_length=1, max_length=40, pattern=NO_NUL)
    number: str = Field(min_length=1, max_length=40, pattern=NO_NUL)
    status: Status = "active"
    issued: date | None = None
    expires: date | None = None


class CompactPrivilegeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    compact: str = Field(min_length=1, max_length=40)
    state: str = Field(pattern=STATE)
    status: Status = "active"
    issued: date | None = None
    expires: date | None = None


class DeaRegistrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    state: str = Field(pattern=STATE)
    number: str = Field(pattern=r"^[A-Z]{2}\d{7}$")
    schedules: list[Literal["2", "2N", "3", "3N", "4", "5"]] = Field(min_length=1)
    expires: date | None = None


class LicenseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    state: str
    type: str = Field(validation_alias="license_type")
    number: str
    status: str
    issued: date | None
    expires: date | None


class CompactPrivilegeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    compact: str
    state: str
    status: str
    issued: date | None
    expires: date | None


class DeaRegistrationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    state: str
    number: str
    schedules: list[str]
    expires: date | None


class ProviderSummary(BaseModel):
    id: uuid.UUID
    name: str
    credential: str
    offers: list[str]
    languages: list[str]
    conditions: list[str]
    gender: str | None
    accepting_new_patients: bool
    states: list[str] = Field(description="states with an active licence")


class ProviderRead(ProviderSummary):
    npi: str | None
    taxonomy_code: str | None
    bio: str | None
    modalities: list[str]
    age_groups: list[str]
    timezone: str
    capacity: int
    active_patients: int
    self_pay: bool
    self_pay_rate_cents: int | None
    networks: list[uuid.UUID]
    user_id: uuid.UUID | None
    licenses: list[LicenseRead]
    compact_privileges: list[CompactPrivilegeRead]
    dea_registrations: list[DeaRegistrationRead]
    updated_at: datetime


class ProviderPage(BaseModel):
    items: list[ProviderSummary]
    total: int


class CoverageWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plan_id: uuid.UUID | None = None
    member_id: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    self_pay: bool = False


class CoverageRead(BaseModel):
    patient_id: uuid.UUID
    plan_id: uuid.UUID | None
    plan: PlanRead | None
    member_id: str | None
    self_pay: bool


class NeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    pathway: Literal["therapy", "psychiatry", "both"]
    state: str = Field(pattern=STATE)
    plan_id: uuid.UUID | None = None
    self_pay: bool = False
    conditions: list[str] = Field(default_factory=list, max_length=20)
    language: str | None = Field(default=None, pattern=LANGUAGE_TAG)
    gender: Literal["female", "male", "nonbinary"] | None = None
    date: dt.date | None = None


class MatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID | None = None
    need: NeedIn | None = None
    date: dt.date | None = Field(default=None, description="visit date (default today)")


class MatchResultItem(BaseModel):
    provider_id: uuid.UUID
    name: str
    credential: str
    role: Literal["therapist", "prescriber"]
    score: float
    score_breakdown: dict[str, float]
    reasons: list[str]
    next_available: datetime | None


class PairOut(BaseModel):
    therapist_id: uuid.UUID
    prescriber_id: uuid.UUID
    reasons: list[str]


class EmptyExplanation(BaseModel):
    message: str
    relax: list[str]
    suggestions: list[str]


class MatchResponse(BaseModel):
    pathway: str | None
    results: list[MatchResultItem]
    pair: PairOut | None
    excluded_summary: dict[str, dict[str, int]]
    explanations: dict[str, EmptyExplanation]
    message: str | None = Field(description="why nothing was matched (urgent pathway, missing state, …)")
