from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class MeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: str
    full_name: str
    patient_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None  # filled once the provider directory exists
    mfa_enabled: bool
