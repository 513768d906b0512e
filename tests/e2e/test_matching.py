"""Issue #4 browser test: a demo patient whose pathway is "both" sees a therapist and a
psychiatric prescriber who can legally see them in their state, with reasons."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import Accounts, demo_email, url_re

pytestmark = pytest.mark.e2e


def test_patient_with_pathway_both_sees_licensed_therapist_and_prescriber(
    page: Page, accounts: Accounts
) -> None:
    # patient6 (demo story: severe depression, two antidepressant trials) is in Texas with "both".
    accounts.sign_in(page, demo_email("patient", 6))
    page.goto("/care-pathway")
    expect(page.get_by_role("heading", level=2).first).to_have_text(
        "Both: a therapist and a psychiatrist, working together"
    )
    page.get_by_role("link", name="See matching clinicians").click()
    expect(page).to_have_url(url_re("/matches"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Clinicians who can see you")
    expect(page.locator(".lead")).to_contain_text("TX")
    therapists = page.locator("section").filter(
        has=page.get_by_role("heading", name="Therapists (talk therapy)")
    )
    prescribers = page.locator("section").filter(
        has=page.get_by_role("heading", name="Psychiatric prescribers (medication)")
    )
    expect(therapists.locator("li.match").first).to_be_visible()
    expect(prescribers.locator("li.match").first).to_be_visible()
    expect(prescribers.locator("li.match").first).to_contain_text("Can prescribe in Texas")
    expect(therapists.locator("li.match").first).to_contain_text("Texas")
    expect(page.get_by_role("heading", name="Suggested team")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "matches.png"), full_page=True)
    prescribers.locator("li.match h3 a").first.click()
    expect(page.get_by_text("Licensed in")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("Texas")
