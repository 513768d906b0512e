"""Load the demo clinic when the database is empty. Deterministic (seeded Faker).

All people are fictional; e-mail addresses use the reserved ``.example`` domain and phone
numbers the fictional 555-01xx range.
"""

from __future__ import annotations

import random
import uuid
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
    system = Actor(user_id=None, role=None, clinic_id=clinic.id, purpose="operations", system_actor=True)
    logins: list[DemoLogin] = []
    users: dict[Role, list[uuid.UUID]] = {role: [] for role in COUNTS}
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
            users[role].append(user.id)
            if n == 1:
                logins.append(DemoLogin(role, user.email, DEMO_PASSWORD))
    seed_directory(session, system, users, clock=clock)
    seed_care(session, system, users, settings=settings, clock=clock)
    seed_schedule(session, system, users, settings=settings, clock=clock)
    seed_collaboration(session, system, users, settings=settings, clock=clock)
    from careweave.demo.care_model import seed_medications, seed_outcomes

    seed_medications(session, system, users, settings=settings, clock=clock)
    seed_outcomes(session, system, users, settings=settings, clock=clock)
    return logins


# Synthetic screening stories for patients 2..20 (patient1 is left new, to walk the journey).
# (intake history, treatment preference, [(instrument, answers, extra)]) — answers follow each
# instrument's definition (spec §1); the stories span every care pathway of spec §7.3.
_NONE = {
    "bipolar": False,
    "psychosis": False,
    "mood_elevation": False,
    "trauma": False,
    "pregnant_or_postpartum": False,
    "antidepressant_trials": 0,
    "current_psychosis_or_mania": False,
}
STORIES: list[tuple[dict[str, object], str, list[tuple[str, list[int | None], dict[str, object]]]]] = [
    (
        _NONE,
        "unsure",
        [("phq-2", [0, 1], {}), ("gad-2", [1, 0], {}), ("audit-c", [1, 0, 0], {"sex": "female"})],
    ),
    (
        _NONE,
        "therapy",
        [
            ("phq-2", [2, 1], {}),
            ("phq-9", [2, 1, 1, 1, 1, 0, 0, 0, 0], {}),
            ("gad-2", [1, 1], {}),
            ("audit-c", [1, 1, 0], {"sex": "male"}),
        ],
    ),
    (
        _NONE,
        "medication",
        [
            ("phq-2", [2, 2], {}),
            ("phq-9", [2, 2, 2, 1, 1, 1, 1, 1, 0], {}),
            ("gad-2", [2, 2], {}),
            ("gad-7", [2, 2, 2, 1, 1, 2, 1], {}),
            ("audit-c", [0, 0, 0], {"sex": "female"}),
        ],
    ),
    (
        _NONE,
        "unsure",
        [
            ("phq-2", [3, 2], {}),
            ("phq-9", [3, 2, 2, 2, 2, 2, 2, 1, 0], {}),
            ("gad-2", [1, 1], {}),
            ("audit-c", [2, 1, 0], {"sex": "male"}),
        ],
    ),
    (
        _NONE | {"antidepressant_trials": 2},
        "both",
        [
            ("phq-2", [3, 3], {}),
            ("phq-9", [3, 3, 3, 2, 2, 3, 2, 2, 0], {}),
            ("gad-2", [2, 2], {}),
            ("gad-7", [3, 2, 3, 2, 2, 2, 2], {}),
            ("audit-c", [1, 0, 0], {"sex": "female"}),
        ],
    ),
    (
        _NONE | {"bipolar": True, "mood_elevation": True},
        "medication",
        [
            ("phq-2", [2, 1], {}),
            ("phq-9", [2, 1, 2, 1, 1, 1, 1, 1, 0], {}),
            ("gad-2", [1, 1], {}),
            ("audit-c", [1, 0, 0], {"sex": "male"}),
            ("mdq", [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 3], {}),
        ],
    ),
    (
        _NONE | {"trauma": True},
        "therapy",
        [
            ("phq-2", [1, 1], {}),
            ("gad-2", [2, 2], {}),
            ("gad-7", [2, 2, 1, 2, 1, 1, 2], {}),
            ("audit-c", [1, 1, 0], {"sex": "female"}),
            ("pcl-5", [3, 3, 2, 3, 2, 3, 2, 1, 2, 2, 2, 1, 2, 1, 2, 2, 3, 3, 2, 2], {}),
        ],
    ),
    (
        _NONE,
        "both",
        [
            ("phq-2", [2, 2], {}),
            ("phq-9", [2, 2, 2, 2, 1, 2, 1, 1, 1], {}),
            ("c-ssrs-screener", [1, 1, 1, 0, 0, 0], {}),
        ],
    ),
    (
        _NONE,
        "therapy",
        [("phq-2", [1, 1], {}), ("gad-2", [0, 1], {}), ("audit-c", [3, 2, 2], {"sex": "male"})],
    ),
    (
        _NONE | {"pregnant_or_postpartum": True},
        "therapy",
        [
            ("phq-2", [2, 2], {}),
            ("phq-9", [2, 2, 1, 2, 1, 1, 1, 1, 0], {}),
            ("gad-2", [1, 1], {}),
            ("audit-c", [0, 0, 0], {"sex": "female"}),
        ],
    ),
]


DEMO_PLANS = (("Demo Health", "PPO"), ("Lakeside Mutual", "HMO"), ("Prairie Care", "EPO"))
THERAPIST_CREDENTIALS = (
    ("LCSW", "LCSW"),
    ("LPC", "LPC"),
    ("LMFT", "LMFT"),
    ("PhD", "PSYCHOLOGIST"),
    ("PsyD", "PSYCHOLOGIST"),
)
PSYCHIATRIST_CREDENTIALS = (("MD", "MD"), ("DO", "DO"), ("MD", "MD"), ("PMHNP", "APRN"), ("MD", "MD"))
CONDITION_SETS = (
    ("depression", "anxiety"),
    ("depression", "anxiety", "ptsd"),
    ("depression", "bipolar"),
    ("anxiety", "substance_use"),
    ("depression", "anxiety", "bipolar", "ptsd"),
)


def seed_directory(
    session: Session, system: Actor, users: dict[Role, list[uuid.UUID]], *, clock: Clock
) -> None:
    """Plans, a directory profile for every therapist and psychiatrist, licences across the demo
    states (every state has at least one prescriber and several therapists), DEA registrations."""
    from datetime import timedelta

    from careweave.directory import service as directory

    today = clock.now().date()
    plans = [
        directory.create_plan(session, system, payer=payer, name=name, clock=clock).id
        for payer, name in DEMO_PLANS
    ]
    states = [code for code, _zone in STATES]
    clinicians = [(Role.PSYCHIATRIST, uid, n) for n, uid in enumerate(users[Role.PSYCHIATRIST])] + [
        (Role.THERAPIST, uid, n) for n, uid in enumerate(users[Role.THERAPIST])
    ]
    for role, user_id, n in clinicians:
        user = identity.get_user(session, user_id)
        table = PSYCHIATRIST_CREDENTIALS if role is Role.PSYCHIATRIST else THERAPIST_CREDENTIALS
        credential, licence_type = table[n % len(table)]
        prescriber = role is Role.PSYCHIATRIST
        provider = directory.create_provider(
            session,
            system,
            {
                "name": user.full_name,
                "credential": credential,
                "user_id": user_id,
                "offers": ["therapy", "medication_management"]
                if prescriber and n % 2 == 0
                else (["medication_management"] if prescriber else ["therapy"]),
                "conditions": ["depression", "anxiety", "bipolar", "ptsd", "substance_use"]
                if prescriber
                else list(CONDITION_SETS[n % len(CONDITION_SETS)]),
                "languages": ["en", "es"] if n % 3 == 0 else ["en"],
                "gender": ("female", "male", "nonbinary")[n % 3] if n % 5 else "female",
                "modalities": ["medication_management"]
                if prescriber
                else [("cbt", "dbt", "emdr", "act", "ipt")[n % 5]],
                "timezone": "America/Chicago",
                "accepting_new_patients": True,
                "capacity": 40,
                "networks": [plans[n % 3], plans[(n + 1) % 3]],
                "self_pay": True,
            },
            clock=clock,
        )
        # Each clinician is licensed in four of the ten demo states (prescribers: every state twice).
        count = 4
        first = (n * (2 if prescriber else 3)) % len(states)
        for k in range(count):
            state = states[(first + k) % len(states)]
            directory.add_license(
                session,
                system,
                provider.id,
                state=state,
                license_type=licence_type,
                number=f"{state}-{licence_type}-{1000 + n}",
                status="active",
                issued=today - timedelta(days=900 + 40 * n),
                expires=today + timedelta(days=20 + 45 * n + 30 * k),
                clock=clock,
            )
            if prescriber and credential in ("MD", "DO"):
                directory.add_dea_registration(
                    session,
                    system,
                    provider.id,
                    state=state,
                    number=f"F{chr(65 + n)}{1000000 + 37 * n + k:07d}"[:9],
                    schedules=["2", "2N", "3", "3N", "4", "5"],
                    expires=today + timedelta(days=700),
                    clock=clock,
                )


def seed_care(
    session: Session, system: Actor, users: dict[Role, list[uuid.UUID]], *, settings: Settings, clock: Clock
) -> None:
    """On-call roster, intakes and screenings for the demo patients (stories above)."""
    from careweave.intake import service as intake_service
    from careweave.notify.mail import make_mailer
    from careweave.patients import service as patients
    from careweave.safety import service as safety
    from careweave.screening import service as screening

    roster = [users[Role.PSYCHIATRIST][0], users[Role.THERAPIST][0], users[Role.CARE_MANAGER][0]]
    safety.set_roster(session, system, roster, clock=clock)
    mailer = make_mailer(settings.model_copy(update={"mail_transport": "file"}))
    for n, user_id in enumerate(users[Role.PATIENT][1:], start=2):
        history, preference, screenings = STORIES[(n - 2) % len(STORIES)]
        patient_id = patients.patient_id_for_user(session, user_id)
        assert patient_id is not None
        intake_service.update_intake(
            session,
            system,
            patient_id,
            {
                "coverage": {"type": "self_pay"}
                if n % 3 == 0
                else {"type": "insurance", "plan": "Demo Health PPO", "member_id": f"DEMO{n:05d}"},
                "language": "es" if n % 7 == 0 else "en",
                "treatment_preference": preference,
                "goals": ["symptom_relief", "coping_skills"] if n % 2 else ["coping_skills"],
                "history": history,
                "current_medications": ["sertraline 50 mg"] if history.get("antidepressant_trials") else [],
                "complete": True,
            },
            clock=clock,
            step=5,
        )
        insured = n % 3 != 0
        from careweave.directory import service as directory

        plan = directory.list_plans(session, system)[0] if insured else None
        directory.set_coverage(
            session,
            system,
            patient_id,
            plan_id=plan.id if plan else None,
            member_id=f"DEMO{n:05d}" if plan else None,
            self_pay=not insured,
            clock=clock,
        )
        for code, answers, extra in screenings:
            screening.submit_screening(
                session,
                system,
                patient_id,
                instrument=code,
                answers=answers,
                clock=clock,
                settings=settings,
                mailer=mailer,
                **extra,
            )  # type: ignore[arg-type]


def seed_schedule(
    session: Session, system: Actor, users: dict[Role, list[uuid.UUID]], *, settings: Settings, clock: Clock
) -> None:
    """Weekly hours for every clinician (in their own zone), and visits to show: patient1 has a therapy visit
    with therapist1 whose room is open now and a psychiatric evaluation with psychiatrist1 in 75 minutes (its
    1-hour reminder lands in the local mail and SMS logs a quarter of an hour after start-up); patient2 has a
    weekly series; patients 3-8 have a visit booked through the normal path; patient9 waits on a waitlist."""
    from datetime import UTC, datetime, time, timedelta

    from sqlalchemy import select

    from careweave.directory.models import License, Provider
    from careweave.patients import service as patients
    from careweave.patients.models import Patient
    from careweave.scheduling import service as scheduling
    from careweave.scheduling import waitlist

    providers = {p.user_id: p for p in session.scalars(select(Provider).where(Provider.user_id.is_not(None)))}
    for n, provider in enumerate(sorted(providers.values(), key=lambda p: p.name)):
        first_state = session.scalar(
            select(License.state).where(License.provider_id == provider.id).order_by(License.number).limit(1)
        )
        zone = dict(STATES).get(first_state or "", "America/Chicago")
        provider.timezone = zone
        start, end = (time(8), time(16)) if n % 3 == 1 else (time(9), time(17))
        weekly = [scheduling.WindowIn(d, start, end) for d in range(5)]
        if n % 4 == 0:
            weekly.append(scheduling.WindowIn(5, time(9), time(12)))  # Saturday mornings
        scheduling.set_availability(
            session,
            system,
            provider.id,
            scheduling.AvailabilityIn(
                timezone=zone,
                weekly=tuple(weekly),
                buffer_minutes=10,
                min_notice_minutes=120,
                horizon_days=60,
                late_cancel_hours=24,
            ),
            clock=clock,
        )
    now = clock.now()
    soon = (now + timedelta(minutes=15)).replace(second=0, microsecond=0)
    soon -= timedelta(minutes=soon.minute % 5)
    patient_ids = [patients.patient_id_for_user(session, uid) for uid in users[Role.PATIENT]]
    therapist1 = providers[users[Role.THERAPIST][0]]
    psychiatrist1 = providers[users[Role.PSYCHIATRIST][0]]
    p1 = patient_ids[0]
    assert p1 is not None
    scheduling.place_demo_visit(
        session, system, therapist1, p1, "therapy_session", soon, clock=clock, settings=settings
    )
    scheduling.place_demo_visit(
        session,
        system,
        psychiatrist1,
        p1,
        "psychiatric_evaluation",
        soon + timedelta(minutes=60),
        clock=clock,
        settings=settings,
    )

    def licensed_therapist(patient_id: uuid.UUID, skip: int = 0) -> Provider | None:
        state = session.scalar(select(Patient.state).where(Patient.id == patient_id))
        ids = list(
            session.scalars(
                select(License.provider_id).where(License.state == state, License.status == "active")
            )
        )
        found = [p for p in providers.values() if p.id in ids and p.offers_therapy]
        found.sort(key=lambda p: p.name)
        return found[skip % len(found)] if found else None

    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)
    p2 = patient_ids[1]
    t2 = licensed_therapist(p2) if p2 else None
    if p2 and t2:
        slots, _, _ = scheduling.list_slots(
            session,
            system,
            t2.id,
            start=tomorrow,
            end=tomorrow + timedelta(days=7),
            visit_type="therapy_session",
            clock=clock,
        )
        if slots:
            scheduling.create_series(
                session,
                system,
                provider_id=t2.id,
                patient_id=p2,
                start=slots[len(slots) // 2].start,
                visit_type="therapy_session",
                every_weeks=1,
                count=8,
                until=None,
                clock=clock,
                settings=settings,
            )
    for k, pid in enumerate(patient_ids[2:8], start=2):
        provider = licensed_therapist(pid, skip=k) if pid else None
        if pid is None or provider is None:
            continue
        slots, _, _ = scheduling.list_slots(
            session,
            system,
            provider.id,
            start=tomorrow + timedelta(days=k),
            end=tomorrow + timedelta(days=k + 7),
            visit_type="therapy_intake",
            clock=clock,
        )
        for slot in slots[k::7]:
            try:
                scheduling.book(
                    session,
                    system,
                    provider_id=provider.id,
                    patient_id=pid,
                    start=slot.start,
                    visit_type="therapy_intake",
                    clock=clock,
                    settings=settings,
                )
                break
            except (scheduling.Ineligible, scheduling.SlotTaken):
                continue
    if p2 is not None:  # patient2 shares scores and the plan with their whole care team
        from careweave.consent import service as consent

        consent.grant(session, system, p2, consent.GrantIn(None, True, ("screening", "plan")), clock=clock)
    p9 = patient_ids[8]
    if p9 is not None:
        waitlist.join(
            session,
            system,
            patient_id=p9,
            provider_id=None,
            visit_type="therapy_session",
            window_start=now,
            window_end=now + timedelta(days=21),
            clock=clock,
        )


def seed_collaboration(
    session: Session, system: Actor, users: dict[Role, list[uuid.UUID]], *, settings: Settings, clock: Clock
) -> None:
    """Issue #6's story on patient6 (Texas; severe depression; pathway "both"): their therapist
    (on the team since the booked intake) writes the shared plan, a signed SOAP note and a psychotherapy note,
    and refers them to psychiatrist3 (licensed in Texas) for a medication evaluation, asking for the scores and
    the plan. The patient has not answered yet: log in as patient6 to share, then as psychiatrist3 to accept."""
    from datetime import timedelta

    from sqlalchemy import select

    from careweave.careteam import repository as team_repo
    from careweave.patients import service as patients
    from careweave.records import service as records

    p6 = patients.patient_id_for_user(session, users[Role.PATIENT][5])
    if p6 is None:
        return
    therapist = next(
        (m for m in team_repo.members(session, p6, current_on=clock.now().date()) if m.role == "therapist"),
        None,
    )
    if therapist is None:
        return
    t_actor = identity.actor_for(session, identity.get_user(session, therapist.user_id))
    today = clock.now().date()
    records.update_plan(
        session,
        t_actor,
        p6,
        {
            "problems": [
                {"code": "F32.1", "description": "Major depressive disorder, single episode, moderate"},
                {"code": "F41.1", "description": "Generalized anxiety disorder"},
            ],
            "goals": [
                {
                    "instrument": "PHQ-9",
                    "comparator": "below",
                    "target": 5,
                    "due": str(today + timedelta(90)),
                },
                {
                    "instrument": "GAD-7",
                    "comparator": "below",
                    "target": 5,
                    "due": str(today + timedelta(90)),
                },
            ],
            "interventions": [
                {
                    "discipline": "therapy",
                    "owner_user_id": str(therapist.user_id),
                    "description": "Weekly CBT, 12 sessions",
                }
            ],
            "review_date": str(today + timedelta(28)),
        },
        reason="Initial plan after intake",
        base_version=0,
        clock=clock,
    )
    note = records.create_note(
        session,
        t_actor,
        p6,
        records.NoteIn(
            kind="progress",
            format="SOAP",
            sections={
                "S": "Low mood and worry most days for two months; sleep poor.",
                "O": "PHQ-9 and GAD-7 at intake; engaged, good eye contact.",
                "A": "Moderate depression with generalized anxiety.",
                "P": "Weekly CBT; discuss a medication evaluation.",
            },
        ),
        clock=clock,
    )
    records.sign_note(session, t_actor, note.note.id, clock=clock)
    records.create_note(
        session,
        t_actor,
        p6,
        records.NoteIn(kind="psychotherapy", body="Process notes from the first session (therapist's own)."),
        clock=clock,
    )
    # A message thread with the patient, and the referral to a psychiatrist licensed in Texas.
    from careweave.careteam import referrals
    from careweave.directory.models import Provider
    from careweave.messaging import service as messaging
    from careweave.notify.mail import make_mailer

    mailer = make_mailer(settings.model_copy(update={"mail_transport": "file"}))
    patient_user = identity.get_user(session, users[Role.PATIENT][5])
    messaging.create_thread(
        session,
        t_actor,
        patient_id=p6,
        participants=[patient_user.id],
        subject="Before our next session",
        kind="patient",
        body="Hello, a reminder to try the thought record we discussed. See you next week.",
        clock=clock,
        settings=settings,
        mailer=mailer,
    )
    psychiatrist3 = session.scalar(select(Provider).where(Provider.user_id == users[Role.PSYCHIATRIST][2]))
    if psychiatrist3 is not None:
        referrals.create(
            session,
            t_actor,
            referrals.ReferralIn(
                patient_id=p6,
                kind="medication_evaluation",
                reason="Severe depressive symptoms persisting despite weekly CBT.",
                urgency="soon",
                to_provider_id=psychiatrist3.id,
                question="Would an antidepressant help alongside therapy?",
                needs=("screening", "plan"),
                send=True,
            ),
            clock=clock,
        )


def seed_if_empty(session: Session, *, settings: Settings, clock: Clock) -> list[DemoLogin] | None:
    if identity.count_users(session) > 0:
        return None
    return seed_demo(session, settings=settings, clock=clock)


def has_demo_users(session: Session) -> bool:
    return identity.user_exists(session, demo_email(Role.ADMIN, 1))


def demo_logins() -> list[DemoLogin]:
    return [DemoLogin(role, demo_email(role, 1), DEMO_PASSWORD) for role in COUNTS]
