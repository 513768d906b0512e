"""JSON shapes of the treatment plan and clinical notes (issue #6). Meaning (code shapes, score ranges, team
membership, required SOAP/DAP sections) is checked by records.rules, which names the field."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from careweave.core.text import NO_NUL


class ProblemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=10, pattern=NO_NUL, description="ICD-10-CM, e.g. F32.1")
    description: str = Field(max_length=200, pattern=NO_NUL)


class GoalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instrument: Literal["PHQ-9", "GAD-7", "PCL-5", "AUDIT-C"]
    comparator: Literal["below", "at_most", "above", "at_least"]
    target: int = Field(ge=0, le=80)
    due: dt.date
    description: str | None = Field(default=None, max_length=500, pattern=NO_NUL)


class InterventionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    discipline: Literal["therapy", "psychiatry", "care_management"]
    owner_user_id: uuid.UUID = Field(description="a current member of the care team")
    description: str = Field(max_length=500, pattern=NO_NUL, description="e.g. weekly CBT")
    frequency: str | None = Field(default=None, max_length=100, pattern=NO_NUL)


class PlanContent(BaseModel):
    problems: list[ProblemIn] = Field(default_factory=list, max_length=30)
    goals: list[GoalIn] = Field(default_factory=list, max_length=30)
    interventions: list[InterventionIn] = Field(default_factory=list, max_length=30)
    review_date: dt.date


class PlanWrite(PlanContent):
    """The full new content of the plan, why it changed, and the version it was based on."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, pattern=NO_NUL)
    base_version: int = Field(ge=0, description="the version you edited (0 for a new plan); stale: 409")


class ProblemRead(BaseModel):
    code: str
    description: str


class GoalRead(BaseModel):
    instrument: str
    comparator: str
    target: int
    due: dt.date
    description: str | None = None


class InterventionRead(BaseModel):
    discipline: str
    owner_user_id: uuid.UUID
    owner_name: str
    description: str
    frequency: str | None = None


class HiddenPart(BaseModel):
    part: str
    category: str
    count: int
    reason: str


class PlainPlanRead(BaseModel):
    problems: list[str]
    goals: list[str]
    interventions: list[str]
    review: str | None


class PlanRead(BaseModel):
    patient_id: uuid.UUID
    version: int = Field(description="0: no plan yet")
    changed_by: uuid.UUID | None = None
    changed_by_name: str | None = None
    changed_at: dt.datetime | None = None
    reason: str | None = None
    problems: list[ProblemRead]
    goals: list[GoalRead]
    interventions: list[InterventionRead]
    review_date: dt.date | None = None
    hidden: list[HiddenPart] = Field(description="parts left out because the patient has not shared them")
    plain_language: PlainPlanRead
    acknowledged_version: int | None = None
    acknowledged_at: dt.datetime | None = None


class ChangeRead(BaseModel):
    part: str
    kind: Literal["added", "removed", "changed"]
    label: str
    fields: list[str]


class PlanVersionRead(BaseModel):
    version: int
    changed_by: uuid.UUID | None
    changed_by_name: str | None
    changed_at: dt.datetime
    reason: str
    changes: list[ChangeRead] = Field(description="against the version before, as far as you may see it")


class AcknowledgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, description="the version you read; stale: 409")


class AcknowledgeRead(BaseModel):
    acknowledged_version: int
    acknowledged_at: dt.datetime


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["progress", "psychotherapy"] = "progress"
    format: Literal["SOAP", "DAP"] | None = Field(default=None, description="progress notes")
    sections: dict[str, str] | None = Field(
        default=None, description="SOAP: S, O, A, P; DAP: D, A, P (all required)", max_length=4
    )
    body: str | None = Field(
        default=None, max_length=20_000, pattern=NO_NUL, description="psychotherapy notes: free text"
    )
    appointment_id: uuid.UUID | None = None
    substance_use: bool = Field(
        default=False, description="42 CFR Part 2 label: shared only with that consent"
    )


class NoteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sections: dict[str, str] | None = Field(default=None, max_length=4)
    body: str | None = Field(default=None, max_length=20_000, pattern=NO_NUL)


class AddendumCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=20_000, pattern=NO_NUL)


class AddendumRead(BaseModel):
    id: uuid.UUID
    author_user_id: uuid.UUID
    author_name: str
    body: str
    created_at: dt.datetime


class NoteRead(BaseModel):
    id: uuid.UUID
    kind: Literal["progress", "psychotherapy"]
    patient_id: uuid.UUID
    author_user_id: uuid.UUID
    author_name: str
    appointment_id: uuid.UUID | None
    format: str | None = None
    sections: dict[str, str] | None = None
    body: str | None = None
    category: str
    status: Literal["draft", "signed"]
    signed_at: dt.datetime | None
    created_at: dt.datetime
    addenda: list[AddendumRead] = Field(default_factory=list)
