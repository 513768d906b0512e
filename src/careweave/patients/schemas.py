from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from careweave.core.text import NO_NUL


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


class PatientUpdate(BaseModel):
    """Demographics a patient (or an administrator) may change. Omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_name: str | None = Field(default=None, min_length=1, max_length=100, pattern=NO_NUL)
    family_name: str | None = Field(default=None, min_length=1, max_length=100, pattern=NO_NUL)
    preferred_name: str | None = Field(default=None, max_length=100, pattern=NO_NUL)
    pronouns: str | None = Field(default=None, max_length=40, pattern=NO_NUL)
    birth_date: date | None = None
    state: str | None = Field(default=None, min_length=2, max_length=2, description="USPS code, e.g. NY")
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone, e.g. America/Chicago")
    phone: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 ()./-]{7,32}$")


class PatientProfileForm(BaseModel):
    """The portal's "my details" form: empty optional fields clear the value."""

    model_config = ConfigDict(str_strip_whitespace=True)

    preferred_name: str = Field(default="", max_length=100)
    pronouns: str = Field(default="", max_length=40)
    birth_date: date | None = None
    state: str = Field(default="", max_length=2)
    timezone: str = Field(max_length=64)
    phone: str = Field(default="", max_length=32, pattern=r"^(\+?[0-9 ()./-]{7,32})?$")

    @field_validator("birth_date", mode="before")
    @classmethod
    def _empty_date(cls, value: object) -> object:
        return None if value == "" else value

    def changes(self) -> dict[str, object]:
        return {
            "preferred_name": self.preferred_name or None,
            "pronouns": self.pronouns or None,
            "birth_date": self.birth_date,
            "state": self.state or None,
            "timezone": self.timezone,
            "phone": self.phone or None,
        }
