"""Issue #6 browser test, the seed's example on the demo data: patient6's therapist has referred them to a
psychiatrist (psychiatrist3) asking for the scores and the plan; the patient shares them; the psychiatrist
accepts, sees the scores and the plan but not the therapist's psychotherapy note; the two clinicians message
each other; the patient revokes; the psychiatrist's next look at the scores is refused, and the audit trail
holds both the read and the refusal."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.careteam.models import CareTeamMember
from careweave.db.engine import make_engine, make_sessionmaker
from careweave.identity.models import User
from careweave.patients.models import Patient
from tests.e2e.conftest import ACTION_TIMEOUT_MS, ARTIFACTS, LiveServer
from tests.e2e.helpers import Accounts, demo_email

pytestmark = pytest.mark.e2e


def _db(live_server: LiveServer):  # type: ignore[no-untyped-def]
    engine = make_engine(live_server.env["CAREWEAVE_DATABASE_URL"])
    return engine, make_sessionmaker(engine)


def _facts(live_server: LiveServer) -> tuple[uuid.UUID, str, uuid.UUID]:
    """patient6's id, their therapist's e-mail, psychiatrist3's user id."""
    engine, factory = _db(live_server)
    try:
        with factory() as s:
            patient = s.scalars(
                select(Patient)
                .join(User, User.id == Patient.user_id)
                .where(User.email == demo_email("patient", 6))
            ).one()
            therapist_id = s.scalars(
                select(CareTeamMember.user_id).where(
                    CareTeamMember.patient_id == patient.id, CareTeamMember.role == "therapist"
                )
            ).first()
            therapist = s.get(User, therapist_id)
            psych = s.scalars(select(User).where(User.email == demo_email("psychiatrist", 3))).one()
            assert therapist is not None
            return patient.id, therapist.email, psych.id
    finally:
        engine.dispose()


def _as(browser: Browser, live_server: LiveServer, accounts: Accounts, email: str) -> Page:
    ctx = browser.new_context(base_url=live_server.base_url)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    page = ctx.new_page()
    accounts.sign_in(page, email)
    return page


def test_refer_share_accept_message_revoke(
    browser: Browser, live_server: LiveServer, accounts: Accounts
) -> None:
    patient_id, therapist_email, psych_user_id = _facts(live_server)
    psych_email = demo_email("psychiatrist", 3)

    # The patient answers the request that came with the referral: share scores and plan.
    patient = _as(browser, live_server, accounts, demo_email("patient", 6))
    patient.goto("/sharing")
    expect(patient.get_by_role("heading", name="Requests waiting for you")).to_be_visible()
    patient.get_by_role("button", name="Share", exact=True).first.click()
    expect(patient.get_by_role("heading", name="What you have shared")).to_be_visible()
    expect(patient.locator("table.data").last).to_contain_text("active")

    # The psychiatrist accepts and sees the scores and the plan, not the psychotherapy note.
    psych = _as(browser, live_server, accounts, psych_email)
    psych.goto("/referrals?role=received")
    psych.locator("tbody tr").filter(has_text="Medication evaluation").first.get_by_role("link").click()
    psych.get_by_role("button", name="Accept").click()
    psych.goto(f"/patients/{patient_id}")
    expect(psych.get_by_role("heading", name="Screenings")).to_be_visible()
    expect(psych.locator("body")).not_to_contain_text("Not shared with you")
    psych.goto(f"/patients/{patient_id}/plan")
    expect(psych.locator("main")).to_contain_text("F32.1")
    psych.goto(f"/patients/{patient_id}/notes")
    expect(psych.locator("main")).not_to_contain_text("Process notes from the first session")
    psych.screenshot(path=str(ARTIFACTS / "screenshots" / "collaboration-psychiatrist.png"), full_page=True)

    # The psychiatrist writes to the therapist about the patient; the therapist reads it.
    psych.goto(f"/messages/new?patient_id={patient_id}&kind=clinician")
    psych.locator("input[name=participants]").first.check()
    psych.get_by_label("Subject").fill("Medication evaluation")
    psych.get_by_label("Message").fill("Seen today; starting an SSRI. Please keep up weekly CBT.")
    psych.get_by_role("button", name="Send").click()
    expect(psych.locator("main")).to_contain_text("starting an SSRI")
    therapist = _as(browser, live_server, accounts, therapist_email)
    therapist.goto("/messages")
    therapist.get_by_role("link", name="Medication evaluation").first.click()
    expect(therapist.locator("main")).to_contain_text("starting an SSRI")

    # The patient revokes; the psychiatrist's next look at the scores is refused.
    patient.goto("/sharing")
    patient.get_by_role("button", name="Revoke").first.click()
    expect(patient.get_by_role("status")).to_contain_text("Revoked")
    psych.goto(f"/patients/{patient_id}")
    expect(psych.get_by_role("heading", name="Not shared with you")).to_be_visible()
    expect(psych.get_by_role("heading", name="Screenings")).to_have_count(0)

    # The audit trail shows the psychiatrist's read and the refusal.
    engine, factory = _db(live_server)
    try:
        with factory() as s:
            seen = {
                (e.action, e.outcome)
                for e in s.scalars(
                    select(AuditEvent).where(
                        AuditEvent.patient_id == patient_id, AuditEvent.actor_user_id == psych_user_id
                    )
                )
            }
    finally:
        engine.dispose()
    assert ("screening.history_viewed", "success") in seen
    assert ("screening.history_viewed", "denied") in seen
    patient.goto("/patient/access-log")
    expect(patient.locator("main")).to_contain_text("denied")
    for p in (patient, psych, therapist):
        p.context.close()
