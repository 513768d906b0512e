"""Page-level helpers for the browser journeys: logging in, MFA enrolment, URL matching."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Page, expect

DEMO_PASSWORD = "demo-password-2026"
DOMAIN = "demo.careweave.example"


def demo_email(login_name: str, n: int = 1) -> str:
    """``demo_email("therapist", 2)`` → ``therapist2@demo.careweave.example`` (see demo/seed.py)."""
    return f"{login_name}{n}@{DOMAIN}"


def url_re(path: str, query: str = r"(\?.*)?") -> re.Pattern[str]:
    """Any origin, exactly this path, then ``query`` (a regex; by default any or none)."""
    return re.compile(r"^https?://[^/]+" + re.escape(path) + query + "$")


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


@dataclass
class Enrolment:
    secret: str
    last_step: int
    recovery_codes: list[str] = field(default_factory=list)

    def fresh_code(self) -> str:
        """A TOTP code for a step not used yet: the current one, or the next (the server allows ±1
        step of clock drift). The server refuses any step at or before the last one it accepted.
        """
        totp = pyotp.TOTP(self.secret)
        now = int(time.time() // totp.interval)
        step = max(self.last_step + 1, now)
        if step > now + 1:
            # Several log-ins within one step used up the step ahead too: wait (at most one
            # step) until the code is no more than one step ahead of the server's clock.
            time.sleep(max(0.0, (step - 1) * totp.interval - time.time()) + 0.05)
        self.last_step = step
        return totp.generate_otp(step)


class Accounts:
    """Logs demo users in through the pages, remembering MFA enrolments across tests."""

    def __init__(self) -> None:
        self.enrolments: dict[str, Enrolment] = {}
        self.created: set[str] = set()  # accounts the tests made with `careweave users create`

    @staticmethod
    def submit_login(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/login")
        page.get_by_label("E-mail", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Log in", exact=True).click()
        page.wait_for_load_state()

    def enrol(self, page: Page, email: str) -> Enrolment:
        """On /mfa/setup: read the key, enter the app's code, keep the recovery codes, continue."""
        expect(page).to_have_url(url_re("/mfa/setup"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-step verification")
        secret = page.locator("#totp-secret").inner_text().strip()
        totp = pyotp.TOTP(secret)
        step = int(time.time() // totp.interval)
        page.get_by_label("Code from the app").fill(totp.generate_otp(step))
        page.get_by_role("button", name="Turn on").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
        codes = page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
        codes = [c.strip() for c in codes]
        assert len(codes) == 10, codes
        enrolment = Enrolment(secret=secret, last_step=step, recovery_codes=codes)
        self.enrolments[email] = enrolment
        page.get_by_role("link", name="I have saved them — continue").click()
        page.wait_for_load_state()
        return enrolment

    def pass_second_step(self, page: Page, email: str) -> None:
        expect(page).to_have_url(url_re("/login/mfa"))
        page.get_by_label("Code", exact=True).fill(self.enrolments[email].fresh_code())
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()

    def sign_in(self, page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
        """Log in and get past whatever second step the account needs, to its home page."""
        self.submit_login(page, email, password)
        if path_of(page) == "/mfa/setup":
            self.enrol(page, email)
        elif path_of(page) == "/login/mfa":
            self.pass_second_step(page, email)

    @staticmethod
    def log_out(page: Page) -> None:
        page.get_by_role("banner").get_by_role("button", name="Log out").click()
        expect(page).to_have_url(url_re("/login", query=r"\?notice=logged_out"))
        expect(page.get_by_role("status")).to_have_text("You have logged out.")


def signed_in_name(page: Page) -> str:
    """The name the header shows for the signed-in user (without the role badge)."""
    who = page.get_by_role("banner").locator(".who > span").first
    badge = who.locator(".role-badge").inner_text()
    text = " ".join(who.inner_text().split())
    return text.removeprefix("Signed in as ").removesuffix(badge).strip()
