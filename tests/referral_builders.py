"""A small clinic for referral tests: a patient (NY, self-pay, a PHQ-9 on file), a therapist on their care team,
two psychiatrists and a second therapist with provider profiles (licensed in NY), none of them on the team yet."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careweave.core.actor import Role
from careweave.core.clock import Clock
from careweave.identity import service as identity
from careweave.settings import Settings
from tests.builders import join_team, make_user


def _provider(session, admin, user, *, name: str, credential: str, offers: list[str], clock: Clock):  # type: ignore[no-untyped-def]
    from careweave.directory import service as directory

    provider = directory.create_provider(
        session,
        admin,
        {
            "name": name,
            "credential": credential,
            "offers": offers,
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
    directory.add_license(
        session,
        admin,
        provider.id,
        state="NY",
        license_type=credential,
        number=f"NY-{name[:3]}",
        status="active",
        issued=date(2020, 1, 1),
        expires=clock.now().date() + timedelta(days=365),
        clock=clock,
    )
    # Matching shows only clinicians with free time: every day, 7:00-21:00 New York time.
    from datetime import time

    from careweave.scheduling import service as scheduling

    scheduling.set_availability(
        session,
        admin,
        provider.id,
        scheduling.AvailabilityIn(
            "America/New_York", tuple(scheduling.WindowIn(d, time(7), time(21)) for d in range(7))
        ),
        clock=clock,
    )
    return provider


def referral_world(session: Session, settings: Settings, clock: Clock) -> dict[str, Any]:
    from careweave.directory import service as directory
    from careweave.screening import service as screening

    admin = identity.actor_for(session, make_user(session, settings, Role.ADMIN))
    users = {
        "patient": make_user(session, settings, Role.PATIENT, state="NY", name="Ana Referred"),
        "therapist": make_user(session, settings, Role.THERAPIST, name="Tia Therapist"),
        "therapist2": make_user(session, settings, Role.THERAPIST, name="Theo Othertherapist"),
        "psych": make_user(session, settings, Role.PSYCHIATRIST, name="Dr Pia Psych"),
        "psych2": make_user(session, settings, Role.PSYCHIATRIST, name="Dr Paul Psych"),
    }
    providers = {
        "therapist": _provider(
            session,
            admin,
            users["therapist"],
            name="Tia Therapist",
            credential="LCSW",
            offers=["therapy"],
            clock=clock,
        ),
        "therapist2": _provider(
            session,
            admin,
            users["therapist2"],
            name="Theo Othertherapist",
            credential="LPC",
            offers=["therapy"],
            clock=clock,
        ),
        "psych": _provider(
            session,
            admin,
            users["psych"],
            name="Dr Pia Psych",
            credential="MD",
            offers=["medication_management"],
            clock=clock,
        ),
        "psych2": _provider(
            session,
            admin,
            users["psych2"],
            name="Dr Paul Psych",
            credential="MD",
            offers=["medication_management"],
            clock=clock,
        ),
    }
    actors = {k: identity.actor_for(session, u) for k, u in users.items()}
    pid = actors["patient"].patient_id
    directory.set_coverage(
        session, actors["patient"], pid, plan_id=None, member_id=None, self_pay=True, clock=clock
    )
    screening.submit_screening(
        session,
        actors["patient"],
        pid,
        instrument="phq-9",
        answers=[2, 2, 2, 2, 2, 2, 2, 2, 0],
        clock=clock,
        settings=settings,
        mailer=None,  # type: ignore[arg-type]
    )
    join_team(session, pid, users["therapist"], basis="patient_choice")
    session.flush()
    return {"admin": admin, "users": users, "actors": actors, "providers": providers, "patient_id": pid}
