"""Referral pages (issue #6): a therapist refers from the patient's page choosing among matching psychiatrists,
the psychiatrist accepts (the record pending the patient's consent), the patient sees it and books; open
referrals; overdue marking; errors re-render with the reason."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from careweave.careteam.models import Referral
from careweave.core.clock import SystemClock
from tests.helpers import CSRF_RE, web_login
from tests.referral_builders import referral_world


def _as(client, user):
    client.cookies.clear()
    r = web_login(client, user.email)
    assert r.status_code == 303, r.text


def _token(page) -> str:
    return CSRF_RE.search(page.text).group(1)


def test_refer_accept_and_book_from_the_pages(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    w = referral_world(session, settings, SystemClock())
    session.commit()
    pid, users = w["patient_id"], w["users"]
    _as(client, users["therapist"])
    form = client.get(f"/patients/{pid}/referrals/new")
    assert form.status_code == 200, form.text
    assert (
        "Dr Pia Psych" in form.text and "Dr Paul Psych" in form.text and "Any matching clinician" in form.text
    )
    assert "Question for the psychiatrist" in form.text
    token = _token(form)
    data = {
        "csrf_token": token,
        "kind": "medication_evaluation",
        "to_provider_id": str(w["providers"]["psych"].id),
        "reason": "",
        "urgency": "soon",
        "needs": ["screening"],
        "action": "send",
    }
    bad = client.post(f"/patients/{pid}/referrals", data=data)
    assert bad.status_code == 422 and "say why you refer" in bad.text and 'aria-invalid="true"' in bad.text
    r = client.post(
        f"/patients/{pid}/referrals", data={**data, "reason": "Low mood despite CBT"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    assert "Referral sent" in page.text
    assert "pending the patient's answer" in page.text
    rid = re.search(r"/referrals/([0-9a-f-]{36})", r.headers["location"]).group(1)

    _as(client, users["psych"])
    listing = client.get("/referrals")
    assert "Ana Referred" in listing.text and f"/referrals/{rid}" in listing.text
    page = client.get(f"/referrals/{rid}")
    assert "Low mood despite CBT" in page.text and "Pending the patient's consent" in page.text
    r = client.post(f"/referrals/{rid}/accept", data={"csrf_token": _token(page)}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "You are now on the patient's care team" in page.text
    assert "Pending the patient's consent" in page.text  # accepting does not open the record
    # completing without an outcome re-renders with the reason
    r = client.post(f"/referrals/{rid}/complete", data={"csrf_token": _token(page), "outcome": ""})
    assert r.status_code == 422 and "Say what came of the referral" in r.text

    _as(client, users["patient"])
    mine = client.get("/my/referrals")
    assert mine.status_code == 200
    assert (
        f'href="/book/{w["providers"]["psych"].id}"' in mine.text
        and "Book a visit with Dr Pia Psych" in mine.text
    )
    assert client.get("/referrals", follow_redirects=False).headers["location"] == "/my/referrals"

    _as(client, users["therapist"])
    sent = client.get("/referrals?role=sent")
    assert "Accepted" in sent.text and "Overdue" not in sent.text


def test_open_referral_taken_and_overdue_marked(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    w = referral_world(session, settings, SystemClock())
    session.commit()
    pid, users = w["patient_id"], w["users"]
    _as(client, users["therapist"])
    form = client.get(f"/patients/{pid}/referrals/new")
    r = client.post(
        f"/patients/{pid}/referrals",
        data={
            "csrf_token": _token(form),
            "kind": "medication_evaluation",
            "to_provider_id": "any",
            "reason": "Evaluation please",
            "urgency": "routine",
            "action": "send",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    rid = re.search(r"/referrals/([0-9a-f-]{36})", r.headers["location"]).group(1)
    referral = session.get(Referral, uuid.UUID(rid))
    referral.sent_at = SystemClock().now() - timedelta(days=10)
    session.commit()
    sent = client.get("/referrals?role=sent")
    assert "Overdue" in sent.text and "Any matching clinician" in sent.text

    _as(client, users["psych2"])
    page = client.get(f"/referrals/{rid}")
    assert page.status_code == 200 and "Accept" in page.text and "Why you decline" not in page.text
    _as(client, users["psych"])
    page = client.get(f"/referrals/{rid}")
    assert client.post(f"/referrals/{rid}/accept", data={"csrf_token": _token(page)}).status_code == 200
    _as(client, users["psych2"])
    token = _token(client.get("/referrals"))
    late = client.post(f"/referrals/{rid}/accept", data={"csrf_token": token})
    assert late.status_code == 409 and "Another clinician has already accepted" in late.text
