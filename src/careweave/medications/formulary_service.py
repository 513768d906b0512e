"""The formulary (issue #7): the packaged entries plus those administrators added, reading it (every use case
checks against it) and adding an entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput, PolicyDenied
from careweave.medications import rules
from careweave.medications.common import PrescribingUnavailable
from careweave.medications.models import FormularyEntry


def formulary(session: Session) -> rules.Formulary:
    """The packaged formulary plus the entries administrators added (raises CheckDataUnavailable if broken)."""
    base = rules.packaged_formulary()
    extra = [
        rules.parse_item(row.data, where=f"formulary entry {row.code}", origin="admin")
        for row in session.scalars(select(FormularyEntry).order_by(FormularyEntry.code))
    ]
    return base.with_items(extra)


def formulary_or_refuse(session: Session) -> tuple[rules.Formulary, rules.CheckRules]:
    """The formulary and the check rules, or PrescribingUnavailable (503) when either cannot be loaded."""
    try:
        return formulary(session), rules.load_check_rules()
    except rules.CheckDataUnavailable as exc:
        raise PrescribingUnavailable(
            "Prescribing is unavailable: the medication safety-check data could not be loaded "
            f"({exc}). Nothing was prescribed; contact the administrator."
        ) from exc


def list_formulary(session: Session, actor: Actor) -> list[rules.FormularyItem]:
    if actor.role is None and not actor.is_system:
        raise PolicyDenied("You do not have permission to do this.")
    return sorted(formulary(session).items.values(), key=lambda i: (i.drug_class, i.code))


def add_formulary_entry(
    session: Session, actor: Actor, data: dict[str, Any], *, clock: Clock
) -> rules.FormularyItem:
    """An administrator adds an entry (never replaces a packaged one). Same fields as data/formulary.json."""
    if actor.role is not Role.ADMIN:
        raise PolicyDenied("Only administrators can add formulary entries.")
    data = {**data, "code": str(data.get("code", "")).strip().lower()}
    errors = []
    if not data["code"] or not data["code"].replace("_", "").isalnum():
        errors.append(FieldError("code", "use letters, digits and underscores"))
    try:
        item = rules.parse_item(data, origin="admin")
    except rules.CheckDataUnavailable as exc:
        raise InvalidInput(
            "The formulary entry is not valid.", fields=[*errors, FieldError("body", str(exc))]
        ) from exc
    known = formulary(session)
    if known.get(item.code) is not None:
        errors.append(FieldError("code", "already in the formulary"))
    if item.rxcui and known.get(item.rxcui) is not None:
        errors.append(FieldError("rxcui", "already in the formulary"))
    if item.boxed_warnings and (unknown := [w for w in item.boxed_warnings if w not in known.boxed_warnings]):
        errors.append(FieldError("boxed_warnings", f"unknown: {', '.join(unknown)}"))
    if not item.sources:
        errors.append(FieldError("sources", "cite at least one source"))
    if errors:
        raise InvalidInput("The formulary entry is not valid.", fields=errors)
    row = FormularyEntry(
        code=item.code,
        ingredient=item.ingredient,
        rxcui=item.rxcui,
        rxcui_status=item.rxcui_status,
        drug_class=item.drug_class,
        schedule=item.schedule,
        data=data,
        added_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "formulary.entry_added",
        clock=clock,
        entity_type="formulary_entry",
        entity_id=row.id,
        details={"code": item.code, "schedule": item.schedule},
    )
    return item
