"""JSON shapes of the referrals API (issue #6)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from careweave.core.text import NO_NUL

Kind = Literal["medication_evaluation", "therapy"]
Urgency = Literal["routine", "soon", "urgent"]
Status = Literal["draft", "sent", "accepted", "declined", "scheduled", "completed", "cancelled"]
ShareableCategory = Literal["screening", "plan", "medications", "progress_notes", "substance_use"]


class ReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID
    kind: Kind
    to_provider_id: uuid.UUID | None = Field(
        default=None,
        description="a named clinician's provider id; null: any matching clinician (open referral)",
    )
    reason: str = Field(min_length=3, max_length=4000, pattern=NO_NUL)
    urgency: Urgency = "routine"
    question: str | None = Field(
        default=None, max_length=4000, pattern=NO_NUL, description="the question for the psychiatrist"
    )
    modality: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[A-Za-z0-9_ -]*$",
        description="therapy referrals: cbt, dbt, …",
    )
    needs: list[ShareableCategory] = Field(
        default_factory=list,
        max_length=5,
        description="categories of the record the receiver needs; the patient is asked for any not yet shared",
    )
    send: bool = Field(default=False, description="send at once instead of keeping a draft")


class DeclineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=4000, pattern=NO_NUL)


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str = Field(min_length=3, max_length=4000, pattern=NO_NUL)


class ReferralEventRead(BaseModel):
    at: dt.datetime
    actor_user_id: uuid.UUID | None
    actor_name: str | None
    from_status: Status | None
    to_status: Status
    note: str | None


class ConsentRequestRead(BaseModel):
    id: uuid.UUID
    for_user_id: uuid.UUID
    categories: list[str]
    status: Literal["pending", "granted", "declined", "withdrawn"]


class SharedSectionRead(BaseModel):
    category: str
    label: str
    allowed: bool = Field(description="the patient's consent lets you see this")
    pending: bool = Field(description="the patient has been asked and has not answered yet")
    items: list[dict[str, Any]]


class ReferralRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    kind: Kind
    status: Status
    urgency: Urgency
    from_user_id: uuid.UUID
    from_name: str
    to_provider_id: uuid.UUID | None
    to_user_id: uuid.UUID | None
    to_name: str | None = Field(description="null while open to any matching clinician")
    open: bool
    reason: str
    question: str | None
    modality: str | None
    needs: list[str]
    created_at: dt.datetime
    sent_at: dt.datetime | None
    accepted_at: dt.datetime | None
    declined_at: dt.datetime | None
    decline_reason: str | None
    scheduled_at: dt.datetime | None
    appointment_id: uuid.UUID | None
    completed_at: dt.datetime | None
    outcome: str | None
    cancelled_at: dt.datetime | None
    overdue: bool = Field(description="sent and not accepted within the overdue window")
    your_moves: list[Literal["send", "accept", "decline", "complete", "cancel"]]
    book_url: str | None = Field(
        description="for the patient: where to book with the receiver, once accepted"
    )


class ReferralDetailRead(ReferralRead):
    events: list[ReferralEventRead]
    consent_requests: list[ConsentRequestRead]
    shared: list[SharedSectionRead] = Field(
        description="for the receiver: the patient's record category by category, as consent allows"
    )
