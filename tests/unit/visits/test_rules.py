"""Pure parts of video visits: when a room is open, the encounter's status and duration, the
WebSocket Origin check, and NOTIFY chunking."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from careweave.visits import service
from careweave.visits.live import origin_allowed
from careweave.visits.models import Encounter
from careweave.visits.signaling import PG_CHUNK_CHARS, Reassembler, pg_chunks

START = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
END = START + timedelta(minutes=50)


@pytest.mark.parametrize(
    ("status", "now", "phase"),
    [
        ("booked", START - timedelta(minutes=15, seconds=1), "not_open"),
        ("booked", START - timedelta(minutes=15), "open"),
        ("booked", END + timedelta(minutes=60), "open"),
        ("booked", END + timedelta(minutes=60, seconds=1), "closed"),
        ("cancelled", START, "cancelled"),
        ("completed", START, "closed"),
        ("no_show", START, "closed"),
    ],
)
def test_room_phase(status: str, now: datetime, phase: str) -> None:
    assert service.room_phase(status, START, END, now, opens_minutes=15, closes_minutes=60) == phase


def _enc(**fields: object) -> Encounter:
    enc = Encounter(status="planned")
    for key in (
        "patient_waiting_at",
        "admitted_at",
        "patient_joined_at",
        "patient_left_at",
        "clinician_joined_at",
        "clinician_left_at",
        "started_at",
        "ended_at",
        "duration_seconds",
    ):
        setattr(enc, key, fields.get(key))
    if "status" in fields:
        enc.status = str(fields["status"])
    return enc


def test_settle_follows_who_is_in_the_room() -> None:
    enc = _enc(patient_waiting_at=START)
    service.settle(enc, START)
    assert enc.status == "waiting"
    enc.admitted_at = enc.patient_joined_at = enc.clinician_joined_at = START + timedelta(minutes=1)
    service.settle(enc, START + timedelta(minutes=1))
    assert (enc.status, enc.started_at) == ("in_progress", START + timedelta(minutes=1))
    enc.clinician_left_at = START + timedelta(minutes=41)
    service.settle(enc, START + timedelta(minutes=41))
    assert (enc.status, enc.duration_seconds) == ("finished", 40 * 60)
    service.settle(enc, START + timedelta(minutes=50))  # nothing changes once finished and empty
    assert (enc.status, enc.ended_at) == ("finished", START + timedelta(minutes=41))


def test_a_patient_who_stops_waiting_leaves_a_planned_visit() -> None:
    enc = _enc(patient_waiting_at=START, patient_left_at=START + timedelta(minutes=3), status="waiting")
    service.settle(enc, START + timedelta(minutes=3))
    assert enc.status == "planned" and enc.duration_seconds is None


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        ("https://care.example.org", "care.example.org", True),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://localhost:8000", "localhost:8000", True),  # the Host asked for, not the base URL
        ("https://care.example.org", "internal:8000", True),  # behind a proxy that rewrites Host
        ("https://evil.example", "care.example.org", False),
        ("https://care.example.org.evil.example", "care.example.org", False),
        ("null", "care.example.org", False),
        (None, "care.example.org", False),
        ("", "care.example.org", False),
    ],
)
def test_origin_allowed(origin: str | None, host: str, ok: bool) -> None:
    assert origin_allowed(origin, host, "https://care.example.org") is ok


def test_notify_payloads_stay_under_8000_bytes_and_reassemble() -> None:
    data = json.dumps({"type": "signal", "sdp": secrets.token_hex(12_000)})  # random: compresses poorly
    payloads = pg_chunks("room-1", data)
    assert len(payloads) > 1
    assert all(len(p.encode()) < 8000 for p in payloads)
    assert all(len(json.loads(p)["z"]) <= PG_CHUNK_CHARS for p in payloads)
    other = pg_chunks("room-2", '{"type":"ping"}')
    r = Reassembler()
    results = [r.feed(p) for p in [payloads[0], *other, *payloads[1:]]]  # interleaved with another message
    assert results[1] == ("room-2", '{"type":"ping"}')
    assert results[-1] == ("room-1", data)
    assert len(r) == 0


def test_incomplete_or_bad_payloads_are_dropped() -> None:
    r = Reassembler(ttl_s=0.0)
    payloads = pg_chunks("room", secrets.token_hex(20_000), chunk_chars=1000)
    assert r.feed(payloads[0]) is None
    assert r.feed("not json") is None
    assert r.feed(json.dumps({"r": "x", "m": "y", "i": 5, "n": 2, "z": ""})) is None
    r.feed(payloads[1])  # the first piece expired meanwhile (ttl 0)
    assert len(r) == 1


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        ({"description": {"type": "offer", "sdp": "v=0"}}, True),
        ({"candidate": {"candidate": ""}, "epoch": 2}, True),
        ({"restart": {}, "epoch": 1}, True),
        ({}, False),
        ({"epoch": 1}, False),
        ({"restart": {}, "description": {"type": "offer"}}, False),  # one kind per signal
        ({"candidate": "candidate:1"}, False),
        ({"restart": {}, "epoch": -1}, False),
        ({"restart": {}, "epoch": True}, False),
        ({"restart": {}, "epoch": "1"}, False),
        ({"restart": {}, "epoch": 10**9}, False),
        ({"other": {}}, False),
        (["restart"], False),
    ],
)
def test_a_signal_carries_one_kind_and_an_optional_epoch(data: object, ok: bool) -> None:
    from careweave.visits.live import _valid_signal

    assert _valid_signal(data) is ok
