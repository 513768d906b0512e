"""The ICE servers handed to a visit room's browsers: the configured STUN/TURN servers
(``CAREWEAVE_ICE_SERVERS``) and, with a TURN shared secret, short-lived TURN credentials minted per page.

Short-lived credentials follow the "TURN REST API" (draft-uberti-behave-turn-rest-00, §2.2), which coturn checks
with ``use-auth-secret`` / ``static-auth-secret``: the username is ``<expiry as a Unix timestamp>:<user id>`` and
the password ``base64(HMAC-SHA1(secret, username))``. The TURN server needs no list of users and refuses the
credential once its timestamp has passed, so one copied out of a page stops working when the visit's room closes
— unlike a static ``user=`` credential, which anyone who copies it can use until it is changed. Pure functions, no
I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import datetime


def turn_credential(secret: str, user_id: uuid.UUID | str, expires_at: datetime) -> tuple[str, str]:
    """(username, password) valid until ``expires_at`` for a TURN server sharing ``secret``."""
    if expires_at.tzinfo is None:  # a naive time's timestamp would depend on the host's zone
        raise ValueError("expires_at must be timezone-aware")
    username = f"{int(expires_at.timestamp())}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(
    configured: Sequence[dict[str, object]],
    *,
    turn_urls: Sequence[str],
    turn_secret: str,
    user_id: uuid.UUID | str,
    expires_at: datetime,
) -> list[dict[str, object]]:
    """The RTCIceServer list for one participant's page: ``configured`` as it is, then, when a TURN secret and
    URLs are set, one entry for those URLs with a credential for ``user_id`` that expires at ``expires_at``."""
    servers = [dict(s) for s in configured]
    if turn_secret and turn_urls:
        username, credential = turn_credential(turn_secret, user_id, expires_at)
        servers.append({"urls": list(turn_urls), "username": username, "credential": credential})
    return servers
