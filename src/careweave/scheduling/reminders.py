"""Appointment reminders and change notices, sent by the job queue (docs/adr/0008-job-queue.md).

The booking service calls these inside its own transaction, after flushing the appointment, so the jobs commit
(or vanish) with the booking:

- :func:`schedule` after booking (and after rescheduling, following :func:`unschedule`): one ``reminder.send``
  job per offset in ``settings.reminder_offsets_minutes`` (24 h and 1 h before by default) whose send time is
  still ahead. A reminder whose time has already passed when the visit is booked is skipped, not sent late:
  a visit booked 3 h ahead gets only the 1-hour reminder, one booked 30 minutes ahead gets none (its booking
  confirmation from :func:`notify_change` is the notice).
- :func:`unschedule` on cancel and before re-scheduling: cancels the appointment's queued reminder jobs.
- :func:`notify_change`: an e-mail to the patient and one to the clinician ("booked", "rescheduled",
  "cancelled") with the .ics invitation (METHOD REQUEST) or cancellation (METHOD CANCEL) attached.
- :func:`schedule_and_notify`: both for one booking or new time, enqueued in one round trip (``enqueue_many``).

The ``reminder.send`` handler re-reads the appointment (and again just before each send) and sends nothing if
it is no longer booked or its start time is not the one the job was for. Per channel it records a :class:`ReminderDelivery` (unique per appointment, visit time, offset and
channel) *before* handing the message to the transport, inside a savepoint of the job's unit of work: the row
and the job's "done" commit together, a failed send removes only its own row, and a second recorded send is
impossible. The one duplicate window left (the process dies after the transport accepted a message but before
the commit) is explained in the ADR.

Messages carry no clinical content: a time in the recipient's own zone, the clinician's name and a link.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import NotFound
from careweave.directory import service as directory
from careweave.identity import service as identity
from careweave.jobs import queue
from careweave.jobs.queue import JobContext, NewJob, RetryJob
from careweave.notify.mail import Attachment, Mail
from careweave.notify.sms import Sms
from careweave.patients import service as patients
from careweave.scheduling import ics, rules
from careweave.scheduling.models import Appointment, ReminderDelivery, VisitType
from careweave.settings import Settings

log = structlog.get_logger(__name__)

REMINDER_KIND = "reminder.send"
NOTICE_KIND = "appointment.notice"
Change = Literal["booked", "rescheduled", "cancelled"]
CHANGES: tuple[str, ...] = ("booked", "rescheduled", "cancelled")
RECIPIENTS: tuple[str, ...] = ("patient", "clinician")
MESSAGE_DOMAIN = "careweave.invalid"


# ---------------------------------------------------------------- pure rules


def _stamp(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y%m%dT%H%MZ}"


def reminder_key(appointment_id: uuid.UUID, start_at: datetime, offset_minutes: int) -> str:
    """The job's dedupe key. It includes the visit time: a rescheduled visit is reminded again, and a ``done``
    job keeps its key for ever (the key is unique over all rows)."""
    return f"reminder:{appointment_id}:{_stamp(start_at)}:{offset_minutes}"


def reminder_key_prefix(appointment_id: uuid.UUID) -> str:
    return f"reminder:{appointment_id}:"


def notice_key(
    appointment_id: uuid.UUID, change: str, sequence: int, start_at: datetime, recipient: str
) -> str:
    return f"notice:{appointment_id}:{change}:{sequence}:{_stamp(start_at)}:{recipient}"


def reminder_times(start_at: datetime, offsets: Iterable[int], now: datetime) -> list[tuple[int, datetime]]:
    """(offset, send time) for each offset whose send time is still ahead, largest offset first."""
    out = []
    for offset in sorted(set(offsets), reverse=True):
        send_at = start_at - timedelta(minutes=offset)
        if offset > 0 and send_at > now:
            out.append((offset, send_at))
    return out


def is_late(now: datetime, start_at: datetime, offset: int, offsets: Iterable[int]) -> bool:
    """A reminder run late (worker down, retries) is dropped when the visit has started, or when a closer
    reminder's time has come too (that one is sent instead: no 24-hour reminder 40 minutes before)."""
    if now >= start_at:
        return True
    return any(0 < o < offset and now >= start_at - timedelta(minutes=o) for o in offsets)


def zone_or_utc(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_visit_time(at: datetime, zone: str | None) -> str:
    """``Tue 3 Mar 2026, 9:00 AM EST``: the time in the reader's zone (UTC when it is unknown), labelled."""
    return rules.local_label(at, zone_or_utc(zone).key)


def short_name(given: str, preferred: str | None, family: str) -> str:
    first = (preferred or given or "").strip()
    initial = f" {family.strip()[0]}." if family.strip() else ""
    return f"{first}{initial}".strip() or "your patient"


# ---------------------------------------------------------------- the API the booking service calls


def schedule(session: Session, appointment: Appointment, *, settings: Settings, clock: Clock) -> None:
    """Enqueue the appointment's reminders (in the caller's transaction, one round trip). Idempotent."""
    queue.enqueue_many(session, reminder_jobs(appointment, settings=settings, clock=clock))


def reminder_jobs(appointment: Appointment, *, settings: Settings, clock: Clock) -> list[NewJob]:
    """The ``reminder.send`` jobs :func:`schedule` enqueues (none unless the appointment is booked)."""
    if appointment.id is None:
        raise ValueError("flush the appointment before scheduling its reminders")
    if appointment.status != "booked":
        return []
    start = appointment.start_at
    return [
        NewJob(
            REMINDER_KIND,
            {
                "appointment_id": str(appointment.id),
                "start_at": start.astimezone(UTC).isoformat(),
                "offset_minutes": offset,
            },
            send_at,
            dedupe_key=reminder_key(appointment.id, start, offset),
            max_attempts=settings.job_max_attempts,
        )
        for offset, send_at in reminder_times(start, settings.reminder_offsets_minutes, clock.now())
    ]


def unschedule(session: Session, appointment: Appointment, *, clock: Clock | None = None) -> None:
    """Cancel the appointment's queued reminders (all visit times). A reminder already running re-checks the
    appointment and sends nothing for a cancelled or moved visit."""
    queue.cancel(
        session,
        kind=REMINDER_KIND,
        dedupe_key_prefix=reminder_key_prefix(appointment.id),
        now=clock.now() if clock is not None else None,
    )


def notify_change(
    session: Session, appointment: Appointment, *, change: Change, settings: Settings, clock: Clock
) -> None:
    """Enqueue the e-mails (patient and clinician, one job each) telling of a booking, a new time or a
    cancellation, with the calendar invitation attached. Call after raising ``ics_sequence`` on a change.

    A notice superseded before it is sent (a later change raised ``ics_sequence``) is skipped: the later one
    carries the current state."""
    queue.enqueue_many(session, notice_jobs(appointment, change=change, settings=settings, clock=clock))


def notice_jobs(
    appointment: Appointment, *, change: Change, settings: Settings, clock: Clock
) -> list[NewJob]:
    """The ``appointment.notice`` jobs :func:`notify_change` enqueues."""
    if change not in CHANGES:
        raise ValueError(f"unknown change {change!r}")
    if appointment.id is None:
        raise ValueError("flush the appointment before notifying")
    return [
        NewJob(
            NOTICE_KIND,
            {
                "appointment_id": str(appointment.id),
                "change": change,
                "sequence": appointment.ics_sequence,
                "start_at": appointment.start_at.astimezone(UTC).isoformat(),
                "recipient": recipient,
            },
            clock.now(),
            dedupe_key=notice_key(
                appointment.id, change, appointment.ics_sequence, appointment.start_at, recipient
            ),
            max_attempts=settings.job_max_attempts,
        )
        for recipient in RECIPIENTS
    ]


def schedule_and_notify(
    session: Session,
    appointment: Appointment,
    *,
    change: Change | None,
    settings: Settings,
    clock: Clock,
) -> None:
    """:func:`schedule`, then :func:`notify_change` of ``change`` (None: no notice), in one round trip: what
    a booking or a new time enqueues."""
    jobs = reminder_jobs(appointment, settings=settings, clock=clock)
    if change is not None:
        jobs += notice_jobs(appointment, change=change, settings=settings, clock=clock)
    queue.enqueue_many(session, jobs)


# ---------------------------------------------------------------- reading (scheduling's own tables)


def _appointment_now(session: Session, appointment_id: uuid.UUID) -> Appointment | None:
    """The appointment as last committed (read again, never from the identity map).

    Deliberately not locked (``FOR SHARE``): the job would hold that lock while waiting for the audit chain
    head, which a booking request may hold while it waits to update this appointment: a deadlock.
    """
    return session.get(Appointment, appointment_id, populate_existing=True)


def _still_current(session: Session, appointment_id: uuid.UUID, start_at: datetime) -> bool:
    stmt = select(Appointment.status, Appointment.start_at).where(Appointment.id == appointment_id)
    row = session.execute(stmt).first()
    return row is not None and row.status == "booked" and row.start_at == start_at


def _delivered(
    session: Session, appointment_id: uuid.UUID, start_at: datetime, offset: int, channel: str
) -> bool:
    stmt = select(ReminderDelivery.id).where(
        ReminderDelivery.appointment_id == appointment_id,
        ReminderDelivery.start_at == start_at,
        ReminderDelivery.offset_minutes == offset,
        ReminderDelivery.channel == channel,
    )
    return session.scalars(stmt).first() is not None


@dataclass(frozen=True, slots=True)
class _People:
    patient_name: str  # greeting: preferred or given name
    patient_short: str  # "Ana T.", for the clinician's calendar
    patient_zone: str
    patient_email: str | None
    patient_phone: str | None
    provider_name: str
    provider_zone: str
    provider_email: str | None
    visit_type_name: str


def _email_of(session: Session, user_id: uuid.UUID | None) -> str | None:
    if user_id is None:
        return None
    try:
        user = identity.get_user(session, user_id)
    except NotFound:
        return None
    return user.email if user.is_active else None


def _people(session: Session, appointment: Appointment) -> _People:
    patient, _ = patients.get_patient_ref(session, appointment.patient_id)
    provider = directory.get_provider(session, Actor.system(), appointment.provider_id).provider
    visit_type = session.get(VisitType, appointment.visit_type)
    return _People(
        patient_name=(patient.preferred_name or patient.given_name or "").strip(),
        patient_short=short_name(patient.given_name, patient.preferred_name, patient.family_name),
        patient_zone=patient.timezone,
        patient_email=_email_of(session, patient.user_id),
        patient_phone=(patient.phone or "").strip() or None,
        provider_name=provider.name,
        provider_zone=provider.timezone,
        provider_email=_email_of(session, provider.user_id),
        visit_type_name=visit_type.name if visit_type is not None else "Video visit",
    )


# ---------------------------------------------------------------- messages (no clinical content)


def _links(settings: Settings, appointment: Appointment) -> tuple[str, str]:
    base = settings.base_url.rstrip("/")
    return f"{base}/appointments", ics.visit_url(base, appointment.id)


def reminder_mail(
    people: _People, appointment: Appointment, *, offset: int, settings: Settings, message_id: str
) -> Mail:
    when = format_visit_time(appointment.start_at, people.patient_zone)
    appointments_url, join_url = _links(settings, appointment)
    hello = f"Hello {people.patient_name},\n\n" if people.patient_name else "Hello,\n\n"
    return Mail(
        to=people.patient_email or "",
        subject=f"Reminder: your Careweave video visit on {when}",
        body=(
            f"{hello}This is a reminder of your video visit with {people.provider_name} on {when}.\n\n"
            f"When it is time, join from Careweave (you will be asked to log in):\n{join_url}\n\n"
            f"To see, change or cancel your visits:\n{appointments_url}\n"
        ),
        message_id=message_id,
    )


def reminder_sms(people: _People, appointment: Appointment, *, settings: Settings, key: str) -> Sms:
    when = format_visit_time(appointment.start_at, people.patient_zone)
    appointments_url, _ = _links(settings, appointment)
    return Sms(
        to=people.patient_phone or "",
        body=f"Careweave: reminder of your video visit on {when}. Details: {appointments_url}",
        key=key,
    )


_PATIENT_NOTICE = {
    "booked": ("Your Careweave visit is booked", "Your video visit with {provider} is booked for {when}."),
    "rescheduled": (
        "Your Careweave visit has a new time",
        "Your video visit with {provider} is now on {when}.",
    ),
    "cancelled": (
        "Your Careweave visit is cancelled",
        "Your video visit with {provider} on {when} is cancelled.",
    ),
}
_CLINICIAN_NOTICE = {
    "booked": ("Careweave: visit booked for {when}", "A video visit has been booked for {when}."),
    "rescheduled": ("Careweave: visit moved to {when}", "A video visit has moved to {when}."),
    "cancelled": ("Careweave: visit on {when} cancelled", "The video visit on {when} has been cancelled."),
}


def notice_mail(
    people: _People,
    appointment: Appointment,
    *,
    change: str,
    recipient: str,
    settings: Settings,
    now: datetime,
    message_id: str,
) -> Mail | None:
    to = people.patient_email if recipient == "patient" else people.provider_email
    if not to:
        return None
    appointments_url, join_url = _links(settings, appointment)
    method: ics.Method = "CANCEL" if change == "cancelled" else "REQUEST"
    invitation = ics.appointment_ics(
        appointment,
        provider_name=people.provider_name,
        patient_name=people.patient_short if recipient == "clinician" else (people.patient_name or "Patient"),
        visit_type_name=people.visit_type_name,
        method=method,
        base_url=settings.base_url,
        audience="patient" if recipient == "patient" else "clinician",
        attendee_email=to,
        dtstamp=now,
    )
    if recipient == "patient":
        when = format_visit_time(appointment.start_at, people.patient_zone)
        subject, line = _PATIENT_NOTICE[change]
        hello = f"Hello {people.patient_name},\n\n" if people.patient_name else "Hello,\n\n"
        text = hello + line.format(provider=people.provider_name, when=when) + "\n\n"
        if change != "cancelled":
            text += f"When it is time, join from Careweave (you will be asked to log in):\n{join_url}\n\n"
    else:
        when = format_visit_time(appointment.start_at, people.provider_zone)
        subject, line = _CLINICIAN_NOTICE[change]
        text = line.format(when=when) + "\n\n"
    text += f"Your visits:\n{appointments_url}\n\nThe attached invitation updates your calendar.\n"
    return Mail(
        to=to,
        subject=subject.format(when=when),
        body=text,
        attachments=(
            Attachment(
                "cancel.ics" if method == "CANCEL" else "invite.ics",
                invitation,
                f"text/calendar; method={method}; charset=utf-8",
            ),
        ),
        message_id=message_id,
    )


# ---------------------------------------------------------------- handlers


@queue.handler(REMINDER_KIND)
def send_reminder(ctx: JobContext, payload: Mapping[str, Any]) -> None:
    session = ctx.session
    appointment_id = uuid.UUID(str(payload["appointment_id"]))
    start_at = datetime.fromisoformat(str(payload["start_at"]))
    offset = int(payload["offset_minutes"])
    appointment = _appointment_now(session, appointment_id)
    if appointment is None or appointment.status != "booked" or appointment.start_at != start_at:
        log.info("reminder.skipped", appointment_id=str(appointment_id), offset=offset, reason="changed")
        return
    if is_late(ctx.clock.now(), start_at, offset, ctx.settings.reminder_offsets_minutes):
        log.info("reminder.skipped", appointment_id=str(appointment_id), offset=offset, reason="late")
        return
    people = _people(session, appointment)
    key = reminder_key(appointment.id, start_at, offset)
    sent: list[str] = []
    failed: list[str] = []
    for channel in ctx.settings.reminder_channels:
        if channel == "email" and not people.patient_email:
            continue
        if channel == "sms" and not people.patient_phone:
            continue
        if _delivered(session, appointment.id, start_at, offset, channel):
            continue
        if not _still_current(session, appointment.id, start_at):  # cancelled or moved meanwhile
            log.info("reminder.skipped", appointment_id=str(appointment_id), offset=offset, reason="changed")
            break
        try:
            with session.begin_nested():
                # The row first: on PostgreSQL a concurrent insert of the same key waits for us, then fails.
                session.add(
                    ReminderDelivery(
                        appointment_id=appointment.id,
                        start_at=start_at,
                        offset_minutes=offset,
                        channel=channel,
                        sent_at=ctx.clock.now(),
                        worker=ctx.worker_id,
                        detail=f"job {ctx.job_id} attempt {ctx.attempt}",
                    )
                )
                session.flush()
                if channel == "email":
                    message_id = f"<{key.replace(':', '.')}.email@{MESSAGE_DOMAIN}>"
                    ctx.mailer.send(
                        reminder_mail(
                            people, appointment, offset=offset, settings=ctx.settings, message_id=message_id
                        )
                    )
                else:
                    ctx.sms.send(reminder_sms(people, appointment, settings=ctx.settings, key=f"{key}:sms"))
        except IntegrityError:
            log.info(
                "reminder.already_sent", appointment_id=str(appointment.id), offset=offset, channel=channel
            )
            continue
        except Exception as exc:  # this channel only: its row went with the savepoint
            log.warning(
                "reminder.channel_failed",
                appointment_id=str(appointment.id),
                channel=channel,
                error=type(exc).__name__,
            )
            failed.append(f"{channel}:{type(exc).__name__}")
            continue
        sent.append(channel)
    for channel in sent:
        audit.record(
            session,
            Actor.system(),
            "reminder.sent",
            clock=ctx.clock,
            entity_type="appointment",
            entity_id=appointment.id,
            patient_id=appointment.patient_id,
            details={"offset_minutes": offset, "channel": channel, "job_id": str(ctx.job_id)},
        )
    if sent:
        log.info("reminder.sent", appointment_id=str(appointment.id), offset=offset, channels=",".join(sent))
    if failed:
        raise RetryJob("reminder channel failed: " + ", ".join(failed))


@queue.handler(NOTICE_KIND)
def send_notice(ctx: JobContext, payload: Mapping[str, Any]) -> None:
    session = ctx.session
    appointment_id = uuid.UUID(str(payload["appointment_id"]))
    change, recipient = str(payload["change"]), str(payload["recipient"])
    sequence = int(payload["sequence"])
    start_at = datetime.fromisoformat(str(payload["start_at"]))
    appointment = _appointment_now(session, appointment_id)
    if appointment is None:
        return
    superseded = appointment.ics_sequence > sequence or (
        change != "cancelled" and (appointment.status == "cancelled" or appointment.start_at != start_at)
    )
    if superseded:
        log.info("notice.skipped", appointment_id=str(appointment_id), change=change, reason="superseded")
        return
    people = _people(session, appointment)
    mail = notice_mail(
        people,
        appointment,
        change=change,
        recipient=recipient,
        settings=ctx.settings,
        now=ctx.clock.now(),
        message_id=f"<notice.{ctx.job_id}@{MESSAGE_DOMAIN}>",
    )
    if mail is None:
        log.info("notice.skipped", appointment_id=str(appointment_id), change=change, reason="no_address")
        return
    ctx.mailer.send(mail)
    audit.record(
        session,
        Actor.system(),
        "appointment_notice.sent",
        clock=ctx.clock,
        entity_type="appointment",
        entity_id=appointment.id,
        patient_id=appointment.patient_id,
        details={"change": change, "recipient": recipient, "sequence": sequence, "job_id": str(ctx.job_id)},
    )
