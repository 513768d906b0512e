"""TURN REST API credentials for the visit room (visits/ice.py; draft-uberti-behave-turn-rest-00, coturn
use-auth-secret), and the settings that enable them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from careweave.settings import Settings
from careweave.visits import ice

# Computed independently with OpenSSL:
#   echo -n "1764000000:abc" | openssl dgst -sha1 -hmac "north-wind-secret" -binary | base64
EXPIRES = datetime.fromtimestamp(1764000000, tz=UTC)
KNOWN = ("1764000000:abc", "D7oH/I7Soe4ZGZ7oQTtRf6FpCYE=")


def test_the_credential_is_what_coturn_computes() -> None:
    assert ice.turn_credential("north-wind-secret", "abc", EXPIRES) == KNOWN


def test_the_username_carries_the_expiry_and_the_user() -> None:
    username, password = ice.turn_credential("s3cret", "user-1", datetime(2026, 11, 28, 18, 0, tzinfo=UTC))
    assert username == f"{int(datetime(2026, 11, 28, 18, 0, tzinfo=UTC).timestamp())}:user-1"
    assert password != ice.turn_credential("other", "user-1", datetime(2026, 11, 28, 18, 0, tzinfo=UTC))[1]


def test_a_naive_expiry_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ice.turn_credential("s3cret", "abc", datetime(2026, 11, 28, 18, 0))


def test_configured_servers_are_kept_and_the_minted_turn_entry_follows() -> None:
    stun = {"urls": ["stun:turn.example.org:3478"]}
    servers = ice.ice_servers(
        [stun],
        turn_urls=["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
        turn_secret="north-wind-secret",
        user_id="abc",
        expires_at=EXPIRES,
    )
    assert servers == [
        stun,
        {
            "urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
            "username": KNOWN[0],
            "credential": KNOWN[1],
        },
    ]


def test_without_a_secret_only_the_configured_servers() -> None:
    stun = {"urls": "stun:stun.example.org:3478"}
    assert ice.ice_servers([stun], turn_urls=[], turn_secret="", user_id="abc", expires_at=EXPIRES) == [stun]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"turn_urls": ["turn:turn.example.org:3478"]}, "set both or neither"),
        ({"turn_secret": "north-wind-secret"}, "set both or neither"),
        (
            {"turn_urls": ["stun:turn.example.org:3478"], "turn_secret": "north-wind-secret"},
            "not a turn: or turns: URL",
        ),
    ],
)
def test_turn_settings_are_checked_at_start(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(database_url="sqlite://", **change)  # type: ignore[arg-type]


def test_turn_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWEAVE_TURN_URLS", '["turns:turn.example.org:5349"]')
    monkeypatch.setenv("CAREWEAVE_TURN_SECRET", "north-wind-secret")
    settings = Settings(database_url="sqlite://")
    assert settings.turn_urls == ["turns:turn.example.org:5349"]
    assert settings.turn_secret.get_secret_value() == "north-wind-secret"
