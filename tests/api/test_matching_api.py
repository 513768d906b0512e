"""Matching through the API (issue #4): hard filters, roles, pair, empty-result explanations."""

from __future__ import annotations

from careweave.core.actor import Role
from careweave.patients import service as patients
from tests.builders import make_user
from tests.helpers import bearer, enrolled_headers


def _provider(client, admin, body, licences):
    pid = client.post("/api/v1/providers", headers=admin, json=body).json()["id"]
    for state, kind in licences:
        r = client.post(
            f"/api/v1/providers/{pid}/licenses",
            headers=admin,
            json={
                "state": state,
                "type": kind,
                "number": f"{state}-{pid[:6]}",
                "issued": "2020-01-01",
                "expires": "2031-01-01",
            },
        )
        assert r.status_code == 201, r.text
    # Matching only shows clinicians with free time (issue #4): every day, all day, so any test date works.
    weekly = [{"weekday": d, "start": "07:00", "end": "21:00"} for d in range(7)]
    r = client.put(
        f"/api/v1/providers/{pid}/availability",
        headers=admin,
        json={"timezone": "America/Chicago", "weekly": weekly},
    )
    assert r.status_code == 200, r.text
    return pid


def _directory(client, admin):
    plan = client.post(
        "/api/v1/plans", headers=admin, json={"payer": "Aetna", "name": "Open Access PPO"}
    ).json()["id"]
    common = {
        "accepting_new_patients": True,
        "capacity": 30,
        "languages": ["en"],
        "conditions": ["depression"],
        "networks": [plan],
    }
    md = _provider(
        client,
        admin,
        common | {"name": "Dr. Mira Prescriber", "credential": "MD", "offers": ["medication_management"]},
        [("TX", "MD")],
    )
    lcsw = _provider(
        client,
        admin,
        common | {"name": "Tom Therapist", "credential": "LCSW", "offers": ["therapy"]},
        [("TX", "LCSW")],
    )
    psy = _provider(
        client,
        admin,
        common
        | {"name": "Pat Psychologist", "credential": "PhD", "offers": ["therapy", "medication_management"]},
        [("TX", "PSYCHOLOGIST")],
    )
    _provider(
        client,
        admin,
        common | {"name": "Far Away", "credential": "LPC", "offers": ["therapy"]},
        [("NY", "LPC")],
    )
    return plan, md, lcsw, psy


def test_both_pathway_returns_licensed_therapists_and_prescribers_with_a_pair(
    client, session, settings, clock
):
    _, admin = enrolled_headers(client, session, settings, clock, Role.ADMIN)
    plan, md, lcsw, psy = _directory(client, admin)
    user = make_user(session, settings, Role.PATIENT, state="TX", timezone="America/Chicago")
    pid = str(patients.patient_id_for_user(session, user.id))
    session.commit()
    headers = bearer(client, user.email)
    client.put(f"/api/v1/patients/{pid}/coverage", headers=headers, json={"plan_id": plan, "member_id": "M"})
    client.post(
        f"/api/v1/patients/{pid}/screenings",
        headers=headers,
        json={"instrument": "phq-9", "answers": [2, 2, 2, 2, 2, 2, 2, 2, 0]},
    )
    r = client.post("/api/v1/matches", headers=headers, json={"patient_id": pid})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pathway"] == "both"
    roles = {(x["provider_id"], x["role"]) for x in body["results"]}
    assert (md, "prescriber") in roles
    assert (lcsw, "therapist") in roles
    assert (psy, "therapist") in roles
    assert (psy, "prescriber") not in roles  # a psychologist never prescribes in Texas (spec §3)
    assert all(x["reasons"] for x in body["results"])
    assert all(x["next_available"] for x in body["results"])  # every one shown has free time
    assert body["pair"]["prescriber_id"] == md
    assert "Far Away" not in {x["name"] for x in body["results"]}


def test_empty_result_explains_the_filter(client, session, settings, clock):
    _, admin = enrolled_headers(client, session, settings, clock, Role.ADMIN)
    _directory(client, admin)
    r = client.post(
        "/api/v1/matches",
        headers=admin,
        json={"need": {"pathway": "psychiatry", "state": "WY", "self_pay": True}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["results"] == []
    assert "Wyoming" in body["explanations"]["prescriber"]["message"]
    assert body["excluded_summary"]["prescriber"]["no_authority_in_state"] >= 4


def test_urgent_patients_are_not_matched_online(client, session, settings, clock):
    user = make_user(session, settings, Role.PATIENT, state="TX")
    pid = str(patients.patient_id_for_user(session, user.id))
    session.commit()
    headers = bearer(client, user.email)
    client.post(f"/api/v1/patients/{pid}/safety-help", headers=headers)
    body = client.post("/api/v1/matches", headers=headers, json={"patient_id": pid}).json()
    assert body["results"] == []
    assert "clinician will contact you" in body["message"]


def test_match_request_validation(client, session, settings):
    user = make_user(session, settings, Role.PATIENT)
    session.commit()
    headers = bearer(client, user.email)
    assert client.post("/api/v1/matches", headers=headers, json={}).status_code == 422
    other = make_user(session, settings, Role.PATIENT)
    session.commit()
    other_pid = str(patients.patient_id_for_user(session, other.id))
    assert client.post("/api/v1/matches", headers=headers, json={"patient_id": other_pid}).status_code == 404
