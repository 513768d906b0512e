"""Measurement-based care (issue #8) through the service: episodes, status after every score, the registry's
flags in SQL agreeing with the rules, caseload review → plan change accepted, minutes → CoCM codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.core.errors import Conflict, InvalidInput
from careweave.identity import service as identity
from careweave.outcomes import minutes, registry, reviews, rules
from careweave.outcomes import repository as repo
from careweave.outcomes import service as outcomes
from careweave.patients import service as patients
from careweave.records import service as records
from careweave.screening import service as screening
from tests.builders import join_team, make_user
from tests.conftest import MemoryMailer

START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def week(n: int, days: int = 0) -> FixedClock:
    return FixedClock(START + timedelta(weeks=n, days=days))


def phq9(total: int, item9: int = 0) -> list[int]:
    answers = [0] * 9
    answers[8] = item9
    left = total - item9
    for i in range(8):
        answers[i] = min(3, left)
        left -= answers[i]
    assert left == 0
    return answers


@pytest.fixture
def world(session, settings):
    users = {
        "admin": make_user(session, settings, Role.ADMIN),
        "cm": make_user(session, settings, Role.CARE_MANAGER, name="Casey Manager"),
        "consultant": make_user(session, settings, Role.PSYCHIATRIST, name="Dr Cole Consultant"),
        "psych": make_user(session, settings, Role.PSYCHIATRIST, name="Dr Pat Treating"),
        "other_cm": make_user(session, settings, Role.CARE_MANAGER, name="Olive Othermanager"),
    }
    people = [
        make_user(session, settings, Role.PATIENT, state="NY", name=f"Flat Patient{i}") for i in range(3)
    ]
    actors = {k: identity.actor_for(session, u) for k, u in users.items()}
    pids = [patients.patient_id_for_user(session, u.id) for u in people]
    for pid in pids:
        join_team(session, pid, users["psych"])
    return {"users": users, "actors": actors, "pids": pids, "people": people}


def submit(session, settings, world, pid, total, clock, *, item9=0, index=0):
    actor = identity.actor_for(session, world["people"][index])
    return screening.submit_screening(
        session,
        actor,
        pid,
        instrument="phq-9",
        answers=phq9(total, item9),
        clock=clock,
        settings=settings,
        mailer=MemoryMailer(),
    )


def start(session, world, pid, clock, **kw):
    return outcomes.start_episode(
        session,
        kw.pop("actor", world["actors"]["admin"]),
        pid,
        clock=clock,
        care_manager_user_id=world["users"]["cm"].id,
        consultant_user_id=world["users"]["consultant"].id,
        **kw,
    )


def test_flat_for_eleven_weeks_is_flagged_reviewed_and_the_plan_changes(session, settings, world):
    pid = world["pids"][0]
    a = world["actors"]
    # the admin enrols (assigning care manager and consultant, who join the team)
    episode = start(session, world, pid, week(0), actor=a["admin"])
    submit(session, settings, world, pid, 18, week(0))
    submit(session, settings, world, pid, 17, week(4))
    submit(session, settings, world, pid, 17, week(11))
    [status] = outcomes.measurement_status(session, a["cm"], pid, clock=week(11))
    assert (status.baseline.value, status.latest.value, status.status) == (18, 17, "not_improving")
    assert status.weeks_in_treatment == 11 and status.change == 1 and status.percent_change == 5.6
    assert episode.status == "not_improving" and episode.last_measured_on == week(11).now().date()

    page = registry.caseload(session, a["consultant"], clock=week(11), flag="not_improving")
    assert [r.episode.patient_id for r in page.rows] == [pid]
    assert page.rows[0].flags == ("not_improving", "needs_psychiatric_review", "no_contact")
    assert page.rows[0].visible and page.rows[0].summaries[0].latest_score == 17

    review = reviews.record_review(
        session,
        a["consultant"],
        pid,
        recommendation="increase_dose",
        detail="Raise sertraline to 100 mg; recheck PHQ-9 in 4 weeks",
        proposed_change={"discipline": "psychiatry", "description": "Sertraline 100 mg daily"},
        clock=week(11),
    )
    assert review.decision == "proposed"
    again = registry.caseload(session, a["consultant"], clock=week(11), flag="needs_psychiatric_review")
    assert again.total == 0  # reviewed today

    with pytest.raises(InvalidInput):  # declining needs a reason
        reviews.decide_review(session, a["psych"], review.id, accept=False, reason=" ", clock=week(11))
    reviews.decide_review(session, a["psych"], review.id, accept=True, reason=None, clock=week(11))
    assert review.decision == "accepted" and review.plan_version == 1
    plan = records.get_plan(session, a["psych"], pid, clock=week(11))
    assert [i["description"] for i in plan.content["interventions"]] == ["Sertraline 100 mg daily"]
    assert "Caseload review" in plan.reason
    with pytest.raises(Conflict):
        reviews.decide_review(session, a["psych"], review.id, accept=True, reason=None, clock=week(11))


def test_sql_flag_filters_agree_with_the_rules(session, settings, world):
    a = world["actors"]
    p0, p1, p2 = world["pids"]
    start(session, world, p0, week(0))
    start(session, world, p1, week(0))
    start(session, world, p2, week(0))
    submit(session, settings, world, p0, 20, week(0), index=0)
    submit(session, settings, world, p0, 8, week(6), index=0)  # response
    submit(session, settings, world, p1, 20, week(0), index=1)
    submit(session, settings, world, p1, 18, week(9), item9=1, index=1)  # early non-response, item 9
    minutes.log_time(
        session,
        a["cm"],
        p1,
        on_date=week(9).now().date(),
        minutes=20,
        activity="follow_up",
        note=None,
        clock=week(9),
    )
    on = week(10)
    everything = registry.caseload(session, a["cm"], clock=on, limit=200)
    assert everything.total == 3
    by_patient = {r.episode.patient_id: set(r.flags) for r in everything.rows}
    assert "early_non_response" in by_patient[p1] and "safety" in by_patient[p1]
    assert "no_contact" not in by_patient[p1] and "no_contact" in by_patient[p0]
    assert "overdue_measure" in by_patient[p2]  # nothing measured since the start
    for flag in rules.FLAGS:
        rows = registry.caseload(session, a["cm"], clock=on, flag=flag, limit=200).rows
        assert {r.episode.patient_id for r in rows} == {p for p, f in by_patient.items() if flag in f}, flag
    flagged = registry.caseload(session, a["cm"], clock=on, flag="any", limit=200)
    assert {r.episode.patient_id for r in flagged.rows} == {p for p, f in by_patient.items() if f}
    # someone else's caseload is not theirs to see
    assert registry.caseload(session, a["other_cm"], clock=on).total == 0
    # sorting and paging
    names = [r.patient_name for r in registry.caseload(session, a["cm"], clock=on, sort="name").rows]
    assert names == sorted(names)
    assert len(registry.caseload(session, a["cm"], clock=on, limit=2).rows) == 2
    with pytest.raises(InvalidInput):
        registry.caseload(session, a["cm"], clock=on, flag="nope")


def test_one_open_episode_and_ending_rules(session, settings, world):
    pid = world["pids"][0]
    a = world["actors"]
    start(session, world, pid, week(0))
    with pytest.raises(Conflict):
        start(session, world, pid, week(1))
    with pytest.raises(InvalidInput) as info:  # goals met needs a relapse-prevention plan
        outcomes.end_episode(session, a["cm"], pid, reason="goals_met", clock=week(20))
    assert info.value.fields[0].field == "relapse_prevention_plan"
    ended = outcomes.end_episode(
        session,
        a["cm"],
        pid,
        reason="goals_met",
        relapse_prevention_plan="Warning signs: sleep; call Casey",
        clock=week(20),
    )
    assert ended.end_reason == "goals_met" and repo.open_episode(session, pid) is None
    start(session, world, pid, week(21))  # a new episode may begin


def test_idle_episodes_end_after_six_months(session, world):
    pid = world["pids"][0]
    episode = start(session, world, pid, FixedClock(datetime(2026, 1, 31, 12, tzinfo=UTC)))
    assert outcomes.close_idle_episodes(session, clock=FixedClock(datetime(2026, 7, 30, 12, tzinfo=UTC))) == 0
    assert outcomes.close_idle_episodes(session, clock=FixedClock(datetime(2026, 7, 31, 12, tzinfo=UTC))) == 1
    assert (episode.end_reason, episode.ended_on.isoformat()) == ("inactive", "2026-07-31")


def test_minutes_make_the_month_end_codes(session, world):
    a = world["actors"]
    p0, p1 = world["pids"][:2]
    start(session, world, p0, week(0))
    start(session, world, p1, week(0))
    jan = START.date()
    for spent in (30, 6):  # 36 minutes in the first month: 99492
        minutes.log_time(
            session,
            a["cm"],
            p0,
            on_date=jan,
            minutes=spent,
            activity="assessment",
            note=None,
            clock=week(1),
        )
    minutes.log_time(
        session, a["cm"], p1, on_date=jan, minutes=35, activity="outreach", note=None, clock=week(1)
    )
    feb = FixedClock(datetime(2026, 2, 20, 12, tzinfo=UTC))
    minutes.log_time(
        session, a["cm"], p0, on_date=feb.now().date(), minutes=76, activity="follow_up", note=None, clock=feb
    )
    lines = {
        line.patient_id: line.summary
        for line in minutes.billing_month(session, a["cm"], "2026-01", clock=feb)
    }
    assert [(c.code, c.units) for c in lines[p0].codes] == [("99492", 1)]
    assert [(c.code, c.units) for c in lines[p1].codes] == [("G2214", 1)]
    [feb_line] = minutes.billing_month(session, a["cm"], "2026-02", clock=feb)
    assert feb_line.summary.episode_month == 2
    assert [(c.code, c.units) for c in feb_line.summary.codes] == [("99493", 1), ("99494", 1)]
    with pytest.raises(InvalidInput):
        minutes.log_time(
            session, a["cm"], p0, on_date=jan, minutes=0, activity="outreach", note=None, clock=feb
        )
    with pytest.raises(InvalidInput):
        minutes.billing_month(session, a["cm"], "2026-13", clock=feb)


def test_only_care_managers_log_minutes_and_only_clinicians_read_the_registry(session, world):
    from careweave.core.errors import NotFound, PolicyDenied

    pid = world["pids"][0]
    a = world["actors"]
    start(session, world, pid, week(0))
    with pytest.raises((PolicyDenied, NotFound)):
        minutes.log_time(
            session,
            a["psych"],
            pid,
            on_date=START.date(),
            minutes=5,
            activity="outreach",
            note=None,
            clock=week(1),
        )
    with pytest.raises(PolicyDenied):
        registry.caseload(session, a["admin"], clock=week(1))


def test_due_check_ins_are_reminded_once_per_due_date_by_email_and_sms(session, settings, world):
    from sqlalchemy import select

    from careweave.jobs import queue
    from careweave.jobs.models import Job
    from careweave.patients.models import Patient

    pid = world["pids"][0]
    session.get(Patient, pid).phone = "+15555550123"
    episode = start(session, world, pid, week(0))
    assert outcomes.enqueue_due_reminders(session, clock=week(0)) == 1  # due at once: no score yet
    assert outcomes.enqueue_due_reminders(session, clock=week(0, 1)) == 0  # not twice for the same date
    jobs = session.scalars(select(Job).where(Job.kind == outcomes.MEASURE_REMINDER_KIND)).all()
    assert sorted(j.payload["channel"] for j in jobs) == ["email", "sms"]
    submit(session, settings, world, pid, 12, week(0, 2))
    assert episode.next_due_on == week(4, 2).now().date()  # four weeks after the score
    assert outcomes.enqueue_due_reminders(session, clock=week(4, 1)) == 0
    assert outcomes.enqueue_due_reminders(session, clock=week(4, 2)) == 1
    # the handler sends without clinical content
    mailer, sms = MemoryMailer(), []

    class Sms:
        def send(self, message):
            sms.append(message)

    queue.load_handlers()
    handler = queue._HANDLERS[outcomes.MEASURE_REMINDER_KIND]
    for job in session.scalars(select(Job).where(Job.kind == outcomes.MEASURE_REMINDER_KIND)).all()[:2]:
        ctx = queue.JobContext(session, settings, week(4, 2), mailer, Sms(), "w", job.id, 1)
        handler(ctx, job.payload)
    assert len(mailer.sent) == 1 and len(sms) == 1
    assert "/checkins" in mailer.sent[0].body and "PHQ" not in mailer.sent[0].body


def test_the_schedule_follows_the_plans_goals(session, world):
    from datetime import date as _date

    pid = world["pids"][1]
    a = world["actors"]
    today = _date.today()
    records.update_plan(
        session,
        a["psych"],
        pid,
        {
            "problems": [{"code": "F41.1", "description": "Generalized anxiety disorder"}],
            "goals": [
                {
                    "instrument": "GAD-7",
                    "comparator": "below",
                    "target": 5,
                    "due": str(today + timedelta(90)),
                },
                {
                    "instrument": "PHQ-9",
                    "comparator": "below",
                    "target": 5,
                    "due": str(today + timedelta(90)),
                },
            ],
            "interventions": [],
            "review_date": str(today + timedelta(28)),
        },
        reason="Initial plan",
        base_version=0,
        clock=week(0),
    )
    episode = start(session, world, pid, week(0))
    assert episode.instruments == ["gad-7", "phq-9"]
    # an explicit choice wins
    outcomes.end_episode(session, a["admin"], pid, reason="patient_withdrew", clock=week(1))
    assert start(session, world, pid, week(2), instruments=["phq-9"]).instruments == ["phq-9"]
