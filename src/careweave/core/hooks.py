"""After-commit callbacks: side effects (mail) that must happen only if the unit commits."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy.orm import Session

log = structlog.get_logger(__name__)
_KEY = "careweave.on_commit"


def on_commit(session: Session, fn: Callable[[], None]) -> None:
    session.info.setdefault(_KEY, []).append(fn)


def run_on_commit(session: Session) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop(_KEY, [])
    for fn in callbacks:
        try:
            fn()
        except Exception:  # a failed side effect must not turn a committed request into a 500
            log.exception("on_commit.failed")


def discard_on_commit(session: Session) -> None:
    session.info.pop(_KEY, None)
