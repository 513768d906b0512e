"""Which instrument a patient should answer next during intake screening (pure).

Order (issue #3; spec §1.1–1.8): C-SSRS immediately after a PHQ-9 with item 9 ≥ 1 (§1.1 item-9
rule); PHQ-2 → PHQ-9 when positive (§1.2); GAD-2 → GAD-7 when positive (§1.4); AUDIT-C (§1.6);
MDQ when mood-elevation or bipolar history is reported (§1.5); PCL-5 when trauma is reported (§1.8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Taken:
    code: str
    authored_at: datetime
    positive: bool | None
    flags: tuple[str, ...] = ()


def _last(taken: Sequence[Taken], code: str) -> Taken | None:
    matches = [t for t in taken if t.code == code]
    return max(matches, key=lambda t: t.authored_at) if matches else None


def _after(later: Taken | None, earlier: Taken) -> bool:
    return later is not None and later.authored_at >= earlier.authored_at


def next_instrument(taken: Sequence[Taken], history: Mapping[str, object]) -> str | None:
    phq9 = _last(taken, "phq-9")
    if (
        phq9 is not None
        and "suicide_item_positive" in phq9.flags
        and not _after(_last(taken, "c-ssrs-screener"), phq9)
    ):
        return "c-ssrs-screener"
    for short, full in (("phq-2", "phq-9"), ("gad-2", "gad-7")):
        first, second = _last(taken, short), _last(taken, full)
        if first is None and second is None:
            return short
        if first is not None and first.positive and not _after(second, first):
            return full
    if _last(taken, "audit-c") is None:
        return "audit-c"
    if (history.get("mood_elevation") or history.get("bipolar")) and _last(taken, "mdq") is None:
        return "mdq"
    if history.get("trauma") and _last(taken, "pcl-5") is None:
        return "pcl-5"
    return None
