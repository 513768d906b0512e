"""Pure safety rules: alert levels, their order, and when an unacknowledged alert escalates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

LEVEL_RANK = {"low": 1, "moderate": 2, "high": 3}
# What each level asks of the clinic (spec §1.7 actions; issue: high → urgent, moderate →
# same day, low → next business day).
PRIORITY = {"high": "urgent", "moderate": "same_day", "low": "next_business_day"}


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    high_minutes: int = 15
    moderate_minutes: int = 120
    business_day_end_hour: int = 17


REASON_LABELS = {
    "cssrs_high": "C-SSRS: high risk",
    "cssrs_moderate": "C-SSRS: moderate risk",
    "cssrs_low": "C-SSRS: low risk",
    "cssrs_none_after_positive_screen": "PHQ-9 item 9 positive; C-SSRS no risk",
    "phq9_item9_positive": "PHQ-9 item 9 positive; C-SSRS pending",
    "phq9_item9_unanswered": "PHQ-9 item 9 unanswered",
    "patient_requested_help": "Patient asked for help now",
    "message_crisis_language": "Crisis language in a patient's message",
}


def alert_level_for(
    *, instrument: str, flags: tuple[str, ...], risk_level: str | None, open_alert: bool = False
) -> tuple[str, str] | None:
    """(level, reason) of the alert a screening result calls for, or None.

    - PHQ-9 item 9 ≥ 1: a same-day (moderate) alert until the C-SSRS is done (spec §1.1 item-9
      rule, §7.3 STEP 1 "phq9_item9 >= 1 and cssrs not yet done").
    - PHQ-9 item 9 unanswered: clinician follow-up (spec §1.1 platform rule (a)) → low.
    - C-SSRS: its level (spec §1.7); "none" after a positive item 9 still gets a low alert so a
      clinician reviews the positive answer.
    """
    if instrument == "c-ssrs-screener":
        if risk_level in LEVEL_RANK:
            return risk_level, f"cssrs_{risk_level}"  # type: ignore[return-value]
        return ("low", "cssrs_none_after_positive_screen") if open_alert else None
    if "suicide_item_positive" in flags:
        return "moderate", "phq9_item9_positive"
    if "suicide_item_unanswered" in flags:
        return "low", "phq9_item9_unanswered"
    return None


def settle_level(current: str | None, new: str, *, structured_assessment: bool) -> str:
    """The level of an open alert after a new signal. Screens only raise it; the structured
    assessment (C-SSRS) sets it (spec §7.2: the C-SSRS level, not the PHQ-9, determines urgency),
    but never below low while the alert is open."""
    if current is None:
        return new
    if structured_assessment:
        return new
    return new if LEVEL_RANK[new] > LEVEL_RANK[current] else current


def escalate_at(level: str, *, now: datetime, clinic_timezone: str, policy: EscalationPolicy) -> datetime:
    if level == "high":
        return now + timedelta(minutes=policy.high_minutes)
    if level == "moderate":
        return now + timedelta(minutes=policy.moderate_minutes)
    return end_of_next_business_day(now, clinic_timezone, policy.business_day_end_hour)


def end_of_next_business_day(now: datetime, zone: str, end_hour: int) -> datetime:
    """End of the next Monday–Friday business day after ``now`` in the clinic's zone
    (public holidays are not modelled yet)."""
    tz = ZoneInfo(zone)
    day = now.astimezone(tz).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(end_hour), tzinfo=tz)


def next_position(current: int | None, positions: list[int]) -> int | None:
    """The roster position after ``current``, wrapping round to the first."""
    if not positions:
        return None
    ordered = sorted(positions)
    if current is None:
        return ordered[0]
    later = [p for p in ordered if p > current]
    return later[0] if later else ordered[0]
