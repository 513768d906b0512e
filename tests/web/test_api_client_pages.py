"""The administrators' API clients page: create (the secret shown once), list, revoke; errors named, never a
500; nobody else sees it."""

from __future__ import annotations

import re

from careweave.core.actor import Role
from tests.builders import make_user
from tests.helpers import CSRF_RE, web_login


def _post(client, path, data):
    token = CSRF_RE.search(client.get("/admin/api-clients").text).group(1)
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def test_admin_creates_sees_the_secret_once_and_revokes(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    admin = make_user(session, settings, Role.ADMIN)
    lab = make_user(session, settings, Role.CARE_MANAGER, name="Lab interface")
    patient = make_user(session, settings, Role.PATIENT, name="Pat Ient")
    session.commit()
    web_login(client, admin.email)
    page = client.get("/admin/api-clients")
    assert page.status_code == 200 and "No API clients yet." in page.text
    assert 'href="/admin/api-clients"' in page.text  # in the admin's navigation
    assert "Lab interface" in page.text and "Pat Ient" not in page.text  # staff accounts only

    r = _post(client, "/admin/api-clients", {"name": "Lab interface", "user_id": str(lab.id)})
    assert r.status_code == 200, r.text
    secret = re.search(r'id="new-client-secret">([^<]+)<', r.text).group(1)
    client_id = re.search(r'id="new-client-id">([^<]+)<', r.text).group(1)
    again = client.get("/admin/api-clients")
    assert client_id in again.text and secret not in again.text  # shown once

    token = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert token.status_code == 200, token.text

    for data, field in (
        ({"name": "", "user_id": str(lab.id)}, "name"),
        ({"name": "X", "user_id": str(patient.id)}, "only a staff account"),
        ({"name": "X", "user_id": "nope"}, "choose an account"),
    ):
        bad = _post(client, "/admin/api-clients", data)
        assert bad.status_code == 422 and field in bad.text, (data, bad.status_code)

    client_pk = re.search(r'action="/admin/api-clients/([0-9a-f-]{36})/revoke"', again.text).group(1)
    revoked = _post(client, f"/admin/api-clients/{client_pk}/revoke", {})
    assert revoked.status_code == 303
    assert "revoked" in client.get("/admin/api-clients").text
    refused = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert refused.status_code == 401


def test_nobody_else_sees_the_page(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    therapist = make_user(session, settings, Role.THERAPIST)
    session.commit()
    web_login(client, therapist.email)
    assert client.get("/admin/api-clients").status_code in (403, 404)
