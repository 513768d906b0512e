"""Measurement-based care use cases (issue #8): episodes of care, status after every score, due measures and
their reminders. The registry (registry.py), caseload reviews (reviews.py), care-manager minutes and CoCM
billing (minutes.py) and the outcomes report (report.py) are beside it.

Policy and audit are called here; the unit of work commits (services never do). The registry reads the
per-episode facts kept current by :func:`record_score` and :func:`record_contact` (and minutes.log_time), so a
page costs a few queries however long the history."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound
from careweave.identity.models import User
from careweave.outcomes import repository as repo
from careweave.outcomes import rules
from careweave.outcomes.common import (
    check_staff,
    clean_text,
    patient_for,
    responses_since,
    score_of,
)
from careweave.outcomes.models import CareEpisode, MeasureSummary
from careweave.patients.models import Patient
from careweave.screening.models import ScreeningResponse

# Worst first: the episode's headline status is its worst instrument's.

STATUS_ORDER = (
    "not_improving",
    "early_non_response",
    "too_early",
    "partial_response",
    "response",
    "remission",
)

# --- episodes -------------------------------------------------------------------------------------------------


def start_episode(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    clock: Clock,
    start_reason: str = "enrolment",
    care_manager_user_id: uuid.UUID | None = None,
    consultant_user_id: uuid.UUID | None = None,
    instruments: Sequence[str] | None = None,
    interval_days: int | None = None,
    started_on: date | None = None,
) -> CareEpisode:
    """Open an episode of care (spec §2.6: begins with enrolment or referral to the care manager). The care
    manager and the psychiatric consultant join the patient's care team ("assigned")."""
    from careweave.careteam import service as careteam

    patient, _ = patient_for(
        session, actor, patient_id, policy.Action.EPISODE_MANAGE, clock=clock, event="episode.started"
    )
    rs = rules.default_rules()
    today = clock.now().date()
    if start_reason not in ("enrolment", "referral"):
        raise InvalidInput(
            "Unknown start reason.", fields=[FieldError("start_reason", "enrolment or referral")]
        )
    chosen = list(
        dict.fromkeys(instruments or _plan_measures(session, patient.id, rs) or rs.cadence_instruments[:1])
    )
    unknown = [i for i in chosen if i not in rs.instruments]
    if unknown or not chosen:
        raise InvalidInput(
            "Measures must be among " + ", ".join(rs.instruments) + ".",
            fields=[FieldError("instruments", f"unknown: {', '.join(unknown) or 'none given'}")],
        )
    interval = rs.interval_days if interval_days is None else interval_days
    if not 7 <= interval <= 90:
        raise InvalidInput("Measure every 7 to 90 days.", fields=[FieldError("interval_days", "7 to 90")])
    start = started_on or today
    if start > today:
        raise InvalidInput(
            "An episode cannot start in the future.", fields=[FieldError("started_on", "future")]
        )
    check_staff(session, care_manager_user_id, {Role.CARE_MANAGER}, "care_manager_id", patient.clinic_id)
    check_staff(session, consultant_user_id, {Role.PSYCHIATRIST}, "consultant_id", patient.clinic_id)
    if repo.open_episode(session, patient.id, for_update=True) is not None:
        raise Conflict("This patient already has an open episode of care.")
    episode = CareEpisode(
        patient_id=patient.id,
        clinic_id=patient.clinic_id,
        started_on=start,
        start_reason=start_reason,
        care_manager_user_id=care_manager_user_id,
        consultant_user_id=consultant_user_id,
        started_by=actor.user_id,
        instruments=chosen,
        interval_days=interval,
        next_due_on=start,
        last_activity_on=start,
    )
    try:
        with session.begin_nested():
            session.add(episode)
            session.flush()
    except IntegrityError as exc:  # the partial unique index: another request opened one at the same moment
        raise Conflict("This patient already has an open episode of care.") from exc
    # Joining a team recounts the clinician's caseload, locking their provider row: lock both before the first
    # join records an audit event (documents.lock's order: provider rows before the audit chain's head).
    joining = [u for u in (care_manager_user_id, consultant_user_id) if u is not None]
    if joining:
        from careweave.directory import documents
        from careweave.directory.models import Provider

        documents.lock(
            session, list(session.scalars(select(Provider.id).where(Provider.user_id.in_(joining))))
        )
    for user_id in (care_manager_user_id, consultant_user_id):
        if user_id is not None:
            careteam.ensure_member(
                session,
                patient_id=patient.id,
                user_id=user_id,
                basis="assigned",
                clock=clock,
                added_by=actor.user_id,
            )
    # Scores already taken since the start count (the intake's PHQ-9 is often the baseline).
    for response in responses_since(session, patient.id, chosen, start):
        _apply_score(session, episode, response, clock=clock)
    audit.record(
        session,
        actor,
        "episode.started",
        clock=clock,
        entity_type="care_episode",
        entity_id=episode.id,
        patient_id=patient.id,
        details={"reason": start_reason, "instruments": chosen},
    )
    return episode


def _plan_measures(session: Session, patient_id: uuid.UUID, rs: rules.MbcRules) -> list[str]:
    """The measures the patient's treatment plan sets goals on (PHQ-9, GAD-7), in the plan's order: the
    schedule follows the plan unless the enrolling clinician chooses."""
    from careweave.records import repository as records_repo

    plan = records_repo.plan_for(session, patient_id)
    current = records_repo.version(session, plan.id, plan.current_version) if plan else None
    goals = (current.content or {}).get("goals", []) if current else []
    return [code for g in goals if (code := str(g.get("instrument", "")).lower()) in rs.instruments]


def end_episode(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    reason: str,
    clock: Clock,
    relapse_prevention_plan: str | None = None,
) -> CareEpisode:
    """Close the open episode: goals met (a relapse-prevention plan is required), referred out, patient
    withdrew, or inactive (spec §2.6)."""
    patient, _ = patient_for(
        session, actor, patient_id, policy.Action.EPISODE_MANAGE, clock=clock, event="episode.ended"
    )
    rs = rules.default_rules()
    if reason not in rs.end_reasons:
        raise InvalidInput(
            "Unknown reason.", fields=[FieldError("reason", "one of " + ", ".join(rs.end_reasons))]
        )
    plan = clean_text(relapse_prevention_plan, "relapse_prevention_plan", required=reason == "goals_met")
    episode = repo.open_episode(session, patient.id, for_update=True)
    if episode is None:
        raise NotFound("This patient has no open episode of care.")
    episode.ended_on = clock.now().date()
    episode.end_reason = reason
    episode.ended_by = actor.user_id
    episode.relapse_prevention_plan = plan
    session.flush()
    audit.record(
        session,
        actor,
        "episode.ended",
        clock=clock,
        entity_type="care_episode",
        entity_id=episode.id,
        patient_id=patient.id,
        details={"reason": reason},
    )
    return episode


def close_idle_episodes(session: Session, *, clock: Clock) -> int:
    """End every open episode with no CoCM services for ``idle_months`` (spec §2.6); the worker runs it daily."""
    rs = rules.default_rules()
    today = clock.now().date()
    cutoff = rules.add_months(today, -rs.idle_months)
    rows = session.scalars(
        select(CareEpisode).where(CareEpisode.ended_on.is_(None), CareEpisode.last_activity_on <= cutoff)
    ).all()
    closed = 0
    for episode in rows:
        end = rules.idle_end(episode.last_activity_on or episode.started_on, today, rs)
        if end is None:
            continue
        episode.ended_on = end
        episode.end_reason = "inactive"
        audit.record(
            session,
            Actor.system(),
            "episode.ended",
            clock=clock,
            entity_type="care_episode",
            entity_id=episode.id,
            patient_id=episode.patient_id,
            details={"reason": "inactive"},
        )
        closed += 1
    session.flush()
    return closed


# --- scores and contacts --------------------------------------------------------------------------------------


def record_score(session: Session, response: ScreeningResponse, *, clock: Clock) -> None:
    """After every stored score (screening.service calls this): refresh the open episode's summary, status and
    due date. Scores of instruments the episode does not follow only move the item-9 safety fact."""
    episode = repo.open_episode(session, response.patient_id)
    if episode is None:
        return
    _apply_score(session, episode, response, clock=clock)


def _apply_score(
    session: Session, episode: CareEpisode, response: ScreeningResponse, *, clock: Clock
) -> None:
    day = response.authored_at.date()
    if "suicide_item_positive" in (response.flags or ()):
        episode.last_item9_positive_on = max(day, episode.last_item9_positive_on or day)
    if response.instrument not in (episode.instruments or ()) or response.total is None:
        return
    rs = rules.default_rules()
    history = [
        score_of(r)
        for r in responses_since(session, episode.patient_id, [response.instrument], episode.started_on)
    ]
    if all(s.at != response.authored_at for s in history):
        history.append(score_of(response))
    # Weeks are counted to the latest score (a score entered late for an earlier day changes the history, not
    # the date the status is "after").
    latest_day = max([day, *(h.at.date() for h in history)])
    status = rules.measurement_status(
        response.instrument, history, episode_start=episode.started_on, on=latest_day, rules=rs
    )
    summary = session.get(MeasureSummary, (episode.id, response.instrument))
    if summary is None:
        summary = MeasureSummary(
            episode_id=episode.id, instrument=response.instrument, patient_id=episode.patient_id
        )
        session.add(summary)
    summary.baseline_score = status.baseline.value if status.baseline else None
    summary.baseline_at = status.baseline.at if status.baseline else None
    summary.latest_score = status.latest.value if status.latest else None
    summary.latest_at = status.latest.at if status.latest else None
    summary.latest_prorated = bool(status.latest and status.latest.prorated)
    summary.change = status.change
    summary.percent_change = status.percent_change
    summary.weeks_in_treatment = status.weeks_in_treatment
    summary.status = status.status
    summary.flags = list(status.flags)
    summary.scores = len([s for s in history if s.complete])
    summary.updated_at = clock.now()
    session.flush()
    _refresh_episode(session, episode, clock=clock)


def _refresh_episode(session: Session, episode: CareEpisode, *, clock: Clock) -> None:
    rows = repo.summaries(session, [episode.id])[episode.id]
    measured = [r.latest_at.date() for r in rows if r.latest_at is not None]
    episode.last_measured_on = (
        min(measured) if len(measured) == len(episode.instruments or ()) and measured else None
    )
    statuses = [r.status for r in rows if r.status]
    episode.status = min(statuses, key=STATUS_ORDER.index) if statuses else None
    episode.next_due_on = rules.next_due(
        last_measured=episode.last_measured_on,
        episode_start=episode.started_on,
        next_contact=_next_contact(session, episode.patient_id, clock.now()),
    )
    session.flush()


def _next_contact(session: Session, patient_id: uuid.UUID, now: datetime) -> date | None:
    from careweave.scheduling.models import Appointment

    start = session.scalar(
        select(Appointment.start_at)
        .where(
            Appointment.patient_id == patient_id, Appointment.status == "booked", Appointment.start_at > now
        )
        .order_by(Appointment.start_at)
        .limit(1)
    )
    return start.date() if start else None


def record_contact(session: Session, patient_id: uuid.UUID, on: date, *, clock: Clock) -> None:
    """A contact (a visit held, care-manager activity): the registry's last contact and the next due measure."""
    episode = repo.open_episode(session, patient_id)
    if episode is None:
        return
    episode.last_contact_on = max(on, episode.last_contact_on or on)
    episode.last_activity_on = max(on, episode.last_activity_on or on)
    _refresh_episode(session, episode, clock=clock)


# --- status -----------------------------------------------------------------------------------------------------


def measurement_status(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> list[rules.MeasurementStatus]:
    """Per followed instrument, the status now (weeks counted to today) in the open (else latest) episode."""
    patient, _ = patient_for(
        session, actor, patient_id, policy.Action.MEASUREMENT_READ, clock=clock, event="measurement.read"
    )
    episode = repo.open_episode(session, patient.id) or next(
        iter(reversed(repo.episodes(session, patient.id))), None
    )
    if episode is None:
        return []
    audit.record(
        session,
        actor,
        "measurement.read",
        clock=clock,
        entity_type="care_episode",
        entity_id=episode.id,
        patient_id=patient.id,
    )
    return _statuses(session, episode, clock.now().date())


def _statuses(session: Session, episode: CareEpisode, on: date) -> list[rules.MeasurementStatus]:
    on = min(on, episode.ended_on) if episode.ended_on else on
    out = []
    for instrument in episode.instruments or ():
        history = [
            score_of(r)
            for r in responses_since(session, episode.patient_id, [instrument], episode.started_on)
        ]
        out.append(rules.measurement_status(instrument, history, episode_start=episode.started_on, on=on))
    return out


def score_history(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock
) -> tuple[CareEpisode | None, dict[str, list[rules.Score]]]:
    """For the trend chart: the episode and every usable score per followed instrument."""
    patient, _ = patient_for(
        session, actor, patient_id, policy.Action.MEASUREMENT_READ, clock=clock, event="measurement.read"
    )
    episode = repo.open_episode(session, patient.id) or next(
        iter(reversed(repo.episodes(session, patient.id))), None
    )
    if episode is None:
        return None, {}
    return episode, {
        i: [score_of(r) for r in responses_since(session, patient.id, [i], episode.started_on)]
        for i in episode.instruments
    }


# --- due measures: the portal, reminders, on demand --------------------------------------------------------------

MEASURE_REMINDER_KIND = "measure.reminder"


@dataclass(frozen=True, slots=True)
class DueMeasure:
    instrument: str
    label: str
    due_on: date
    overdue: bool


def due_for_patient(session: Session, patient_id: uuid.UUID, *, on: date) -> list[DueMeasure]:
    """What the patient's portal shows: the followed questionnaires due now (none outside an episode)."""
    episode = repo.open_episode(session, patient_id)
    if episode is None or episode.next_due_on is None or episode.next_due_on > on:
        return []
    rs = rules.default_rules()
    return [
        DueMeasure(i, rs.instrument(i).label, episode.next_due_on, episode.next_due_on < on)
        for i in episode.instruments
    ]


def request_measure(
    session: Session, actor: Actor, patient_id: uuid.UUID, *, instrument: str, clock: Clock
) -> CareEpisode:
    """A clinician sends a questionnaire now: it is due today and the patient is told (e-mail and SMS)."""
    patient, _ = patient_for(
        session, actor, patient_id, policy.Action.EPISODE_MANAGE, clock=clock, event="measure.requested"
    )
    episode = repo.open_episode(session, patient.id, for_update=True)
    if episode is None:
        raise Conflict("Start an episode of care before sending questionnaires.")
    if instrument not in rules.default_rules().instruments:
        raise InvalidInput("Unknown questionnaire.", fields=[FieldError("instrument", "phq-9 or gad-7")])
    if instrument not in episode.instruments:
        episode.instruments = [*episode.instruments, instrument]
    today = clock.now().date()
    episode.next_due_on = today
    _enqueue_reminders(session, episode, clock=clock, tag=f"request:{clock.now().isoformat()}")
    audit.record(
        session,
        actor,
        "measure.requested",
        clock=clock,
        entity_type="care_episode",
        entity_id=episode.id,
        patient_id=patient.id,
        details={"instrument": instrument},
    )
    return episode


def _enqueue_reminders(session: Session, episode: CareEpisode, *, clock: Clock, tag: str) -> None:
    from careweave.jobs import queue

    for channel in ("email", "sms"):  # one job per channel: a retry of one never resends the other
        queue.enqueue(
            session,
            MEASURE_REMINDER_KIND,
            {"episode_id": str(episode.id), "channel": channel},
            run_at=clock.now(),
            dedupe_key=f"measure:{episode.id}:{tag}:{channel}",
        )
    episode.reminded_due_on = episode.next_due_on


def enqueue_due_reminders(session: Session, *, clock: Clock, batch: int = 500) -> int:
    """The worker's pass: remind each open episode whose measure fell due, once per due date."""
    today = clock.now().date()
    rows = session.scalars(
        select(CareEpisode)
        .where(
            CareEpisode.ended_on.is_(None),
            CareEpisode.next_due_on <= today,
            (CareEpisode.reminded_due_on.is_(None))
            | (CareEpisode.reminded_due_on != CareEpisode.next_due_on),
        )
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for episode in rows:
        assert episode.next_due_on is not None
        _enqueue_reminders(session, episode, clock=clock, tag=f"due:{episode.next_due_on.isoformat()}")
    session.flush()
    return len(rows)


def _register_handlers() -> None:
    from careweave.jobs import queue
    from careweave.notify.mail import Mail
    from careweave.notify.sms import Sms

    @queue.handler(MEASURE_REMINDER_KIND)
    def send_measure_reminder(ctx: queue.JobContext, payload: Mapping[str, Any]) -> None:
        """E-mail or SMS: a check-in questionnaire is waiting (no clinical content, a link to sign in)."""
        episode = ctx.session.get(CareEpisode, uuid.UUID(str(payload["episode_id"])))
        if episode is None or episode.ended_on is not None:
            return
        patient = ctx.session.get(Patient, episode.patient_id)
        user = ctx.session.get(User, patient.user_id) if patient and patient.user_id else None
        if patient is None or user is None or not user.is_active:
            return
        link = f"{ctx.settings.base_url}/checkins"
        text = f"A short check-in questionnaire from your care team is waiting for you in Careweave: {link}"
        if payload["channel"] == "email":
            ctx.mailer.send(Mail(to=user.email, subject="Your Careweave check-in", body=text + "\n"))
        elif patient.phone:
            ctx.sms.send(Sms(to=patient.phone, body=text, key=f"measure:{episode.id}:{ctx.job_id}"))


_register_handlers()
