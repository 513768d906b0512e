"""FHIR R4 read and search of the provider directory as ``Practitioner`` (fhir/practitioner.py).

Access is the directory's: every authenticated user reads the public profile (directory.service.get_provider,
search_providers; an inactive provider only for directory administrators). MedicationRequest.requester points
here. Search: ``identifier`` (``http://hl7.org/fhir/sid/us-npi|<npi>`` or the NPI alone) or ``name`` (part of the
name), ``_count`` (at most 100). Errors are OperationOutcomes (careweave.errors, for every path under /fhir).

Included into the /fhir router by careweave.fhir.api.
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from careweave.core.errors import FieldError, InvalidInput, NotFound
from careweave.core.text import NO_NUL
from careweave.deps import CurrentActor, DbSession
from careweave.directory import repository as directory_repo
from careweave.directory import rules
from careweave.directory import service as directory
from careweave.fhir import practitioner as fhir_practitioner
from careweave.fhir.search import fhir_base, fhir_response, searchset

router = APIRouter(tags=["fhir"], include_in_schema=False)


@functools.cache
def _compact_names() -> dict[str, str]:
    """Compact code → name, from the rule data (loaded once per process)."""
    return {code: spec.name for code, spec in rules.default_rules().data.compacts.items()}


def _resource(view: directory.ProviderView, base: str) -> dict[str, Any]:
    return fhir_practitioner.practitioner(
        view.provider,
        licences=view.licenses,
        privileges=view.compact_privileges,
        languages=view.languages,
        compact_names=_compact_names(),
        canonical_base=base,
    )


def _npi(identifier: str) -> str:
    system, sep, value = identifier.rpartition("|")
    if sep and system not in ("", fhir_practitioner.NPI_SYSTEM):
        raise InvalidInput(
            "Only NPIs are searchable: identifier=http://hl7.org/fhir/sid/us-npi|<npi>.",
            fields=[FieldError("identifier", f"system must be {fhir_practitioner.NPI_SYSTEM}")],
        )
    if not (value.isdigit() and len(value) == 10):
        raise InvalidInput("An NPI has 10 digits.", fields=[FieldError("identifier", "an NPI has 10 digits")])
    return value


@router.get("/Practitioner/{provider_id}")
def read_practitioner(
    request: Request, provider_id: uuid.UUID, actor: CurrentActor, session: DbSession
) -> JSONResponse:
    view = directory.get_provider(session, actor, provider_id)
    return fhir_response(_resource(view, fhir_base(request)))


@router.get("/Practitioner")
def search_practitioners(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    identifier: Annotated[str | None, Query(max_length=80, pattern=NO_NUL)] = None,
    name: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=100)] = 50,
) -> JSONResponse:
    if identifier is None and not name:
        raise InvalidInput(
            "Search by identifier (NPI) or name.",
            fields=[FieldError("identifier", "an NPI, or give name")],
        )
    total: int | None = None
    if identifier is not None:
        npi = _npi(identifier)
        found = directory_repo.provider_by_npi(session, npi)
        views = []
        if found is not None and found.is_active:  # as search_providers: active providers only
            view = directory.get_provider(session, actor, found.id)
            if not name or name.casefold() in view.provider.name.casefold():
                views = [view]
    else:
        views, total = directory.search_providers(session, actor, query=name, limit=count)
    base = fhir_base(request)
    resources = [_resource(v, base) for v in views]
    return fhir_response(searchset(str(request.url), base, resources, total=total))


def _role(view: directory.ProviderView) -> dict[str, Any]:
    return fhir_practitioner.practitioner_role(view.provider, states=view.states, conditions=view.conditions)


@router.get("/PractitionerRole/{provider_id}")
def read_practitioner_role(provider_id: uuid.UUID, actor: CurrentActor, session: DbSession) -> JSONResponse:
    return fhir_response(_role(directory.get_provider(session, actor, provider_id)))


@router.get("/PractitionerRole")
def search_practitioner_roles(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    practitioner: Annotated[str | None, Query(max_length=80)] = None,
) -> JSONResponse:
    try:
        provider_id = uuid.UUID((practitioner or "").removeprefix("Practitioner/"))
    except ValueError:
        raise InvalidInput(
            "Search by practitioner: ?practitioner=Practitioner/<id>.",
            fields=[FieldError("practitioner", "Practitioner/<id> is required")],
        ) from None
    try:
        resources = [_role(directory.get_provider(session, actor, provider_id))]
    except NotFound:  # a search finds nothing rather than failing
        resources = []
    return fhir_response(searchset(str(request.url), fhir_base(request), resources))
