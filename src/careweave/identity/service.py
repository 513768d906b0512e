"""Identity use cases: accounts, log-in with throttling and lockout, MFA, sessions, tokens,
password reset. Every security event is audited in the same transaction.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.clinics import service as clinics
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    RuleViolation,
    TooManyAttempts,
)
from careweave.core.hooks import on_commit
from careweave.identity import mfa, passwords, tokens
from careweave.identity import repository as repo
from careweave.identity.models import ApiClient, ApiToken, PasswordResetToken, User, WebSession
from careweave.notify.mail import Mail, Mailer
from careweave.patients import service as patients
from careweave.settings import Settings

BAD_CREDENTIALS = "Incorrect e-mail or password."


class MfaEnrolmentRequired(RuleViolation):
    code, status = "identity.mfa_enrolment_required", 403


class EmailTaken(Conflict):
    code = "identity.email_taken"


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(
            "That e-mail address is not valid.", fields=[FieldError("email", str(exc))]
        ) from exc


def _password_or_error(password: str, settings: Settings, email: str) -> str:
    problems = passwords.password_problems(password, min_length=settings.password_min_length, email=email)
    if problems:
        raise InvalidInput(
            "The password is not acceptable.",
            fields=[FieldError("password", "Password " + "; ".join(problems) + ".")],
        )
    return passwords.hash_password(password)


def actor_for(session: Session, user: User, *, ip: str | None = None, request_id: str | None = None) -> Actor:
    role = Role(user.role)
    patient_id = patients.patient_id_for_user(session, user.id) if role is Role.PATIENT else None
    return Actor(
        user_id=user.id,
        role=role,
        patient_id=patient_id,
        clinic_id=user.clinic_id,
        ip=ip,
        request_id=request_id,
        purpose="treatment" if role in CLINICAL_ROLES else "operations" if role is Role.ADMIN else "self",
    )


# ---------------------------------------------------------------- accounts


def create_user(
    session: Session,
    actor: Actor,
    *,
    email: str,
    role: Role,
    password: str,
    full_name: str = "",
    clinic_id: uuid.UUID | None = None,
    birth_date: date | None = None,
    state: str | None = None,
    timezone: str = "America/New_York",
    phone: str | None = None,
    settings: Settings,
    clock: Clock,
) -> User:
    """Create an account; a patient account gets its patient record at once."""
    if not actor.is_system:
        policy.require(actor, policy.Action.USER_MANAGE)
    email = normalise_email(email)
    if repo.user_by_email(session, email) is not None:
        raise EmailTaken(
            "An account with that e-mail already exists.",
            fields=[FieldError("email", "already in use")],
        )
    password_hash = _password_or_error(password, settings, email)
    clinic_id = clinic_id or actor.clinic_id or clinics.default_clinic(session).id
    user = User(
        email=email,
        password_hash=password_hash,
        role=role.value,
        full_name=full_name.strip(),
        clinic_id=clinic_id,
        password_changed_at=clock.now(),
    )
    repo.add(session, user)
    audit.record(
        session,
        actor,
        "user.created",
        clock=clock,
        entity_type="user",
        entity_id=user.id,
        details={"role": role.value},
    )
    if role is Role.PATIENT:
        given, _, family = user.full_name.partition(" ")
        patients.create_for_user(
            session,
            actor,
            user_id=user.id,
            clinic_id=clinic_id,
            given_name=given,
            family_name=family,
            birth_date=birth_date,
            state=state,
            timezone=timezone,
            phone=phone,
            clock=clock,
        )
    return user


def list_users(
    session: Session, actor: Actor, *, clock: Clock, role: str | None = None, query: str | None = None
) -> list[User]:
    if not actor.is_system:
        policy.require(actor, policy.Action.USER_MANAGE)
    rows = repo.users(session, role=role, query=query)
    if not actor.is_system:
        audit.record(session, actor, "user.listed", clock=clock, details={"results": len(rows)})
    return rows


def user_exists(session: Session, email: str) -> bool:
    return repo.user_by_email(session, email.strip().lower()) is not None


def count_users(session: Session) -> int:
    return repo.count_users(session)


def user_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """Display name and role of staff and patients, for audit listings."""
    return repo.names(session, ids)


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = repo.user(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def set_active(session: Session, actor: Actor, *, user_id: uuid.UUID, active: bool, clock: Clock) -> User:
    policy.require(actor, policy.Action.USER_MANAGE)
    user = get_user(session, user_id)
    if user.id == actor.user_id and not active:
        raise RuleViolation("You cannot deactivate your own account.")
    user.is_active = active
    if not active:
        repo.revoke_all_for_user(session, user.id, clock.now())
    if active:
        user.failed_logins, user.locked_until = 0, None
    audit.record(
        session,
        actor,
        "user.activated" if active else "user.deactivated",
        clock=clock,
        entity_type="user",
        entity_id=user.id,
    )
    return user


# ---------------------------------------------------------------- log-in


def mfa_required_for(user: User, settings: Settings) -> bool:
    """Enrolled users always give a second factor; clinicians and admins must enrol."""
    return user.mfa_enabled or (settings.mfa_required and Role(user.role) is not Role.PATIENT)


def _anonymous(ip: str | None, request_id: str | None) -> Actor:
    return Actor(user_id=None, role=None, ip=ip, request_id=request_id, purpose="authentication")


def _count_failure(
    session: Session,
    user: User | None,
    actor: Actor,
    *,
    settings: Settings,
    clock: Clock,
    action: str,
) -> None:
    now = clock.now()
    repo.prune_ip_failures(session, now - timedelta(minutes=settings.login_ip_window_minutes * 2))
    repo.record_ip_failure(session, actor.ip or "unknown", now)
    if user is None:
        audit.record(
            session,
            actor,
            action,
            clock=clock,
            outcome="failure",
            details={"reason": "unknown_account"},
        )
        return
    user.failed_logins += 1
    audit.record(
        session,
        actor,
        action,
        clock=clock,
        outcome="failure",
        entity_type="user",
        entity_id=user.id,
        actor_user_id=user.id,
        actor_role=user.role,
        details={"failures": user.failed_logins},
    )
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
        user.failed_logins = 0
        audit.record(
            session,
            actor,
            "login.locked",
            clock=clock,
            outcome="failure",
            entity_type="user",
            entity_id=user.id,
            actor_user_id=user.id,
            actor_role=user.role,
            details={"minutes": settings.login_lockout_minutes},
        )


def _check_throttles(
    session: Session, user: User | None, actor: Actor, *, settings: Settings, clock: Clock
) -> None:
    now = clock.now()
    window = now - timedelta(minutes=settings.login_ip_window_minutes)
    if repo.ip_failures_since(session, actor.ip or "unknown", window) >= settings.login_ip_max_failures:
        audit.record(session, actor, "login.throttled", clock=clock, outcome="denied")
        raise TooManyAttempts("Too many failed log-ins from this address. Try again later.")
    if user is not None and user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        audit.record(
            session,
            actor,
            "login.refused_locked",
            clock=clock,
            outcome="denied",
            entity_type="user",
            entity_id=user.id,
            actor_user_id=user.id,
            actor_role=user.role,
        )
        raise TooManyAttempts(
            f"This account is locked after repeated failures. Try again in {minutes} minutes."
        )


def authenticate_password(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str | None,
    request_id: str | None = None,
    settings: Settings,
    clock: Clock,
) -> User:
    """First factor. Raises AuthenticationFailed or TooManyAttempts (both committed)."""
    actor = _anonymous(ip, request_id)
    user = repo.user_by_email(session, email.strip().lower())
    if user is not None:
        user = repo.lock_user(session, user.id)  # serialise concurrent attempts on one account
    _check_throttles(session, user, actor, settings=settings, clock=clock)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        _count_failure(session, user, actor, settings=settings, clock=clock, action="login.failed")
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if not user.mfa_enabled:
        # With a second factor to come, the failure count is reset only once that passes too:
        # otherwise the right password would let an attacker guess codes without ever locking.
        user.failed_logins = 0
    user.locked_until = None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    audit.record(
        session,
        actor,
        "login.password_verified",
        clock=clock,
        entity_type="user",
        entity_id=user.id,
        actor_user_id=user.id,
        actor_role=user.role,
    )
    return user


def verify_second_factor(
    session: Session,
    user: User,
    *,
    code: str,
    ip: str | None,
    request_id: str | None = None,
    settings: Settings,
    clock: Clock,
) -> None:
    """TOTP code or a single-use recovery code. Failures count toward the lockout."""
    actor = _anonymous(ip, request_id)
    locked = repo.lock_user(session, user.id)
    assert locked is not None
    user = locked
    _check_throttles(session, user, actor, settings=settings, clock=clock)
    if user.mfa_enabled:
        secret = mfa.decrypt_secret(user.mfa_secret, settings.secret()) if user.mfa_secret else None
        step = (
            mfa.matching_step(secret, code, at=clock.now().timestamp(), last_step=user.last_totp_step)
            if secret is not None
            else None
        )
        if step is not None:
            user.last_totp_step = step
            user.failed_logins = 0
            audit.record(
                session,
                actor,
                "mfa.verified",
                clock=clock,
                entity_type="user",
                entity_id=user.id,
                actor_user_id=user.id,
                actor_role=user.role,
            )
            return
        # Recovery codes do not depend on the TOTP secret (or the key that encrypts it).
        wanted = tokens.digest(mfa.normalise_recovery_code(code))
        for rc in repo.unused_recovery_codes(session, user.id):
            if tokens.same(rc.code_hash, wanted):
                rc.used_at = clock.now()
                user.failed_logins = 0
                audit.record(
                    session,
                    actor,
                    "mfa.recovery_code_used",
                    clock=clock,
                    entity_type="user",
                    entity_id=user.id,
                    actor_user_id=user.id,
                    actor_role=user.role,
                )
                return
    _count_failure(session, user, actor, settings=settings, clock=clock, action="mfa.failed")
    raise AuthenticationFailed(
        "That code is not valid.", fields=[FieldError("otp", "invalid or already used")]
    )


def record_login(
    session: Session, user: User, *, ip: str | None, request_id: str | None, via: str, clock: Clock
) -> None:
    user.last_login_at = clock.now()
    audit.record(
        session,
        _anonymous(ip, request_id),
        "login.succeeded",
        clock=clock,
        entity_type="user",
        entity_id=user.id,
        actor_user_id=user.id,
        actor_role=user.role,
        details={"via": via},
    )


# ---------------------------------------------------------------- browser sessions


@dataclass(frozen=True, slots=True)
class ResolvedSession:
    web_session: WebSession
    user: User

    @property
    def fully_authenticated(self) -> bool:
        return self.web_session.mfa_passed


def start_web_session(
    session: Session,
    user: User,
    *,
    mfa_passed: bool,
    ip: str | None,
    settings: Settings,
    clock: Clock,
) -> str:
    raw = tokens.new_token()
    now = clock.now()
    repo.add(
        session,
        WebSession(
            token_hash=tokens.digest(raw),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_max_hours),
            mfa_passed=mfa_passed,
            ip=ip,
        ),
    )
    return raw


def resolve_web_session(
    session: Session, raw: str, *, settings: Settings, clock: Clock
) -> ResolvedSession | None:
    ws = repo.web_session_by_hash(session, tokens.digest(raw))
    if ws is None or ws.revoked_at is not None:
        return None
    now = clock.now()
    idle = timedelta(minutes=settings.session_idle_minutes)
    if ws.expires_at <= now or ws.last_seen_at + idle <= now:
        return None
    user = repo.user(session, ws.user_id)
    if user is None or not user.is_active:
        return None
    if now - ws.last_seen_at > timedelta(seconds=60):  # keep writes rare on hot paths
        ws.last_seen_at = now
    return ResolvedSession(ws, user)


def pass_mfa(session: Session, ws: WebSession) -> None:
    ws.mfa_passed = True
    session.flush()


def end_web_session(
    session: Session, ws: WebSession, *, ip: str | None, request_id: str | None, clock: Clock
) -> None:
    ws.revoked_at = clock.now()
    audit.record(
        session,
        _anonymous(ip, request_id),
        "logout",
        clock=clock,
        entity_type="user",
        entity_id=ws.user_id,
        actor_user_id=ws.user_id,
    )


# ---------------------------------------------------------------- API tokens


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int


def issue_api_token(
    session: Session,
    *,
    email: str,
    password: str,
    otp: str | None,
    ip: str | None,
    request_id: str | None,
    settings: Settings,
    clock: Clock,
) -> IssuedToken:
    """OAuth2 password grant. Clinicians and admins give ``otp`` when MFA applies."""
    user = authenticate_password(
        session,
        email=email,
        password=password,
        ip=ip,
        request_id=request_id,
        settings=settings,
        clock=clock,
    )
    if mfa_required_for(user, settings):
        if not user.mfa_enabled:
            raise MfaEnrolmentRequired(
                "Multi-factor authentication is required for this account: enrol in the web app first."
            )
        if not otp:
            raise AuthenticationFailed("A one-time code is required.", fields=[FieldError("otp", "required")])
        verify_second_factor(
            session, user, code=otp, ip=ip, request_id=request_id, settings=settings, clock=clock
        )
    issued = _new_token(session, user, settings=settings, clock=clock)
    record_login(session, user, ip=ip, request_id=request_id, via="api", clock=clock)
    return issued


def _new_token(
    session: Session, user: User, *, settings: Settings, clock: Clock, client: ApiClient | None = None
) -> IssuedToken:
    """A bearer token for ``user`` (got by ``client``, for the client credentials grant)."""
    raw = tokens.new_token()
    now = clock.now()
    lifetime = timedelta(minutes=settings.api_token_minutes)
    repo.add(
        session,
        ApiToken(
            token_hash=tokens.digest(raw),
            user_id=user.id,
            client_id=client.id if client is not None else None,
            created_at=now,
            expires_at=now + lifetime,
        ),
    )
    return IssuedToken(raw, int(lifetime.total_seconds()))


def resolve_api_token(session: Session, raw: str, *, clock: Clock) -> User | None:
    found = repo.api_token_and_user(session, tokens.digest(raw))
    now = clock.now()
    if found is None:
        return None
    tok, user = found
    if tok.revoked_at is not None or tok.expires_at <= now or not user.is_active:
        return None
    if tok.last_used_at is None or now - tok.last_used_at > timedelta(seconds=60):
        tok.last_used_at = now
    return user


def revoke_api_token(
    session: Session, raw: str, *, ip: str | None, request_id: str | None, clock: Clock
) -> None:
    """RFC 7009 semantics: revoking an unknown or already revoked token is not an error."""
    tok = repo.api_token_by_hash(session, tokens.digest(raw))
    if tok is None or tok.revoked_at is not None:
        return
    tok.revoked_at = clock.now()
    audit.record(
        session,
        _anonymous(ip, request_id),
        "api_token.revoked",
        clock=clock,
        entity_type="user",
        entity_id=tok.user_id,
        actor_user_id=tok.user_id,
    )


# ---------------------------------------------------------------- API clients (OAuth2 client credentials)

# Who may act through an API client: staff accounts only (an integration acts as a clinic's staff member, with
# that account's permissions). A patient's account never gets one.
API_CLIENT_ROLES = frozenset({Role.ADMIN, Role.CARE_MANAGER, Role.THERAPIST, Role.PSYCHIATRIST})
CLIENT_ID_PREFIX = "cwc_"


@dataclass(frozen=True, slots=True)
class NewApiClient:
    client: ApiClient
    secret: str  # shown once; only its SHA-256 is stored


def create_api_client(
    session: Session, actor: Actor, *, user_id: uuid.UUID, name: str, clock: Clock
) -> NewApiClient:
    """An administrator gives an integration client credentials that act as ``user_id`` (a staff account set
    aside for it, such as "Lab interface"). The secret is 256 random bits: it stands in for the password and the
    second factor, so it is shown once, stored only as SHA-256, and revocable."""
    policy.require(actor, policy.Action.USER_MANAGE)
    label = " ".join((name or "").split())
    errors = []
    if not 1 <= len(label) <= 100 or not label.isprintable():
        errors.append(FieldError("name", "name the integration (1-100 printable characters)"))
    user = repo.user(session, user_id)
    if user is None:
        errors.append(FieldError("user_id", "no such user"))
    elif Role(user.role) not in API_CLIENT_ROLES:
        errors.append(
            FieldError("user_id", "only a staff account (not a patient's) can act for an integration")
        )
    elif not user.is_active:
        errors.append(FieldError("user_id", "this account is deactivated"))
    if errors or user is None:
        raise InvalidInput("The API client is not valid.", fields=errors)
    secret = tokens.new_token()
    client = ApiClient(
        client_id=CLIENT_ID_PREFIX + secrets.token_hex(16),
        secret_hash=tokens.digest(secret),
        name=label,
        user_id=user.id,
        created_at=clock.now(),
        created_by=actor.user_id,
    )
    repo.add(session, client)
    audit.record(
        session,
        actor,
        "api_client.created",
        clock=clock,
        entity_type="api_client",
        entity_id=client.id,
        details={"client_id": client.client_id, "acts_as": str(user.id), "name": label},
    )
    return NewApiClient(client, secret)


def list_api_clients(session: Session, actor: Actor, *, clock: Clock) -> list[tuple[ApiClient, User]]:
    policy.require(actor, policy.Action.USER_MANAGE)
    rows = repo.api_clients(session)
    audit.record(session, actor, "api_client.listed", clock=clock, details={"results": len(rows)})
    return rows


def revoke_api_client(session: Session, actor: Actor, *, client_pk: uuid.UUID, clock: Clock) -> ApiClient:
    """Revoke the client and every token it got (revoking again changes nothing)."""
    policy.require(actor, policy.Action.USER_MANAGE)
    client = repo.api_client(session, client_pk)
    if client is None:
        raise NotFound("No such API client.")
    if client.revoked_at is None:
        client.revoked_at = clock.now()
        repo.revoke_client_tokens(session, client.id, client.revoked_at)
        audit.record(
            session,
            actor,
            "api_client.revoked",
            clock=clock,
            entity_type="api_client",
            entity_id=client.id,
            details={"client_id": client.client_id},
        )
    return client


def issue_client_token(
    session: Session,
    *,
    client_id: str,
    client_secret: str,
    ip: str | None,
    request_id: str | None,
    settings: Settings,
    clock: Clock,
) -> IssuedToken:
    """OAuth2 client credentials grant: a bearer token for the client's account. Failures count toward the
    per-address throttle as failed log-ins do; a revoked client or a deactivated account gets nothing."""
    actor = _anonymous(ip, request_id)
    _check_throttles(session, None, actor, settings=settings, clock=clock)
    # (a NUL never reaches the database: PostgreSQL refuses it in text; no client id has one)
    client = repo.api_client_by_client_id(session, client_id.strip()) if "\x00" not in client_id else None
    user = repo.user(session, client.user_id) if client is not None else None
    ok = client is not None and tokens.same(client.secret_hash, tokens.digest(client_secret))
    if client is None or user is None or not ok or client.revoked_at is not None or not user.is_active:
        _count_failure(session, None, actor, settings=settings, clock=clock, action="api_client.login_failed")
        raise AuthenticationFailed("Unknown client, wrong secret, or a revoked client.")
    issued = _new_token(session, user, settings=settings, clock=clock, client=client)
    client.last_used_at = clock.now()
    record_login(session, user, ip=ip, request_id=request_id, via="api_client", clock=clock)
    return issued


# ---------------------------------------------------------------- MFA enrolment


@dataclass(frozen=True, slots=True)
class PendingEnrolment:
    secret: str
    uri: str
    qr_svg: str


def begin_mfa_enrolment(
    session: Session, actor: Actor, user: User, *, settings: Settings, clock: Clock
) -> PendingEnrolment:
    if user.mfa_enabled:
        raise Conflict("Multi-factor authentication is already on for this account.")
    secret = mfa.new_secret()
    user.mfa_secret = mfa.encrypt_secret(secret, settings.secret())
    audit.record(session, actor, "mfa.enrolment_started", clock=clock, entity_type="user", entity_id=user.id)
    return pending_enrolment(user, settings=settings)  # type: ignore[return-value]


def pending_enrolment(user: User, *, settings: Settings) -> PendingEnrolment | None:
    if user.mfa_enabled or not user.mfa_secret:
        return None
    secret = mfa.decrypt_secret(user.mfa_secret, settings.secret())
    if secret is None:
        return None
    uri = mfa.provisioning_uri(secret, user.email)
    return PendingEnrolment(secret, uri, mfa.qr_svg(uri))


def confirm_mfa_enrolment(
    session: Session, actor: Actor, user: User, *, code: str, settings: Settings, clock: Clock
) -> list[str]:
    """Turn MFA on once the user proves the app works; returns fresh recovery codes (shown once)."""
    pending = pending_enrolment(user, settings=settings)
    if pending is None:
        raise RuleViolation("Start enrolment first.")
    step = mfa.matching_step(pending.secret, code, at=clock.now().timestamp(), last_step=None)
    if step is None:
        audit.record(
            session,
            actor,
            "mfa.enrolment_failed",
            clock=clock,
            outcome="failure",
            entity_type="user",
            entity_id=user.id,
        )
        raise InvalidInput(
            "That code does not match. Check the time on your phone and try again.",
            fields=[FieldError("code", "does not match")],
        )
    user.mfa_enabled_at = clock.now()
    user.last_totp_step = step
    codes = mfa.new_recovery_codes()
    repo.replace_recovery_codes(session, user.id, [tokens.digest(c) for c in codes])
    audit.record(session, actor, "mfa.enrolled", clock=clock, entity_type="user", entity_id=user.id)
    return codes


def regenerate_recovery_codes(session: Session, actor: Actor, user: User, *, clock: Clock) -> list[str]:
    if not user.mfa_enabled:
        raise RuleViolation("Multi-factor authentication is not on.")
    codes = mfa.new_recovery_codes()
    repo.replace_recovery_codes(session, user.id, [tokens.digest(c) for c in codes])
    audit.record(
        session,
        actor,
        "mfa.recovery_codes_regenerated",
        clock=clock,
        entity_type="user",
        entity_id=user.id,
    )
    return codes


def remaining_recovery_codes(session: Session, user: User) -> int:
    return len(repo.unused_recovery_codes(session, user.id))


def _clear_mfa(session: Session, user: User) -> None:
    user.mfa_secret = None
    user.mfa_enabled_at = None
    user.last_totp_step = None
    repo.replace_recovery_codes(session, user.id, [])


def disable_mfa(session: Session, actor: Actor, user: User, *, settings: Settings, clock: Clock) -> None:
    if settings.mfa_required and Role(user.role) is not Role.PATIENT:
        raise RuleViolation("Multi-factor authentication is required for your role.")
    _clear_mfa(session, user)
    audit.record(session, actor, "mfa.disabled", clock=clock, entity_type="user", entity_id=user.id)


def reset_mfa_by_admin(session: Session, actor: Actor, *, user_id: uuid.UUID, clock: Clock) -> User:
    """An administrator clears a user's two-step setup (lost phone and codes); the user must
    enrol again at the next log-in (where their role requires it). Ends their sessions."""
    policy.require(actor, policy.Action.USER_MANAGE)
    user = get_user(session, user_id)
    _clear_mfa(session, user)
    repo.revoke_all_for_user(session, user.id, clock.now())
    audit.record(session, actor, "mfa.reset_by_admin", clock=clock, entity_type="user", entity_id=user.id)
    return user


# ---------------------------------------------------------------- password reset


def request_password_reset(
    session: Session,
    *,
    email: str,
    ip: str | None,
    request_id: str | None,
    settings: Settings,
    clock: Clock,
    mailer: Mailer,
) -> None:
    """Mail a single-use link if the account exists. The caller's answer never says which."""
    actor = _anonymous(ip, request_id)
    user = repo.user_by_email(session, email.strip().lower())
    if user is None or not user.is_active:
        audit.record(
            session,
            actor,
            "password_reset.requested",
            clock=clock,
            outcome="failure",
            details={"reason": "unknown_account"},
        )
        return
    audit.record(
        session,
        actor,
        "password_reset.requested",
        clock=clock,
        entity_type="user",
        entity_id=user.id,
        actor_user_id=user.id,
        actor_role=user.role,
    )
    minutes = settings.password_reset_minutes
    link = _password_link(session, user, minutes=minutes, settings=settings, clock=clock)
    _mail_after_commit(
        session,
        mailer,
        Mail(
            to=user.email,
            subject="Reset your Careweave password",
            body=(
                "Someone (hopefully you) asked to reset the password of your Careweave account.\n\n"
                f"Open this link within {minutes} minutes to choose a new password:\n{link}\n\n"
                "The link works once. If you did not ask for this, ignore this message; "
                "your password stays as it is.\n"
            ),
        ),
    )


def _password_link(session: Session, user: User, *, minutes: int, settings: Settings, clock: Clock) -> str:
    """A single-use, expiring link to choose a password (reset and invitations)."""
    raw = tokens.new_token()
    now = clock.now()
    repo.add(
        session,
        PasswordResetToken(
            token_hash=tokens.digest(raw),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        ),
    )
    return f"{settings.base_url.rstrip('/')}/password/reset?token={raw}"


def _mail_after_commit(session: Session, mailer: Mailer, mail: Mail) -> None:
    on_commit(session, lambda: mailer.send(mail))


def invite_user(
    session: Session,
    actor: Actor,
    *,
    email: str,
    role: Role,
    full_name: str = "",
    settings: Settings,
    clock: Clock,
    mailer: Mailer,
) -> User:
    """Create an account without a known password and e-mail a link to choose one."""
    user = create_user(
        session,
        actor,
        email=email,
        role=role,
        password=tokens.new_token(),
        full_name=full_name,
        settings=settings,
        clock=clock,
    )
    minutes = settings.invitation_hours * 60
    link = _password_link(session, user, minutes=minutes, settings=settings, clock=clock)
    audit.record(session, actor, "user.invited", clock=clock, entity_type="user", entity_id=user.id)
    _mail_after_commit(
        session,
        mailer,
        Mail(
            to=user.email,
            subject="You are invited to Careweave",
            body=(
                "An account has been created for you on Careweave.\n\n"
                f"Open this link within {settings.invitation_hours} hours to choose your password:\n{link}\n\n"
                "The link works once. If you did not expect this, ignore this message.\n"
            ),
        ),
    )
    return user


def sign_up_patient(
    session: Session,
    *,
    email: str,
    password: str,
    full_name: str,
    ip: str | None,
    request_id: str | None,
    settings: Settings,
    clock: Clock,
) -> User:
    """A new patient registers themself; they get their patient record at once."""
    registrar = Actor(
        user_id=None, role=None, ip=ip, request_id=request_id, purpose="registration", system_actor=True
    )
    if not full_name.strip():
        raise InvalidInput("Tell us your name.", fields=[FieldError("full_name", "required")])
    user = create_user(
        session,
        registrar,
        email=email,
        role=Role.PATIENT,
        password=password,
        full_name=full_name,
        settings=settings,
        clock=clock,
    )
    audit.record(
        session,
        registrar,
        "user.signed_up",
        clock=clock,
        entity_type="user",
        entity_id=user.id,
        actor_user_id=user.id,
        actor_role=user.role,
    )
    return user


def reset_password(
    session: Session,
    *,
    token: str,
    new_password: str,
    ip: str | None,
    request_id: str | None,
    settings: Settings,
    clock: Clock,
) -> User:
    actor = _anonymous(ip, request_id)
    row = repo.reset_token_by_hash(session, tokens.digest(token))
    now = clock.now()
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise RuleViolation(
            "This reset link is invalid, expired or already used. Ask for a new one.",
            fields=[FieldError("token", "invalid, expired or used")],
        )
    user = repo.user(session, row.user_id)
    if user is None:
        raise RuleViolation("This reset link is invalid.", fields=[FieldError("token", "invalid")])
    user.password_hash = _password_or_error(new_password, settings, user.email)
    user.password_changed_at = now
    user.failed_logins, user.locked_until = 0, None
    repo.revoke_all_for_user(session, user.id, now)  # every session, token and other link
    row.used_at = now
    audit.record(
        session,
        actor,
        "password_reset.completed",
        clock=clock,
        entity_type="user",
        entity_id=user.id,
        actor_user_id=user.id,
        actor_role=user.role,
    )
    return user
