from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from careweave.audit.models import AuditEvent
from careweave.cli import app
from careweave.db.engine import make_engine


@pytest.fixture
def cli_env(databases, tmp_path, monkeypatch):
    engine = databases.engine(migrate=False)
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("CAREWEAVE_DATABASE_URL", url)
    monkeypatch.setenv("CAREWEAVE_DATA_DIR", str(tmp_path))
    return url


def test_cli_migrate_create_list_and_verify(cli_env):
    runner = CliRunner()
    r = runner.invoke(app, ["users", "list"])
    assert r.exit_code == 1 and "careweave migrate" in r.output
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    again = runner.invoke(app, ["migrate"])
    assert again.exit_code == 0 and "already at head" in again.output
    r = runner.invoke(
        app,
        [
            "users",
            "create",
            "--email",
            "pat@test.careweave.example",
            "--role",
            "patient",
            "--password",
            "a long enough secret",
            "--name",
            "Pat Cli",
        ],
    )
    assert r.exit_code == 0, r.output
    user_id = uuid.UUID(r.output.strip())
    listing = runner.invoke(app, ["users", "list"])
    assert str(user_id) in listing.output and "pat@test.careweave.example" in listing.output
    dup = runner.invoke(
        app,
        [
            "users",
            "create",
            "--email",
            "pat@test.careweave.example",
            "--role",
            "patient",
            "--password",
            "a long enough secret",
        ],
    )
    assert dup.exit_code == 1 and "already exists" in dup.output
    weak = runner.invoke(
        app,
        ["users", "create", "--email", "w@test.careweave.example", "--role", "admin", "--password", "short"],
    )
    assert weak.exit_code == 1 and "password" in weak.output
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.output


def test_cli_audit_verify_detects_an_edited_event(cli_env):
    runner = CliRunner()
    runner.invoke(app, ["migrate"])
    runner.invoke(
        app,
        [
            "users",
            "create",
            "--email",
            "p2@test.careweave.example",
            "--role",
            "patient",
            "--password",
            "a long enough secret",
        ],
    )
    engine = make_engine(cli_env)
    with engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.seq == 1).values(action="nothing.to.see"))
    engine.dispose()
    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code == 1
    assert "BROKEN" in r.output
    assert "seq 1: contents changed" in r.output


def test_cli_demo_data_loads_once(cli_env):
    runner = CliRunner()
    runner.invoke(app, ["migrate"])
    first = runner.invoke(app, ["demo-data"])
    assert first.exit_code == 0 and "Loaded the demo clinic" in first.output
    assert "psychiatrist1@demo.careweave.example" in first.output
    second = runner.invoke(app, ["demo-data"])
    assert "existing data kept" in second.output
    listing = runner.invoke(app, ["users", "list"]).output.strip().splitlines()
    assert len(listing) == 38
