"""Secrets at rest: Fernet (AES-128-CBC with HMAC-SHA256) under keys derived from the app's secret key.

Every use names a purpose, and HKDF derives a separate key for each, so a ciphertext made for one use
(say one tenant's SSO client secret) cannot be decrypted as another, nor copied into another row.
Used for third-party secrets Tenline must send back out (SSO client secrets, webhook signing keys);
secrets Tenline only checks (passwords, API client secrets) are hashed instead.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.settings import get_settings

# Fixed and public: the secret key carries the entropy; the salt only separates Tenline's derivations.
_SALT = b"tenline/crypto/v1"


class DecryptionError(Exception):
    """The ciphertext was tampered with, made for another purpose, or made under another secret key."""


@functools.lru_cache(maxsize=256)
def _fernet(secret_key: str, purpose: str) -> Fernet:
    if not purpose:
        raise ValueError("a purpose is required, e.g. 'sso-client-secret:<tenant id>'")
    derived = HKDF(algorithm=SHA256(), length=32, salt=_SALT, info=purpose.encode()).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plaintext: str, *, purpose: str, secret_key: str | None = None) -> str:
    """Encrypts ``plaintext`` for ``purpose``; a fresh random IV each time, so equal inputs differ."""
    return _fernet(secret_key or get_settings().secret_key, purpose).encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str, *, purpose: str, secret_key: str | None = None) -> str:
    """The plaintext of ``token``; raises ``DecryptionError`` unless it was made for this purpose and key."""
    try:
        return _fernet(secret_key or get_settings().secret_key, purpose).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError(f"cannot decrypt a secret for {purpose!r}") from exc
