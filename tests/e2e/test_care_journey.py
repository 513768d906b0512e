"""Issue #3 in a real browser: a new patient's intake and screening up to a recommended care
pathway; and a patient at risk: the crisis panel, the on-call clinician's alert, escalation when
nobody acknowledges it, and the acknowledgement.

Each test makes its own brand-new patient with ``careweave users create`` against the test
server's database (``LiveServer.create_user``). Other tests share the server and its demo data,
which already holds open safety alerts: assertions are about this test's patient's rows only.
"""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ARTIFACTS, LiveServer
from tests.e2e.helpers import Accounts, demo_email, signed_in_name, url_re

pytestmark = pytest.mark.e2e

SCREENSHOTS = ARTIFACTS / "screenshots"
PATIENT_PASSWORD = "juniper-harbour-lantern-2026"
CRISIS_HEADING = "You don't have to go through this alone"


def _new_patient(live_server: LiveServer, name: str) -> str:
    """A new patient account (no intake, no screening yet); its log-in e-mail."""
    email = f"{name.lower().replace(' ', '.')}.{secrets.token_hex(3)}@patients.e2e.example"
    live_server.create_user(email=email, role="patient", password=PATIENT_PASSWORD, name=name)
    return email


def _h1(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def _save_and_continue(page: Page, next_step: int) -> None:
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(url_re(f"/intake/{next_step}"))


# ------------------------------------------------------------------ questionnaires


def _on_questionnaire(page: Page, code: str, items: int) -> None:
    """The site asked for this instrument, with exactly ``items`` scored questions (q0, q1, …)."""
    expect(page).to_have_url(url_re(f"/screening/{code}"))
    abbreviation = "C-SSRS" if code == "c-ssrs-screener" else code.upper()
    expect(_h1(page)).to_contain_text(abbreviation)
    expect(page.locator(f'input[type="radio"][name="q{items - 1}"]').first).to_be_attached()
    expect(page.locator(f'input[type="radio"][name="q{items}"]')).to_have_count(0)


def _answer(page: Page, code: str, answers: list[int], **extra: str) -> None:
    """Answer the questionnaire the site is showing with the mouse, then submit it."""
    _on_questionnaire(page, code, len(answers))
    for n, value in enumerate(answers):
        page.locator(f'input[name="q{n}"][value="{value}"]').check()
    for name, value in extra.items():
        page.locator(f'input[name="{name}"][value="{value}"]').check()
    page.get_by_role("button", name="Submit answers").click()
    page.wait_for_load_state()


def _answer_by_keyboard(page: Page, code: str, answers: list[int]) -> None:
    """Answer with the keyboard only: the skip link, then Tab into each question's radio group,
    Space to choose its first answer and ArrowDown to move the choice on; Tab to the submit
    button and Enter."""
    _on_questionnaire(page, code, len(answers))
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    for n, value in enumerate(answers):
        radios = page.locator(f'input[type="radio"][name="q{n}"]')
        page.keyboard.press("Tab")
        expect(radios.first).to_be_focused()  # no answer yet: Tab enters the group at its first
        page.keyboard.press("Space")
        expect(radios.first).to_be_checked()
        for _ in range(value):  # answer options are listed in value order 0, 1, 2, …
            page.keyboard.press("ArrowDown")
        chosen = page.locator(f'input[name="q{n}"][value="{value}"]')
        expect(chosen).to_be_focused()
        expect(chosen).to_be_checked()
    page.keyboard.press("Tab")
    submit = page.get_by_role("button", name="Submit answers")
    expect(submit).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_load_state()


# ------------------------------------------------------------------ 1. intake and screening


def test_new_patient_intake_and_screening_to_a_recommendation(
    page: Page, accounts: Accounts, live_server: LiveServer
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    email = _new_patient(live_server, "Marisol Quennell")
    accounts.sign_in(page, email, PATIENT_PASSWORD)
    expect(page).to_have_url(url_re("/patient"))

    # Page 1: about you (the name comes from the account).
    page.get_by_role("link", name="Tell us about yourself").click()
    expect(page).to_have_url(url_re("/intake/1"))
    expect(_h1(page)).to_have_text("About you")
    expect(page.get_by_label("Legal first name")).to_have_value("Marisol")
    expect(page.get_by_label("Legal last name")).to_have_value("Quennell")
    page.get_by_label("Name you would like us to use (optional)").fill("Mari")
    page.get_by_label("Pronouns (optional)").fill("she/her")
    page.get_by_label("Date of birth").fill("1991-04-12")
    _save_and_continue(page, 2)

    # Page 2: where you are and how to reach you.
    expect(_h1(page)).to_have_text("Where you are and how to reach you")
    page.get_by_label("The US state you will be in during visits").select_option("IL")
    page.get_by_label("Time zone").select_option("America/Chicago")
    page.locator("#f-phone").fill("312-555-0142")
    page.get_by_label("Language you prefer for care").select_option("en")
    contact = page.get_by_role("group", name="Emergency contact (optional)")
    contact.get_by_label("Name").fill("Lucia Quennell")
    contact.get_by_label("Phone").fill("312-555-0177")
    contact.get_by_label("Relationship").fill("sister")
    _save_and_continue(page, 3)

    # Leave after page 2; logging back in resumes at page 3 with pages 1–2 kept.
    accounts.log_out(page)
    accounts.sign_in(page, email, PATIENT_PASSWORD)
    page.get_by_role("link", name="Tell us about yourself").click()
    expect(page).to_have_url(url_re("/intake/3"))
    expect(_h1(page)).to_have_text("Paying for care")
    steps = page.get_by_role("list", name="Intake steps").get_by_role("listitem")
    expect(steps).to_have_count(5)
    for n in (0, 1):
        expect(steps.nth(n)).to_have_class("done")
    expect(steps.nth(2)).to_have_attribute("aria-current", "step")
    steps.get_by_role("link", name="Where you are and how to reach you").click()
    expect(page).to_have_url(url_re("/intake/2"))
    expect(page.get_by_label("The US state you will be in during visits")).to_have_value("IL")
    expect(page.locator("#f-phone")).to_have_value("312-555-0142")
    expect(contact.get_by_label("Name")).to_have_value("Lucia Quennell")
    page.get_by_role("list", name="Intake steps").get_by_role("link", name="Paying for care").click()
    expect(page).to_have_url(url_re("/intake/3"))

    # Page 3: coverage.
    page.get_by_label("Health insurance").check()
    page.get_by_label("Insurance plan (if insured)").fill("Prairie Health PPO")
    page.get_by_label("Member ID (if insured)").fill("PHX-204-7781")
    _save_and_continue(page, 4)

    # Page 4: preferences and goals.
    expect(_h1(page)).to_have_text("What you are looking for")
    page.get_by_role("group", name="What kind of care would you prefer?").get_by_label("Both").check()
    goals = page.get_by_role("group", name="What would you like to get out of care?")
    goals.get_by_label("Feel better (relief from symptoms)").check()
    goals.get_by_label("Learn ways to cope").check()
    page.get_by_label("In your own words (optional)").fill("Sleep better and get back to work.")
    page.get_by_label("Clinician gender preference").select_option("any")
    _save_and_continue(page, 5)

    # Page 5: health history (trauma "yes" adds the PCL-5 to the questionnaires).
    expect(_h1(page)).to_have_text("Your health history")
    history = {
        "Have you ever been diagnosed with bipolar disorder?": "No",
        "Have you ever been diagnosed with psychosis or schizophrenia?": "No",
        "Have you had periods of unusually high mood or energy lasting several days?": "No",
        "Right now, are you hearing or seeing things others don't, or having racing energy you can't slow down?": "No",
        "Have you lived through a very stressful or frightening event that still affects you?": "Yes",
        "Are you pregnant, or have you given birth in the past year?": "No",
    }
    for question, answer in history.items():
        page.get_by_role("group", name=question).get_by_label(answer, exact=True).check()
    page.get_by_label("How many antidepressants have you tried before? (0 if none)").fill("1")
    page.screenshot(path=str(SCREENSHOTS / "intake-step.png"), full_page=True)
    page.get_by_role("button", name="Finish and start the questionnaires").click()

    # The questionnaires, in the order the site asks for them.
    _answer(page, "phq-2", [2, 2])  # 4: positive, so the PHQ-9 follows
    _answer(page, "phq-9", [2, 2, 2, 2, 2, 2, 2, 2, 0])  # 16, moderately severe; item 9 = 0
    _answer_by_keyboard(page, "gad-2", [1, 1])  # 2: negative, no GAD-7
    _answer(page, "audit-c", [1, 0, 0], sex="female")
    _answer(page, "pcl-5", [1] * 20)  # asked because of the trauma answer; 20 is below the cut point

    expect(page).to_have_url(url_re("/care-pathway"))
    expect(_h1(page)).to_have_text("Your recommended care")
    expect(page.get_by_role("link", name="Continue the questionnaires")).to_have_count(0)  # none left
    expect(page.locator(".crisis-panel")).to_have_count(0)
    heading = "Both: a therapist and a psychiatrist, working together"
    pathway = page.get_by_role("region", name=heading)
    expect(pathway.get_by_role("heading", level=2)).to_have_text(heading)
    expect(pathway.get_by_role("heading", name="Why we suggest this")).to_be_visible()
    reasons = pathway.get_by_role("listitem")
    expect(reasons.first).to_be_visible()
    expect(reasons.filter(has_text=re.compile("moderately severe", re.IGNORECASE))).not_to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "care-pathway.png"), full_page=True)
    accounts.log_out(page)


# ------------------------------------------------------------------ 2. risk, alert, escalation


def _crisis_panel(page: Page) -> Locator:
    return page.get_by_role("alert").filter(has=page.get_by_role("heading", name=CRISIS_HEADING))


def _expect_crisis_panel(page: Page) -> Locator:
    panel = _crisis_panel(page)
    expect(panel).to_be_visible()
    expect(panel.get_by_role("link", name="911", exact=True)).to_have_attribute("href", "tel:911")
    expect(panel.get_by_role("link", name="Call 988")).to_have_attribute("href", "tel:988")
    expect(panel.get_by_role("link", name="Text 988")).to_have_attribute("href", "sms:988")
    return panel


def _open_row(page: Page, patient: str) -> Locator:
    return (
        page.get_by_role("table", name="Open safety alerts, most urgent first")
        .get_by_role("row")
        .filter(has=page.get_by_role("link", name=patient, exact=True))
    )


def test_item9_crisis_panel_alerts_on_call_clinician_then_escalates_until_acknowledged(
    page: Page, clinicians: Accounts, live_server: LiveServer
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    patient = "Tobias Wrenfield"
    email = _new_patient(live_server, patient)

    # The patient answers PHQ-9 item 9 positively: the crisis panel, then the C-SSRS.
    clinicians.sign_in(page, email, PATIENT_PASSWORD)
    page.get_by_role("link", name="Answer short questionnaires").click()
    _answer(page, "phq-2", [3, 3])
    _answer(page, "phq-9", [3, 3, 2, 2, 1, 1, 1, 1, 2])  # item 9 = 2
    panel = _expect_crisis_panel(page)
    expect(panel).to_contain_text("alerted and will contact you today")
    page.get_by_role("link", name="Continue to a few more questions").click()
    _answer(page, "c-ssrs-screener", [1, 1, 1, 1, 0, 0])  # Q4 yes: intent to act → high risk
    panel = _expect_crisis_panel(page)
    expect(panel).to_contain_text("A clinician on our team has been alerted now")
    expect(page.get_by_role("main")).to_contain_text("Online booking is paused for now")
    page.screenshot(path=str(SCREENSHOTS / "crisis-panel.png"), full_page=True)
    page.get_by_role("link", name="See what happens next").click()
    expect(page).to_have_url(url_re("/care-pathway"))
    expect(_crisis_panel(page)).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("Online booking is paused until a clinician")
    clinicians.log_out(page)

    # The on-call clinician (roster position 1) has the alert, level high, assigned to them.
    clinicians.sign_in(page, demo_email("psychiatrist"))
    first_on_call = signed_in_name(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Safety queue").click()
    expect(page).to_have_url(url_re("/safety"))
    expect(_h1(page)).to_have_text("Safety queue")
    expect(
        page.get_by_role("alert").get_by_role("listitem").filter(has_text="High safety alert (urgent)")
    ).not_to_have_count(0)
    row = _open_row(page, patient)
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("high")
    expect(row).to_contain_text("C-SSRS: high risk")
    expect(row).to_contain_text(first_on_call)
    expect(row).not_to_contain_text("escalated")
    clinicians.log_out(page)

    # Nobody acknowledges it before its deadline (0 minutes in these tests, see conftest.py):
    # one worker pass moves it to the next person on the roster.
    out = live_server.careweave("worker", "--once")
    assert "worker: escalated 1 safety alert(s)" in out, out

    clinicians.sign_in(page, demo_email("therapist"))
    second_on_call = signed_in_name(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Safety queue").click()
    expect(page).to_have_url(url_re("/safety"))
    notes = page.get_by_role("alert").get_by_role("listitem")
    expect(notes.filter(has_text=re.compile(r"^Escalated: High safety alert \(urgent\)"))).to_have_count(1)
    row = _open_row(page, patient)
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("high")
    expect(row).to_contain_text(second_on_call)
    expect(row.locator(".escalated")).to_have_text("escalated 1×")
    expect(row).not_to_contain_text(first_on_call)
    page.screenshot(path=str(SCREENSHOTS / "safety-queue.png"), full_page=True)

    # Acknowledged with a note: off the open list, onto "Recently acknowledged".
    note = "Phoned the patient; safety plan agreed; seen today."
    row.get_by_label(f"Note for {patient}").fill(note)
    row.get_by_role("button", name=f"Acknowledge alert for {patient}").click()
    expect(page).to_have_url(url_re("/safety"))
    expect(_open_row(page, patient)).to_have_count(0)  # other patients' alerts may still be open
    done = page.locator("h2:text-is('Recently acknowledged') + table")
    done_row = done.get_by_role("row").filter(has=page.get_by_role("link", name=patient, exact=True))
    expect(done_row).to_have_count(1)
    expect(done_row).to_contain_text("high")
    expect(done_row).to_contain_text(note)
    clinicians.log_out(page)
