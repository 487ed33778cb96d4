"""`tenline demo seed`: an operator, two client programs (a bank and a retailer), their people and agents.

Idempotent: a second run changes nothing. Later domains add their demo data here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from app.core.db import get_database
from app.core.tenancy import Principal, Role, acting_as
from tenants import schemas, service
from tenants.models import Tenant

DEMO_PASSWORD = "tenline-demo-2026"  # noqa: S105  (published in the README on purpose)
OPERATOR_NAME = "Northwind Contact Services"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    tenant: str | None


TENANTS = (
    schemas.TenantCreate(
        slug="fjord-bank",
        name="Fjord Bank",
        timezone="Europe/Oslo",
        locale="nb-NO",
        business_hours={d: [("08:00", "20:00")] for d in ("mon", "tue", "wed", "thu", "fri")},
        holidays=["2026-12-24", "2026-12-25", "2026-12-26"],
    ),
    schemas.TenantCreate(
        slug="cobalt-retail",
        name="Cobalt Retail",
        timezone="America/New_York",
        locale="en-US",
        business_hours={d: [("07:00", "23:00")] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        holidays=["2026-12-25"],
    ),
)

STAFF: tuple[tuple[str, str, schemas.OperatorRoleName], ...] = (
    ("admin@northwind.example", "Olivia Operator", "operator_admin"),
    ("ops@northwind.example", "Oscar Ops", "ops_manager"),
)

TENANT_PEOPLE: dict[str, tuple[tuple[str, str, schemas.TenantRoleName], ...]] = {
    "fjord-bank": (
        ("admin@fjordbank.example", "Frida Admin", "tenant_admin"),
        ("supervisor@fjordbank.example", "Sven Supervisor", "supervisor"),
        ("reports@fjordbank.example", "Rita Reports", "report_viewer"),
    ),
    "cobalt-retail": (
        ("admin@cobalt.example", "Carl Admin", "tenant_admin"),
        ("supervisor@cobalt.example", "Sara Supervisor", "supervisor"),
        ("reports@cobalt.example", "Rob Reports", "report_viewer"),
    ),
}

AGENTS = (
    ("agent1@northwind.example", "Ada Agent", "A-1001", ("fjord-bank", "cobalt-retail")),
    ("agent2@northwind.example", "Ben Agent", "A-1002", ("fjord-bank",)),
    ("agent3@northwind.example", "Cleo Agent", "A-1003", ("cobalt-retail",)),
    ("agent4@northwind.example", "Dev Agent", "A-1004", ("fjord-bank", "cobalt-retail")),
)

SEEDER = Principal(kind="system", roles=frozenset({Role.OPERATOR_ADMIN}), display_name="demo seed")


async def seed() -> list[DemoLogin]:
    database = get_database()
    with acting_as(SEEDER):
        async with database.session() as session:
            await service.ensure_operator(session, OPERATOR_NAME)
            tenants: dict[str, Tenant] = {}
            for data in TENANTS:
                existing = (await session.exec(select(Tenant).where(Tenant.slug == data.slug))).first()
                tenants[data.slug] = existing or await service.create_tenant(session, data)
            for email, name, role in STAFF:
                if not await service.find_login(session, email):
                    await service.create_staff(
                        session,
                        schemas.StaffCreate(email=email, display_name=name, role=role, password=DEMO_PASSWORD),
                    )
            for email, name, code, slugs in AGENTS:
                if not await service.find_login(session, email):
                    agent = await service.create_agent(
                        session,
                        schemas.AgentCreate(email=email, display_name=name, employee_code=code, password=DEMO_PASSWORD),
                    )
                    for slug in slugs:
                        await service.assign_agent(
                            session, agent.id, schemas.AgentAssign(tenant_id=tenants[slug].id, alias=name.split()[0])
                        )
        for slug, people in TENANT_PEOPLE.items():
            with acting_as(SEEDER.acting_for(tenants[slug].id)):
                async with database.session() as session:
                    for email, name, tenant_role in people:
                        if not await service.find_login(session, email):
                            await service.create_tenant_user(
                                session,
                                schemas.TenantUserCreate(
                                    email=email, display_name=name, role=tenant_role, password=DEMO_PASSWORD
                                ),
                            )
    logins = [DemoLogin(email, role, None) for email, _, role in STAFF]
    logins += [DemoLogin(email, role, slug) for slug, people in TENANT_PEOPLE.items() for email, _, role in people]
    logins += [DemoLogin(email, "agent", None) for email, *_ in AGENTS]
    return logins
