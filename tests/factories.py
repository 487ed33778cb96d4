"""Builds tenants, people and agents through the real services, and signs people in over HTTP."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from app.core.db import get_database
from app.core.tenancy import Principal, Role, acting_as
from app.telephony import schemas as telephony_schemas
from app.telephony import service as telephony
from tenants import schemas, service

PASSWORD = "correct-horse-battery-staple"
OPERATOR = Principal(kind="system", roles=frozenset({Role.OPERATOR_ADMIN}), display_name="test setup")


def _suffix() -> str:
    return uuid.uuid4().hex[:8]


async def ensure_operator() -> None:
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            await service.ensure_operator(session, "Test Operator")


async def make_tenant(slug_prefix: str = "tenant") -> schemas.TenantOut:
    await ensure_operator()
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            tenant = await service.create_tenant(
                session, schemas.TenantCreate(slug=f"{slug_prefix}-{_suffix()}", name=f"{slug_prefix.title()} Inc")
            )
            return service.tenant_out(tenant)


async def make_tenant_user(tenant_id: uuid.UUID, role: str, email: str | None = None) -> schemas.TenantUserOut:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            return await service.create_tenant_user(
                session,
                schemas.TenantUserCreate(
                    email=email or f"{role}-{_suffix()}@example.com",
                    display_name=f"{role} person",
                    role=role,
                    password=PASSWORD,  # type: ignore[arg-type]
                ),
            )


async def make_staff(role: str) -> schemas.StaffOut:
    await ensure_operator()
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            return await service.create_staff(
                session,
                schemas.StaffCreate(
                    email=f"{role}-{_suffix()}@operator.example", display_name=role, role=role, password=PASSWORD
                ),  # type: ignore[arg-type]
            )


async def make_agent(*tenant_ids: uuid.UUID) -> schemas.AgentOut:
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            agent = await service.create_agent(
                session,
                schemas.AgentCreate(
                    email=f"agent-{_suffix()}@operator.example",
                    display_name="Agent Person",
                    employee_code=f"E-{_suffix()}",
                    password=PASSWORD,
                ),
            )
            for tenant_id in tenant_ids:
                await service.assign_agent(session, agent.id, schemas.AgentAssign(tenant_id=tenant_id, alias="Agent"))
            return agent


def unique_number() -> str:
    """A valid London number no other test holds (the operator's registry has each number once)."""
    return f"+44207{secrets.randbelow(10**7):07d}"


async def provision_number(tenant_id: uuid.UUID, number: str | None = None) -> telephony_schemas.ProvisionedNumberOut:
    """Provisions a carrier number to the tenant, as the operator does before the tenant may map it."""
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            return await telephony.provision_number(
                session,
                telephony_schemas.ProvisionedNumberCreate(number=number or unique_number(), tenant_id=tenant_id),
            )


async def make_api_client(
    tenant_id: uuid.UUID, scopes: list[str], name: str | None = None
) -> tuple[schemas.ApiClientOut, str]:
    """An API client of the tenant and its secret (shown once, as the API would)."""
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            return await service.create_api_client(
                session, schemas.ApiClientCreate(name=name or f"crm-{_suffix()}", scopes=scopes)
            )


@contextlib.asynccontextmanager
async def token_client(base_url: str, tenant_id: uuid.UUID, scopes: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding the bearer token of a new API client of the tenant with ``scopes``."""
    api_client, secret = await make_api_client(tenant_id, scopes)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(api_client.client_id, secret)
        )
        response.raise_for_status()
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield client


@dataclass
class SignedIn:
    client: httpx.AsyncClient
    csrf: str
    user_id: uuid.UUID
    headers: dict[str, str] = field(default_factory=dict)

    async def __aenter__(self) -> httpx.AsyncClient:
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()


async def sign_in(base_url: str, email: str, password: str = PASSWORD) -> SignedIn:
    client = httpx.AsyncClient(base_url=base_url, timeout=30)
    response = await client.post("/api/v1/auth/session", json={"email": email, "password": password})
    response.raise_for_status()
    body = response.json()
    client.headers["X-CSRF-Token"] = body["csrf_token"]
    return SignedIn(client=client, csrf=body["csrf_token"], user_id=uuid.UUID(body["user_id"]))
