"""Visits as FHIR R4 ``Appointment`` (clinical-spec.md §8.4). Pure mapping, no I/O.

- ``status``: booked → ``booked``, completed → ``fulfilled``, no-show → ``noshow``, cancelled → ``cancelled``
  (hl7.org/fhir/R4/codesystem-appointmentstatus.html).
- ``participant``: the patient (``Patient/<id>``) and the clinician (``Practitioner/<directory provider id>``),
  both ``accepted`` and ``required`` (a booked visit is agreed by both).
- ``start``/``end`` as instants (UTC), ``minutesDuration``, ``created``; ``appointmentType`` text: the visit type;
  ``serviceCategory`` text: therapy or medication management; ``cancelationReason`` text when given.

An update (``requested_change``) reads a resource sent back with a new ``status`` (cancelled, noshow, fulfilled)
or a new ``start`` (booked: a reschedule) as the change it asks of the scheduling service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from careweave.core.errors import Conflict, FieldError, InvalidInput

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


# ------------------------------------------------------------------------------------------------------------
# Update (``PUT /fhir/Appointment/{id}``): an integrator sends the resource back with a new ``status`` or ``start``;
# what that asks of the scheduling service. Who takes part and the visit type cannot change (book a new visit).

_STATUS_BACK = {fhir: ours for ours, fhir in STATUS.items()}


@dataclass(frozen=True, slots=True)
class Change:
    """What an update asks: ``none`` (the same visit), ``cancel`` (with ``reason``), ``reschedule`` (to
    ``start``), ``no_show`` or ``complete``."""

    kind: Literal["none", "cancel", "reschedule", "no_show", "complete"]
    start: datetime | None = None
    reason: str | None = None


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields=[FieldError(field, message)])


def _actors(body: dict[str, Any], kind: str) -> list[str] | None:
    """The ``kind/<id>`` participants' ids, or None when the body has no participant list."""
    participants = body.get("participant")
    if participants is None:
        return None
    if not isinstance(participants, list):
        raise _bad("participant", "a list of participants")
    out = []
    for p in participants:
        actor = p.get("actor") if isinstance(p, dict) else None
        ref = actor.get("reference") if isinstance(actor, dict) else None
        if isinstance(ref, str) and ref.startswith(f"{kind}/"):
            out.append(ref.removeprefix(f"{kind}/"))
    return out


def _reason(body: dict[str, Any]) -> str | None:
    given = body.get("cancelationReason")
    if not isinstance(given, dict):
        return None
    text = given.get("text")
    if not isinstance(text, str):
        codings = given.get("coding")
        first = codings[0] if isinstance(codings, list) and codings and isinstance(codings[0], dict) else {}
        text = first.get("display") or first.get("code")
    if not isinstance(text, str) or not text.strip():
        return None
    if "\x00" in text:
        raise _bad("cancelationReason", "text without NUL characters")
    return text.strip()[:500]


def requested_change(
    appt: AppointmentLike, body: object, *, visit_type_names: frozenset[str] = frozenset()
) -> Change:
    """The change a ``PUT`` of ``body`` asks of ``appt`` (422 naming the field when it asks for something a visit
    cannot do). ``visit_type_names``: the visit type's code and name (an ``appointmentType`` must name one).
    ``end`` and ``minutesDuration`` follow from the visit type and are not read; the service refuses a
    transition its visit's status does not allow (409)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise _bad("resourceType", "must be Appointment")
    if "id" in body and body["id"] != str(appt.id):
        raise _bad("id", "must be the id in the URL")
    status = body.get("status")
    if not isinstance(status, str) or status not in _STATUS_BACK:
        raise _bad("status", f"one of {', '.join(sorted(_STATUS_BACK))}")
    target = _STATUS_BACK[status]
    for kind, have in (("Patient", appt.patient_id), ("Practitioner", appt.provider_id)):
        named = _actors(body, kind)
        if named is not None and named != [str(have)]:
            raise _bad("participant", f"the {kind} cannot change: book a new appointment")
    kind_of = body.get("appointmentType")
    if kind_of is not None and visit_type_names:
        codings = kind_of.get("coding") if isinstance(kind_of, dict) else None
        named_types = (
            {c.get("code") for c in codings if isinstance(c, dict)} if isinstance(codings, list) else set()
        )
        if isinstance(kind_of, dict) and isinstance(kind_of.get("text"), str):
            named_types.add(kind_of["text"])
        if not named_types & visit_type_names:
            raise _bad("appointmentType", "the visit type cannot change: book a new appointment")
    start = appt.start_at
    if "start" in body:
        raw = body["start"]
        try:
            start = datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None
        except ValueError:
            start = None
        if start is None or start.tzinfo is None:
            raise _bad("start", "an instant with its offset, e.g. 2026-12-01T15:00:00Z")
    moved = start != appt.start_at
    if moved and target != "booked":
        raise _bad("start", f"a {status} visit keeps its time: change the status or the start, not both")
    if target == appt.status:
        return Change("reschedule", start=start) if moved else Change("none")
    if target == "cancelled":
        return Change("cancel", reason=_reason(body))
    if target == "no_show":
        return Change("no_show")
    if target == "completed":
        return Change("complete")
    raise Conflict(f"This visit is {appt.status.replace('_', ' ')}; it cannot become booked again.")
