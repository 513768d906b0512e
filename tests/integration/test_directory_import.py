"""Bulk CSV import of the provider directory (issue #4): every row checked with the API's rules,
a row-by-row report, and nothing half-imported."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from careweave.audit.models import AuditEvent
from careweave.cli import app
from careweave.core.actor import Actor, Role
from careweave.core.errors import PolicyDenied
from careweave.directory import csv_import, service
from careweave.directory.models import License, Provider
from careweave.identity import service as identity
from tests.builders import make_user

NPI_A, NPI_B, NPI_C = "1234567893", "1987654328", "1456789019"  # valid check digits
HEADER = (
    "name,credential,npi,offers,conditions,languages,gender,timezone,accepting_new_patients,capacity,"
    "networks,license_state,license_type,license_number,license_status,license_issued,license_expires"
)
SYSTEM = Actor.system()
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "directory-import-example.csv"


def _csv(*rows: str) -> str:
    return "\n".join((HEADER, *rows)) + "\n"


@pytest.fixture
def plans(session, clock):
    ppo = service.create_plan(session, SYSTEM, payer="Demo Health", name="PPO", clock=clock)
    hmo = service.create_plan(session, SYSTEM, payer="Lakeside Mutual", name="HMO", clock=clock)
    return {"ppo": ppo.id, "hmo": hmo.id}


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _events(session, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
    )


def _where(report) -> set[tuple[int, str]]:
    return {(p.row, p.field) for p in report.problems}


def test_good_rows_import_providers_with_merged_licences(session, clock, plans):
    text = _csv(
        f"Dr. Rosa Example,md,{NPI_A},therapy;medication_management,depression;Anxiety,en;es,female,"
        f"America/Chicago,yes,40,Demo Health / PPO;{plans['hmo']},TX,MD,TX-1,active,2019-07-01,2027-06-30",
        # same NPI: provider columns blank or repeated; each row adds a licence
        f",,{NPI_A},,,,,,,,,CA,physician,CA-2,,2021-02-01,2027-01-31",
        f"Dr. Rosa Example,MD,{NPI_A},,,,,,,,demo health/ppo;Lakeside Mutual / HMO,NM,MD,NM-3,,,",
        "",  # blank rows are skipped
        f"Sam Example,LCSW,{NPI_B},therapy,ptsd,en,nonbinary,America/Denver,no,0,,CO,LCSW,CO-9,inactive,,",
        "Jordan Example,PsyD,,therapy,anxiety,en,,,,,,,,,,,",
    )
    report = csv_import.import_csv(session, SYSTEM, text, clock=clock)
    assert report.ok, report.lines()
    assert (report.rows, report.providers, report.licenses) == (5, 3, 4)
    assert report.imported and report.summary().startswith("Imported 3 provider(s) and 4 licence(s)")

    rows, total = service.search_providers(session, SYSTEM, query="example")
    assert total == 3
    by_name = {v.provider.name: v for v in rows}
    rosa = by_name["Dr. Rosa Example"]
    assert rosa.provider.credential == "MD" and rosa.provider.npi == NPI_A
    assert rosa.offers == ["therapy", "medication_management"]
    assert rosa.conditions == ["anxiety", "depression"]
    assert rosa.languages == ["en", "es"]
    assert sorted(rosa.networks) == sorted(plans.values())
    assert sorted((lic.state, lic.license_type, lic.number) for lic in rosa.licenses) == [
        ("CA", "PHYSICIAN", "CA-2"),
        ("NM", "MD", "NM-3"),
        ("TX", "MD", "TX-1"),
    ]
    assert {lic.expires.isoformat() for lic in rosa.licenses if lic.state == "TX"} == {"2027-06-30"}
    sam = by_name["Sam Example"]
    assert sam.provider.accepting_new_patients is False and sam.provider.capacity == 0
    assert [lic.status for lic in sam.licenses] == ["inactive"]
    assert by_name["Jordan Example"].provider.npi is None and by_name["Jordan Example"].licenses == []

    [event] = _events(session, "directory.imported")
    assert event.outcome == "success" and event.actor_user_id is None
    assert event.details == {"rows": 5, "providers": 3, "licenses": 4, "problems": 0}
    assert len(_events(session, "provider.created")) == 3
    assert len(_events(session, "license.added")) == 4


def test_bad_rows_give_a_full_report_and_import_nothing(session, clock, plans):
    text = _csv(
        f"Good Provider,LPC,{NPI_C},therapy,anxiety,en,,,,,,TX,LPC,TX-LPC-1,,,",
        "Bad Npi,LCSW,1234567890,therapy,,,,,,,,,,,,,",
        "Unknown Credential,WIZARD,,therapy,,,,,,,,,,,,,",
        f"Wrong Licence Type,LCSW,{NPI_B},therapy,,,,,,,,TX,MD,TX-MD-1,,,",
        "Bad Date,LMFT,,therapy,,,,,,,,CA,LMFT,CA-1,,2020-01-01,2026-13-01",
        "Unknown Plan,LMFT,,therapy,,,,,,,Nowhere Health / Gold,,,,,,",
        "Everything Wrong,LCSW,12345,therapy,Bad Tag!,,alien,Mars/Base,maybe,lots,,ZZ,MD,,unknown,,",
        "Licence Before Issue,LMFT,,therapy,,,,,,,,CA,LMFT,CA-2,,2026-01-01,2025-01-01",
        f"Long Language,LMFT,,therapy,,en;{'x' * 36},,,,,,,,,,,",
    )
    report = csv_import.import_csv(session, SYSTEM, text, clock=clock)
    assert not report.ok and not report.imported
    where = _where(report)
    assert (3, "npi") in where
    assert (4, "credential") in where
    assert (5, "license_type") in where
    assert (6, "license_expires") in where
    assert (7, "networks") in where
    # one row with many problems: all of them, including its licence checked against the provider
    for column in (
        "npi",
        "conditions",
        "gender",
        "timezone",
        "accepting_new_patients",
        "capacity",
        "license_state",
        "license_type",
        "license_number",
        "license_status",
    ):
        assert (8, column) in where, column
    assert (9, "license_expires") in where
    assert (10, "languages") in where  # the database's limit, refused before it is reached
    assert not any(p.row == 2 for p in report.problems)  # the good row has no problem
    messages = {(p.row, p.field): p.message for p in report.problems}
    assert messages[(3, "npi")] == "not a valid NPI (check digit)"
    assert messages[(8, "npi")] == "must be 10 digits"
    assert messages[(4, "credential")] == "unknown credential"
    assert "LCSW practises under a licence of type" in messages[(5, "license_type")]
    assert "YYYY-MM-DD" in messages[(6, "license_expires")]
    assert "Nowhere Health / Gold" in messages[(7, "networks")]
    assert report.lines()[0].startswith("Nothing was imported:")
    assert "row 3, npi: not a valid NPI (check digit)" in report.lines()

    # nothing at all was stored: not even the good row
    assert _count(session, Provider) == 0
    assert _count(session, License) == 0
    assert _events(session, "provider.created") == []
    assert _events(session, "license.added") == []
    [event] = _events(session, "directory.imported")
    assert event.outcome == "failure"
    assert event.details["providers"] == 0 and event.details["problems"] == len(report.problems)


def test_rows_of_one_npi_must_agree(session, clock):
    text = _csv(
        f"Dr. One,MD,{NPI_A},therapy,,,,,,,,TX,MD,TX-1,,,",
        f"Dr. Other Name,MD,{NPI_A},,,,,,,,,CA,MD,CA-1,,,",
        f"Dr. One,MD,{NPI_A},,,,,,,,,TX,md,TX-1,,,",  # the same licence again
    )
    report = csv_import.import_csv(session, SYSTEM, text, clock=clock)
    messages = {(p.row, p.field): p.message for p in report.problems}
    assert messages[(3, "name")] == "differs from row 2, which has the same NPI"
    assert messages[(4, "license_number")] == "the same licence is already on row 2"
    assert _count(session, Provider) == 0


def test_an_npi_already_in_the_directory_is_refused(session, clock):
    service.create_provider(
        session, SYSTEM, {"name": "Existing", "credential": "MD", "npi": NPI_A}, clock=clock
    )
    report = csv_import.import_csv(session, SYSTEM, _csv(f"New,MD,{NPI_A},,,,,,,,,,,,,,"), clock=clock)
    assert [(p.row, p.field, p.message) for p in report.problems] == [
        (2, "npi", "already used by another provider")
    ]
    assert _count(session, Provider) == 1


def test_header_problems_stop_before_any_row(session, clock):
    report = csv_import.import_csv(session, SYSTEM, "Name,NPI,Speciality\nX,1234567893,y\n", clock=clock)
    assert {(p.row, p.field) for p in report.problems} == {(1, "speciality"), (1, "credential")}
    assert report.rows == 0
    for data, message in (
        (b"", "is empty"),
        (b"name,credential\n\xff\xfe,MD\n", "is not UTF-8 text"),
        ("name,credential\nA\x00,MD\n", "contains NUL characters"),
    ):
        [problem] = csv_import.import_csv(session, SYSTEM, data, clock=clock).problems
        assert problem.row == 0 and message in problem.message
    extra = csv_import.import_csv(session, SYSTEM, "name,credential\nA,MD,surplus\n", clock=clock)
    assert [(p.row, p.field) for p in extra.problems] == [(2, "row")]
    unnamed = csv_import.import_csv(session, SYSTEM, "name,,credential\nA,what,MD\n", clock=clock)
    assert [str(p) for p in unnamed.problems] == ["row 2: has a value in column 2, which has no header"]
    [empty] = csv_import.import_csv(session, SYSTEM, "name,credential\n\n", clock=clock).problems
    assert str(empty) == "file: has no rows after the header"
    # a byte-order mark and spaced, capitalised headers are fine
    ok = csv_import.import_csv(
        session, SYSTEM, "\ufeffName, Credential ,License State\nA,LPC,\n".encode(), clock=clock
    )
    assert ok.ok, ok.lines()


def test_dry_run_checks_and_stores_nothing(session, clock):
    report = csv_import.import_csv(
        session, SYSTEM, _csv(f"Dr. One,MD,{NPI_A},therapy,,,,,,,,TX,MD,TX-1,,,"), clock=clock, dry_run=True
    )
    assert report.ok and not report.imported
    assert "Nothing was stored (dry run)" in report.summary()
    assert _count(session, Provider) == 0
    [event] = _events(session, "directory.import_checked")
    assert event.details["rows"] == 1


def test_only_administrators_import(session, settings, clock):
    therapist = make_user(session, settings, Role.THERAPIST)
    actor = identity.actor_for(session, therapist)
    with pytest.raises(PolicyDenied):
        csv_import.import_csv(session, actor, _csv("A,MD,,,,,,,,,,,,,,,"), clock=clock)


def test_the_documented_example_imports_cleanly(session, clock, plans):
    report = csv_import.import_csv(session, SYSTEM, EXAMPLE.read_bytes(), clock=clock)
    assert report.ok, report.lines()
    assert (report.providers, report.licenses) == (3, 5)


@pytest.fixture
def cli_env(databases, tmp_path, monkeypatch):
    engine = databases.engine(migrate=False)
    monkeypatch.setenv("CAREWEAVE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CAREWEAVE_DATA_DIR", str(tmp_path))
    return tmp_path


def test_cli_import_prints_the_report_and_fails_on_bad_rows(cli_env):
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    bad = cli_env / "bad.csv"
    bad.write_text(_csv("Bad Npi,LCSW,1234567890,,,,,,,,,,,,,,", f"Fine,MD,{NPI_A},,,,,,,,,TX,MD,T1,,,"))
    r = runner.invoke(app, ["directory", "import", str(bad)])
    assert r.exit_code == 1
    assert "Nothing was imported: 1 problem(s) in 2 row(s)." in r.output
    assert "row 2, npi: not a valid NPI (check digit)" in r.output
    good = cli_env / "good.csv"
    # a licence that expired long ago: the next worker pass marks it expired
    good.write_text(_csv(f"Fine,MD,{NPI_A},,,,,,,,,TX,MD,T1,,2000-01-01,2001-01-01"))
    assert runner.invoke(app, ["directory", "import", str(good), "--dry-run"]).exit_code == 0
    r = runner.invoke(app, ["directory", "import", str(good)])
    assert r.exit_code == 0, r.output
    assert "Imported 1 provider(s) and 1 licence(s) from 1 row(s)." in r.output
    again = runner.invoke(app, ["directory", "import", str(good)])
    assert again.exit_code == 1 and "already used by another provider" in again.output
    worker = runner.invoke(app, ["worker", "--once"])
    assert worker.exit_code == 0, worker.output
    assert "worker: marked 1 licence(s) expired" in worker.output
    assert "marked" not in runner.invoke(app, ["worker", "--once"]).output
