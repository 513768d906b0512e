"""Issue #5 browser test: a video visit between two headless Chromium contexts with fake cameras.

The patient waits in the waiting room (camera preview, connection status), the clinician sees them waiting
and admits them, and each side then receives the other's video: the remote <video> has a size and its
frames advance. The appointment is made directly in the server's database (booking is tested elsewhere).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    WebSocketRoute,
    expect,
)
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import select

from careweave.db.engine import make_engine, make_sessionmaker
from careweave.db.uow import unit_of_work
from careweave.directory.models import Provider
from careweave.identity.models import User
from careweave.patients.models import Patient
from careweave.scheduling.models import Appointment
from careweave.visits.models import Encounter
from tests.e2e.conftest import ACTION_TIMEOUT_MS, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.e2e.helpers import Accounts

pytestmark = pytest.mark.e2e

MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
PASSWORD = "video-visit-password-2026"
CALL_TIMEOUT_MS = 30_000
CONSOLE_LINES = 60  # the last lines of each page's console kept for a failure message
CONSOLE_LINE_CHARS = 500
# never echoed into a failure message: TURN credentials, passwords, tokens, SDP/ICE secrets
SECRET_RE = re.compile(
    r'("?(?:credential|password|token|secret|ice-pwd|ice-ufrag)"?\s*[:=]\s*)("[^"]*"|\S+)', re.IGNORECASE
)
# the room's call state as visit.js writes it on <section id="visit"> (never data-ice-servers: credentials)
CALL_STATE_JS = """() => {
  const root = document.getElementById('visit');
  const text = (id) => { const el = document.getElementById(id); return el ? el.textContent.trim() : null; };
  const video = (id) => {
    const v = document.getElementById(id);
    if (!v) return null;
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
    const s = v.srcObject;
    return {
      width: v.videoWidth, height: v.videoHeight, currentTime: v.currentTime, readyState: v.readyState,
      paused: v.paused, frames: q ? q.totalVideoFrames : null,
      tracks: s ? s.getTracks().map((t) => `${t.kind}:${t.readyState}:${t.enabled ? 'on' : 'off'}`) : null,
    };
  };
  return {
    url_path: location.pathname,
    data: root ? { side: root.dataset.side, call: root.dataset.call, state: root.dataset.state,
                   peer: root.dataset.peer } : null,
    connection: text('conn-status'), video_status: text('call-status'), stage: text('stage-status'),
    waiting: text('waiting-status'), error: text('visit-error'),
    remote_video: video('remote-video'), local_video: video('local-video'),
    peer_connection: window.careweaveVisit ? window.careweaveVisit.peerConnection() : null,
    trace: window.careweaveVisit ? window.careweaveVisit.trace.slice(-120) : null,
  };
}"""


@pytest.fixture(scope="module")
def media_browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Chromium with a fake camera and microphone (a moving test pattern and a beep), permission granted."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium", pytrace=False)
    browser = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS + MEDIA_ARGS
    )
    yield browser
    browser.close()


def _context(browser: Browser, live_server: LiveServer) -> BrowserContext:
    ctx = browser.new_context(base_url=live_server.base_url, viewport={"width": 1280, "height": 900})
    ctx.grant_permissions(["camera", "microphone"], origin=live_server.base_url)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    return ctx


def _book_now(live_server: LiveServer, patient_user_id: str, clinician_user_id: str) -> uuid.UUID:
    """A provider for the clinician and a visit that started 5 minutes ago (so its room is open)."""
    engine = make_engine(live_server.env["CAREWEAVE_DATABASE_URL"])
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            clinician = session.get(User, uuid.UUID(clinician_user_id))
            assert clinician is not None
            provider = Provider(
                user_id=clinician.id,
                clinic_id=clinician.clinic_id,
                name=clinician.full_name,
                credential="LCSW",
                timezone="America/Chicago",
            )
            session.add(provider)
            patient_id = session.scalars(
                select(Patient.id).where(Patient.user_id == uuid.UUID(patient_user_id))
            ).one()
            start = datetime.now(UTC) - timedelta(minutes=5)
            session.flush()
            appt = Appointment(
                provider_id=provider.id,
                patient_id=patient_id,
                visit_type="therapy_session",
                start_at=start,
                end_at=start + timedelta(minutes=50),
                block_end_at=start + timedelta(minutes=50),
                status="booked",
                ics_uid=f"{uuid.uuid4()}@e2e.careweave.example",
            )
            session.add(appt)
            session.flush()
            # holding the visit puts the clinician on the patient's care team, as booking does
            from careweave.careteam import service as careteam
            from careweave.core.clock import SystemClock

            careteam.ensure_member(
                session,
                patient_id=patient_id,
                user_id=clinician.id,
                basis="patient_choice",
                clock=SystemClock(),
            )
            return appt.id
    finally:
        engine.dispose()


def _encounter(live_server: LiveServer, appointment_id: uuid.UUID) -> Encounter:
    engine = make_engine(live_server.env["CAREWEAVE_DATABASE_URL"])
    try:
        with make_sessionmaker(engine)() as session:
            row = session.scalars(select(Encounter).where(Encounter.appointment_id == appointment_id)).one()
            session.expunge(row)
            return row
    finally:
        engine.dispose()


def _redact(text: str, limit: int | None = CONSOLE_LINE_CHARS) -> str:
    return SECRET_RE.sub(lambda m: m.group(1) + "[redacted]", text)[:limit]


class PageDiagnostics:
    """Each page's browser console (and uncaught errors), kept from the start for failure messages."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.lines: dict[str, list[str]] = {}

    def watch(self, name: str, page: Page) -> None:
        self.pages[name] = page
        lines = self.lines.setdefault(name, [])

        def on_console(msg: ConsoleMessage) -> None:
            lines.append(_redact(f"[{msg.type}] {msg.text}"))

        def on_error(error: PlaywrightError) -> None:
            lines.append(_redact(f"[pageerror] {error.message}"))

        page.on("console", on_console)
        page.on("pageerror", on_error)

    def report(self) -> str:
        parts = []
        for name, page in self.pages.items():
            try:
                state = (
                    json.dumps(page.evaluate(CALL_STATE_JS), indent=1, default=str)
                    if not page.is_closed()
                    else "(page closed)"
                )
            except PlaywrightError as exc:
                state = f"(could not read the call state: {exc.message})"
            lines = self.lines.get(name, [])
            console = (
                "\n".join(f"    {line}" for line in lines[-CONSOLE_LINES:]) or "    (no console messages)"
            )
            skipped = f" (last {CONSOLE_LINES} of {len(lines)})" if len(lines) > CONSOLE_LINES else ""
            parts.append(
                f"--- {name}: call state\n{_redact(state, limit=None)}\n--- {name}: console{skipped}\n{console}"
            )
        return "\n".join(parts)

    def check(self, what: str, check: Callable[[], object]) -> None:
        """Run a media check; on failure, fail with its error, each page's call state and console."""
        try:
            check()
        except (AssertionError, PlaywrightError) as exc:
            raise AssertionError(f"{what}: {exc}\n{self.report()}") from exc


@dataclass(frozen=True)
class _Visit:
    patient_email: str
    clinician_email: str
    clinician_id: str
    appointment_id: uuid.UUID
    accounts: Accounts
    diagnostics: PageDiagnostics
    patient_ctx: BrowserContext
    clinician_ctx: BrowserContext
    patient: Page
    clinician: Page


def _visit_for_two(
    browser: Browser, live_server: LiveServer, prefix: str, patient_name: str, clinician_name: str
) -> _Visit:
    """Two accounts of the test's own (nothing to reset afterwards), a visit between them that started five
    minutes ago, and a browser context and page for each, watched by the diagnostics."""
    patient_email = f"{prefix}.patient@careweave-e2e.example"
    clinician_email = f"{prefix}.therapist@careweave-e2e.example"
    patient_id = live_server.create_user(
        email=patient_email, role="patient", password=PASSWORD, name=patient_name
    )
    clinician_id = live_server.create_user(
        email=clinician_email, role="therapist", password=PASSWORD, name=clinician_name
    )
    appointment_id = _book_now(live_server, patient_id, clinician_id)
    patient_ctx, clinician_ctx = _context(browser, live_server), _context(browser, live_server)
    patient, clinician = patient_ctx.new_page(), clinician_ctx.new_page()
    diagnostics = PageDiagnostics()
    diagnostics.watch("patient", patient)
    diagnostics.watch("clinician", clinician)
    return _Visit(
        patient_email,
        clinician_email,
        clinician_id,
        appointment_id,
        Accounts(),
        diagnostics,
        patient_ctx,
        clinician_ctx,
        patient,
        clinician,
    )


def _receives_video(page: Page, timeout: int = CALL_TIMEOUT_MS) -> None:
    """The remote <video> shows the other side's camera: it has a size and its frames advance."""
    page.wait_for_function(
        "() => { const v = document.getElementById('remote-video');"
        " return v && v.videoWidth > 0 && v.videoHeight > 0 && v.currentTime > 0; }",
        timeout=timeout,
    )
    before = page.evaluate(
        "() => { const v = document.getElementById('remote-video');"
        " return [v.currentTime, v.getVideoPlaybackQuality().totalVideoFrames]; }"
    )
    page.wait_for_function(
        "([t, frames]) => { const v = document.getElementById('remote-video');"
        " return v.currentTime > t + 0.5 && v.getVideoPlaybackQuality().totalVideoFrames > frames + 5; }",
        arg=before,
        timeout=CALL_TIMEOUT_MS,
    )


def test_patient_waits_clinician_admits_and_both_see_each_other(
    media_browser: Browser, live_server: LiveServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    v = _visit_for_two(
        media_browser, live_server, f"video.{tag}", f"Vera Video {tag}", f"Theo Therapist {tag}"
    )
    patient_email, clinician_email, clinician_id = v.patient_email, v.clinician_email, v.clinician_id
    appointment_id, accounts, diagnostics = v.appointment_id, v.accounts, v.diagnostics
    patient_ctx, clinician_ctx, patient, clinician = v.patient_ctx, v.clinician_ctx, v.patient, v.clinician
    try:
        # The patient: device check and the waiting room.
        accounts.sign_in(patient, patient_email, PASSWORD)
        patient.goto(f"/visits/{appointment_id}")
        expect(patient.get_by_role("heading", level=1)).to_have_text("Video visit")
        expect(patient.locator("#conn-status")).to_have_text("connected")
        expect(patient.locator("#stage-status")).to_contain_text("You are in the waiting room.")
        expect(patient.locator("#device-status")).to_have_text(
            "Your camera and microphone are working. Check the preview and the microphone level."
        )
        diagnostics.check(
            "the patient's camera preview",
            lambda: patient.wait_for_function("() => document.getElementById('local-video').videoWidth > 0"),
        )

        # The clinician sees who is waiting and admits them.
        accounts.sign_in(clinician, clinician_email, PASSWORD)
        clinician.goto(f"/visits/{appointment_id}")
        expect(clinician.locator("#waiting-status")).to_have_text(f"Vera Video {tag} is waiting.")
        expect(patient.locator("#stage-status")).to_contain_text("is here and will let you in shortly")
        admit = clinician.get_by_role("button", name=f"Admit Vera Video {tag}")
        expect(admit).to_be_enabled()
        admit.click()

        # Both sides receive the other's video.
        diagnostics.check("the patient receives the clinician's video", lambda: _receives_video(patient))
        diagnostics.check("the clinician receives the patient's video", lambda: _receives_video(clinician))
        diagnostics.check(
            "the patient's call is connected",
            lambda: expect(patient.locator("#stage-status")).to_have_text(
                f"You are in the visit with Theo Therapist {tag}."
            ),
        )
        diagnostics.check(
            "the clinician's call is connected",
            lambda: expect(clinician.locator("#stage-status")).to_have_text(
                f"You are in the visit with Vera Video {tag}."
            ),
        )
        expect(clinician.locator("#waiting-status")).to_have_text(f"Vera Video {tag} is in the visit.")
        (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
        clinician.screenshot(
            path=str(ARTIFACTS / "screenshots" / "video-visit-clinician.png"), full_page=True
        )

        # Mute and camera off are toggles; leaving ends the call for the other side.
        mute = patient.get_by_role("button", name="Mute microphone")
        mute.click()
        expect(mute).to_have_attribute("aria-pressed", "true")
        muted = patient.evaluate(
            "() => document.getElementById('local-video').srcObject.getAudioTracks().every(t => !t.enabled)"
        )
        assert muted, f"muting left an audio track enabled\n{diagnostics.report()}"
        clinician.get_by_role("button", name="Leave the visit").click()
        expect(clinician.get_by_text("You left the visit.")).to_be_visible()
        expect(patient.locator("#stage-status")).to_contain_text("left the call")

        encounter = _encounter(live_server, appointment_id)
        assert encounter.status == "finished"
        assert encounter.admitted_by == uuid.UUID(clinician_id)
        assert encounter.started_at is not None and encounter.ended_at is not None
        assert encounter.duration_seconds is not None and encounter.duration_seconds >= 1
    except Exception:
        failures = ARTIFACTS / "e2e-failures"
        failures.mkdir(parents=True, exist_ok=True)
        for name, page in (("patient", patient), ("clinician", clinician)):
            if not page.is_closed():
                page.screenshot(path=str(failures / f"video-visit-{name}.png"), full_page=True)
        raise
    finally:
        patient_ctx.close()
        clinician_ctx.close()


def _drop_candidates_until_restart(page: Page) -> dict[str, int]:
    """Route ``page``'s visit WebSocket so no ICE candidate passes either way until the page asks for a restart:
    the first peer connection can never connect (the state seen in CI's flaky runs: both sides "new")."""
    counts = {"dropped": 0, "restarts": 0}

    def is_candidate(message: str | bytes) -> bool:
        return (
            isinstance(message, str)
            and '"candidate"' in message
            and '"type":"signal"' in message.replace(" ", "")
        )

    def handler(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str) and '"restart"' in message:
                counts["restarts"] += 1
            if is_candidate(message) and not counts["restarts"]:
                counts["dropped"] += 1
                return
            server.send(message)

        def from_server(message: str | bytes) -> None:
            if is_candidate(message) and not counts["restarts"]:
                counts["dropped"] += 1
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r".*/visits/.*/ws$"), handler)
    return counts


def test_a_call_that_cannot_connect_starts_over(media_browser: Browser, live_server: LiveServer) -> None:
    """A first negotiation that loses every ICE candidate leaves both peer connections "new"; the clinician's
    page starts the call over (a "restart" signal, new peer connections on both sides) and the video flows.
    Then the clinician ends the visit for everyone."""
    tag = uuid.uuid4().hex[:8]
    v = _visit_for_two(
        media_browser, live_server, f"video.restart.{tag}", f"Rita Restart {tag}", f"Reno Therapist {tag}"
    )
    patient_email, clinician_email, appointment_id = v.patient_email, v.clinician_email, v.appointment_id
    accounts, diagnostics = v.accounts, v.diagnostics
    patient_ctx, clinician_ctx, patient, clinician = v.patient_ctx, v.clinician_ctx, v.patient, v.clinician
    counts = _drop_candidates_until_restart(clinician)
    try:
        accounts.sign_in(patient, patient_email, PASSWORD)
        patient.goto(f"/visits/{appointment_id}")
        expect(patient.locator("#stage-status")).to_contain_text("You are in the waiting room.")
        accounts.sign_in(clinician, clinician_email, PASSWORD)
        clinician.goto(f"/visits/{appointment_id}")
        clinician.get_by_role("button", name=f"Admit Rita Restart {tag}").click()
        # the restart comes after the stall wait (visit.js STALL_MS, 10 s): allow it besides the call's own time
        diagnostics.check(
            "the patient receives the clinician's video after the restart",
            lambda: _receives_video(patient, timeout=CALL_TIMEOUT_MS + 15_000),
        )
        diagnostics.check("the clinician receives the patient's video", lambda: _receives_video(clinician))
        assert counts["dropped"] > 0, "the route dropped no candidate: the test proves nothing"
        assert counts["restarts"] == 1, f"{counts}\n{diagnostics.report()}"
        trace = clinician.evaluate("() => window.careweaveVisit.trace.join('\\n')")
        assert "stalled new" in trace, trace
        assert "restart asked by the other side" in patient.evaluate(
            "() => window.careweaveVisit.trace.join('\\n')"
        )

        # The clinician ends the visit for everyone (after a confirmation): both pages end, the visit is
        # completed and its room closed.
        clinician.once("dialog", lambda dialog: dialog.accept())
        clinician.get_by_role("button", name="End the visit for everyone").click()
        expect(clinician.get_by_text("You ended the visit.")).to_be_visible()
        expect(patient.get_by_text("Your clinician ended the visit.")).to_be_visible()
        encounter = _encounter(live_server, appointment_id)
        assert encounter.status == "finished" and encounter.duration_seconds is not None
        clinician.goto(f"/visits/{appointment_id}")
        expect(clinician.get_by_text("The visit room has closed.")).to_be_visible()
    finally:
        patient_ctx.close()
        clinician_ctx.close()
