"""JSON shapes of the messaging API (issue #6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from careweave.core.text import NO_NUL

MAX_BODY = 5000
MAX_PARTICIPANTS = 20


class ThreadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    patient_id: uuid.UUID
    participants: list[uuid.UUID] = Field(
        max_length=MAX_PARTICIPANTS,
        description="user ids of care-team clinicians (and, in a patient thread, the patient); you are added",
    )
    subject: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    kind: Literal["patient", "clinician"] = Field(
        default="patient", description="patient: the patient and their care team; clinician: clinicians only"
    )
    body: str | None = Field(default=None, min_length=1, max_length=MAX_BODY, pattern=NO_NUL)


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=MAX_BODY, pattern=NO_NUL)


class ParticipantRead(BaseModel):
    user_id: uuid.UUID
    name: str
    role: str
    last_read_at: datetime | None
    last_read_message_id: uuid.UUID | None = Field(
        description="read receipt: the last message they have seen"
    )


class MessageRead(BaseModel):
    id: uuid.UUID
    sender_user_id: uuid.UUID | None
    sender_name: str
    body: str
    created_at: datetime
    crisis_flag: bool
    seen_by: list[uuid.UUID] = Field(description="other participants who have read this message")


class ThreadSummary(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    kind: Literal["patient", "clinician"]
    subject: str
    created_at: datetime
    last_message_at: datetime | None
    unread_count: int
    participants: list[ParticipantRead]


class ConsentScope(BaseModel):
    """Clinician threads: what the patient's consent lets each clinician see; only the common part may be
    discussed."""

    shared_categories: list[str] = Field(description="categories every clinician in the thread may see")
    by_participant: dict[str, list[str]] = Field(description="user id -> categories that clinician may see")
    banner: str


class ThreadRead(ThreadSummary):
    messages: list[MessageRead]
    notice: str | None = Field(description="patient threads: messages are not monitored around the clock")
    consent: ConsentScope | None


class CrisisRead(BaseModel):
    level: Literal["moderate", "high"]
    message: str
    call: str = "911"
    lifeline: str = "988"
    lifeline_text: str = "988"
    lifeline_chat: str = "https://988lifeline.org/chat"
    safety_alert_id: uuid.UUID | None


class MessageSent(BaseModel):
    message: MessageRead
    crisis: CrisisRead | None = Field(description="set when the patient's message contained crisis language")
