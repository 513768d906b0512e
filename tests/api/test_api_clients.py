"""API clients (OAuth2 client credentials, RFC 6749 §4.4) for integrations: an administrator creates one for a
staff account, the integration gets tokens with its id and secret (form fields or HTTP Basic) without the
account's password or second factor, and revoking the client (or deactivating the account) ends its access."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.core.actor import Role
from careweave.identity.models import ApiToken
from tests.api.test_bad_input import assert_error
from tests.builders import make_user
from tests.helpers import bearer


@pytest.fixture
def world(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    admin = make_user(session, settings, Role.ADMIN)
    lab = make_user(session, settings, Role.CARE_MANAGER, name="Lab interface")
    patient = make_user(session, settings, Role.PATIENT)
    session.commit()
    return {"admin": admin, "lab": lab, "patient": patient, "h": bearer(client, admin.email)}


def _token(client, **data):
    return client.post("/api/v1/auth/token", data={"grant_type": "client_credentials", **data})


def test_an_integration_gets_tokens_with_its_client_credentials(client, world, session):
    r = client.post(
        "/api/v1/api-clients",
        headers=world["h"],
        json={"user_id": str(world["lab"].id), "name": "Lab interface"},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["client_id"].startswith("cwc_") and len(created["client_secret"]) >= 43
    assert created["user_email"] == world["lab"].email and created["revoked_at"] is None
    # form fields
    got = _token(client, client_id=created["client_id"], client_secret=created["client_secret"])
    assert got.status_code == 200, got.text
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {got.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == str(world["lab"].id)
    # HTTP Basic (RFC 6749 §2.3.1)
    basic = base64.b64encode(f"{created['client_id']}:{created['client_secret']}".encode()).decode()
    got = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert got.status_code == 200, got.text
    # the secret is never listed again; the list shows use
    listed = client.get("/api/v1/api-clients", headers=world["h"]).json()
    assert [c["client_id"] for c in listed] == [created["client_id"]]
    assert "client_secret" not in listed[0] and listed[0]["last_used_at"] is not None
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert "api_client.created" in actions
    via = session.scalars(select(AuditEvent.details).where(AuditEvent.action == "login.succeeded")).all()
    assert {"via": "api_client"} in via


def test_wrong_secrets_unknown_clients_and_revoked_ones_get_nothing(client, world, session):
    created = client.post(
        "/api/v1/api-clients", headers=world["h"], json={"user_id": str(world["lab"].id), "name": "FHIR sync"}
    ).json()
    assert_error(_token(client, client_id=created["client_id"], client_secret="not-the-secret"), 401)
    assert_error(_token(client, client_id="cwc_unknown", client_secret=created["client_secret"]), 401)
    token = _token(client, client_id=created["client_id"], client_secret=created["client_secret"]).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200

    r = client.post(f"/api/v1/api-clients/{created['id']}/revoke", headers=world["h"])
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert client.post(f"/api/v1/api-clients/{created['id']}/revoke", headers=world["h"]).status_code == 200
    assert_error(client.get("/api/v1/me", headers=headers), 401)  # its tokens went with it
    assert_error(_token(client, client_id=created["client_id"], client_secret=created["client_secret"]), 401)
    session.expire_all()
    assert all(
        t.revoked_at is not None
        for t in session.scalars(select(ApiToken).where(ApiToken.client_id.is_not(None)))
    )


def test_a_deactivated_account_gets_no_token(client, world, session):
    from careweave.core.clock import SystemClock
    from careweave.identity import service as identity

    created = client.post(
        "/api/v1/api-clients",
        headers=world["h"],
        json={"user_id": str(world["lab"].id), "name": "Lab interface"},
    ).json()
    admin = identity.actor_for(session, world["admin"])
    identity.set_active(session, admin, user_id=world["lab"].id, active=False, clock=SystemClock())
    session.commit()
    assert_error(_token(client, client_id=created["client_id"], client_secret=created["client_secret"]), 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Lab"}, "user_id"),
        ({"user_id": "not-a-uuid", "name": "Lab"}, "user_id"),
        ({"user_id": "PATIENT", "name": "Lab"}, "user_id"),
        ({"user_id": "LAB", "name": ""}, "name"),
        ({"user_id": "LAB", "name": "x" * 101}, "name"),
    ],
)
def test_bad_input_names_the_field(client, world, body, field):
    ids = {"PATIENT": str(world["patient"].id), "LAB": str(world["lab"].id)}
    body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    err = assert_error(client.post("/api/v1/api-clients", headers=world["h"], json=body), 422)
    assert any(field in f["field"] for f in err["fields"]), err


def test_only_administrators_manage_api_clients(client, world, session, settings):
    therapist = make_user(session, settings, Role.THERAPIST)
    session.commit()
    h = bearer(client, therapist.email)
    assert_error(client.get("/api/v1/api-clients", headers=h), 403)
    assert_error(
        client.post("/api/v1/api-clients", headers=h, json={"user_id": str(therapist.id), "name": "Mine"}),
        403,
    )


def test_nul_bytes_never_reach_the_database(client, world, session):
    """A NUL in a client id is an unknown client (401), in a client's name a named 422 — the admin page goes through
    the same service, without the API schema's pattern."""
    from careweave.core.clock import SystemClock
    from careweave.core.errors import InvalidInput
    from careweave.identity import service as identity

    assert_error(_token(client, client_id="cwc_\x00", client_secret="x"), 401)
    admin = identity.actor_for(session, world["admin"])
    with pytest.raises(InvalidInput) as refused:
        identity.create_api_client(
            session, admin, user_id=world["lab"].id, name="Lab\x00", clock=SystemClock()
        )
    assert [f.field for f in refused.value.fields] == ["name"]
