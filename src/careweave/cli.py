"""The ``careweave`` command. Each command is one unit of work around service calls."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock, SystemClock
from careweave.core.errors import DomainError
from careweave.db.engine import make_engine, make_sessionmaker
from careweave.db.migrate import (
    SchemaNotCurrent,
    check_schema,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from careweave.db.uow import unit_of_work
from careweave.notify.mail import Mailer
from careweave.notify.sms import SmsSender
from careweave.settings import Settings, load_settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Careweave: collaborative mental-health telehealth.",
)
users_app = typer.Typer(no_args_is_help=True, help="Manage user accounts.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail.")
directory_app = typer.Typer(no_args_is_help=True, help="The provider directory.")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(directory_app, name="directory")
labs_app = typer.Typer(no_args_is_help=True, help="Labs and monitoring.")
app.add_typer(labs_app, name="labs")


def _settings() -> Settings:
    settings = load_settings()
    if settings.database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _migrated_engine(settings: Settings) -> Engine:
    """The database engine, or exit 1 with a clear message if the schema is not at head."""
    engine = make_engine(settings.database_url)
    try:
        check_schema(engine)
    except SchemaNotCurrent as exc:
        raise _fail(str(exc)) from exc
    return engine


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@app.command()
def migrate() -> None:
    """Upgrade the database schema to this version's head."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        check_schema(engine)
        typer.echo(f"Schema already at head ({head_revision()}).")
        return
    except SchemaNotCurrent:
        pass
    known_newer = current_revision(engine)
    try:
        upgrade_to_head(engine)
    except Exception as exc:
        raise _fail(f"Migration failed at revision {known_newer}: {exc}") from exc
    typer.echo(f"Migrated to {head_revision()}.")


def _load_demo(settings: Settings) -> None:
    from careweave.demo.seed import demo_logins, has_demo_users, seed_if_empty

    engine = make_engine(settings.database_url)
    with unit_of_work(make_sessionmaker(engine)) as session:
        created = seed_if_empty(session, settings=settings, clock=SystemClock())
        demo_present = created is not None or has_demo_users(session)
    if created is None:
        typer.echo("The database already has users; demo data not loaded (existing data kept).")
    else:
        typer.echo(
            "Loaded the demo clinic: 1 admin, 2 care managers, 10 therapists, 5 psychiatrists, 20 patients."
        )
    if demo_present:
        typer.echo("\nDemo log-ins (synthetic people; password for all):")
        for login in demo_logins():
            typer.echo(f"  {login.role.value:<13} {login.email:<42} {login.password}")


@app.command("demo-data")
def demo_data() -> None:
    """Load synthetic demo data if the database has no users yet."""
    settings = _settings()
    _migrated_engine(settings)
    _load_demo(settings)


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    _migrated_engine(settings)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    typer.secho(
        f"\nCareweave is running: open http://{shown}:{port}/  (Ctrl+C stops it)\n",
        fg=typer.colors.GREEN,
    )
    if workers > 1:
        uvicorn.run(
            "careweave.asgi:app",
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            log_level="warning",
        )
    else:
        from careweave.app import create_app
        from careweave.core.runtime import freeze_heap

        application = create_app(settings)
        freeze_heap()  # started: core.runtime (ADR 0014)
        uvicorn.run(application, host=host, port=port, proxy_headers=True, log_level="warning")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL for more than one)")] = 1,
) -> None:
    """Serve the app (the schema must be migrated)."""
    _serve(_settings(), host, port, workers)


@app.command()
def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Migrate, load demo data when the database is empty, and serve."""
    import threading

    migrate()
    settings = _settings()
    _load_demo(settings)
    # The embedded default runs the background worker in-process; production runs
    # `careweave worker` as its own process(es).
    threading.Thread(target=_worker_loop, args=(settings,), kwargs={"once": False}, daemon=True).start()
    _serve(settings, host, port, 1)


def _worker_pass(
    settings: Settings,
    factory: sessionmaker[Session],
    mailer: Mailer,
    *,
    sms: SmsSender | None = None,
    worker_id: str | None = None,
    clock: Clock | None = None,
) -> int:
    """One pass of every background duty; returns how many safety alerts were escalated."""
    from careweave.directory import licensing
    from careweave.jobs import queue
    from careweave.labs import service as labs
    from careweave.notify.sms import make_sms_sender
    from careweave.outcomes import service as outcomes
    from careweave.safety import service as safety
    from careweave.scheduling import earliest, waitlist

    clock = clock or SystemClock()
    with unit_of_work(factory) as session:
        escalated = safety.escalate_due(session, clock=clock, settings=settings, mailer=mailer)
    with unit_of_work(factory) as session:  # after the safety work, which must not wait for it
        expired = licensing.expire_licences(session, clock=clock)
    if expired:
        typer.echo(f"worker: marked {expired} licence(s) expired")
    with unit_of_work(factory) as session:  # offers past their deadline (a safety net for their jobs)
        waitlist.expire_due(session, clock=clock, settings=settings)
    # Providers' stored earliest free times (issue #4 matching): short units, so no booking waits long.
    for _ in range(earliest.DUE_BATCHES_PER_PASS):
        with unit_of_work(factory) as session:
            if earliest.refresh_due(session, clock=clock) < earliest.DUE_PER_PASS:
                break
    with unit_of_work(factory) as session:  # lab monitoring: extend plans nearing their horizon (issue #7)
        labs.extend_due_plans(session, clock=clock)
    with unit_of_work(factory) as session:  # measurement-based care: due check-ins, idle episodes (issue #8)
        outcomes.enqueue_due_reminders(session, clock=clock)
        outcomes.close_idle_episodes(session, clock=clock)
    # Due jobs (reminders, appointment notices): each in its own unit of work (docs/adr/0008-job-queue.md).
    context = queue.WorkerContext(settings=settings, mailer=mailer, sms=sms or make_sms_sender(settings))
    ran = queue.run_due(
        factory, worker_id=worker_id or queue.default_worker_id(), clock=clock, context=context
    )
    if ran:
        typer.echo(f"worker: ran {ran} job(s)")
    return escalated


def _worker_loop(settings: Settings, *, once: bool) -> None:
    import time

    # Every mapped table, not only the safety ones: flushing an alert resolves its foreign keys
    # (screening_responses, ...), which fails in a process that never imported those models.
    import careweave.db.all_models  # noqa: F401
    from careweave.jobs.queue import default_worker_id
    from careweave.notify.mail import make_mailer
    from careweave.notify.sms import make_sms_sender

    engine = make_engine(settings.database_url)
    factory, mailer, sms = make_sessionmaker(engine), make_mailer(settings), make_sms_sender(settings)
    worker_id = default_worker_id()  # hostname:pid, recorded as the lease holder of the jobs it runs
    while True:
        try:
            escalated = _worker_pass(settings, factory, mailer, sms=sms, worker_id=worker_id)
        except Exception as exc:  # keep the loop alive; the pass is retried on the next tick
            if once:
                raise
            typer.echo(f"worker: pass failed ({type(exc).__name__}); retrying", err=True)
            escalated = 0
        if escalated or once:
            typer.echo(f"worker: escalated {escalated} safety alert(s)")
        if once:
            return
        time.sleep(settings.worker_poll_seconds)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run one pass and exit (for cron or tests)")] = False,
) -> None:
    """Background work: escalate safety alerts nobody acknowledged in time, mark expired licences, extend lab
    monitoring plans nearing their horizon, and run due jobs (appointment reminders and notices).

    Safe to run several copies: each pass claims due alerts and jobs with FOR UPDATE SKIP LOCKED.
    """
    settings = _settings()
    _migrated_engine(settings)
    from careweave.core.runtime import freeze_heap, tune_gc

    tune_gc()
    freeze_heap()
    _worker_loop(settings, once=once)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Log-in e-mail")],
    role: Annotated[Role, typer.Option(help="Role", case_sensitive=False)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    name: Annotated[str, typer.Option(help="Full name")] = "",
) -> None:
    """Create a user and print its id (a patient gets a patient record at once)."""
    from careweave.identity import service as identity

    settings = _settings()
    engine = _migrated_engine(settings)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            user = identity.create_user(
                session,
                Actor.system(),
                email=email,
                role=role,
                password=password,
                full_name=name,
                settings=settings,
                clock=SystemClock(),
            )
            user_id = user.id
    except DomainError as exc:
        detail = "; ".join(f"{f.field}: {f.message}" for f in getattr(exc, "fields", []))
        raise _fail(f"{exc}" + (f" ({detail})" if detail else "")) from exc
    typer.echo(str(user_id))


@users_app.command("list")
def users_list(role: Annotated[Role | None, typer.Option(case_sensitive=False)] = None) -> None:
    """List users: id, role, e-mail, status."""
    from careweave.identity import service as identity

    settings = _settings()
    engine = _migrated_engine(settings)
    with unit_of_work(make_sessionmaker(engine)) as session:
        rows = identity.list_users(
            session, Actor.system(), clock=SystemClock(), role=role.value if role else None
        )
        for u in rows:
            status = "active" if u.is_active else "inactive"
            mfa = "mfa" if u.mfa_enabled else "-"
            typer.echo(f"{u.id}  {u.role:<13} {u.email:<42} {status:<8} {mfa}")


@audit_app.command("verify")
def audit_verify(
    anchors: Annotated[
        Path | None,
        typer.Option(help="A file of anchor lines (careweave audit anchor): each must still match the chain"),
    ] = None,
) -> None:
    """Recompute the audit hash chain; exit 1 if any event was changed, removed or reordered, or if the chain
    contradicts an anchor kept outside the database."""
    from careweave.audit import chain
    from careweave.audit import service as audit

    settings = _settings()
    found: list[chain.Anchor] = []
    if anchors is not None:
        try:
            text = anchors.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"cannot read {anchors}: {exc}") from None
        found, bad = chain.parse_anchors(text)
        if bad:
            for problem in bad:
                typer.echo(problem, err=True)
            raise _fail(f"{anchors}: {len(bad)} line(s) are not anchors.")
    engine = _migrated_engine(settings)
    with unit_of_work(make_sessionmaker(engine)) as session:
        result = audit.verify(session, found)
    if result.ok:
        checked = f" and {len(found)} anchor(s)" if found else ""
        typer.secho(f"Audit chain intact: {result.checked} events{checked} verified.", fg=typer.colors.GREEN)
        return
    for problem in result.problems:
        typer.echo(problem, err=True)
    raise _fail(f"Audit chain BROKEN: {len(result.problems)} problem(s) in {result.checked} events.")


@audit_app.command("anchor")
def audit_anchor(
    append: Annotated[
        Path | None, typer.Option(help="Also append the lines to this file (keep it outside the database)")
    ] = None,
) -> None:
    """Print each audit chain's head as a JSON line (chain, seq, hash, time): keep them outside the database,
    and give the file to `careweave audit verify --anchors` later to detect a rewritten history."""
    from careweave.audit import service as audit

    settings = _settings()
    engine = _migrated_engine(settings)
    with unit_of_work(make_sessionmaker(engine)) as session:
        line = audit.anchor(session, clock=SystemClock())
    if append is not None:
        try:
            with append.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as exc:
            raise _fail(f"cannot append to {append}: {exc}") from None
    typer.echo(line)


@directory_app.command("import")
def directory_import(
    file: Annotated[typer.FileBinaryRead, typer.Argument(help="CSV file (format: docs/directory.md)")],
    dry_run: Annotated[bool, typer.Option(help="Check every row; store nothing")] = False,
) -> None:
    """Import providers and licences from a CSV file: all rows, or none if any row has a problem."""
    import careweave.db.all_models  # noqa: F401  (providers refer to users and clinics)
    from careweave.directory import csv_import

    settings = _settings()
    engine = _migrated_engine(settings)
    with unit_of_work(make_sessionmaker(engine)) as session:
        report = csv_import.import_csv(
            session, Actor.system(), file.read(), clock=SystemClock(), dry_run=dry_run
        )
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(code=1)


@labs_app.command("ingest")
def labs_ingest(
    file: Annotated[
        typer.FileBinaryRead, typer.Argument(help="An HL7 v2 ORU^R01 message (format: docs/labs.md)")
    ],
) -> None:
    """Ingest an HL7 v2 ORU^R01 lab result message: all its results, or none if it is malformed. Prints the ACK."""
    import careweave.db.all_models  # noqa: F401
    from careweave.core.errors import DomainError
    from careweave.labs import service as labs

    settings = _settings()
    engine = _migrated_engine(settings)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            outcome = labs.ingest_hl7v2(
                session, file.read().decode("utf-8"), Actor.system(), clock=SystemClock()
            )
    except (DomainError, UnicodeDecodeError) as exc:
        fields = "; ".join(f"{f.field}: {f.message}" for f in getattr(exc, "fields", []))
        raise _fail(f"refused: {getattr(exc, 'message', exc)}" + (f" ({fields})" if fields else "")) from None
    typer.echo(outcome.ack.replace("\r", "\n"))
    if outcome.duplicate:
        typer.echo("(already received: nothing stored again)")


def main() -> None:
    app(prog_name="careweave")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
