"""JSON shapes of the scheduling API (issue #5). Times are ISO 8601 with an offset; stored and compared in UTC."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from careweave.api.types import Instant
from careweave.core.text import NO_NUL

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
CODE = r"^[a-z0-9_]{1,40}$"


class VisitTypeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    duration_minutes: int
    service: Literal["therapy", "medication_management"]


class WeeklyWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6, description="Monday = 0 … Sunday = 6")
    start: str = Field(pattern=HHMM, description="HH:MM local time in the schedule's zone")
    end: str = Field(pattern=HHMM)
    visit_types: list[str] = Field(default_factory=list, max_length=20, description="empty: every visit type")


class DateExceptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date
    start: str | None = Field(default=None, pattern=HHMM)
    end: str | None = Field(default=None, pattern=HHMM)
    available: bool = False
    note: str | None = Field(default=None, max_length=200, pattern=NO_NUL)


class AvailabilityWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(min_length=1, max_length=64, description="IANA zone, e.g. America/New_York")
    weekly: list[WeeklyWindow] = Field(max_length=70)
    exceptions: list[DateExceptionIn] = Field(default_factory=list, max_length=400)
    buffer_minutes: int | None = Field(default=None, ge=0, le=120)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=43200)
    horizon_days: int | None = Field(default=None, ge=1, le=365)
    late_cancel_hours: int | None = Field(default=None, ge=0, le=336)


class AvailabilityRead(AvailabilityWrite):
    provider_id: uuid.UUID
    buffer_minutes: int
    min_notice_minutes: int
    horizon_days: int
    late_cancel_hours: int


class SlotRead(BaseModel):
    start: dt.datetime = Field(description="UTC")
    end: dt.datetime
    start_local: str = Field(description="the same instant in the viewer's zone (ISO 8601 with offset)")
    label: str = Field(description="as the viewer reads it, zone named")
    provider_label: str = Field(description="as the clinician reads it")


class SlotList(BaseModel):
    provider_id: uuid.UUID
    visit_type: str
    timezone: str = Field(description="the viewer's zone used for start_local/label")
    provider_timezone: str
    slots: list[SlotRead]


class AppointmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_id: uuid.UUID
    patient_id: uuid.UUID
    start: Instant
    visit_type: str = Field(pattern=CODE)


class AppointmentRead(BaseModel):
    id: uuid.UUID
    status: Literal["booked", "cancelled", "completed", "no_show"]
    provider_id: uuid.UUID
    provider_name: str
    patient_id: uuid.UUID
    visit_type: str
    visit_type_name: str
    start: dt.datetime
    end: dt.datetime
    start_local: str = Field(description="start in the viewer's zone")
    label: str
    patient_label: str = Field(description="start as the patient reads it, zone named")
    provider_label: str = Field(description="start as the clinician reads it, zone named")
    series_id: uuid.UUID | None
    late_cancellation: bool
    cancelled_at: dt.datetime | None
    ics_url: str
    visit_url: str


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500, pattern=NO_NUL)
    scope: Literal["this", "following"] = "this"


class RescheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Instant


class SeriesCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_id: uuid.UUID
    patient_id: uuid.UUID
    start: Instant
    visit_type: str = Field(pattern=CODE)
    every_weeks: int = Field(ge=1, le=4)
    count: int | None = Field(default=None, ge=1, le=52)
    until: dt.date | None = None

    @model_validator(mode="after")
    def _count_or_until(self) -> SeriesCreate:
        if (self.count is None) == (self.until is None):
            raise ValueError("give count or until (one of them)")
        return self


class OccurrenceRead(BaseModel):
    index: int
    start: dt.datetime
    status: Literal["booked", "conflict", "unavailable", "ineligible"]
    reason: str | None
    appointment_id: uuid.UUID | None


class SeriesRead(BaseModel):
    series_id: uuid.UUID | None
    booked: int
    occurrences: list[OccurrenceRead]


class WaitlistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID
    provider_id: uuid.UUID | None = Field(
        default=None, description="omit: any provider who can see the patient"
    )
    visit_type: str = Field(pattern=CODE)
    window_start: Instant
    window_end: Instant


class WaitlistOfferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider_id: uuid.UUID
    visit_type: str
    start_at: dt.datetime
    expires_at: dt.datetime
    status: str


class WaitlistRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    provider_id: uuid.UUID | None
    visit_type: str
    window_start: dt.datetime
    window_end: dt.datetime
    status: str
    created_at: dt.datetime
    offers: list[WaitlistOfferRead] = Field(default_factory=list)
