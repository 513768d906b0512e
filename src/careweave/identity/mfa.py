"""TOTP (RFC 6238) multi-factor: secrets, otpauth URIs, QR codes, recovery codes.

TOTP secrets are stored encrypted (Fernet, key derived from CAREWEAVE_SECRET_KEY), since
a stolen database must not also yield every user's second factor.
"""

from __future__ import annotations

import base64
import hashlib
import io
import secrets

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken

ISSUER = "Careweave"
RECOVERY_CODE_COUNT = 10


def _fernet(secret_key: bytes) -> Fernet:
    key = hashlib.sha256(b"careweave-mfa-v1|" + secret_key).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt_secret(secret: str, secret_key: bytes) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def decrypt_secret(blob: str, secret_key: bytes) -> str | None:
    try:
        return _fernet(secret_key).decrypt(blob.encode()).decode()
    except InvalidToken:
        return None


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    buf = io.BytesIO()
    segno.make(uri, error="m").save(
        buf,
        kind="svg",
        scale=5,
        xmldecl=False,
        svgns=True,
        title="Scan with your authenticator app",
    )
    return buf.getvalue().decode()


def matching_step(secret: str, code: str, *, at: float, last_step: int | None) -> int | None:
    """Return the 30-second step the code belongs to (±1 step of drift), or None.

    A step already used (``last_step``) is refused, so an observed code cannot be replayed.
    """
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(at // totp.interval)
    for step in (now_step - 1, now_step, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODE_COUNT)]


def normalise_recovery_code(code: str) -> str:
    return code.strip().lower().replace(" ", "")
