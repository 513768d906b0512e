from __future__ import annotations

import pyotp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.core.actor import Actor, Role
from careweave.core.errors import AuthenticationFailed, InvalidInput, RuleViolation, TooManyAttempts
from careweave.identity import service as identity
from careweave.identity.models import User
from careweave.patients import service as patients
from tests.builders import PASSWORD, make_user


def _actions(session, user: User) -> list[str]:
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.entity_id == str(user.id)).order_by(AuditEvent.seq)
    )
    return [e.action for e in rows]


def _login(session, settings, clock, email, password=PASSWORD, ip="10.0.0.1"):
    return identity.authenticate_password(
        session, email=email, password=password, ip=ip, settings=settings, clock=clock
    )


def test_password_is_stored_as_argon2id(session, settings):
    user = make_user(session, settings)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_patient_user_gets_a_patient_record_at_once(session, settings):
    user = make_user(session, settings, Role.PATIENT, state="TX", timezone="America/Chicago")
    patient_id = patients.patient_id_for_user(session, user.id)
    assert patient_id is not None
    actor = identity.actor_for(session, user)
    assert actor.patient_id == patient_id
    assert "patient.created" in [
        e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.patient_id == patient_id))
    ]


def test_clinician_gets_no_patient_record(session, settings):
    user = make_user(session, settings, Role.THERAPIST)
    assert patients.patient_id_for_user(session, user.id) is None


def test_email_is_normalised_and_unique(session, settings):
    make_user(session, settings, email="Someone@Test.Careweave.Example")
    with pytest.raises(identity.EmailTaken):
        make_user(session, settings, email="someone@test.careweave.example")


def test_invalid_email_and_weak_password_name_the_field(session, settings):
    with pytest.raises(InvalidInput) as exc:
        make_user(session, settings, email="not an email")
    assert exc.value.fields[0].field == "email"
    with pytest.raises(InvalidInput) as exc:
        make_user(session, settings, password="short")
    assert exc.value.fields[0].field == "password"


def test_only_admins_create_users(session, settings, clock):
    therapist = make_user(session, settings, Role.THERAPIST)
    actor = identity.actor_for(session, therapist)
    from careweave.core.errors import PolicyDenied

    with pytest.raises(PolicyDenied):
        identity.create_user(
            session,
            actor,
            email="x@test.careweave.example",
            role=Role.ADMIN,
            password=PASSWORD,
            settings=settings,
            clock=clock,
        )


def test_lockout_after_repeated_failures_even_with_the_right_password(session, settings, fixed_clock):
    user = make_user(session, settings)
    for _ in range(settings.login_max_failures):
        with pytest.raises(AuthenticationFailed):
            _login(session, settings, fixed_clock, user.email, "wrong password!")
    with pytest.raises(TooManyAttempts):
        _login(session, settings, fixed_clock, user.email)
    actions = _actions(session, user)
    assert actions.count("login.failed") == settings.login_max_failures
    assert "login.locked" in actions
    assert "login.refused_locked" in actions
    # the lockout is temporary
    fixed_clock.advance(minutes=settings.login_lockout_minutes + 1)
    assert _login(session, settings, fixed_clock, user.email).id == user.id


def test_success_resets_the_failure_count(session, settings, fixed_clock):
    user = make_user(session, settings)
    for _ in range(settings.login_max_failures - 1):
        with pytest.raises(AuthenticationFailed):
            _login(session, settings, fixed_clock, user.email, "wrong password!")
    _login(session, settings, fixed_clock, user.email)
    assert user.failed_logins == 0
    with pytest.raises(AuthenticationFailed):
        _login(session, settings, fixed_clock, user.email, "wrong password!")
    _login(session, settings, fixed_clock, user.email)


def test_address_is_throttled_after_many_failures_across_accounts(session, settings, fixed_clock):
    settings = settings.model_copy(update={"login_ip_max_failures": 3})
    for n in range(3):
        with pytest.raises(AuthenticationFailed):
            _login(session, settings, fixed_clock, f"nobody{n}@test.careweave.example", ip="192.0.2.9")
    user = make_user(session, settings)
    with pytest.raises(TooManyAttempts):
        _login(session, settings, fixed_clock, user.email, ip="192.0.2.9")
    # another address is not affected
    assert _login(session, settings, fixed_clock, user.email, ip="192.0.2.10").id == user.id
    fixed_clock.advance(minutes=settings.login_ip_window_minutes + 1)
    assert _login(session, settings, fixed_clock, user.email, ip="192.0.2.9").id == user.id


def test_unknown_account_and_inactive_account_look_like_wrong_password(session, settings, clock):
    user = make_user(session, settings)
    user.is_active = False
    for email in ("nobody@test.careweave.example", user.email):
        with pytest.raises(AuthenticationFailed) as exc:
            _login(session, settings, clock, email)
        assert exc.value.message == identity.BAD_CREDENTIALS


def _enrol(session, settings, clock, user: User) -> tuple[str, list[str]]:
    actor = identity.actor_for(session, user)
    pending = identity.begin_mfa_enrolment(session, actor, user, settings=settings, clock=clock)
    codes = identity.confirm_mfa_enrolment(
        session, actor, user, code=pyotp.TOTP(pending.secret).at(clock.now()), settings=settings, clock=clock
    )
    return pending.secret, codes


def test_mfa_enrolment_then_verification_and_replay(session, settings, fixed_clock):
    user = make_user(session, settings, Role.PSYCHIATRIST)
    assert identity.mfa_required_for(user, settings)
    secret, codes = _enrol(session, settings, fixed_clock, user)
    assert user.mfa_enabled and len(codes) == 10
    assert user.mfa_secret is not None and secret not in user.mfa_secret  # encrypted at rest
    fixed_clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(fixed_clock.now())
    identity.verify_second_factor(
        session, user, code=code, ip="10.0.0.1", settings=settings, clock=fixed_clock
    )
    with pytest.raises(AuthenticationFailed):  # same code again: replay
        identity.verify_second_factor(
            session, user, code=code, ip="10.0.0.1", settings=settings, clock=fixed_clock
        )
    assert "mfa.enrolled" in _actions(session, user)
    assert "mfa.verified" in _actions(session, user)
    assert "mfa.failed" in _actions(session, user)


def test_recovery_codes_work_once(session, settings, fixed_clock):
    user = make_user(session, settings, Role.ADMIN)
    _, codes = _enrol(session, settings, fixed_clock, user)
    identity.verify_second_factor(
        session, user, code=codes[0].upper(), ip=None, settings=settings, clock=fixed_clock
    )
    with pytest.raises(AuthenticationFailed):
        identity.verify_second_factor(
            session, user, code=codes[0], ip=None, settings=settings, clock=fixed_clock
        )
    assert identity.remaining_recovery_codes(session, user) == 9
    assert "mfa.recovery_code_used" in _actions(session, user)


def test_wrong_enrolment_code_keeps_mfa_off(session, settings, clock):
    user = make_user(session, settings, Role.THERAPIST)
    actor = identity.actor_for(session, user)
    identity.begin_mfa_enrolment(session, actor, user, settings=settings, clock=clock)
    with pytest.raises(InvalidInput):
        identity.confirm_mfa_enrolment(session, actor, user, code="000000", settings=settings, clock=clock)
    assert not user.mfa_enabled


def test_mfa_cannot_be_turned_off_where_required(session, settings, clock):
    user = make_user(session, settings, Role.THERAPIST)
    _enrol(session, settings, clock, user)
    with pytest.raises(RuleViolation):
        identity.disable_mfa(session, identity.actor_for(session, user), user, settings=settings, clock=clock)
    relaxed = settings.model_copy(update={"mfa_required": False})
    identity.disable_mfa(session, identity.actor_for(session, user), user, settings=relaxed, clock=clock)
    assert not user.mfa_enabled


def test_mfa_requirement_can_be_relaxed_for_the_demo(session, settings):
    relaxed = settings.model_copy(update={"mfa_required": False})
    user = make_user(session, settings, Role.PSYCHIATRIST)
    assert not identity.mfa_required_for(user, relaxed)
    patient = make_user(session, settings, Role.PATIENT)
    assert not identity.mfa_required_for(patient, settings)


def test_password_reset_link_is_single_use_and_revokes_sessions(session, settings, fixed_clock, mailer):
    user = make_user(session, settings)
    raw_session = identity.start_web_session(
        session, user, mfa_passed=True, ip=None, settings=settings, clock=fixed_clock
    )
    identity.request_password_reset(
        session,
        email=user.email,
        ip=None,
        request_id=None,
        settings=settings,
        clock=fixed_clock,
        mailer=mailer,
    )
    from careweave.core.hooks import run_on_commit

    run_on_commit(session)  # what the unit of work does after commit
    assert len(mailer.sent) == 1
    token = mailer.sent[0].body.split("token=")[1].split()[0]
    identity.reset_password(
        session,
        token=token,
        new_password="a brand new passphrase",
        ip=None,
        request_id=None,
        settings=settings,
        clock=fixed_clock,
    )
    assert _login(session, settings, fixed_clock, user.email, "a brand new passphrase").id == user.id
    assert identity.resolve_web_session(session, raw_session, settings=settings, clock=fixed_clock) is None
    with pytest.raises(RuleViolation):
        identity.reset_password(
            session,
            token=token,
            new_password="another new passphrase",
            ip=None,
            request_id=None,
            settings=settings,
            clock=fixed_clock,
        )


def test_password_reset_link_expires(session, settings, fixed_clock, mailer):
    user = make_user(session, settings)
    identity.request_password_reset(
        session,
        email=user.email,
        ip=None,
        request_id=None,
        settings=settings,
        clock=fixed_clock,
        mailer=mailer,
    )
    from careweave.core.hooks import run_on_commit

    run_on_commit(session)
    token = mailer.sent[0].body.split("token=")[1].split()[0]
    fixed_clock.advance(minutes=settings.password_reset_minutes + 1)
    with pytest.raises(RuleViolation):
        identity.reset_password(
            session,
            token=token,
            new_password="a brand new passphrase",
            ip=None,
            request_id=None,
            settings=settings,
            clock=fixed_clock,
        )


def test_reset_for_unknown_address_sends_nothing(session, settings, clock, mailer):
    identity.request_password_reset(
        session,
        email="nobody@test.careweave.example",
        ip=None,
        request_id=None,
        settings=settings,
        clock=clock,
        mailer=mailer,
    )
    from careweave.core.hooks import run_on_commit

    run_on_commit(session)
    assert mailer.sent == []


def test_web_sessions_expire_when_idle(session, settings, fixed_clock):
    user = make_user(session, settings)
    raw = identity.start_web_session(
        session, user, mfa_passed=True, ip=None, settings=settings, clock=fixed_clock
    )
    assert identity.resolve_web_session(session, raw, settings=settings, clock=fixed_clock) is not None
    fixed_clock.advance(minutes=settings.session_idle_minutes + 1)
    assert identity.resolve_web_session(session, raw, settings=settings, clock=fixed_clock) is None


def test_api_tokens_expire(session, settings, fixed_clock):
    user = make_user(session, settings)
    issued = identity.issue_api_token(
        session,
        email=user.email,
        password=PASSWORD,
        otp=None,
        ip=None,
        request_id=None,
        settings=settings,
        clock=fixed_clock,
    )
    assert identity.resolve_api_token(session, issued.access_token, clock=fixed_clock) is not None
    fixed_clock.advance(seconds=issued.expires_in + 1)
    assert identity.resolve_api_token(session, issued.access_token, clock=fixed_clock) is None


def test_deactivating_a_user_ends_their_sessions(session, settings, clock):
    admin = make_user(session, settings, Role.ADMIN)
    user = make_user(session, settings)
    raw = identity.start_web_session(session, user, mfa_passed=True, ip=None, settings=settings, clock=clock)
    identity.set_active(
        session, identity.actor_for(session, admin), user_id=user.id, active=False, clock=clock
    )
    assert identity.resolve_web_session(session, raw, settings=settings, clock=clock) is None
    with pytest.raises(RuleViolation):
        identity.set_active(
            session, identity.actor_for(session, admin), user_id=admin.id, active=False, clock=clock
        )


def test_system_actor_is_audited_without_a_user(session, settings, clock):
    user = make_user(session, settings)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.entity_id == str(user.id), AuditEvent.action == "user.created")
    ).one()
    assert event.actor_user_id is None
    assert Actor.system().is_system


def test_right_password_does_not_reset_failures_before_the_second_factor(session, settings, fixed_clock):
    """Guessing TOTP codes with a known password must still end in a lockout."""
    user = make_user(session, settings, Role.THERAPIST)
    _enrol(session, settings, fixed_clock, user)
    for _ in range(settings.login_max_failures):
        _login(session, settings, fixed_clock, user.email)  # the password is right every time
        with pytest.raises(AuthenticationFailed):
            identity.verify_second_factor(
                session, user, code="000000", ip="10.0.0.1", settings=settings, clock=fixed_clock
            )
    assert user.locked_until is not None
    with pytest.raises(TooManyAttempts):
        _login(session, settings, fixed_clock, user.email)


def test_recovery_codes_work_even_if_the_secret_key_changed(session, settings, fixed_clock):
    user = make_user(session, settings, Role.ADMIN)
    _, codes = _enrol(session, settings, fixed_clock, user)
    rotated = settings.model_copy(
        update={"secret_key": SecretStr("a-completely-different-secret-key-0123456789")}
    )
    identity.verify_second_factor(session, user, code=codes[1], ip=None, settings=rotated, clock=fixed_clock)


def test_admin_resets_a_users_two_step_setup(session, settings, clock):
    admin = make_user(session, settings, Role.ADMIN)
    user = make_user(session, settings, Role.PSYCHIATRIST)
    _enrol(session, settings, clock, user)
    raw = identity.start_web_session(session, user, mfa_passed=True, ip=None, settings=settings, clock=clock)
    identity.reset_mfa_by_admin(session, identity.actor_for(session, admin), user_id=user.id, clock=clock)
    assert not user.mfa_enabled
    assert identity.remaining_recovery_codes(session, user) == 0
    assert identity.resolve_web_session(session, raw, settings=settings, clock=clock) is None
    assert "mfa.reset_by_admin" in _actions(session, user)
