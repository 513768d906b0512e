"""Calendar invitations (RFC 5545 iCalendar, iTIP methods of RFC 5546) for appointments. Pure: no I/O.

One UID for the life of a visit (``appointment.ics_uid``); each change sent to attendees carries a higher
SEQUENCE (``appointment.ics_sequence``, raised by the scheduling service on reschedule and cancel), so calendar
programs update or remove the event they already hold instead of adding another.

No clinical content in what a calendar shows everywhere (SUMMARY): "Careweave video visit with …". The visit type
(e.g. "Therapy session") is only in the DESCRIPTION, as on the booking page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from icalendar import Calendar, Event, vCalAddress, vText

from careweave.scheduling.models import Appointment

PRODID = "-//Careweave//Careweave scheduling//EN"
DEFAULT_ORGANIZER = "no-reply@careweave.invalid"

Method = Literal["REQUEST", "CANCEL"]


def visit_url(base_url: str, appointment_id: object) -> str:
    return f"{base_url.rstrip('/')}/visits/{appointment_id}"


def appointment_ics(
    appointment: Appointment,
    *,
    provider_name: str,
    patient_name: str,
    visit_type_name: str,
    method: Method = "REQUEST",
    base_url: str,
    audience: Literal["patient", "clinician"] = "patient",
    organizer_email: str = DEFAULT_ORGANIZER,
    attendee_email: str | None = None,
    dtstamp: datetime | None = None,
) -> bytes:
    """The invitation (``REQUEST``) or cancellation (``CANCEL``) of one visit, as the bytes of a .ics file.

    ``audience`` picks the SUMMARY: the patient's calendar names the clinician, the clinician's names the
    patient. ``attendee_email`` is the recipient (iTIP needs an ATTENDEE; never put the other party's address
    in someone's invitation). ``dtstamp`` defaults to the appointment's last change.
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP method {method!r}")
    stamp = dtstamp or appointment.updated_at or appointment.created_at
    if stamp is None:
        raise ValueError("dtstamp is needed for an appointment that was never flushed")
    cancelled = method == "CANCEL" or appointment.status == "cancelled"
    url = visit_url(base_url, appointment.id)

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)

    event = Event()
    event.add("uid", appointment.ics_uid)
    event.add("sequence", appointment.ics_sequence)
    event.add("dtstamp", _utc(stamp))
    event.add("dtstart", _utc(appointment.start_at))
    event.add("dtend", _utc(appointment.end_at))
    other = provider_name if audience == "patient" else patient_name
    event.add("summary", f"Careweave video visit with {other}")
    event.add(
        "description",
        "\n".join(
            [
                f"Video visit: {visit_type_name}",
                f"Clinician: {provider_name}",
                f"Patient: {patient_name}",
                f"Join (after logging in to Careweave): {url}",
                f"Change or cancel: {base_url.rstrip('/')}/appointments",
            ]
        ),
    )
    event.add("location", url)
    event.add("url", url)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    organizer = vCalAddress(f"mailto:{organizer_email}")
    organizer.params["cn"] = vText("Careweave")
    event.add("organizer", organizer)
    if attendee_email:
        attendee = vCalAddress(f"mailto:{attendee_email}")
        attendee.params["cn"] = vText(patient_name if audience == "patient" else provider_name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = vText("ACCEPTED")
        event.add("attendee", attendee)
    cal.add_component(event)
    return bytes(cal.to_ical())


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime in an appointment")
    return value.astimezone(UTC)
