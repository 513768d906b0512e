"""What the FHIR routes share: the media type and base URL of their answers, the searchset Bundle a search
answers with, and the patient a search is about."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from careweave.core.errors import FieldError, InvalidInput

FHIR_JSON = "application/fhir+json"


def fhir_base(request: Request) -> str:
    """The /fhir root as the client reached it (fullUrls, canonical URLs, Location)."""
    return str(request.base_url).rstrip("/") + "/fhir"


def fhir_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def searchset(
    self_url: str, base: str, resources: list[dict[str, Any]], *, total: int | None = None
) -> dict[str, Any]:
    """A ``searchset`` Bundle of ``resources`` (each with ``resourceType`` and ``id``), every entry a match, its
    ``fullUrl`` under ``base`` (the /fhir root); ``self_url``: the search as asked; ``total``: every match when a
    page (``_count``) holds fewer (default: the resources given)."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources) if total is None else total,
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {
                "fullUrl": f"{base}/{res['resourceType']}/{res['id']}",
                "resource": res,
                "search": {"mode": "match"},
            }
            for res in resources
        ],
    }


def patient_id(subject: str | None, patient: str | None) -> uuid.UUID:
    """The patient of a search: ``patient=<id>`` or ``subject=Patient/<id>``; else 422 naming ``patient``."""
    raw = patient or (subject.removeprefix("Patient/") if subject else None)
    try:
        return uuid.UUID(raw or "")
    except ValueError as exc:
        raise InvalidInput(
            "Search by patient: ?patient=<id> or ?subject=Patient/<id>.",
            fields=[FieldError("patient", "a Patient id is required")],
        ) from exc
