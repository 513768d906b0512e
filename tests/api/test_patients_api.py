from __future__ import annotations

import uuid

from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.core.actor import Role
from careweave.patients import service as patients
from tests.builders import PASSWORD, join_team, make_user
from tests.helpers import bearer, enrolled_headers


def _patient(session, settings, **kw):
    user = make_user(session, settings, Role.PATIENT, **kw)
    return user, patients.patient_id_for_user(session, user.id)


def _clinician_headers(client, session, settings, clock, role=Role.THERAPIST):
    return enrolled_headers(client, session, settings, clock, role)


def test_patient_reads_own_record_and_the_read_is_audited(client, session, settings):
    user, pid = _patient(session, settings, state="NY")
    session.commit()
    r = client.get(f"/api/v1/patients/{pid}", headers=bearer(client, user.email))
    assert r.status_code == 200
    assert r.json()["id"] == str(pid)
    assert r.json()["state"] == "NY"
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.patient_id == pid, AuditEvent.action == "patient.viewed")
    ).all()
    assert [(e.actor_user_id, e.outcome) for e in events] == [(user.id, "success")]
    assert events[0].request_id  # tied to the request's X-Request-ID


def test_patient_token_cannot_read_another_patient_404(client, session, settings):
    ana, _ = _patient(session, settings)
    _, other = _patient(session, settings)
    session.commit()
    headers = bearer(client, ana.email)
    r = client.get(f"/api/v1/patients/{other}", headers=headers)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    # identical to a record that does not exist at all
    r2 = client.get(f"/api/v1/patients/{uuid.uuid4()}", headers=headers)
    assert r2.status_code == 404
    assert r.json()["error"]["message"] == r2.json()["error"]["message"]
    # and the refused attempt is itself in the audit trail
    denied = session.scalars(
        select(AuditEvent).where(AuditEvent.patient_id == other, AuditEvent.outcome == "denied")
    ).all()
    assert [e.actor_user_id for e in denied] == [ana.id]


def test_patient_cannot_list_patients_or_read_audit(client, session, settings):
    ana, _ = _patient(session, settings)
    session.commit()
    headers = bearer(client, ana.email)
    assert client.get("/api/v1/patients", headers=headers).status_code == 403
    assert client.get("/api/v1/audit/events", headers=headers).status_code == 403
    assert client.get("/api/v1/users", headers=headers).status_code == 403


def test_clinician_lists_and_reads_patients_with_audit(client, session, settings, clock):
    _, pid = _patient(session, settings)
    other = make_user(session, settings, Role.PATIENT, name="Not Hers")
    other_pid = patients.patient_id_for_user(session, other.id)
    cara, headers = _clinician_headers(client, session, settings, clock)
    join_team(session, pid, cara)
    session.commit()
    listing = client.get("/api/v1/patients", headers=headers)
    assert listing.status_code == 200
    assert {p["id"] for p in listing.json()["items"]} == {str(pid)}  # her care team's patients only
    assert listing.json()["total"] == 1
    assert client.get(f"/api/v1/patients/{pid}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/patients/{other_pid}", headers=headers).status_code == 404
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.patient_id == pid, AuditEvent.actor_user_id == cara.id)
    ).all()
    assert sorted(actions) == ["patient.listed", "patient.viewed"]


def test_patient_updates_own_demographics(client, session, settings):
    ana, pid = _patient(session, settings)
    session.commit()
    headers = bearer(client, ana.email)
    r = client.patch(
        f"/api/v1/patients/{pid}",
        headers=headers,
        json={"state": "ca", "timezone": "America/Los_Angeles", "preferred_name": "Annie"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "CA"
    assert r.json()["preferred_name"] == "Annie"
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.patient_id == pid, AuditEvent.action == "patient.updated")
    ).one()
    assert event.details == {"fields": ["preferred_name", "state", "timezone"]}


def test_access_log_shows_clinician_reads_to_the_patient(client, session, settings, clock):
    ana, pid = _patient(session, settings)
    cara, headers = _clinician_headers(client, session, settings, clock)
    client.get(f"/api/v1/patients/{pid}", headers=headers)
    log = client.get(f"/api/v1/patients/{pid}/access-log", headers=bearer(client, ana.email))
    assert log.status_code == 200
    assert any(e["actor_name"] == cara.full_name and e["action"] == "patient.viewed" for e in log.json())
    # a clinician may not read the access log through this endpoint
    assert client.get(f"/api/v1/patients/{pid}/access-log", headers=headers).status_code == 404


def test_admin_searches_audit_events(client, session, settings, clock):
    _dee, headers = _clinician_headers(client, session, settings, clock, role=Role.ADMIN)
    r = client.get("/api/v1/audit/events", headers=headers, params={"action": "login.", "limit": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] >= 1
    assert all(e["action"].startswith("login.") for e in body["items"])
    assert all(1 <= e["chain"] <= 16 and e["seq"] >= 1 and len(e["prev_hash"]) == 64 for e in body["items"])
    created = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": "new.person@test.careweave.example",
            "role": "care_manager",
            "password": PASSWORD,
            "full_name": "New Person",
        },
    )
    assert created.status_code == 201
    assert created.json()["role"] == "care_manager"
