"""A clinician's bookable time as FHIR R4 ``Schedule`` and free ``Slot``s (clinical-spec.md §8.4). Pure mapping.

Careweave derives free time from weekly hours, exceptions and booked visits (scheduling.rules); it stores no slot
rows. So a Slot exists only in a search answer: its id encodes the clinician, the start and the visit type
(``<provider id hex>-<start, Unix seconds>-<8 hex digits of the visit type>``, a valid FHIR id), ``status`` is
always ``free``, and ``schedule`` is ``Schedule/<provider id>`` — one Schedule per clinician, whose ``actor`` is the
Practitioner and whose ``planningHorizon`` runs from now to the booking horizon.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from careweave.fhir.appointment import instant


def slot_id(provider_id: uuid.UUID, visit_type: str, start: datetime) -> str:
    return f"{provider_id.hex}-{int(start.timestamp())}-{visit_type_hash(visit_type)}"


def schedule(
    provider_id: uuid.UUID,
    provider_name: str,
    *,
    active: bool,
    now: datetime,
    horizon_days: int,
    timezone: str,
) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "id": str(provider_id),
        "active": active,
        "actor": [{"reference": f"Practitioner/{provider_id}", "display": provider_name}],
        "planningHorizon": {"start": instant(now), "end": instant(now + timedelta(days=horizon_days))},
        "comment": f"Weekly hours in {timezone}; free slots derived from them minus booked visits.",
    }


def slot(
    provider_id: uuid.UUID, *, visit_type: str, visit_type_name: str, start: datetime, end: datetime
) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "id": slot_id(provider_id, visit_type, start),
        "schedule": {"reference": f"Schedule/{provider_id}"},
        "status": "free",
        "serviceType": [{"text": visit_type_name}],
        "appointmentType": {"text": visit_type},
        "start": instant(start),
        "end": instant(end),
    }


def parse_slot_id(value: str) -> tuple[uuid.UUID, datetime, str] | None:
    """(provider id, start, visit type hash) of a Slot id made by :func:`slot_id`, or None if it is not one."""
    parts = value.split("-")
    if len(parts) != 3:
        return None
    provider_hex, epoch, code = parts
    try:
        provider_id = uuid.UUID(hex=provider_hex)
        start = datetime.fromtimestamp(int(epoch), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return provider_id, start, code


def visit_type_hash(visit_type: str) -> str:
    return hashlib.sha256(visit_type.encode()).hexdigest()[:8]
