"""Builders for test data, and the four personas everyone knows:
ana (patient), dr_ben (psychiatrist), cara (therapist), dee (admin)."""

from __future__ import annotations

from itertools import count

from sqlalchemy.orm import Session

from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock, SystemClock
from careweave.identity import service as identity
from careweave.identity.models import User
from careweave.settings import Settings

PASSWORD = "correct horse battery staple"
_n = count(1)


def make_user(
    session: Session,
    settings: Settings,
    role: Role = Role.PATIENT,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    name: str | None = None,
    clock: Clock | None = None,
    **extra: object,
) -> User:
    n = next(_n)
    return identity.create_user(
        session,
        Actor.system(),
        email=email or f"{role.value.replace('_', '.')}{n}@test.careweave.example",
        role=role,
        password=password,
        full_name=name or f"Test {role.label} {n:03d}",
        settings=settings,
        clock=clock or SystemClock(),
        **extra,  # type: ignore[arg-type]
    )


def personas(session: Session, settings: Settings) -> dict[str, User]:
    return {
        "ana": make_user(
            session,
            settings,
            Role.PATIENT,
            email="ana@test.careweave.example",
            name="Ana Testpatient",
            state="NY",
            timezone="America/New_York",
        ),
        "dr_ben": make_user(
            session, settings, Role.PSYCHIATRIST, email="ben@test.careweave.example", name="Dr. Ben Testpsych"
        ),
        "cara": make_user(
            session, settings, Role.THERAPIST, email="cara@test.careweave.example", name="Cara Testtherapist"
        ),
        "dee": make_user(
            session, settings, Role.ADMIN, email="dee@test.careweave.example", name="Dee Testadmin"
        ),
    }
