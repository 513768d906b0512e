"""Appointment reminders and notices (issue #5): scheduled per offset, never for a cancelled visit, only for
the current time of a rescheduled one, each occurrence of a series on its own, recorded once per channel; the
notices carry the .ics invitation; messages carry no clinical content."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.audit.models import AuditEvent
from careweave.cli import _worker_pass
from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory.models import Provider
from careweave.jobs import queue
from careweave.jobs.models import Job
from careweave.jobs.queue import WorkerContext
from careweave.notify.mail import Mail
from careweave.notify.sms import Sms
from careweave.patients import service as patients
from careweave.scheduling import reminders
from careweave.scheduling.models import Appointment, AppointmentSeries, ReminderDelivery
from careweave.settings import Settings
from tests.builders import make_user

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
START = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # Sat 28 Nov 2026, 10:00 AM EST
WHEN = "Sat 28 Nov 2026, 10:00 AM EST"


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[Mail] = []
        self._lock = threading.Lock()

    def send(self, mail: Mail) -> None:
        with self._lock:
            self.sent.append(mail)


class RecordingSms:
    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[Sms] = []
        self.fail = fail
        self._lock = threading.Lock()

    def send(self, sms: Sms) -> None:
        if self.fail:
            raise ConnectionError("gateway down")
        with self._lock:
            self.sent.append(sms)


def make_provider(session: Session, settings: Settings, name: str = "Dr. Rhea Testclinician") -> Provider:
    user = make_user(session, settings, Role.PSYCHIATRIST, name=name)
    provider = Provider(
        name=name, credential="MD", user_id=user.id, clinic_id=user.clinic_id, timezone="America/Chicago"
    )
    session.add(provider)
    session.flush()
    return provider


def make_patient(
    session: Session, settings: Settings, *, phone: str | None = "555-0142", name: str = "Ana Testpatient"
):
    user = make_user(session, settings, Role.PATIENT, name=name, timezone="America/New_York", phone=phone)
    pid = patients.patient_id_for_user(session, user.id)
    assert pid is not None
    return user, pid


def make_appointment(
    session: Session,
    *,
    provider_id: uuid.UUID,
    patient_id: uuid.UUID,
    start: datetime = START,
    minutes: int = 50,
    series_id: uuid.UUID | None = None,
) -> Appointment:
    appointment_id = uuid.uuid4()
    appt = Appointment(
        id=appointment_id,
        provider_id=provider_id,
        patient_id=patient_id,
        visit_type="therapy_session",
        start_at=start,
        end_at=start + timedelta(minutes=minutes),
        block_end_at=start + timedelta(minutes=minutes),
        status="booked",
        series_id=series_id,
        ics_uid=f"{appointment_id}@careweave",
        ics_sequence=0,
    )
    session.add(appt)
    session.flush()
    return appt


@pytest.fixture
def clock() -> FixedClock:  # type: ignore[override]
    return FixedClock(NOW)


@pytest.fixture
def mail() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def sms() -> RecordingSms:
    return RecordingSms()


@pytest.fixture
def context(settings: Settings, mail: RecordingMailer, sms: RecordingSms) -> WorkerContext:
    return WorkerContext(settings=settings, mailer=mail, sms=sms)


@pytest.fixture
def visit(session, settings):
    provider = make_provider(session, settings)
    user, pid = make_patient(session, settings)
    appt = make_appointment(session, provider_id=provider.id, patient_id=pid)
    return {"provider": provider, "user": user, "pid": pid, "appt": appt}


def _run(sessions, clock, context) -> int:
    return queue.run_due(sessions, worker_id="host:1", clock=clock, context=context)


def _reminder_jobs(session) -> list[Job]:
    session.expire_all()
    return list(
        session.scalars(select(Job).where(Job.kind == reminders.REMINDER_KIND).order_by(Job.run_at, Job.id))
    )


def _deliveries(session) -> list[ReminderDelivery]:
    session.expire_all()
    stmt = select(ReminderDelivery).order_by(
        ReminderDelivery.start_at, ReminderDelivery.offset_minutes.desc()
    )
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- scheduling


def test_schedule_enqueues_one_job_per_offset_at_its_time(session, settings, clock, visit):
    appt = visit["appt"]
    reminders.schedule(session, appt, settings=settings, clock=clock)
    reminders.schedule(session, appt, settings=settings, clock=clock)  # idempotent
    jobs = _reminder_jobs(session)
    assert [(j.run_at, j.payload["offset_minutes"]) for j in jobs] == [
        (START - timedelta(hours=24), 1440),
        (START - timedelta(hours=1), 60),
    ]
    assert jobs[0].payload == {
        "appointment_id": str(appt.id),
        "start_at": "2026-11-28T15:00:00+00:00",
        "offset_minutes": 1440,
    }
    assert jobs[0].dedupe_key == f"reminder:{appt.id}:20261128T1500Z:1440"
    assert all(j.max_attempts == settings.job_max_attempts for j in jobs)


def test_schedule_and_notify_enqueues_reminders_and_notices_in_one_statement(session, settings, clock, visit):
    """The same jobs as schedule + notify_change, in one INSERT; again, nothing new (idempotent)."""
    from sqlalchemy import event

    appt = visit["appt"]
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):
            seen.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        reminders.schedule_and_notify(session, appt, change="booked", settings=settings, clock=clock)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(seen) == 1
    expected = reminders.reminder_jobs(appt, settings=settings, clock=clock) + reminders.notice_jobs(
        appt, change="booked", settings=settings, clock=clock
    )
    session.expire_all()
    jobs = {j.dedupe_key: j for j in session.scalars(select(Job))}
    assert sorted(jobs) == sorted(j.dedupe_key for j in expected) and len(jobs) == 4
    for want in expected:
        got = jobs[want.dedupe_key]
        assert (got.kind, got.payload, got.run_at, got.max_attempts) == (
            want.kind,
            dict(want.payload),
            want.run_at,
            settings.job_max_attempts,
        )
    reminders.schedule_and_notify(session, appt, change="booked", settings=settings, clock=clock)
    reminders.schedule_and_notify(session, appt, change=None, settings=settings, clock=clock)
    assert len(list(session.scalars(select(Job)))) == 4


def test_a_visit_booked_inside_a_reminder_window_skips_that_reminder(session, settings, clock, visit):
    clock.advance(hours=45)  # 3 h before the visit: no 24-hour reminder
    reminders.schedule(session, visit["appt"], settings=settings, clock=clock)
    assert [j.payload["offset_minutes"] for j in _reminder_jobs(session)] == [60]


def test_a_visit_booked_half_an_hour_ahead_gets_no_reminder(session, settings, clock, visit):
    clock.advance(hours=47, minutes=30)
    reminders.schedule(session, visit["appt"], settings=settings, clock=clock)
    assert _reminder_jobs(session) == []


def test_reminders_are_sent_at_each_offset_by_email_and_sms(
    session, sessions, settings, clock, context, mail, sms, visit
):
    appt = visit["appt"]
    reminders.schedule(session, appt, settings=settings, clock=clock)
    session.commit()
    assert _run(sessions, clock, context) == 0
    clock.advance(hours=24)  # 24 h before
    assert _run(sessions, clock, context) == 1
    assert [m.to for m in mail.sent] == [visit["user"].email]
    assert [s.to for s in sms.sent] == ["555-0142"]
    email, text = mail.sent[0], sms.sent[0]
    assert WHEN in email.subject and WHEN in email.body and WHEN in text.body
    assert "Dr. Rhea Testclinician" in email.body
    assert "http://testserver/appointments" in email.body and "http://testserver/appointments" in text.body
    assert f"http://testserver/visits/{appt.id}" in email.body
    assert "Hello Ana," in email.body
    for body in (email.subject, email.body, text.body):  # no visit type, no clinical words
        assert "Therapy" not in body and "therapy" not in body
    assert email.message_id == f"<reminder.{appt.id}.20261128T1500Z.1440.email@careweave.invalid>"

    assert _run(sessions, clock, context) == 0  # nothing twice
    clock.advance(hours=23)  # 1 h before
    assert _run(sessions, clock, context) == 1
    assert len(mail.sent) == 2 and len(sms.sent) == 2
    rows = _deliveries(session)
    assert sorted((r.offset_minutes, r.channel, r.start_at, r.worker) for r in rows) == [
        (60, "email", START, "host:1"),
        (60, "sms", START, "host:1"),
        (1440, "email", START, "host:1"),
        (1440, "sms", START, "host:1"),
    ]
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "reminder.sent")).all()
    assert len(events) == 4
    assert all(e.patient_id == visit["pid"] and e.entity_id == str(appt.id) for e in events)
    assert {e.details["channel"] for e in events} == {"email", "sms"}
    assert all(set(e.details) == {"offset_minutes", "channel", "job_id"} for e in events)


def test_only_the_configured_channels_and_known_addresses_are_used(
    session, sessions, settings, clock, mail, sms
):
    provider = make_provider(session, settings)
    _, pid = make_patient(session, settings, phone=None)
    appt = make_appointment(session, provider_id=provider.id, patient_id=pid)
    email_only = settings.model_copy(update={"reminder_channels": ["sms"]})
    context = WorkerContext(settings=email_only, mailer=mail, sms=sms)
    reminders.schedule(session, appt, settings=email_only, clock=clock)
    session.commit()
    clock.advance(hours=24)
    assert _run(sessions, clock, context) == 1  # sms only, and no phone: nothing to send
    assert mail.sent == [] and sms.sent == []
    assert _deliveries(session) == []
    assert {j.status for j in _reminder_jobs(session) if j.payload["offset_minutes"] == 1440} == {"done"}


def test_a_cancelled_visit_is_never_reminded(session, sessions, settings, clock, context, mail, sms, visit):
    appt = visit["appt"]
    reminders.schedule(session, appt, settings=settings, clock=clock)
    appt.status, appt.cancelled_at = "cancelled", clock.now()
    reminders.unschedule(session, appt, clock=clock)
    session.commit()
    assert {j.status for j in _reminder_jobs(session)} == {"cancelled"}
    clock.advance(hours=47)
    assert _run(sessions, clock, context) == 0
    assert mail.sent == [] and sms.sent == [] and _deliveries(session) == []


def test_a_reminder_already_claimed_when_the_visit_is_cancelled_sends_nothing(
    session, sessions, settings, clock, context, mail, sms, visit
):
    appt = visit["appt"]
    reminders.schedule(session, appt, settings=settings, clock=clock)
    session.commit()
    clock.advance(hours=24)
    job_id = queue.claim(sessions, worker_id="host:1", clock=clock, lease_seconds=300)
    assert job_id is not None
    appt.status = "cancelled"
    reminders.unschedule(session, appt)  # too late for the claimed job: it is running
    session.commit()
    assert queue.run_claimed(sessions, job_id, worker_id="host:1", clock=clock, context=context) == "done"
    assert mail.sent == [] and sms.sent == [] and _deliveries(session) == []


def test_a_rescheduled_visit_is_reminded_for_the_new_time_only(
    session, sessions, settings, clock, context, mail, sms, visit
):
    appt = visit["appt"]
    reminders.schedule(session, appt, settings=settings, clock=clock)
    session.commit()
    new_start = START + timedelta(days=2)
    # what the booking service does: unschedule, move, raise the sequence, schedule again
    reminders.unschedule(session, appt, clock=clock)
    appt.start_at, appt.end_at, appt.block_end_at = (
        new_start,
        new_start + timedelta(minutes=50),
        new_start + timedelta(minutes=50),
    )
    appt.ics_sequence += 1
    session.flush()
    reminders.schedule(session, appt, settings=settings, clock=clock)
    session.commit()
    by_status = {
        (j.payload["start_at"], j.payload["offset_minutes"]): j.status for j in _reminder_jobs(session)
    }
    assert by_status == {
        ("2026-11-28T15:00:00+00:00", 1440): "cancelled",
        ("2026-11-28T15:00:00+00:00", 60): "cancelled",
        ("2026-11-30T15:00:00+00:00", 1440): "queued",
        ("2026-11-30T15:00:00+00:00", 60): "queued",
    }
    clock.advance(hours=47)  # the old times pass: nothing
    assert _run(sessions, clock, context) == 0
    assert mail.sent == []
    clock.advance(hours=25)  # 24 h before the new time
    assert _run(sessions, clock, context) == 1
    assert "Mon 30 Nov 2026, 10:00 AM EST" in mail.sent[0].body
    assert {r.start_at for r in _deliveries(session)} == {new_start}


def test_a_stale_job_for_the_old_time_sends_nothing(session, sessions, settings, clock, context, mail, visit):
    """Even without unschedule (or when the job was already claimed), the handler compares the visit time."""
    appt = visit["appt"]
    reminders.schedule(session, appt, settings=settings, clock=clock)
    appt.start_at, appt.end_at, appt.block_end_at = (
        START + timedelta(hours=2),
        START + timedelta(hours=2, minutes=50),
        START + timedelta(hours=2, minutes=50),
    )
    session.commit()
    clock.advance(hours=24)
    assert _run(sessions, clock, context) == 1
    assert mail.sent == [] and _deliveries(session) == []
    assert {j.status for j in _reminder_jobs(session) if j.payload["offset_minutes"] == 1440} == {"done"}


def test_moving_a_visit_away_and_back_reminds_again_for_that_time(session, settings, clock, visit):
    appt = visit["appt"]
    reminders.schedule(session, appt, settings=settings, clock=clock)
    reminders.unschedule(session, appt)
    appt.start_at += timedelta(days=1)
    appt.end_at += timedelta(days=1)
    appt.block_end_at += timedelta(days=1)
    session.flush()
    reminders.schedule(session, appt, settings=settings, clock=clock)
    reminders.unschedule(session, appt)
    appt.start_at -= timedelta(days=1)
    appt.end_at -= timedelta(days=1)
    appt.block_end_at -= timedelta(days=1)
    session.flush()
    reminders.schedule(session, appt, settings=settings, clock=clock)  # the cancelled keys come back
    queued = [j for j in _reminder_jobs(session) if j.status == "queued"]
    assert sorted((j.payload["start_at"], j.payload["offset_minutes"]) for j in queued) == [
        ("2026-11-28T15:00:00+00:00", 60),
        ("2026-11-28T15:00:00+00:00", 1440),
    ]


def test_each_occurrence_of_a_series_is_reminded(session, sessions, settings, clock, context, mail, sms):
    provider = make_provider(session, settings)
    _, pid = make_patient(session, settings)
    series = AppointmentSeries(
        provider_id=provider.id,
        patient_id=pid,
        visit_type="therapy_session",
        first_start_at=START,
        timezone="America/New_York",
        every_weeks=1,
        occurrences=3,
    )
    session.add(series)
    session.flush()
    visits = [
        make_appointment(
            session,
            provider_id=provider.id,
            patient_id=pid,
            start=START + timedelta(weeks=n),
            series_id=series.id,
        )
        for n in range(3)
    ]
    for appt in visits:
        reminders.schedule(session, appt, settings=settings, clock=clock)
    session.commit()
    for n in range(3):
        for before in (timedelta(hours=24), timedelta(hours=1)):
            clock.advance(seconds=(START + timedelta(weeks=n) - before - clock.now()).total_seconds())
            assert _run(sessions, clock, context) == 1
    rows = _deliveries(session)
    assert {(r.appointment_id, r.offset_minutes, r.channel) for r in rows} == {
        (a.id, offset, channel) for a in visits for offset in (1440, 60) for channel in ("email", "sms")
    }
    assert len(mail.sent) == 6 and len(sms.sent) == 6


def test_a_late_worker_sends_the_closer_reminder_only(
    session, sessions, settings, clock, context, mail, visit
):
    reminders.schedule(session, visit["appt"], settings=settings, clock=clock)
    session.commit()
    clock.advance(hours=47, minutes=20)  # the worker was down: both reminders are due, the visit in 40 min
    assert _run(sessions, clock, context) == 2
    assert [r.offset_minutes for r in _deliveries(session)] == [60, 60]
    assert len(mail.sent) == 1


def test_a_failed_channel_is_retried_without_resending_the_other(
    session, sessions, settings, clock, mail, visit
):
    failing = RecordingSms(fail=True)
    context = WorkerContext(settings=settings, mailer=mail, sms=failing)
    reminders.schedule(session, visit["appt"], settings=settings, clock=clock)
    session.commit()
    clock.advance(hours=24)
    assert _run(sessions, clock, context) == 1
    assert len(mail.sent) == 1
    assert [(r.offset_minutes, r.channel) for r in _deliveries(session)] == [(1440, "email")]
    job = next(j for j in _reminder_jobs(session) if j.payload["offset_minutes"] == 1440)
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.last_error == "reminder channel failed: sms:ConnectionError"

    failing.fail = False
    clock.advance(minutes=1)
    assert _run(sessions, clock, context) == 1
    assert len(mail.sent) == 1  # not again
    assert len(failing.sent) == 1
    assert sorted(r.channel for r in _deliveries(session)) == ["email", "sms"]


class Crash(BaseException):
    """The process dies (no exception handler runs, the transaction is never committed)."""


class CrashAfterAccepting(RecordingMailer):
    def __init__(self) -> None:
        super().__init__()
        self.crash = True

    def send(self, mail: Mail) -> None:
        super().send(mail)  # the transport has accepted the message...
        if self.crash:
            raise Crash  # ...and the process dies before the commit


def test_a_crash_after_the_transport_accepted_sends_once_more_after_the_lease(
    session, sessions, settings, clock, sms, visit
):
    """The one duplicate window (ADR 0008): nothing was recorded, so the retry sends again. The recorded
    deliveries stay one per channel, and the repeated e-mail keeps its Message-ID."""
    mailer = CrashAfterAccepting()
    context = WorkerContext(settings=settings, mailer=mailer, sms=sms)
    reminders.schedule(session, visit["appt"], settings=settings, clock=clock)
    session.commit()
    clock.advance(hours=24)
    with pytest.raises(Crash):
        _run(sessions, clock, context)
    assert _deliveries(session) == []
    mailer.crash = False
    assert _run(sessions, clock, context) == 0  # still leased to the dead worker
    clock.advance(seconds=settings.job_lease_seconds)
    assert _run(sessions, clock, context) == 1
    assert len(mailer.sent) == 2
    assert mailer.sent[0].message_id == mailer.sent[1].message_id
    assert sorted(r.channel for r in _deliveries(session)) == ["email", "sms"]


# ---------------------------------------------------------------- notices with .ics


def _ics(mail: Mail) -> Calendar:
    (attachment,) = mail.attachments
    assert attachment.content_type.startswith("text/calendar")
    return Calendar.from_ical(attachment.content)


def test_booking_notice_mails_patient_and_clinician_with_an_invitation(
    session, sessions, settings, clock, context, mail, visit
):
    appt = visit["appt"]
    reminders.notify_change(session, appt, change="booked", settings=settings, clock=clock)
    session.commit()
    assert _run(sessions, clock, context) == 2
    by_to = {m.to: m for m in mail.sent}
    patient_mail = by_to[visit["user"].email]
    clinician_mail = next(m for to, m in by_to.items() if to != visit["user"].email)
    assert patient_mail.subject == "Your Careweave visit is booked"
    assert WHEN in patient_mail.body and "Dr. Rhea Testclinician" in patient_mail.body
    assert "Sat 28 Nov 2026, 9:00 AM CST" in clinician_mail.subject  # the clinician's own zone
    assert "Ana" not in clinician_mail.body  # the e-mail names nobody; the invitation does
    for m in (patient_mail, clinician_mail):
        cal = _ics(m)
        (event,) = cal.walk("VEVENT")
        assert str(cal["method"]) == "REQUEST"
        assert str(event["uid"]) == appt.ics_uid and int(event["sequence"]) == 0
        assert event.decoded("dtstart") == START
        assert str(event["attendee"]) == f"mailto:{m.to}"
    assert str(_ics(clinician_mail).walk("VEVENT")[0]["summary"]) == "Careweave video visit with Ana T."
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "appointment_notice.sent")).all()
    assert sorted(e.details["recipient"] for e in events) == ["clinician", "patient"]


def test_cancellation_notice_carries_method_cancel(session, sessions, settings, clock, context, mail, visit):
    appt = visit["appt"]
    appt.status, appt.ics_sequence = "cancelled", 1
    session.flush()
    reminders.notify_change(session, appt, change="cancelled", settings=settings, clock=clock)
    session.commit()
    _run(sessions, clock, context)
    assert len(mail.sent) == 2
    for m in mail.sent:
        cal = _ics(m)
        (event,) = cal.walk("VEVENT")
        assert str(cal["method"]) == "CANCEL" and str(event["status"]) == "CANCELLED"
        assert int(event["sequence"]) == 1
        assert m.attachments[0].filename == "cancel.ics"


def test_a_superseded_notice_is_not_sent(session, sessions, settings, clock, context, mail, visit):
    appt = visit["appt"]
    reminders.notify_change(session, appt, change="booked", settings=settings, clock=clock)
    appt.start_at += timedelta(hours=3)
    appt.end_at += timedelta(hours=3)
    appt.block_end_at += timedelta(hours=3)
    appt.ics_sequence += 1
    session.flush()
    reminders.notify_change(session, appt, change="rescheduled", settings=settings, clock=clock)
    session.commit()
    assert _run(sessions, clock, context) == 4
    assert {m.subject for m in mail.sent if m.to == visit["user"].email} == {
        "Your Careweave visit has a new time"
    }
    assert len(mail.sent) == 2


def test_notify_change_refuses_an_unknown_change(session, settings, clock, visit):
    with pytest.raises(ValueError, match="unknown change"):
        reminders.notify_change(session, visit["appt"], change="moved", settings=settings, clock=clock)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the worker command


def test_the_worker_pass_runs_due_jobs(session, sessions, settings, clock, mail, sms, visit):
    reminders.schedule(session, visit["appt"], settings=settings, clock=clock)
    session.commit()
    clock.advance(hours=24)
    _worker_pass(settings, sessions, mail, sms=sms, worker_id="host:7", clock=clock)
    assert len(mail.sent) == 1 and len(sms.sent) == 1
    assert {r.worker for r in _deliveries(session)} == {"host:7"}
