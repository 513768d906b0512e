"""Referrals API (issue #6): both directions through the whole lifecycle, open referrals taken by the first to
accept, wrong actors refused with clear messages, the receiver's view honouring consent, notices without clinical
content."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from careweave.careteam import referrals
from careweave.careteam.models import CareTeamMember
from careweave.consent import service as consent
from careweave.consent.models import ConsentRequest
from careweave.core.clock import FixedClock, SystemClock
from careweave.identity.models import User
from careweave.jobs import queue
from careweave.jobs.queue import WorkerContext
from careweave.notify.sms import Sms
from tests.api.test_bad_input import assert_error
from tests.conftest import MemoryMailer
from tests.helpers import bearer
from tests.referral_builders import referral_world


class NoSms:
    def send(self, sms: Sms) -> None:  # pragma: no cover - referrals send no SMS
        raise AssertionError("no SMS expected")


@pytest.fixture
def world(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    w = referral_world(session, settings, SystemClock())
    session.commit()
    w["h"] = {k: bearer(client, u.email) for k, u in w["users"].items()}
    w["h"]["admin"] = bearer(client, session.get(User, w["admin"].user_id).email)
    return w


def _med_eval(w, **extra):
    return {
        "patient_id": str(w["patient_id"]),
        "kind": "medication_evaluation",
        "to_provider_id": str(w["providers"]["psych"].id),
        "reason": "Persistent low mood despite twelve sessions of CBT",
        "urgency": "soon",
        "question": "Would an SSRI help?",
        "needs": ["screening"],
        **extra,
    }


def test_therapist_to_psychiatrist_full_lifecycle(client, world, session, settings, sessions):
    h, pid = world["h"], world["patient_id"]
    r = client.post("/api/v1/referrals", headers=h["therapist"], json=_med_eval(world, send=True))
    assert r.status_code == 201, r.text
    body = r.json()
    rid = body["id"]
    assert r.headers["location"] == f"/api/v1/referrals/{rid}"
    assert body["status"] == "sent" and body["to_name"] == "Dr Pia Psych" and not body["open"]
    assert [(e["from_status"], e["to_status"]) for e in body["events"]] == [
        (None, "draft"),
        ("draft", "sent"),
    ]
    assert body["events"][1]["actor_name"] == "Tia Therapist"
    # the patient is asked for what the psychiatrist needs; the referrer sees it pending
    assert [(c["categories"], c["status"]) for c in body["consent_requests"]] == [(["screening"], "pending")]
    assert body["your_moves"] == ["cancel"]

    # the receiver sees the referral, its question, and the record only as consent allows: not yet
    got = client.get(f"/api/v1/referrals/{rid}", headers=h["psych"]).json()
    assert got["question"] == "Would an SSRI help?" and got["your_moves"] == ["accept", "decline"]
    screening = next(s for s in got["shared"] if s["category"] == "screening")
    assert screening == {**screening, "allowed": False, "pending": True, "items": []}
    assert client.get("/api/v1/referrals?role=received", headers=h["psych"]).json()[0]["id"] == rid

    r = client.post(f"/api/v1/referrals/{rid}/accept", headers=h["psych"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["accepted_at"]
    session.expire_all()
    member = session.scalar(
        select(CareTeamMember).where(
            CareTeamMember.patient_id == pid, CareTeamMember.user_id == world["users"]["psych"].id
        )
    )
    assert member.basis == "referral" and member.role == "prescriber" and str(member.referral_id) == rid
    # on the team now, but a referral does not open the screenings by itself: still pending the patient
    got = client.get(f"/api/v1/referrals/{rid}", headers=h["psych"]).json()
    assert next(s for s in got["shared"] if s["category"] == "screening")["allowed"] is False
    r = client.get(f"/api/v1/patients/{pid}/screenings", headers=h["psych"])
    assert r.status_code in (403, 404)

    # the patient sees it and where to book
    mine = client.get("/api/v1/referrals", headers=h["patient"]).json()
    assert [m["id"] for m in mine] == [rid]
    assert mine[0]["book_url"] == f"/book/{world['providers']['psych'].id}"

    # the patient grants the request: the screening shows
    req = session.scalar(select(ConsentRequest).where(ConsentRequest.referral_id == uuid.UUID(rid)))
    consent.answer_request(session, world["actors"]["patient"], req.id, accept=True, clock=SystemClock())
    session.commit()
    got = client.get(f"/api/v1/referrals/{rid}", headers=h["psych"]).json()
    screening = next(s for s in got["shared"] if s["category"] == "screening")
    assert screening["allowed"] and screening["items"][0]["instrument"] == "PHQ-9"
    assert got["consent_requests"][0]["status"] == "granted"

    # booking with the receiver marks it scheduled (booking calls mark_scheduled)
    moved = referrals.mark_scheduled(session, pid, world["users"]["psych"].id, None, SystemClock())  # type: ignore[arg-type]
    assert [str(m.id) for m in moved] == [rid]
    session.commit()
    assert referrals.mark_scheduled(session, pid, world["users"]["psych"].id, None, SystemClock()) == []

    r = client.post(
        f"/api/v1/referrals/{rid}/complete", headers=h["psych"], json={"outcome": "Started sertraline"}
    )
    assert r.status_code == 200, r.text
    # the referrer sees the status and the outcome, with the whole history
    got = client.get(f"/api/v1/referrals/{rid}", headers=h["therapist"]).json()
    assert got["status"] == "completed" and got["outcome"] == "Started sertraline"
    assert [e["to_status"] for e in got["events"]] == ["draft", "sent", "accepted", "scheduled", "completed"]
    assert got["shared"] == []  # the referrer's page does not show the record through the referral
    sent = client.get("/api/v1/referrals?role=sent", headers=h["therapist"]).json()
    assert [s["status"] for s in sent] == ["completed"]

    # notices: the receiver on send, the patient on accept; no clinical content
    mailer = MemoryMailer()
    ran = queue.run_due(
        sessions,
        worker_id="host:1",
        clock=SystemClock(),
        context=WorkerContext(settings=settings, mailer=mailer, sms=NoSms()),
    )
    assert ran >= 2
    notices = {m.to: m for m in mailer.sent if "referral" in m.body or "/my/referrals" in m.body}
    assert world["users"]["psych"].email in notices and world["users"]["patient"].email in notices
    for mail in notices.values():
        text = (mail.subject + mail.body).lower()
        assert "mood" not in text and "ssri" not in text and "medication" not in text and "ana" not in text


def test_the_overdue_window_is_a_setting(client, world, session):
    """CAREWEAVE_REFERRAL_OVERDUE_DAYS: the API's lists, detail and ?overdue=true read the app's setting."""
    now = SystemClock().now()
    r = referrals.create(
        session,
        world["actors"]["therapist"],
        referrals.ReferralIn(
            patient_id=world["patient_id"],
            kind="medication_evaluation",
            reason="Needs an evaluation",
            to_provider_id=world["providers"]["psych"].id,
            send=True,
        ),
        clock=FixedClock(now - timedelta(days=3)),
    )
    session.commit()
    h = world["h"]["therapist"]

    def overdue() -> tuple[list[str], bool, bool]:
        listed = client.get("/api/v1/referrals", params={"overdue": "true"}, headers=h).json()
        sent = client.get("/api/v1/referrals", params={"role": "sent"}, headers=h).json()
        detail = client.get(f"/api/v1/referrals/{r.id}", headers=h).json()
        return [x["id"] for x in listed], sent[0]["overdue"], detail["overdue"]

    assert overdue() == ([], False, False)  # 7 days by default
    client.app.state.settings = client.app.state.settings.model_copy(update={"referral_overdue_days": 2})
    assert overdue() == ([str(r.id)], True, True)


def test_psychiatrist_to_therapy_open_referral_first_acceptor_takes_it(client, world, session):
    from tests.builders import join_team

    h = world["h"]
    join_team(session, world["patient_id"], world["users"]["psych2"])
    session.commit()
    body = {
        "patient_id": str(world["patient_id"]),
        "kind": "therapy",
        "reason": "Would benefit from skills training",
        "modality": "DBT",
        "needs": ["screening", "plan"],
    }
    r = client.post("/api/v1/referrals", headers=h["psych2"], json=body)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["status"] == "draft" and r.json()["open"] and r.json()["modality"] == "dbt"
    # a draft is the referrer's alone
    assert_error(client.get(f"/api/v1/referrals/{rid}", headers=h["therapist2"]), 404)
    r = client.post(f"/api/v1/referrals/{rid}/send", headers=h["psych2"])
    assert r.status_code == 200 and r.json()["status"] == "sent"
    assert r.json()["consent_requests"] == []  # asked when someone takes it
    assert r.json()["events"][-1]["note"] == referrals.OPEN_NOTE

    # every therapist of the clinic sees it as received; psychiatrists do not
    for who in ("therapist", "therapist2"):
        assert [x["id"] for x in client.get("/api/v1/referrals", headers=h[who]).json()] == [rid]
    assert client.get("/api/v1/referrals", headers=h["psych"]).json() == []
    assert_error(client.get(f"/api/v1/referrals/{rid}", headers=h["psych"]), 404)
    # an open referral is not declined by one candidate
    err = assert_error(
        client.post(f"/api/v1/referrals/{rid}/decline", headers=h["therapist2"], json={"reason": "Full"}),
        409,
        "referral.not_your_move",
    )
    assert "open to every matching clinician" in err["message"]

    r = client.post(f"/api/v1/referrals/{rid}/accept", headers=h["therapist2"])
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["to_user_id"] == str(world["users"]["therapist2"].id)
    assert got["to_provider_id"] == str(world["providers"]["therapist2"].id)
    assert got["to_name"] == "Theo Othertherapist" and not got["open"]
    # the consent is asked now, for the one who took it
    assert [sorted(c["categories"]) for c in got["consent_requests"]] == [["plan", "screening"]]
    # the second acceptor: 409 with a clear message (whether or not they can see the referral)
    err = assert_error(client.post(f"/api/v1/referrals/{rid}/accept", headers=h["therapist"]), 409)
    assert err["code"] == "referral.invalid_transition" and "already accepted" in err["message"]
    # it left the others' received lists
    assert [x["id"] for x in client.get("/api/v1/referrals", headers=h["therapist"]).json()] == []
    # the referrer cancels; the unanswered consent requests are withdrawn
    r = client.post(f"/api/v1/referrals/{rid}/cancel", headers=h["psych2"], json={"reason": "Patient moved"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["consent_requests"][0]["status"] == "withdrawn"


def test_wrong_actors_and_wrong_statuses(client, world):
    h = world["h"]
    rid = client.post("/api/v1/referrals", headers=h["therapist"], json=_med_eval(world)).json()["id"]
    # only the referrer sends; the receiver does not see a draft
    assert_error(client.post(f"/api/v1/referrals/{rid}/send", headers=h["psych"]), 404)
    assert client.post(f"/api/v1/referrals/{rid}/send", headers=h["therapist"]).status_code == 200
    err = assert_error(client.post(f"/api/v1/referrals/{rid}/send", headers=h["therapist"]), 409)
    assert err["code"] == "referral.invalid_transition" and "sent" in err["message"]
    # the referrer cannot accept their own referral; the receiver cannot cancel it
    err = assert_error(client.post(f"/api/v1/referrals/{rid}/accept", headers=h["therapist"]), 409)
    assert err["code"] == "referral.not_your_move" and "clinician it was sent to" in err["message"]
    err = assert_error(client.post(f"/api/v1/referrals/{rid}/cancel", headers=h["psych"]), 409)
    assert err["code"] == "referral.not_your_move" and "referring clinician" in err["message"]
    # the patient reads it but moves nothing; strangers and administrators learn nothing
    assert client.get(f"/api/v1/referrals/{rid}", headers=h["patient"]).status_code == 200
    assert_error(
        client.post(f"/api/v1/referrals/{rid}/accept", headers=h["patient"]), 409, "referral.not_your_move"
    )
    assert_error(client.get(f"/api/v1/referrals/{rid}", headers=h["psych2"]), 404)
    assert_error(client.post(f"/api/v1/referrals/{rid}/accept", headers=h["psych2"]), 404)
    # cannot complete before accepting; decline needs a reason
    assert_error(
        client.post(f"/api/v1/referrals/{rid}/complete", headers=h["psych"], json={"outcome": "Seen"}),
        409,
        "referral.invalid_transition",
    )
    assert_error(
        client.post(f"/api/v1/referrals/{rid}/decline", headers=h["psych"], json={}), 422, field="reason"
    )
    r = client.post(
        f"/api/v1/referrals/{rid}/decline", headers=h["psych"], json={"reason": "Not taking new patients"}
    )
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert r.json()["decline_reason"] == "Not taking new patients"
    assert_error(
        client.post(f"/api/v1/referrals/{rid}/accept", headers=h["psych"]), 409, "referral.invalid_transition"
    )
    # the referrer sees the decline and its reason
    got = client.get(f"/api/v1/referrals/{rid}", headers=h["therapist"]).json()
    assert got["status"] == "declined" and got["events"][-1]["note"] == "Not taking new patients"
    assert_error(client.get(f"/api/v1/referrals/{uuid.uuid4()}", headers=h["therapist"]), 404)


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"kind": "surgery"}, 422, "kind"),
        ({"urgency": "asap"}, 422, "urgency"),
        ({"reason": ""}, 422, "reason"),
        ({"reason": "ok\u0000"}, 422, "reason"),
        ({"needs": ["psychotherapy_notes"]}, 422, "needs"),
        ({"to_provider_id": "not-a-uuid"}, 422, "to_provider_id"),
        ({"modality": "cbt"}, 422, "modality"),
        ({"unknown": 1}, 422, "unknown"),
    ],
)
def test_bad_input_names_the_field(client, world, change, status, field):
    err = assert_error(
        client.post("/api/v1/referrals", headers=world["h"]["therapist"], json=_med_eval(world, **change)),
        status,
    )
    assert any(field in f["field"] for f in err["fields"]), err


def test_a_named_receiver_must_be_licensed_where_the_patient_is(client, world, session):
    """The named receiver's authority in the patient's state, today, by directory.rules (licence or compact
    privilege, scope): a psychiatrist licensed only in New York cannot receive a referral for a patient now in
    New Jersey; with a New Jersey licence they can. Network and capacity are left to the receiver and booking."""
    from datetime import date, timedelta

    from careweave.directory import service as directory
    from careweave.patients.models import Patient

    session.get(Patient, world["patient_id"]).state = "NJ"
    session.commit()
    h, psych = world["h"], world["providers"]["psych"]
    err = assert_error(client.post("/api/v1/referrals", headers=h["therapist"], json=_med_eval(world)), 422)
    assert [f["field"] for f in err["fields"]] == ["to_provider_id"]
    assert "not authorized to practice in new jersey" in err["fields"][0]["message"].casefold(), err
    assert client.get("/api/v1/referrals", params={"role": "sent"}, headers=h["therapist"]).json() == []
    directory.add_license(
        session,
        world["admin"],
        psych.id,
        state="NJ",
        license_type="MD",
        number="NJ-25MA0001",
        status="active",
        issued=date(2021, 1, 1),
        expires=date.today() + timedelta(days=365),
        clock=SystemClock(),
    )
    session.commit()
    r = client.post("/api/v1/referrals", headers=h["therapist"], json=_med_eval(world))
    assert r.status_code == 201, r.text


def test_receiver_must_fit_and_referrer_must_be_on_the_team(client, world):
    h = world["h"]
    err = assert_error(
        client.post(
            "/api/v1/referrals",
            headers=h["therapist"],
            json=_med_eval(world, to_provider_id=str(world["providers"]["therapist2"].id)),
        ),
        422,
    )
    assert err["fields"] == [
        {"field": "to_provider_id", "message": "this clinician does not offer medication management"}
    ]
    err = assert_error(
        client.post(
            "/api/v1/referrals",
            headers=h["therapist"],
            json=_med_eval(
                world, to_provider_id=str(world["providers"]["therapist"].id), kind="therapy", question=None
            ),
        ),
        422,
    )
    assert err["fields"][0]["message"] == "you cannot refer to yourself"
    # not on the patient's team: no hint the patient exists; administrators and patients do not refer
    for who in ("therapist2", "patient"):
        assert_error(client.post("/api/v1/referrals", headers=h[who], json=_med_eval(world)), 404)
    assert_error(client.get("/api/v1/referrals", headers=h["admin"]), 403)
    assert_error(client.post("/api/v1/referrals", headers=h["admin"], json=_med_eval(world)), 404)
