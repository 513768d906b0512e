"""Care-manager minutes and the CoCM month-end summary (issue #8; spec §2.6)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, FieldError, InvalidInput
from careweave.outcomes import billing, rules, service
from careweave.outcomes import repository as repo
from careweave.outcomes.common import (
    clean_text,
    patient_for,
)
from careweave.outcomes.models import TimeEntry
from careweave.patients.models import Patient

# Worst first: the episode's headline status is its worst instrument's.

# --- minutes and billing ----------------------------------------------------------------------------------------


def log_time(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    on_date: date,
    minutes: int,
    activity: str,
    note: str | None,
    clock: Clock,
    started_at: datetime | None = None,
    stopped_at: datetime | None = None,
) -> TimeEntry:
    """Care-manager minutes for a patient in their open episode (entered, or from a start/stop timer)."""
    patient, _ = patient_for(
        session, actor, patient_id, policy.Action.COCM_TIME_LOG, clock=clock, event="cocm_time.logged"
    )
    rules_ = billing.default_rules()
    now = clock.now()
    if started_at is not None and stopped_at is not None:
        if stopped_at <= started_at:
            raise InvalidInput(
                "The timer stopped before it started.", fields=[FieldError("stopped_at", "before start")]
            )
        minutes = max(1, round((stopped_at - started_at).total_seconds() / 60))
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 600:
        raise InvalidInput("Minutes must be 1 to 600.", fields=[FieldError("minutes", "1 to 600")])
    if activity not in rules_.activities:
        raise InvalidInput(
            "Unknown activity.", fields=[FieldError("activity", "one of " + ", ".join(rules_.activities))]
        )
    if on_date > now.date():
        raise InvalidInput(
            "Time cannot be logged for a future day.", fields=[FieldError("date", "in the future")]
        )
    episode = repo.open_episode(session, patient.id, for_update=True)
    if episode is None:
        raise Conflict("Start an episode of care before logging care-manager time.")
    if on_date < episode.started_on:
        raise InvalidInput(
            "That day is before the episode started.", fields=[FieldError("date", "before the episode")]
        )
    entry = TimeEntry(
        patient_id=patient.id,
        episode_id=episode.id,
        staff_user_id=actor.user_id,
        on_date=on_date,
        minutes=minutes,
        activity=activity,
        note=clean_text(note, "note", required=False),
        started_at=started_at,
        stopped_at=stopped_at,
    )
    session.add(entry)
    session.flush()
    service.record_contact(session, patient.id, on_date, clock=clock)
    audit.record(
        session,
        actor,
        "cocm_time.logged",
        clock=clock,
        entity_type="cocm_time_entry",
        entity_id=entry.id,
        patient_id=patient.id,
        details={"minutes": minutes, "activity": activity},
    )
    return entry


@dataclass(frozen=True, slots=True)
class BillingLine:
    patient_id: uuid.UUID
    patient_name: str
    summary: billing.MonthSummary


def parse_month(value: str) -> date:
    try:
        year, month = value.split("-")
        return date(int(year), int(month), 1)
    except (ValueError, AttributeError):
        raise InvalidInput("month must look like 2026-03.", fields=[FieldError("month", "YYYY-MM")]) from None


def billing_month(session: Session, actor: Actor, month: str, *, clock: Clock) -> list[BillingLine]:
    """Month-end CoCM summary per patient with minutes in ``month`` (spec §2.6), for the actor's clinic."""
    policy.require(actor, policy.Action.BILLING_READ)
    first = parse_month(month)
    last = rules.add_months(first, 1).replace(day=1)
    last = last - timedelta(days=1)
    if actor.clinic_id is None:
        return []
    out = []
    for row in repo.minutes_by_patient_month(session, actor.clinic_id, first, last):
        number = billing.episode_month(row.first_activity, first)
        # the name exactly as Patient.display_name writes it, from the row's three name columns
        name = Patient.display_name.fget(row)  # type: ignore[attr-defined]
        out.append(BillingLine(row.patient_id, name, billing.summarize_month(row.minutes, number, month)))
    out.sort(key=lambda line: (line.patient_name, str(line.patient_id)))
    audit.record(
        session,
        actor,
        "billing.read",
        clock=clock,
        entity_type="cocm_billing",
        entity_id=None,
        details={"month": month, "patients": len(out)},
    )
    return out


def billing_csv(lines: list[BillingLine]) -> str:
    """The month-end summary as a billing file: one line per patient and month, codes with units."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["patient_id", "patient", "month", "episode_month", "minutes", "codes", "qualifies", "note"]
    )
    for line in lines:
        s = line.summary
        codes = " ".join(f"{c.code}x{c.units}" for c in s.codes)
        writer.writerow(
            [
                line.patient_id,
                line.patient_name,
                s.month,
                s.episode_month,
                s.minutes,
                codes,
                s.qualifies,
                s.note,
            ]
        )
    return out.getvalue()
