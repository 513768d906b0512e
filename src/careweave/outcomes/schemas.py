"""Request and response shapes of the measurement-based care API (issue #8)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreRead(BaseModel):
    score: int
    at: datetime
    prorated: bool


class MeasurementStatusRead(BaseModel):
    instrument: str
    baseline: ScoreRead | None
    latest: ScoreRead | None
    change: int | None = Field(description="Points of improvement: baseline - latest (positive is better)")
    percent_change: float | None = Field(description="% reduction from the baseline (positive is better)")
    weeks_in_treatment: int
    status: str | None = Field(
        description="remission | response | partial_response | not_improving | early_non_response | too_early; "
        "null until there is a baseline and a later score"
    )
    flags: list[str]


class EpisodeStart(Strict):
    start_reason: Literal["enrolment", "referral"] = "enrolment"
    care_manager_id: uuid.UUID | None = None
    consultant_id: uuid.UUID | None = None
    instruments: list[Literal["phq-9", "gad-7"]] | None = Field(default=None, max_length=2)
    interval_days: int | None = Field(default=None, ge=7, le=90)
    started_on: date | None = None


class EpisodeEnd(Strict):
    reason: Literal["goals_met", "referred_out", "inactive", "patient_withdrew"]
    relapse_prevention_plan: str | None = Field(default=None, max_length=2000)


class EpisodeRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    started_on: date
    start_reason: str
    care_manager_id: uuid.UUID | None
    consultant_id: uuid.UUID | None
    instruments: list[str]
    interval_days: int
    ended_on: date | None
    end_reason: str | None
    relapse_prevention_plan: str | None
    status: str | None
    next_due_on: date | None
    last_contact_on: date | None


class ProposedChange(Strict):
    discipline: Literal["therapy", "psychiatry", "care_management"]
    description: str = Field(min_length=1, max_length=2000)


class ReviewCreate(Strict):
    recommendation: Literal[
        "increase_dose",
        "switch_medication",
        "augment_medication",
        "add_therapy",
        "change_therapy",
        "refer_specialty",
        "continue",
        "relapse_prevention",
    ]
    detail: str | None = Field(default=None, max_length=2000)
    proposed_change: ProposedChange | None = None


class ReviewDecision(Strict):
    accept: bool
    reason: str | None = Field(default=None, max_length=2000)


class ReviewRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    episode_id: uuid.UUID
    consultant_id: uuid.UUID
    reviewed_on: date
    recommendation: str
    detail: str
    proposed_change: ProposedChange | None
    decision: str
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    decision_reason: str | None
    plan_version: int | None


class TimeEntryCreate(Strict):
    date: date
    minutes: int | None = Field(default=None, ge=1, le=600)
    activity: str = Field(min_length=1, max_length=32)
    note: str | None = Field(default=None, max_length=2000)
    started_at: datetime | None = None
    stopped_at: datetime | None = None


class TimeEntryRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    episode_id: uuid.UUID
    staff_user_id: uuid.UUID
    date: date
    minutes: int
    activity: str
    note: str | None


class CodeRead(BaseModel):
    code: str
    units: int


class BillingRead(BaseModel):
    patient_id: uuid.UUID
    month: str
    episode_month: int
    minutes: int
    codes: list[CodeRead]
    qualifies: bool
    note: str


class RegistrySummaryRead(BaseModel):
    instrument: str
    baseline: int | None
    latest: int | None
    percent_change: float | None
    status: str | None


class RegistryRowRead(BaseModel):
    patient_id: uuid.UUID
    patient_name: str
    episode_id: uuid.UUID
    clinicians: list[str]
    weeks_in_treatment: int
    scores_visible: bool
    measures: list[RegistrySummaryRead]
    last_contact_on: date | None
    next_due_on: date | None
    flags: list[str]
    last_review_on: date | None
    last_review_decision: str | None


class RegistryRead(BaseModel):
    total: int
    limit: int
    offset: int
    on: date
    rows: list[RegistryRowRead]


class OutcomeGroupRead(BaseModel):
    group: str
    clinician_id: uuid.UUID | None
    patients: int
    with_follow_up: int
    follow_up_rate: float | None
    six_months: dict[str, float | int | None]
    twelve_months: dict[str, float | int | None]
    median_weeks_to_response: float | None


class MeasureRequestCreate(Strict):
    instrument: Literal["phq-9", "gad-7"] = "phq-9"
