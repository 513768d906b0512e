from careweave.identity import passwords


def test_hashes_are_argon2id_and_verify():
    h = passwords.hash_password("a long enough passphrase")
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")  # OWASP minimum for Argon2id
    assert passwords.verify_password(h, "a long enough passphrase")
    assert not passwords.verify_password(h, "a long enough passphrasE")


def test_same_password_hashes_differently_salted():
    assert passwords.hash_password("same password here") != passwords.hash_password("same password here")


def test_unknown_account_never_verifies():
    assert passwords.verify_password(None, "careweave-timing-equaliser") is False


def test_garbage_hash_is_a_failed_verification_not_an_error():
    assert passwords.verify_password("not-a-hash", "whatever") is False


def test_password_rules_prefer_length():
    assert passwords.password_problems("short", min_length=12) == ["must be at least 12 characters"]
    assert passwords.password_problems("x" * 300, min_length=12) == ["must be at most 256 characters"]
    assert passwords.password_problems("me@example.com", min_length=8, email="ME@example.com") == [
        "must not be your e-mail address"
    ]
    assert passwords.password_problems("four random words here", min_length=12) == []
