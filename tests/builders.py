"""Builders for test data, and the four personas everyone knows:
ana (patient), dr_ben (psychiatrist), cara (therapist), dee (admin)."""

from __future__ import annotations

from itertools import count
from typing import Any

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


def weekday_hours(session: Session, actor: Actor, provider_id, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    """Weekday hours 9-17 New York time, 10-minute buffers, 1 hour notice, a 200-day horizon."""
    from datetime import time

    from careweave.scheduling import service

    service.set_availability(
        session,
        actor,
        provider_id,
        service.AvailabilityIn(
            timezone="America/New_York",
            weekly=tuple(service.WindowIn(d, time(9), time(17)) for d in range(5)),
            buffer_minutes=10,
            min_notice_minutes=60,
            horizon_days=200,
            late_cancel_hours=24,
        ),
        clock=clock,
    )


def scheduling_world(
    session: Session, settings: Settings, clock: Clock, *, patients: int = 3
) -> dict[str, Any]:
    """An admin, a therapist (LCSW, NY licence for 120 days from the clock's today, self-pay) with weekday hours 9-17 New York
    time, 10-minute buffers, 1 hour notice, 200-day horizon, and ``patients`` self-pay patients in NY who read
    times in Los Angeles."""
    from datetime import date, timedelta

    from careweave.directory import service as directory

    system = Actor.system()
    admin_user = make_user(session, settings, Role.ADMIN)
    admin = identity.actor_for(session, admin_user)
    therapist_user = make_user(session, settings, Role.THERAPIST)
    provider = directory.create_provider(
        session,
        admin,
        {
            "name": "Tess Therapist",
            "credential": "LCSW",
            "offers": ["therapy"],
            "conditions": ["depression"],
            "languages": ["en"],
            "accepting_new_patients": True,
            "capacity": 20,
            "timezone": "America/New_York",
            "self_pay": True,
            "user_id": therapist_user.id,
        },
        clock=clock,
    )
    directory.add_license(
        session,
        admin,
        provider.id,
        state="NY",
        license_type="LCSW",
        number="NY-1",
        status="active",
        issued=date(2020, 1, 1),
        expires=clock.now().date() + timedelta(days=120),  # 30 June 2026 from 2 March
        clock=clock,
    )
    therapist = identity.actor_for(session, therapist_user)
    weekday_hours(session, therapist, provider.id, clock)
    people = []
    for i in range(patients):
        u = make_user(
            session, settings, Role.PATIENT, state="NY", timezone="America/Los_Angeles", name=f"Pat {i}"
        )
        a = identity.actor_for(session, u)
        directory.set_coverage(
            session, a, a.patient_id, plan_id=None, member_id=None, self_pay=True, clock=clock
        )
        people.append(a)
    session.flush()
    return {
        "clock": clock,
        "system": system,
        "admin": admin,
        "therapist": therapist,
        "provider": provider,
        "patients": people,
    }


def join_team(session: Session, patient_id, user: User, *, basis: str = "patient_choice"):  # type: ignore[no-untyped-def]
    """Put a clinician on a patient's care team (as booking a visit with them does)."""
    from careweave.careteam import service as careteam

    return careteam.ensure_member(
        session, patient_id=patient_id, user_id=user.id, basis=basis, clock=SystemClock()
    )


def make_prescriber(  # type: ignore[no-untyped-def]
    session: Session,
    settings: Settings,
    admin,
    *,
    credential: str = "MD",
    license_type: str | None = None,
    states: tuple[str, ...] = ("NY",),
    dea: dict[str, list[str]] | None = None,
    clock: Clock | None = None,
    role: Role = Role.PSYCHIATRIST,
):
    """A clinician (psychiatrist role by default) with a directory profile, a licence in each of ``states`` valid
    for a year, and DEA registrations {state: schedules} (medications, issue #7). Returns (user, actor, provider)."""
    from datetime import date, timedelta

    from careweave.directory import service as directory

    clock = clock or SystemClock()
    user = make_user(session, settings, role)
    provider = directory.create_provider(
        session,
        admin,
        {
            "name": user.full_name,
            "credential": credential,
            "offers": ["medication_management"] if role is Role.PSYCHIATRIST else ["therapy"],
            "conditions": ["depression"],
            "languages": ["en"],
            "accepting_new_patients": True,
            "capacity": 20,
            "timezone": "America/New_York",
            "self_pay": True,
            "user_id": user.id,
        },
        clock=clock,
    )
    today = clock.now().date()
    for i, state in enumerate(states):
        directory.add_license(
            session,
            admin,
            provider.id,
            state=state,
            license_type=license_type or credential,
            number=f"{state}-{credential}-{i}",
            status="active",
            issued=date(2020, 1, 1),
            expires=today + timedelta(days=365),
            clock=clock,
        )
    for state, schedules in (dea or {}).items():
        directory.add_dea_registration(
            session,
            admin,
            provider.id,
            state=state,
            number=f"DEA-{state}",
            schedules=schedules,
            expires=today + timedelta(days=365),
            clock=clock,
        )
    session.flush()
    return user, identity.actor_for(session, user), provider


def make_prescription(session: Session, *, patient_id, prescriber, code: str = "lithium", started_on=None):  # type: ignore[no-untyped-def]
    """A minimal active prescriptions row (labs tests), written straight through the medications model."""
    import uuid
    from datetime import date

    from careweave.medications.models import Prescription

    rx = Prescription(
        id=uuid.uuid4(),
        patient_id=patient_id,
        prescriber_user_id=prescriber.id,
        formulary_code=code,
        ingredient=code,
        drug_class="test",
        strength="300 mg",
        dose=300,
        dose_unit="mg",
        route="oral",
        frequency="twice daily",
        quantity=60,
        refills=0,
        days_supply=30,
        started_on=started_on or date(2026, 2, 2),
        status="active",
        patient_state="NY",
        authority_rule="non_controlled",
        authority={},
    )
    session.add(rx)
    session.flush()
    return rx
