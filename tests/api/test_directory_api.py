"""Provider directory API (issue #4): plans, providers, licences, compacts, DEA, coverage."""

from __future__ import annotations

from careweave.core.actor import Role
from careweave.patients import service as patients
from tests.builders import make_user
from tests.helpers import bearer, enrolled_headers

VALID_NPI = "1234567893"  # CMS check digit example


def _fields(r):
    return {f["field"] for f in r.json()["error"]["fields"]}


def test_admin_builds_a_provider_with_licences(client, session, settings, clock):
    _, admin = enrolled_headers(client, session, settings, clock, Role.ADMIN)
    plan = client.post("/api/v1/plans", headers=admin, json={"payer": "Demo Health", "name": "PPO"})
    assert plan.status_code == 201
    plan_id = plan.json()["id"]
    assert (
        client.post("/api/v1/plans", headers=admin, json={"payer": "Demo Health", "name": "PPO"}).status_code
        == 409
    )
    body = {
        "name": "Dr. Test Psychiatrist",
        "credential": "md",
        "npi": VALID_NPI,
        "offers": ["therapy", "medication_management"],
        "conditions": ["depression", "bipolar"],
        "languages": ["en", "es"],
        "gender": "female",
        "timezone": "America/Chicago",
        "accepting_new_patients": True,
        "capacity": 40,
        "networks": [plan_id],
    }
    r = client.post("/api/v1/providers", headers=admin, json=body)
    assert r.status_code == 201, r.text
    provider = r.json()
    assert provider["credential"] == "MD"
    assert provider["networks"] == [plan_id]
    pid = provider["id"]
    lic = client.post(
        f"/api/v1/providers/{pid}/licenses",
        headers=admin,
        json={
            "state": "TX",
            "type": "MD",
            "number": "TX-123",
            "issued": "2020-01-01",
            "expires": "2030-01-01",
        },
    )
    assert lic.status_code == 201, lic.text
    bad = client.post(
        f"/api/v1/providers/{pid}/licenses",
        headers=admin,
        json={"state": "TX", "type": "LCSW", "number": "X", "expires": "2030-01-01"},
    )
    assert bad.status_code == 422
    assert "type" in _fields(bad)
    dea = client.post(
        f"/api/v1/providers/{pid}/dea-registrations",
        headers=admin,
        json={
            "state": "TX",
            "number": "AB1234563",
            "schedules": ["2", "3", "4", "5"],
            "expires": "2029-01-01",
        },
    )
    assert dea.status_code == 201, dea.text
    compact = client.post(
        f"/api/v1/providers/{pid}/compact-privileges",
        headers=admin,
        json={"compact": "PSYPACT", "state": "CO"},
    )
    assert compact.status_code == 422  # PSYPACT does not cover physicians
    full = client.get(f"/api/v1/providers/{pid}", headers=admin).json()
    assert full["states"] == ["TX"]
    assert len(full["dea_registrations"]) == 1
    listing = client.get(
        "/api/v1/providers", headers=admin, params={"state": "tx", "condition": "bipolar"}
    ).json()
    assert listing["total"] == 1


def test_provider_validation_names_the_field(client, session, settings, clock):
    _, admin = enrolled_headers(client, session, settings, clock, Role.ADMIN)
    base = {"name": "X", "credential": "LCSW"}
    for extra, field in (
        ({"credential": "WIZARD"}, "credential"),
        ({"npi": "1234567890"}, "npi"),
        ({"networks": ["00000000-0000-0000-0000-000000000001"]}, "networks[0]"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"conditions": ["Bad Tag!"]}, "conditions[0]"),
    ):
        r = client.post("/api/v1/providers", headers=admin, json=base | extra)
        assert r.status_code == 422, extra
        assert field in _fields(r), r.json()


def test_patients_read_profiles_but_cannot_edit(client, session, settings, clock):
    _, admin = enrolled_headers(client, session, settings, clock, Role.ADMIN)
    pid = client.post("/api/v1/providers", headers=admin, json={"name": "Tess", "credential": "LPC"}).json()[
        "id"
    ]
    patient = make_user(session, settings, Role.PATIENT)
    session.commit()
    headers = bearer(client, patient.email)
    assert client.get(f"/api/v1/providers/{pid}", headers=headers).status_code == 200
    assert client.post("/api/v1/plans", headers=headers, json={"payer": "A", "name": "B"}).status_code == 403
    assert client.patch(f"/api/v1/providers/{pid}", headers=headers, json={"bio": "x"}).status_code == 404


def test_clinician_edits_own_profile_not_licences_or_networks(client, session, settings, clock):
    _, admin = enrolled_headers(client, session, settings, clock, Role.ADMIN)
    therapist, headers = enrolled_headers(client, session, settings, clock, Role.THERAPIST)
    pid = client.post(
        "/api/v1/providers",
        headers=admin,
        json={"name": "Own", "credential": "LMFT", "user_id": str(therapist.id)},
    ).json()["id"]
    assert client.get("/api/v1/me", headers=headers).json()["provider_id"] == pid
    ok = client.patch(
        f"/api/v1/providers/{pid}", headers=headers, json={"bio": "Family therapy.", "capacity": 20}
    )
    assert ok.status_code == 200
    locked = client.patch(f"/api/v1/providers/{pid}", headers=headers, json={"credential": "MD"})
    assert locked.status_code == 422
    assert "credential" in _fields(locked)
    assert (
        client.post(
            f"/api/v1/providers/{pid}/licenses",
            headers=headers,
            json={"state": "NY", "type": "LMFT", "number": "1"},
        ).status_code
        == 403
    )


def test_patient_coverage(client, session, settings, clock):
    _, admin = enrolled_headers(client, session, settings, clock, Role.ADMIN)
    plan_id = client.post("/api/v1/plans", headers=admin, json={"payer": "P", "name": "HMO"}).json()["id"]
    user = make_user(session, settings, Role.PATIENT)
    patient_id = patients.patient_id_for_user(session, user.id)
    session.commit()
    headers = bearer(client, user.email)
    url = f"/api/v1/patients/{patient_id}/coverage"
    r = client.put(url, headers=headers, json={"plan_id": plan_id, "member_id": "M1"})
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["name"] == "HMO"
    assert client.put(url, headers=headers, json={"self_pay": True}).json()["self_pay"] is True
    assert client.put(url, headers=headers, json={}).status_code == 422
    assert (
        client.put(url, headers=headers, json={"plan_id": "00000000-0000-0000-0000-000000000009"}).status_code
        == 422
    )
