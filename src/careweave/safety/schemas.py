from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from careweave.core.text import NO_NUL


class SafetyAlertRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    level: str
    priority: str
    reason: str
    status: str
    assigned_user_id: uuid.UUID | None
    assignee_name: str | None
    escalation_count: int
    escalate_at: datetime | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None


class Acknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)


class RosterSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: list[uuid.UUID] = Field(max_length=50)


class RosterMember(BaseModel):
    position: int
    user_id: uuid.UUID
    name: str
    role: str
