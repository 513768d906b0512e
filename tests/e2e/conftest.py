"""Browser journeys against the real app: a ``careweave serve`` subprocess on a fresh database.

The server is started once per session (``careweave migrate``, ``careweave demo-data``, then
``careweave serve`` on a free port) against a new SQLite file or a throwaway PostgreSQL
database (``--db``), with MFA required and mail written as ``.eml`` files. Pages are driven
with Playwright's sync API on Debian's chromium (never Playwright's own browser download).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests import pg
from tests.e2e.helpers import Accounts, url_re

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
SECRET_KEY = "e2e-fixed-secret-key-" + "k" * 32
STARTUP_TIMEOUT_S = 60
ACTION_TIMEOUT_MS = 10_000


# ------------------------------------------------------------------ the server


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    data_dir: Path
    log_path: Path
    # what the server runs with, for `careweave` commands against the same database
    env: dict[str, str] = field(repr=False, compare=False)
    workdir: Path = field(compare=False)

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def careweave(self, *args: str) -> str:
        """Run one ``careweave`` command with the server's environment; its standard output."""
        return _careweave(list(args), self.env, self.workdir)

    def create_user(self, *, email: str, role: str, password: str, name: str) -> str:
        """A new account made with ``careweave users create`` (a patient gets a patient record); its id."""
        out = self.careweave(
            "users", "create", "--email", email, "--role", role, "--password", password, "--name", name
        )
        return out.strip().splitlines()[-1]

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _careweave(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run one ``careweave`` command to completion and return its output; fail with it if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "careweave", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"`careweave {' '.join(args)}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )
    return done.stdout


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"careweave serve exited with {proc.returncode} before it was healthy:\n{server.log_tail()}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own http://127.0.0.1 URL
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(
        f"careweave serve not healthy after {STARTUP_TIMEOUT_S}s:\n{server.log_tail()}", pytrace=False
    )


@pytest.fixture(scope="session")
def live_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("e2e")
    data_dir = root / "data"
    data_dir.mkdir()
    db_url = (
        pg.create_database("careweave_e2e")
        if backend == "postgresql"
        else f"sqlite:///{root / 'e2e.sqlite3'}"
    )
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWEAVE_")}
    env.update(
        CAREWEAVE_ENV="test",
        CAREWEAVE_DATABASE_URL=db_url,
        CAREWEAVE_DATA_DIR=str(data_dir),
        CAREWEAVE_SECRET_KEY=SECRET_KEY,
        CAREWEAVE_MFA_REQUIRED="true",
        CAREWEAVE_MAIL_TRANSPORT="file",
        CAREWEAVE_SMS_TRANSPORT="file",
        CAREWEAVE_BASE_URL=base_url,
        # A controllable clock for the safety workflow: an unacknowledged high-risk alert is due
        # for escalation 0 minutes after it is raised, so `careweave worker --once` (run by the
        # test with this same environment) escalates it at once, with no wall-clock wait and no
        # fake time in the server. Moderate and low alerts (the demo data's) keep their real
        # deadlines (hours away), so the worker leaves them alone during the run.
        CAREWEAVE_SAFETY_ESCALATE_HIGH_MINUTES="0",
        PYTHONUNBUFFERED="1",
    )
    # Three short-lived `careweave` processes each import the whole app: let them share compiled
    # bytecode kept in pytest's cache dir (outside the source tree), even where the environment
    # sets PYTHONDONTWRITEBYTECODE.
    cache = getattr(pytestconfig, "cache", None)  # absent under `-p no:cacheprovider`
    if cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache.mkdir("e2e-pycache"))
    server = LiveServer(
        base_url=base_url, data_dir=data_dir, log_path=root / "server.log", env=env, workdir=root
    )
    proc: subprocess.Popen[bytes] | None = None
    try:
        # cwd outside the repository, so a developer's .env or var/ cannot leak in
        _careweave(["migrate"], env, root)
        _careweave(["demo-data"], env, root)
        with server.log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "careweave", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_healthy(f"{base_url}/healthz", proc, server)
        yield server
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if backend == "postgresql":
            pg.drop_database(db_url)


# ------------------------------------------------------------------ the browser


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(run `make test-deps`, or `apt-get install chromium`). "
            "Do not use `playwright install`; its download does not work here.",
            pytrace=False,
        )
    b = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live_server.base_url, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[Page]:
    p = context.new_page()
    yield p
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and not p.is_closed():
        # keep what the browser showed when a journey failed
        failures = ARTIFACTS / "e2e-failures"
        failures.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
        p.screenshot(path=str(failures / f"{safe}.png"), full_page=True)


# ------------------------------------------------------------------ logging in


@pytest.fixture(scope="session")
def accounts() -> Accounts:
    """One per session, so an account enrolled in MFA by one test can log in again in another."""
    return Accounts()


# ------------------------------------------------------------------ demo clinicians, left as found

E2E_ADMIN_EMAIL = "e2e.admin@careweave-e2e.example"
E2E_ADMIN_PASSWORD = "e2e-admin-password-2026"


def _reset_mfa(browser: Browser, live_server: LiveServer, accounts: Accounts, emails: list[str]) -> None:
    """An admin account of the tests' own (not demo admin1, whose first log-in another test
    checks) resets these users' two-step setup on /admin."""
    if E2E_ADMIN_EMAIL not in accounts.created:
        live_server.create_user(
            email=E2E_ADMIN_EMAIL, role="admin", password=E2E_ADMIN_PASSWORD, name="E2E Admin"
        )
        accounts.created.add(E2E_ADMIN_EMAIL)
    ctx = browser.new_context(base_url=live_server.base_url)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = ctx.new_page()
        accounts.sign_in(page, E2E_ADMIN_EMAIL, E2E_ADMIN_PASSWORD)
        expect(page).to_have_url(url_re("/admin"))
        for email in emails:
            reset = page.get_by_role("button", name=f"Reset two-step for {email}", exact=True)
            reset.click()
            expect(page).to_have_url(url_re("/admin"))
            expect(reset).to_have_count(0)  # offered only while two-step is on
            accounts.enrolments.pop(email, None)
        accounts.log_out(page)
    finally:
        ctx.close()


@pytest.fixture
def clinicians(accounts: Accounts, browser: Browser, live_server: LiveServer) -> Iterator[Accounts]:
    """``accounts`` for a test that signs in demo clinicians. Those it enrols in MFA have their
    two-step setup reset afterwards, so each is left as the test found it: test_journeys.py's
    role test expects a clinician's first log-in to start enrolment, in whatever order tests run.
    """
    before = set(accounts.enrolments)
    yield accounts
    enrolled = [email for email in accounts.enrolments if email not in before and email != E2E_ADMIN_EMAIL]
    if enrolled:
        _reset_mfa(browser, live_server, accounts, enrolled)
