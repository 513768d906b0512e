from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from careweave.core.text import NO_NUL
from careweave.patients.schemas import PatientUpdate

Preference = Literal["therapy", "medication", "both", "unsure"]
Goal = Literal["symptom_relief", "coping_skills", "both"]
GenderPreference = Literal["any", "female", "male", "nonbinary"]
LANGUAGE_TAG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
PHONE = r"^\+?[0-9 ()./-]{7,32}$"


class EmergencyContact(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    phone: str = Field(max_length=32, pattern=PHONE)
    relationship: str | None = Field(default=None, max_length=60, pattern=NO_NUL)


class Coverage(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: Literal["insurance", "self_pay"]
    plan: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    member_id: str | None = Field(default=None, max_length=64, pattern=NO_NUL)


class ProviderPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    gender: GenderPreference = "any"
    language: str | None = Field(default=None, max_length=35, pattern=LANGUAGE_TAG)


class History(BaseModel):
    """Self-reported history. Omitted keys keep their stored value."""

    model_config = ConfigDict(extra="forbid")

    bipolar: bool | None = None
    psychosis: bool | None = None
    antidepressant_trials: int | None = Field(default=None, ge=0, le=30)
    pregnant_or_postpartum: bool | None = None
    trauma: bool | None = None
    mood_elevation: bool | None = Field(
        default=None, description="periods of unusually elevated mood or energy (triggers the MDQ)"
    )
    current_psychosis_or_mania: bool | None = Field(
        default=None, description="hearing or seeing things others do not, or racing/unstoppable energy now"
    )


class IntakeUpdate(PatientUpdate):
    """Partial update: only the fields sent change. The patient's demographics (inherited from
    PatientUpdate) and the intake's own answers."""

    emergency_contact: EmergencyContact | None = None
    coverage: Coverage | None = None
    language: str | None = Field(default=None, max_length=35, pattern=LANGUAGE_TAG)
    provider_preferences: ProviderPreferences | None = None
    treatment_preference: Preference | None = None
    goals: list[Goal] | None = Field(default=None, max_length=3)
    goals_text: str | None = Field(default=None, max_length=1000, pattern=NO_NUL)
    current_medications: list[str] | None = Field(default=None, max_length=30)
    history: History | None = None
    complete: bool | None = Field(default=None, description="true: the patient has finished intake")


class IntakeRead(BaseModel):
    patient_id: uuid.UUID
    given_name: str
    family_name: str
    preferred_name: str | None
    pronouns: str | None
    birth_date: date | None
    state: str | None
    timezone: str
    phone: str | None
    emergency_contact: EmergencyContact | None
    coverage: Coverage | None
    language: str | None
    provider_preferences: ProviderPreferences
    treatment_preference: Preference | None
    goals: list[str]
    goals_text: str | None
    current_medications: list[str]
    history: dict[str, bool | int | None]
    step: int
    missing: list[str] = Field(description="what is still needed before intake is complete")
    completed_at: datetime | None
