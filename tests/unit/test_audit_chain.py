import uuid
from datetime import UTC, datetime

from careweave.audit import chain

FIELDS = {
    "seq": 1,
    "id": uuid.UUID(int=1),
    "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
    "actor_user_id": uuid.UUID(int=2),
    "actor_role": "therapist",
    "action": "patient.viewed",
    "entity_type": "patient",
    "entity_id": "abc",
    "patient_id": uuid.UUID(int=3),
    "outcome": "success",
    "purpose": "treatment",
    "ip": "127.0.0.1",
    "request_id": "r1",
    "details": {"a": 1},
}


def test_hash_is_deterministic():
    assert chain.event_hash(chain.GENESIS, FIELDS) == chain.event_hash(chain.GENESIS, dict(FIELDS))


def test_every_field_and_the_previous_hash_are_covered():
    base = chain.event_hash(chain.GENESIS, FIELDS)
    assert chain.event_hash("f" * 64, FIELDS) != base
    for name in chain.HASHED_FIELDS:
        changed = dict(FIELDS)
        changed[name] = "something else"
        assert chain.event_hash(chain.GENESIS, changed) != base, name


def test_time_zone_representation_does_not_change_the_hash():
    from datetime import timedelta, timezone

    other = dict(FIELDS, occurred_at=datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5))))
    assert chain.event_hash(chain.GENESIS, other) == chain.event_hash(chain.GENESIS, FIELDS)
