"""fhir.appointment.requested_change: what a PUT of an Appointment asks of the scheduling service (pure)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from careweave.core.errors import Conflict, InvalidInput
from careweave.fhir.appointment import Change, requested_change

START = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@dataclass
class Visit:
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    patient_id: uuid.UUID = field(default_factory=uuid.uuid4)
    provider_id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: str = "booked"
    start_at: datetime = START
    end_at: datetime = START
    created_at: datetime = START
    cancel_reason: str | None = None


def _body(v: Visit, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "resourceType": "Appointment",
        "id": str(v.id),
        "status": "booked",
        "start": "2026-12-07T15:00:00Z",
        "appointmentType": {"text": "Therapy session"},
        "participant": [
            {"actor": {"reference": f"Patient/{v.patient_id}"}},
            {"actor": {"reference": f"Practitioner/{v.provider_id}"}},
        ],
    }
    return body | changes


NAMES = frozenset({"therapy_session", "Therapy session"})


def test_each_change_a_put_can_ask() -> None:
    v = Visit()
    assert requested_change(v, _body(v), visit_type_names=NAMES) == Change("none")
    # the same instant in another offset is no move
    assert requested_change(v, _body(v, start="2026-12-07T10:00:00-05:00")) == Change("none")
    moved = requested_change(v, _body(v, start="2026-12-07T17:00:00Z"))
    assert moved == Change("reschedule", start=datetime(2026, 12, 7, 17, 0, tzinfo=UTC))
    coded = {"coding": [{"code": "pat", "display": "Patient request"}]}
    assert requested_change(v, _body(v, status="cancelled", cancelationReason=coded)) == Change(
        "cancel", reason="Patient request"
    )
    assert requested_change(v, _body(v, status="cancelled")) == Change("cancel")
    assert requested_change(v, _body(v, status="noshow")) == Change("no_show")
    assert requested_change(v, _body(v, status="fulfilled")) == Change("complete")
    # a minimal body: no participants, type or start named
    assert requested_change(v, {"resourceType": "Appointment", "status": "cancelled"}) == Change("cancel")
    by_code = _body(v, appointmentType={"coding": [{"code": "therapy_session"}]})
    assert requested_change(v, by_code, visit_type_names=NAMES) == Change("none")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"resourceType": "Slot"}, "resourceType"),
        ({"id": "another"}, "id"),
        ({"status": "arrived"}, "status"),
        ({"status": None}, "status"),
        ({"participant": "everyone"}, "participant"),
        ({"participant": [{"actor": {"reference": f"Patient/{uuid.uuid4()}"}}]}, "participant"),
        ({"appointmentType": {"text": "Psychiatric evaluation"}}, "appointmentType"),
        ({"start": "2026-12-07T15:00:00"}, "start"),
        ({"start": 20261207}, "start"),
        ({"status": "cancelled", "start": "2026-12-08T15:00:00Z"}, "start"),
        ({"status": "cancelled", "cancelationReason": {"text": "x\x00"}}, "cancelationReason"),
    ],
)
def test_what_a_put_cannot_ask_names_the_field(changes: dict[str, object], field: str) -> None:
    v = Visit()
    with pytest.raises(InvalidInput) as exc:
        requested_change(v, _body(v, **changes), visit_type_names=NAMES)
    assert [f.field for f in exc.value.fields] == [field]


def test_a_visit_that_is_over_cannot_be_booked_again() -> None:
    v = Visit(status="cancelled")
    assert requested_change(v, _body(v, status="cancelled")) == Change("none")
    with pytest.raises(Conflict):
        requested_change(v, _body(v))
    with pytest.raises(InvalidInput):
        requested_change(v, [1, 2])
