"""The shared treatment plan and clinical notes over the API (issue #6): versions with who/when/why, stale
base_version 409, the patient's plain-language plan and acknowledgement, consent gating of the plan, of
medication interventions and of each note (revocation hides again on the next request), psychotherapy notes
invisible to everyone but their author, signed notes immutable, addenda."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from careweave.audit.models import AuditEvent
from careweave.consent import service as consent
from careweave.core.actor import Role
from careweave.core.clock import SystemClock
from careweave.identity import service as identity
from careweave.records.models import PsychotherapyNote
from tests.api.test_bad_input import assert_error
from tests.builders import join_team, make_user
from tests.helpers import bearer

CLOCK = SystemClock()


@pytest.fixture
def w(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    users = {
        "ana": make_user(session, settings, Role.PATIENT, state="NY", timezone="America/New_York"),
        "cara": make_user(session, settings, Role.THERAPIST, name="Cara Therapist"),
        "ben": make_user(session, settings, Role.PSYCHIATRIST, name="Ben Psychiatrist"),
        "cm": make_user(session, settings, Role.CARE_MANAGER, name="Cam Manager"),
        "out": make_user(session, settings, Role.THERAPIST, name="Otto Outsider"),
        "dee": make_user(session, settings, Role.ADMIN),
    }
    ana = identity.actor_for(session, users["ana"])
    for name in ("cara", "ben", "cm"):
        join_team(session, ana.patient_id, users[name])
    session.commit()
    world = {
        "users": users,
        "pid": ana.patient_id,
        "ana_actor": ana,
        "h": {k: bearer(client, u.email) for k, u in users.items()},
        "id": {k: str(u.id) for k, u in users.items()},
    }
    return world


def share(session, w, who, *categories):
    d = consent.grant(
        session,
        w["ana_actor"],
        w["pid"],
        consent.GrantIn(grantee_user_id=w["users"][who].id, care_team=False, categories=tuple(categories)),
        clock=CLOCK,
    )
    session.commit()
    return d


def revoke(session, w, directive):
    consent.revoke(session, w["ana_actor"], directive.id, clock=CLOCK)
    session.commit()


def plan_body(w, base=0, reason="Initial plan after intake", **over):
    body = {
        "problems": [{"code": "F32.1", "description": "Major depressive disorder, single episode, moderate"}],
        "goals": [
            {
                "instrument": "PHQ-9",
                "comparator": "below",
                "target": 5,
                "due": str(date.today() + timedelta(90)),
            }
        ],
        "interventions": [
            {"discipline": "therapy", "owner_user_id": w["id"]["cara"], "description": "Weekly CBT"},
            {"discipline": "psychiatry", "owner_user_id": w["id"]["ben"], "description": "Sertraline 50 mg"},
        ],
        "review_date": str(date.today() + timedelta(30)),
        "reason": reason,
        "base_version": base,
    }
    body.update(over)
    return body


def url(w, tail=""):
    return f"/api/v1/patients/{w['pid']}/plan{tail}"


def audit_count(session, action, **where):
    stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    for k, v in where.items():
        stmt = stmt.where(getattr(AuditEvent, k) == v)
    return session.scalar(stmt)


# ------------------------------------------------------------------ plan


def test_plan_versions_with_who_when_why_and_stale_base_version(client, session, w):
    r = client.get(url(w), headers=w["h"]["cara"])
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 0 and r.json()["problems"] == []
    r = client.put(url(w), headers=w["h"]["cara"], json=plan_body(w))
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["version"] == 1 and first["changed_by_name"] == "Cara Therapist"
    assert first["reason"] == "Initial plan after intake"
    # Cara added the medication line, so she sees it as its author
    assert [i["discipline"] for i in first["interventions"]] == ["therapy", "psychiatry"]
    # Ben (the prescriber, sharing nothing yet) changes it based on version 1
    share(session, w, "ben", "plan", "medications")
    body = plan_body(w, base=1, reason="Raise PHQ-9 target after review")
    body["goals"][0]["target"] = 10
    r = client.put(url(w), headers=w["h"]["ben"], json=body)
    assert r.status_code == 200, r.text and r.json()["version"] == 2
    # Cara, still at version 1, is told her copy is stale
    err = assert_error(client.put(url(w), headers=w["h"]["cara"], json=plan_body(w, base=1)), 409)
    assert err["code"] == "records.stale_version" and err["fields"][0]["field"] == "base_version"
    versions = client.get(url(w, "/versions"), headers=w["h"]["cara"]).json()
    assert [(v["version"], v["changed_by_name"], v["reason"]) for v in versions] == [
        (1, "Cara Therapist", "Initial plan after intake"),
        (2, "Ben Psychiatrist", "Raise PHQ-9 target after review"),
    ]
    assert versions[1]["changed_at"]
    assert [(c["part"], c["kind"], c["fields"]) for c in versions[1]["changes"]] == [
        ("goals", "changed", ["target"])
    ]
    assert audit_count(session, "plan.updated", outcome="success") == 2
    # bad input names the field, never a 500
    bad = plan_body(w, base=2)
    bad["problems"][0]["code"] = "depression"
    bad["interventions"][0]["owner_user_id"] = w["id"]["out"]
    err = assert_error(client.put(url(w), headers=w["h"]["ben"], json=bad), 422)
    assert {f["field"] for f in err["fields"]} >= {"problems[0].code", "interventions[0].owner_user_id"}
    assert_error(client.put(url(w), headers=w["h"]["ben"], json=plan_body(w, base=2, reason="")), 422)


def test_plan_consent_gating_and_medications(client, session, w):
    client.put(url(w), headers=w["h"]["cara"], json=plan_body(w))
    # the care manager is on the team but the patient has not shared the plan: 403 with the reason
    err = assert_error(client.get(url(w), headers=w["h"]["cm"]), 403, code="consent_required")
    assert "consented" in err["message"]
    # outsiders and administrators learn nothing
    assert_error(client.get(url(w), headers=w["h"]["out"]), 404)
    assert_error(client.get(url(w), headers=w["h"]["dee"]), 404)
    assert_error(client.get(url(w, "/versions"), headers=w["h"]["dee"]), 404)
    directive = share(session, w, "cm", "plan")
    got = client.get(url(w), headers=w["h"]["cm"]).json()
    assert [i["discipline"] for i in got["interventions"]] == ["therapy"]
    assert got["hidden"] == [
        {
            "part": "interventions",
            "category": "medications",
            "count": 1,
            "reason": "hidden: the patient has not shared medications with you",
        }
    ]
    # the care manager edits: the medication line she cannot see is kept as it was
    body = plan_body(w, base=1, reason="Add care coordination")
    body["interventions"] = [
        {"discipline": "therapy", "owner_user_id": w["id"]["cara"], "description": "Weekly CBT"},
        {"discipline": "care_management", "owner_user_id": w["id"]["cm"], "description": "Monthly check-in"},
    ]
    assert client.put(url(w), headers=w["h"]["cm"], json=body).status_code == 200
    full = client.get(url(w), headers=w["h"]["cara"]).json()
    assert [i["discipline"] for i in full["interventions"]] == ["therapy", "care_management", "psychiatry"]
    # her history shows no medication lines either
    history = client.get(url(w, "/versions"), headers=w["h"]["cm"]).json()
    assert all("Sertraline" not in c["label"] for v in history for c in v["changes"])
    # revoked: hidden again on the next request; having written a version, she still sees the plan as an author
    revoke(session, w, directive)
    assert client.get(url(w), headers=w["h"]["cm"]).status_code == 200
    # a team member who never wrote it, and whose consent is gone, does not
    d = share(session, w, "ben", "plan")
    assert client.get(url(w), headers=w["h"]["ben"]).status_code == 200
    revoke(session, w, d)
    assert_error(client.get(url(w), headers=w["h"]["ben"]), 403, code="consent_required")
    assert audit_count(session, "plan.viewed", outcome="denied") >= 3
    # writing needs to read the current plan
    assert_error(client.put(url(w), headers=w["h"]["ben"], json=plan_body(w, base=2)), 403)
    assert_error(client.put(url(w), headers=w["h"]["out"], json=plan_body(w, base=2)), 404)
    assert_error(client.put(url(w), headers=w["h"]["ana"], json=plan_body(w, base=2)), 404)


def test_patient_reads_plain_language_and_acknowledges(client, session, w):
    assert_error(client.post(url(w, "/acknowledge"), headers=w["h"]["ana"]), 404)
    client.put(url(w), headers=w["h"]["cara"], json=plan_body(w))
    mine = client.get(url(w), headers=w["h"]["ana"]).json()
    assert mine["plain_language"]["problems"] == ["Depression (moderate)"]
    assert mine["plain_language"]["goals"][0].startswith(
        "Bring your score on the depression questionnaire (PHQ-9)"
    )
    assert mine["plain_language"]["interventions"][0] == "Therapy with Cara Therapist: Weekly CBT."
    assert mine["hidden"] == [] and mine["acknowledged_version"] is None
    r = client.post(url(w, "/acknowledge"), headers=w["h"]["ana"], json={"version": 1})
    assert r.status_code == 200 and r.json()["acknowledged_version"] == 1
    client.put(url(w), headers=w["h"]["cara"], json=plan_body(w, base=1, reason="Add anxiety goal"))
    assert_error(client.post(url(w, "/acknowledge"), headers=w["h"]["ana"], json={"version": 1}), 409)
    assert client.post(url(w, "/acknowledge"), headers=w["h"]["ana"]).json()["acknowledged_version"] == 2
    # only the patient acknowledges
    assert_error(client.post(url(w, "/acknowledge"), headers=w["h"]["cara"]), 404)
    assert audit_count(session, "plan.acknowledged", outcome="success") == 2


# ------------------------------------------------------------------ notes

SOAP = {"S": "Feels low most days", "O": "Flat affect", "A": "Moderate depression", "P": "Continue CBT"}


def new_note(client, w, who="cara", **over):
    body = {"kind": "progress", "format": "SOAP", "sections": SOAP, **over}
    r = client.post(f"/api/v1/patients/{w['pid']}/notes", headers=w["h"][who], json=body)
    assert r.status_code == 201, r.text
    return r.json()


def listed(client, w, who):
    r = client.get(f"/api/v1/patients/{w['pid']}/notes", headers=w["h"][who])
    assert r.status_code == 200, r.text
    return [n["id"] for n in r.json()]


def test_note_consent_gating_per_item(client, session, w):
    note = new_note(client, w)
    assert note["status"] == "draft" and note["author_name"] == "Cara Therapist"
    sud = new_note(
        client,
        w,
        format="DAP",
        sections={"D": "Drinks daily", "A": "AUD mild", "P": "MI"},
        substance_use=True,
    )
    assert sud["category"] == "substance_use"
    # drafts are their author's alone
    assert listed(client, w, "ben") == [] and listed(client, w, "ana") == []
    for n in (note, sud):
        client.post(f"/api/v1/notes/{n['id']}/sign", headers=w["h"]["cara"])
    # the author sees her own; Ben (on the team, nothing shared) sees none and gets 403 on one
    assert set(listed(client, w, "cara")) == {note["id"], sud["id"]}
    assert listed(client, w, "ben") == []
    assert_error(
        client.get(f"/api/v1/notes/{note['id']}", headers=w["h"]["ben"]), 403, code="consent_required"
    )
    directive = share(session, w, "ben", "progress_notes")
    assert listed(client, w, "ben") == [note["id"]]  # the substance-use note needs its own consent
    assert client.get(f"/api/v1/notes/{note['id']}", headers=w["h"]["ben"]).status_code == 200
    assert_error(client.get(f"/api/v1/notes/{sud['id']}", headers=w["h"]["ben"]), 403)
    sud_consent = share(session, w, "ben", "substance_use")
    assert set(listed(client, w, "ben")) == {note["id"], sud["id"]}
    revoke(session, w, directive)
    revoke(session, w, sud_consent)
    assert listed(client, w, "ben") == []
    assert_error(client.get(f"/api/v1/notes/{note['id']}", headers=w["h"]["ben"]), 403)
    # the patient reads her signed notes; outsiders and administrators get 404
    assert set(listed(client, w, "ana")) == {note["id"], sud["id"]}
    for who in ("out", "dee"):
        assert_error(client.get(f"/api/v1/patients/{w['pid']}/notes", headers=w["h"][who]), 404)
        assert_error(client.get(f"/api/v1/notes/{note['id']}", headers=w["h"][who]), 404)
    assert audit_count(session, "note.viewed", outcome="denied") >= 5


def test_sign_then_edit_conflicts_and_addenda(client, session, w):
    note = new_note(client, w)
    nid = note["id"]
    r = client.put(f"/api/v1/notes/{nid}", headers=w["h"]["cara"], json={"sections": {**SOAP, "P": "Add BA"}})
    assert r.status_code == 200 and r.json()["sections"]["P"] == "Add BA"
    # an addendum needs a signed note; only the author signs
    assert_error(client.post(f"/api/v1/notes/{nid}/addenda", headers=w["h"]["cara"], json={"body": "x"}), 409)
    share(session, w, "ben", "progress_notes")
    assert_error(
        client.post(f"/api/v1/notes/{nid}/sign", headers=w["h"]["ben"]), 404
    )  # a draft: not his to see
    r = client.post(f"/api/v1/notes/{nid}/sign", headers=w["h"]["cara"])
    assert r.status_code == 200 and r.json()["status"] == "signed" and r.json()["signed_at"]
    assert_error(client.post(f"/api/v1/notes/{nid}/sign", headers=w["h"]["cara"]), 409)
    assert_error(
        client.post(f"/api/v1/notes/{nid}/sign", headers=w["h"]["ben"]), 403, code="records.not_author"
    )
    err = assert_error(
        client.put(f"/api/v1/notes/{nid}", headers=w["h"]["cara"], json={"sections": SOAP}), 409
    )
    assert err["code"] == "records.note_signed"
    r = client.post(f"/api/v1/notes/{nid}/addenda", headers=w["h"]["cara"], json={"body": "PHQ-9 today: 14"})
    assert r.status_code == 201
    r = client.post(f"/api/v1/notes/{nid}/addenda", headers=w["h"]["ben"], json={"body": "Seen for meds"})
    assert [(a["author_name"], a["body"]) for a in r.json()["addenda"]] == [
        ("Cara Therapist", "PHQ-9 today: 14"),
        ("Ben Psychiatrist", "Seen for meds"),
    ]
    assert r.json()["sections"]["P"] == "Add BA"  # the note itself is unchanged
    # the care manager can read (with consent) but not write notes; the patient neither
    share(session, w, "cm", "progress_notes")
    assert_error(client.post(f"/api/v1/notes/{nid}/addenda", headers=w["h"]["cm"], json={"body": "x"}), 403)
    assert_error(
        client.post(
            f"/api/v1/patients/{w['pid']}/notes",
            headers=w["h"]["cm"],
            json={"format": "SOAP", "sections": SOAP},
        ),
        404,
    )
    assert audit_count(session, "note.signed", outcome="success") == 1
    assert audit_count(session, "note.addendum_added", outcome="success") == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "SOAP", "sections": {"S": "x", "O": "y", "A": "z"}}, "sections.P"),
        ({"format": "DAP", "sections": {"D": "x", "A": "y", "P": "z", "Q": "?"}}, "sections.Q"),
        ({"sections": SOAP}, "format"),
        ({"format": "SOAP", "sections": SOAP, "body": "x"}, "body"),
        ({"format": "SOAP", "sections": SOAP, "appointment_id": str(uuid.uuid4())}, "appointment_id"),
        ({"kind": "psychotherapy"}, "body"),
        ({"kind": "psychotherapy", "body": "x", "sections": SOAP}, "sections"),
        ({"format": "SOAP", "sections": {**SOAP, "S": "a\u0000b"}}, "sections.S"),
    ],
)
def test_bad_notes_name_the_field(client, w, body, field):
    r = client.post(f"/api/v1/patients/{w['pid']}/notes", headers=w["h"]["cara"], json=body)
    assert_error(r, 422, field=field)


def test_psychotherapy_notes_are_only_their_authors(client, session, w):
    psych = new_note(client, w, kind="psychotherapy", format=None, sections=None, body="Process notes")
    pid = psych["id"]
    assert psych["kind"] == "psychotherapy" and psych["body"] == "Process notes"
    progress = new_note(client, w)
    client.post(f"/api/v1/notes/{progress['id']}/sign", headers=w["h"]["cara"])
    # everything a patient could share, and an emergency access: still nobody else sees it
    for who in ("ben", "cm"):
        share(session, w, who, "plan", "medications", "progress_notes", "substance_use", "screening")
    from careweave.careteam import service as careteam

    careteam.break_glass(
        session,
        identity.actor_for(session, w["users"]["out"]),
        w["pid"],
        reason="Patient unreachable after a crisis message",
        clock=CLOCK,
    )
    session.commit()
    assert set(listed(client, w, "cara")) == {pid, progress["id"]}
    for who in ("ben", "cm", "out", "dee", "ana"):
        if who != "dee":
            assert pid not in listed(client, w, who)
        assert_error(client.get(f"/api/v1/notes/{pid}", headers=w["h"][who]), 404)
        assert_error(client.post(f"/api/v1/notes/{pid}/sign", headers=w["h"][who]), 404)
        assert_error(client.put(f"/api/v1/notes/{pid}", headers=w["h"][who], json={"body": "x"}), 404)
        assert_error(
            client.post(f"/api/v1/notes/{pid}/addenda", headers=w["h"][who], json={"body": "x"}), 404
        )
    assert listed(client, w, "ben") == [progress["id"]]  # counts exclude it too
    # the author signs it; then it is immutable and takes no addenda
    assert client.get(f"/api/v1/notes/{pid}", headers=w["h"]["cara"]).json()["body"] == "Process notes"
    assert client.post(f"/api/v1/notes/{pid}/sign", headers=w["h"]["cara"]).json()["status"] == "signed"
    assert_error(client.put(f"/api/v1/notes/{pid}", headers=w["h"]["cara"], json={"body": "x"}), 409)
    assert_error(client.post(f"/api/v1/notes/{pid}/addenda", headers=w["h"]["cara"], json={"body": "x"}), 409)
    # stored apart, and its audit events never name the patient (they stay out of "who viewed my record")
    assert session.get(PsychotherapyNote, uuid.UUID(pid)) is not None
    events = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == pid)).all()
    assert events and all(e.patient_id is None for e in events)
    assert {e.action for e in events} >= {"psychotherapy_note.created", "psychotherapy_note.viewed"}
    access_log = client.get(f"/api/v1/patients/{w['pid']}/access-log", headers=w["h"]["ana"])
    assert access_log.status_code == 200 and "psychotherapy" not in access_log.text
