from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from careweave.directory.models import (
    CompactPrivilege,
    DeaRegistration,
    License,
    PatientCoverage,
    Plan,
    Provider,
    ProviderCondition,
    ProviderLanguage,
    ProviderNetwork,
)


def add(session: Session, obj: object) -> None:
    session.add(obj)
    session.flush()


def plans(session: Session) -> list[Plan]:
    return list(session.scalars(select(Plan).order_by(Plan.payer, Plan.name)))


def plan(session: Session, plan_id: uuid.UUID) -> Plan | None:
    return session.get(Plan, plan_id)


def plan_by_name(session: Session, payer: str, name: str) -> Plan | None:
    return session.scalars(select(Plan).where(Plan.payer == payer, Plan.name == name)).one_or_none()


def existing_plan_ids(session: Session, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(ids)
    if not ids:
        return set()
    return set(session.scalars(select(Plan.id).where(Plan.id.in_(ids))))


def provider(session: Session, provider_id: uuid.UUID) -> Provider | None:
    return session.get(Provider, provider_id)


def provider_by_npi(session: Session, npi: str) -> Provider | None:
    return session.scalars(select(Provider).where(Provider.npi == npi)).one_or_none()


def provider_by_user(session: Session, user_id: uuid.UUID) -> Provider | None:
    return session.scalars(select(Provider).where(Provider.user_id == user_id)).one_or_none()


def set_conditions(session: Session, provider_id: uuid.UUID, values: Iterable[str]) -> None:
    session.execute(delete(ProviderCondition).where(ProviderCondition.provider_id == provider_id))
    session.add_all(ProviderCondition(provider_id=provider_id, condition=v) for v in sorted(set(values)))


def set_languages(session: Session, provider_id: uuid.UUID, values: Iterable[str]) -> None:
    session.execute(delete(ProviderLanguage).where(ProviderLanguage.provider_id == provider_id))
    session.add_all(ProviderLanguage(provider_id=provider_id, language=v) for v in sorted(set(values)))


def set_networks(session: Session, provider_id: uuid.UUID, plan_ids: Iterable[uuid.UUID]) -> None:
    session.execute(delete(ProviderNetwork).where(ProviderNetwork.provider_id == provider_id))
    session.add_all(ProviderNetwork(provider_id=provider_id, plan_id=p) for p in sorted(set(plan_ids)))


def conditions(session: Session, provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    return _grouped(session, ProviderCondition.provider_id, ProviderCondition.condition, provider_ids)


def languages(session: Session, provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    return _grouped(session, ProviderLanguage.provider_id, ProviderLanguage.language, provider_ids)


def networks(session: Session, provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    return _grouped(session, ProviderNetwork.provider_id, ProviderNetwork.plan_id, provider_ids)


def _grouped(session: Session, key, value, ids: list[uuid.UUID]) -> dict:  # type: ignore[no-untyped-def]
    out: dict = {i: [] for i in ids}
    if ids:
        for k, v in session.execute(select(key, value).where(key.in_(ids)).order_by(key, value)):
            out[k].append(v)
    return out


def licenses(session: Session, provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[License]]:
    return _children(session, License, provider_ids)


def compact_privileges(
    session: Session, provider_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[CompactPrivilege]]:
    return _children(session, CompactPrivilege, provider_ids)


def dea_registrations(
    session: Session, provider_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[DeaRegistration]]:
    return _children(session, DeaRegistration, provider_ids)


def _children(session: Session, model, ids: list[uuid.UUID]) -> dict:  # type: ignore[no-untyped-def]
    out: dict = {i: [] for i in ids}
    if ids:
        for row in session.scalars(select(model).where(model.provider_id.in_(ids))):
            out[row.provider_id].append(row)
    return out


def search_providers(
    session: Session,
    *,
    query: str | None,
    credential: str | None,
    state: str | None,
    condition: str | None,
    language: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Provider], int]:
    stmt = select(Provider).where(Provider.is_active.is_(True))
    if query:
        stmt = stmt.where(func.lower(Provider.name).like(f"%{query.lower()}%"))
    if credential:
        stmt = stmt.where(Provider.credential == credential)
    if state:
        stmt = stmt.where(Provider.id.in_(select(License.provider_id).where(License.state == state)))
    if condition:
        stmt = stmt.where(
            Provider.id.in_(
                select(ProviderCondition.provider_id).where(ProviderCondition.condition == condition)
            )
        )
    if language:
        stmt = stmt.where(
            Provider.id.in_(select(ProviderLanguage.provider_id).where(ProviderLanguage.language == language))
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Provider.name, Provider.id).limit(limit).offset(offset))
    return list(rows), total


def coverage(session: Session, patient_id: uuid.UUID) -> PatientCoverage | None:
    return session.scalars(
        select(PatientCoverage).where(PatientCoverage.patient_id == patient_id)
    ).one_or_none()


def candidate_ids_in_state(session: Session, state: str, on_date: object) -> list[uuid.UUID]:
    """Active providers with a licence or compact privilege in ``state`` that may be valid on
    ``on_date`` (SQL pre-filter; the pure rules make the exact decision)."""
    from sqlalchemy import or_, union

    lic = select(License.provider_id).where(
        License.state == state,
        License.status == "active",
        or_(License.expires.is_(None), License.expires >= on_date),
    )
    comp = select(CompactPrivilege.provider_id).where(
        CompactPrivilege.state == state,
        CompactPrivilege.status == "active",
        or_(CompactPrivilege.expires.is_(None), CompactPrivilege.expires >= on_date),
    )
    ids = union(lic, comp).subquery()
    stmt = select(Provider.id).where(Provider.is_active.is_(True), Provider.id.in_(select(ids.c[0])))
    return list(session.scalars(stmt))


def providers_by_ids(session: Session, ids: list[uuid.UUID]) -> list[Provider]:
    if not ids:
        return []
    return list(session.scalars(select(Provider).where(Provider.id.in_(ids))))


def count_active_providers(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Provider).where(Provider.is_active.is_(True))) or 0


def prescriptive_certification_states(session: Session, ids: list[uuid.UUID], on_date: object) -> dict:
    from sqlalchemy import or_

    from careweave.directory.models import PrescriptiveCertification

    out: dict = {i: set() for i in ids}
    if ids:
        stmt = select(PrescriptiveCertification.provider_id, PrescriptiveCertification.state).where(
            PrescriptiveCertification.provider_id.in_(ids),
            or_(PrescriptiveCertification.expires.is_(None), PrescriptiveCertification.expires >= on_date),
        )
        for pid, state in session.execute(stmt):
            out[pid].add(state)
    return out
