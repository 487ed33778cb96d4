"""OAuth2 client credentials end to end: the token endpoint, bearer tokens on the API, revocation, rotation."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid
from typing import Any

import httpx
from sqlmodel import select

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import acting_as
from tenants import credentials, service
from tenants.models import ApiClient, AuditEntry
from tests.conftest import LiveServer
from tests.factories import (
    OPERATOR,
    SignedIn,
    make_agent,
    make_api_client,
    make_staff,
    make_tenant,
    make_tenant_user,
    sign_in,
)

TOKEN = "/oauth/token"
REVOKE = "/oauth/revoke"
AGENTS = "/api/v1/agents"
CLIENTS = "/api/v1/api-clients"


async def request_token(
    http: httpx.AsyncClient, client_id: str, secret: str, *, scope: str | None = None, auth: str = "basic"
) -> httpx.Response:
    form = {"grant_type": "client_credentials"}
    if scope is not None:
        form["scope"] = scope
    if auth == "basic":
        return await http.post(TOKEN, data=form, auth=(client_id, secret))
    return await http.post(TOKEN, data={**form, "client_id": client_id, "client_secret": secret})


async def access_token(http: httpx.AsyncClient, client_id: str, secret: str, scope: str | None = None) -> str:
    response = await request_token(http, client_id, secret, scope=scope)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_client(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "invalid_client"


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["status"] == 401


async def tenant_admin(live_server: LiveServer, tenant_id: uuid.UUID) -> SignedIn:
    admin = await make_tenant_user(tenant_id, "tenant_admin")
    return await sign_in(live_server.url, admin.email)


async def stored_row(tenant_id: uuid.UUID, api_client_id: uuid.UUID) -> ApiClient:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            row = (await session.exec(select(ApiClient).where(ApiClient.id == api_client_id))).one()
            return row


async def audit_actions(tenant_id: uuid.UUID, object_id: uuid.UUID) -> list[dict[str, Any]]:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            entries = (
                await session.exec(
                    select(AuditEntry)
                    .where(AuditEntry.tenant_id == tenant_id, AuditEntry.object_id == str(object_id))
                    .order_by(AuditEntry.occurred_at)  # type: ignore[arg-type]
                )
            ).all()
    return [{"action": e.action, "actor_kind": e.actor_kind, "detail": e.detail} for e in entries]


async def test_token_with_basic_and_post_client_authentication(
    http: httpx.AsyncClient, live_server: LiveServer
) -> None:
    tenant = await make_tenant("bank")
    client, secret = await make_api_client(tenant.id, ["agents:read", "audit:read"])

    basic = await request_token(http, client.client_id, secret)
    assert basic.status_code == 200, basic.text
    assert basic.headers["cache-control"] == "no-store"
    body = basic.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == get_settings().access_token_ttl_seconds
    assert body["scope"] == "agents:read audit:read"
    claims = credentials.decode_access_token(
        body["access_token"], secret_key=get_settings().secret_key, issuer=live_server.url, now=utcnow()
    )
    assert claims.client_id == client.client_id
    assert claims.tenant_id == tenant.id
    assert claims.scopes == {"agents:read", "audit:read"}
    assert claims.expires_at - claims.issued_at == get_settings().access_token_ttl_seconds

    posted = await request_token(http, client.client_id, secret, scope="agents:read", auth="post")
    assert posted.status_code == 200, posted.text
    assert posted.json()["scope"] == "agents:read"
    posted_claims = credentials.decode_access_token(
        posted.json()["access_token"], secret_key=get_settings().secret_key, issuer=live_server.url, now=utcnow()
    )
    assert posted_claims.scopes == {"agents:read"}
    assert posted_claims.jti != claims.jti


async def test_client_authentication_failures_are_401_invalid_client(http: httpx.AsyncClient) -> None:
    tenant = await make_tenant("bank")
    other = await make_tenant("insurer")
    client, secret = await make_api_client(tenant.id, ["agents:read"])

    assert_invalid_client(await request_token(http, client.client_id, secret + "x"))
    assert_invalid_client(await request_token(http, client.client_id, "wrong", auth="post"))
    # The same answer for ids that do not exist, whether well-formed or not, in either method.
    for client_id in (
        credentials.new_client_id(tenant.id),
        client.client_id.replace(tenant.id.hex, other.id.hex),
        "nonsense",
        "tlc_zz_zz",
        "",
    ):
        assert_invalid_client(await request_token(http, client_id, secret))
        assert_invalid_client(await request_token(http, client_id, secret, auth="post"))
    garbled_basic = base64.b64encode(b"\xff\xfe:\xfa").decode()
    response = await http.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {garbled_basic}"}
    )
    assert_invalid_client(response)
    assert_invalid_client(await http.post(TOKEN, data={"grant_type": "client_credentials"}))

    unsupported = await http.post(TOKEN, data={"grant_type": "password"}, auth=(client.client_id, secret))
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"


async def test_scopes_beyond_the_clients_are_invalid_scope(http: httpx.AsyncClient) -> None:
    tenant = await make_tenant("bank")
    client, secret = await make_api_client(tenant.id, ["agents:read"])
    for scope in ("audit:read", "agents:read audit:read", "billing:write"):
        response = await request_token(http, client.client_id, secret, scope=scope)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_scope"


async def test_token_reads_only_its_tenants_agents(http: httpx.AsyncClient) -> None:
    tenant = await make_tenant("bank")
    other = await make_tenant("insurer")
    own = await make_agent(tenant.id)
    shared = await make_agent(tenant.id, other.id)
    await make_agent(other.id)
    client, secret = await make_api_client(tenant.id, ["agents:read"])
    token = await access_token(http, client.client_id, secret)

    response = await http.get(AGENTS, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert {item["agent_id"] for item in response.json()["items"]} == {str(own.id), str(shared.id)}

    me = (await http.get("/api/v1/me", headers=bearer(token))).json()
    assert me == {
        "kind": "api_client",
        "subject_id": str(client.id),
        "display_name": client.name,
        "tenant_id": str(tenant.id),
        "roles": [],
        "scopes": ["agents:read"],
    }

    # Uses are recorded, at most once a minute.
    first_use = (await stored_row(tenant.id, client.id)).last_used_at
    assert first_use is not None and utcnow() - first_use < dt.timedelta(seconds=30)
    assert (await http.get(AGENTS, headers=bearer(token))).status_code == 200
    assert (await stored_row(tenant.id, client.id)).last_used_at == first_use


async def test_token_without_the_scope_is_403(http: httpx.AsyncClient) -> None:
    tenant = await make_tenant("bank")
    auditor, auditor_secret = await make_api_client(tenant.id, ["audit:read"])
    token = await access_token(http, auditor.client_id, auditor_secret)
    assert (await http.get(AGENTS, headers=bearer(token))).status_code == 403
    assert (await http.get("/api/v1/audit-log", headers=bearer(token))).status_code == 200

    # A token asked for fewer scopes than the client holds gets only those.
    both, both_secret = await make_api_client(tenant.id, ["agents:read", "audit:read"])
    narrow = await access_token(http, both.client_id, both_secret, scope="audit:read")
    assert (await http.get(AGENTS, headers=bearer(narrow))).status_code == 403
    # Managing API clients is for people, never for a program.
    assert (await http.get(CLIENTS, headers=bearer(narrow))).status_code == 403


async def test_expired_tampered_and_foreign_tokens_are_401(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    tenant = await make_tenant("bank")
    client, _ = await make_api_client(tenant.id, ["agents:read"])
    settings = get_settings()

    def mint(*, now: dt.datetime, secret_key: str = settings.secret_key, issuer: str = live_server.url) -> str:
        return credentials.issue_access_token(
            secret_key=secret_key,
            issuer=issuer,
            client_id=client.client_id,
            tenant_id=tenant.id,
            scopes=["agents:read"],
            now=now,
            ttl_seconds=60,
        )

    fresh = mint(now=utcnow())
    assert (await http.get(AGENTS, headers=bearer(fresh))).status_code == 200
    assert_invalid_token(await http.get(AGENTS, headers=bearer(mint(now=utcnow() - dt.timedelta(seconds=90)))))
    assert_invalid_token(await http.get(AGENTS, headers=bearer(mint(now=utcnow(), secret_key="another-" * 6))))
    assert_invalid_token(await http.get(AGENTS, headers=bearer(mint(now=utcnow(), issuer="https://elsewhere"))))
    header, payload, signature = fresh.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert_invalid_token(await http.get(AGENTS, headers=bearer(f"{header}.{payload}.{flipped}")))
    assert_invalid_token(await http.get(AGENTS, headers=bearer("not-a-jwt")))


async def test_revoking_the_client_stops_its_tokens_at_once(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    tenant = await make_tenant("bank")
    client, secret = await make_api_client(tenant.id, ["agents:read"])
    token = await access_token(http, client.client_id, secret)
    assert (await http.get(AGENTS, headers=bearer(token))).status_code == 200

    async with await tenant_admin(live_server, tenant.id) as admin:
        revoked = await admin.post(f"{CLIENTS}/{client.id}/revoke")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["status"] == "revoked"
        assert revoked.json()["revoked_at"] is not None
        assert_invalid_token(await http.get(AGENTS, headers=bearer(token)))
        assert_invalid_client(await request_token(http, client.client_id, secret))
        assert (await admin.post(f"{CLIENTS}/{client.id}/rotate-secret", json={})).status_code == 409
    actions = [entry["action"] for entry in await audit_actions(tenant.id, client.id)]
    assert actions == ["api_client.created", "api_client.revoked"]


async def test_suspended_tenants_clients_get_no_tokens(http: httpx.AsyncClient) -> None:
    tenant = await make_tenant("bank")
    client, secret = await make_api_client(tenant.id, ["agents:read"])
    token = await access_token(http, client.client_id, secret)
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            row = await service.get_tenant(session, tenant.id, OPERATOR)
            await service.change_tenant_status(session, row, "suspend")
    assert_invalid_token(await http.get(AGENTS, headers=bearer(token)))
    assert_invalid_client(await request_token(http, client.client_id, secret))


async def test_rfc7009_revokes_one_token(http: httpx.AsyncClient) -> None:
    tenant = await make_tenant("bank")
    client, secret = await make_api_client(tenant.id, ["agents:read"])
    other, other_secret = await make_api_client(tenant.id, ["agents:read"])
    first = await access_token(http, client.client_id, secret)
    second = await access_token(http, client.client_id, secret)

    # Only the client the token was issued to may revoke it.
    refused = await http.post(REVOKE, data={"token": first}, auth=(other.client_id, other_secret))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert_invalid_client(await http.post(REVOKE, data={"token": first}))
    assert_invalid_client(await http.post(REVOKE, data={"token": first}, auth=(client.client_id, "wrong")))
    assert (await http.get(AGENTS, headers=bearer(first))).status_code == 200

    revoked = await http.post(
        REVOKE,
        data={
            "token": first,
            "token_type_hint": "access_token",
            "client_id": client.client_id,
            "client_secret": secret,
        },
    )
    assert revoked.status_code == 200, revoked.text
    assert_invalid_token(await http.get(AGENTS, headers=bearer(first)))
    assert (await http.get(AGENTS, headers=bearer(second))).status_code == 200

    # The revocation list lives no longer than the token would have.
    jti = credentials.decode_access_token(
        first, secret_key=get_settings().secret_key, issuer=str(http.base_url).rstrip("/"), now=utcnow()
    ).jti
    ttl = await get_redis().ttl(f"tenline:revoked-access-token:{jti}")
    assert 0 < ttl <= get_settings().access_token_ttl_seconds + credentials.CLOCK_SKEW_SECONDS

    # RFC 7009: a token the server cannot use is answered 200 as well.
    assert (await http.post(REVOKE, data={"token": "garbage"}, auth=(client.client_id, secret))).status_code == 200
    missing = await http.post(REVOKE, data={}, auth=(client.client_id, secret))
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"

    audit = await audit_actions(tenant.id, client.id)
    assert {"action": "api_client.token_revoked", "actor_kind": "api_client", "detail": {"jti": jti}} in audit


async def test_rotation_without_overlap_stops_the_old_secret_at_once(
    http: httpx.AsyncClient, live_server: LiveServer
) -> None:
    tenant = await make_tenant("bank")
    client, old_secret = await make_api_client(tenant.id, ["agents:read"])
    async with await tenant_admin(live_server, tenant.id) as admin:
        rotated = await admin.post(f"{CLIENTS}/{client.id}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new_secret = rotated.json()["client_secret"]
    assert new_secret != old_secret
    assert rotated.json()["rotated_at"] is not None
    assert rotated.json()["previous_secret_expires_at"] is None
    assert_invalid_client(await request_token(http, client.client_id, old_secret))
    assert (await request_token(http, client.client_id, new_secret)).status_code == 200


async def test_rotation_with_overlap_keeps_the_old_secret_until_it_ends(
    http: httpx.AsyncClient, live_server: LiveServer
) -> None:
    tenant = await make_tenant("bank")
    client, old_secret = await make_api_client(tenant.id, ["agents:read"])
    async with await tenant_admin(live_server, tenant.id) as admin:
        rotated = await admin.post(f"{CLIENTS}/{client.id}/rotate-secret", json={"overlap_seconds": 2})
        assert rotated.status_code == 200, rotated.text
        too_long = await admin.post(f"{CLIENTS}/{client.id}/rotate-secret", json={"overlap_seconds": 86401})
        assert too_long.status_code == 400
    new_secret = rotated.json()["client_secret"]
    ends = dt.datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert (await request_token(http, client.client_id, old_secret)).status_code == 200
    assert (await request_token(http, client.client_id, new_secret)).status_code == 200

    await asyncio.sleep(max(0.0, (ends - utcnow()).total_seconds()) + 0.2)
    assert_invalid_client(await request_token(http, client.client_id, old_secret))
    assert (await request_token(http, client.client_id, new_secret)).status_code == 200
    detail = [e["detail"] for e in await audit_actions(tenant.id, client.id) if e["action"].endswith("rotated")]
    assert detail == [{"overlap_seconds": 2}]


async def test_admin_api_manages_the_tenants_own_clients_only(live_server: LiveServer) -> None:
    tenant = await make_tenant("bank")
    other = await make_tenant("insurer")
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    async with (
        await tenant_admin(live_server, tenant.id) as admin,
        await tenant_admin(live_server, other.id) as outsider,
        await sign_in(live_server.url, supervisor.email) as supervising,
    ):
        created = await admin.post(CLIENTS, json={"name": "Bank CRM", "scopes": ["agents:read"]})
        assert created.status_code == 201, created.text
        assert created.headers["cache-control"] == "no-store"
        body = created.json()
        assert body["client_id"].startswith(f"tlc_{tenant.id.hex}_")
        assert body["client_secret"]
        assert body["status"] == "active"
        client_id = body["id"]

        assert (await admin.post(CLIENTS, json={"name": "Bank CRM", "scopes": ["agents:read"]})).status_code == 409
        unknown = await admin.post(CLIENTS, json={"name": "Other", "scopes": ["billing:write"]})
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["field"] == "scopes"

        listed = (await admin.get(CLIENTS)).json()["items"]
        assert [item["id"] for item in listed] == [client_id]
        fetched = await admin.get(f"{CLIENTS}/{client_id}")
        assert fetched.status_code == 200
        assert not {"client_secret", "secret_hash", "previous_secret_hash"} & set(fetched.json())

        # Another tenant's admin: as if it did not exist.
        assert (await outsider.get(CLIENTS)).json()["items"] == []
        assert (await outsider.get(f"{CLIENTS}/{client_id}")).status_code == 404
        assert (await outsider.post(f"{CLIENTS}/{client_id}/rotate-secret")).status_code == 404
        assert (await outsider.post(f"{CLIENTS}/{client_id}/revoke")).status_code == 404
        assert (await admin.get(f"{CLIENTS}/{client_id}")).json()["status"] == "active"

        assert (await supervising.get(CLIENTS)).status_code == 403

    operator = await make_staff("operator_admin")
    async with await sign_in(live_server.url, operator.email) as acting:
        listed = await acting.get(CLIENTS, headers={"Tenline-Tenant": str(tenant.id)})
        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["items"]] == [client_id]


async def test_secrets_are_stored_only_as_digests(live_server: LiveServer) -> None:
    tenant = await make_tenant("bank")
    client, first_secret = await make_api_client(tenant.id, ["agents:read"])
    async with await tenant_admin(live_server, tenant.id) as admin:
        rotated = await admin.post(f"{CLIENTS}/{client.id}/rotate-secret", json={"overlap_seconds": 600})
    second_secret = rotated.json()["client_secret"]

    row = await stored_row(tenant.id, client.id)
    stored = " ".join(str(value) for value in row.model_dump().values())
    for secret in (first_secret, second_secret):
        assert secret not in stored
    assert row.secret_hash == credentials.hash_secret(second_secret)
    assert row.previous_secret_hash == credentials.hash_secret(first_secret)
    assert row.previous_secret_expires_at is not None
    assert row.previous_secret_expires_at - utcnow() > dt.timedelta(seconds=590)


async def test_openapi_documents_the_oauth_endpoints(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/schema/openapi.json")).json()
    token = schema["paths"][TOKEN]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    assert {"200", "400", "401"} <= set(token["responses"])
    assert "post" in schema["paths"][REVOKE]
    assert {"get", "post"} <= set(schema["paths"][CLIENTS])
    assert "post" in schema["paths"][CLIENTS + "/{api_client_id}/rotate-secret"]


async def test_authlibs_oauth2_client_gets_a_token_and_calls_the_api(live_server: LiveServer) -> None:
    """What a tenant's program does with an off-the-shelf OAuth2 library: client credentials, then bearer calls;
    when the token runs out, the library fetches a new one by itself."""
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    tenant = await make_tenant("authlib")
    agent = await make_agent(tenant.id)
    client, secret = await make_api_client(tenant.id, ["agents:read", "audit:read"])
    async with AsyncOAuth2Client(
        client_id=client.client_id,
        client_secret=secret,
        scope="agents:read",
        token_endpoint=f"{live_server.url}{TOKEN}",
        grant_type="client_credentials",
        base_url=live_server.url,
    ) as oauth:
        token = await oauth.fetch_token()
        assert token["token_type"].lower() == "bearer" and token["scope"] == "agents:read"
        response = await oauth.get(AGENTS)
        assert response.status_code == 200, response.text
        assert [item["agent_id"] for item in response.json()["items"]] == [str(agent.id)]
        # Only the scope asked for: the audit log stays closed to this token.
        assert (await oauth.get("/api/v1/audit-log")).status_code == 403

        oauth.token["expires_at"] = int(utcnow().timestamp()) - 1
        assert (await oauth.get(AGENTS)).status_code == 200
        assert oauth.token["access_token"] != token["access_token"]
