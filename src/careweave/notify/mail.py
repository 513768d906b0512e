"""E-mail transports. Messages never carry clinical information, only links and notices."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

import structlog

from careweave.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message, e.g. ``Attachment("invite.ics", data, "text/calendar; method=REQUEST")``."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"  # may carry parameters: "text/calendar; method=CANCEL"


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()
    # A stable Message-ID (``<local@domain>``) for a message that may be sent again after a crash: mail
    # systems that de-duplicate by Message-ID then show it once. None: a fresh one per send.
    message_id: str | None = None


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


def _message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Message-ID"] = mail.message_id or make_msgid(domain="careweave.invalid")
    msg["Date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    # 7bit keeps links readable in the console/file transports (no quoted-printable "=3D").
    msg.set_content(mail.body, cte="7bit" if mail.body.isascii() else "quoted-printable")
    for attachment in mail.attachments:
        kind, *raw_params = (part.strip() for part in attachment.content_type.split(";"))
        maintype, _, subtype = kind.partition("/")
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        msg.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
            params=params,
        )
    return msg


class ConsoleMailer:
    """Local development: print the message to the server's standard output."""

    def __init__(self, sender: str) -> None:
        self.sender = sender

    def send(self, mail: Mail) -> None:
        print(
            f"\n----- mail (console transport) -----\n{_message(mail, self.sender)}\n-----",
            flush=True,
        )


class FileMailer:
    """Writes each message as an .eml file (used by tests and offline demos)."""

    def __init__(self, sender: str, directory: Path) -> None:
        self.sender = sender
        self.directory = directory

    def send(self, mail: Mail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.directory / f"{stamp}.eml"
        path.write_bytes(bytes(_message(mail, self.sender)))
        log.info("mail.written", path=str(path))


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, mail: Mail) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=20) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(_message(mail, s.mail_from))
        log.info("mail.sent")


def make_mailer(settings: Settings) -> Mailer:
    if settings.mail_transport == "smtp":
        return SmtpMailer(settings)
    if settings.mail_transport == "file":
        return FileMailer(settings.mail_from, settings.data_dir / "mail")
    return ConsoleMailer(settings.mail_from)
