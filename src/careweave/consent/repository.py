"""Consent queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave.consent import rules
from careweave.consent.models import ConsentDirective


def directives(
    session: Session, patient_id: uuid.UUID, *, active_only: bool = False
) -> list[ConsentDirective]:
    stmt = select(ConsentDirective).where(ConsentDirective.patient_id == patient_id)
    if active_only:
        stmt = stmt.where(ConsentDirective.status == "active")
    return list(session.scalars(stmt.order_by(ConsentDirective.granted_at)))


def grant_facts(session: Session, patient_id: uuid.UUID) -> tuple[rules.Grant, ...]:
    """Directives in force or not: the rules decide (a revoked or expired one grants nothing)."""
    return tuple(
        rules.Grant(
            id=str(d.id),
            grantee_user_id=str(d.grantee_user_id) if d.grantee_user_id else None,
            care_team=d.grantee_care_team,
            categories=frozenset(d.categories or ()),
            expires=d.expires,
            revoked=d.status != "active",
        )
        for d in directives(session, patient_id, active_only=True)
    )


def grant_facts_many(
    session: Session, patient_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[rules.Grant, ...]]:
    """:func:`grant_facts` for many patients in one query (a registry page): only the columns the rules read."""
    out: dict[uuid.UUID, list[rules.Grant]] = {p: [] for p in patient_ids}
    if patient_ids:
        rows = session.execute(
            select(
                ConsentDirective.patient_id,
                ConsentDirective.id,
                ConsentDirective.grantee_user_id,
                ConsentDirective.grantee_care_team,
                ConsentDirective.categories,
                ConsentDirective.expires,
            )
            .where(ConsentDirective.patient_id.in_(patient_ids), ConsentDirective.status == "active")
            .order_by(ConsentDirective.granted_at)
        )
        for pid, did, grantee, team, categories, expires in rows:
            out[pid].append(
                rules.Grant(
                    id=str(did),
                    grantee_user_id=str(grantee) if grantee else None,
                    care_team=team,
                    categories=frozenset(categories or ()),
                    expires=expires,
                    revoked=False,  # only active directives are read
                )
            )
    return {p: tuple(g) for p, g in out.items()}
