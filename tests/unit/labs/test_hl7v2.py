"""HL7 v2 ORU^R01 parsing (labs.hl7v2, pure): one patient per message, finite numbers, each OBX's time from its
own order group."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from careweave.labs import hl7v2

ANA = uuid.UUID("11111111-1111-4111-8111-111111111111")
BOB = uuid.UUID("22222222-2222-4222-8222-222222222222")
MSH = "MSH|^~\\&|RIVERLAB|RIVERBEND LAB|CAREWEAVE|RIVERBEND|20260209091500||ORU^R01^ORU_R01|T-1|P|2.5.1"
LITHIUM = "14334-7^Lithium [Moles/volume] in Serum or Plasma^LN"


def group(pid: uuid.UUID, value: str, obr_time: str = "20260209080000", obx_time: str = "") -> list[str]:
    return [
        f"PID|1||{pid}^^^CAREWEAVE^PI||Testpatient^X",
        f"OBR|1|ORD|LAB|{LITHIUM}|||{obr_time}",
        f"OBX|1|NM|{LITHIUM}||{value}|mmol/L|0.6-1.2||||F|||{obx_time}",
    ]


def message(*lines: str) -> str:
    return "\r".join([MSH, *lines])


def test_two_patient_groups_are_refused_whole():
    """ORU^R01 with PID(ana)…OBX, PID(bob)…OBX: never file bob's lithium on ana."""
    with pytest.raises(hl7v2.Hl7Error) as err:
        hl7v2.parse_oru(message(*group(ANA, "0.7"), *group(BOB, "1.9")))
    assert err.value.where == "PID"
    assert "one patient per message" in err.value.message


def test_one_patient_still_parses():
    parsed = hl7v2.parse_oru(message(*group(ANA, "0.7")))
    assert parsed.careweave_patient_id() == ANA
    assert [o.value for o in parsed.observations] == [0.7]


def test_obx_before_pid_is_refused():
    lines = group(ANA, "0.7")
    with pytest.raises(hl7v2.Hl7Error) as err:
        hl7v2.parse_oru(message(lines[2], *lines))
    assert err.value.where == "OBX[1]"


@pytest.mark.parametrize("bad", ["NaN", "nan", "inf", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(hl7v2.Hl7Error) as err:
        hl7v2.parse_oru(message(*group(ANA, bad)))
    assert err.value.where == "OBX[1]-5"


def test_each_obx_takes_the_time_of_its_own_order():
    first = group(ANA, "0.7", obr_time="20260201080000")
    second = [
        "OBR|2|ORD2|LAB2|" + LITHIUM + "|||20260209080000",
        f"OBX|2|NM|{LITHIUM}||0.8|mmol/L|0.6-1.2||||F",
    ]
    parsed = hl7v2.parse_oru(message(*first, *second))
    assert [o.observed_at for o in parsed.observations] == [
        datetime(2026, 2, 1, 8, tzinfo=UTC),
        datetime(2026, 2, 9, 8, tzinfo=UTC),
    ]
