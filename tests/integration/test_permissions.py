"""Each role may do what the permission table says, and nothing more."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import LiveServer
from tests.factories import make_agent, make_staff, make_tenant, make_tenant_user, sign_in

# (method, path template, body) -> which roles succeed. {t} is the acting tenant, {a} an agent of the pool.
CASES = [
    ("GET", "/api/v1/tenants", None, {"operator_admin", "ops_manager"}),
    ("POST", "/api/v1/tenants", "tenant", {"operator_admin"}),
    (
        "GET",
        "/api/v1/tenants/{t}",
        None,
        {"operator_admin", "ops_manager", "tenant_admin", "supervisor", "report_viewer"},
    ),
    ("PATCH", "/api/v1/tenants/{t}", {"locale": "en-GB"}, {"operator_admin", "tenant_admin"}),
    ("GET", "/api/v1/users", None, {"operator_admin", "ops_manager", "tenant_admin", "supervisor"}),
    ("POST", "/api/v1/users", "user", {"operator_admin", "tenant_admin"}),
    ("GET", "/api/v1/agents", None, {"operator_admin", "ops_manager", "tenant_admin", "supervisor"}),
    ("GET", "/api/v1/audit-log", None, {"operator_admin", "ops_manager", "tenant_admin"}),
    ("GET", "/api/v1/operator/staff", None, {"operator_admin"}),
    ("GET", "/api/v1/operator/agents", None, {"operator_admin", "ops_manager"}),
    ("GET", "/api/v1/operator/audit-log", None, {"operator_admin", "ops_manager"}),
    ("PUT", "/api/v1/operator/agents/{a}/assignments", "assign", {"operator_admin", "ops_manager"}),
    # Pages: the live boards and the agent desktop.
    ("GET", "/live", None, {"operator_admin", "ops_manager", "tenant_admin", "supervisor"}),
    ("GET", "/operator/live", None, {"operator_admin", "ops_manager"}),
    ("GET", "/agent", None, {"agent"}),
]
ROLES = ["operator_admin", "ops_manager", "tenant_admin", "supervisor", "report_viewer", "agent"]


def _body(kind: object, tenant_id: uuid.UUID) -> object:
    if kind == "tenant":
        return {"slug": f"perm-{uuid.uuid4().hex[:8]}", "name": "Perm"}
    if kind == "user":
        return {"email": f"p-{uuid.uuid4().hex[:8]}@example.com", "display_name": "P", "role": "report_viewer"}
    if kind == "assign":
        return {"tenant_id": str(tenant_id), "alias": "Alias"}
    return kind


@pytest.mark.parametrize("role", ROLES)
async def test_role_permissions(live_server: LiveServer, role: str) -> None:
    tenant = await make_tenant("perm")
    agent = await make_agent(tenant.id)
    if role in ("operator_admin", "ops_manager"):
        email = (await make_staff(role)).email
    elif role == "agent":
        email = agent.email
    else:
        email = (await make_tenant_user(tenant.id, role)).email
    signed = await sign_in(live_server.url, email)
    async with signed as client:
        if role in ("operator_admin", "ops_manager"):
            client.headers["Tenline-Tenant"] = str(tenant.id)
        outcomes = {}
        for method, template, body, allowed in CASES:
            path = template.format(t=tenant.id, a=agent.id)
            response = await client.request(method, path, json=_body(body, tenant.id) if body else None)
            outcomes[(method, template)] = (response.status_code, role in allowed)
        wrong = {k: v for k, v in outcomes.items() if (v[0] < 400) != v[1]}
        assert not wrong, f"{role}: {wrong}"
        denied = {k: v[0] for k, v in outcomes.items() if not v[1]}
        # Refused by role (403), or an object outside the caller's tenant (404: no existence oracle).
        assert set(denied.values()) <= {403, 404}, denied


async def test_operator_acts_for_a_tenant_only_through_an_explicit_choice(live_server: LiveServer) -> None:
    tenant = await make_tenant("choice")
    staff = await make_staff("operator_admin")
    signed = await sign_in(live_server.url, staff.email)
    async with signed as client:
        no_choice = await client.get("/api/v1/users")
        assert no_choice.status_code == 403
        assert "tenant" in no_choice.json()["detail"]
        chosen = await client.get("/api/v1/users", headers={"Tenline-Tenant": str(tenant.id)})
        assert chosen.status_code == 200
        unknown = await client.get("/api/v1/users", headers={"Tenline-Tenant": str(uuid.uuid4())})
        assert unknown.status_code == 404
        garbled = await client.get("/api/v1/users", headers={"Tenline-Tenant": "not-a-uuid"})
        assert garbled.status_code == 404


async def test_tenant_user_cannot_pick_another_tenant_by_header(live_server: LiveServer) -> None:
    mine, other = await make_tenant("own"), await make_tenant("other")
    admin = await make_tenant_user(mine.id, "tenant_admin")
    await make_tenant_user(other.id, "tenant_admin")
    signed = await sign_in(live_server.url, admin.email)
    async with signed as client:
        response = await client.get("/api/v1/users", headers={"Tenline-Tenant": str(other.id)})
        assert response.status_code == 200
        assert all(u["email"] == admin.email for u in response.json()["items"])
