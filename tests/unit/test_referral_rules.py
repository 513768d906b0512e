"""Referral transitions (issue #6): who may move which status to which, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from careweave.careteam.models import REFERRAL_STATUSES
from careweave.careteam.referrals import MOVES, check_move, is_overdue, moves_for

ALLOWED = {
    ("send", "draft", "referrer"): "sent",
    ("cancel", "draft", "referrer"): "cancelled",
    ("cancel", "sent", "referrer"): "cancelled",
    ("cancel", "accepted", "referrer"): "cancelled",
    ("cancel", "scheduled", "referrer"): "cancelled",
    ("accept", "sent", "receiver"): "accepted",
    ("decline", "sent", "receiver"): "declined",
    ("complete", "accepted", "receiver"): "completed",
    ("complete", "scheduled", "receiver"): "completed",
    ("schedule", "accepted", "system"): "scheduled",
}


@pytest.mark.parametrize("move", list(MOVES))
@pytest.mark.parametrize("status", REFERRAL_STATUSES)
@pytest.mark.parametrize("party", ["referrer", "receiver", "system"])
def test_the_whole_table(move, status, party):
    check = check_move(move, status, {party})
    expected = ALLOWED.get((move, status, party))
    assert check.allowed is (expected is not None)
    assert check.target == expected
    if not check.allowed:
        assert check.reason
        assert check.wrong_party is (MOVES[move].party != party)


def test_wrong_party_is_named_and_wrong_status_explained():
    c = check_move("accept", "sent", {"referrer"})
    assert not c.allowed and c.wrong_party and "clinician it was sent to" in c.reason
    c = check_move("send", "accepted", {"referrer"})
    assert not c.allowed and not c.wrong_party and "accepted" in c.reason and "draft" in c.reason
    c = check_move("cancel", "sent", {"receiver"})
    assert c.wrong_party and "referring clinician" in c.reason


def test_terminal_statuses_allow_nothing():
    for status in ("declined", "completed", "cancelled"):
        assert moves_for(status, {"referrer", "receiver", "system"}) == []


def test_moves_for_buttons():
    assert moves_for("draft", {"referrer"}) == ["send", "cancel"]
    assert moves_for("sent", {"receiver"}) == ["accept", "decline"]
    assert moves_for("accepted", {"system"}) == []  # scheduling is never a button
    assert set(moves_for("accepted", {"referrer", "receiver"})) == {"complete", "cancel"}


def test_overdue():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert is_overdue("sent", now - timedelta(days=7), now)
    assert not is_overdue("sent", now - timedelta(days=6, hours=23), now)
    assert not is_overdue("accepted", now - timedelta(days=30), now)
    assert not is_overdue("sent", None, now)
    assert is_overdue("sent", now - timedelta(days=2), now, days=1)
