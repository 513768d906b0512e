from __future__ import annotations

import time as _t

from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory.models import Provider
from careweave.identity import service as identity
from careweave.scheduling import earliest
from tests.builders import make_user
from tests.integration.test_matching_availability import NOW, _provider


def test_refresh_touches_updated_at(session: Session, settings) -> None:
    clock = FixedClock(NOW)
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    pid = _provider(session, clock, admin, "Ulla")
    session.flush()
    session.expire_all()
    before = session.get(Provider, pid).updated_at
    _t.sleep(0.01)
    earliest.refresh(session, [pid], now=NOW)
    session.flush()
    session.expire_all()
    after = session.get(Provider, pid).updated_at
    print(before, after)
    assert before == after
