"""tenants.oidc: which provider URLs Tenline calls, and every check of an ID token."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet, OctKey, RSAKey

from app.core.settings import Settings
from tenants import oidc

ISSUER = "https://idp.example.com"
CLIENT = "tenline-client"
NONCE = "nonce-123"
NOW = 1_800_000_000


def _signing_key(kid: str = "k1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return _signing_key()


def _claims(**changes: Any) -> dict[str, Any]:
    claims = {"iss": ISSUER, "sub": "person-1", "aud": CLIENT, "exp": NOW + 300, "iat": NOW, "nonce": NONCE}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(key: Any, claims: dict[str, Any], alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


def _validate(token: str, key: RSAKey, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "keys": KeySet([RSAKey.import_key(key.as_dict(private=False))]),
        "issuer": ISSUER,
        "client_id": CLIENT,
        "nonce": NONCE,
        "algorithms": ["RS256"],
        "now": lambda: NOW,
    }
    options.update(overrides)
    return oidc.validate_id_token(token, **options)


def test_a_good_token_gives_its_claims(key: RSAKey) -> None:
    claims = _validate(_token(key, _claims(email="a@bank.example")), key)
    assert claims["sub"] == "person-1" and claims["email"] == "a@bank.example"


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example.com"},
        {"aud": "another-client"},
        {"aud": ["another-client", "third"]},
        {"nonce": "replayed"},
        {"nonce": None},
        {"exp": NOW - oidc.CLOCK_LEEWAY_SECONDS - 1},
        {"exp": None},
        {"iat": NOW + oidc.CLOCK_LEEWAY_SECONDS + 60},
        {"iat": None},
        {"sub": None},
        # Several audiences: the token must have been issued to us (azp).
        {"aud": [CLIENT, "another-client"]},
        {"aud": [CLIENT, "another-client"], "azp": "another-client"},
        {"azp": "another-client"},
    ],
)
def test_each_claim_check_refuses(key: RSAKey, changes: dict[str, Any]) -> None:
    with pytest.raises(oidc.IdTokenError):
        _validate(_token(key, _claims(**changes)), key)


def test_several_audiences_with_azp_for_us_pass(key: RSAKey) -> None:
    assert _validate(_token(key, _claims(aud=[CLIENT, "api"], azp=CLIENT)), key)["azp"] == CLIENT


def test_a_token_signed_by_another_key_is_refused(key: RSAKey) -> None:
    impostor = _signing_key(kid=key.kid)  # same kid, different key
    with pytest.raises(oidc.IdTokenError):
        _validate(_token(impostor, _claims()), key)


def test_an_unknown_key_id_is_reported_for_a_refresh(key: RSAKey) -> None:
    rotated = _signing_key(kid="k2")
    with pytest.raises(InvalidKeyIdError):
        _validate(_token(rotated, _claims()), key)


def test_hmac_signed_with_a_shared_secret_is_refused(key: RSAKey) -> None:
    secret = OctKey.import_key("client-secret-used-as-hmac-key-0123456789", parameters={"kid": key.kid})
    token = _token(secret, _claims(), alg="HS256")
    keys = KeySet([secret])
    with pytest.raises(oidc.IdTokenError):
        _validate(token, key, keys=keys, algorithms=["HS256", "RS256"])


def test_unsigned_tokens_are_refused(key: RSAKey) -> None:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    token = f"{part({'alg': 'none', 'kid': key.kid})}.{part(_claims())}."
    with pytest.raises(oidc.IdTokenError):
        _validate(token, key, algorithms=["none", "RS256"])


def test_the_real_clock_is_the_default(key: RSAKey) -> None:
    now = int(time.time())
    token = _token(key, _claims(iat=now, exp=now + 60))
    assert _validate(token, key, now=oidc._now)["sub"] == "person-1"


@pytest.mark.parametrize(
    ("url", "allowed_outside_production", "allowed_in_production"),
    [
        ("https://login.example.com", True, True),
        ("https://login.example.com/tenant/v2.0/", True, True),
        ("http://127.0.0.1:5556", True, False),
        ("http://localhost:8080/realms/x", True, False),
        ("http://login.example.com", False, False),
        ("ftp://login.example.com", False, False),
        ("https://user:pw@login.example.com", False, False),
        ("https://login.example.com?x=1", False, False),
        ("https://login.example.com#frag", False, False),
        ("https://10.0.0.5", True, False),
        ("https://169.254.169.254", True, False),
        ("https://8.8.8.8", True, True),
        ("not a url", False, False),
        ("https://login.example.com:99999", False, False),
    ],
)
def test_provider_url_policy(
    monkeypatch: pytest.MonkeyPatch, url: str, allowed_outside_production: bool, allowed_in_production: bool
) -> None:
    for environment, allowed in (("test", allowed_outside_production), ("production", allowed_in_production)):
        settings = Settings(environment=environment, secret_key="x" * 40)
        monkeypatch.setattr(oidc, "get_settings", lambda settings=settings: settings)
        assert (oidc.provider_url_problem(url) is None) is allowed, (environment, url)


def test_metadata_prefers_basic_client_auth() -> None:
    base = {"issuer": ISSUER, "authorization_endpoint": "a", "token_endpoint": "t", "jwks_uri": "j"}
    assert oidc.ProviderMetadata(**base).client_auth_method == "client_secret_basic"
    post_only = oidc.ProviderMetadata(**base, token_endpoint_auth_methods_supported=["client_secret_post"])
    assert post_only.client_auth_method == "client_secret_post"
    assert (
        oidc.ProviderMetadata(**base, id_token_signing_alg_values_supported=["HS256", "none"]).signing_algorithms == []
    )
