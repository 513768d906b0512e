"""Jobs of messaging (run by `careweave worker`; enqueued in the unit that sent the message)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from careweave.identity import service as identity
from careweave.jobs import queue
from careweave.messaging import service
from careweave.notify.mail import Mail
from careweave.notify.sms import Sms

SUBJECT = "You have a new message in Careweave"


@queue.handler(service.NOTICE_KIND)
def send_message_notice(ctx: queue.JobContext, payload: Mapping[str, Any]) -> None:
    """Tell a participant a message is waiting: no content, no subject, no names; only a link that needs a
    log-in. Skipped when they have read it meanwhile or no longer take part."""
    thread_id, user_id = uuid.UUID(str(payload["thread_id"])), uuid.UUID(str(payload["user_id"]))
    target = service.notice_target(ctx.session, thread_id, user_id)
    if target is None:
        return
    thread, patient = target
    user = identity.get_user(ctx.session, user_id)
    if not user.is_active:
        return
    link = f"{ctx.settings.base_url.rstrip('/')}/messages/{thread.id}"
    ctx.mailer.send(
        Mail(
            to=user.email,
            subject=SUBJECT,
            body=(
                f"{SUBJECT}. Sign in to read it:\n{link}\n\n"
                "Messages are not monitored 24/7. In an emergency call 911; "
                "for a mental-health crisis call or text 988.\n"
            ),
            message_id=f"<message-notice-{ctx.job_id}@careweave.invalid>",
        )
    )
    if user_id == patient.user_id and patient.phone and "sms" in ctx.settings.reminder_channels:
        ctx.sms.send(
            Sms(
                to=patient.phone,
                body=f"Careweave: you have a new message. Sign in to read it: {link}",
                key=f"message-notice-{ctx.job_id}",
            )
        )
