"""Who is acting: the user, their role, and where the request came from."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Role(enum.StrEnum):
    PATIENT = "patient"
    THERAPIST = "therapist"
    PSYCHIATRIST = "psychiatrist"
    CARE_MANAGER = "care_manager"
    ADMIN = "admin"

    @property
    def is_clinician(self) -> bool:
        return self in CLINICAL_ROLES

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


CLINICAL_ROLES = frozenset({Role.THERAPIST, Role.PSYCHIATRIST, Role.CARE_MANAGER})


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: uuid.UUID | None
    role: Role | None
    patient_id: uuid.UUID | None = None
    clinic_id: uuid.UUID | None = None
    ip: str | None = None
    request_id: str | None = None
    purpose: str = "treatment"
    # The platform itself (CLI commands, jobs): never set for a request from a person.
    system_actor: bool = False

    @classmethod
    def system(cls, *, request_id: str | None = None) -> Actor:
        return cls(user_id=None, role=None, purpose="operations", request_id=request_id, system_actor=True)

    @property
    def is_system(self) -> bool:
        return self.system_actor
