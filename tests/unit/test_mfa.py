import pyotp

from careweave.identity import mfa

AT = 1_800_000_000.0  # a fixed instant


def test_code_of_current_step_matches():
    secret = mfa.new_secret()
    code = pyotp.TOTP(secret).at(AT)
    step = mfa.matching_step(secret, code, at=AT, last_step=None)
    assert step == int(AT // 30)


def test_one_step_of_clock_drift_is_tolerated_but_not_two():
    secret = mfa.new_secret()
    totp = pyotp.TOTP(secret)
    assert mfa.matching_step(secret, totp.at(AT - 30), at=AT, last_step=None) is not None
    assert mfa.matching_step(secret, totp.at(AT + 30), at=AT, last_step=None) is not None
    assert mfa.matching_step(secret, totp.at(AT - 90), at=AT, last_step=None) is None


def test_a_used_step_cannot_be_replayed():
    secret = mfa.new_secret()
    code = pyotp.TOTP(secret).at(AT)
    step = mfa.matching_step(secret, code, at=AT, last_step=None)
    assert mfa.matching_step(secret, code, at=AT, last_step=step) is None


def test_malformed_codes_are_refused():
    secret = mfa.new_secret()
    for code in ("", "12345", "1234567", "abcdef", "12 34 5x"):
        assert mfa.matching_step(secret, code, at=AT, last_step=None) is None


def test_secret_encryption_round_trip_and_wrong_key():
    blob = mfa.encrypt_secret("JBSWY3DPEHPK3PXP", b"k" * 40)
    assert "JBSWY3DPEHPK3PXP" not in blob
    assert mfa.decrypt_secret(blob, b"k" * 40) == "JBSWY3DPEHPK3PXP"
    assert mfa.decrypt_secret(blob, b"other-key" * 5) is None


def test_provisioning_uri_and_qr():
    uri = mfa.provisioning_uri(mfa.new_secret(), "cara@test.careweave.example")
    assert uri.startswith("otpauth://totp/Careweave:cara%40test.careweave.example?")
    assert "issuer=Careweave" in uri
    assert mfa.qr_svg(uri).lstrip().startswith("<svg")


def test_recovery_codes_are_unique_and_normalised():
    codes = mfa.new_recovery_codes()
    assert len(codes) == len(set(codes)) == mfa.RECOVERY_CODE_COUNT
    assert mfa.normalise_recovery_code(" AB12CD-EF34GH ") == "ab12cd-ef34gh"
