"""Bad input on the JSON API: every kind gets a clear 4xx in the one error shape, naming the
field where there is one, carrying the request id, and never a 500 or a stack trace."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from careweave.app import create_app
from careweave.core.actor import Role
from careweave.patients.models import Patient
from careweave.settings import Settings
from tests.builders import PASSWORD, make_user
from tests.helpers import bearer

LIMIT = 1_000_000  # CAREWEAVE_MAX_BODY_BYTES default
JSON = {"content-type": "application/json"}
NEW_USER = {"email": "new.person@test.careweave.example", "role": "patient", "password": PASSWORD}


def assert_error(r, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The one error shape, tied to the response's X-Request-ID, with nothing internal in it."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields", "request_id"}
    assert isinstance(error["message"], str) and error["message"].strip()
    assert all(set(f) == {"field", "message"} and f["message"] for f in error["fields"])
    assert r.headers["x-request-id"]
    assert error["request_id"] == r.headers["x-request-id"]
    for leak in ("Traceback", 'File "', "sqlalchemy", "psycopg", "pydantic_core"):
        assert leak not in r.text
    if code is not None:
        assert error["code"] == code
    if field is not None:
        assert field in [f["field"] for f in error["fields"]], error
        if error["code"] == "validation_error":
            assert field in error["message"]
    return error


@pytest.fixture
def people(session, settings):
    """Two of the personas: ana (patient, NY) and dee (admin)."""
    users = {
        "ana": make_user(
            session,
            settings,
            Role.PATIENT,
            email="ana@test.careweave.example",
            name="Ana Testpatient",
            state="NY",
            timezone="America/New_York",
        ),
        "dee": make_user(
            session, settings, Role.ADMIN, email="dee@test.careweave.example", name="Dee Testadmin"
        ),
    }
    session.commit()
    return users


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    """One app for the module (FastAPI prepares its routes on the first request, ~0.3 s per app),
    with MFA off so the admin persona gets a token with a password alone."""
    settings = Settings(
        env="test",
        secret_key="test-secret-key-" + "x" * 32,
        data_dir=tmp_path_factory.mktemp("bad-input"),
        database_url="sqlite://",
        mfa_required=False,
        base_url="http://testserver",
    )
    return create_app(settings, sessionmaker_=sessionmaker())


@pytest.fixture
def api(shared_app, sessions, clock, mailer):
    # Each test gets its own rolled-back transaction: requests read the sessionmaker from app.state.
    shared_app.state.sessionmaker, shared_app.state.clock, shared_app.state.mailer = sessions, clock, mailer
    with TestClient(shared_app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin(api, people):
    return bearer(api, "dee@test.careweave.example")


@pytest.fixture
def ana(api, people):
    return bearer(api, "ana@test.careweave.example")


@pytest.fixture
def ana_id(api, ana):
    return api.get("/api/v1/me", headers=ana).json()["patient_id"]


def _patient(session, patient_id) -> Patient:
    session.expire_all()
    patient = session.get(Patient, uuid.UUID(str(patient_id)))
    assert patient is not None
    return patient


# ---------------------------------------------------------------- malformed JSON


@pytest.mark.parametrize(
    "raw", [b"{bad", b'{"email": "a@b.example",}', b"[1,", b"{'role': 'patient'}", b'{"a"']
)
def test_malformed_json_on_create_user_is_400(api, admin, raw):
    r = api.post("/api/v1/users", content=raw, headers={**admin, **JSON})
    assert_error(r, 400, "malformed_json")


@pytest.mark.parametrize("raw", [b"{bad", b'{"given_name": "Ann"', b"}", b'{"given_name": Ann}'])
def test_malformed_json_on_patient_update_is_400_and_changes_nothing(api, ana, ana_id, session, raw):
    r = api.patch(f"/api/v1/patients/{ana_id}", content=raw, headers={**ana, **JSON})
    assert_error(r, 400, "malformed_json")
    assert _patient(session, ana_id).given_name == "Ana"


# ---------------------------------------------------------------- wrong types and values


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": 12345}, "email"),
        ({"email": None}, "email"),
        ({"role": "wizard"}, "role"),
        ({"role": 1}, "role"),
        ({"password": ["correct", "horse"]}, "password"),
        ({"full_name": {"given": "Eve"}}, "full_name"),
        ({"full_name": "x" * 201}, "full_name"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_wrong_types_on_create_user_are_422_naming_the_field(api, admin, change, field):
    r = api.post("/api/v1/users", json={**NEW_USER, **change}, headers=admin)
    assert_error(r, 422, field=field)


@pytest.mark.parametrize("body", [[NEW_USER], "a string", 42, None])
def test_a_body_that_is_not_an_object_is_422(api, admin, body):
    r = api.post("/api/v1/users", json=body, headers=admin)
    assert_error(r, 422, "validation_error", field="body")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"birth_date": "yesterday"}, "birth_date"),
        ({"birth_date": "2001-02-30"}, "birth_date"),
        ({"birth_date": [2001, 2, 3]}, "birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"birth_date": "1850-01-01"}, "birth_date"),
        ({"given_name": 42}, "given_name"),
        ({"given_name": "   "}, "given_name"),
        ({"given_name": None}, "given_name"),
        ({"timezone": None}, "timezone"),
        ({"family_name": "x" * 101}, "family_name"),
        ({"phone": "call me maybe"}, "phone"),
        ({"state": "New York"}, "state"),
        ({"state": 36}, "state"),
    ],
)
def test_wrong_types_on_patient_update_are_422_naming_the_field(api, ana, ana_id, session, change, field):
    r = api.patch(f"/api/v1/patients/{ana_id}", json=change, headers=ana)
    assert_error(r, 422, field=field)
    patient = _patient(session, ana_id)
    assert (patient.given_name, patient.birth_date, patient.state) == ("Ana", None, "NY")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "many"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_bad_query_parameters_are_422_naming_them(api, admin, params, field):
    assert_error(api.get("/api/v1/patients", params=params, headers=admin), 422, "validation_error", field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"role": "wizard"}, "role"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_bad_user_filters_are_422_naming_them(api, admin, params, field):
    assert_error(api.get("/api/v1/users", params=params, headers=admin), 422, "validation_error", field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-26T15:00:00"}, "since"),  # no offset: which zone was meant?
        ({"until": "0.5"}, "until"),  # not read as a Unix timestamp
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"outcome": "maybe"}, "outcome"),
        ({"actor_user_id": "bob"}, "actor_user_id"),
        ({"patient_id": "42"}, "patient_id"),
        ({"limit": "501"}, "limit"),
    ],
)
def test_bad_audit_filters_are_422_naming_them(api, admin, params, field):
    r = api.get("/api/v1/audit/events", params=params, headers=admin)
    assert_error(r, 422, "validation_error", field)


@pytest.mark.parametrize(
    "params",
    [
        {"since": "0001-01-01T00:00:00+05:00"},  # before UTC's calendar starts
        {"until": "9999-12-31T23:59:59-05:00"},  # after it ends
        {"since": "2026-11-26T10:00:00-05:00", "until": "2026-11-26 16:00:00+01:00"},
    ],
)
def test_extreme_but_valid_audit_times_are_answered(api, admin, params):
    r = api.get("/api/v1/audit/events", params=params, headers=admin)
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["total"], int)


# ---------------------------------------------------------------- NUL characters (PostgreSQL cannot store them)


def test_nul_in_a_new_users_name_is_422(api, admin):
    r = api.post("/api/v1/users", json={**NEW_USER, "full_name": "Eve\x00Null"}, headers=admin)
    assert_error(r, 422, "validation_error", "full_name")


@pytest.mark.parametrize("field", ["given_name", "family_name", "preferred_name", "pronouns"])
def test_nul_in_demographics_is_422(api, ana, ana_id, field):
    r = api.patch(f"/api/v1/patients/{ana_id}", json={field: "a\x00b"}, headers=ana)
    assert_error(r, 422, "validation_error", field)


@pytest.mark.parametrize(
    ("path", "param"),
    [("/api/v1/users", "q"), ("/api/v1/patients", "q"), ("/api/v1/audit/events", "action")],
)
def test_nul_in_search_text_is_422(api, admin, path, param):
    r = api.get(path, params={param: "ana\x00"}, headers=admin)
    assert_error(r, 422, "validation_error", param)


def test_nul_in_a_log_in_name_is_just_a_failed_log_in(api, people):
    r = api.post(
        "/api/v1/auth/token", data={"username": "ana@test.careweave.example\x00", "password": PASSWORD}
    )
    assert_error(r, 401, "authentication_failed")


# ---------------------------------------------------------------- missing and unknown fields


@pytest.mark.parametrize(
    ("missing", "fields"),
    [
        (("password",), {"password"}),
        (("email",), {"email"}),
        (("role",), {"role"}),
        (("email", "role", "password"), {"email", "role", "password"}),
    ],
)
def test_missing_required_fields_are_422_naming_each(api, admin, missing, fields):
    body = {k: v for k, v in NEW_USER.items() if k not in missing}
    error = assert_error(api.post("/api/v1/users", json=body, headers=admin), 422, "validation_error")
    assert {f["field"] for f in error["fields"]} == fields
    assert all(f["message"] == "Field required" for f in error["fields"])
    for name in fields:
        assert name in error["message"]


def test_unknown_field_on_create_user_is_422(api, admin):
    r = api.post("/api/v1/users", json={**NEW_USER, "is_superuser": True}, headers=admin)
    assert_error(r, 422, "validation_error", "is_superuser")
    assert api.get("/api/v1/users", params={"q": "new.person"}, headers=admin).json() == []


@pytest.mark.parametrize("extra", [{"email": "ana2@test.careweave.example"}, {"user_id": str(uuid.uuid4())}])
def test_unknown_field_on_patient_update_is_422_and_changes_nothing(api, ana, ana_id, session, extra):
    r = api.patch(f"/api/v1/patients/{ana_id}", json={"given_name": "Annie", **extra}, headers=ana)
    assert_error(r, 422, "validation_error", next(iter(extra)))
    assert _patient(session, ana_id).given_name == "Ana"


# ---------------------------------------------------------------- huge bodies


def _padded(body: bytes, size: int) -> bytes:
    return body + b" " * (size - len(body))  # trailing whitespace is still valid JSON


def test_body_over_the_limit_with_content_length_is_413(api, admin):
    r = api.post("/api/v1/users", content=_padded(b"{}", LIMIT + 1), headers={**admin, **JSON})
    assert_error(r, 413, "payload_too_large")


def test_body_over_the_limit_without_content_length_is_413(api, ana, ana_id, session):
    def chunks():
        yield b'{"given_name": "Streamed"}'
        for _ in range(11):
            yield b" " * 100_000

    r = api.patch(f"/api/v1/patients/{ana_id}", content=chunks(), headers={**ana, **JSON})
    assert "content-length" not in r.request.headers  # really streamed (chunked)
    assert_error(r, 413, "payload_too_large")
    assert _patient(session, ana_id).given_name == "Ana"


def test_streamed_form_over_the_limit_is_413(api, people):
    def chunks():
        yield b"username=ana%40test.careweave.example&password="
        for _ in range(11):
            yield b"x" * 100_000

    r = api.post(
        "/api/v1/auth/token", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_error(r, 413, "payload_too_large")


def test_body_exactly_at_the_limit_is_accepted(api, ana, ana_id, session):
    body = _padded(b'{"given_name": "Annie"}', LIMIT)
    r = api.patch(f"/api/v1/patients/{ana_id}", content=body, headers={**ana, **JSON})
    assert r.status_code == 200, r.text
    assert _patient(session, ana_id).given_name == "Annie"


# ---------------------------------------------------------------- ids, routes and methods


@pytest.mark.parametrize("suffix", ["", "/access-log"])
def test_unknown_patient_id_is_404(api, ana, suffix):
    r = api.get(f"/api/v1/patients/{uuid.uuid4()}{suffix}", headers=ana)
    assert_error(r, 404, "not_found")


def test_unknown_patient_id_on_update_is_404(api, admin):
    r = api.patch(f"/api/v1/patients/{uuid.uuid4()}", json={"given_name": "Ghost"}, headers=admin)
    assert_error(r, 404, "not_found")


@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", "42", "e3e70682-c209-4cac-a29f-6fbed82c07cZ", "%00", "null"]
)
@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_malformed_patient_id_is_422_naming_it(api, admin, bad_id, method):
    r = api.request(method, f"/api/v1/patients/{bad_id}", json={"given_name": "X"}, headers=admin)
    assert_error(r, 422, "validation_error", "patient_id")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nothing-here"),
        ("GET", "/api/v1/patients/00000000-0000-0000-0000-000000000000/notes"),
        ("POST", "/api/v1/me/avatar"),
        ("GET", "/api/v2/me"),
        ("GET", "/api/v1/"),
    ],
)
def test_unknown_api_routes_are_404_json(api, admin, method, path):
    r = api.request(method, path, headers=admin)
    assert_error(r, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/me", "GET"),
        ("PUT", "/api/v1/patients/00000000-0000-0000-0000-000000000000", "GET, PATCH"),
        ("GET", "/api/v1/auth/token", "POST"),
        ("POST", "/api/v1/audit/events", "GET"),
        ("DELETE", "/api/v1/users", "GET, POST"),
    ],
)
def test_wrong_method_is_405_json_with_allow(api, admin, method, path, allowed):
    r = api.request(method, path, headers=admin)
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == allowed  # every method served at the path, not just the first route's


# ---------------------------------------------------------------- semantic validation


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"state": "ZZ"}, {"state"}),
        ({"state": "N1"}, {"state"}),
        ({"timezone": "Mars/Olympus_Mons"}, {"timezone"}),
        ({"timezone": "../../etc/passwd"}, {"timezone"}),
        ({"state": "XX", "timezone": "Nowhere/Town"}, {"state", "timezone"}),
    ],
)
def test_invalid_state_or_timezone_is_422_naming_them(api, ana, ana_id, session, change, fields):
    error = assert_error(
        api.patch(f"/api/v1/patients/{ana_id}", json=change, headers=ana), 422, "invalid_input"
    )
    assert {f["field"] for f in error["fields"]} == fields
    patient = _patient(session, ana_id)
    assert (patient.state, patient.timezone) == ("NY", "America/New_York")


def test_valid_state_and_timezone_are_accepted_and_normalised(api, ana, ana_id):
    r = api.patch(
        f"/api/v1/patients/{ana_id}", json={"state": "ca", "timezone": "America/Los_Angeles"}, headers=ana
    )
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["timezone"]) == ("CA", "America/Los_Angeles")


def test_patient_patching_another_patient_gets_404_and_changes_nothing(api, ana, session, settings):
    bob = make_user(session, settings, Role.PATIENT, email="bob@test.careweave.example", name="Bob Other")
    session.commit()
    bob_headers = bearer(api, bob.email)
    bob_id = api.get("/api/v1/me", headers=bob_headers).json()["patient_id"]
    before = api.get(f"/api/v1/patients/{bob_id}", headers=bob_headers).json()

    r = api.patch(f"/api/v1/patients/{bob_id}", json={"given_name": "Mallory", "state": "TX"}, headers=ana)
    missing = api.patch(f"/api/v1/patients/{uuid.uuid4()}", json={"given_name": "Mallory"}, headers=ana)

    error = assert_error(r, 404, "not_found")
    assert error["message"] == assert_error(missing, 404, "not_found")["message"]  # no hint it exists
    after = api.get(f"/api/v1/patients/{bob_id}", headers=bob_headers).json()
    assert after == before
    assert (_patient(session, bob_id).given_name, _patient(session, bob_id).state) == ("Bob", None)


def test_duplicate_email_is_409(api, admin, people):
    r = api.post("/api/v1/users", json={**NEW_USER, "email": "ana@test.careweave.example"}, headers=admin)
    assert_error(r, 409, "identity.email_taken", "email")


def test_duplicate_email_differing_only_in_case_and_spaces_is_409(api, admin, people):
    r = api.post("/api/v1/users", json={**NEW_USER, "email": "  ANA@Test.Careweave.Example "}, headers=admin)
    assert_error(r, 409, "identity.email_taken", "email")


@pytest.mark.parametrize(
    "password",
    ["short", "elevenchars", "new.person@test.careweave.example"],
)
def test_weak_password_is_422_naming_password(api, admin, password):
    r = api.post("/api/v1/users", json={**NEW_USER, "password": password}, headers=admin)
    error = assert_error(r, 422, "invalid_input", "password")
    assert "Password" in error["fields"][0]["message"]
    assert api.get("/api/v1/users", params={"q": "new.person"}, headers=admin).json() == []


def test_a_valid_user_is_created(api, admin):
    r = api.post("/api/v1/users", json=NEW_USER, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["email"] == NEW_USER["email"]


# ---------------------------------------------------------------- the 500 path and request ids


def test_unexpected_error_is_a_json_500_without_internals(settings, sessions, clock, mailer):
    app = create_app(settings, sessionmaker_=sessions, clock=clock, mailer=mailer)

    @app.get("/api/v1/_boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("secret internal detail /srv/careweave/db.py line 42")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/_boom")
        supplied = c.get("/api/v1/_boom", headers={"X-Request-ID": "client-chosen-id-1234"})

    error = assert_error(r, 500, "internal_error")
    assert error["fields"] == []
    for leak in ("secret internal detail", "RuntimeError", "line 42", "boom"):
        assert leak not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert assert_error(supplied, 500, "internal_error")["request_id"] == "client-chosen-id-1234"


def test_unexpected_error_on_a_page_is_html_without_internals(settings, sessions, clock, mailer):
    app = create_app(settings, sessionmaker_=sessions, clock=clock, mailer=mailer)

    @app.get("/_boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/_boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["x-request-id"] in r.text
    assert "secret internal detail" not in r.text
    assert "Traceback" not in r.text


def test_client_request_id_is_echoed_on_errors_and_bad_ones_replaced(api):
    ok = api.get("/api/v1/me", headers={"X-Request-ID": "trace-abc-12345678"})
    assert assert_error(ok, 401, "not_authenticated")["request_id"] == "trace-abc-12345678"
    bad = api.get("/api/v1/me", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert "<script>" not in assert_error(bad, 401, "not_authenticated")["request_id"]
