"""Configuration, read once from the environment (prefix ``CAREWEAVE_``) at the entry point.

Nothing reads the environment at import time: the CLI and the app factory call
:func:`load_settings`, tests build :class:`Settings` directly.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    # hide_input_in_errors: a refused configuration must not print secrets in its error.
    model_config = SettingsConfigDict(
        env_prefix="CAREWEAVE_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    secret_key: SecretStr = SecretStr("")
    base_url: str = "http://127.0.0.1:8000"

    # identity
    mfa_required: bool = True
    session_idle_minutes: int = Field(default=30, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    api_token_minutes: int = Field(default=60, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    login_ip_max_failures: int = Field(default=20, ge=1)
    login_ip_window_minutes: int = Field(default=15, ge=1)
    password_reset_minutes: int = Field(default=30, ge=1)
    invitation_hours: int = Field(default=72, ge=1)
    patient_self_signup: bool = True
    password_min_length: int = Field(default=12, ge=8)

    # mail: console (log), file (one .eml per message under data_dir/mail) or smtp
    mail_transport: Literal["console", "file", "smtp"] = "console"
    mail_from: str = "Careweave <no-reply@careweave.invalid>"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True

    # safety workflow: minutes an alert may stay unacknowledged before it escalates to the
    # next person on the on-call roster (high: spec default 15; moderate = same day; low =
    # by the end of the next business day in the clinic's zone, see safety.rules)
    safety_escalate_high_minutes: int = Field(default=15, ge=0)
    safety_escalate_moderate_minutes: int = Field(default=120, ge=0)
    safety_business_day_end_hour: int = Field(default=17, ge=0, le=23)
    worker_poll_seconds: float = Field(default=15.0, gt=0)

    # working together (issue #6): a sent referral nobody accepted within this many days shows as overdue
    referral_overdue_days: int = Field(default=7, ge=1, le=365)

    # scheduling (issue #5)
    reminder_offsets_minutes: list[int] = Field(default=[1440, 60])  # 24 h and 1 h before
    reminder_channels: list[Literal["email", "sms"]] = Field(default=["email", "sms"])
    sms_transport: Literal["console", "file", "http"] = "console"  # http: a provider's webhook API
    sms_http_url: str = ""
    sms_http_token: SecretStr = SecretStr("")
    waitlist_offer_minutes: int = Field(default=120, ge=1)  # how long a freed slot is held for one patient
    job_lease_seconds: int = Field(default=300, ge=10)  # a claimed job is retried after this if not finished
    job_max_attempts: int = Field(default=5, ge=1)
    visit_room_opens_minutes: int = Field(default=15, ge=0)  # before the start
    visit_room_closes_minutes: int = Field(default=60, ge=0)  # after the end
    # WebRTC: STUN/TURN servers handed to browsers (JSON list of RTCIceServer); coturn in production
    ice_servers: list[dict[str, object]] = Field(default_factory=list)
    # TURN with short-lived credentials (coturn use-auth-secret; visits/ice.py): the turn:/turns: URLs and the
    # shared secret (coturn's static-auth-secret). Each room page gets a credential that expires when the room
    # closes. Both set, or neither.
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: SecretStr = SecretStr("")
    # Signaling across app processes: "auto" = PostgreSQL LISTEN/NOTIFY on PostgreSQL, in-process on SQLite;
    # or a Redis URL (redis://...) for Redis pub/sub
    signaling_broker: str = "auto"

    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    log_json: bool = False
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _fill_defaults(self) -> Self:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'careweave.sqlite3'}"
        if bool(self.turn_urls) != bool(self.turn_secret.get_secret_value()):
            raise ValueError("CAREWEAVE_TURN_URLS and CAREWEAVE_TURN_SECRET go together: set both or neither")
        bad = [u for u in self.turn_urls if not u.startswith(("turn:", "turns:"))]
        if bad:
            raise ValueError(f"CAREWEAVE_TURN_URLS: not a turn: or turns: URL: {bad[0]}")
        if self.env == "prod":
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("CAREWEAVE_SECRET_KEY must be set to 32+ characters in production")
            if self.mail_transport != "smtp":
                raise ValueError("production needs CAREWEAVE_MAIL_TRANSPORT=smtp")
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def secret(self) -> bytes:
        value = self.secret_key.get_secret_value()
        if not value:
            raise RuntimeError("secret key not initialised; call ensure_secret_key()")
        return value.encode()


def ensure_secret_key(settings: Settings) -> Settings:
    """Use CAREWEAVE_SECRET_KEY, or a key generated once and kept in ``data_dir/secret_key``.

    The generated file is for local use only (the file is created 0600 and never committed).
    """
    if settings.secret_key.get_secret_value():
        return settings
    path = settings.data_dir / "secret_key"
    if path.exists():
        key = path.read_text().strip()
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key + "\n")
    return settings.model_copy(update={"secret_key": SecretStr(key)})


def load_settings() -> Settings:
    return ensure_secret_key(Settings())
