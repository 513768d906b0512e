"""HL7 v2 ORU^R01 (unsolicited observation result) parsing and ACK building with python-hl7: pure, no I/O.

What Careweave reads (docs/labs.md, "HL7 v2 mapping"):

- MSH-9 must be ``ORU^R01``; MSH-10 (control id) and MSH-3/MSH-4 (sending application/facility) identify the
  message, so a message sent twice is stored once;
- exactly one PID (one patient per message: a second patient group is refused, never filed on the first);
- PID-3: the patient's **Careweave patient id** (a UUID, printed on the requisition), in any repetition whose
  assigning authority (PID-3.4) is ``CAREWEAVE`` or whose value is a UUID;
- each OBX: OBX-3 with a LOINC code (coding system ``LN`` in OBX-3.3, or in the alternate triplet OBX-3.4/3.6),
  OBX-2 value type (``NM`` values must be numbers), OBX-5 value, OBX-6 unit, OBX-7 reference range, OBX-8
  abnormal flag, OBX-11 result status (only ``F`` final and ``C`` corrected are stored), OBX-14 observation
  time (else OBR-7 of the OBX's own order group); a time without an offset is read as UTC.

Any problem raises :class:`Hl7Error` naming the segment and field (``OBX[2]-5``): the caller stores nothing.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import hl7

STORED_STATUSES = frozenset({"F", "C"})
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
MAX_LENGTH = 200_000


class Hl7Error(ValueError):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True, slots=True)
class Observation:
    index: int  # 1-based position among the OBX segments
    loinc: str
    display: str
    value_type: str
    value_text: str
    value: float | None
    unit: str | None
    reference_range: str | None
    abnormal_flag: str | None
    status: str
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class OruMessage:
    control_id: str
    sender: str
    message_type: str
    patient_ids: list[tuple[str, str]]  # (value, assigning authority)
    observations: list[Observation]
    skipped: int  # OBX segments not final/corrected
    message: Any  # the hl7.Message, for the ACK

    def careweave_patient_id(self) -> uuid.UUID:
        for value, authority in self.patient_ids:
            if authority.upper() == "CAREWEAVE" or UUID_RE.match(value):
                try:
                    return uuid.UUID(value)
                except ValueError:
                    raise Hl7Error("PID-3", f"identifier {value!r} is not a Careweave patient id") from None
        raise Hl7Error("PID-3", "no Careweave patient id (assigning authority CAREWEAVE, or a UUID)")


def _field(seg: Any, field: int, component: int = 1, repeat: int = 1) -> str:
    try:
        return str(seg.extract_field(1, field, repeat, component)).strip()
    except IndexError:
        return ""


def _time(value: str, where: str) -> datetime:
    try:
        parsed: datetime = hl7.parse_datetime(value)
    except (ValueError, TypeError):
        raise Hl7Error(where, f"{value!r} is not an HL7 date/time (YYYYMMDDHHMM[SS][+/-ZZZZ])") from None
    if parsed is None:
        raise Hl7Error(where, "missing date/time")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _loinc(obx: Any, where: str) -> tuple[str, str]:
    for code_c, text_c, system_c in ((1, 2, 3), (4, 5, 6)):
        if _field(obx, 3, system_c).upper() == "LN" and _field(obx, 3, code_c):
            return _field(obx, 3, code_c), _field(obx, 3, text_c)
    raise Hl7Error(where, "no LOINC code (an identifier with coding system LN in OBX-3.1–3 or OBX-3.4–6)")


def parse_oru(text: str) -> OruMessage:
    if len(text) > MAX_LENGTH:
        raise Hl7Error("MSH", f"message longer than {MAX_LENGTH} characters")
    clean = text.replace("\r\n", "\r").replace("\n", "\r").strip().lstrip("\x0b").rstrip("\x1c")
    if not clean.startswith("MSH") or len(clean) < 8:
        raise Hl7Error("MSH", "the message must start with an MSH segment")
    try:
        msg = hl7.parse(clean)
    except (hl7.ParseException, IndexError, ValueError) as exc:
        raise Hl7Error("MSH", f"not an HL7 v2 message ({exc})") from None
    msh = msg.segment("MSH")
    kind, event = _field(msh, 9, 1), _field(msh, 9, 2)
    if (kind, event) != ("ORU", "R01"):
        raise Hl7Error("MSH-9", f"message type must be ORU^R01, not {kind or '(empty)'}^{event}")
    control_id = _field(msh, 10)
    if not control_id:
        raise Hl7Error("MSH-10", "missing message control id")
    if len(control_id) > 64:
        raise Hl7Error("MSH-10", "message control id longer than 64 characters")
    sender = f"{_field(msh, 3)}^{_field(msh, 4)}"[:200]
    # One patient per message: every result lands on the patient PID-3 names, so a message with a second patient
    # group (PID ... OBX, PID ... OBX) is refused whole rather than filing the second patient's results on the
    # first. Segments are read in order: each OBX takes its time from the OBR of its own order group.
    pids = [seg for seg in msg if str(seg[0]) == "PID"]
    if not pids:
        raise Hl7Error("PID", "missing PID segment")
    if len(pids) > 1:
        raise Hl7Error(
            "PID",
            f"one patient per message: this message has {len(pids)} PID segments; send one message per patient",
        )
    pid = pids[0]
    ids: list[tuple[str, str]] = []
    for rep in range(1, 21):
        try:
            value = str(pid.extract_field(1, 3, rep, 1)).strip()
        except IndexError:
            break
        if value:
            ids.append((value, _field(pid, 3, 4, rep)))
    if not ids:
        raise Hl7Error("PID-3", "missing patient identifier")
    segments: list[tuple[Any, str, str]] = []  # (OBX, its OBR-7, where that time came from)
    seen_pid = False
    obr_time, obr_where, obr_n = "", "OBR-7", 0
    for seg in msg:
        kind_ = str(seg[0])
        if kind_ == "PID":
            seen_pid = True
        elif kind_ == "OBR":
            obr_n += 1
            obr_time, obr_where = _field(seg, 7), f"OBR[{obr_n}]-7" if obr_n > 1 else "OBR-7"
        elif kind_ == "OBX":
            if not seen_pid:
                raise Hl7Error(f"OBX[{len(segments) + 1}]", "an OBX segment before the PID segment")
            segments.append((seg, obr_time, obr_where))
    if not segments:
        raise Hl7Error("OBX", "no OBX segment: nothing to store")
    observations: list[Observation] = []
    skipped = 0
    for i, (obx, obr_time, obr_where) in enumerate(segments, start=1):
        where = f"OBX[{i}]"
        status = _field(obx, 11).upper()
        if status not in STORED_STATUSES:
            skipped += 1
            continue
        loinc, display = _loinc(obx, f"{where}-3")
        value_type = _field(obx, 2).upper()
        value_text = _field(obx, 5)
        if not value_text:
            raise Hl7Error(f"{where}-5", "missing observation value")
        value: float | None = None
        if value_type == "NM":
            try:
                value = float(value_text)
            except ValueError:
                raise Hl7Error(f"{where}-5", f"{value_text!r} is not a number (OBX-2 is NM)") from None
            if not math.isfinite(value):
                raise Hl7Error(f"{where}-5", f"{value_text!r} is not a finite number (OBX-2 is NM)")
        when = _field(obx, 14)
        observed_at = _time(when, f"{where}-14") if when else None
        if observed_at is None:
            if not obr_time:
                raise Hl7Error(f"{where}-14", "missing observation time (OBX-14, or OBR-7)")
            observed_at = _time(obr_time, obr_where)
        observations.append(
            Observation(
                index=i,
                loinc=loinc[:20],
                display=display[:200],
                value_type=value_type,
                value_text=value_text[:200],
                value=value,
                unit=_field(obx, 6)[:40] or None,
                reference_range=_field(obx, 7)[:60] or None,
                abnormal_flag=_field(obx, 8)[:5] or None,
                status=status,
                observed_at=observed_at,
            )
        )
    if not observations:
        raise Hl7Error("OBX-11", "no final (F) or corrected (C) result in the message")
    return OruMessage(control_id, sender, f"{kind}^{event}", ids, observations, skipped, msg)


def _plain(text: str) -> str:
    """Free text for MSA-3 without HL7 delimiters."""
    return "".join(" " if ch in "|^~\\&\r\n" else ch for ch in text)[:80]


def ack(message: OruMessage, *, code: str, now: datetime, text: str = "") -> str:
    """The ACK (MSH + MSA) for ``message``: AA accepted, AE error, AR rejected; ER7 with CR segment ends."""
    reply = message.message.create_ack(code, message_id=f"ACK{message.control_id}"[:64])
    reply.segment("MSH").assign_field(now.astimezone(UTC).strftime("%Y%m%d%H%M%S"), 7)
    if text:
        reply.segment("MSA").assign_field(_plain(text), 3)
    return str(reply)


def ack_for_error(text: str, error: Hl7Error, *, now: datetime) -> str | None:
    """An AE/AR ACK for a message that could not be processed, when its MSH can be read at all."""
    clean = text.replace("\r\n", "\r").replace("\n", "\r").strip()
    try:
        msg = hl7.parse(clean)
        msh = msg.segment("MSH")
        reply = msg.create_ack(
            "AR" if error.where.startswith("MSH") else "AE", message_id="ACK" + _field(msh, 10)
        )
    except Exception:  # the message is unreadable: no ACK can be addressed
        return None
    reply.segment("MSH").assign_field(now.astimezone(UTC).strftime("%Y%m%d%H%M%S"), 7)
    reply.segment("MSA").assign_field(_plain(f"{error.where}: {error.message}"), 3)
    return str(reply)
