"""FHIR R4 primitive values the mappings share. Pure, no I/O."""

from __future__ import annotations

from datetime import datetime


def date_time(moment: datetime) -> str:
    """A FHIR ``dateTime``/``instant`` with a time: ISO 8601 with the moment's own offset (FHIR requires a zone
    whenever a time is given: hl7.org/fhir/R4/datatypes.html#dateTime)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("FHIR dateTime with a time needs a time zone")
    return moment.isoformat()
