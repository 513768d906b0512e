"""Demo stories for medication management (issue #7) and measurement-based care (issue #8). Synthetic people only.

- patient3 (Florida, mild depression at intake): on psychiatrist1's team, shares medications with the team,
  reports ibuprofen taken for back pain; psychiatrist1 has started sertraline 50 mg; in an episode of care since
  six weeks ago (PHQ-9 19, then 6 at intake: a response).
- patient13 (Florida): escitalopram with a taper (10 mg for two weeks, then 5 mg for two weeks): the patient sees
  today's dose and the steps ("rely less on medication over time").
- patient7 (bipolar story, Colorado): psychiatrist3 started lithium; the monitoring protocol's dated lab orders
  exist, and a lithium level of 1.6 mmol/L arrived as an HL7 v2 ORU^R01 message: an alert on psychiatrist3's home.
- patient5 (moderately severe depression, Illinois): in an episode of care for 11 weeks with care.manager1 and psychiatrist1
  as psychiatric consultant, treated by psychiatrist2; PHQ-9 flat (17, 16, 17, 16): flagged "not improving" in the
  registry for a caseload review; 40 care-manager minutes logged this month.
- patient9 (the C-SSRS story, open safety alert): in an episode: flagged "safety".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.orm import Session

from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock, FixedClock
from careweave.identity import service as identity
from careweave.settings import Settings


def _actor(session: Session, user_id: uuid.UUID) -> Actor:
    return identity.actor_for(session, identity.get_user(session, user_id))


def _patient(session: Session, users: dict[Role, list[uuid.UUID]], n: int) -> tuple[uuid.UUID, Actor]:
    from careweave.patients import service as patients

    user_id = users[Role.PATIENT][n - 1]
    pid = patients.patient_id_for_user(session, user_id)
    assert pid is not None
    return pid, _actor(session, user_id)


def _on_team(session: Session, pid: uuid.UUID, user_id: uuid.UUID, clock: Clock) -> None:
    from careweave.careteam import service as careteam

    careteam.ensure_member(session, patient_id=pid, user_id=user_id, basis="assigned", clock=clock)


def _share(session: Session, patient: Actor, pid: uuid.UUID, clock: Clock, *categories: str) -> None:
    from careweave.consent import service as consent

    consent.grant(session, patient, pid, consent.GrantIn(None, True, tuple(categories)), clock=clock)


def seed_medications(
    session: Session, system: Actor, users: dict[Role, list[uuid.UUID]], *, settings: Settings, clock: Clock
) -> None:
    from careweave.labs import service as labs
    from careweave.medications import common, facts, prescribing, tapering

    psychiatrist1 = users[Role.PSYCHIATRIST][0]
    doctor = _actor(session, psychiatrist1)
    # patient3: sertraline, with ibuprofen reported (lithium would now warn about the NSAID)
    p3, patient3 = _patient(session, users, 3)
    _on_team(session, p3, psychiatrist1, clock)
    _share(session, patient3, p3, clock, "medications", "screening", "plan")
    facts.add_outside_medication(
        session,
        patient3,
        p3,
        name="Ibuprofen",
        formulary_code="ibuprofen",
        dose_text="400 mg as needed",
        clock=clock,
    )
    sertraline, _ = prescribing.create_prescription(
        session,
        doctor,
        common.PrescriptionIn(
            patient_id=p3,
            medication="sertraline",
            strength="50 mg",
            form="tablet",
            sig=common.SigIn(dose=50, unit="mg", route="oral", frequency="once_daily"),
            quantity=30,
            refills=2,
            days_supply=30,
            pharmacy="Riverbend Pharmacy (demo), 100 Main St",
            override_reasons={},
        ),
        clock=clock,
    )
    prescribing.sign_prescription(session, doctor, sertraline.id, clock=clock)
    # patient13: escitalopram being tapered
    p13, patient13 = _patient(session, users, 13)
    _on_team(session, p13, psychiatrist1, clock)
    _share(session, patient13, p13, clock, "medications", "screening", "plan")
    escitalopram, _ = prescribing.create_prescription(
        session,
        doctor,
        common.PrescriptionIn(
            patient_id=p13,
            medication="escitalopram",
            strength="10 mg",
            form="tablet",
            sig=common.SigIn(dose=10, unit="mg", route="oral", frequency="once_daily"),
            quantity=30,
            refills=0,
            days_supply=30,
        ),
        clock=clock,
    )
    prescribing.sign_prescription(session, doctor, escitalopram.id, clock=clock)
    from careweave.medications import rules as med_rules

    tapering.create_taper(
        session,
        doctor,
        escitalopram.id,
        [med_rules.TaperStep(dose=10, unit="mg", days=14), med_rules.TaperStep(dose=5, unit="mg", days=14)],
        clock=clock,
    )
    # patient7: lithium by psychiatrist3 (licensed in Colorado), a level from the lab by HL7 v2
    psychiatrist3 = users[Role.PSYCHIATRIST][2]
    p7, patient7 = _patient(session, users, 7)
    _on_team(session, p7, psychiatrist3, clock)
    _share(session, patient7, p7, clock, "medications", "screening", "plan")
    doctor3 = _actor(session, psychiatrist3)
    lithium, _ = prescribing.create_prescription(
        session,
        doctor3,
        common.PrescriptionIn(
            patient_id=p7,
            medication="lithium_carbonate",
            strength="300 mg",
            form="capsule",
            sig=common.SigIn(dose=300, unit="mg", route="oral", frequency="twice_daily"),
            quantity=60,
            refills=1,
            days_supply=30,
        ),
        clock=clock,
    )
    prescribing.sign_prescription(session, doctor3, lithium.id, clock=clock)
    stamp = clock.now().strftime("%Y%m%d%H%M%S+0000")
    message = "\r".join(
        [
            f"MSH|^~\\&|RIVERLAB|RIVERBEND LAB|CAREWEAVE|RIVERBEND|{stamp}||ORU^R01^ORU_R01|DEMO-LI-1|P|2.5.1",
            f"PID|1||{p7}^^^CAREWEAVE^PI||Demo^Patient",
            "OBR|1|DEMO-ORD-1|DEMO-LAB-1|14334-7^Lithium [Moles/volume] in Serum or Plasma^LN|||"
            f"{stamp}|||||||||||||||{stamp}|||F",
            "OBX|1|NM|14334-7^Lithium [Moles/volume] in Serum or Plasma^LN||1.6|mmol/L^millimole per liter^UCUM|"
            f"0.6-1.2|H|||F|||{stamp}",
        ]
    )
    labs.ingest_hl7v2(session, message + "\r", system, clock=clock)


def _earlier(now: datetime, *, weeks: int) -> datetime:
    """``weeks`` before ``now``, up to two hours earlier again but never before that day's start (UTC): an
    episode counts the scores from its start date on (outcomes.report), so a check-in seeded on the start day must
    stay on it whatever time of day the demo is loaded (at 01:00 UTC, two hours earlier was the day before, and the
    demo's baseline silently became the second check-in)."""
    at = now - timedelta(weeks=weeks)
    day_start = datetime.combine(at.date(), time(0), tzinfo=UTC)
    return max(at - timedelta(hours=2), day_start)


def seed_outcomes(
    session: Session, system: Actor, users: dict[Role, list[uuid.UUID]], *, settings: Settings, clock: Clock
) -> None:
    from careweave.notify.mail import make_mailer
    from careweave.outcomes import minutes
    from careweave.outcomes import service as outcomes
    from careweave.screening import service as screening

    mailer = make_mailer(settings.model_copy(update={"mail_transport": "file"}))
    care_manager = users[Role.CARE_MANAGER][0]
    consultant = users[Role.PSYCHIATRIST][0]
    admin = _actor(session, users[Role.ADMIN][0])
    now = clock.now()
    today = now.date()

    def enrol(
        n: int, weeks_ago: int, scores: list[tuple[int, list[int]]], treating: uuid.UUID | None
    ) -> uuid.UUID:
        pid, patient = _patient(session, users, n)
        if treating is not None:
            _on_team(session, pid, treating, clock)
        _share(session, patient, pid, clock, "screening", "plan")
        outcomes.start_episode(
            session,
            admin,
            pid,
            clock=clock,
            care_manager_user_id=care_manager,
            consultant_user_id=consultant,
            started_on=today - timedelta(weeks=weeks_ago),
        )
        for weeks, answers in scores:  # earlier check-ins, as the patient answered them then
            when = FixedClock(_earlier(now, weeks=weeks_ago - weeks))
            screening.submit_screening(
                session,
                patient,
                pid,
                instrument="phq-9",
                answers=answers,
                clock=when,
                settings=settings,
                mailer=mailer,
            )
        return pid

    psychiatrist2 = users[Role.PSYCHIATRIST][1]
    # patient5: flat for 11 weeks (17, 16, 17 and the intake's 16 today): not improving
    p5 = enrol(
        5,
        11,
        [
            (0, [3, 2, 2, 2, 2, 2, 2, 2, 0]),
            (4, [2, 2, 2, 2, 2, 2, 2, 2, 0]),
            (8, [3, 2, 2, 2, 2, 2, 2, 2, 0]),
        ],
        psychiatrist2,
    )
    # patient3: 19 six weeks ago, 6 at intake today: a response
    enrol(3, 6, [(0, [3, 3, 2, 2, 2, 2, 2, 3, 0])], users[Role.PSYCHIATRIST][0])
    # patient9: the C-SSRS story with an open safety alert
    enrol(9, 2, [], None)
    cm = _actor(session, care_manager)
    first = today.replace(day=1)
    for day, spent, activity in ((first, 25, "assessment"), (today, 15, "follow_up")):
        minutes.log_time(
            session,
            cm,
            p5,
            on_date=max(day, today - timedelta(weeks=11)),
            minutes=spent,
            activity=activity,
            note=None,
            clock=clock,
        )
