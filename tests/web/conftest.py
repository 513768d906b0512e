"""Every page test also checks that no SQL statement ran on the asyncio event loop.

Page handlers and their dependencies do their database work in FastAPI's threadpool (plain ``def``); a
statement executed on the loop's thread means an ``async def`` handler or dependency touched the database
and would stall every other request and the visit rooms' WebSockets while it waits.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@pytest.fixture(autouse=True)
def no_database_work_on_the_event_loop(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []
    # A loop already running in the test's own thread before the test is not the app's: Playwright's sync API
    # (tests/e2e, when run in the same process) leaves one in the main thread, where fixtures then run their
    # SQL. The app's loop is the TestClient's, in its portal thread.
    leftover = _running_loop()

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        loop = _running_loop()
        if loop is not None and loop is not leftover:
            where = "".join(traceback.format_stack(limit=14)[:-1])
            seen.append(f"{' '.join(statement.split())[:120]}\n{where}")

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)
    if seen:
        pytest.fail(
            f"{len(seen)} SQL statement(s) ran on the asyncio event loop (an async handler or dependency "
            "did database work; make it a plain def, read the form with web.auth.PostedForm). First:\n"
            + seen[0],
            pytrace=False,
        )
