from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.core.actor import Role
from careweave.patients import service as patients
from tests.builders import PASSWORD, join_team, make_user
from tests.helpers import CSRF_RE, csrf, web_login


def test_landing_and_login_pages_render_with_security_headers(client):
    r = client.get("/")
    assert r.status_code == 200
    assert "cw_csrf=" in r.headers.get("set-cookie", "")
    assert "Log in" in r.text
    assert "988" in r.text  # crisis line on every page
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    login = client.get("/login")
    assert 'autocomplete="current-password"' in login.text


def test_form_post_without_csrf_token_is_rejected(client, session, settings):
    user = make_user(session, settings)
    session.commit()
    client.get("/login")  # has the CSRF cookie, but the form omits the token
    r = client.post("/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    assert "expired" in r.text
    r = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": "0" * 64},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_csrf_token_from_another_browser_is_rejected(app, client, session, settings):
    from fastapi.testclient import TestClient

    user = make_user(session, settings)
    session.commit()
    with TestClient(app) as other:
        stolen = csrf(other)
    client.get("/login")
    r = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": stolen},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_patient_logs_in_lands_home_and_logs_out(client, session, settings):
    user = make_user(session, settings, Role.PATIENT, name="Ana Testpatient")
    session.commit()
    r = web_login(client, user.email)
    assert r.status_code == 303
    assert r.headers["location"] == "/patient"
    cookie = r.headers["set-cookie"]
    assert "cw_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = client.get("/patient")
    assert home.status_code == 200
    assert "Hello, Ana" in home.text
    token = CSRF_RE.search(home.text).group(1)
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.headers["location"] == "/login?notice=logged_out"
    assert client.get("/patient", follow_redirects=False).status_code == 303


def test_wrong_password_rerenders_the_form(client, session, settings):
    user = make_user(session, settings)
    session.commit()
    r = web_login(client, user.email, "not the password")
    assert r.status_code == 401
    assert "Incorrect e-mail or password." in r.text
    assert 'role="alert"' in r.text


def test_pages_need_login(client):
    r = client.get("/clinician", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/clinician"


def test_open_redirects_after_login_are_refused(client, session, settings):
    user = make_user(session, settings)
    session.commit()
    token = csrf(client)
    r = client.post(
        "/login",
        data={"csrf_token": token, "email": user.email, "password": PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/patient"


def test_clinician_is_forced_through_mfa_enrolment(client, session, settings):
    user = make_user(session, settings, Role.PSYCHIATRIST)
    session.commit()
    r = web_login(client, user.email)
    assert r.headers["location"] == "/mfa/setup"
    assert client.get("/clinician", follow_redirects=False).headers["location"] == "/mfa/setup"
    page = client.get("/mfa/setup")
    secret = re.search(r'id="totp-secret" class="secret">([A-Z2-7]+)<', page.text).group(1)
    assert "<svg" in page.text
    token = CSRF_RE.search(page.text).group(1)
    bad = client.post("/mfa/setup", data={"csrf_token": token, "code": "000000"})
    assert bad.status_code == 422
    done = client.post("/mfa/setup", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", done.text)
    assert len(codes) == 10
    assert client.get("/clinician").status_code == 200
    # next log-in asks for the second factor; a recovery code works once
    client.cookies.clear()
    r = web_login(client, user.email)
    assert r.headers["location"] == "/login/mfa"
    assert client.get("/clinician", follow_redirects=False).headers["location"] == "/login/mfa"
    token = csrf(client, "/login/mfa")
    r = client.post("/login/mfa", data={"csrf_token": token, "code": codes[0]}, follow_redirects=False)
    assert r.headers["location"] == "/clinician"
    assert client.get("/clinician").status_code == 200


def test_each_role_lands_on_its_home(client, session, settings):
    relaxed = settings.model_copy(update={"mfa_required": False})
    client.app.state.settings = relaxed
    homes = {
        Role.PATIENT: ("/patient", "Hello"),
        Role.THERAPIST: ("/clinician", "My patients"),
        Role.PSYCHIATRIST: ("/clinician", "Psychiatry workspace"),
        Role.CARE_MANAGER: ("/clinician", "Caseload"),
        Role.ADMIN: ("/admin", "Users"),
    }
    users = {role: make_user(session, settings, role) for role in homes}
    session.commit()
    for role, (path, heading) in homes.items():
        client.cookies.clear()
        r = web_login(client, users[role].email)
        assert r.headers["location"] == path, role
        page = client.get(path)
        assert page.status_code == 200 and heading in page.text, role


def test_other_roles_pages_do_not_exist_for_you(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    user = make_user(session, settings, Role.PATIENT)
    session.commit()
    web_login(client, user.email)
    for path in ("/admin", "/admin/audit", "/clinician"):
        assert client.get(path).status_code == 404, path


def test_clinician_opens_a_patient_and_the_patient_sees_it(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    ana = make_user(session, settings, Role.PATIENT, name="Ana Testpatient")
    cara = make_user(session, settings, Role.THERAPIST, name="Cara Testtherapist")
    pid = patients.patient_id_for_user(session, ana.id)
    join_team(session, pid, cara)
    session.commit()
    web_login(client, cara.email)
    listing = client.get("/clinician", params={"q": "testpatient"})
    assert f"/patients/{pid}" in listing.text
    assert client.get(f"/patients/{pid}").status_code == 200
    client.cookies.clear()
    web_login(client, ana.email)
    log = client.get("/patient/access-log")
    assert "Cara Testtherapist" in log.text
    assert (
        session.scalars(
            select(AuditEvent).where(
                AuditEvent.patient_id == pid, AuditEvent.action == "patient.access_log.viewed"
            )
        ).first()
        is not None
    )


def test_admin_creates_user_and_searches_audit(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    dee = make_user(session, settings, Role.ADMIN)
    session.commit()
    web_login(client, dee.email)
    token = csrf(client, "/admin")
    r = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "email": "bad",
            "full_name": "X",
            "role": "therapist",
            "password": PASSWORD,
        },
    )
    assert r.status_code == 422 and "not valid" in r.text
    r = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "email": "new.t@test.careweave.example",
            "full_name": "New Therapist",
            "role": "therapist",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "new.t@test.careweave.example" in client.get("/admin").text
    audit_page = client.get("/admin/audit", params={"action": "user."})
    assert audit_page.status_code == 200 and "user.created" in audit_page.text
    bad = client.get("/admin/audit", params={"patient": "not-a-uuid"})
    assert bad.status_code == 422 and "not a valid id" in bad.text
    verify = client.post("/admin/audit/verify", data={"csrf_token": token})
    assert "Intact" in verify.text


def test_password_reset_through_the_pages(client, session, settings, mailer):
    user = make_user(session, settings)
    session.commit()
    token = csrf(client, "/password/forgot")
    r = client.post(
        "/password/forgot", data={"csrf_token": token, "email": user.email}, follow_redirects=False
    )
    assert r.headers["location"] == "/login?notice=reset_sent"
    link = re.search(r"http://testserver(/password/reset\?token=\S+)", mailer.sent[0].body).group(1)
    page = client.get(link)
    reset_token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": CSRF_RE.search(page.text).group(1), "token": reset_token}
    weak = client.post("/password/reset", data={**form, "password": "short", "password_again": "short"})
    assert weak.status_code == 422 and "at least 12" in weak.text
    ok = client.post(
        "/password/reset",
        data={**form, "password": "fresh passphrase 1", "password_again": "fresh passphrase 1"},
        follow_redirects=False,
    )
    assert ok.headers["location"] == "/login?notice=password_changed"
    again = client.post(
        "/password/reset",
        data={**form, "password": "fresh passphrase 2", "password_again": "fresh passphrase 2"},
    )
    assert again.status_code == 400
    assert web_login(client, user.email, "fresh passphrase 1").status_code == 303


def test_unknown_page_is_a_friendly_404(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert "Page not found" in r.text
    assert "Traceback" not in r.text


def test_patient_edits_their_details(client, session, settings):
    user = make_user(session, settings, Role.PATIENT, name="Ana Testpatient")
    pid = patients.patient_id_for_user(session, user.id)
    session.commit()
    web_login(client, user.email)
    page = client.get("/patient/profile")
    assert page.status_code == 200
    token = CSRF_RE.search(page.text).group(1)
    form = {
        "csrf_token": token,
        "preferred_name": "Annie",
        "pronouns": "she/her",
        "birth_date": "1990-04-05",
        "state": "WA",
        "timezone": "America/Los_Angeles",
        "phone": "+1 555 0100",
    }
    bad = client.post("/patient/profile", data={**form, "state": "ZZ", "birth_date": "2999-01-01"})
    assert bad.status_code == 422
    assert "US state or territory" in bad.text
    assert "real date in the past" in bad.text
    ok = client.post("/patient/profile", data=form, follow_redirects=False)
    assert ok.headers["location"] == "/patient?notice=profile_saved"
    home = client.get(ok.headers["location"])
    assert "Hello, Annie" in home.text
    assert "Your details have been saved." in home.text
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.patient_id == pid, AuditEvent.action == "patient.updated")
    ).one()
    assert "state" in event.details["fields"]


def test_a_new_patient_signs_up_and_lands_in_intake(client, session, settings):
    token = csrf(client, "/signup")
    bad = client.post(
        "/signup", data={"csrf_token": token, "full_name": "", "email": "x@y", "password": "short"}
    )
    assert bad.status_code == 422
    r = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "full_name": "Nia Newpatient",
            "email": "nia@test.careweave.example",
            "password": "a good long passphrase",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/intake"
    assert client.get("/intake", follow_redirects=False).headers["location"] == "/intake/1"
    assert "Nia" in client.get("/intake/1").text
    dup = client.post(
        "/signup",
        data={
            "csrf_token": csrf(client, "/signup"),
            "full_name": "Nia Again",
            "email": "nia@test.careweave.example",
            "password": "a good long passphrase",
        },
    )
    assert dup.status_code == 409


def test_admin_invites_a_user_by_email(client, session, settings, mailer):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    admin = make_user(session, settings, Role.ADMIN)
    session.commit()
    web_login(client, admin.email)
    r = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf(client, "/admin"),
            "email": "invitee@test.careweave.example",
            "full_name": "Ivy Invitee",
            "role": "patient",
            "password": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    invite = mailer.sent[-1]
    assert invite.to == "invitee@test.careweave.example"
    assert "invited" in invite.subject
    link = re.search(r"http://testserver(/password/reset\?token=\S+)", invite.body).group(1)
    client.cookies.clear()
    page = client.get(link)
    form = {
        "csrf_token": CSRF_RE.search(page.text).group(1),
        "token": re.search(r'name="token" value="([^"]+)"', page.text).group(1),
        "password": "my own passphrase",
        "password_again": "my own passphrase",
    }
    assert client.post("/password/reset", data=form, follow_redirects=False).status_code == 303
    assert (
        web_login(client, "invitee@test.careweave.example", "my own passphrase").headers["location"]
        == "/patient"
    )


def test_nul_characters_in_page_input_are_refused_not_stored(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    admin = make_user(session, settings, Role.ADMIN)
    patient = make_user(session, settings, Role.PATIENT)
    session.commit()
    web_login(client, admin.email)
    r = client.get("/admin/audit", params={"action": "login\x00"})
    assert r.status_code == 422
    client.cookies.clear()
    web_login(client, patient.email)
    page = client.get("/patient/profile")
    r = client.post(
        "/patient/profile",
        data={
            "csrf_token": CSRF_RE.search(page.text).group(1),
            "preferred_name": "A\x00B",
            "timezone": "America/New_York",
        },
    )
    assert r.status_code == 422
