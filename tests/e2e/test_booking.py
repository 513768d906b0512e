"""Issue #5 browser test: a demo patient books from their matches, sees the visit in their own time zone,
gets the booking notice (with its calendar invitation) from the worker in the local mail log, and the demo
patient1 walks into the waiting room of the visit the demo data starts a quarter of an hour after seeding."""

from __future__ import annotations

import email

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from careweave.db.engine import make_engine, make_sessionmaker
from careweave.jobs.models import Job
from tests.e2e.conftest import ARTIFACTS, LiveServer
from tests.e2e.helpers import Accounts, demo_email, url_re

pytestmark = pytest.mark.e2e


def test_demo_patient_books_from_matches_and_is_notified(
    page: Page, accounts: Accounts, live_server: LiveServer
) -> None:
    # patient6: Texas (America/Chicago), pathway "both", insured (demo story).
    accounts.sign_in(page, demo_email("patient", 6))
    page.goto("/matches")
    therapists = page.locator("section").filter(
        has=page.get_by_role("heading", name="Therapists (talk therapy)")
    )
    first = therapists.locator("li.match").first
    clinician = first.locator("h3 a").inner_text()
    first.get_by_role("link", name="See times and book").click()
    expect(page).to_have_url(url_re("/book/", query=r"[0-9a-f-]{36}\?.*"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(clinician)
    expect(page.locator(".lead")).to_contain_text("America/Chicago".replace("_", " "))
    slot = page.locator("label.slot").first
    if not slot.is_visible():  # nothing in the first two weeks: look later
        page.get_by_role("link", name="Later →").click()
        slot = page.locator("label.slot").first
    chosen = slot.locator("span").first.inner_text()
    slot.click()
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "book.png"), full_page=True)
    page.get_by_role("button", name="Book this time").click()
    expect(page).to_have_url(url_re("/appointments", query=r"\?booked=.*"))
    expect(page.get_by_role("status").first).to_contain_text("Your visit is booked")
    row = page.locator("tbody tr").filter(has_text=clinician).first
    expect(row).to_contain_text(chosen)
    assert " CST" in row.inner_text() or " CDT" in row.inner_text()  # the patient's own zone, labelled
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "appointments.png"), full_page=True)
    # The worker sends the booking notice, with the calendar invitation, to the local mail log.
    live_server.careweave("worker", "--once")
    notices = [
        email.message_from_bytes(p.read_bytes())
        for p in sorted(live_server.mail_dir.glob("*.eml"))
        if demo_email("patient", 6) in p.read_text(errors="replace")
    ]
    assert notices, list(live_server.mail_dir.glob("*.eml"))
    parts = {part.get_content_type() for part in notices[-1].walk()}
    assert "text/calendar" in parts
    # Its reminders wait in the queue for their time (24 h and 1 h before), each exactly once.
    appointment_id = page.url.split("booked=")[1]
    engine = make_engine(live_server.env["CAREWEAVE_DATABASE_URL"])
    try:
        with make_sessionmaker(engine)() as session:
            jobs = session.scalars(select(Job).where(Job.kind == "reminder.send")).all()
            mine = [j for j in jobs if j.payload.get("appointment_id") == appointment_id]
            assert mine and all(j.status == "queued" for j in mine)
            assert len({j.dedupe_key for j in mine}) == len(mine)
    finally:
        engine.dispose()


def test_demo_patient1_joins_the_waiting_room(page: Page, accounts: Accounts) -> None:
    accounts.sign_in(page, demo_email("patient", 1))
    page.goto("/appointments")
    join = page.get_by_role("link", name="Join visit").first
    expect(join).to_be_visible()
    join.click()
    expect(page).to_have_url(url_re("/visits/", query=r"[0-9a-f-]{36}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Video visit")
    expect(page.locator("#stage-status")).to_contain_text("waiting room")
