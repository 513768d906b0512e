"""Test fixtures: a migrated database per run (SQLite or PostgreSQL), each test inside a
rolled-back outer transaction, and the app wired to that transaction.

Choose the backend with ``--db=sqlite|postgresql`` (or ``CAREWEAVE_TEST_DB``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from careweave.app import create_app
from careweave.core.clock import FixedClock, SystemClock
from careweave.db.engine import make_engine
from careweave.db.migrate import upgrade_to_head
from careweave.notify.mail import Mail
from careweave.settings import Settings
from tests import pg


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("CAREWEAVE_TEST_DB", "sqlite"),
        help="database backend for the suite",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"careweave database backend: {config.getoption('--db')}"


class MemoryMailer:
    def __init__(self) -> None:
        self.sent: list[Mail] = []

    def send(self, mail: Mail) -> None:
        self.sent.append(mail)


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--db"))


class FreshDatabase:
    """Creates migrated databases on the chosen backend and removes them at the end."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self.tmp = tmp
        self.created: list[tuple[str, Engine]] = []

    def url(self) -> str:
        if self.backend == "postgresql":
            return pg.create_database()
        return f"sqlite:///{self.tmp / f'db{len(self.created)}.sqlite3'}"

    def engine(self, *, migrate: bool = True) -> Engine:
        url = self.url()
        engine = make_engine(url)
        self.created.append((url, engine))
        if migrate:
            upgrade_to_head(engine)
        return engine

    def cleanup(self) -> None:
        for url, engine in self.created:
            engine.dispose()
            if self.backend == "postgresql":
                pg.drop_database(url)


@pytest.fixture(scope="session")
def databases(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshDatabase]:
    fresh = FreshDatabase(backend, tmp_path_factory.mktemp("db"))
    yield fresh
    fresh.cleanup()


@pytest.fixture(scope="session")
def engine(databases: FreshDatabase) -> Engine:
    return databases.engine()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    # App code "commits" to savepoints; everything vanishes with the outer rollback.
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        secret_key="test-secret-key-" + "x" * 32,
        data_dir=tmp_path,
        database_url="sqlite://",
        mfa_required=True,
        base_url="http://testserver",
    )


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


@pytest.fixture
def fixed_clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session], clock: SystemClock, mailer: MemoryMailer):  # type: ignore[no-untyped-def]
    return create_app(settings, sessionmaker_=sessions, clock=clock, mailer=mailer)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
