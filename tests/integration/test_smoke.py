from __future__ import annotations

import re

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


def test_models_and_migrations_agree(services) -> None:  # type: ignore[no-untyped-def]
    """Autogenerate finds nothing to add: every model change has its migration."""
    from app.server.migrate import check

    check(services.owner_url)


async def test_request_ids_metrics_and_problem_details(http: httpx.AsyncClient) -> None:
    echoed = await http.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    assert echoed.headers["x-request-id"] == "trace-abc.123"
    made = await http.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces" and len(made.headers["x-request-id"]) == 32
    missing = await http.get("/api/v1/nothing-here", headers={"X-Request-ID": "trace-404"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["request_id"] == "trace-404"
    metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert re.search(
        r'^litestar_requests_total\{app_name="tenline",method="GET",path="/healthz"', metrics.text, re.MULTILINE
    )
    viewer = await http.get("/schema")
    assert viewer.status_code == 200 and "/vendor/swagger-ui-dist/swagger-ui-bundle.js" in viewer.text
    assert (await http.get("/vendor/swagger-ui-dist/swagger-ui-bundle.js")).status_code == 200
