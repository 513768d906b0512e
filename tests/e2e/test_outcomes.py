"""Issue #8 browser test on the demo data (demo/care_model.py): patient5's PHQ-9 stayed flat for 11 weeks (17, 16,
17, 16), so the registry flags them "not improving"; the psychiatric consultant on the episode (psychiatrist1)
records a caseload-review recommendation with a proposed plan change; the treating psychiatrist (psychiatrist2)
accepts it and the treatment plan shows the change; the trend chart (SVG and its data table) shows the history."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from careweave.db.engine import make_engine, make_sessionmaker
from careweave.identity.models import User
from careweave.patients.models import Patient
from tests.e2e.conftest import ACTION_TIMEOUT_MS, ARTIFACTS, LiveServer
from tests.e2e.helpers import Accounts, demo_email, url_re

pytestmark = pytest.mark.e2e

SCREENSHOTS = ARTIFACTS / "screenshots"
FLAT_SCORES = ["17", "16", "17", "16"]  # weeks 0, 4, 8 and the intake's, oldest first (demo/care_model.py)
CHANGE = "Raise the antidepressant dose; repeat the PHQ-9 in four weeks (caseload review)"


def _patient5(live_server: LiveServer) -> tuple[uuid.UUID, Patient, str]:
    """patient5's id and record; psychiatrist2's name (the owner of the accepted change)."""
    engine = make_engine(live_server.env["CAREWEAVE_DATABASE_URL"])
    try:
        with make_sessionmaker(engine)() as s:
            patient = s.scalars(
                select(Patient)
                .join(User, User.id == Patient.user_id)
                .where(User.email == demo_email("patient", 5))
            ).one()
            treating = s.scalars(select(User).where(User.email == demo_email("psychiatrist", 2))).one()
            return patient.id, patient, treating.full_name
    finally:
        engine.dispose()


def _as(browser: Browser, live_server: LiveServer, accounts: Accounts, email: str) -> Page:
    ctx = browser.new_context(base_url=live_server.base_url, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    page = ctx.new_page()
    accounts.sign_in(page, email)
    return page


def test_flagged_patient_reviewed_change_accepted_into_plan(
    browser: Browser, live_server: LiveServer, clinicians: Accounts
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    patient_id, patient, treating_name = _patient5(live_server)
    listed = f"{patient.family_name}, {patient.given_name}"  # as the registry lists patients
    outcomes_url = f"/patients/{patient_id}/outcomes"

    # The consultant's registry, filtered to "not improving": patient5, 11 weeks in, PHQ-9 flat.
    consultant = _as(browser, live_server, clinicians, demo_email("psychiatrist", 1))
    consultant.goto("/registry")
    expect(consultant.get_by_role("heading", level=1)).to_have_text("Registry")
    consultant.get_by_label("Flag").select_option("not_improving")
    consultant.get_by_role("button", name="Show").click()
    expect(consultant).to_have_url(url_re("/registry", query=r"\?.*flag=not_improving.*"))
    row = consultant.locator("table.data tbody tr").filter(
        has=consultant.get_by_role("link", name=listed, exact=True)
    )
    expect(row).to_have_count(1)
    expect(row.locator(".badge").filter(has_text="Not improving")).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(2)).to_have_text("11")  # weeks in treatment
    expect(cells.nth(3)).to_have_text("PHQ-9")
    expect(cells.nth(4)).to_have_text("17")  # baseline
    expect(cells.nth(5)).to_have_text("16")  # latest
    expect(cells.nth(7)).to_have_text("Not improving")
    expect(cells.last).to_have_text("—")  # not reviewed yet
    consultant.screenshot(path=str(SCREENSHOTS / "registry-not-improving.png"), full_page=True)

    # The patient's page: the chart (SVG) and its data table hold the four scores; the status says why.
    row.get_by_role("link", name=listed, exact=True).click()
    expect(consultant).to_have_url(url_re(outcomes_url))
    expect(consultant.get_by_role("heading", level=1)).to_have_text(
        f"Measurement-based care: {patient.given_name} {patient.family_name}"
    )
    status = consultant.locator("section[aria-labelledby='st-h'] tbody tr").filter(has_text="PHQ-9")
    expect(status.locator("td").last).to_contain_text("Not improving")
    chart = consultant.locator("section").filter(
        has=consultant.get_by_role("heading", name="PHQ-9 over time")
    )
    expect(chart.locator("figure svg")).to_have_count(1)
    scores = chart.get_by_role("table", name="PHQ-9 scores").locator("tbody tr td:nth-child(2)")
    expect(scores).to_have_text(FLAT_SCORES)

    # The consultant records a recommendation with a proposed change to the shared plan.
    reviews = consultant.locator("section[aria-labelledby='rv-h']")
    expect(reviews).to_contain_text("No reviews yet.")
    reviews.get_by_label("Recommendation").select_option("increase_dose")
    reviews.get_by_label("Detail").fill("Flat PHQ-9 for 11 weeks at an adequate dose: treat to target.")
    reviews.get_by_label("Discipline").select_option("psychiatry")
    reviews.get_by_label("Change", exact=True).fill(CHANGE)
    reviews.get_by_role("button", name="Record review").click()
    expect(consultant).to_have_url(url_re(outcomes_url, query=r"\?notice=reviewed"))
    expect(consultant.get_by_role("status")).to_have_text("Review recorded.")
    review = consultant.locator("article.review")
    expect(review).to_have_count(1)
    expect(review).to_contain_text("Increase the medication dose")
    expect(review).to_contain_text(CHANGE)
    expect(review.locator("strong").last).to_have_text("proposed")

    # The treating psychiatrist accepts it on the same page: a new plan version with the change.
    treating = _as(browser, live_server, clinicians, demo_email("psychiatrist", 2))
    treating.goto(outcomes_url)
    proposal = treating.locator("article.review").filter(has_text=CHANGE)
    proposal.get_by_role("button", name="Accept into the plan").click()
    expect(treating).to_have_url(url_re(outcomes_url, query=r"\?notice=accepted"))
    expect(treating.get_by_role("status")).to_have_text("Accepted: the plan has a new version.")
    decided = treating.locator("article.review").filter(has_text=CHANGE)
    expect(decided).to_contain_text("accepted (plan version")
    expect(decided.get_by_role("button")).to_have_count(0)
    # The chart's events now include the review (the accessible table next to the SVG).
    chart = treating.locator("section").filter(has=treating.get_by_role("heading", name="PHQ-9 over time"))
    expect(chart.get_by_role("table", name="Events")).to_contain_text("Review: Increase the medication dose")
    expect(chart.get_by_role("table", name="PHQ-9 scores").locator("tbody tr td:nth-child(2)")).to_have_text(
        FLAT_SCORES
    )
    treating.screenshot(path=str(SCREENSHOTS / "outcomes-review-accepted.png"), full_page=True)

    treating.goto(f"/patients/{patient_id}/plan")
    expect(treating.get_by_role("heading", level=1)).to_have_text("Treatment plan")
    current = treating.locator("section[aria-labelledby='cur-h']")
    expect(current).to_contain_text("Caseload review")
    change = current.locator("table.data tbody tr").filter(has_text=CHANGE)
    expect(change).to_have_count(1)
    expect(change.locator("td").nth(1)).to_have_text(treating_name)
    treating.screenshot(path=str(SCREENSHOTS / "plan-after-review.png"), full_page=True)

    # Back on the registry, the consultant sees the patient reviewed, with the outcome.
    consultant.goto("/registry?flag=not_improving")
    row = consultant.locator("table.data tbody tr").filter(
        has=consultant.get_by_role("link", name=listed, exact=True)
    )
    expect(row.locator("td").last).to_contain_text("accepted")
    for p in (consultant, treating):
        p.context.close()
