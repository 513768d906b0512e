from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from careweave.core.actor import Role
from careweave.core.text import NO_NUL


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


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(min_length=3, max_length=254)
    role: Role
    password: str = Field(min_length=1, max_length=256)
    full_name: str = Field(default="", max_length=200, pattern=NO_NUL)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: str
    full_name: str
    is_active: bool
    mfa_enabled: bool
    created_at: datetime
    last_login_at: datetime | None


class ApiClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: uuid.UUID = Field(description="The staff account the integration acts as")
    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL, description='e.g. "Lab interface"')


class ApiClientRead(BaseModel):
    id: uuid.UUID
    client_id: str
    name: str
    user_id: uuid.UUID
    user_email: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiClientCreated(ApiClientRead):
    client_secret: str = Field(description="Shown once: only its SHA-256 is stored")
