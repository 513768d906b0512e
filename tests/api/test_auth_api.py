from __future__ import annotations

from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.core.actor import Role
from tests.builders import PASSWORD, make_user, personas
from tests.helpers import bearer


def test_api_without_token_is_401_with_error_shape(client):
    r = client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    body = r.json()
    assert body["error"]["code"] == "not_authenticated"
    assert body["error"]["message"]
    assert body["error"]["fields"] == []


def test_api_with_garbage_token_is_401(client):
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-real-token"})
    assert r.status_code == 401


def test_token_and_me_for_patient(client, session, settings):
    people = personas(session, settings)
    headers = bearer(client, "ana@test.careweave.example")
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["email"] == "ana@test.careweave.example"
    assert me["role"] == "patient"
    assert me["id"] == str(people["ana"].id)
    assert me["patient_id"] is not None
    assert me["provider_id"] is None


def test_wrong_password_gives_401_and_is_audited(client, session, settings):
    user = make_user(session, settings, Role.PATIENT)
    r = client.post("/api/v1/auth/token", data={"username": user.email, "password": "wrong-password-here"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "authentication_failed"
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.entity_id == str(user.id)).order_by(AuditEvent.seq)
    ).all()
    assert [e.action for e in events if e.action.startswith("login")] == ["login.failed"]
    assert next(e for e in events if e.action == "login.failed").outcome == "failure"


def test_clinician_needs_mfa_enrolment_for_api_tokens(client, session, settings):
    user = make_user(session, settings, Role.PSYCHIATRIST)
    r = client.post("/api/v1/auth/token", data={"username": user.email, "password": PASSWORD})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "identity.mfa_enrolment_required"


def test_revoked_token_no_longer_works(client, session, settings):
    user = make_user(session, settings, Role.PATIENT)
    headers = bearer(client, user.email)
    raw = headers["Authorization"].split()[1]
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/revoke", data={"token": raw}).status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_unsupported_grant_type_is_422_naming_the_field(client, session, settings):
    user = make_user(session, settings, Role.PATIENT)
    r = client.post(
        "/api/v1/auth/token",
        data={"username": user.email, "password": PASSWORD, "grant_type": "implicit"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] in ("grant_type",)
    # client credentials without a client: the missing fields are named
    r = client.post(
        "/api/v1/auth/token",
        data={"username": user.email, "password": PASSWORD, "grant_type": "client_credentials"},
    )
    assert r.status_code == 422
    assert [f["field"] for f in r.json()["error"]["fields"]] == ["client_id", "client_secret"]
    # the password grant without a password
    r = client.post("/api/v1/auth/token", data={"username": user.email})
    assert r.status_code == 422
    assert [f["field"] for f in r.json()["error"]["fields"]] == ["password"]
