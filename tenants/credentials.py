"""API-client credentials and access tokens: pure functions, no I/O.

- A client id names its tenant (``tlc_<tenant uuid hex>_<random hex>``), so the token endpoint can enter
  that tenant's context before it looks the client up under row-level security.
- Secrets are 256-bit random strings shown once and stored as SHA-256 digests: a slow password hash adds
  nothing for secrets nobody can guess, and a fast one keeps the token endpoint cheap.
- Access tokens are HS256 JWTs signed with a key derived from the application's secret key.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

CLIENT_ID_PREFIX = "tlc"
_CLIENT_ID = re.compile(rf"{CLIENT_ID_PREFIX}_([0-9a-f]{{32}})_[0-9a-f]{{24}}")
_HASH_SCHEME = "sha256$"

AUDIENCE = "tenline-api"
ALGORITHM = "HS256"
# Web processes' clocks differ by a little; a token is accepted this long around its times.
CLOCK_SKEW_SECONDS = 5


# --- client ids and secrets ----------------------------------------------------------------------


def new_client_id(tenant_id: uuid.UUID) -> str:
    return f"{CLIENT_ID_PREFIX}_{tenant_id.hex}_{secrets.token_hex(12)}"


def tenant_of_client_id(client_id: str) -> uuid.UUID | None:
    """The tenant a client id names, or None for anything this server did not issue."""
    match = _CLIENT_ID.fullmatch(client_id)  # not match with $: that allows a trailing newline
    return uuid.UUID(hex=match.group(1)) if match else None


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return _HASH_SCHEME + hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str | None) -> bool:
    """Constant-time comparison of digests; an absent hash matches nothing."""
    candidate = hash_secret(secret)
    return bool(secret_hash) and hmac.compare_digest(candidate, secret_hash or "")


def client_secret_valid(
    secret: str,
    *,
    secret_hash: str,
    previous_secret_hash: str | None,
    previous_secret_expires_at: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """The current secret, or the previous one until its overlap after a rotation ends."""
    current = secret_matches(secret, secret_hash)
    previous_live = previous_secret_expires_at is not None and now < previous_secret_expires_at
    # Both digests are compared every time, so timing does not tell which secret was tried.
    previous = secret_matches(secret, previous_secret_hash)
    return current or (previous and previous_live)


# --- access tokens -------------------------------------------------------------------------------


class InvalidAccessToken(Exception):
    """Bad signature, wrong issuer or audience, expired, malformed: the message says which, for logs."""


@dataclass(frozen=True)
class AccessTokenClaims:
    client_id: str
    tenant_id: uuid.UUID
    scopes: frozenset[str]
    jti: str
    issued_at: int
    expires_at: int


@functools.lru_cache(maxsize=4)
def signing_key(secret_key: str) -> OctKey:
    """A key for access tokens only, derived from the application's secret key (HKDF-SHA256).

    Its ``kid`` is the RFC 7638 thumbprint, so a later change of secret key is visible in every token.
    """
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tenline", info=b"tenline access tokens v1").derive(
        secret_key.encode()
    )
    key = OctKey.import_key(raw, {"alg": ALGORITHM, "use": "sig"})
    key.ensure_kid()
    return key


def scope_string(scopes: Iterable[str]) -> str:
    return " ".join(sorted(set(scopes)))


def issue_access_token(
    *,
    secret_key: str,
    issuer: str,
    client_id: str,
    tenant_id: uuid.UUID,
    scopes: Iterable[str],
    now: dt.datetime,
    ttl_seconds: int,
) -> str:
    key = signing_key(secret_key)
    issued_at = int(now.timestamp())
    claims = {
        "iss": issuer,
        "sub": client_id,
        "aud": AUDIENCE,
        "tenant_id": str(tenant_id),
        "scope": scope_string(scopes),
        "jti": secrets.token_urlsafe(16),
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
    }
    return jwt.encode({"alg": ALGORITHM, "kid": key.kid}, claims, key, algorithms=[ALGORITHM])


def decode_access_token(token: str, *, secret_key: str, issuer: str, now: dt.datetime) -> AccessTokenClaims:
    """Verifies signature, key id, issuer, audience and lifetime; raises InvalidAccessToken otherwise."""
    key = signing_key(secret_key)
    try:
        decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        if decoded.header.get("kid") != key.kid:
            raise InvalidAccessToken("signed with an unknown key")
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True},
            jti={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            tenant_id={"essential": True},
        )
        registry.validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise InvalidAccessToken(f"{type(exc).__name__}: {exc}") from None
    claims = decoded.claims
    scope = claims.get("scope", "")
    try:
        tenant_id = uuid.UUID(str(claims["tenant_id"]))
    except ValueError:
        raise InvalidAccessToken("tenant_id is not a UUID") from None
    if not isinstance(scope, str) or tenant_of_client_id(claims["sub"]) != tenant_id:
        raise InvalidAccessToken("claims do not fit together")
    return AccessTokenClaims(
        client_id=claims["sub"],
        tenant_id=tenant_id,
        scopes=frozenset(scope.split()),
        jti=claims["jti"],
        issued_at=int(claims["iat"]),
        expires_at=int(claims["exp"]),
    )
