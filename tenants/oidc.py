"""OpenID Connect relying-party pieces: provider discovery, signing keys, ID-token validation, error codes.

No database and no routes here: the SSO service (connection admin) and the sign-in routes
(``tenants.sso``) both build on it. Provider documents are cached in Redis for a few minutes; signing
keys are fetched again when a token names a key the cache lacks (the provider rotated them).
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx
import msgspec
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from app.core.clock import utcnow
from app.core.redis import get_redis
from app.core.settings import get_settings

DISCOVERY_PATH = "/.well-known/openid-configuration"
CACHE_TTL_SECONDS = 300
CLOCK_LEEWAY_SECONDS = 60
MAX_DOCUMENT_BYTES = 512 * 1024
HTTP_TIMEOUT = httpx.Timeout(5.0)
SCOPE = "openid email profile"
# Asymmetric only: "none" is never acceptable, and HMAC would make the client secret a signing key.
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
T = TypeVar("T")

SSO_START_PATH = "/sso/start"
SSO_CALLBACK_PATH = "/sso/callback"
LOGIN_PATH = "/login"


class SignInError(enum.StrEnum):
    """Why an SSO sign-in failed: sent to the login page as ``/login?error=<code>``."""

    TENANT_REQUIRED = "sso_tenant_required"  # the form's tenant field was empty
    UNAVAILABLE = "sso_unavailable"  # unknown or inactive tenant, no enabled connection, unreadable secret
    PROVIDER_ERROR = "sso_provider_error"  # the provider is unreachable or its configuration unusable
    STATE_MISMATCH = "sso_state_mismatch"  # no sign-in pending in this browser, or the state differs
    EXPIRED = "sso_expired"  # the round trip to the provider took longer than allowed
    DENIED = "sso_denied"  # the provider answered with an error (the person cancelled, say)
    # (S105: error codes, not secrets)
    TOKEN_FAILED = "sso_token_failed"  # noqa: S105  the code could not be exchanged for tokens
    INVALID_TOKEN = "sso_invalid_token"  # noqa: S105  the ID token failed validation (signature, iss, aud, exp, nonce)
    EMAIL_MISSING = "sso_email_missing"  # the provider sent no email address
    EMAIL_UNVERIFIED = "sso_email_unverified"  # the provider says the email address is not verified
    DOMAIN_NOT_ALLOWED = "sso_domain_not_allowed"  # the email's domain is not in the connection's list
    NO_ACCOUNT = "sso_no_account"  # no membership in this tenant for that email, and no provisioning
    ACCOUNT_DISABLED = "sso_account_disabled"  # the person's login is deactivated
    FAILED = "sso_failed"  # anything unexpected (logged with its traceback)


class SignInRefused(Exception):
    """An SSO sign-in stops here: ``code`` goes to the login page, ``reason`` only to the logs."""

    def __init__(self, code: SignInError, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def callback_url() -> str:
    """The redirect URI registered with every provider: from the configured base URL, never the Host header."""
    return get_settings().base_url.rstrip("/") + SSO_CALLBACK_PATH


def start_url(tenant_slug: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}{SSO_START_PATH}?{urlencode({'tenant': tenant_slug})}"


class ProviderError(Exception):
    """The identity provider is unreachable or answered something unusable."""


class IdTokenError(Exception):
    """The ID token failed validation; the message says which check (for logs, never for users)."""


class ProviderMetadata(msgspec.Struct, kw_only=True):
    """The parts of an OpenID Provider's discovery document a relying party needs."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    response_types_supported: list[str] = msgspec.field(default_factory=list)
    id_token_signing_alg_values_supported: list[str] = msgspec.field(default_factory=lambda: ["RS256"])
    token_endpoint_auth_methods_supported: list[str] = msgspec.field(default_factory=lambda: ["client_secret_basic"])

    @property
    def signing_algorithms(self) -> list[str]:
        return [alg for alg in self.id_token_signing_alg_values_supported if alg in SIGNING_ALGORITHMS]

    @property
    def client_auth_method(self) -> str:
        """How to send the client secret: Basic (the OIDC default) unless the provider only takes POST."""
        methods = self.token_endpoint_auth_methods_supported
        if "client_secret_basic" not in methods and "client_secret_post" in methods:
            return "client_secret_post"
        return "client_secret_basic"


def provider_url_problem(url: str) -> str | None:
    """Why Tenline will not call ``url`` on a tenant's behalf, or None when it may.

    HTTPS only; plain HTTP only to this machine outside production (local and test providers). In
    production an IP literal must be a public address, so a tenant cannot point us at internal services.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        return "is not a valid URL"
    if not host or parts.username is not None or parts.password is not None:
        return "must be an absolute URL with a host and no credentials"
    if parts.query or parts.fragment:
        return "must not carry a query or fragment"
    production = get_settings().environment == "production"
    if parts.scheme == "http":
        if host in _LOOPBACK_HOSTS and not production:
            return None
        return "must use https (http is accepted only for localhost outside production)"
    if parts.scheme != "https":
        return "must use https"
    if production:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if not address.is_global:
            return "must not point at a private, loopback or link-local address"
    return None


def _cache_key(kind: str, url: str) -> str:
    return f"tenline:oidc:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


async def _fetch(url: str) -> bytes:
    problem = provider_url_problem(url)
    if problem:
        raise ProviderError(f"{url} {problem}")
    body = bytearray()
    try:
        async with (
            httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise ProviderError(f"{url} answered HTTP {response.status_code}")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise ProviderError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise ProviderError(f"{url} could not be fetched ({type(exc).__name__}: {exc})") from exc
    return bytes(body)


async def _cached(kind: str, url: str, refresh: bool, parse: Callable[[bytes], T]) -> T:
    """Fetches and parses ``url``, or parses the cached copy; only a document that parsed is cached."""
    redis = get_redis()
    key = _cache_key(kind, url)
    if not refresh:
        cached = await redis.get(key)
        if cached is not None:
            return parse(cached.encode() if isinstance(cached, str) else cached)
    body = await _fetch(url)
    parsed = parse(body)
    await redis.set(key, body, ex=CACHE_TTL_SECONDS)
    return parsed


def _parse_metadata(issuer: str) -> Callable[[bytes], ProviderMetadata]:
    def parse(body: bytes) -> ProviderMetadata:
        try:
            metadata = msgspec.json.decode(body, type=ProviderMetadata)
        except msgspec.MsgspecError as exc:
            raise ProviderError(f"the OpenID configuration is not usable: {exc}") from exc
        # OpenID Connect Discovery 4.3: the document must name exactly the issuer it was fetched for.
        if metadata.issuer != issuer:
            raise ProviderError(f"the OpenID configuration names issuer {metadata.issuer!r}, not {issuer!r}")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            problem = provider_url_problem(getattr(metadata, name))
            if problem:
                raise ProviderError(f"{name} {problem}")
        if metadata.response_types_supported and "code" not in metadata.response_types_supported:
            raise ProviderError("the provider does not support the authorization code flow")
        if not metadata.signing_algorithms:
            raise ProviderError("the provider signs ID tokens with no algorithm Tenline accepts")
        return metadata

    return parse


async def discover(issuer: str, *, refresh: bool = False) -> ProviderMetadata:
    """The issuer's discovery document (``/.well-known/openid-configuration``), checked and cached."""
    problem = provider_url_problem(issuer)
    if problem:
        raise ProviderError(f"the issuer {problem}")
    url = issuer.rstrip("/") + DISCOVERY_PATH
    return await _cached("discovery", url, refresh, _parse_metadata(issuer))


def _parse_key_set(body: bytes) -> KeySet:
    try:
        return KeySet.import_key_set(msgspec.json.decode(body))
    except (msgspec.MsgspecError, JoseError, ValueError, KeyError, TypeError) as exc:
        raise ProviderError(f"the provider's signing keys are not usable: {exc}") from exc


async def signing_keys(jwks_uri: str, *, refresh: bool = False) -> KeySet:
    return await _cached("jwks", jwks_uri, refresh, _parse_key_set)


def _now() -> int:
    return int(utcnow().timestamp())


def validate_id_token(
    id_token: str,
    *,
    keys: KeySet,
    issuer: str,
    client_id: str,
    nonce: str,
    algorithms: list[str],
    now: Callable[[], int] = _now,
) -> dict[str, Any]:
    """The ID token's claims after checking signature, iss, aud (and azp), exp, iat and nonce.

    Raises ``InvalidKeyIdError`` when no key matches (the caller refreshes the keys and retries) and
    ``IdTokenError`` for every other failure.
    """
    try:
        token = jwt.decode(id_token, keys, algorithms=[alg for alg in algorithms if alg in SIGNING_ALGORITHMS])
    except InvalidKeyIdError:
        raise
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise IdTokenError(f"signature or format: {type(exc).__name__}: {exc}") from exc
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(token.claims)
    except JoseError as exc:
        raise IdTokenError(f"claims: {type(exc).__name__}: {exc}") from exc
    claims = token.claims
    # OIDC Core 3.1.3.7: with several audiences the token must say it was issued to us.
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise IdTokenError("claims: azp is not this client")
    return claims


async def verified_claims(id_token: str, metadata: ProviderMetadata, *, client_id: str, nonce: str) -> dict[str, Any]:
    """Validates an ID token against the provider's current keys, fetching them again once if rotated."""
    unknown_key: InvalidKeyIdError | None = None
    for refresh in (False, True):
        keys = await signing_keys(metadata.jwks_uri, refresh=refresh)
        try:
            return validate_id_token(
                id_token,
                keys=keys,
                issuer=metadata.issuer,
                client_id=client_id,
                nonce=nonce,
                algorithms=metadata.signing_algorithms,
            )
        except InvalidKeyIdError as exc:
            unknown_key = exc
    raise IdTokenError(f"no provider key matches the token: {unknown_key}")
