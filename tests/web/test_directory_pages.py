"""Directory pages (issue #4): administrators manage providers, licences, plans, imports and see
expiring licences; clinicians edit their own profile; nobody else sees any of it."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.core.actor import Actor, Role
from careweave.directory import service
from careweave.directory.models import Provider
from tests.builders import make_user
from tests.helpers import CSRF_RE, web_login

NPI = "1234567893"
SYSTEM = Actor.system()


def _relaxed(client, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})


def _token(client, path="/admin/directory"):
    return CSRF_RE.search(client.get(path).text).group(1)


def _post(client, path, data, *, page="/admin/directory"):
    return client.post(path, data={"csrf_token": _token(client, page), **data}, follow_redirects=False)


def _admin(client, session, settings):
    _relaxed(client, settings)
    admin = make_user(session, settings, Role.ADMIN)
    session.commit()
    web_login(client, admin.email)
    return admin


def _provider_id(response) -> uuid.UUID:
    match = re.match(r"^/admin/directory/providers/([0-9a-f-]{36})\?notice=", response.headers["location"])
    assert match, response.headers.get("location")
    return uuid.UUID(match.group(1))


def test_admin_adds_a_plan_a_provider_and_a_licence_through_forms(client, session, settings):
    _admin(client, session, settings)
    home = client.get("/admin/directory")
    assert home.status_code == 200 and "Provider directory" in home.text
    assert 'href="/admin/directory"' in client.get("/admin").text  # in the admin's navigation

    r = _post(client, "/admin/directory/plans", {"payer": "Demo Health", "name": "PPO"})
    assert r.status_code == 303
    dup = _post(client, "/admin/directory/plans", {"payer": "Demo Health", "name": "PPO"})
    assert dup.status_code == 409 and "already exists" in dup.text
    blank = _post(client, "/admin/directory/plans", {"payer": "", "name": "X"})
    assert blank.status_code == 422 and "field-error" in blank.text
    [plan] = service.list_plans(session, SYSTEM)

    form = client.get("/admin/directory/providers/new")
    assert form.status_code == 200
    assert '<option value="PMHNP"' in form.text and "Demo Health / PPO" in form.text
    fields = {
        "name": "Dr. Rosa Example",
        "credential": "MD",
        "npi": "1234567890",  # bad check digit
        "offers": ["therapy", "medication_management"],
        "conditions": "depression, anxiety",
        "languages": "en, es",
        "age_groups": ["adults"],
        "gender": "female",
        "timezone": "America/Chicago",
        "accepting_new_patients": "yes",
        "capacity": "40",
        "self_pay": "yes",
        "self_pay_rate": "250",
        "networks": [str(plan.id)],
    }
    bad = _post(client, "/admin/directory/providers", fields)
    assert bad.status_code == 422
    assert "not a valid NPI (check digit)" in bad.text
    assert 'value="Dr. Rosa Example"' in bad.text  # the form keeps what was typed
    assert session.scalars(select(Provider)).first() is None

    r = _post(client, "/admin/directory/providers", fields | {"npi": NPI})
    assert r.status_code == 303
    pid = _provider_id(r)
    view = service.get_provider(session, SYSTEM, pid)
    assert view.provider.npi == NPI and view.provider.self_pay_rate_cents == 25000
    assert view.conditions == ["anxiety", "depression"] and view.networks == [plan.id]
    assert view.offers == ["therapy", "medication_management"]

    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "The provider has been added." in page.text
    assert "Demo Health / PPO" in page.text and "$250.00 per session" in page.text
    assert f'href="/providers/{pid}"' in page.text  # the public profile

    wrong = _post(
        client,
        f"/admin/directory/providers/{pid}/licenses",
        {"state": "TX", "type": "LCSW", "number": "TX-1", "expires": "2030-01-01"},
        page=f"/admin/directory/providers/{pid}",
    )
    assert wrong.status_code == 422 and "practises under a licence of type" in wrong.text
    soon = (service.get_provider(session, SYSTEM, pid).provider.created_at + timedelta(days=20)).date()
    r = _post(
        client,
        f"/admin/directory/providers/{pid}/licenses",
        {"state": "TX", "type": "MD", "number": "TX-1", "issued": "2020-01-01", "expires": soon.isoformat()},
        page=f"/admin/directory/providers/{pid}",
    )
    assert r.status_code == 303 and r.headers["location"].endswith("#license")
    r = _post(
        client,
        f"/admin/directory/providers/{pid}/dea-registrations",
        {"state": "TX", "number": "ab1234563", "schedules": ["2", "3"], "expires": "2029-01-01"},
        page=f"/admin/directory/providers/{pid}",
    )
    assert r.status_code == 303
    bad_dea = _post(
        client,
        f"/admin/directory/providers/{pid}/dea-registrations",
        {"state": "TX", "number": "nope", "schedules": []},
        page=f"/admin/directory/providers/{pid}",
    )
    assert bad_dea.status_code == 422
    bad_compact = _post(
        client,
        f"/admin/directory/providers/{pid}/compact-privileges",
        {"compact": "PSYPACT", "state": "CO"},
        page=f"/admin/directory/providers/{pid}",
    )
    assert bad_compact.status_code == 422 and "does not cover a MD" in bad_compact.text
    view = service.get_provider(session, SYSTEM, pid)
    assert [(lic.state, lic.license_type) for lic in view.licenses] == [("TX", "MD")]
    assert [d.number for d in view.dea_registrations] == ["AB1234563"]
    page = client.get(f"/admin/directory/providers/{pid}")
    assert "TX-1" in page.text and "days left" in page.text

    listing = client.get("/admin/directory", params={"q": "rosa", "state": "TX"})
    assert "Dr. Rosa Example" in listing.text and f"/admin/directory/providers/{pid}" in listing.text
    assert "Dr. Rosa Example" not in client.get("/admin/directory", params={"state": "CA"}).text

    # the licence expires in 20 days: on the admin home's warning panel (rendered inline)
    admin_home = client.get("/admin")
    assert 'id="licence-warnings"' in admin_home.text
    assert "Dr. Rosa Example" in admin_home.text
    panel = client.get("/admin/directory/licences", headers={"HX-Request": "true"})
    assert panel.status_code == 200 and "<html" not in panel.text
    assert 'id="licence-warnings"' in panel.text and "Dr. Rosa Example" in panel.text
    assert "Within 30 days" in panel.text
    assert "<html" in client.get("/admin/directory/licences").text


def test_admin_edits_a_provider_and_errors_never_500(client, session, settings, clock):
    _admin(client, session, settings)
    therapist = make_user(session, settings, Role.THERAPIST, name="Cara Testtherapist")
    provider = service.create_provider(session, SYSTEM, {"name": "Tess", "credential": "LPC"}, clock=clock)
    session.commit()
    edit = client.get(f"/admin/directory/providers/{provider.id}/edit")
    assert edit.status_code == 200 and "Cara Testtherapist" in edit.text
    values = {
        "name": "Tess Example",
        "credential": "LPC",
        "timezone": "America/Denver",
        "capacity": "12",
        "conditions": "anxiety",
        "accepting_new_patients": "yes",
        "user_id": str(therapist.id),
    }
    for broken, field in (
        ({"credential": "WIZARD"}, "unknown credential"),
        ({"capacity": "lots"}, "a whole number"),
        ({"conditions": "Bad Tag!"}, "lower-case letters"),
        ({"timezone": "Mars/Base"}, "IANA time zone"),
        ({"networks": ["not-a-uuid"]}, "choose plans from the list"),
        ({"user_id": "00000000-0000-0000-0000-000000000001"}, "must be a clinician"),
        ({"self_pay_rate": "cheap"}, "an amount in dollars"),
        ({"languages": "en, " + "x" * 40}, "at most 35 characters"),
        ({"name": ""}, "required"),
    ):
        r = _post(client, f"/admin/directory/providers/{provider.id}", values | broken)
        assert r.status_code == 422, broken
        assert field in r.text, broken
    r = _post(client, f"/admin/directory/providers/{provider.id}", values)
    assert r.status_code == 303
    session.refresh(provider)
    assert (provider.name, provider.capacity, provider.user_id) == ("Tess Example", 12, therapist.id)
    assert provider.accepting_new_patients is True and provider.self_pay is False
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "provider.updated").order_by(AuditEvent.seq.desc())
    ).first()
    assert event.details["fields"] == sorted(
        ["name", "timezone", "capacity", "conditions", "user_id", "self_pay"]
    )
    assert client.get("/admin/directory/providers/00000000-0000-0000-0000-000000000001").status_code == 404


def test_admin_imports_a_csv_file_and_sees_the_report(client, session, settings):
    _admin(client, session, settings)
    page = client.get("/admin/directory/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    token = CSRF_RE.search(page.text).group(1)
    header = "name,credential,npi,license_state,license_type,license_number,license_expires\n"
    bad = header + f"Good,MD,{NPI},TX,MD,T1,2030-01-01\nBad,WIZARD,,TX,MD,T2,2030-02-30\n"
    r = client.post(
        "/admin/directory/import",
        data={"csrf_token": token},
        files={"file": ("providers.csv", bad.encode(), "text/csv")},
    )
    assert r.status_code == 422
    assert "Nothing was imported" in r.text and "unknown credential" in r.text
    assert "is not a date" in r.text and "providers.csv" in r.text
    assert session.scalars(select(Provider)).first() is None
    good = header + f"Good,MD,{NPI},TX,MD,T1,2030-01-01\n,,{NPI},NM,MD,N1,2030-01-01\n"
    r = client.post(
        "/admin/directory/import",
        data={"csrf_token": token},
        files={"file": ("providers.csv", good.encode(), "text/csv")},
    )
    assert r.status_code == 200 and "Imported 1 provider(s) and 2 licence(s)" in r.text
    [provider] = session.scalars(select(Provider)).all()
    assert provider.npi == NPI
    huge = header + "x" * (settings.max_body_bytes + 1)
    too_big = client.post(
        "/admin/directory/import",
        data={"csrf_token": token},
        files={"file": ("huge.csv", huge.encode(), "text/csv")},
    )
    assert too_big.status_code == 413  # the app's body limit applies to uploads
    missing = client.post("/admin/directory/import", data={"csrf_token": token}, files={})
    assert missing.status_code == 422 and "Choose a CSV file" in missing.text
    no_token = client.post(
        "/admin/directory/import", files={"file": ("providers.csv", good.encode(), "text/csv")}
    )
    assert no_token.status_code == 403


def test_directory_admin_pages_do_not_exist_for_others(client, session, settings, clock):
    _relaxed(client, settings)
    provider = service.create_provider(session, SYSTEM, {"name": "Tess", "credential": "LPC"}, clock=clock)
    users = [make_user(session, settings, role) for role in (Role.THERAPIST, Role.PATIENT)]
    session.commit()
    for user in users:
        client.cookies.clear()
        web_login(client, user.email)
        for path in (
            "/admin/directory",
            "/admin/directory/plans",
            "/admin/directory/import",
            "/admin/directory/licences",
            "/admin/directory/providers/new",
            f"/admin/directory/providers/{provider.id}",
        ):
            assert client.get(path).status_code == 404, (user.role, path)
        token = CSRF_RE.search(client.get("/account").text).group(1)
        r = client.post("/admin/directory/plans", data={"csrf_token": token, "payer": "A", "name": "B"})
        assert r.status_code == 404
    client.cookies.clear()
    assert client.get("/admin/directory", follow_redirects=False).status_code == 303  # log in first


def test_clinician_edits_own_profile_only(client, session, settings, clock):
    _relaxed(client, settings)
    cara = make_user(session, settings, Role.THERAPIST, name="Cara Testtherapist")
    ben = make_user(session, settings, Role.PSYCHIATRIST)
    provider = service.create_provider(
        session,
        SYSTEM,
        {"name": "Cara Testtherapist", "credential": "LCSW", "user_id": cara.id, "capacity": 20},
        clock=clock,
    )
    session.commit()
    web_login(client, cara.email)
    page = client.get("/provider/profile")
    assert page.status_code == 200 and "Cara Testtherapist" in page.text
    assert 'href="/provider/profile"' in page.text  # in the clinician's navigation
    token = CSRF_RE.search(page.text).group(1)
    base = {
        "csrf_token": token,
        "bio": "I help adults with anxiety.",
        "conditions": "anxiety, ptsd",
        "modalities": "cbt",
        "age_groups": ["adults"],
        "languages": "en",
        "timezone": "America/Chicago",
        "accepting_new_patients": "yes",
        "capacity": "25",
    }
    bad = client.post("/provider/profile", data=base | {"conditions": "Bad Tag!"}, follow_redirects=False)
    assert bad.status_code == 422 and "lower-case letters" in bad.text
    assert "I help adults with anxiety." in bad.text
    # fields the form does not have are ignored, never applied
    r = client.post(
        "/provider/profile", data=base | {"name": "Someone Else", "npi": NPI}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/provider/profile?notice=saved"
    session.refresh(provider)
    assert provider.bio == "I help adults with anxiety." and provider.capacity == 25
    assert provider.name == "Cara Testtherapist" and provider.npi is None
    view = service.get_provider(session, SYSTEM, provider.id)
    assert view.conditions == ["anxiety", "ptsd"] and provider.age_groups == ["adults"]
    assert "Your profile has been saved." in client.get("/provider/profile?notice=saved").text

    # a clinician without a linked profile is told so, and cannot save
    client.cookies.clear()
    web_login(client, ben.email)
    page = client.get("/provider/profile")
    assert page.status_code == 200 and "No directory profile is linked" in page.text
    token = CSRF_RE.search(page.text).group(1)
    r = client.post("/provider/profile", data={"csrf_token": token, "bio": "x"}, follow_redirects=False)
    assert r.status_code == 404
