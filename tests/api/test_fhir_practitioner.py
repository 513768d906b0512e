"""FHIR R4 Practitioner for the provider directory (spec §8.3): read and search by NPI or name, validated with
fhir.resources R4B models; the reference MedicationRequest.requester points to resolves."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole

from careweave.core.actor import Role
from careweave.core.clock import SystemClock
from careweave.directory import service as directory
from careweave.identity import service as identity
from tests.builders import make_prescriber, make_user
from tests.helpers import bearer

NPI = "1234567893"  # a valid check digit (CMS Luhn)


@pytest.fixture
def w(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    admin_user = make_user(session, settings, Role.ADMIN)
    admin = identity.actor_for(session, admin_user)
    _, _, provider = make_prescriber(session, settings, admin, states=("NY", "NJ"))
    directory.update_provider(
        session, admin, provider.id, {"taxonomy_code": "2084P0800X"}, clock=SystemClock()
    )
    directory.update_provider(
        session,
        admin,
        provider.id,
        {"npi": NPI, "gender": "nonbinary", "languages": ["en", "es"]},
        clock=SystemClock(),
    )
    directory.add_license(
        session,
        admin,
        provider.id,
        state="CT",
        license_type="MD",
        number="CT-OLD",
        status="inactive",
        issued=date(2015, 1, 1),
        expires=date(2019, 1, 1),
        clock=SystemClock(),
    )
    _, _, counsellor = make_prescriber(session, settings, admin, credential="PSYD", role=Role.THERAPIST)
    directory.add_compact_privilege(
        session,
        admin,
        counsellor.id,
        compact="PSYPACT",
        state="PA",
        status="active",
        issued=date(2024, 1, 1),
        expires=None,
        clock=SystemClock(),
    )
    patient = make_user(session, settings, Role.PATIENT)
    session.commit()
    return {"provider": provider, "counsellor": counsellor, "h": bearer(client, patient.email)}


def _get(client, path, h, **params):
    r = client.get(path, headers=h, params=params)
    assert r.headers["content-type"].startswith("application/fhir+json"), r.headers
    return r


def test_read_a_practitioner(client, w):
    r = _get(client, f"/fhir/Practitioner/{w['provider'].id}", w["h"])
    assert r.status_code == 200, r.text
    body = r.json()
    Practitioner.model_validate(body)  # valid R4 (R4B's Practitioner is R4's)
    assert body["identifier"] == [{"system": "http://hl7.org/fhir/sid/us-npi", "value": NPI}]
    assert body["gender"] == "other" and body["active"] is True
    assert [c["coding"][0]["code"] for c in body["communication"]] == ["en", "es"]
    quals = body["qualification"]
    assert [q["identifier"][0]["value"] for q in quals] == [
        "NJ-MD-1",
        "NY-MD-0",
    ]  # the inactive CT one left out
    assert quals[0]["issuer"]["display"] == "NJ state licensing board" and "end" in quals[0]["period"]
    assert quals[0]["code"]["coding"][0]["system"].endswith("/fhir/CodeSystem/credential")


def test_a_compact_privilege_is_a_qualification(client, w):
    body = _get(client, f"/fhir/Practitioner/{w['counsellor'].id}", w["h"]).json()
    Practitioner.model_validate(body)
    privilege = body["qualification"][-1]
    assert privilege["code"]["coding"][0]["code"] == "PSYPACT" and privilege["code"]["text"].endswith(", PA")
    assert "identifier" not in body  # no NPI on record


def test_search_by_npi_and_by_name(client, w):
    for params in (
        {"identifier": f"http://hl7.org/fhir/sid/us-npi|{NPI}"},
        {"identifier": NPI},
        {"name": w["provider"].name.split()[-1].lower(), "_count": 100},
    ):
        r = _get(client, "/fhir/Practitioner", w["h"], **params)
        assert r.status_code == 200, r.text
        bundle = Bundle.model_validate(r.json())
        ids = [e.resource.id for e in bundle.entry or []]
        assert str(w["provider"].id) in ids, params
    none = _get(client, "/fhir/Practitioner", w["h"], identifier="1245319599").json()
    assert none["total"] == 0
    page = _get(client, "/fhir/Practitioner", w["h"], name=" ", _count=1).json()
    assert len(page["entry"]) == 1 and page["total"] == 2  # every match counted, one on this page


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 422),
        ({"identifier": "http://example.org/other|123"}, 422),
        ({"identifier": "12345"}, 422),
        ({"name": "x", "_count": 0}, 400),  # request validation under /fhir: 400 (careweave.errors)
    ],
)
def test_bad_searches_are_operation_outcomes(client, w, params, status):
    r = _get(client, "/fhir/Practitioner", w["h"], **params)
    assert r.status_code == status, r.text
    OperationOutcome.model_validate(r.json())


def test_unknown_practitioner_and_no_token(client, w):
    r = _get(client, f"/fhir/Practitioner/{uuid.uuid4()}", w["h"])
    assert r.status_code == 404
    OperationOutcome.model_validate(r.json())
    assert client.get(f"/fhir/Practitioner/{w['provider'].id}").status_code == 401


def test_the_capability_statement_lists_practitioner(client, w):
    body = _get(client, "/fhir/metadata", w["h"]).json()
    CapabilityStatement.model_validate(body)
    types = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert {p["name"] for p in types["Practitioner"]["searchParam"]} >= {"identifier", "name"}


def test_the_practitioner_role_carries_the_nucc_taxonomy(client, w):
    r = _get(client, f"/fhir/PractitionerRole/{w['provider'].id}", w["h"])
    assert r.status_code == 200, r.text
    body = r.json()
    PractitionerRole.model_validate(body)
    assert body["practitioner"]["reference"] == f"Practitioner/{w['provider'].id}"
    assert body["code"][0]["coding"] == [
        {"system": "http://nucc.org/provider-taxonomy", "code": "2084P0800X"}
    ]
    assert {"text": "medication management"} in body["code"]
    assert body["specialty"] == [{"text": "depression"}]
    assert "Licensed in NJ, NY." in body["availabilityExceptions"]
    found = _get(
        client, "/fhir/PractitionerRole", w["h"], practitioner=f"Practitioner/{w['provider'].id}"
    ).json()
    assert [e["resource"]["id"] for e in Bundle.model_validate(found).model_dump()["entry"]] == [
        str(w["provider"].id)
    ]
    none = _get(client, "/fhir/PractitionerRole", w["h"], practitioner=f"Practitioner/{uuid.uuid4()}").json()
    assert none["total"] == 0
    assert _get(client, "/fhir/PractitionerRole", w["h"]).status_code == 422


def test_a_name_with_a_nul_is_refused_not_500(client, w):
    r = _get(client, "/fhir/Practitioner", w["h"], name="a\x00b")
    assert r.status_code == 400, r.text
    OperationOutcome.model_validate(r.json())
