"""Pharmacy adapters (issue #7). Sending a signed prescription goes through a :class:`PharmacyAdapter`; the
built-in :class:`PrintAdapter` writes a printable HTML page and a PDF (fpdf2) that the service stores in the
outbox. An e-prescribing network (NCPDP SCRIPT NewRx/RxRenewal through a certified vendor) plugs in as another
adapter: see docs/medications.md "Pharmacy adapters"."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PrescriptionDocument:
    """Everything a pharmacy needs, as plain values (no ORM objects cross the adapter boundary)."""

    prescription_id: str
    kind: str  # new | refill_authorization
    patient_name: str
    patient_birth_date: date | None
    patient_state: str
    prescriber_name: str
    prescriber_credential: str | None
    prescriber_npi: str | None
    dea_schedule: str | None
    drug: str
    rxcui: str | None
    strength: str
    form: str | None
    sig: str
    quantity: float
    refills: int
    days_supply: int
    pharmacy: str | None
    started_on: date
    signed_at: datetime | None
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class SendResult:
    status: str  # delivered (the pharmacy has it / it is printable) | queued (the network will confirm later)
    external_id: str | None = None
    html: str | None = None
    pdf: bytes | None = None


class PharmacyAdapter(Protocol):
    name: str

    def send(self, doc: PrescriptionDocument) -> SendResult: ...


def _lines(doc: PrescriptionDocument) -> list[tuple[str, str]]:
    born = doc.patient_birth_date.isoformat() if doc.patient_birth_date else "not recorded"
    prescriber = doc.prescriber_name + (f", {doc.prescriber_credential}" if doc.prescriber_credential else "")
    rows = [
        ("Prescription", f"{doc.prescription_id} ({doc.kind.replace('_', ' ')})"),
        ("Patient", f"{doc.patient_name}, born {born}, located in {doc.patient_state}"),
        ("Prescriber", prescriber + (f", NPI {doc.prescriber_npi}" if doc.prescriber_npi else "")),
        ("Medication", f"{doc.drug} {doc.strength}" + (f" {doc.form}" if doc.form else "")),
        ("RxNorm", doc.rxcui or "not coded"),
        ("Directions", doc.sig),
        ("Quantity", f"{doc.quantity:g}"),
        ("Refills", str(doc.refills)),
        ("Days' supply", str(doc.days_supply)),
        ("Start date", doc.started_on.isoformat()),
        ("Pharmacy", doc.pharmacy or "patient's choice"),
        ("Signed", doc.signed_at.isoformat(timespec="minutes") if doc.signed_at else "not signed"),
    ]
    if doc.dea_schedule:
        rows.insert(4, ("Controlled substance", f"Schedule {doc.dea_schedule}"))
    rows += [("Note", n) for n in doc.notes]
    return rows


def render_html(doc: PrescriptionDocument) -> str:
    body = "".join(
        f"<tr><th scope='row'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _lines(doc)
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Prescription</title></head>"
        f"<body><h1>Prescription</h1><table>{body}</table></body></html>"
    )


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def render_pdf(doc: PrescriptionDocument) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="Letter")
    pdf.set_creator("Careweave")
    pdf.set_title("Prescription")
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(0, 10, "Prescription", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for label, value in _lines(doc):
        pdf.set_font("Helvetica", style="B", size=11)
        pdf.cell(45, 7, _latin1(label))
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 7, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


class PrintAdapter:
    """Built-in: a printable HTML page and a PDF, stored in the outbox; the prescription counts as delivered."""

    name = "print"

    def send(self, doc: PrescriptionDocument) -> SendResult:
        return SendResult("delivered", None, render_html(doc), render_pdf(doc))


_default: PharmacyAdapter = PrintAdapter()


def default_adapter() -> PharmacyAdapter:
    return _default


def set_default_adapter(adapter: PharmacyAdapter) -> None:
    """Install another adapter (e.g. an NCPDP SCRIPT vendor's) at start-up."""
    global _default
    _default = adapter
