"""The pure pieces of API-client credentials: client ids, secret digests, access tokens, Authlib's client view."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest
from litestar.datastructures import Headers

from tenants import credentials
from tenants.models import ApiClient
from tenants.oauth2 import ApiClientAdapter, HttpRequest, authorization_server

KEY = "unit-test-secret-key-" + "k" * 32
ISSUER = "https://tenline.example"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TENANT = uuid.uuid4()


def test_client_id_names_its_tenant() -> None:
    tenant_id = uuid.uuid4()
    client_id = credentials.new_client_id(tenant_id)
    assert client_id.startswith(f"tlc_{tenant_id.hex}_")
    assert len(client_id) <= 80  # the column's width
    assert credentials.tenant_of_client_id(client_id) == tenant_id
    assert credentials.new_client_id(tenant_id) != client_id


@pytest.mark.parametrize(
    "client_id",
    [
        "",
        "tlc",
        "tlc__",
        f"tlc_{uuid.uuid4().hex}",
        f"tlc_{uuid.uuid4().hex}_",
        f"tlc_{uuid.uuid4().hex}_{'g' * 24}",
        f"tlc_{uuid.uuid4().hex.upper()}_{'a' * 24}",
        f"tlc_{uuid.uuid4()}_{'a' * 24}",
        f"xyz_{uuid.uuid4().hex}_{'a' * 24}",
        f"tlc_{uuid.uuid4().hex}_{'a' * 24}\n",
        f" tlc_{uuid.uuid4().hex}_{'a' * 24}",
        f"tlc_{uuid.uuid4().hex}_{'a' * 25}",
    ],
)
def test_garbled_client_ids_name_no_tenant(client_id: str) -> None:
    assert credentials.tenant_of_client_id(client_id) is None


def test_secrets_are_random_and_stored_as_digests() -> None:
    secret = credentials.new_client_secret()
    assert len(secret) >= 43  # 32 random bytes, base64url
    assert credentials.new_client_secret() != secret
    digest = credentials.hash_secret(secret)
    assert digest.startswith("sha256$") and secret not in digest
    assert len(digest) <= 128  # the column's width
    assert credentials.secret_matches(secret, digest)
    assert not credentials.secret_matches(secret + "x", digest)
    assert not credentials.secret_matches(secret, None)
    assert not credentials.secret_matches("", "")


def test_previous_secret_works_only_until_its_overlap_ends() -> None:
    old, new = credentials.new_client_secret(), credentials.new_client_secret()
    stored = {
        "secret_hash": credentials.hash_secret(new),
        "previous_secret_hash": credentials.hash_secret(old),
        "previous_secret_expires_at": NOW + dt.timedelta(seconds=60),
    }
    assert credentials.client_secret_valid(new, **stored, now=NOW)
    assert credentials.client_secret_valid(old, **stored, now=NOW)
    assert not credentials.client_secret_valid(old, **stored, now=NOW + dt.timedelta(seconds=60))
    assert credentials.client_secret_valid(new, **stored, now=NOW + dt.timedelta(days=1))
    assert not credentials.client_secret_valid("guess", **stored, now=NOW)
    no_overlap = {**stored, "previous_secret_hash": None, "previous_secret_expires_at": None}
    assert not credentials.client_secret_valid(old, **no_overlap, now=NOW)


def _token(**overrides: object) -> str:
    arguments: dict[str, object] = {
        "secret_key": KEY,
        "issuer": ISSUER,
        "client_id": credentials.new_client_id(TENANT),
        "tenant_id": TENANT,
        "scopes": ["audit:read", "agents:read"],
        "now": NOW,
        "ttl_seconds": 600,
    }
    arguments.update(overrides)
    return credentials.issue_access_token(**arguments)  # type: ignore[arg-type]


def _segments(token: str) -> tuple[dict[str, object], dict[str, object]]:
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


def test_access_token_carries_the_agreed_claims() -> None:
    token = _token()
    header, payload = _segments(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == credentials.signing_key(KEY).kid
    assert payload["iss"] == ISSUER
    assert payload["aud"] == "tenline-api"
    assert payload["tenant_id"] == str(TENANT)
    assert payload["scope"] == "agents:read audit:read"
    assert payload["exp"] == payload["iat"] + 600 == int(NOW.timestamp()) + 600
    claims = credentials.decode_access_token(token, secret_key=KEY, issuer=ISSUER, now=NOW)
    assert claims.tenant_id == TENANT
    assert claims.client_id == payload["sub"]
    assert claims.scopes == {"agents:read", "audit:read"}
    assert claims.jti == payload["jti"]
    assert _segments(_token())[1]["jti"] != payload["jti"]


def test_signing_key_is_derived_not_the_secret_key_itself() -> None:
    key = credentials.signing_key(KEY)
    assert key.raw_value != KEY.encode()
    assert len(key.raw_value) == 32
    assert credentials.signing_key("another-secret-key-" + "z" * 32).kid != key.kid


@pytest.mark.parametrize(
    ("token", "now"),
    [
        pytest.param(lambda: _token(), NOW + dt.timedelta(seconds=600 + credentials.CLOCK_SKEW_SECONDS), id="expired"),
        pytest.param(lambda: _token(), NOW - dt.timedelta(seconds=60), id="issued-in-the-future"),
        pytest.param(lambda: _token(secret_key="x" * 40), NOW, id="other-key"),
        pytest.param(lambda: _token(issuer="https://evil.example"), NOW, id="other-issuer"),
        pytest.param(lambda: _token(tenant_id=uuid.uuid4()), NOW, id="tenant-not-the-clients"),
        pytest.param(lambda: "a.b.c", NOW, id="garbage"),
        pytest.param(lambda: "", NOW, id="empty"),
    ],
)
def test_decoding_refuses_bad_tokens(token: object, now: dt.datetime) -> None:
    with pytest.raises(credentials.InvalidAccessToken):
        credentials.decode_access_token(token(), secret_key=KEY, issuer=ISSUER, now=now)  # type: ignore[operator]


def _resign(header: dict[str, object], payload: dict[str, object]) -> str:
    """A token with chosen header and claims, signed with the real key (what only the server can do)."""
    from joserfc import jws

    return jws.serialize_compact(
        header,  # type: ignore[arg-type]
        json.dumps(payload).encode(),
        credentials.signing_key(KEY),
        algorithms=[header["alg"]],  # type: ignore[list-item]
    )


def test_decoding_refuses_a_wrong_audience_kid_or_missing_claims() -> None:
    header, payload = _segments(_token())
    for changed_header, changed_payload in (
        (header, {**payload, "aud": "another-api"}),
        ({**header, "kid": "another-key"}, payload),
        (header, {k: v for k, v in payload.items() if k != "jti"}),
        (header, {k: v for k, v in payload.items() if k != "exp"}),
        (header, {**payload, "tenant_id": "not-a-uuid"}),
    ):
        with pytest.raises(credentials.InvalidAccessToken):
            credentials.decode_access_token(
                _resign(changed_header, changed_payload), secret_key=KEY, issuer=ISSUER, now=NOW
            )
    # The same path accepts the untouched claims, so the refusals above are the changes' doing.
    assert credentials.decode_access_token(_resign(header, payload), secret_key=KEY, issuer=ISSUER, now=NOW)


def test_unsigned_tokens_are_refused() -> None:
    header, payload = _segments(_token())
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")  # noqa: E731
    unsigned = f"{encode({**header, 'alg': 'none'})}.{encode(payload)}."
    with pytest.raises(credentials.InvalidAccessToken):
        credentials.decode_access_token(unsigned, secret_key=KEY, issuer=ISSUER, now=NOW)


def test_authlib_sees_a_confidential_client_credentials_client() -> None:
    secret = credentials.new_client_secret()
    row = ApiClient(
        tenant_id=TENANT,
        name="CRM",
        client_id=credentials.new_client_id(TENANT),
        secret_hash=credentials.hash_secret(secret),
        scopes=["agents:read", "audit:read"],
    )
    client = ApiClientAdapter(row)
    assert client.get_client_id() == row.client_id
    assert client.check_client_secret(secret)
    assert not client.check_client_secret(secret[:-1])
    assert client.check_grant_type("client_credentials")
    assert not client.check_grant_type("authorization_code")
    assert client.check_endpoint_auth_method("client_secret_basic", "token")
    assert client.check_endpoint_auth_method("client_secret_post", "revocation")
    assert not client.check_endpoint_auth_method("none", "token")
    assert not client.check_redirect_uri("https://example.com/callback")
    assert not client.check_response_type("code")
    assert client.get_allowed_scope(None) == "agents:read audit:read"
    assert client.get_allowed_scope("") == "agents:read audit:read"
    assert client.get_allowed_scope("audit:read billing:write") == "audit:read"


def test_oauth_refuses_a_public_plain_http_address() -> None:
    request = HttpRequest(
        method="POST",
        uri="http://tenline.example/oauth/token",
        headers=Headers({}),
        form={"grant_type": ["client_credentials"]},
        ip=None,
    )
    response = authorization_server.token_response(request)
    assert response.status_code == 400
    assert response.content == {"error": "insecure_transport", "error_description": "OAuth 2 MUST utilize https."}
