"""Care-team queries."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.careteam.models import BreakGlassAccess, CareTeamMember
from careweave.consent import rules as consent_rules


def members(
    session: Session, patient_id: uuid.UUID, *, current_on: date | None = None
) -> list[CareTeamMember]:
    stmt = select(CareTeamMember).where(CareTeamMember.patient_id == patient_id)
    if current_on is not None:
        stmt = stmt.where(
            CareTeamMember.start_date <= current_on,
            (CareTeamMember.end_date.is_(None)) | (CareTeamMember.end_date >= current_on),
        )
    return list(session.scalars(stmt.order_by(CareTeamMember.start_date, CareTeamMember.created_at)))


def current(session: Session, patient_id: uuid.UUID, user_id: uuid.UUID) -> CareTeamMember | None:
    return session.scalars(
        select(CareTeamMember).where(
            CareTeamMember.patient_id == patient_id,
            CareTeamMember.user_id == user_id,
            CareTeamMember.end_date.is_(None),
        )
    ).one_or_none()


def team_facts(session: Session, patient_id: uuid.UUID) -> tuple[consent_rules.Member, ...]:
    rows = session.execute(
        select(
            CareTeamMember.user_id,
            CareTeamMember.role,
            CareTeamMember.basis,
            CareTeamMember.start_date,
            CareTeamMember.end_date,
        ).where(CareTeamMember.patient_id == patient_id)
    ).all()
    return tuple(consent_rules.Member(str(u), r, b, s, e) for u, r, b, s, e in rows)


def break_glass_users(session: Session, patient_id: uuid.UUID, now: datetime) -> frozenset[str]:
    rows = session.scalars(
        select(BreakGlassAccess.user_id).where(
            BreakGlassAccess.patient_id == patient_id, BreakGlassAccess.expires_at > now
        )
    )
    return frozenset(str(u) for u in rows)


def patients_of(session: Session, user_id: uuid.UUID, on: date) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(CareTeamMember.patient_id).where(
                CareTeamMember.user_id == user_id,
                CareTeamMember.start_date <= on,
                (CareTeamMember.end_date.is_(None)) | (CareTeamMember.end_date >= on),
            )
        )
    )


def team_facts_many(
    session: Session, patient_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[consent_rules.Member, ...]]:
    """:func:`team_facts` for many patients in one query (a registry page)."""
    out: dict[uuid.UUID, list[consent_rules.Member]] = {p: [] for p in patient_ids}
    if patient_ids:
        rows = session.execute(
            select(
                CareTeamMember.patient_id,
                CareTeamMember.user_id,
                CareTeamMember.role,
                CareTeamMember.basis,
                CareTeamMember.start_date,
                CareTeamMember.end_date,
            ).where(CareTeamMember.patient_id.in_(patient_ids))
        ).all()
        for p, u, r, b, s, e in rows:
            out[p].append(consent_rules.Member(str(u), r, b, s, e))
    return {p: tuple(m) for p, m in out.items()}


def break_glass_users_many(
    session: Session, patient_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, frozenset[str]]:
    from sqlalchemy import Uuid, any_, bindparam
    from sqlalchemy.dialects.postgresql import ARRAY

    out: dict[uuid.UUID, set[str]] = {p: set() for p in patient_ids}
    if patient_ids:
        # On PostgreSQL one array parameter, not an IN of one parameter per patient (a registry page's 200): the
        # driver would parse a new statement text for every page size.
        among = (
            BreakGlassAccess.patient_id == any_(bindparam(None, list(patient_ids), type_=ARRAY(Uuid())))
            if session.get_bind().dialect.name == "postgresql"
            else BreakGlassAccess.patient_id.in_(patient_ids)
        )
        rows = session.execute(
            select(BreakGlassAccess.patient_id, BreakGlassAccess.user_id).where(
                among, BreakGlassAccess.expires_at > now
            )
        ).all()
        for p, u in rows:
            out[p].add(str(u))
    return {p: frozenset(u) for p, u in out.items()}
