"""The hash chain: pure functions, no I/O.

Each event's hash is SHA-256 over the previous hash and a canonical JSON of the event's
fields, so editing, deleting or reordering any stored event breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
MAX_CHAIN = 2**15 - 1  # audit_events.chain is a SMALLINT
MAX_SEQ = 2**31 - 1  # and seq an INTEGER: an anchor beyond them is not one (and would not fit a query)

HASHED_FIELDS = (
    "seq",
    "id",
    "occurred_at",
    "actor_user_id",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "patient_id",
    "outcome",
    "purpose",
    "ip",
    "request_id",
    "details",
)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    body = {name: _plain(fields.get(name)) for name in HASHED_FIELDS}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + "|" + canonical).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------------------
# Anchors: each chain head's (seq, hash) copied outside the database (``careweave audit anchor``). Someone with
# write access to the database who rewrites history must recompute every later hash and the head, which
# ``verify`` alone cannot notice; an anchor kept elsewhere still holds the old hash for its place. A line
# without "chain" (written before the trail had several chains, ADR 0018) is about chain 1.


@dataclass(frozen=True, slots=True)
class Anchor:
    seq: int
    hash: str
    taken_at: str  # ISO 8601, as written; shown in reports only
    chain: int = 1


def anchor_line(seq: int, hash_: str, taken_at: datetime, *, chain: int = 1) -> str:
    """One anchor as a JSON line (what ``careweave audit anchor`` prints and appends, a line per chain)."""
    return json.dumps(
        {"chain": chain, "seq": seq, "hash": hash_, "taken_at": _plain(taken_at)},
        sort_keys=True,
        separators=(",", ":"),
    )


def parse_anchors(text: str) -> tuple[list[Anchor], list[str]]:
    """The anchors of a file of JSON lines, and a problem for each line that is not one (blank lines skipped)."""
    anchors: list[Anchor] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            seq, hash_, taken_at = raw["seq"], raw["hash"], raw.get("taken_at", "")
            on = raw.get("chain", 1)
            valid = (
                isinstance(on, int)
                and not isinstance(on, bool)
                and 1 <= on <= MAX_CHAIN
                and isinstance(seq, int)
                and not isinstance(seq, bool)
                and 0 <= seq <= MAX_SEQ
                and isinstance(hash_, str)
                and len(hash_) == 64
                and isinstance(taken_at, str)
            )
        except (ValueError, TypeError, KeyError):
            valid = False
        if not valid:
            problems.append(
                f"anchor line {number}: not an anchor (a JSON object with seq and a 64-digit hash)"
            )
            continue
        anchors.append(Anchor(seq, hash_, taken_at, on))
    return anchors, problems


def check_anchors(
    anchors: list[Anchor], stored: dict[tuple[int, int], str], head_seqs: dict[int, int]
) -> list[str]:
    """A problem for each anchor the stored chains contradict: its event is gone (the chain is shorter than
    when the anchor was taken, or the chain's head is gone) or has another hash (the history up to it was
    rewritten). ``stored``: the stored hash by (chain, seq) for the anchors' places; ``head_seqs``: each
    chain's head seq; seq 0 is the empty chain (GENESIS)."""
    problems: list[str] = []
    for a in anchors:
        when = f" (taken {a.taken_at})" if a.taken_at else ""
        at = f"anchor chain {a.chain} seq {a.seq}{when}"
        found = GENESIS if a.seq == 0 else stored.get((a.chain, a.seq))
        if a.chain not in head_seqs or a.seq > head_seqs[a.chain] or found is None:
            problems.append(f"{at}: the stored chain no longer reaches it")
        elif found != a.hash:
            problems.append(f"{at}: the stored hash differs; history up to it was rewritten")
    return problems
