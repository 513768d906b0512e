"""Page handlers never block the asyncio event loop.

While one request waits on the database (on SQLite another request may hold the write lock for up to the
busy timeout), every other request and the visit rooms' WebSocket signaling must go on. Form handlers used
to be ``async def`` only to ``await request.form()`` and then ran their database work on the loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from careweave.consent import rules as consent_rules
from careweave.consent import service as consent
from careweave.core.actor import Role
from careweave.intake import service as intake_service
from careweave.safety import service as safety
from tests.builders import make_user
from tests.helpers import CSRF_RE, web_login

SLOW_SECONDS = 1.0
# a /healthz answered while the slow request sleeps; blocked, it would wait the whole second
FAST_SECONDS = 0.5


def _slowed(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> threading.Event:
    """``module.name`` sleeps (blocking, like a locked database) before doing its work; the event is set
    when the sleep starts."""
    entered = threading.Event()
    original: Callable[..., Any] = getattr(module, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        time.sleep(SLOW_SECONDS)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)
    return entered


def _patient(client, session, settings) -> tuple[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    user = make_user(session, settings, Role.PATIENT)
    session.commit()
    web_login(client, user.email)
    category = sorted(consent_rules.SHAREABLE)[0]
    return "/sharing", {"grantee": "care_team", "expires": "", "categories": [category]}


def _intake(client, session, settings) -> tuple[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    user = make_user(session, settings, Role.PATIENT)
    session.commit()
    web_login(client, user.email)
    return "/intake/1", {"given_name": "Ana", "family_name": "Testpatient", "birth_date": "1990-05-06"}


def _oncall(client, session, settings) -> tuple[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    admin = make_user(session, settings, Role.ADMIN)
    therapist = make_user(session, settings, Role.THERAPIST)
    session.commit()
    web_login(client, admin.email)
    return "/admin/on-call", {f"pos_{therapist.id}": "1"}


CASES = {
    # handler: (service module and function it calls, set-up -> (page with the form, form fields), post to, redirect)
    "sharing.grant": (consent, "grant", _patient, "/sharing/grant", "/sharing?saved=1"),
    "care.intake_save": (intake_service, "update_intake", _intake, "/intake/1", "/intake/2"),
    "care.oncall_save": (safety, "set_roster", _oncall, "/admin/on-call", "/admin/on-call"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_slow_form_post_does_not_stall_other_requests(case, monkeypatch, client, session, settings):
    module, name, setup, post_to, redirect = CASES[case]
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    page, fields = setup(client, session, settings)
    token = CSRF_RE.search(client.get(page).text).group(1)
    assert client.get("/healthz").status_code == 200  # warmed up: the first call resolves the routes
    entered = _slowed(monkeypatch, module, name)

    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(client.post, post_to, data={"csrf_token": token, **fields}, follow_redirects=False)
        assert entered.wait(timeout=30), "the slowed service was never called"
        started = time.monotonic()
        health = client.get("/healthz")
        elapsed = time.monotonic() - started
        slow_response = slow.result(timeout=60)

    assert health.status_code == 200
    assert elapsed < FAST_SECONDS, (
        f"/healthz took {elapsed:.2f} s while {case} was busy: the handler blocks the event loop"
    )
    assert slow_response.status_code == 303, slow_response.text
    assert slow_response.headers["location"] == redirect
