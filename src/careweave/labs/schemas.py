"""JSON shapes of lab orders, results and alerts (issue #7)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from careweave.api.types import Instant
from careweave.core.text import NO_NUL


class LabOrderRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    plan_id: uuid.UUID | None
    prescription_id: uuid.UUID | None
    protocol_item: str = Field(description="protocol item code, e.g. lithium.level")
    test: str = Field(description="test key in labs/data/protocols.json")
    loinc: str | None = Field(description="LOINC order code (null for a clinical assessment)")
    due_on: dt.date
    status: Literal["ordered", "resulted", "cancelled"]
    reason: Literal["schedule", "dose_change", "next_step", "confirm", "manual"]
    overdue: bool
    resulted_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    cancel_reason: str | None


class LabResultCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loinc: str = Field(min_length=3, max_length=20, pattern=r"^[0-9]{1,7}-[0-9]$", description="LOINC code")
    value: float | None = Field(default=None, allow_inf_nan=False, description="numeric value")
    value_text: str | None = Field(
        default=None, max_length=200, pattern=NO_NUL, description="the value as reported, when not numeric"
    )
    unit: str | None = Field(default=None, max_length=40, pattern=NO_NUL)
    observed_at: Instant
    reference_range: str | None = Field(default=None, max_length=60, pattern=NO_NUL)
    abnormal_flag: Literal["H", "L", "HH", "LL", "A", "AA", "N"] | None = None
    order_id: uuid.UUID | None = Field(
        default=None, description="the order this answers; else the closest open one"
    )


class LabResultRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    order_id: uuid.UUID | None
    loinc: str
    test: str | None
    display: str | None
    value: float | None
    value_text: str
    unit: str | None
    reference_range: str | None
    abnormal_flag: str | None
    observed_at: dt.datetime
    source: Literal["manual", "hl7v2"]


class LabAlertRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str | None = None
    prescriber_user_id: uuid.UUID | None
    result_id: uuid.UUID
    severity: Literal["critical", "warning", "info"]
    code: str
    message: str
    next_step: str | None
    spec: str | None
    unverified: bool
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: uuid.UUID | None


class BenUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ben: bool = Field(description="benign (ethnic) neutropenia: ANC ≥ 1,000/µL is not an alert (spec §6.4)")


class MonitoringPlanRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    prescription_id: uuid.UUID
    prescriber_user_id: uuid.UUID | None
    protocol: Literal["lithium", "clozapine", "valproate", "sga_metabolic"]
    started_on: dt.date
    status: Literal["active", "stopped"]
    ben: bool
    episode: str | None


class RecordedRead(BaseModel):
    result: LabResultRead
    alert: LabAlertRead | None
    new_orders: list[LabOrderRead]
