"""The consent decisions through every interface that reads a patient's record (issue #6): each GET of the
JSON API under a patient, the FHIR searches and reads, and the clinician's patient page, for clinicians with
each relation to the patient and each consent state. The registry below must classify every GET route of the
API that names a patient, so a new interface cannot be added without saying what it reads (and being tested).
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.consent import service as consent
from careweave.core.actor import Role
from careweave.core.clock import SystemClock
from careweave.identity import service as identity
from careweave.patients import service as patients
from careweave.screening import service as screening
from careweave.settings import Settings
from tests.builders import join_team, make_user
from tests.helpers import bearer

# Every GET under /api/v1 that names a patient (or one of their items), and what it reads. "record": the
# administrative part (team members and administrators); a category: consent decides; "own": the caller's own
# items only (lists filtered per item).
REGISTRY: dict[str, str] = {
    "/api/v1/patients/{patient_id}": "record",
    "/api/v1/patients/{patient_id}/access-log": "patient_and_admin",
    "/api/v1/patients/{patient_id}/intake": "screening",
    "/api/v1/patients/{patient_id}/screenings": "screening",
    "/api/v1/patients/{patient_id}/care-pathway": "screening",
    "/api/v1/patients/{patient_id}/coverage": "record",
    "/api/v1/patients/{patient_id}/care-team": "record",
    "/api/v1/patients/{patient_id}/consents": "record",
    "/api/v1/patients/{patient_id}/sharing": "record",
    "/api/v1/patients/{patient_id}/plan": "plan",
    "/api/v1/patients/{patient_id}/plan/versions": "plan",
    "/api/v1/patients/{patient_id}/notes": "per_item",
    "/api/v1/notes/{note_id}": "per_item",
    "/api/v1/patients/{patient_id}/measurement-status": "screening",
    "/api/v1/patients/{patient_id}/reviews": "screening",
    "/api/v1/patients/{patient_id}/medications": "medications",
    "/api/v1/patients/{patient_id}/prescriptions": "medications",
    "/api/v1/patients/{patient_id}/tapers": "medications",
    "/api/v1/patients/{patient_id}/lab-orders": "medications",
    "/api/v1/patients/{patient_id}/lab-results": "medications",
}
# The medication reads (issue #7): prescriptions, outside medications, tapers and monitoring labs.
MEDICATION_READS = sorted(p for p, c in REGISTRY.items() if c == "medications")
# The screening reads exercised below, through each front door.
SCREENING_READS: dict[str, Callable[[uuid.UUID], str]] = {
    "api screenings": lambda pid: f"/api/v1/patients/{pid}/screenings",
    "api intake": lambda pid: f"/api/v1/patients/{pid}/intake",
    "api care pathway": lambda pid: f"/api/v1/patients/{pid}/care-pathway",
    "api measurement status": lambda pid: f"/api/v1/patients/{pid}/measurement-status",
    "api caseload reviews": lambda pid: f"/api/v1/patients/{pid}/reviews",
    "fhir QuestionnaireResponse search": lambda pid: f"/fhir/QuestionnaireResponse?patient={pid}",
    "fhir Observation search": lambda pid: f"/fhir/Observation?patient={pid}",
}


def test_every_patient_route_is_classified(app):
    paths = {p for p, ops in app.openapi()["paths"].items() if "get" in ops}
    naming_a_patient = {p for p in paths if "{patient_id}" in p or p.startswith("/api/v1/notes/")}
    assert naming_a_patient <= set(REGISTRY), sorted(naming_a_patient - set(REGISTRY))


@pytest.fixture
def world(client, session, settings: Settings, mailer):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    clock = SystemClock()
    ana = make_user(session, settings, Role.PATIENT, name="Ana Matrix")
    pid = patients.patient_id_for_user(session, ana.id)
    ana_actor = identity.actor_for(session, ana)
    for instrument, answers, extra in (
        ("phq-9", [1, 1, 1, 1, 1, 1, 1, 0, 0], {}),
        ("audit-c", [2, 1, 1], {"sex": "female"}),
    ):
        screening.submit_screening(
            session,
            ana_actor,
            pid,
            instrument=instrument,
            answers=answers,
            clock=clock,
            settings=settings,
            mailer=mailer,
            **extra,
        )
    chosen = make_user(session, settings, Role.THERAPIST, name="Chosen Therapist")
    referred = make_user(session, settings, Role.PSYCHIATRIST, name="Referred Psychiatrist")
    outsider = make_user(session, settings, Role.PSYCHIATRIST, name="Outside Psychiatrist")
    admin = make_user(session, settings, Role.ADMIN)
    join_team(session, pid, chosen)
    join_team(session, pid, referred, basis="referral")
    session.commit()
    heads = {
        name: bearer(client, user.email)
        for name, user in (
            ("chosen", chosen),
            ("referred", referred),
            ("outsider", outsider),
            ("admin", admin),
        )
    }
    return {"pid": pid, "ana": ana_actor, "heads": heads, "referred": referred, "clock": clock}


def _status(client, world, who: str, path: str) -> int:
    return client.get(path, headers=world["heads"][who]).status_code


@pytest.mark.parametrize("interface", sorted(SCREENING_READS))
def test_screening_reads_follow_consent_through_every_front_door(client, session, world, interface):
    path = SCREENING_READS[interface](world["pid"])
    # The clinician the patient chose sees their questionnaires; a referred one must be given them.
    assert _status(client, world, "chosen", path) == 200
    referred = _status(client, world, "referred", path)
    outsider = _status(client, world, "outsider", path)
    admin = _status(client, world, "admin", path)
    print(interface, referred, outsider, admin)
    assert (referred, outsider, admin) == (403, 404, 404)
    directive = consent.grant(
        session,
        world["ana"],
        world["pid"],
        consent.GrantIn(world["referred"].id, False, ("screening",)),
        clock=world["clock"],
    )
    session.commit()
    assert _status(client, world, "referred", path) == 200
    consent.revoke(session, world["ana"], directive.id, clock=world["clock"])
    session.commit()
    assert _status(client, world, "referred", path) == 403  # the very next request


@pytest.mark.parametrize("route", MEDICATION_READS)
def test_medication_reads_follow_consent(client, session, world, route):
    path = route.replace("{patient_id}", str(world["pid"]))
    assert (_status(client, world, "outsider", path), _status(client, world, "admin", path)) == (404, 404)
    assert _status(client, world, "referred", path) == 403  # on the team, not shared
    directive = consent.grant(
        session,
        world["ana"],
        world["pid"],
        consent.GrantIn(world["referred"].id, False, ("medications",)),
        clock=world["clock"],
    )
    session.commit()
    assert _status(client, world, "referred", path) == 200
    consent.revoke(session, world["ana"], directive.id, clock=world["clock"])
    session.commit()
    assert _status(client, world, "referred", path) == 403  # the very next request


def test_part2_screens_need_their_own_consent(client, session, world):
    path = f"/api/v1/patients/{world['pid']}/screenings"
    instruments = {s["instrument"] for s in client.get(path, headers=world["heads"]["chosen"]).json()}
    assert instruments == {"phq-9"}  # AUDIT-C is substance-use information (42 CFR Part 2)
    consent.grant(
        session,
        world["ana"],
        world["pid"],
        consent.GrantIn(None, True, ("screening", "substance_use")),
        clock=world["clock"],
    )
    session.commit()
    instruments = {s["instrument"] for s in client.get(path, headers=world["heads"]["chosen"]).json()}
    assert instruments == {"phq-9", "audit-c"}
    instruments = {s["instrument"] for s in client.get(path, headers=world["heads"]["referred"]).json()}
    assert instruments == {"phq-9", "audit-c"}


def test_refusals_are_in_the_patients_access_log(client, session, world):
    client.get(f"/api/v1/patients/{world['pid']}/screenings", headers=world["heads"]["referred"])
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.patient_id == world["pid"], AuditEvent.actor_user_id == world["referred"].id
        )
    ).all()
    assert ("screening.history_viewed", "denied") in {(e.action, e.outcome) for e in events}


def test_the_clinician_page_withholds_and_offers_to_ask(client, session, settings, world):
    from tests.helpers import web_login

    client.cookies.clear()
    web_login(client, world["referred"].email)
    page = client.get(f"/patients/{world['pid']}")
    assert page.status_code == 200
    assert "Not shared with you" in page.text and "Ask the patient" in page.text
    assert "phq-9" not in page.text
