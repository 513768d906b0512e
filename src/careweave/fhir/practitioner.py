"""Directory providers as FHIR R4 ``Practitioner`` (clinical-spec.md §8.3). Pure mapping, no I/O.

- ``identifier``: the NPI (``http://hl7.org/fhir/sid/us-npi``) when recorded.
- ``qualification``: each active state licence (``code``: the licence type, ``identifier``: its number,
  ``issuer``: the state's licensing board, ``period``: issue to expiry) and each active interstate compact
  privilege (issuer: the compact's commission). The spec leaves open whether HL7 v2-0360 covers state licence
  types such as LCSW or LMFT ("[verify v2-0360 coverage]"), so codes come from a local code system
  (``<base>/CodeSystem/credential``), with the type as ``text``; nothing is claimed in v2-0360.
- ``communication``: the languages spoken, as BCP 47 codes (``urn:ietf:bcp:47``) when they are codes.
- ``gender``: FHIR administrative gender (``nonbinary`` is ``other``).

DEA registrations are not qualifications here (a registration number is not published in a directory).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
NUCC_SYSTEM = "http://nucc.org/provider-taxonomy"
BCP47 = "urn:ietf:bcp:47"
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
_GENDER = {"female": "female", "male": "male", "nonbinary": "other"}


class ProviderLike(Protocol):
    id: Any
    name: str
    npi: str | None
    credential: str
    gender: str | None
    is_active: bool


class RoleProviderLike(ProviderLike, Protocol):
    taxonomy_code: str | None
    offers_therapy: bool
    offers_medication_management: bool
    accepting_new_patients: bool


class LicenceLike(Protocol):
    state: str
    license_type: str
    number: str
    status: str
    issued: date | None
    expires: date | None


class PrivilegeLike(Protocol):
    compact: str
    state: str
    status: str
    issued: date | None
    expires: date | None


def _period(start: date | None, end: date | None) -> dict[str, str]:
    period = {}
    if start is not None:
        period["start"] = start.isoformat()
    if end is not None:
        period["end"] = end.isoformat()
    return period


def practitioner(
    provider: ProviderLike,
    *,
    licences: Iterable[LicenceLike],
    privileges: Iterable[PrivilegeLike],
    languages: Iterable[str],
    compact_names: dict[str, str],
    canonical_base: str,
) -> dict[str, Any]:
    """The Practitioner resource of one directory provider (``compact_names``: compact code → its name)."""
    credential_system = f"{canonical_base}/CodeSystem/credential"
    qualifications: list[dict[str, Any]] = []
    for lic in sorted(licences, key=lambda x: (x.state, x.license_type, x.number)):
        if lic.status != "active":
            continue
        q: dict[str, Any] = {
            "identifier": [{"value": lic.number}],
            "code": {
                "coding": [{"system": credential_system, "code": lic.license_type}],
                "text": f"{lic.license_type} licence, {lic.state}",
            },
            "issuer": {"display": f"{lic.state} state licensing board"},
        }
        if period := _period(lic.issued, lic.expires):
            q["period"] = period
        qualifications.append(q)
    for p in sorted(privileges, key=lambda x: (x.compact, x.state)):
        if p.status != "active":
            continue
        name = compact_names.get(p.compact.upper(), p.compact)
        q = {
            "code": {
                "coding": [{"system": f"{canonical_base}/CodeSystem/compact", "code": p.compact.upper()}],
                "text": f"{name} privilege, {p.state}",
            },
            "issuer": {"display": name},
        }
        if period := _period(p.issued, p.expires):
            q["period"] = period
        qualifications.append(q)
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": str(provider.id),
        "active": bool(provider.is_active),
        "name": [{"text": provider.name}],
    }
    if provider.npi:
        resource["identifier"] = [{"system": NPI_SYSTEM, "value": provider.npi}]
    if provider.gender in _GENDER:
        resource["gender"] = _GENDER[provider.gender]
    if qualifications:
        resource["qualification"] = qualifications
    communication = [
        {"coding": [{"system": BCP47, "code": lang}]} if _LANGUAGE_CODE.match(lang) else {"text": lang}
        for lang in sorted(set(languages))
    ]
    if communication:
        resource["communication"] = communication
    return resource


def practitioner_role(
    provider: RoleProviderLike, *, states: Iterable[str], conditions: Iterable[str]
) -> dict[str, Any]:
    """The PractitionerRole of one directory provider (spec §8.3; one role per provider, same id as the
    Practitioner). ``code``: the NUCC taxonomy recorded for them (``http://nucc.org/provider-taxonomy``), then what
    they offer (therapy, medication management) as text; ``specialty``: the conditions they treat, as text;
    ``availabilityExceptions``: whether they accept new patients and the states of their active licences, as text
    (no invented extensions)."""
    offers = [
        label
        for label, on in (
            ("therapy", provider.offers_therapy),
            ("medication management", provider.offers_medication_management),
        )
        if on
    ]
    code: list[dict[str, Any]] = []
    if provider.taxonomy_code:
        code.append({"coding": [{"system": NUCC_SYSTEM, "code": provider.taxonomy_code}]})
    code += [{"text": label} for label in offers]
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": str(provider.id),
        "active": bool(provider.is_active),
        "practitioner": {"reference": f"Practitioner/{provider.id}", "display": provider.name},
    }
    if code:
        resource["code"] = code
    specialty = [{"text": c} for c in sorted(set(conditions))]
    if specialty:
        resource["specialty"] = specialty
    licensed = sorted(set(states))
    notes = ["Accepting new patients." if provider.accepting_new_patients else "Not accepting new patients."]
    if licensed:
        notes.append("Licensed in " + ", ".join(licensed) + ".")
    resource["availabilityExceptions"] = " ".join(notes)
    return resource
