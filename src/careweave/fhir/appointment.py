"""Visits as FHIR R4 ``Appointment`` (clinical-spec.md §8.4). Pure mapping, no I/O.

- ``status``: booked → ``booked``, completed → ``fulfilled``, no-show → ``noshow``, cancelled → ``cancelled``
  (hl7.org/fhir/R4/codesystem-appointmentstatus.html).
- ``participant``: the patient (``Patient/<id>``) and the clinician (``Practitioner/<directory provider id>``),
  both ``accepted`` and ``required`` (a booked visit is agreed by both).
- ``start``/``end`` as instants (UTC), ``minutesDuration``, ``created``; ``appointmentType`` text: the visit type;
  ``serviceCategory`` text: therapy or medication management; ``cancelationReason`` text when given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

STATUS = {"booked": "booked", "completed": "fulfilled", "no_show": "noshow", "cancelled": "cancelled"}


class AppointmentLike(Protocol):
    id: Any
    patient_id: Any
    provider_id: Any
    status: str
    start_at: datetime
    end_at: datetime
    created_at: datetime
    cancel_reason: str | None


def instant(moment: datetime) -> str:
    """An instant in UTC with ``Z`` (Appointment, Slot, Schedule)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def appointment(
    appt: AppointmentLike,
    *,
    visit_type_name: str,
    service: str,
    patient_display: str | None = None,
    practitioner_display: str | None = None,
) -> dict[str, Any]:
    """The Appointment resource of one visit (``service``: the visit type's service, therapy or
    medication_management)."""
    patient: dict[str, Any] = {"reference": f"Patient/{appt.patient_id}"}
    if patient_display:
        patient["display"] = patient_display
    practitioner: dict[str, Any] = {"reference": f"Practitioner/{appt.provider_id}"}
    if practitioner_display:
        practitioner["display"] = practitioner_display
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(appt.id),
        "status": STATUS.get(appt.status, "entered-in-error"),
        "serviceCategory": [{"text": service.replace("_", " ")}],
        "appointmentType": {"text": visit_type_name},
        "start": instant(appt.start_at),
        "end": instant(appt.end_at),
        "minutesDuration": int((appt.end_at - appt.start_at).total_seconds() // 60),
        "created": instant(appt.created_at),
        "participant": [
            {"actor": patient, "required": "required", "status": "accepted"},
            {"actor": practitioner, "required": "required", "status": "accepted"},
        ],
    }
    if appt.status == "cancelled" and appt.cancel_reason:
        resource["cancelationReason"] = {"text": appt.cancel_reason}
    return resource
