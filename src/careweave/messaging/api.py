"""JSON API for secure messaging (issue #6): threads, messages, read receipts, unread counts."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from careweave.deps import ClockDep, CurrentActor, DbSession, MailerDep, SettingsDep
from careweave.messaging import service
from careweave.messaging.schemas import (
    ConsentScope,
    CrisisRead,
    MessageCreate,
    MessageRead,
    MessageSent,
    ParticipantRead,
    ThreadCreate,
    ThreadRead,
    ThreadSummary,
)

router = APIRouter(tags=["messaging"])
NOT_FOUND = {404: {"description": "No such thread or patient, or you do not (or no longer) take part"}}
CONSENT = {
    403: {
        "description": "consent_required: the patient has not consented to share anything between these clinicians"
    }
}
CRISIS_TEXT = (
    "If you are in immediate danger, call 911 now. You can call or text 988 (Suicide & Crisis Lifeline) or chat "
    "at 988lifeline.org any time. A clinician on our team has been alerted."
)


def _participants(views: list[service.ParticipantView]) -> list[ParticipantRead]:
    return [
        ParticipantRead(
            user_id=p.user_id,
            name=p.name,
            role=p.role,
            last_read_at=p.last_read_at,
            last_read_message_id=p.last_read_message_id,
        )
        for p in views
    ]


def _summary(view: service.ThreadView) -> ThreadSummary:
    t = view.thread
    return ThreadSummary(
        id=t.id,
        patient_id=t.patient_id,
        patient_name=view.patient_name,
        kind=t.kind,  # type: ignore[arg-type]
        subject=t.subject,
        created_at=t.created_at,
        last_message_at=t.last_message_at,
        unread_count=view.unread,
        participants=_participants(view.participants),
    )


def _message(m: service.MessageView) -> MessageRead:
    return MessageRead(
        id=m.message.id,
        sender_user_id=m.message.sender_user_id,
        sender_name=m.sender_name,
        body=m.message.body,
        created_at=m.message.created_at,
        crisis_flag=m.message.crisis_flag,
        seen_by=m.seen_by,
    )


def _sent(outcome: service.SendOutcome) -> MessageSent:
    m = outcome.message
    crisis = None
    if outcome.crisis.matched and outcome.crisis.level is not None:
        crisis = CrisisRead(level=outcome.crisis.level, message=CRISIS_TEXT, safety_alert_id=outcome.alert_id)
    return MessageSent(
        message=MessageRead(
            id=m.id,
            sender_user_id=m.sender_user_id,
            sender_name=outcome.sender_name,
            body=m.body,
            created_at=m.created_at,
            crisis_flag=m.crisis_flag,
            seen_by=[],
        ),
        crisis=crisis,
    )


def _detail(d: service.ThreadDetail) -> ThreadRead:
    consent = None
    if d.scope is not None:
        consent = ConsentScope(
            shared_categories=d.scope.shared,
            by_participant={str(u): cats for u, cats in d.scope.by_user.items()},
            banner=d.banner or "",
        )
    return ThreadRead(
        **_summary(d.view).model_dump(),
        messages=[_message(m) for m in d.messages],
        notice=d.notice,
        consent=consent,
    )


@router.post(
    "/threads",
    response_model=ThreadRead,
    status_code=201,
    responses={
        **NOT_FOUND,
        **CONSENT,
        422: {"description": "Participants not on the care team, or bad input"},
    },
    summary="Start a thread about a patient (patient ⇄ care team, or clinician ⇄ clinician under consent)",
)
def create_thread(
    body: ThreadCreate,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    mailer: MailerDep,
) -> ThreadRead:
    thread, _ = service.create_thread(
        session,
        actor,
        patient_id=body.patient_id,
        participants=body.participants,
        subject=body.subject,
        kind=body.kind,
        body=body.body,
        clock=clock,
        settings=settings,
        mailer=mailer,
    )
    return _detail(service.get_thread(session, actor, thread.id, clock=clock))


@router.get(
    "/threads", response_model=list[ThreadSummary], summary="Your threads, newest first, with unread counts"
)
def list_threads(
    actor: CurrentActor, session: DbSession, clock: ClockDep, patient_id: uuid.UUID | None = None
) -> list[ThreadSummary]:
    return [_summary(v) for v in service.list_threads(session, actor, clock=clock, patient_id=patient_id)]


@router.get(
    "/threads/{thread_id}",
    response_model=ThreadRead,
    responses=NOT_FOUND,
    summary="A thread: messages with read receipts (who has read up to which message)",
)
def get_thread(thread_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep) -> ThreadRead:
    return _detail(service.get_thread(session, actor, thread_id, clock=clock))


@router.post(
    "/threads/{thread_id}/messages",
    response_model=MessageSent,
    status_code=201,
    responses={**NOT_FOUND, **CONSENT},
    summary="Send a message (a patient's message with crisis language shows the crisis panel and alerts a clinician)",
)
def send_message(
    thread_id: uuid.UUID,
    body: MessageCreate,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    mailer: MailerDep,
) -> MessageSent:
    outcome = service.send_message(
        session, actor, thread_id, body.body, clock=clock, settings=settings, mailer=mailer
    )
    return _sent(outcome)


@router.post(
    "/threads/{thread_id}/read",
    response_model=ThreadSummary,
    responses=NOT_FOUND,
    summary="Mark the thread read up to its latest message",
)
def mark_read(
    thread_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ThreadSummary:
    return _summary(service.mark_read(session, actor, thread_id, clock=clock))
