"""End-to-end journeys in a real browser against ``careweave serve`` (see conftest.py).

Each test uses its own demo accounts where it changes state (MFA enrolment, password), so the
tests can run alone or in any order.
"""

from __future__ import annotations

import re
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ARTIFACTS, LiveServer
from tests.e2e.helpers import DEMO_PASSWORD, Accounts, demo_email, url_re

pytestmark = pytest.mark.e2e

SCREENSHOTS = ARTIFACTS / "screenshots"


# ------------------------------------------------------------------ every role reaches its home


@pytest.mark.parametrize(
    ("login_name", "home", "heading", "badge", "must_enrol"),
    [
        pytest.param("patient", "/patient", re.compile(r"^Hello, \S"), "patient", False, id="patient"),
        pytest.param("therapist", "/clinician", "My patients", "therapist", True, id="therapist"),
        pytest.param("psychiatrist", "/clinician", "My patients", "psychiatrist", True, id="psychiatrist"),
        pytest.param("care.manager", "/clinician", "Caseload", "care manager", True, id="care_manager"),
        pytest.param("admin", "/admin", "Users", "admin", True, id="admin"),
    ],
)
def test_each_role_logs_in_to_its_home_and_logs_out(
    page: Page,
    accounts: Accounts,
    login_name: str,
    home: str,
    heading: str | re.Pattern[str],
    badge: str,
    must_enrol: bool,
) -> None:
    email = demo_email(login_name)
    accounts.submit_login(page, email)
    if must_enrol:
        # MFA is required for everyone who can see patient records: enrol before anything else.
        expect(page).to_have_url(url_re("/mfa/setup"))
        page.goto(home)  # the home page is not reachable until enrolment is done
        expect(page).to_have_url(url_re("/mfa/setup"))
        accounts.enrol(page, email)

    expect(page).to_have_url(url_re(home))
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    banner = page.get_by_role("banner")
    expect(banner.locator(".role-badge")).to_have_text(badge)

    accounts.log_out(page)
    page.goto(home)  # the session is gone
    expect(page).to_have_url(url_re("/login", query=r"\?next=.*"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")


# ------------------------------------------------------------------ MFA


def _invalid_code(secret: str) -> str:
    """A 6-digit code that is certainly wrong for the steps around now."""
    totp = pyotp.TOTP(secret)
    now = int(time.time() // totp.interval)
    valid = {totp.generate_otp(s) for s in range(now - 2, now + 3)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


def test_clinician_enrols_in_mfa_then_logs_in_with_recovery_code_and_totp(
    page: Page, accounts: Accounts
) -> None:
    email = demo_email("therapist", 2)

    # 1. First log-in: enrolment is forced; a wrong code is refused, the app's code accepted.
    accounts.submit_login(page, email)
    expect(page).to_have_url(url_re("/mfa/setup"))
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Code from the app").fill(_invalid_code(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("alert")).to_contain_text("That code does not match")
    expect(page.locator("#totp-secret")).to_have_text(secret)  # same pending key offered again
    enrolment = accounts.enrol(page, email)
    enrolment_code = pyotp.TOTP(secret).generate_otp(enrolment.last_step)
    expect(page).to_have_url(url_re("/clinician"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My patients")
    accounts.log_out(page)

    # 2. Second log-in: the password alone is not enough.
    accounts.submit_login(page, email)
    expect(page).to_have_url(url_re("/login/mfa"))
    page.goto("/clinician")
    expect(page).to_have_url(url_re("/login/mfa"))
    # Replaying the code used at enrolment is refused (same 30-second step).
    page.get_by_label("Code", exact=True).fill(enrolment_code)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_have_text("That code is not valid.")
    # A recovery code works...
    recovery = enrolment.recovery_codes[0]
    page.get_by_label("Code", exact=True).fill(recovery)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(url_re("/clinician"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My patients")
    accounts.log_out(page)

    # 3. Third log-in: ...but only once; a fresh TOTP code from the app then gets in.
    accounts.submit_login(page, email)
    expect(page).to_have_url(url_re("/login/mfa"))
    page.get_by_label("Code", exact=True).fill(recovery)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_have_text("That code is not valid.")
    page.get_by_label("Code", exact=True).fill(enrolment.fresh_code())
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(url_re("/clinician"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My patients")

    # The account page counts the recovery code as used.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account and security")
    expect(page.get_by_role("main")).to_contain_text("9 recovery codes left")
    accounts.log_out(page)


# ------------------------------------------------------------------ passwords


def test_wrong_password_shows_an_error_on_the_login_page(page: Page, accounts: Accounts) -> None:
    email = demo_email("patient", 3)
    accounts.submit_login(page, email, "not-the-right-password")
    expect(page).to_have_url(url_re("/login"))
    expect(page.get_by_role("alert")).to_have_text("Incorrect e-mail or password.")
    expect(page.get_by_label("E-mail", exact=True)).to_have_value(email)  # kept for the retry
    expect(page.get_by_label("Password", exact=True)).to_have_value("")  # never echoed back
    page.goto("/patient")
    expect(page).to_have_url(url_re("/login", query=r"\?next=.*"))


def _reset_mail_for(mail_dir: Path, to: str, timeout_s: float = 5.0) -> EmailMessage:
    deadline = time.monotonic() + timeout_s
    while True:
        for path in sorted(mail_dir.glob("*.eml")):
            msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            # the first password e-mail to them (the worker may have sent them visit notices too)
            if (
                isinstance(msg, EmailMessage)
                and str(msg["To"]) == to
                and "password" in str(msg["Subject"]).lower()
            ):
                return msg
        if time.monotonic() > deadline:
            found = sorted(p.name for p in mail_dir.glob("*.eml")) if mail_dir.exists() else []
            pytest.fail(f"no mail to {to} under {mail_dir} (found: {found})")
        time.sleep(0.1)


def test_password_reset_by_email_link(page: Page, accounts: Accounts, live_server: LiveServer) -> None:
    email = demo_email("patient", 2)
    new_password = "copper-lantern-river-2026"

    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(url_re("/password/forgot"))
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page).to_have_url(url_re("/login", query=r"\?notice=reset_sent"))
    expect(page.get_by_role("status")).to_contain_text("we have e-mailed a link")

    msg = _reset_mail_for(live_server.mail_dir, email)
    assert "password" in str(msg["Subject"]).lower()
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"https?://\S+/password/reset\?token=\S+", body.get_content())
    assert match, body.get_content()
    link = match.group(0)
    assert link.startswith(live_server.base_url + "/"), link

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password again", exact=True).fill(new_password)
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(url_re("/login", query=r"\?notice=password_changed"))
    expect(page.get_by_role("status")).to_have_text(
        "Your password has been changed. Log in with the new one."
    )

    # The link works once.
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("another-long-password-1")
    page.get_by_label("New password again", exact=True).fill("another-long-password-1")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid, expired or already used")

    # The old password no longer works; the new one does.
    accounts.submit_login(page, email, DEMO_PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("Incorrect e-mail or password.")
    accounts.submit_login(page, email, new_password)
    expect(page).to_have_url(url_re("/patient"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Hello, \S"))
    accounts.log_out(page)


# ------------------------------------------------------------------ screenshots


def _assert_heading_clear_of_header(page: Page) -> None:
    """The page heading has breathing room below the header (main's padding is applied)."""
    header = page.get_by_role("banner").bounding_box()
    h1 = page.get_by_role("heading", level=1).bounding_box()
    assert header is not None
    assert h1 is not None
    gap = h1["y"] - (header["y"] + header["height"])
    assert gap >= 16, f"h1 is only {gap:.0f}px below the header"


def test_screenshots_of_patient_and_psychiatrist_homes(page: Page, accounts: Accounts) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    accounts.sign_in(page, demo_email("patient"))
    expect(page).to_have_url(url_re("/patient"))
    expect(page.get_by_role("heading", name="Your details")).to_be_visible()
    _assert_heading_clear_of_header(page)
    page.screenshot(path=str(SCREENSHOTS / "patient-home.png"), full_page=True)
    accounts.log_out(page)

    accounts.sign_in(page, demo_email("psychiatrist"))
    expect(page).to_have_url(url_re("/clinician"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My patients")
    expect(page.get_by_role("main")).to_contain_text("Psychiatry workspace")
    page.screenshot(path=str(SCREENSHOTS / "psychiatrist-home.png"), full_page=True)
    accounts.log_out(page)


def test_patient_home_on_a_phone(browser: Browser, live_server: LiveServer, accounts: Accounts) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone = browser.new_context(
        base_url=live_server.base_url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = phone.new_page()
        accounts.sign_in(page, demo_email("patient"))
        expect(page).to_have_url(url_re("/patient"))
        expect(page.get_by_role("heading", name="Your details")).to_be_visible()
        # nothing wider than the screen (no sideways scrolling)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"page scrolls sideways on a phone: {widths}"
        _assert_heading_clear_of_header(page)
        page.screenshot(path=str(SCREENSHOTS / "patient-home-mobile.png"), full_page=True)
        accounts.log_out(page)
    finally:
        phone.close()


# ------------------------------------------------------------------ keyboard


def _focused(page: Page) -> dict[str, str]:
    return page.evaluate(
        """() => { const e = document.activeElement;
                   return {tag: e.tagName.toLowerCase(), id: e.id, cls: e.className,
                           text: (e.textContent || '').trim()}; }"""
    )


def test_login_page_keyboard_skip_link_then_email(page: Page) -> None:
    page.goto("/login")
    skip = page.get_by_role("link", name="Skip to main content")

    # The first Tab lands on the skip link, which becomes visible when focused.
    page.keyboard.press("Tab")
    assert _focused(page)["cls"] == "skip-link", _focused(page)
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None
    assert box["x"] >= 0, f"focused skip link is off-screen: {box}"
    assert box["y"] >= 0, f"focused skip link is off-screen: {box}"

    # Following it moves to the main content, so the next Tab reaches the e-mail field.
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("E-mail", exact=True)).to_be_focused()

    # Without using the skip link, the order is skip link, the home link, then the e-mail field.
    page.goto("/login")
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        f = _focused(page)
        order.append(f["id"] or f["text"])
    assert order == ["Skip to main content", "Careweave", "f-email"], order
