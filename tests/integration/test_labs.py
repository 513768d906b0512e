"""Labs and monitoring end to end on a real database (issue #7): monitoring started from a prescription, dated
orders, HL7 v2 ORU^R01 ingestion (tests/data/hl7/), matching to the order by patient and LOINC, alerts to the
prescriber with the protocol's next step (spec §6.4), dose changes, access and audit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from careweave.audit.models import AuditEvent
from careweave.consent import service as consent
from careweave.core.actor import Actor, Role
from careweave.core.clock import FixedClock
from careweave.core.errors import InvalidInput, NotFound
from careweave.identity import service as identity
from careweave.labs import service as labs
from careweave.labs.models import LabAlert, LabMessage, LabOrder, LabResult, MonitoringPlan
from careweave.policy import ConsentRequired
from tests.builders import join_team, make_prescription, make_user

HL7 = Path(__file__).parent.parent / "data" / "hl7"
CLOCK = FixedClock(datetime(2026, 2, 9, 15, 0, tzinfo=UTC))


def sample(name: str, patient_id) -> str:  # type: ignore[no-untyped-def]
    return (HL7 / name).read_text().replace("{patient_id}", str(patient_id))


@pytest.fixture
def w(session, settings):
    patient_user = make_user(session, settings, Role.PATIENT, state="NY")
    psych = make_user(session, settings, Role.PSYCHIATRIST, name="Dr. Lee Prescriber")
    outsider = make_user(session, settings, Role.PSYCHIATRIST)
    patient = identity.actor_for(session, patient_user)
    join_team(session, patient.patient_id, psych)
    return {
        "pid": patient.patient_id,
        "patient": patient,
        "psych_user": psych,
        "psych": identity.actor_for(session, psych),
        "outsider": identity.actor_for(session, outsider),
    }


def start(session, w, protocol="lithium", started_on=date(2026, 2, 2), **kw):  # type: ignore[no-untyped-def]
    rx = make_prescription(session, patient_id=w["pid"], prescriber=w["psych_user"], code=protocol)
    plan = labs.start_monitoring(
        session,
        prescription_id=rx.id,
        patient_id=w["pid"],
        protocol=protocol,
        started_on=started_on,
        actor=w["psych"],
        clock=CLOCK,
        **kw,
    )
    return rx, plan


def open_orders(session, pid, item=None):  # type: ignore[no-untyped-def]
    stmt = select(LabOrder).where(LabOrder.patient_id == pid, LabOrder.status == "ordered")
    if item:
        stmt = stmt.where(LabOrder.protocol_item == item)
    return list(session.scalars(stmt.order_by(LabOrder.due_on)))


def test_lithium_end_to_end_hl7_toxicity(session, w):
    """§6.4 Lithium: level 1 week after start; toxicity ≥ 1.5 mmol/L → alert to the prescriber."""
    _rx, plan = start(session, w)
    assert plan.prescriber_user_id == w["psych_user"].id
    levels = open_orders(session, w["pid"], "lithium.level")
    assert [o.due_on for o in levels][:2] == [date(2026, 2, 9), date(2026, 5, 2)]
    assert len(open_orders(session, w["pid"])) == 28

    out = labs.ingest_hl7v2(session, sample("oru_r01_lithium.hl7", w["pid"]), Actor.system(), clock=CLOCK)
    assert not out.duplicate and len(out.recorded) == 1
    assert "MSA|AA|LI-0001" in out.ack
    recorded = out.recorded[0]
    result = recorded.result
    assert (result.loinc, result.value, result.unit, result.source) == ("14334-7", 1.6, "mmol/L", "hl7v2")
    assert result.observed_at == datetime(2026, 2, 9, 13, 0, tzinfo=UTC)  # 08:00 -05:00
    order = session.get(LabOrder, result.order_id)
    assert (order.protocol_item, order.due_on, order.status) == (
        "lithium.level",
        date(2026, 2, 9),
        "resulted",
    )
    alert = recorded.alert
    assert (alert.severity, alert.code, alert.prescriber_user_id) == (
        "critical",
        "lithium.toxicity",
        w["psych_user"].id,
    )
    assert "§6.4 Lithium, Toxicity" in alert.spec
    mine = labs.alerts_for_me(session, w["psych"])
    assert [a.alert.id for a in mine] == [alert.id]

    # the same message again: acknowledged, nothing stored twice
    again = labs.ingest_hl7v2(session, sample("oru_r01_lithium.hl7", w["pid"]), Actor.system(), clock=CLOCK)
    assert again.duplicate and again.ack == out.ack
    assert session.scalar(select(func.count()).select_from(LabResult)) == 1
    assert session.scalar(select(func.count()).select_from(LabMessage)) == 1
    events = set(session.scalars(select(AuditEvent.action).where(AuditEvent.patient_id == w["pid"])))
    assert {"monitoring.started", "lab_result.recorded", "lab_message.ingested"} <= events

    labs.acknowledge_alert(session, w["psych"], alert.id, clock=CLOCK)
    assert labs.alerts_for_me(session, w["psych"]) == []


def test_clozapine_anc_1200_three_times_weekly(session, w):
    """§6.4 Clozapine, Mild 1,000–1,499/µL: ANC three times weekly until ≥ 1,500 (orders), alert."""
    start(session, w, "clozapine", started_on=date(2026, 1, 8))
    out = labs.ingest_hl7v2(
        session, sample("oru_r01_clozapine_anc.hl7", w["pid"]), Actor.system(), clock=CLOCK
    )
    assert out.skipped == 1  # the preliminary platelet count is not stored
    by_code = {r.result.loinc: r for r in out.recorded}
    anc = by_code["751-8"]
    assert anc.result.value == 1.2 and anc.result.order_id is not None
    assert session.get(LabOrder, anc.result.order_id).due_on == date(2026, 1, 15)
    assert (anc.alert.severity, anc.alert.code) == ("warning", "anc.mild")
    assert [(o.due_on, o.reason) for o in anc.new_orders] == [
        (date(2026, 1, 17), "next_step"),
        (date(2026, 1, 19), "next_step"),
        (date(2026, 1, 22), "next_step"),
    ]
    assert by_code["6690-2"].result.test == "cbc" and by_code["6690-2"].alert is None

    # back to ≥ 1,500: the extra orders are cancelled, the weekly schedule resumes
    back = labs.record_result(
        session,
        w["psych"],
        w["pid"],
        labs.ResultIn("751-8", "1600", 1600, "/uL", datetime(2026, 1, 17, 9, tzinfo=UTC)),
        clock=CLOCK,
    )
    assert back.alert.code == "anc.recovered"
    extra = session.scalars(select(LabOrder).where(LabOrder.reason == "next_step")).all()
    assert {o.status for o in extra} == {"resulted", "cancelled"}


def test_clozapine_moderate_then_recovery(session, w):
    """§6.4 Clozapine, Moderate: interrupt, daily ANC; back ≥ 1,500 → weekly × 4."""
    start(session, w, "clozapine", started_on=date(2026, 1, 8))

    def anc(value, day):  # type: ignore[no-untyped-def]
        return labs.record_result(
            session,
            w["psych"],
            w["pid"],
            labs.ResultIn("751-8", str(value), value, "/uL", datetime(2026, 1, day, 9, tzinfo=UTC)),
            clock=CLOCK,
        )

    moderate = anc(800, 15)
    assert moderate.alert.severity == "critical" and "interrupt clozapine" in moderate.alert.next_step.lower()
    assert len(moderate.new_orders) == 7
    rising = anc(1100, 16)
    assert [o.due_on.day for o in rising.new_orders] == [18, 20, 23]
    assert len([o for o in open_orders(session, w["pid"]) if o.reason == "next_step"]) == 3
    back = anc(1700, 18)
    assert [o.due_on.day for o in back.new_orders] == [25, 1, 8, 15]  # weekly × 4


def test_dose_change_adds_a_level(session, w):
    rx, _ = start(session, w)
    new = labs.dose_changed(
        session, prescription_id=rx.id, changed_on=date(2026, 4, 28), actor=w["psych"], clock=CLOCK
    )
    assert [(o.protocol_item, o.due_on, o.reason) for o in new] == [
        ("lithium.level", date(2026, 5, 5), "dose_change")
    ]
    cancelled = session.scalars(select(LabOrder).where(LabOrder.status == "cancelled")).all()
    assert [o.due_on for o in cancelled] == [date(2026, 5, 2)]


def test_start_is_idempotent_and_checks_its_input(session, w):
    rx, plan = start(session, w)
    again = labs.start_monitoring(
        session,
        prescription_id=rx.id,
        patient_id=w["pid"],
        protocol="lithium",
        started_on=date(2026, 2, 2),
        actor=w["psych"],
    )
    assert again.id == plan.id
    with pytest.raises(InvalidInput):
        labs.start_monitoring(
            session,
            prescription_id=rx.id,
            patient_id=w["pid"],
            protocol="aspirin",
            started_on=date(2026, 2, 2),
            actor=w["psych"],
        )


def test_malformed_message_names_the_field(session, w):
    start(session, w)
    with pytest.raises(labs.MalformedMessage) as err:
        labs.ingest_hl7v2(
            session, sample("oru_r01_malformed_value.hl7", w["pid"]), Actor.system(), clock=CLOCK
        )
    assert err.value.fields[0].field == "OBX[1]-5"
    for bad, where in [
        ("hello", "MSH"),
        (sample("oru_r01_lithium.hl7", w["pid"]).replace("ORU^R01^ORU_R01", "ADT^A01"), "MSH-9"),
        (sample("oru_r01_lithium.hl7", w["pid"]).replace(str(w["pid"]), "not-a-uuid"), "PID-3"),
        (sample("oru_r01_lithium.hl7", "00000000-0000-4000-8000-000000000000"), "PID-3"),
        (sample("oru_r01_lithium.hl7", w["pid"]).replace("^LN|", "^L|"), "OBX[1]-3"),
        (
            sample("oru_r01_lithium.hl7", w["pid"]).replace("mmol/L^millimole per liter^UCUM", "g/dL"),
            "OBX[1]-6",
        ),
    ]:
        with pytest.raises(labs.MalformedMessage) as err:
            labs.ingest_hl7v2(session, bad, Actor.system(), clock=CLOCK)
        assert err.value.fields[0].field == where, bad


def test_access(session, w):
    start(session, w)
    assert len(labs.list_orders(session, w["psych"], w["pid"], clock=CLOCK)) == 28  # the prescriber (author)
    assert len(labs.list_orders(session, w["patient"], w["pid"], clock=CLOCK)) == 28  # the patient themself
    with pytest.raises(NotFound):
        labs.list_orders(session, w["outsider"], w["pid"], clock=CLOCK)
    with pytest.raises(labs.NotAClinician):
        labs.record_result(
            session,
            w["patient"],
            w["pid"],
            labs.ResultIn("14334-7", "0.7", 0.7, "mmol/L", CLOCK.now()),
            clock=CLOCK,
        )
    with pytest.raises(labs.PolicyDenied):
        labs.ingest_hl7v2(session, sample("oru_r01_lithium.hl7", w["pid"]), w["patient"], clock=CLOCK)


def test_overdue_for_the_prescriber(session, w):
    start(session, w, started_on=date(2026, 1, 5))
    items = labs.overdue_for_prescriber(session, w["psych"], clock=CLOCK)
    assert {i.order.protocol_item for i in items} == {
        "lithium.baseline.weight_bmi",
        "lithium.baseline.renal",
        "lithium.baseline.tsh",
        "lithium.baseline.calcium",
        "lithium.baseline.cbc",
        "lithium.level",
    }
    assert items[0].days_overdue == 35
    assert labs.overdue_for_prescriber(session, w["outsider"], clock=CLOCK) == []
    assert len(labs.overdue_orders(session, today=CLOCK.now().date())) == 6


def count(session, model) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(model))


def two_patient_message(first, second) -> str:  # type: ignore[no-untyped-def]
    """ORU^R01 with two patient groups: PID(first) OBR OBX, then PID(second) OBR OBX (lithium 1.9)."""
    one = sample("oru_r01_lithium.hl7", first).strip()
    pid, obr, obx = one.replace("\r\n", "\r").replace("\n", "\r").split("\r")[1:4]
    group = [
        pid.replace(str(first), str(second)).replace("778812", "990011"),
        obr.replace("ORD-1", "ORD-9"),
        obx.replace("||1.6|", "||1.9|"),
    ]
    return one.replace("\n", "\r") + "\r" + "\r".join(group)


def test_two_patient_message_is_refused_and_nothing_stored(session, settings, w):
    """Issue #7 review: the second patient's lithium was stored on the first patient (AA)."""
    start(session, w)
    other_user = make_user(session, settings, Role.PATIENT, state="NY")
    other = identity.actor_for(session, other_user).patient_id
    with pytest.raises(labs.MalformedMessage) as err:
        labs.ingest_hl7v2(session, two_patient_message(w["pid"], other), Actor.system(), clock=CLOCK)
    assert err.value.fields[0].field == "PID"
    assert "one patient per message" in err.value.fields[0].message
    session.rollback()  # what the unit of work does with the error
    assert count(session, LabResult) == 0 and count(session, LabMessage) == 0


def test_hl7_ingest_needs_access_to_the_patient(session, settings, w):
    """Issue #7 review: a therapist without consent posted a lithium result (AA) that alerted and applied
    protocol steps. A clinician now needs the access manual entry needs; a patient they may not see is answered
    exactly like an unknown one."""
    start(session, w)
    msg = sample("oru_r01_lithium.hl7", w["pid"])
    therapist_user = make_user(session, settings, Role.THERAPIST)
    join_team(session, w["pid"], therapist_user)
    therapist = identity.actor_for(session, therapist_user)
    # on the team, but the patient has not shared medications: refused with the reason, as for manual entry
    with pytest.raises(ConsentRequired):
        labs.ingest_hl7v2(session, msg, therapist, clock=CLOCK)
    with pytest.raises(ConsentRequired):
        labs.record_result(
            session,
            therapist,
            w["pid"],
            labs.ResultIn("14334-7", "1.6", 1.6, "mmol/L", CLOCK.now()),
            clock=CLOCK,
        )
    # not on the team: the same answer as an id that does not exist
    with pytest.raises(labs.MalformedMessage) as hidden:
        labs.ingest_hl7v2(session, msg, w["outsider"], clock=CLOCK)
    with pytest.raises(labs.MalformedMessage) as unknown:
        labs.ingest_hl7v2(
            session,
            sample("oru_r01_lithium.hl7", "00000000-0000-4000-8000-000000000000"),
            w["outsider"],
            clock=CLOCK,
        )
    assert (hidden.value.message, hidden.value.fields, hidden.value.code, hidden.value.status) == (
        unknown.value.message,
        unknown.value.fields,
        unknown.value.code,
        unknown.value.status,
    )
    assert (
        count(session, LabResult) == 0 and count(session, LabAlert) == 0 and count(session, LabMessage) == 0
    )
    assert all(o.status == "ordered" for o in open_orders(session, w["pid"]))
    denied = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "lab_message.ingested", AuditEvent.outcome == "denied")
    ).all()
    assert len(denied) == 2

    # with the patient's consent for medications, the same therapist may post it
    ana = w["patient"]
    consent.grant(
        session,
        ana,
        w["pid"],
        consent.GrantIn(grantee_user_id=therapist_user.id, care_team=False, categories=("medications",)),
        clock=CLOCK,
    )
    out = labs.ingest_hl7v2(session, msg, therapist, clock=CLOCK)
    assert "MSA|AA|LI-0001" in out.ack and len(out.recorded) == 1


def test_manual_result_time_and_value(session, w):
    """A naive observation time is the patient's local time (America/New_York here); an aware one is kept; a
    non-finite value is refused naming the field."""
    start(session, w)
    naive = labs.record_result(
        session,
        w["psych"],
        w["pid"],
        labs.ResultIn("14334-7", "0.7", 0.7, "mmol/L", datetime(2026, 2, 9, 8, 0)),
        clock=CLOCK,
    )
    assert naive.result.observed_at.astimezone(UTC) == datetime(2026, 2, 9, 13, 0, tzinfo=UTC)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(InvalidInput) as err:
            labs.record_result(
                session,
                w["psych"],
                w["pid"],
                labs.ResultIn("14334-7", str(bad), bad, "mmol/L", CLOCK.now()),
                clock=CLOCK,
            )
        assert err.value.fields[0].field == "value"


def test_ben_recorded_by_the_prescriber(session, settings, w):
    """Spec §6.4 Clozapine: ≥ 1,000/µL in benign ethnic neutropenia. Recording BEN on the plan re-evaluates
    results from then on."""
    _rx, plan = start(session, w, "clozapine", started_on=date(2026, 1, 8))
    assert plan.ben is False

    def anc(value, day):  # type: ignore[no-untyped-def]
        return labs.record_result(
            session,
            w["psych"],
            w["pid"],
            labs.ResultIn("751-8", str(value), value, "/uL", datetime(2026, 2, day, 9, tzinfo=UTC)),
            clock=CLOCK,
        )

    assert anc(1200, 1).alert.code == "anc.mild"
    # only the plan's prescriber: another psychiatrist on the team with consent is refused; outsiders see nothing
    other_user = make_user(session, settings, Role.PSYCHIATRIST)
    join_team(session, w["pid"], other_user)
    consent.grant(
        session,
        w["patient"],
        w["pid"],
        consent.GrantIn(grantee_user_id=other_user.id, care_team=False, categories=("medications",)),
        clock=CLOCK,
    )
    with pytest.raises(labs.NotThePrescriber):
        labs.set_ben(session, identity.actor_for(session, other_user), plan.id, ben=True, clock=CLOCK)
    with pytest.raises(NotFound):
        labs.set_ben(session, w["outsider"], plan.id, ben=True, clock=CLOCK)
    updated = labs.set_ben(session, w["psych"], plan.id, ben=True, clock=CLOCK)
    assert updated.ben is True
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "monitoring.ben_changed", AuditEvent.outcome == "success")
        )
        == 1
    )
    later = anc(1200, 3)
    assert later.alert is None or later.alert.severity == "info"  # ≥ 1,000: not neutropenia in BEN
    assert later.classification.code != "anc.mild"
    assert anc(900, 5).alert.severity == "critical"  # below 1,000 the general rule applies (UNVERIFIED)

    _lrx, lithium = start(session, w, "lithium")
    with pytest.raises(InvalidInput):
        labs.set_ben(session, w["psych"], lithium.id, ben=True, clock=CLOCK)


def test_monitoring_continues_past_the_horizon(session, w):
    """Orders were generated to 24 months and never extended. The worker pass extends a plan nearing its end,
    continuing the same series, and does it once."""
    _rx, plan = start(session, w, started_on=date(2026, 1, 5))
    horizon = date(2028, 1, 5)
    orders = lambda: session.scalars(select(LabOrder).where(LabOrder.plan_id == plan.id)).all()  # noqa: E731
    assert max(o.due_on for o in orders()) == horizon
    assert labs.extend_due_plans(session, clock=CLOCK) == 0  # far from the horizon: nothing yet

    late = FixedClock(datetime(2027, 11, 1, 12, tzinfo=UTC))
    added = labs.extend_due_plans(session, clock=late)
    assert added > 0
    assert labs.extend_due_plans(session, clock=late) == 0  # once
    levels = sorted(o.due_on for o in orders() if o.protocol_item == "lithium.level" and o.due_on > horizon)
    assert levels[:2] == [date(2028, 7, 5), date(2029, 1, 5)]
    assert all(o.reason == "schedule" and o.status == "ordered" for o in orders() if o.due_on > horizon)
    assert len({(o.protocol_item, o.due_on) for o in orders()}) == len(orders())  # no duplicates

    # years later the plan still has a next due item after "today"
    much_later = FixedClock(datetime(2031, 3, 1, 12, tzinfo=UTC))
    labs.extend_due_plans(session, clock=much_later)
    assert any(o.due_on > much_later.now().date() for o in orders() if o.status == "ordered")
    events = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "monitoring.extended")
    ).all()
    assert len(events) == 2

    # a stopped plan is not extended
    labs.stop_monitoring(session, prescription_id=plan.prescription_id, actor=w["psych"], clock=CLOCK)
    assert labs.extend_due_plans(session, clock=FixedClock(datetime(2034, 1, 1, tzinfo=UTC))) == 0
    assert session.get(MonitoringPlan, plan.id).status == "stopped"


@pytest.fixture
def cli_env(databases, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """As tests/integration/test_cli.py: the CLI runs against a fresh database of the chosen backend."""
    engine = databases.engine(migrate=False)
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("CAREWEAVE_DATABASE_URL", url)
    monkeypatch.setenv("CAREWEAVE_DATA_DIR", str(tmp_path))
    return url


def test_cli_labs_ingest(cli_env, tmp_path, settings):  # type: ignore[no-untyped-def]
    """`careweave labs ingest FILE`: the ACK on success, the same ACK (nothing stored twice) on a repeat, exit 1
    naming the field for a malformed or two-patient message. `careweave worker --once` extends a plan nearing its
    horizon."""
    from datetime import timedelta

    from typer.testing import CliRunner

    import careweave.db.all_models  # noqa: F401
    from careweave.cli import app
    from careweave.db.engine import make_engine, make_sessionmaker
    from careweave.db.uow import unit_of_work

    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    engine = make_engine(cli_env)
    factory = make_sessionmaker(engine)
    started = date.today() - timedelta(days=700)  # about 23 months ago: the 24-month horizon is near
    with unit_of_work(factory) as s:
        ana = make_user(s, settings, Role.PATIENT, state="NY")
        psych_user = make_user(s, settings, Role.PSYCHIATRIST)
        pid = identity.actor_for(s, ana).patient_id
        join_team(s, pid, psych_user)
        rx = make_prescription(s, patient_id=pid, prescriber=psych_user, started_on=started)
        plan_id = labs.start_monitoring(
            s,
            prescription_id=rx.id,
            patient_id=pid,
            protocol="lithium",
            started_on=started,
            actor=identity.actor_for(s, psych_user),
        ).id
        other = identity.actor_for(s, make_user(s, settings, Role.PATIENT, state="NY")).patient_id

    good = tmp_path / "lithium.hl7"
    good.write_text(sample("oru_r01_lithium.hl7", pid))
    r = runner.invoke(app, ["labs", "ingest", str(good)])
    assert r.exit_code == 0, r.output
    assert "MSA|AA|LI-0001|1 result(s) stored" in r.output
    again = runner.invoke(app, ["labs", "ingest", str(good)])
    assert again.exit_code == 0 and "already received" in again.output

    bad = tmp_path / "bad.hl7"
    bad.write_text(sample("oru_r01_malformed_value.hl7", pid))
    r = runner.invoke(app, ["labs", "ingest", str(bad)])
    assert r.exit_code == 1 and "OBX[1]-5" in r.output
    two = tmp_path / "two.hl7"
    two.write_text(two_patient_message(pid, other).replace("LI-0001", "LI-0002"))
    r = runner.invoke(app, ["labs", "ingest", str(two)])
    assert r.exit_code == 1 and "one patient per message" in r.output
    with unit_of_work(factory) as s:
        assert count(s, LabResult) == 1 and count(s, LabMessage) == 1
        assert s.scalars(select(LabResult.patient_id)).all() == [pid]
        horizon = s.scalar(select(func.max(LabOrder.due_on)).where(LabOrder.plan_id == plan_id))

    r = runner.invoke(app, ["worker", "--once"])
    assert r.exit_code == 0, r.output
    with unit_of_work(factory) as s:
        extended = s.scalar(select(func.max(LabOrder.due_on)).where(LabOrder.plan_id == plan_id))
    assert extended > horizon
    engine.dispose()
