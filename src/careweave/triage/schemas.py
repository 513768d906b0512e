from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from careweave.core.text import NO_NUL

Pathway = Literal["therapy", "psychiatry", "both", "urgent", "none"]
Urgency = Literal["emergency", "urgent", "routine"]


class TraceStepRead(BaseModel):
    rule: str
    fired: bool
    inputs: dict[str, Any]
    outcome: str


class OverrideRead(BaseModel):
    pathway: Pathway
    urgency: Urgency
    reason: str
    computed_pathway: str
    clinician_id: uuid.UUID
    created_at: datetime


class CarePathwayRead(BaseModel):
    pathway: Pathway
    urgency: Urgency
    reasons: list[str]
    rule_trace: list[TraceStepRead]
    computed_pathway: Pathway
    computed_urgency: Urgency
    override: OverrideRead | None
    needs: list[str]
    measures: list[str]
    self_scheduling_allowed: bool
    based_on: datetime | None


class OverrideCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    pathway: Pathway
    urgency: Urgency = "routine"
    reason: str = Field(min_length=10, max_length=2000, pattern=NO_NUL)
