import pytest
from pydantic import ValidationError

from careweave.settings import Settings, ensure_secret_key


def test_defaults_point_at_a_local_sqlite_file(tmp_path):
    s = Settings(data_dir=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path / 'careweave.sqlite3'}"
    assert s.mfa_required is True


def test_secret_key_is_generated_once_and_kept(tmp_path):
    first = ensure_secret_key(Settings(data_dir=tmp_path))
    second = ensure_secret_key(Settings(data_dir=tmp_path))
    assert len(first.secret_key.get_secret_value()) >= 32
    assert first.secret_key.get_secret_value() == second.secret_key.get_secret_value()
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_refuses_weak_secrets_and_console_mail(tmp_path):
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(env="prod", secret_key="short", mail_transport="smtp", data_dir=tmp_path)
    with pytest.raises(ValidationError, match=r"SMTP|smtp"):
        Settings(env="prod", secret_key="k" * 40, mail_transport="console", data_dir=tmp_path)


def test_https_base_url_means_secure_cookies():
    assert Settings(base_url="https://care.example.org").secure_cookies
    assert not Settings(base_url="http://127.0.0.1:8000").secure_cookies
