"""Labs and monitoring end to end on a real database (issue #7): monitoring started from a prescription, dated
orders, HL7 v2 ORU^R01 ingestion (tests/data/hl7/), matching to the order by patient and LOINC, alerts to the
prescriber with the protocol's next step (spec §6.4), dose changes, access and audit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from careweave.audit.models import AuditEvent
from careweave.core.actor import Actor, Role
from careweave.core.clock import FixedClock
from careweave.core.errors import InvalidInput, NotFound
from careweave.identity import service as identity
from careweave.labs import service as labs
from careweave.labs.models import LabMessage, LabOrder, LabResult
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
