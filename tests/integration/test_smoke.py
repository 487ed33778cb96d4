from __future__ import annotations

import httpx

from tests.factories import PASSWORD, make_tenant, make_tenant_user, sign_in


async def test_health_and_schema(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json()["status"] == "ok"
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    schema = (await http.get("/schema/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    assert "/api/v1/tenants" in schema["paths"]


async def test_tenant_admin_signs_in_and_lists_users(live_server) -> None:
    tenant = await make_tenant("bank")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    signed = await sign_in(live_server.url, admin.email, PASSWORD)
    async with signed as client:
        me = (await client.get("/api/v1/me")).json()
        assert me["tenant_id"] == str(tenant.id)
        assert me["roles"] == ["tenant_admin"]
        users = (await client.get("/api/v1/users")).json()
        assert [u["email"] for u in users["items"]] == [admin.email]
