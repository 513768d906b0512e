"""Load the demo clinic when the database is empty. Deterministic (seeded Faker).

All people are fictional; e-mail addresses use the reserved ``.example`` domain and phone
numbers the fictional 555-01xx range.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from faker import Faker
from sqlalchemy.orm import Session

from careweave.clinics import service as clinics
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.identity import service as identity
from careweave.settings import Settings

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - published demo credential, synthetic data only
DOMAIN = "demo.careweave.example"

# (USPS state, IANA zone) pairs spread across the US time zones.
STATES = [
    ("NY", "America/New_York"),
    ("MA", "America/New_York"),
    ("FL", "America/New_York"),
    ("GA", "America/New_York"),
    ("IL", "America/Chicago"),
    ("TX", "America/Chicago"),
    ("CO", "America/Denver"),
    ("AZ", "America/Phoenix"),
    ("CA", "America/Los_Angeles"),
    ("WA", "America/Los_Angeles"),
]
COUNTS = {
    Role.ADMIN: 1,
    Role.CARE_MANAGER: 2,
    Role.THERAPIST: 10,
    Role.PSYCHIATRIST: 5,
    Role.PATIENT: 20,
}
LOGIN_NAMES = {
    Role.ADMIN: "admin",
    Role.CARE_MANAGER: "care.manager",
    Role.THERAPIST: "therapist",
    Role.PSYCHIATRIST: "psychiatrist",
    Role.PATIENT: "patient",
}


@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: Role
    email: str
    password: str


def demo_email(role: Role, n: int) -> str:
    return f"{LOGIN_NAMES[role]}{n}@{DOMAIN}"


def seed_demo(session: Session, *, settings: Settings, clock: Clock) -> list[DemoLogin]:
    """Create the demo clinic. Call only on an empty database (see :func:`seed_if_empty`)."""
    fake = Faker("en_US")
    Faker.seed(2026)
    rng = random.Random(2026)
    clinic = clinics.create_clinic(
        session, name="Riverbend Collaborative Care (demo)", timezone="America/Chicago"
    )
    system = Actor.system()
    logins: list[DemoLogin] = []
    for role, count in COUNTS.items():
        for n in range(1, count + 1):
            prefix = "Dr. " if role is Role.PSYCHIATRIST else ""
            first, last = fake.first_name(), fake.last_name()
            state, zone = STATES[(n - 1) % len(STATES)] if role is Role.PATIENT else rng.choice(STATES)
            birth = None
            if role is Role.PATIENT:
                birth = date(rng.randint(1950, 2006), rng.randint(1, 12), rng.randint(1, 28))
            user = identity.create_user(
                session,
                system,
                email=demo_email(role, n),
                role=role,
                password=DEMO_PASSWORD,
                full_name=f"{prefix}{first} {last}",
                clinic_id=clinic.id,
                birth_date=birth,
                state=state,
                timezone=zone,
                phone=f"+1-555-01{n:02d}" if role is Role.PATIENT else None,
                settings=settings,
                clock=clock,
            )
            if n == 1:
                logins.append(DemoLogin(role, user.email, DEMO_PASSWORD))
    return logins


def seed_if_empty(session: Session, *, settings: Settings, clock: Clock) -> list[DemoLogin] | None:
    if identity.count_users(session) > 0:
        return None
    return seed_demo(session, settings=settings, clock=clock)


def has_demo_users(session: Session) -> bool:
    return identity.user_exists(session, demo_email(Role.ADMIN, 1))


def demo_logins() -> list[DemoLogin]:
    return [DemoLogin(role, demo_email(role, 1), DEMO_PASSWORD) for role in COUNTS]
