"""Every route of the app that takes an object id, called with tenant A's credentials on tenant B's objects: 404.

Routes are enumerated from the application itself, so a new route is covered the day it is added: if it names
a path parameter this test has no tenant-B object for, or takes a body it has no example of, the test fails
and asks for one.
"""

from __future__ import annotations

import string
import types
import typing
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from litestar.routes import HTTPRoute

from app.core.settings import Settings
from app.customers import schemas as customers_schemas
from app.integrations import schemas as integrations_schemas
from app.reporting import schemas as reporting_schemas
from app.routing import schemas as routing_schemas
from app.server.app import create_app
from app.telephony import schemas as telephony_schemas
from billing import dunning_schemas as billing_dunning_schemas
from billing import invoicing_schemas as billing_invoice_schemas
from billing import margin_schemas as billing_margin_schemas
from tenants import schemas
from tests.conftest import LiveServer
from tests.factories import make_agent, make_api_client, make_tenant, make_tenant_user, provision_number, sign_in

# Path parameters that are not object ids (files, the schema viewer's pages).
NOT_OBJECT_IDS = {"file_path", "path"}

# One valid body per request type, so the call reaches the lookup instead of failing validation first.
EXAMPLE_BODIES: dict[type, Any] = {
    schemas.TenantUpdate: {"name": "Renamed"},
    schemas.TenantUserUpdate: {"role": "supervisor"},
    schemas.AgentAssign: {"tenant_id": "{tenant_id}", "alias": "Borrowed"},
    schemas.AgentUpdate: {"chat_capacity": 2},
    schemas.RotateSecret: {"overlap_seconds": 0},
    routing_schemas.QueueUpdate: {"name": "Renamed queue"},
    routing_schemas.PhoneNumberUpdate: {"queue_id": "{queue_id}"},
    routing_schemas.DispositionCodeUpdate: {"label": "Renamed code"},
    telephony_schemas.EntryPointUpdate: {"name": "Renamed entry point"},
    reporting_schemas.ReportScheduleUpdate: {"name": "Renamed schedule"},
    integrations_schemas.EndpointUpdate: {"description": "Renamed endpoint"},
    integrations_schemas.SecretRotate: {"overlap_seconds": 0},
    customers_schemas.CustomerUpdate: {"name": "Renamed customer"},
    customers_schemas.CustomerReplace: {"name": "Replaced customer"},
    billing_invoice_schemas.VoidIn: {"reason": "Withdrawn"},
    billing_invoice_schemas.CreditNoteIn: {"reason": "Correction"},
    billing_margin_schemas.PoolCostIn: {"amount_minor": 100},
    billing_dunning_schemas.DunningPolicyIn: {"payment_terms_days": 14, "reminder_days": [7], "suspend_after_days": 30},
}


@dataclass
class TenantB:
    ids: dict[str, uuid.UUID | str]  # object ids, and the keys some paths name objects by (a CRM's id)


def _example_for(annotation: Any, ids: dict[str, uuid.UUID | str]) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    for kind, body in EXAMPLE_BODIES.items():
        if annotation is kind:
            return _fill(body, ids)
    raise AssertionError(f"no example body for {annotation!r}: add one to EXAMPLE_BODIES in {__file__}")


def _fill(body: Any, ids: dict[str, uuid.UUID | str]) -> Any:
    encoded = msgspec.json.encode(body).decode()
    for name, value in ids.items():
        encoded = encoded.replace("{" + name + "}", str(value))
    return msgspec.json.decode(encoded)


@pytest.fixture(scope="module")
async def tenant_b() -> TenantB:
    b = await make_tenant("routes-b")
    user = await make_tenant_user(b.id, "supervisor")
    agent = await make_agent(b.id)
    client, _ = await make_api_client(b.id, ["agents:read"])
    provisioned = await provision_number(b.id)
    from app.core.db import get_database
    from app.core.tenancy import Principal, acting_as
    from tenants import service

    with acting_as(Principal(kind="system", tenant_id=b.id)):
        async with get_database().session() as session:
            assignment = (await service.list_tenant_agents(session, cursor=None, limit=10)).items[0]
            routing_ids = await _routing_objects(session, agent.id, provisioned.number)
            schedule = await _report_schedule(session)
            contract = await _sla_contract(session)
            webhook_ids = await _webhook_objects(session)
            customer = await _customer(session)
            contact_ids = await _contact_objects(session, routing_ids["queue_id"])
            callback = await _callback(session, routing_ids["queue_id"])
            rate_card = await _rate_card(session)
            invoice_id = await _invoice(session)
            await _dunning_policy(session)
    return TenantB(
        ids={
            "tenant_id": b.id,
            "user_id": user.id,
            "agent_id": agent.id,
            "assignment_id": assignment.id,
            "api_client_id": client.id,
            "provisioned_number_id": provisioned.id,
            "schedule_id": schedule.id,
            **routing_ids,
            "contract_id": contract.id,
            **webhook_ids,
            "customer_id": customer.id,
            "external_id": str(customer.external_id),
            **contact_ids,
            "contact_id": contact_ids["interaction_id"],  # the agent desktop calls an interaction a contact
            "callback_id": callback.id,
            "rate_card_id": rate_card.id,
            "invoice_id": invoice_id,
            "invoice_file": f"{invoice_id}.pdf",  # the printable invoice's PDF (/billing/invoices/{id}.pdf)
            # The operator's archive holds erased tenants' documents only: a tenant's caller is refused any.
            "archived_file": f"{invoice_id}.pdf",
            # The operator's pool cost of a month (no tenant's object: tenants are refused it by role).
            "month": "2026-01",
        }
    )


async def _routing_objects(session: Any, agent_id: uuid.UUID, provisioned_number: str) -> dict[str, uuid.UUID]:
    from app.routing import service as routing
    from app.telephony import service as telephony

    queue = await routing.create_queue(session, routing_schemas.QueueCreate(name="B queue"))
    entry_point = await telephony.create_entry_point(
        session, telephony_schemas.EntryPointCreate(name="B line", default_queue_id=queue.id)
    )
    number = await routing.create_phone_number(
        session, routing_schemas.PhoneNumberCreate(number=provisioned_number, entry_point_id=entry_point.id)
    )
    skill, _ = await routing.set_agent_skill(
        session, routing_schemas.AgentSkillIn(agent_id=agent_id, skill="billing", proficiency=3)
    )
    attribute, _ = await routing.set_agent_attribute(
        session, routing_schemas.AgentAttributeIn(agent_id=agent_id, kind="language", value="fr")
    )
    return {
        "queue_id": queue.id,
        "entry_point_id": entry_point.id,
        "phone_number_id": number.id,
        "agent_skill_id": skill.id,
        "agent_attribute_id": attribute.id,
    }


async def _sla_contract(session: Any) -> Any:
    from app.sla import schemas as sla_schemas
    from app.sla import service as sla

    return await sla.create_contract_version(
        session,
        sla_schemas.ContractCreate(
            effective_from=await sla.today(session),
            definition="answered",
            targets=[sla_schemas.TargetIn(measure="service_level", window="day", minimum=0.8, within_seconds=20)],
        ),
    )


async def _webhook_objects(session: Any) -> dict[str, uuid.UUID]:
    from app.integrations import service as integrations

    endpoint = await integrations.create_endpoint(
        session, integrations_schemas.EndpointCreate(url="http://127.0.0.1:9/hook", event_types=["sla.breached"])
    )
    (delivery_id,) = await integrations.create_deliveries(
        session, uuid.uuid4(), "sla.breached", endpoint.created_at, {}
    )
    return {"endpoint_id": endpoint.id, "delivery_id": delivery_id}


async def _rate_card(session: Any) -> Any:
    import datetime as dt

    from billing import schemas as billing_schemas
    from billing import service as billing

    # From tomorrow in UTC: today or later in the tenant's own time zone, whatever it is.
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    body = {
        "effective_from": tomorrow.isoformat(),
        "currency": "EUR",
        "tax_rate_percent": "25",
        "charges": [{"kind": "handled_contacts", "id": "contacts", "pricing": {"kind": "flat", "unit_price": "0.5"}}],
    }
    return await billing.create_rate_card(session, msgspec.convert(body, billing_schemas.RateCardCreate), body)


async def _invoice(session: Any) -> uuid.UUID:
    """A final invoice of tenant B (a final one: every invoice route, credit notes included, has it to refuse)."""
    import datetime as dt

    from billing.invoicing_models import Invoice, InvoiceStatus

    month = dt.date(2026, 1, 1)
    invoice = Invoice(
        period_start=month,
        period_end=dt.date(2026, 2, 1),
        number=f"INV-B-{uuid.uuid4().hex[:8]}",
        status=InvoiceStatus.FINAL,
        currency="EUR",
        subtotal_minor=1000,
        credits_minor=0,
        adjustments_minor=0,
        tax_minor=250,
        total_minor=1250,
        issued_at=dt.datetime(2026, 2, 2, tzinfo=dt.UTC),
    )
    session.add(invoice)
    await session.flush()
    return uuid.UUID(str(invoice.id))


async def _dunning_policy(session: Any) -> None:
    """B's own dunning policy (its path names B's tenant id): A's callers may neither read, change nor remove it."""
    from billing import dunning

    body = billing_dunning_schemas.DunningPolicyIn(payment_terms_days=30, reminder_days=[10], suspend_after_days=None)
    await dunning.set_tenant_policy(session, body, if_match=0)


async def _callback(session: Any, queue_id: uuid.UUID) -> Any:
    import datetime as dt

    from app.routing.callbacks import schemas as callback_schemas
    from app.routing.callbacks import service as callbacks

    due_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    return await callbacks.schedule(
        session, callback_schemas.CallbackCreate(queue_id=queue_id, phone="+442071838750", due_at=due_at)
    )


async def _contact_objects(session: Any, queue_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """A contact of B (as the router would have written it) and a disposition code of B's own."""
    import datetime as dt

    from app.routing import dispositions
    from app.routing.models import Interaction

    interaction = Interaction(queue_id=queue_id, caller="+442071838750", arrived_at=dt.datetime.now(dt.UTC))
    session.add(interaction)
    code = await dispositions.create_code(
        session, routing_schemas.DispositionCodeCreate(code="b-only", label="Only B has it")
    )
    return {"interaction_id": interaction.id, "code_id": code.id}


async def _customer(session: Any) -> Any:
    from app.customers import service as customers

    return await customers.create_customer(
        session,
        customers_schemas.CustomerCreate(external_id="B-CRM-1", name="B's customer", phone_numbers=["+442071838750"]),
    )


async def _report_schedule(session: Any) -> Any:
    from app.reporting import service as reporting

    return await reporting.create_schedule(
        session, reporting_schemas.ReportScheduleCreate(name="B daily", report="volumes", recipients=["b@b.example"])
    )


def _object_routes() -> list[tuple[str, str, Any]]:
    found = []
    # Built only to read its routes: nothing connects.
    settings = Settings(database_url="postgresql://enumerate@127.0.0.1/none", redis_url="redis://127.0.0.1:1/0")
    for route in create_app(settings).routes:
        if not isinstance(route, HTTPRoute):
            continue
        names = set(route.path_parameters) - NOT_OBJECT_IDS
        if not names:
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                data = handler.parsed_fn_signature.parameters.get("data")
                found.append((method, route.path_format, data.annotation if data else None))
    return found


ROUTES = _object_routes()


def test_the_enumeration_finds_the_object_routes() -> None:
    paths = {path for _, path, _ in ROUTES}
    assert "/api/v1/tenants/{tenant_id}" in paths and "/api/v1/users/{user_id}" in paths
    assert len(ROUTES) >= 10


@dataclass
class Caller:
    name: str
    client: httpx.AsyncClient


@pytest.fixture(scope="module")
async def callers_of_a(live_server: LiveServer) -> Any:
    a = await make_tenant("routes-a")
    admin = await make_tenant_user(a.id, "tenant_admin")
    signed = await sign_in(live_server.url, admin.email)
    api_client, secret = await make_api_client(a.id, sorted(_known_scopes()))
    token = await _token(live_server.url, api_client.client_id, secret)
    bearer = httpx.AsyncClient(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with signed as session_client, bearer:
        yield [Caller("tenant admin session", session_client), Caller("API client token", bearer)]


def _known_scopes() -> frozenset[str]:
    from tenants.permissions import KNOWN_SCOPES

    return KNOWN_SCOPES


async def _token(base_url: str, client_id: str, secret: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


@pytest.mark.parametrize(("method", "path", "body_type"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_another_tenants_object_is_not_found(
    tenant_b: TenantB, callers_of_a: list[Caller], method: str, path: str, body_type: Any
) -> None:
    names = [segment[1:-1] for segment in path.split("/") if segment.startswith("{")]
    missing = [name for name in names if name not in tenant_b.ids]
    assert not missing, f"{path}: no tenant-B object for {missing}; add one to the tenant_b fixture"
    body = _example_for(body_type, tenant_b.ids) if body_type is not None else None
    if (method, path) in UPSERT_ROUTES:
        await _upsert_leaves_b_alone(tenant_b, callers_of_a, method, path, body, UPSERT_ROUTES[method, path])
        return
    await _not_found_for_a(tenant_b, callers_of_a, method, path, names, body)


async def _b_customer(tenant_b: TenantB) -> Any:
    from app.core.db import get_database
    from app.core.tenancy import acting_as, system_principal
    from app.customers import service as customers

    with acting_as(system_principal(uuid.UUID(str(tenant_b.ids["tenant_id"])))):
        async with get_database().session() as session:
            customer_id = uuid.UUID(str(tenant_b.ids["customer_id"]))
            return customers.customer_out(await customers.get_customer(session, customer_id))


# Routes that create the object their path names by a key when the caller has none with it (a CRM's upsert by
# its own id). Keys are per tenant, so tenant B's key gives A an object of A's own: never B's, which stays as
# it was (read with the function given). They are checked for that instead of a 404.
UPSERT_ROUTES: dict[tuple[str, str], Callable[[TenantB], Awaitable[Any]]] = {
    ("PUT", "/api/v1/customers/by-external-id/{external_id}"): _b_customer,
}


async def _upsert_leaves_b_alone(
    tenant_b: TenantB,
    callers_of_a: list[Caller],
    method: str,
    path: str,
    body: Any,
    b_object: Callable[[TenantB], Awaitable[Any]],
) -> None:
    before = await b_object(tenant_b)
    b_ids = {str(value) for value in tenant_b.ids.values()}
    for caller in callers_of_a:
        on_b = await caller.client.request(method, path.format(**tenant_b.ids), json=body)
        assert on_b.status_code in (200, 201), f"{caller.name}: {method} {path} gave {on_b.status_code} {on_b.text}"
        assert on_b.json()["id"] not in b_ids, f"{caller.name}: {method} {path} answered with tenant B's object"
    assert await b_object(tenant_b) == before, f"{method} {path} by tenant A changed tenant B's object"


async def _not_found_for_a(
    tenant_b: TenantB, callers_of_a: list[Caller], method: str, path: str, names: list[str], body: Any
) -> None:
    b_url = path.format(**tenant_b.ids)
    random_url = path.format(**{name: uuid.uuid4() for name in names})
    for caller in callers_of_a:
        on_b = await caller.client.request(method, b_url, json=body)
        on_random = await caller.client.request(method, random_url, json=body)
        if on_b.status_code == 404:
            continue
        # A caller refused by role is refused the same way for any id: the answer says nothing about B.
        assert on_b.status_code in (401, 403) and on_b.status_code == on_random.status_code, (
            f"{caller.name}: {method} {path} on tenant B's object gave {on_b.status_code} {on_b.text[:200]}"
        )


# Routes that name one object in their query rather than their path (not found by the enumeration above).
QUERY_OBJECT_ROUTES = [
    ("GET", "/api/v1/wfm/forecast?queue_id={queue_id}"),
    # The printable invoice shares its route with its PDF (``{invoice_file}``, tenant B's PDF above).
    ("GET", "/billing/invoices/{invoice_id}"),
]


@pytest.mark.parametrize(("method", "path"), QUERY_OBJECT_ROUTES, ids=[f"{m} {p}" for m, p in QUERY_OBJECT_ROUTES])
async def test_another_tenants_object_in_a_query_is_not_found(
    tenant_b: TenantB, callers_of_a: list[Caller], method: str, path: str
) -> None:
    names = [name for _, name, _, _ in string.Formatter().parse(path) if name]
    await _not_found_for_a(tenant_b, callers_of_a, method, path, names, None)
