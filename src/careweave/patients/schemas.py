from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class PatientRead(BaseModel):
    """The patient's summary: demographics and where they are."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    given_name: str
    family_name: str
    preferred_name: str | None
    pronouns: str | None
    birth_date: date | None
    state: str | None
    timezone: str
    phone: str | None
    created_at: datetime


class PatientList(BaseModel):
    items: list[PatientRead]
    total: int


class AccessEventRead(BaseModel):
    occurred_at: datetime
    action: str
    actor_name: str | None
    actor_role: str | None
    outcome: str
