"""The hash chain: pure functions, no I/O.

Each event's hash is SHA-256 over the previous hash and a canonical JSON of the event's
fields, so editing, deleting or reordering any stored event breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

HASHED_FIELDS = (
    "seq",
    "id",
    "occurred_at",
    "actor_user_id",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "patient_id",
    "outcome",
    "purpose",
    "ip",
    "request_id",
    "details",
)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    body = {name: _plain(fields.get(name)) for name in HASHED_FIELDS}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + "|" + canonical).encode()).hexdigest()
