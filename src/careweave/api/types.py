"""Field types shared by the JSON API's schemas and query parameters."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

_RFC3339_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _rfc3339(value: object) -> object:
    # Without this, pydantic would also read numbers (0.5, "0.5") as Unix timestamps.
    if isinstance(value, bool | int | float) or (isinstance(value, str) and not _RFC3339_START.match(value)):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-26T15:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    """UTC, as stored; an instant beyond either end of UTC's calendar is the open bound it implies."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


# Naive times are refused (422): which zone they meant is unknowable.
Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]
