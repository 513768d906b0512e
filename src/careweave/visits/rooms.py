"""Telling open visit rooms that their visit changed, once the change has committed.

A visit cancelled, moved, marked a no-show or completed elsewhere (a page, the API, FHIR) must close its
room at once, not at the room's next periodic check (visits.live, every SESSION_CHECK_S). The scheduling
service calls :func:`changed`; when its unit of work commits, a ``changed`` message goes to the room through
the signaling broker (visits.signaling: in-process, PostgreSQL LISTEN/NOTIFY or Redis, so a room served by
another app process hears it too), and each socket there re-checks the visit (visits.service.still_open)
and closes with the reason. Nothing is sent for a change that rolled back.

The unit of work says how to publish: a request's database session carries a publisher (careweave.deps
``get_db``, for the app's broker); a session without one (the CLI, the worker) publishes nothing, and rooms
rely on their periodic check.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from careweave.core.hooks import on_commit

PUBLISHER = "careweave.visits.publisher"  # session.info: Callable[[room, message], None]
CHANGED = {"type": "changed", "cid": "server", "side": "server"}

Publisher = Callable[[str, dict[str, Any]], None]


def changed(session: Session, appointment_id: uuid.UUID) -> None:
    """The visit changed: when this unit of work commits, its room re-checks whether it is still open."""
    publisher: Publisher | None = session.info.get(PUBLISHER)
    if publisher is not None:
        room = str(appointment_id)
        on_commit(session, lambda: publisher(room, dict(CHANGED)))


def publish_from_worker_thread(state: Any, room: str, message: dict[str, Any]) -> None:
    """Publish on the app's broker from a request's worker thread (where units of work commit)."""
    import anyio.from_thread

    from careweave.visits.live import get_broker

    anyio.from_thread.run(get_broker(state).publish, room, message)
