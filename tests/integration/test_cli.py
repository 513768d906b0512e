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


def _rewrite_history(url: str) -> None:
    """What an attacker with write access does to hide an edit from `verify`: change an event, then recompute
    every later hash and the head."""
    from sqlalchemy import select

    from careweave.audit import chain
    from careweave.audit.models import AuditChainHead

    engine = make_engine(url)
    with engine.begin() as conn:
        on_1 = AuditEvent.chain == 1
        conn.execute(update(AuditEvent).where(on_1, AuditEvent.seq == 1).values(action="nothing.to.see"))
        prev = chain.GENESIS
        rows = conn.execute(select(AuditEvent).where(on_1).order_by(AuditEvent.seq))
        for row in rows.mappings().all():
            fields = {name: row[name] for name in chain.HASHED_FIELDS}
            new = chain.event_hash(prev, fields)
            conn.execute(
                update(AuditEvent).where(AuditEvent.id == row["id"]).values(prev_hash=prev, hash=new)
            )
            prev = new
        conn.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(hash=prev))
    engine.dispose()


def test_cli_audit_anchor_catches_a_rewritten_history(cli_env, tmp_path):
    """`audit anchor` keeps the head outside the database; `audit verify --anchors` then catches a history
    rewritten with every hash recomputed, which the chain alone cannot."""
    runner = CliRunner()
    runner.invoke(app, ["migrate"])
    created = runner.invoke(
        app,
        [
            "users",
            "create",
            "--email",
            "p3@test.careweave.example",
            "--role",
            "patient",
            "--password",
            "a long enough secret",
        ],
    )
    assert created.exit_code == 0, created.output
    anchors = tmp_path / "anchors.jsonl"
    first = runner.invoke(app, ["audit", "anchor", "--append", str(anchors)])
    assert first.exit_code == 0, first.output
    line = first.output.strip()
    assert anchors.read_text().splitlines() == [line]
    assert '"seq":' in line and '"hash":' in line and '"taken_at":' in line
    ok = runner.invoke(app, ["audit", "verify", "--anchors", str(anchors)])
    assert ok.exit_code == 0 and "1 anchor(s)" in ok.output, ok.output

    _rewrite_history(cli_env)
    fooled = runner.invoke(app, ["audit", "verify"])
    assert fooled.exit_code == 0  # the chain alone is consistent again: this is the gap anchors close
    caught = runner.invoke(app, ["audit", "verify", "--anchors", str(anchors)])
    assert caught.exit_code == 1 and "BROKEN" in caught.output
    assert "history up to it was rewritten" in caught.output


def test_cli_audit_verify_refuses_a_file_that_is_not_anchors(cli_env, tmp_path):
    runner = CliRunner()
    runner.invoke(app, ["migrate"])
    bad = tmp_path / "anchors.jsonl"
    bad.write_text('{"seq": 1}\nnot json\n')
    r = runner.invoke(app, ["audit", "verify", "--anchors", str(bad)])
    assert r.exit_code == 1
    assert "anchor line 1" in r.output and "anchor line 2" in r.output
    missing = runner.invoke(app, ["audit", "verify", "--anchors", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 1 and "cannot read" in missing.output
