"""Argon2id password hashing (argon2-cffi), with rehash-on-login when parameters change."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type

# Argon2id with OWASP's recommended minimum configuration (Password Storage Cheat Sheet:
# "m=19456 (19 MiB), t=2, p=1"). argon2-cffi's default (64 MiB, t=3, p=4) cost ~0.6 s per
# log-in on our 2-core machines, which itself becomes a denial-of-service lever; stored
# hashes carry their parameters and are upgraded on the next log-in (needs_rehash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
# A real hash to verify against when the account does not exist, so timing does not
# reveal which e-mail addresses have accounts.
_DUMMY = _hasher.hash("careweave-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def password_problems(password: str, *, min_length: int, email: str = "") -> list[str]:
    """NIST SP 800-63B style: length over composition rules, no e-mail as password."""
    problems = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters")
    if len(password) > 256:
        problems.append("must be at most 256 characters")
    if email and password.lower() == email.lower():
        problems.append("must not be your e-mail address")
    return problems
