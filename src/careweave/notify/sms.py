"""Text-message transports. Like e-mail, a message never carries clinical information: a notice and a link.

- ``console``: print the message (local development);
- ``file``: append one JSON line per message to ``data_dir/sms.log`` (the "local SMS log" a demo user reads);
- ``http``: POST ``{"to", "body"}`` as JSON to ``CAREWEAVE_SMS_HTTP_URL`` with a bearer token (a provider's
  webhook API or a small relay in front of one). ``Idempotency-Key`` carries the message's key when it has one,
  so a provider that honours it drops a resend (docs/adr/0008-job-queue.md).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog

from careweave.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Sms:
    to: str
    body: str
    key: str | None = None  # a stable id of this message (idempotency key for transports that support one)


class SmsSender(Protocol):
    def send(self, sms: Sms) -> None: ...


class SmsError(RuntimeError):
    """The transport refused or failed to take the message. The text never holds the number or the body."""


class ConsoleSms:
    def send(self, sms: Sms) -> None:
        print(f"\n----- sms (console transport) -----\nTo: {sms.to}\n\n{sms.body}\n-----", flush=True)


class FileSms:
    """Appends JSON lines to one file; safe across threads of a process (and, for lines this short,
    across processes: each line is one ``O_APPEND`` write)."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, sms: Sms) -> None:
        line = json.dumps(
            {"at": datetime.now(UTC).isoformat(), "to": sms.to, "body": sms.body, "key": sms.key},
            ensure_ascii=False,
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        log.info("sms.written", path=str(self.path))


class HttpSms:
    def __init__(self, url: str, token: str, *, timeout: float = 20.0) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("CAREWEAVE_SMS_HTTP_URL must be an http(s) URL")
        self.url = url
        self.token = token
        self.timeout = timeout

    def send(self, sms: Sms) -> None:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if sms.key:
            headers["Idempotency-Key"] = sms.key
        data = json.dumps({"to": sms.to, "body": sms.body}).encode()
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (scheme checked)
                status = response.status
        except urllib.error.HTTPError as exc:
            raise SmsError(f"sms gateway answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SmsError(f"sms gateway unreachable ({type(exc).__name__})") from None
        if not 200 <= status < 300:
            raise SmsError(f"sms gateway answered {status}")
        log.info("sms.sent", status=status)


def make_sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_transport == "http":
        if not settings.sms_http_url:
            raise ValueError("CAREWEAVE_SMS_TRANSPORT=http needs CAREWEAVE_SMS_HTTP_URL")
        return HttpSms(settings.sms_http_url, settings.sms_http_token.get_secret_value())
    if settings.sms_transport == "file":
        return FileSms(settings.data_dir / "sms.log")
    return ConsoleSms()
