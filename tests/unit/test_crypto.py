"""app.core.crypto: secrets at rest under per-purpose keys derived from the secret key."""

from __future__ import annotations

import base64

import pytest

from app.core import crypto
from app.core.settings import get_settings

KEY = "unit-test-secret-key-" + "k" * 32
OTHER_KEY = "another-secret-key-" + "o" * 32


def test_round_trip_and_fresh_ciphertext_each_time() -> None:
    first = crypto.encrypt("s3cret-ü-✓", purpose="sso-client-secret:a", secret_key=KEY)
    second = crypto.encrypt("s3cret-ü-✓", purpose="sso-client-secret:a", secret_key=KEY)
    assert first != second  # random IV: equal secrets are not recognisable at rest
    assert "s3cret" not in first and "s3cret" not in base64.urlsafe_b64decode(first).decode("latin-1")
    assert crypto.decrypt(first, purpose="sso-client-secret:a", secret_key=KEY) == "s3cret-ü-✓"
    assert crypto.decrypt(second, purpose="sso-client-secret:a", secret_key=KEY) == "s3cret-ü-✓"


def test_another_purpose_cannot_decrypt() -> None:
    token = crypto.encrypt("value", purpose="sso-client-secret:tenant-a", secret_key=KEY)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, purpose="sso-client-secret:tenant-b", secret_key=KEY)


def test_another_secret_key_cannot_decrypt() -> None:
    token = crypto.encrypt("value", purpose="p", secret_key=KEY)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, purpose="p", secret_key=OTHER_KEY)


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-4] + ("AAAA" if t[-4:] != "AAAA" else "BBBB"), lambda t: t[:20], str.upper]
)
def test_tampered_or_garbled_tokens_are_refused(mangle) -> None:
    token = crypto.encrypt("value", purpose="p", secret_key=KEY)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(mangle(token), purpose="p", secret_key=KEY)


def test_non_ascii_garbage_is_a_decryption_error() -> None:
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("not-a-token-é", purpose="p", secret_key=KEY)


def test_a_purpose_is_required() -> None:
    with pytest.raises(ValueError, match="purpose"):
        crypto.encrypt("value", purpose="", secret_key=KEY)


def test_defaults_to_the_configured_secret_key() -> None:
    token = crypto.encrypt("value", purpose="p")
    assert crypto.decrypt(token, purpose="p", secret_key=get_settings().secret_key) == "value"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, purpose="p", secret_key=OTHER_KEY)
