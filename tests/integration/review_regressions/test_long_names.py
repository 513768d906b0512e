from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.directory import service as directory
from careweave.identity import service as identity
from tests.builders import make_user
from tests.integration.test_matching_availability import NOW


@pytest.mark.parametrize("name", ["A" * 200, "ß" * 150])
def test_long_name(session: Session, settings, name) -> None:
    clock = FixedClock(NOW)
    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    p = directory.create_provider(
        session, admin, {"name": name, "credential": "LCSW", "offers": ["therapy"]}, clock=clock
    )
    session.flush()
    directory.add_license(
        session,
        admin,
        p.id,
        state="NY",
        license_type="LCSW",
        number="X1",
        status="active",
        issued=None,
        expires=date(2030, 1, 1),
        clock=clock,
    )
    session.flush()
