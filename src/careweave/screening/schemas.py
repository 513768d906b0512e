from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class AnswerOptionRead(BaseModel):
    value: int
    label: str
    code: str | None = None


class ItemRead(BaseModel):
    link_id: str
    number: str
    text: str
    paraphrased: bool
    scored: bool
    required: bool
    loinc: str | None = None
    options: list[AnswerOptionRead]
    enable_when: dict[str, Any] | None = None


class InstrumentSummary(BaseModel):
    code: str
    version: str
    title: str
    description: str


class InstrumentRead(InstrumentSummary):
    stem: str | None
    instructions: str | None
    copyright: str
    panel_loinc: str | None
    total_loinc: str | None
    items: list[ItemRead] = Field(description="the scored items, in the order answers are posted")
    extra_inputs: list[str] = Field(description="other fields this instrument needs when posted")
    spec: str


class ScreeningSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instrument: Literal["phq-2", "phq-9", "gad-2", "gad-7", "mdq", "audit-c", "c-ssrs-screener", "pcl-5"]
    # StrictInt: true/false or "2" are not answers; each item is validated against its instrument.
    answers: list[StrictInt | None] = Field(min_length=1, max_length=40)
    sex: Literal["female", "male", "other", "unknown"] | None = Field(
        default=None, description="AUDIT-C only: selects the sex-specific cut point"
    )
    behavior_within_3_months: bool | None = Field(
        default=None, description="C-SSRS only: required when question 6 is answered yes"
    )


class ScreeningRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instrument: str
    instrument_version: str
    total: int | None
    severity: str | None
    positive: bool | None
    prorated: bool
    complete: bool
    answered_count: int
    risk_level: str | None
    flags: list[str]
    answers: list[int | None]
    authored_at: datetime
    source: str


class ScreeningResult(BaseModel):
    """What POST returns: the score, and what should happen next."""

    id: uuid.UUID
    instrument: str
    total: int | None
    severity: str | None
    positive: bool | None
    prorated: bool
    risk_level: str | None
    flags: list[str]
    next_instruments: list[str]
    crisis: bool = Field(description="true: show the crisis panel (988 / 911) now")
    safety_alert_id: uuid.UUID | None = None
