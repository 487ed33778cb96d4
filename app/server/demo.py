"""`tenline demo seed`: an operator, two client programs (a bank and a retailer), their people and agents.

Each program has voice queues with scripts, an entry point (greeting, menu; Fjord Bank also a language
choice) and two numbers the operator provisioned to it: one calls the entry point, the other goes straight
to a queue. Eight simulated agents (SIM-01..08, worked by ``tenline traffic``) share the pool with the four
people. Idempotent: a second run changes nothing. Later domains add their demo data here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from sqlmodel import select

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.errors import NotFoundError
from app.core.pagination import MAX_LIMIT
from app.core.settings import get_settings
from app.core.tenancy import Principal, Role, acting_as
from app.customers import schemas as customer_schemas
from app.customers import service as customers
from app.routing import dispositions
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.sla import schemas as sla_schemas
from app.sla import service as sla
from app.telephony import schemas as telephony_schemas
from app.telephony import service as telephony
from billing import margin, margin_schemas
from billing import schemas as billing_schemas
from billing import service as billing
from tenants import schemas, service
from tenants.models import Agent, Tenant

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
# Worked by `tenline traffic` (employee codes SIM-...), beside the people above.
SIMULATED_AGENTS = tuple(
    (f"sim{n:02}@northwind.example", f"Sim{n:02} Bot", f"SIM-{n:02}", ("fjord-bank", "cobalt-retail"))
    for n in range(1, 9)
)

QUEUES: dict[str, tuple[routing_schemas.QueueCreate, ...]] = {
    "fjord-bank": (
        routing_schemas.QueueCreate(
            name="cards",
            priority=2,
            answer_target_seconds=20,
            target_service_level=0.8,
            wrap_up_seconds=15,
            callback_offer_after_seconds=120,
            script=(
                'Greet: "Fjord Bank cards, you are speaking with ...". Verify the caller (date of birth and the '
                "last four digits of the card) before any change. Lost or stolen card: block it first, then "
                "order a replacement."
            ),
        ),
        routing_schemas.QueueCreate(
            name="loans",
            skills={"loans": 3},
            relaxation=[routing_schemas.RelaxationStepIn(after_seconds=30, skills={"loans": 1})],
            answer_target_seconds=30,
            wrap_up_seconds=20,
            script="Offer a callback from a loan officer for applications; never quote a rate on the phone.",
        ),
    ),
    "cobalt-retail": (
        routing_schemas.QueueCreate(
            name="orders",
            priority=1,
            answer_target_seconds=20,
            wrap_up_seconds=10,
            script="Ask for the order number (CR- and 8 digits). Late parcel: check tracking, then offer a refund.",
        ),
        routing_schemas.QueueCreate(
            name="returns",
            answer_target_seconds=45,
            target_service_level=0.7,
            wrap_up_seconds=10,
            script="Returns are free within 30 days; email the return label to the address on the order.",
        ),
    ),
}
# Loan skills of some agents at Fjord Bank (the others reach the loans queue once its ring widens).
LOAN_SKILLS = {"A-1001": 4, "A-1002": 2, "SIM-01": 4, "SIM-02": 3, "SIM-03": 3}
# Languages Fjord Bank's agents speak: its callers choose one, and only agents who speak it get the call.
FJORD_LANGUAGES = {"A-1001": ("nb", "en"), "A-1002": ("nb",), "A-1004": ("en",)} | {
    f"SIM-{n:02}": ("nb", "en") for n in range(1, 9)
}


@dataclass(frozen=True)
class DemoLine:
    """A tenant's inbound line: an entry point whose menu names queues, and two numbers the operator
    provisions to the tenant; ``numbers[0]`` calls the entry point, ``numbers[1]`` goes to ``direct_queue``."""

    greeting: str
    languages: tuple[tuple[str, str, str], ...]  # (key, language tag, prompt)
    menu: tuple[tuple[str, str, str], ...]  # (key, queue name, prompt)
    default_queue: str
    closed_action: telephony_schemas.ClosedActionName
    numbers: tuple[str, str]
    labels: tuple[str, str]
    direct_queue: str
    entry_point: str = "Main line"

    def entry_point_for(self, queue_ids: dict[str, uuid.UUID]) -> telephony_schemas.EntryPointCreate:
        return telephony_schemas.EntryPointCreate(
            name=self.entry_point,
            greeting=self.greeting,
            language_options=[
                telephony_schemas.LanguageOption(digit=digit, language=language, prompt=prompt)
                for digit, language, prompt in self.languages
            ],
            menu_options=[
                telephony_schemas.MenuOption(digit=digit, queue_id=queue_ids[queue], prompt=prompt)
                for digit, queue, prompt in self.menu
            ],
            default_queue_id=queue_ids[self.default_queue],
            closed_action=self.closed_action,
        )


LINES = {
    "fjord-bank": DemoLine(
        greeting="Velkommen til Fjord Bank. Welcome to Fjord Bank.",
        languages=(("1", "nb", "For norsk, trykk 1."), ("2", "en", "For English, press 2.")),
        menu=(("1", "cards", "For cards, press 1."), ("2", "loans", "For loans and mortgages, press 2.")),
        default_queue="cards",
        closed_action="callback",
        numbers=("+4721900100", "+4721900200"),
        labels=("Main number", "Loan officers"),
        direct_queue="loans",
    ),
    "cobalt-retail": DemoLine(
        greeting="Thank you for calling Cobalt Retail.",
        languages=(),
        menu=(("1", "orders", "For an order or a delivery, press 1."), ("2", "returns", "For returns, press 2.")),
        default_queue="orders",
        closed_action="message",
        numbers=("+12125550100", "+12125550142"),
        labels=("Customer service", "Returns"),
        direct_queue="returns",
    ),
}

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
            for email, name, code, slugs in AGENTS + SIMULATED_AGENTS:
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
    await _seed_routing(tenants)
    await _seed_lines(tenants)
    await _seed_contracts(tenants)
    await _seed_rate_cards(tenants)
    await _seed_operator_billing(tenants)
    await _seed_customers(tenants)
    logins = [DemoLogin(email, role, None) for email, _, role in STAFF]
    logins += [DemoLogin(email, role, slug) for slug, people in TENANT_PEOPLE.items() for email, _, role in people]
    logins += [DemoLogin(email, "agent", None) for email, *_ in AGENTS]
    return logins


async def _seed_routing(tenants: dict[str, Tenant]) -> None:
    """Each tenant's queues, its disposition codes and the loan skills; left as they are once they exist."""
    database = get_database()
    with acting_as(SEEDER):
        async with database.session() as session:
            agent_ids = {
                code: agent_id for code, agent_id in (await session.exec(select(Agent.employee_code, Agent.id))).all()
            }
    for slug, queues in QUEUES.items():
        with acting_as(SEEDER.acting_for(tenants[slug].id)):
            async with database.session() as session:
                await dispositions.ensure_defaults(session)
                existing = {name for _, name, _ in await routing.queue_choices(session)}
                for queue in queues:
                    if queue.name not in existing:
                        await routing.create_queue(session, queue)
                if slug == "fjord-bank":
                    for code, level in LOAN_SKILLS.items():
                        await routing.set_agent_skill(
                            session,
                            routing_schemas.AgentSkillIn(agent_id=agent_ids[code], skill="loans", proficiency=level),
                        )
                    for code, languages in FJORD_LANGUAGES.items():
                        for language in languages:
                            await routing.set_agent_attribute(
                                session,
                                routing_schemas.AgentAttributeIn(
                                    agent_id=agent_ids[code], kind="language", value=language
                                ),
                            )


# Each program's SLA contract (the reference operation's: 85% within 15 s, FCR above 88%, serious errors under 2%).
CONTRACTS: dict[str, tuple[sla_schemas.DefinitionName, tuple[sla_schemas.TargetIn, ...]]] = {
    "fjord-bank": (
        "answered_and_abandoned",
        (
            sla_schemas.TargetIn(measure="service_level", window="15min", minimum=0.85, within_seconds=15),
            sla_schemas.TargetIn(measure="abandonment_rate", window="day", maximum=0.05),
            sla_schemas.TargetIn(measure="asa", window="day", maximum=20),
            sla_schemas.TargetIn(measure="aht", window="day", minimum=180, maximum=420, business_hours_only=True),
            sla_schemas.TargetIn(measure="fcr", window="month", minimum=0.88),
            sla_schemas.TargetIn(measure="csat", window="month", minimum=0.85),
            sla_schemas.TargetIn(measure="serious_error_rate", window="month", maximum=0.02),
        ),
    ),
    "cobalt-retail": (
        "answered",
        (
            sla_schemas.TargetIn(measure="service_level", window="30min", minimum=0.8, within_seconds=20),
            sla_schemas.TargetIn(measure="abandonment_rate", window="day", maximum=0.08),
            sla_schemas.TargetIn(measure="aht", window="day", minimum=120, maximum=360),
        ),
    ),
}


async def _seed_contracts(tenants: dict[str, Tenant]) -> None:
    """Each tenant's first SLA contract version, from today; a tenant with a contract keeps it."""
    for slug, (definition, targets) in CONTRACTS.items():
        with acting_as(SEEDER.acting_for(tenants[slug].id)):
            async with get_database().session() as session:
                if await sla.latest_version_number(session) == 0:
                    await sla.create_contract_version(
                        session,
                        sla_schemas.ContractCreate(
                            effective_from=await sla.today(session),
                            definition=definition,
                            targets=list(targets),
                            note="Demo: master services agreement, schedule 1",
                        ),
                    )


# Each program's rate card: Fjord Bank pays by the handled minute (wrap-up included) with a platform fee and a
# monthly minimum, and the seat-hours of its dedicated agent; Cobalt Retail by the handled contact, cheaper by
# volume, and by the callback dialled.
RATE_CARDS: dict[str, dict[str, Any]] = {
    "fjord-bank": {
        "currency": "NOK",
        "tax_rate_percent": "25",
        "charges": [
            {
                "kind": "handled_minutes",
                "id": "minutes",
                "include_wrap_up": True,
                "pricing": {"kind": "flat", "unit_price": "9.50"},
            },
            {
                "kind": "platform_fee",
                "id": "platform",
                "amount_minor": 2500000,
                "description": "Platform and telephony",
            },
            {"kind": "minimum_commitment", "id": "minimum", "amount_minor": 10000000, "applies_to": ["minutes"]},
            {"kind": "seat_hours", "id": "seats", "pricing": {"kind": "flat", "unit_price": "420"}},
        ],
    },
    "cobalt-retail": {
        "currency": "USD",
        "tax_rate_percent": "0",
        "charges": [
            {
                "kind": "handled_contacts",
                "id": "contacts",
                "pricing": {
                    "kind": "volume",
                    "tiers": [{"up_to": "10000", "unit_price": "3.20"}, {"up_to": None, "unit_price": "2.80"}],
                },
            },
            {"kind": "outbound_attempts", "id": "callbacks", "pricing": {"kind": "flat", "unit_price": "0.35"}},
        ],
    },
}


async def _seed_rate_cards(tenants: dict[str, Tenant]) -> None:
    """Each tenant's first rate card version, from today; a tenant with a rate card keeps it."""
    for slug, terms in RATE_CARDS.items():
        with acting_as(SEEDER.acting_for(tenants[slug].id)):
            async with get_database().session() as session:
                if await billing.latest_rate_card_version(session) == 0:
                    body = {**terms, "effective_from": (await billing.today(session)).isoformat(), "note": "Demo"}
                    card = msgspec.convert(body, billing_schemas.RateCardCreate, strict=False)
                    await billing.create_rate_card(session, card, body)


# Ben works for Fjord Bank alone: a dedicated agent, whose signed-in time Fjord Bank pays as seat-hours.
DEDICATED = {"agent2@northwind.example": "fjord-bank"}
# The shared pool's cost this month (in the operator's currency, cents) and the rates of the tenants' currencies:
# the operator's margin page then shows each tenant's estimate against its share of the cost.
POOL_COST_MINOR = 900_000
EXCHANGE_RATES = {"NOK": Decimal("0.0851"), "USD": Decimal("0.9210")}


async def _seed_operator_billing(tenants: dict[str, Tenant]) -> None:
    """The dedicated agent, and this month's pool cost; what exists is left as it is."""
    with acting_as(SEEDER):
        async with get_database().session() as session:
            for email, slug in DEDICATED.items():
                login = await service.find_login(session, email)
                if login is None:
                    continue
                agent = (await session.exec(select(Agent).where(Agent.user_id == login.id))).one()
                data = schemas.AgentAssign(
                    tenant_id=tenants[slug].id, alias=login.display_name.split()[0], dedicated=True
                )
                await service.assign_agent(session, agent.id, data)
            now = utcnow()
            month = dt.date(now.year, now.month, 1)
            try:
                await margin.get_pool_cost(session, month)
            except NotFoundError:
                cost = margin_schemas.PoolCostIn(
                    amount_minor=POOL_COST_MINOR, note="Demo: payroll and seats", exchange_rates=EXCHANGE_RATES
                )
                await margin.put_pool_cost(session, month, cost, get_settings().billing_operator_currency)


async def _seed_lines(tenants: dict[str, Tenant]) -> None:
    """The operator provisions each tenant's numbers; the tenant gets its entry point and maps both numbers.
    What exists already is left as it is."""
    database = get_database()
    with acting_as(SEEDER):
        async with database.session() as session:
            page = await telephony.list_provisioned_numbers(session, SEEDER, cursor=None, limit=MAX_LIMIT)
            held = {provisioned.number for provisioned in page.items}
            for slug, line in LINES.items():
                for number in line.numbers:
                    if number not in held:
                        await telephony.provision_number(
                            session,
                            telephony_schemas.ProvisionedNumberCreate(number=number, tenant_id=tenants[slug].id),
                        )
    for slug, line in LINES.items():
        with acting_as(SEEDER.acting_for(tenants[slug].id)):
            async with database.session() as session:
                queue_ids = {name: queue_id for queue_id, name, _ in await routing.queue_choices(session)}
                entry_points = await telephony.list_entry_points(session, cursor=None, limit=MAX_LIMIT)
                entry_point_id = next((e.id for e in entry_points.items if e.name == line.entry_point), None)
                if entry_point_id is None:
                    entry_point_id = (await telephony.create_entry_point(session, line.entry_point_for(queue_ids))).id
                mapped = {
                    n.number for n in (await routing.list_phone_numbers(session, cursor=None, limit=MAX_LIMIT)).items
                }
                targets = ({"entry_point_id": entry_point_id}, {"queue_id": queue_ids[line.direct_queue]})
                for number, label, target in zip(line.numbers, line.labels, targets, strict=True):
                    if number not in mapped:
                        await routing.create_phone_number(
                            session, routing_schemas.PhoneNumberCreate(number=number, label=label, **target)
                        )


# A few end customers of each program, as its CRM would push them (by the CRM's id). The live traffic's
# callers are random numbers in the +1 555 range, which are no valid numbers, so none of these calls in.
CUSTOMERS: dict[str, tuple[customer_schemas.CustomerCreate, ...]] = {
    "fjord-bank": (
        customer_schemas.CustomerCreate(
            external_id="FB-100231",
            name="Kari Nordmann",
            email="kari.nordmann@example.no",
            phone_numbers=["+47 412 34 567", "+47 22 33 44 55"],
            language="nb-NO",
            attributes={"segment": "private banking", "customer_since": 2011},
        ),
        customer_schemas.CustomerCreate(
            external_id="FB-100872",
            name="Ola Hansen",
            email="ola.hansen@example.no",
            phone_numbers=["+47 934 56 789"],
            language="nb",
            attributes={"segment": "retail", "products": ["mortgage", "savings"]},
        ),
        customer_schemas.CustomerCreate(
            external_id="FB-101455",
            name="Emma Lindqvist",
            email="emma.lindqvist@example.se",
            phone_numbers=["+46 70 123 45 67"],
            language="sv-SE",
            attributes={"segment": "retail"},
        ),
    ),
    "cobalt-retail": (
        customer_schemas.CustomerCreate(
            external_id="CR-58213",
            name="Maria Garcia",
            email="maria.garcia@example.com",
            phone_numbers=["+1 646 555 0123"],
            language="es-US",
            attributes={"loyalty_tier": "gold", "orders": 27},
        ),
        customer_schemas.CustomerCreate(
            external_id="CR-60477",
            name="James Smith",
            email="james.smith@example.com",
            phone_numbers=["+1 718 555 0188", "+1 917 555 0161"],
            language="en-US",
            attributes={"loyalty_tier": "silver", "orders": 4},
        ),
    ),
}


async def _seed_customers(tenants: dict[str, Tenant]) -> None:
    """Each tenant's demo customers; one that exists (by its external id) is left as it is."""
    for slug, people in CUSTOMERS.items():
        with acting_as(SEEDER.acting_for(tenants[slug].id)):
            async with get_database().session() as session:
                for customer in people:
                    found = await customers.list_customers(
                        session, cursor=None, limit=1, external_id=customer.external_id
                    )
                    if not found.items:
                        await customers.create_customer(session, customer)
