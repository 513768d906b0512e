"""The patient journey and the clinician safety pages through the HTML front door (issue #3)."""

from __future__ import annotations

from careweave.core.actor import Role
from careweave.identity import service as identity
from careweave.patients import service as patients
from careweave.safety import service as safety
from tests.builders import make_user
from tests.helpers import CSRF_RE, web_login


def _post(client, path, data):
    token = CSRF_RE.search(client.get(path).text).group(1)
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def _relaxed(client, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})


def test_intake_pages_save_progress_and_validate(client, session, settings):
    _relaxed(client, settings)
    user = make_user(session, settings, Role.PATIENT, name="Ana Testpatient")
    session.commit()
    web_login(client, user.email)
    assert client.get("/intake", follow_redirects=False).headers["location"] == "/intake/1"
    r = _post(client, "/intake/1", {"given_name": "Ana", "family_name": "", "birth_date": "1990-05-06"})
    assert r.status_code == 422
    assert "required" in r.text
    r = _post(
        client, "/intake/1", {"given_name": "Ana", "family_name": "Testpatient", "birth_date": "1990-05-06"}
    )
    assert r.headers["location"] == "/intake/2"
    # progress is saved: coming back resumes at step 2
    assert client.get("/intake", follow_redirects=False).headers["location"] == "/intake/2"
    r = _post(client, "/intake/2", {"state": "ZZ", "timezone": "America/Chicago", "language": "en"})
    assert r.status_code == 422
    assert "US state" in r.text
    r = _post(
        client,
        "/intake/2",
        {
            "state": "IL",
            "timezone": "America/Chicago",
            "language": "en",
            "ec_name": "Sam Contact",
            "ec_phone": "+1 555 0199",
        },
    )
    assert r.headers["location"] == "/intake/3"
    assert _post(client, "/intake/3", {"coverage_type": "self_pay"}).headers["location"] == "/intake/4"
    r = _post(client, "/intake/4", {"treatment_preference": "therapy", "goals": "coping_skills"})
    assert r.headers["location"] == "/intake/5"
    r = _post(client, "/intake/5", {"bipolar": "no", "psychosis": "no", "mood_elevation": "no"})
    assert r.status_code == 422  # trauma question unanswered
    r = _post(
        client,
        "/intake/5",
        {
            "bipolar": "no",
            "psychosis": "no",
            "mood_elevation": "no",
            "trauma": "no",
            "antidepressant_trials": "0",
            "current_medications": "sertraline\n",
        },
    )
    assert r.headers["location"] == "/screening"
    assert client.get("/screening", follow_redirects=False).headers["location"] == "/screening/phq-2"


def test_screening_forms_lead_to_a_recommendation(client, session, settings):
    _relaxed(client, settings)
    user = make_user(session, settings, Role.PATIENT)
    session.commit()
    web_login(client, user.email)
    page = client.get("/screening/phq-2")
    assert "Little interest or pleasure in doing things" in page.text
    assert 'type="radio"' in page.text
    r = _post(client, "/screening/phq-2", {"q0": "1"})
    assert r.status_code == 422
    assert "Please answer every question." in r.text
    assert _post(client, "/screening/phq-2", {"q0": "0", "q1": "1"}).headers["location"] == "/screening"
    assert _post(client, "/screening/gad-2", {"q0": "0", "q1": "0"}).headers["location"] == "/screening"
    assert (
        _post(client, "/screening/audit-c", {"q0": "0", "q1": "0", "q2": "0", "sex": "female"}).status_code
        == 303
    )
    assert client.get("/screening", follow_redirects=False).headers["location"] == "/care-pathway"
    pathway = client.get("/care-pathway")
    assert pathway.status_code == 200
    assert "Your recommended care" in pathway.text


def test_item9_shows_the_crisis_panel_and_the_clinician_sees_the_alert(client, session, settings, clock):
    _relaxed(client, settings)
    patient = make_user(session, settings, Role.PATIENT, name="Ana Testpatient")
    dr = make_user(session, settings, Role.PSYCHIATRIST, name="Dr Oncall")
    admin = make_user(session, settings, Role.ADMIN)
    safety.set_roster(session, identity.actor_for(session, admin), [dr.id], clock=clock)
    pid = patients.patient_id_for_user(session, patient.id)
    session.commit()
    web_login(client, patient.email)
    answers = {f"q{i}": "1" for i in range(9)}
    r = _post(client, "/screening/phq-9", answers)
    assert r.status_code == 200
    assert 'role="alert"' in r.text
    assert "988" in r.text
    assert "911" in r.text
    assert "/screening/c-ssrs-screener" in r.text
    r = _post(
        client,
        "/screening/c-ssrs-screener",
        {"q0": "1", "q1": "1", "q2": "1", "q3": "1", "q4": "0", "q5": "0"},
    )
    assert "alerted <strong>now</strong>" in r.text
    assert "Online booking is paused" in r.text
    client.cookies.clear()
    web_login(client, dr.email)
    queue = client.get("/safety")
    assert "Ana Testpatient" in queue.text
    assert "high" in queue.text
    detail = client.get(f"/patients/{pid}")
    assert "Care pathway: urgent" in detail.text
    assert "step0.emergency.cssrs_high" in detail.text
    alert_id = safety.queue(session, identity.actor_for(session, dr), clock=clock)[0][0].alert.id
    token = CSRF_RE.search(queue.text).group(1)
    ack = client.post(
        f"/safety/{alert_id}/acknowledge",
        data={"csrf_token": token, "note": "Called, safe."},
        follow_redirects=False,
    )
    assert ack.status_code == 303
    assert "No open alerts." in client.get("/safety").text


def test_admin_sets_the_on_call_roster(client, session, settings):
    _relaxed(client, settings)
    admin = make_user(session, settings, Role.ADMIN)
    a = make_user(session, settings, Role.THERAPIST, name="Tess Oncall")
    b = make_user(session, settings, Role.PSYCHIATRIST, name="Pete Oncall")
    session.commit()
    web_login(client, admin.email)
    r = _post(client, "/admin/on-call", {f"pos_{a.id}": "2", f"pos_{b.id}": "1"})
    assert r.status_code == 303
    page = client.get("/admin/on-call").text
    assert f'name="pos_{b.id}" type="number" min="1" max="50" inputmode="numeric" value="1"' in page


def test_help_now_button_raises_a_high_alert(client, session, settings, clock):
    _relaxed(client, settings)
    patient = make_user(session, settings, Role.PATIENT)
    session.commit()
    web_login(client, patient.email)
    home = client.get("/patient")
    assert 'action="/safety/help"' in home.text
    r = client.post("/safety/help", data={"csrf_token": CSRF_RE.search(home.text).group(1)})
    assert r.status_code == 200
    assert "alerted <strong>now</strong>" in r.text
    pid = patients.patient_id_for_user(session, patient.id)
    assert not safety.self_scheduling_allowed(session, pid)


def _open_every_day(session, admin, provider_id, clock):
    """Matching only shows clinicians with free time (issue #4): hours every day, so any test date works."""
    from datetime import time

    from careweave.scheduling import service as scheduling

    weekly = tuple(scheduling.WindowIn(d, time(7), time(21)) for d in range(7))
    scheduling.set_availability(
        session, admin, provider_id, scheduling.AvailabilityIn("America/New_York", weekly), clock=clock
    )


def test_patient_sees_matching_clinicians_with_reasons(client, session, settings, clock, mailer):
    from careweave.directory import service as directory
    from careweave.intake import service as intake_service
    from careweave.screening import service as screening

    _relaxed(client, settings)
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    plan = directory.create_plan(session, admin, payer="Demo", name="PPO", clock=clock)
    for name, credential, kind, offers in (
        ("Dr. Pia Prescriber", "MD", "MD", ["medication_management"]),
        ("Theo Therapist", "LPC", "LPC", ["therapy"]),
    ):
        provider = directory.create_provider(
            session,
            admin,
            {
                "name": name,
                "credential": credential,
                "offers": offers,
                "conditions": ["depression"],
                "languages": ["en"],
                "accepting_new_patients": True,
                "capacity": 10,
                "networks": [plan.id],
            },
            clock=clock,
        )
        directory.add_license(
            session,
            admin,
            provider.id,
            state="NY",
            license_type=kind,
            number="1",
            status="active",
            issued=None,
            expires=clock.now().date().replace(year=clock.now().year + 2),
            clock=clock,
        )
        _open_every_day(session, admin, provider.id, clock)
    patient = make_user(session, settings, Role.PATIENT, state="NY")
    pid = patients.patient_id_for_user(session, patient.id)
    actor = identity.actor_for(session, patient)
    directory.set_coverage(session, actor, pid, plan_id=None, member_id=None, self_pay=True, clock=clock)
    intake_service.update_intake(session, actor, pid, {"treatment_preference": "both"}, clock=clock)
    screening.submit_screening(
        session,
        actor,
        pid,
        instrument="phq-9",
        answers=[2, 2, 2, 2, 2, 2, 2, 2, 0],
        clock=clock,
        settings=settings,
        mailer=None,
    )  # type: ignore[arg-type]
    session.commit()
    web_login(client, patient.email)
    assert "/matches" in client.get("/care-pathway").text
    page = client.get("/matches")
    assert page.status_code == 200
    assert "Dr. Pia Prescriber" in page.text
    assert "Theo Therapist" in page.text
    assert "Licensed in New York" in page.text or "New York" in page.text
    assert "Suggested team" in page.text
    assert "Next opening" in page.text and ("EST" in page.text or "EDT" in page.text)  # the patient's zone
