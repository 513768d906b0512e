"""Issue #7 browser test on the demo data: psychiatrist1 prescribes sertraline to patient11 (New York, where
psychiatrist1 is licensed; no medications yet), with the spec §6.3 boxed warning shown exactly when the patient is
24 or under; is blocked from adding phenelzine (spec §6.2: MAOI + SSRI is contraindicated, nothing is created);
starts lithium and sees its monitoring schedule (spec §6.4: a lithium level one week after the start); tapers the
sertraline; the patient sees their medications, today's dose and the taper's steps.

Setup: psychiatrist1 joins patient11's care team directly in the server's database (no page does that for an
existing patient); the patient shares their medications with the care team on the Sharing page."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select

from careweave.careteam import service as careteam
from careweave.core.clock import SystemClock
from careweave.db.engine import make_engine, make_sessionmaker
from careweave.identity.models import User
from careweave.medications.models import Prescription, PrescriptionFinding
from careweave.patients.models import Patient
from tests.e2e.conftest import ACTION_TIMEOUT_MS, ARTIFACTS, LiveServer
from tests.e2e.helpers import Accounts, demo_email, url_re

pytestmark = pytest.mark.e2e

SCREENSHOTS = ARTIFACTS / "screenshots"
PATIENT_N = 11  # New York (psychiatrist1 holds NY, MA, FL, GA licences: demo/seed.py seed_directory)
BOXED = "boxed_antidepressant_suicidality"


@dataclass(frozen=True)
class Facts:
    patient_id: uuid.UUID
    age: int  # on the patient's today (where they are), as the checks compute it


def _db(live_server: LiveServer):  # type: ignore[no-untyped-def]
    engine = make_engine(live_server.env["CAREWEAVE_DATABASE_URL"])
    return engine, make_sessionmaker(engine)


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _setup(live_server: LiveServer) -> Facts:
    """patient11 has no prescriptions yet; psychiatrist1 joins their care team."""
    engine, factory = _db(live_server)
    try:
        with factory() as s:
            patient = s.scalars(
                select(Patient)
                .join(User, User.id == Patient.user_id)
                .where(User.email == demo_email("patient", PATIENT_N))
            ).one()
            assert patient.birth_date is not None and patient.state == "NY"
            assert not s.scalars(select(Prescription.id).where(Prescription.patient_id == patient.id)).all()
            psych = s.scalars(select(User).where(User.email == demo_email("psychiatrist", 1))).one()
            careteam.ensure_member(
                s, patient_id=patient.id, user_id=psych.id, basis="assigned", clock=SystemClock()
            )
            s.commit()
            today = datetime.now(ZoneInfo(patient.timezone)).date()
            return Facts(patient.id, _age(patient.birth_date, today))
    finally:
        engine.dispose()


def _prescriptions(live_server: LiveServer, patient_id: uuid.UUID) -> dict[str, Prescription]:
    engine, factory = _db(live_server)
    try:
        with factory() as s:
            rows = s.scalars(select(Prescription).where(Prescription.patient_id == patient_id)).all()
            return {rx.formulary_code: rx for rx in rows}
    finally:
        engine.dispose()


def _finding_codes(live_server: LiveServer, rx_id: uuid.UUID) -> set[str]:
    engine, factory = _db(live_server)
    try:
        with factory() as s:
            return set(
                s.scalars(
                    select(PrescriptionFinding.code).where(PrescriptionFinding.prescription_id == rx_id)
                )
            )
    finally:
        engine.dispose()


def _as(browser: Browser, live_server: LiveServer, accounts: Accounts, email: str) -> Page:
    ctx = browser.new_context(base_url=live_server.base_url, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    page = ctx.new_page()
    accounts.sign_in(page, email)
    return page


def _prescribe(page: Page, medication: str, strength: str, dose: str, frequency: str) -> None:
    form = page.locator("form[action$='/medications/prescriptions']")
    form.get_by_label("Medication", exact=True).select_option(medication)
    form.get_by_label("Strength", exact=True).fill(strength)
    form.get_by_label("Dose", exact=True).fill(dose)
    form.get_by_label("Frequency", exact=True).select_option(frequency)
    form.get_by_role("button", name="Check and create draft").click()
    page.wait_for_load_state()


def _rx(page: Page, heading: str) -> Locator:
    """The prescription's article on the medication page, by its heading (ingredient and strength)."""
    return page.locator("article").filter(has=page.get_by_role("heading", level=3, name=heading))


def test_prescribe_block_monitor_and_taper(
    browser: Browser, live_server: LiveServer, clinicians: Accounts
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    facts = _setup(live_server)
    meds_url = f"/patients/{facts.patient_id}/medications"

    # The patient shares their medications with the care team (Sharing page).
    patient = _as(browser, live_server, clinicians, demo_email("patient", PATIENT_N))
    patient.goto("/sharing")
    grant = patient.locator("form[action='/sharing/grant']")
    grant.get_by_label("With").select_option("care_team")
    grant.get_by_label("Medications", exact=True).check()
    grant.get_by_role("button", name="Share").click()
    expect(patient.get_by_role("status")).to_contain_text("Saved")
    expect(patient.locator("table.data").last.locator("tbody tr").first).to_contain_text("Medications")

    # psychiatrist1 prescribes sertraline: a draft, with the §6.3 boxed warning iff the patient is 24 or under.
    psych = _as(browser, live_server, clinicians, demo_email("psychiatrist", 1))
    psych.goto(meds_url)
    expect(psych.get_by_role("heading", level=1)).to_have_text("Medications")
    expect(psych.get_by_role("main")).to_contain_text("No prescriptions.")
    _prescribe(psych, "sertraline", "50 mg", "50", "once_daily")
    expect(psych).to_have_url(url_re(meds_url))
    sertraline = _rx(psych, "sertraline 50 mg")
    expect(sertraline.locator("h3 .badge")).to_have_text("draft")
    warned = facts.age <= 24
    sertraline_rx = _prescriptions(live_server, facts.patient_id)["sertraline"]
    assert (BOXED in _finding_codes(live_server, sertraline_rx.id)) is warned, facts.age
    if warned:
        checks = sertraline.get_by_role("list", name="Safety checks for sertraline")
        expect(checks).to_contain_text(BOXED)
        expect(checks).to_contain_text(f"Boxed warning (patient aged {facts.age}, 24 or under)")
    else:
        expect(sertraline).not_to_contain_text(BOXED)
        expect(sertraline).not_to_contain_text("Boxed warning")
    psych.screenshot(path=str(SCREENSHOTS / "medications-sertraline-draft.png"), full_page=True)
    sertraline.get_by_role("button", name="Sign and send").click()
    expect(sertraline.locator("h3 .badge")).to_have_text("active")

    # Phenelzine on top of an SSRI: contraindicated (§6.2), the page shows why, nothing is created.
    _prescribe(psych, "phenelzine", "15 mg", "15", "three_times_daily")
    expect(psych.get_by_role("alert")).to_contain_text("Not prescribed")
    findings = psych.locator("section[aria-labelledby='findings-h']")
    expect(findings.get_by_role("heading", name="Safety checks")).to_be_visible()
    blocking = findings.get_by_role("listitem").filter(has_text="maoi_serotonergic")
    expect(blocking).to_have_count(1)
    expect(blocking.locator(".badge")).to_have_text("contraindicated")
    expect(_rx(psych, "phenelzine 15 mg")).to_have_count(0)
    psych.screenshot(path=str(SCREENSHOTS / "medications-phenelzine-blocked.png"), full_page=True)
    assert "phenelzine" not in _prescriptions(live_server, facts.patient_id)

    # Lithium: signed and active, it starts the §6.4 monitoring protocol (a level one week after the start).
    _prescribe(psych, "lithium_carbonate", "300 mg", "300", "three_times_daily")
    expect(psych).to_have_url(url_re(meds_url))
    lithium = _rx(psych, "lithium carbonate 300 mg")
    expect(lithium.locator("h3 .badge")).to_have_text("draft")
    lithium.get_by_role("button", name="Sign and send").click()
    expect(lithium.locator("h3 .badge")).to_have_text("active")
    started = _prescriptions(live_server, facts.patient_id)["lithium_carbonate"].started_on
    expect(lithium).to_contain_text(f"from {started.isoformat()}")
    psych.goto(f"/patients/{facts.patient_id}/labs")
    expect(psych.get_by_role("heading", level=1)).to_contain_text("Labs and monitoring")
    plans = psych.locator("section[aria-labelledby='plans-h']")
    expect(plans).to_contain_text(f"Lithium from {started.isoformat()}")
    schedule = psych.locator("section[aria-labelledby='schedule-h'] tbody tr")
    level = schedule.filter(has_text="Lithium level").first
    expect(level.locator("td").first).to_have_text((started + timedelta(days=7)).isoformat())
    expect(level).to_contain_text("14334-7")
    psych.screenshot(path=str(SCREENSHOTS / "labs-lithium-schedule.png"), full_page=True)

    # A taper on the sertraline: 50 mg for a week, then 25 mg for two weeks, from today.
    psych.goto(meds_url)
    sertraline = _rx(psych, "sertraline 50 mg")
    sertraline.locator("summary", has_text="Taper").click()
    sertraline.locator("input[name=dose_0]").fill("50")
    sertraline.locator("input[name=days_0]").fill("7")
    sertraline.locator("input[name=dose_1]").fill("25")
    sertraline.locator("input[name=days_1]").fill("14")
    sertraline.get_by_role("button", name="Save taper").click()
    expect(psych).to_have_url(url_re(meds_url))
    taper_start = _prescriptions(live_server, facts.patient_id)["sertraline"].started_on  # today, as signed
    second = taper_start + timedelta(days=7)
    expect(_rx(psych, "sertraline 50 mg")).to_contain_text(
        f"Taper: 50 mg {taper_start}–{taper_start + timedelta(days=6)}; "
        f"25 mg {second}–{second + timedelta(days=13)}"
    )

    # The patient sees both medications, today's dose and the coming step.
    patient.goto("/my/medications")
    expect(patient.get_by_role("heading", level=1)).to_have_text("My medications")
    mine = patient.locator("section").filter(has=patient.get_by_role("heading", name="sertraline 50 mg"))
    expect(mine).to_contain_text("Take 50 mg oral, once daily.")
    expect(mine).to_contain_text(f"Today's dose: 50 mg (until {(second - timedelta(days=1)):%B %-d})")
    expect(mine.get_by_role("listitem")).to_have_text([f"From {second:%B %-d, %Y}: 25 mg for 14 days"])
    lithium_mine = patient.locator("section").filter(
        has=patient.get_by_role("heading", name="lithium carbonate 300 mg")
    )
    expect(lithium_mine).to_contain_text("Take 300 mg oral, three times daily.")
    patient.screenshot(path=str(SCREENSHOTS / "my-medications-taper.png"), full_page=True)
    for p in (patient, psych):
        p.context.close()
