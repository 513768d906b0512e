"""The visit room page and its WebSocket, through TestClient: who gets in, the waiting room, admission,
the signaling relay, and what is recorded."""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from careweave.audit.models import AuditEvent
from careweave.core.actor import Role
from careweave.identity.models import User
from careweave.settings import Settings
from careweave.visits import ice
from careweave.visits.models import Encounter
from careweave.web.security import SESSION_COOKIE
from tests.builders import make_user
from tests.helpers import web_login
from tests.visit_builders import Visit, make_visit

ORIGIN = {"origin": "http://testserver"}


@pytest.fixture
def relaxed(client: TestClient, settings: Settings) -> Settings:
    """Clinicians without two-step verification, as `make up` runs the demo (MFA has its own tests)."""
    relaxed = settings.model_copy(update={"mfa_required": False})
    client.app.state.settings = relaxed  # type: ignore[attr-defined]
    return relaxed


@pytest.fixture
def visit(session: Session, relaxed: Settings) -> Visit:
    v = make_visit(session, relaxed, start_at=datetime.now(UTC) + timedelta(minutes=5))
    session.commit()
    return v


def session_cookie(client: TestClient, user: User) -> str:
    client.cookies.clear()
    response = web_login(client, user.email)
    assert response.status_code == 303, response.text
    value = client.cookies.get(SESSION_COOKIE)
    assert value
    client.cookies.clear()
    return value


def ws_headers(cookie: str, origin: dict[str, str] = ORIGIN) -> dict[str, str]:
    return origin | {"cookie": f"{SESSION_COOKIE}={cookie}"}


def receive(ws: Any, kind: str) -> dict[str, Any]:
    """The next message, which must be of this type."""
    message = ws.receive_json()
    assert message["type"] == kind, message
    return message


def leave_and_wait(ws: Any) -> None:
    """Leave and wait for the server to close: by then the leave is recorded. (TestClient cancels a
    socket's handler when its block ends, so a block must not end while the handler still writes.)"""
    ws.send_json({"type": "leave"})
    with pytest.raises(WebSocketDisconnect) as closed:  # noqa: PT012 - skip whatever was still queued
        while True:
            ws.receive_json()
    assert closed.value.code == 1000


# ------------------------------------------------------------------ the page


def test_the_patient_sees_the_waiting_room(client: TestClient, visit: Visit) -> None:
    session_cookie(client, visit.patient)  # logs in, then forgets: log in again for the page
    web_login(client, visit.patient.email)
    page = client.get(f"/visits/{visit.id}")
    assert page.status_code == 200
    assert 'id="visit"' in page.text and 'data-side="patient"' in page.text
    assert f'data-ws-path="/visits/{visit.id}/ws"' in page.text
    assert "You are in the waiting room." in page.text
    assert "/static/js/visit.js" in page.text and 'data-ice-servers="[]"' in page.text
    assert "<script>" not in page.text  # no inline script (CSP)


def test_the_clinician_sees_who_is_waiting_and_an_admit_button(
    client: TestClient, visit: Visit, relaxed: Settings
) -> None:
    client.app.state.settings = relaxed.model_copy(  # type: ignore[attr-defined]
        update={"ice_servers": [{"urls": "stun:stun.example.org:3478"}]}
    )
    web_login(client, visit.clinician.email)
    page = client.get(f"/visits/{visit.id}")
    assert page.status_code == 200
    assert 'data-side="clinician"' in page.text
    assert "Waiting room" in page.text and "has not arrived yet" in page.text
    assert 'id="admit"' in page.text
    assert "stun:stun.example.org:3478" in page.text


def test_each_page_gets_a_turn_credential_that_expires_when_the_room_closes(
    client: TestClient, visit: Visit, relaxed: Settings
) -> None:
    """With CAREWEAVE_TURN_SECRET, the page carries a TURN REST API credential for its own user, valid until
    the room closes (visits/ice.py); the secret itself never reaches the page."""
    client.app.state.settings = relaxed.model_copy(  # type: ignore[attr-defined]
        update={"turn_urls": ["turns:turn.example.org:5349"], "turn_secret": SecretStr("north-wind-secret")}
    )
    web_login(client, visit.patient.email)
    page = client.get(f"/visits/{visit.id}")
    assert page.status_code == 200
    found = re.search(r'data-ice-servers="([^"]*)"', page.text)
    assert found is not None
    servers = json.loads(html.unescape(found.group(1)))
    closes = visit.appointment.end_at + timedelta(minutes=relaxed.visit_room_closes_minutes)
    username = f"{int(closes.timestamp())}:{visit.patient.id}"
    assert servers == [
        {
            "urls": ["turns:turn.example.org:5349"],
            "username": username,
            "credential": ice.turn_credential("north-wind-secret", visit.patient.id, closes)[1],
        }
    ]
    assert "north-wind-secret" not in page.text


@pytest.mark.parametrize("role", [Role.PATIENT, Role.THERAPIST, Role.ADMIN])
def test_anyone_else_gets_404(
    client: TestClient, session: Session, relaxed: Settings, visit: Visit, role: Role
) -> None:
    stranger = make_user(session, relaxed, role)
    session.commit()
    web_login(client, stranger.email)
    page = client.get(f"/visits/{visit.id}")
    assert page.status_code == 404 and "No such visit." in page.text
    assert client.get(f"/visits/{uuid.uuid4()}").status_code == 404
    assert client.get("/visits/not-a-visit").status_code == 422


def test_not_signed_in_goes_to_the_login_page(client: TestClient, visit: Visit) -> None:
    response = client.get(f"/visits/{visit.id}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/visits/{visit.id}"


def test_not_open_yet_and_cancelled_say_so(client: TestClient, session: Session, relaxed: Settings) -> None:
    later = make_visit(session, relaxed, start_at=datetime.now(UTC) + timedelta(hours=3))
    cancelled = make_visit(
        session, relaxed, start_at=datetime.now(UTC), status="cancelled", patient=later.patient
    )
    session.commit()
    web_login(client, later.patient.email)
    page = client.get(f"/visits/{later.id}")
    assert page.status_code == 200 and "The visit room is not open yet." in page.text
    assert "15 minutes before the visit starts" in page.text and 'id="visit"' not in page.text
    page = client.get(f"/visits/{cancelled.id}")
    assert page.status_code == 200 and "This visit was cancelled, so it has no visit room." in page.text


# ------------------------------------------------------------------ the WebSocket


def test_wait_admit_join_and_relay_signals(client: TestClient, session: Session, visit: Visit) -> None:
    patient_cookie = session_cookie(client, visit.patient)
    clinician_cookie = session_cookie(client, visit.clinician)
    url = f"/visits/{visit.id}/ws"
    with client.websocket_connect(url, headers=ws_headers(patient_cookie)) as patient:
        welcome = receive(patient, "welcome")
        assert (welcome["side"], welcome["state"], welcome["admitted"]) == ("patient", "waiting", False)
        patient_cid = welcome["cid"]
        patient.send_json({"type": "signal", "data": {"description": {"type": "offer", "sdp": "v=0"}}})
        assert receive(patient, "error")["code"] == "visit.not_admitted"  # nothing reaches the clinician yet

        with client.websocket_connect(url, headers=ws_headers(clinician_cookie)) as clinician:
            welcome = receive(clinician, "welcome")
            assert (welcome["side"], welcome["state"]) == ("clinician", "in_call")
            clinician_cid = welcome["cid"]
            assert receive(patient, "peer") == {
                "type": "peer",
                "side": "clinician",
                "cid": clinician_cid,
                "state": "in_call",
            }
            assert receive(clinician, "peer") == {
                "type": "peer",
                "side": "patient",
                "cid": patient_cid,
                "state": "waiting",
            }

            patient.send_json({"type": "admit"})  # only the clinician admits
            assert receive(patient, "error")["code"] == "forbidden"
            clinician.send_json({"type": "admit"})
            receive(patient, "admitted")
            patient.send_json({"type": "join"})
            receive(patient, "joined")
            assert receive(clinician, "peer")["state"] == "in_call"

            offer = {"description": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}
            clinician.send_json({"type": "signal", "data": offer})
            assert receive(patient, "signal") == {"type": "signal", "from": clinician_cid, "data": offer}
            candidate = {
                "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host", "sdpMid": "0"}
            }
            patient.send_json({"type": "signal", "data": candidate})
            assert receive(clinician, "signal") == {"type": "signal", "from": patient_cid, "data": candidate}
            # a call that did not connect starts over (visit.js): the clinician's side asks for a restart
            restart = {"restart": {}, "epoch": 1}
            clinician.send_json({"type": "signal", "data": restart})
            assert receive(patient, "signal") == {"type": "signal", "from": clinician_cid, "data": restart}

            patient.send_json({"type": "ping"})
            receive(patient, "pong")
            patient.send_json({"type": "leave"})
            assert receive(clinician, "peer") == {
                "type": "peer",
                "side": "patient",
                "cid": patient_cid,
                "state": "left",
            }
            leave_and_wait(clinician)
        with pytest.raises(WebSocketDisconnect) as closed:
            patient.receive_json()
        assert closed.value.code == 1000

    session.expire_all()
    enc = session.scalars(select(Encounter).where(Encounter.appointment_id == visit.id)).one()
    assert enc.status == "finished" and enc.admitted_by == visit.clinician.id
    assert enc.duration_seconds is not None and enc.duration_seconds >= 0
    assert enc.patient_left_at is not None and enc.clinician_left_at is not None
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_id == str(visit.id)).order_by(AuditEvent.seq)
    ).all()
    assert actions == [
        "visit.waiting",
        "visit.joined",
        "visit.admitted",
        "visit.joined",
        "visit.left",
        "visit.left",
    ]


def test_the_clinician_ends_the_visit_for_everyone(
    client: TestClient, session: Session, relaxed: Settings
) -> None:
    """``end``: refused to the patient; the clinician's ends the call on both sides (``closed`` with
    ``visit.ended``, then the sockets close) and marks the appointment completed."""
    started = make_visit(session, relaxed, start_at=datetime.now(UTC) - timedelta(minutes=5))
    session.commit()
    patient_cookie = session_cookie(client, started.patient)
    clinician_cookie = session_cookie(client, started.clinician)
    url = f"/visits/{started.id}/ws"
    with client.websocket_connect(url, headers=ws_headers(patient_cookie)) as patient:
        receive(patient, "welcome")
        with client.websocket_connect(url, headers=ws_headers(clinician_cookie)) as clinician:
            receive(clinician, "welcome")
            receive(patient, "peer")
            receive(clinician, "peer")
            clinician.send_json({"type": "admit"})
            receive(patient, "admitted")
            patient.send_json({"type": "join"})
            receive(patient, "joined")
            receive(clinician, "peer")  # the patient is in the call
            patient.send_json({"type": "end"})
            assert receive(patient, "error")["code"] == "forbidden"
            clinician.send_json({"type": "end"})
            assert receive(clinician, "closed") == {
                "type": "closed",
                "code": "visit.ended",
                "message": "You ended the visit.",
            }
            assert receive(patient, "closed") == {
                "type": "closed",
                "code": "visit.ended",
                "message": "Your clinician ended the visit.",
            }
            with pytest.raises(WebSocketDisconnect) as closed:
                clinician.receive_json()
            assert closed.value.code == 4409
        with pytest.raises(WebSocketDisconnect) as closed:
            patient.receive_json()
        assert closed.value.code == 4409
    session.expire_all()
    assert session.get(type(started.appointment), started.id).status == "completed"
    enc = session.scalars(select(Encounter).where(Encounter.appointment_id == started.id)).one()
    assert enc.status == "finished" and enc.duration_seconds is not None
    web_login(client, started.clinician.email)
    page = client.get(f"/visits/{started.id}")
    assert "The visit room has closed." in page.text
    # the clinician goes on to the visit's note, the visit already filled in
    note_link = f"/patients/{started.patient_id}/notes?appointment_id={started.id}"
    assert note_link in page.text
    notes = client.get(note_link)
    assert notes.status_code == 200 and f'value="{started.id}"' in notes.text


def test_bad_messages_get_a_clear_error_not_a_crash(client: TestClient, visit: Visit) -> None:
    cookie = session_cookie(client, visit.clinician)
    with client.websocket_connect(f"/visits/{visit.id}/ws", headers=ws_headers(cookie)) as ws:
        receive(ws, "welcome")
        for bad in ("not json", "[1, 2]", '{"type": "dance"}', '{"type": "signal", "data": {"sdp": "x"}}'):
            ws.send_text(bad)
            assert receive(ws, "error")["code"] == "bad_message"
        ws.send_bytes(b"\x00\x01")
        assert receive(ws, "error")["code"] == "bad_message"
        ws.send_json({"type": "admit"})  # nobody is waiting
        assert receive(ws, "error") == {
            "type": "error",
            "code": "visit.patient_not_waiting",
            "message": "The patient is not in the waiting room.",
        }
        ws.send_text('{"type": "signal", "data": {"candidate": {"c": "' + "x" * 70_000 + '"}}}')
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1009


def test_a_second_window_replaces_the_first(client: TestClient, visit: Visit) -> None:
    cookie = session_cookie(client, visit.patient)
    url = f"/visits/{visit.id}/ws"
    with client.websocket_connect(url, headers=ws_headers(cookie)) as first:
        receive(first, "welcome")
        with client.websocket_connect(url, headers=ws_headers(cookie)) as second:
            receive(second, "welcome")
            assert receive(first, "replaced")["message"].startswith("You opened this visit")
            with pytest.raises(WebSocketDisconnect) as closed:
                first.receive_json()
            assert closed.value.code == 4001
            leave_and_wait(second)


def test_refused_handshakes(client: TestClient, session: Session, relaxed: Settings, visit: Visit) -> None:
    stranger = make_user(session, relaxed, Role.PATIENT)
    session.commit()
    patient = session_cookie(client, visit.patient)
    other = session_cookie(client, stranger)
    url = f"/visits/{visit.id}/ws"
    attempts = [
        (url, {}),  # no cookie, no origin
        (url, ORIGIN),  # no cookie
        (url, ws_headers(patient, {"origin": "https://evil.example"})),  # cross-site
        (url, ws_headers(patient, {})),  # no Origin
        (url, ws_headers("forged-session-token")),
        (url, ws_headers(other)),  # another patient
        (f"/visits/{uuid.uuid4()}/ws", ws_headers(patient)),  # no such visit
        ("/visits/not-a-uuid/ws", ws_headers(patient)),
    ]
    for path, headers in attempts:
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(path, headers=headers):
            pass
        assert refused.value.code == 1008, (path, headers)
    denied = session.scalars(
        select(AuditEvent).where(AuditEvent.entity_id == str(visit.id), AuditEvent.outcome == "denied")
    ).all()
    assert [(e.action, e.actor_user_id) for e in denied] == [("visit.joined", stranger.id)]


def test_a_room_that_is_not_open_closes_with_the_reason(
    client: TestClient, session: Session, relaxed: Settings
) -> None:
    later = make_visit(session, relaxed, start_at=datetime.now(UTC) + timedelta(hours=3))
    session.commit()
    cookie = session_cookie(client, later.patient)
    with client.websocket_connect(f"/visits/{later.id}/ws", headers=ws_headers(cookie)) as ws:
        assert receive(ws, "closed")["message"] == "The visit room is not open yet."
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4409


def test_a_visit_cancelled_elsewhere_closes_its_room_at_once(client: TestClient, visit: Visit) -> None:
    """visits.rooms: the cancel's commit sends the room ``changed``; the waiting patient's socket re-checks the
    visit and closes with the reason at once, not at the room's next periodic check (SESSION_CHECK_S, 60 s)."""
    from tests.helpers import bearer

    cookie = session_cookie(client, visit.patient)
    headers = bearer(client, visit.patient.email)
    client.cookies.clear()
    with client.websocket_connect(f"/visits/{visit.id}/ws", headers=ws_headers(cookie)) as ws:
        receive(ws, "welcome")
        started = time.monotonic()
        r = client.post(f"/api/v1/appointments/{visit.id}/cancel", headers=headers, json={"reason": "unwell"})
        assert r.status_code == 200, r.text
        closed = receive(ws, "closed")
        assert time.monotonic() - started < 10
        assert closed["code"] == "visit.room_not_open" and "cancelled" in closed["message"].lower(), closed
        with pytest.raises(WebSocketDisconnect) as gone:
            ws.receive_json()
        assert gone.value.code == 4409


def test_a_change_that_rolls_back_tells_no_room(client: TestClient, visit: Visit) -> None:
    """A refused change (a no-show before the start: 409) commits nothing, so the room hears nothing and the
    patient keeps waiting."""
    cookie = session_cookie(client, visit.patient)
    web_login(client, visit.clinician.email)
    with client.websocket_connect(f"/visits/{visit.id}/ws", headers=ws_headers(cookie)) as ws:
        receive(ws, "welcome")
        from tests.helpers import bearer

        r = client.post(
            f"/api/v1/appointments/{visit.id}/no-show", headers=bearer(client, visit.clinician.email)
        )
        assert r.status_code in (403, 409), r.text
        ws.send_json({"type": "ping"})
        assert receive(ws, "pong")["type"] == "pong"  # still open: no ``closed`` came first
        leave_and_wait(ws)
