from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from careweave.identity.models import (
    ApiClient,
    ApiToken,
    LoginFailure,
    PasswordResetToken,
    RecoveryCode,
    User,
    WebSession,
)


def add(session: Session, obj: object) -> None:
    session.add(obj)
    session.flush()


def user_by_email(session: Session, email: str) -> User | None:
    if "\x00" in email:  # no stored address has one, and PostgreSQL refuses to compare it
        return None
    return session.scalars(select(User).where(User.email == email.lower())).one_or_none()


def user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def users(
    session: Session, *, role: str | None = None, query: str | None = None, limit: int = 200
) -> list[User]:
    stmt = select(User)
    if role:
        stmt = stmt.where(User.role == role)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(func.lower(User.email).like(like) | func.lower(User.full_name).like(like))
    return list(session.scalars(stmt.order_by(User.role, User.email).limit(limit)))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.full_name, User.role).where(User.id.in_(ids)))
    return {uid: (name, role) for uid, name, role in rows}


def web_session_by_hash(session: Session, token_hash: str) -> WebSession | None:
    return session.scalars(select(WebSession).where(WebSession.token_hash == token_hash)).one_or_none()


def api_token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    return session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).one_or_none()


def api_token_and_user(session: Session, token_hash: str) -> tuple[ApiToken, User] | None:
    """The token and its user in one round trip (every API request resolves its bearer token)."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash)
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def reset_token_by_hash(session: Session, token_hash: str) -> PasswordResetToken | None:
    stmt = select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash)
    return session.scalars(stmt.with_for_update()).one_or_none()


def revoke_all_for_user(session: Session, user_id: uuid.UUID, at: datetime) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=at)
    )


def unused_recovery_codes(session: Session, user_id: uuid.UUID) -> list[RecoveryCode]:
    stmt = select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    return list(session.scalars(stmt))


def replace_recovery_codes(session: Session, user_id: uuid.UUID, hashes: list[str]) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.add_all(RecoveryCode(user_id=user_id, code_hash=h) for h in hashes)
    session.flush()


def lock_user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.scalars(select(User).where(User.id == user_id).with_for_update()).one_or_none()


def record_ip_failure(session: Session, ip: str, at: datetime) -> None:
    session.add(LoginFailure(ip=ip, occurred_at=at))
    session.flush()


def ip_failures_since(session: Session, ip: str, since: datetime) -> int:
    stmt = select(func.count()).where(LoginFailure.ip == ip, LoginFailure.occurred_at >= since)
    return session.scalar(stmt) or 0


def prune_ip_failures(session: Session, before: datetime) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.occurred_at < before))


def api_client_by_client_id(session: Session, client_id: str) -> ApiClient | None:
    return session.scalars(select(ApiClient).where(ApiClient.client_id == client_id)).one_or_none()


def api_client(session: Session, pk: uuid.UUID) -> ApiClient | None:
    return session.get(ApiClient, pk)


def api_clients(session: Session) -> list[tuple[ApiClient, User]]:
    rows = session.execute(
        select(ApiClient, User).join(User, User.id == ApiClient.user_id).order_by(ApiClient.created_at.desc())
    )
    return [(c, u) for c, u in rows]


def revoke_client_tokens(session: Session, client_pk: uuid.UUID, at: datetime) -> None:
    session.execute(
        update(ApiToken)
        .where(ApiToken.client_id == client_pk, ApiToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )
