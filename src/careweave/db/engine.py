"""Engines that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default would be psycopg2)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


REQUEST_THREADS = 40  # anyio.to_thread's default limiter, which Starlette uses for sync endpoints


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,  # SQL parameters may hold PHI: keep them out of errors and logs
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # SQLAlchemy, not the sqlite3 module, decides when BEGIN runs: without this,
            # savepoints and transactional DDL misbehave.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # Reads of the first GiB of the file as memory, not a read() per page: matching scans a large state's
            # documents (https://www.sqlite.org/mmap.html; writes still go through the WAL). Modest, measured gain
            # at the benchmark directory's tail (docs/benchmarks.md, session 7).
            cursor.execute("PRAGMA mmap_size = 1073741824")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front: nearly every unit of work writes
            # (audit rows), and a deferred transaction that reads then writes fails with
            # SQLITE_BUSY instead of waiting. See docs/adr/0003-sqlite-write-serialisation.md.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # At least as many connections as request threads (AnyIO's default limiter: 40). FastAPI runs a request's
    # sync dependencies and endpoint as separate thread-pool calls and a session connects on first use, so
    # with fewer connections than threads, threads waiting for a connection can starve the requests that
    # hold one (seen with 50 concurrent bookings). Size PostgreSQL's max_connections for 40 per app process.
    return create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=REQUEST_THREADS - 10,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def backend(engine_or_session: Engine | Session) -> str:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name
