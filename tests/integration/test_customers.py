"""Customers over real HTTP: creation, the CRM's upsert by external id, phone numbers in E.164 read in the
tenant's country, conflicts and stale versions, filters and sorted pages, scopes, and tenant isolation."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.customers.models import Customer
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.routing.models import Interaction
from tenants import schemas as tenant_schemas
from tenants import service as tenant_service
from tenants.models import Tenant as TenantRow
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_api_client, make_tenant, make_tenant_user, sign_in

CUSTOMERS = "/api/v1/customers"
START = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


@dataclass
class Tenant:
    id: uuid.UUID
    admin: httpx.AsyncClient
    supervisor: httpx.AsyncClient
    reader: httpx.AsyncClient  # an API client with customers:read only
    crm: httpx.AsyncClient  # an API client with customers:read and customers:write


@dataclass
class World:
    norway: Tenant  # locale nb-NO: numbers without a country code are Norwegian
    nowhere: Tenant  # locale en: no country, so every number needs its country code
    live_server: LiveServer


async def _set_locale(tenant_id: uuid.UUID, locale: str) -> None:
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            tenant = await session.get(TenantRow, tenant_id)
            assert tenant is not None
            await tenant_service.update_tenant(session, tenant, tenant_schemas.TenantUpdate(locale=locale))
            await session.commit()


async def _token_client(base_url: str, tenant_id: uuid.UUID, scopes: list[str]) -> httpx.AsyncClient:
    api_client, secret = await make_api_client(tenant_id, scopes)
    async with httpx.AsyncClient(base_url=base_url) as plain:
        token = await plain.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(api_client.client_id, secret)
        )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)


async def _tenant(live_server: LiveServer, slug: str, locale: str) -> Tenant:
    tenant = await make_tenant(slug)
    await _set_locale(tenant.id, locale)
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    return Tenant(
        id=tenant.id,
        admin=(await sign_in(live_server.url, admin.email)).client,
        supervisor=(await sign_in(live_server.url, supervisor.email)).client,
        reader=await _token_client(live_server.url, tenant.id, ["customers:read"]),
        crm=await _token_client(live_server.url, tenant.id, ["customers:read", "customers:write"]),
    )


def _clients(tenant: Tenant) -> list[httpx.AsyncClient]:
    return [tenant.admin, tenant.supervisor, tenant.reader, tenant.crm]


@pytest.fixture(scope="module")
async def world(live_server: LiveServer) -> AsyncIterator[World]:
    norway = await _tenant(live_server, "customers-no", "nb-NO")
    nowhere = await _tenant(live_server, "customers-en", "en")
    yield World(norway=norway, nowhere=nowhere, live_server=live_server)
    for client in [*_clients(norway), *_clients(nowhere)]:
        await client.aclose()


def _external_id() -> str:
    return f"CRM-{uuid.uuid4().hex[:12]}"


async def _create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(CUSTOMERS, json={"name": "Kari Nordmann", **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return dict(response.json())


async def _audit_actions(client: httpx.AsyncClient, customer_id: str) -> list[str]:
    response = await client.get("/api/v1/audit-log", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [e["action"] for e in response.json()["items"] if e["object_id"] == customer_id]


# --- create, read, change, delete ------------------------------------------------------------------


async def test_create_answers_201_with_etag_and_location(world: World) -> None:
    client = world.norway.admin
    external_id = _external_id()
    created = await client.post(
        CUSTOMERS,
        json={
            "external_id": external_id,
            "name": "Kari Nordmann",
            "email": "kari@example.no",
            "phone_numbers": ["22 12 34 56", "+47 412 34 567"],
            "language": "NB-no",
            "attributes": {"segment": "premium", "customer_since": 2019},
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    customer = created.json()
    assert created.headers["Location"] == f"{CUSTOMERS}/{customer['id']}"
    assert customer["external_id"] == external_id
    assert customer["phone_numbers"] == ["+4722123456", "+4741234567"]
    assert customer["language"] == "nb-NO"
    assert customer["attributes"] == {"segment": "premium", "customer_since": 2019}
    assert customer["version"] == 1
    got = await world.norway.reader.get(created.headers["Location"])
    assert got.status_code == 200 and got.json() == customer and got.headers["ETag"] == '"1"'
    assert await _audit_actions(client, customer["id"]) == ["customer.created"]
    # Created in Tenline, a customer needs no external id; several may have none.
    for _ in range(2):
        assert (await _create(client))["external_id"] is None


async def test_patch_changes_only_the_fields_given_and_nothing_changed_is_no_new_version(world: World) -> None:
    client = world.norway.admin
    customer = await _create(client, email="ola@example.no", phone_numbers=["+4722123456"])
    url = f"{CUSTOMERS}/{customer['id']}"
    patched = await client.patch(url, json={"name": "Ola Nordmann", "email": None}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    body = patched.json()
    assert (body["name"], body["email"], body["phone_numbers"]) == ("Ola Nordmann", None, ["+4722123456"])
    # The same number written another way is no change.
    same = await client.patch(url, json={"phone_numbers": ["22 12 34 56"]})
    assert same.status_code == 200 and same.headers["ETag"] == '"2"'
    assert same.json()["updated_at"] == body["updated_at"]
    assert await _audit_actions(client, customer["id"]) == ["customer.updated", "customer.created"]


async def test_delete_with_and_without_if_match(world: World) -> None:
    client = world.norway.admin
    for headers in ({"If-Match": '"1"'}, {}):
        customer = await _create(client)
        url = f"{CUSTOMERS}/{customer['id']}"
        assert (await client.delete(url, headers=headers)).status_code == 204
        assert (await client.get(url)).status_code == 404
        assert "customer.deleted" in await _audit_actions(client, customer["id"])


async def test_attributes_and_language_are_checked(world: World) -> None:
    client = world.norway.admin
    too_many = await client.post(CUSTOMERS, json={"name": "X", "attributes": {f"k{n}": n for n in range(51)}})
    _problem(too_many, 400)
    too_big = await client.post(CUSTOMERS, json={"name": "X", "attributes": {"notes": "x" * 9000}})
    problem = _problem(too_big, 422)
    assert problem["errors"][0]["field"] == "attributes" and "8 KiB" in problem["errors"][0]["message"]
    _problem(await client.post(CUSTOMERS, json={"name": "X", "language": "not a tag"}), 400)
    _problem(await client.post(CUSTOMERS, json={"name": "X", "email": "nobody"}), 400)
    _problem(await client.post(CUSTOMERS, json={"name": ""}), 400)


# --- the CRM's upsert --------------------------------------------------------------------------------


async def test_upsert_creates_then_replaces_then_changes_nothing(world: World) -> None:
    client = world.norway.crm
    external_id = _external_id()
    url = f"{CUSTOMERS}/by-external-id/{external_id}"
    body = {"name": "Kari Nordmann", "email": "kari@example.no", "phone_numbers": ["+47 22 12 34 56"]}
    created = await client.put(url, json=body)
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    customer = created.json()
    assert created.headers["Location"] == f"{CUSTOMERS}/{customer['id']}"
    assert customer["external_id"] == external_id

    # The whole customer: a field left out is cleared.
    replaced = await client.put(url, json={"name": "Kari Nordmann", "phone_numbers": ["22 12 34 56", "41234567"]})
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["ETag"] == '"2"'
    second = replaced.json()
    assert second["id"] == customer["id"]
    assert (second["email"], second["phone_numbers"]) == (None, ["+4722123456", "+4741234567"])

    # The same customer again (its numbers written otherwise): nothing changes, not even the time.
    again = await client.put(url, json={"name": "Kari Nordmann", "phone_numbers": ["+4722123456", "+47 41 23 45 67"]})
    assert again.status_code == 200, again.text
    assert again.headers["ETag"] == '"2"'
    assert again.json() == second
    assert await _audit_actions(world.norway.admin, customer["id"]) == ["customer.updated", "customer.created"]


async def test_upsert_with_if_match(world: World) -> None:
    client = world.norway.crm
    url = f"{CUSTOMERS}/by-external-id/{_external_id()}"
    # If-Match names a version of a customer that must exist.
    _problem(await client.put(url, json={"name": "A"}, headers={"If-Match": '"1"'}), 412)
    assert (await client.put(url, json={"name": "A"})).status_code == 201
    _problem(await client.put(url, json={"name": "B"}, headers={"If-Match": '"7"'}), 412)
    matched = await client.put(url, json={"name": "B"}, headers={"If-Match": '"1"'})
    assert matched.status_code == 200 and matched.headers["ETag"] == '"2"'


async def test_upsert_refuses_an_external_id_that_cannot_be_one(world: World) -> None:
    response = await world.norway.crm.put(f"{CUSTOMERS}/by-external-id/{'x' * 256}", json={"name": "A"})
    assert response.status_code == 400, response.text
    response = await world.norway.crm.put(f"{CUSTOMERS}/by-external-id/a%20b", json={"name": "A"})
    assert response.status_code == 400, response.text


# --- phone numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "typed", "stored"),
    [
        ("nb-NO", "+47 22 12 34 56", "+4722123456"),
        ("nb-NO", "22 12 34 56", "+4722123456"),
        ("nb-NO", "0047 22123456", "+4722123456"),
        ("nb-NO", "+1 (415) 555-0100", "+14155550100"),
        ("en-US", "(415) 555-0100", "+14155550100"),
        ("en-US", "415.555.0100", "+14155550100"),
        ("en-US", "+47 22 12 34 56", "+4722123456"),
        ("en-GB", "020 7183 8750", "+442071838750"),
        ("en-GB", "+44 (0)20 7183 8750", "+442071838750"),
        ("de-DE", "030 901820", "+4930901820"),
        ("en", "+46 8 123 456 78", "+46812345678"),
    ],
)
async def test_numbers_are_stored_in_e164_read_in_the_tenants_country(
    world: World, locale: str, typed: str, stored: str
) -> None:
    tenant = await make_tenant("customers-region")
    await _set_locale(tenant.id, locale)
    client = await _token_client(world.live_server.url, tenant.id, ["customers:read", "customers:write"])
    async with client:
        customer = await _create(client, phone_numbers=[typed])
        assert customer["phone_numbers"] == [stored]
        # Looking a caller up normalises the number the same way.
        found = await client.get(CUSTOMERS, params={"phone": typed})
        assert [c["id"] for c in found.json()["items"]] == [customer["id"]]


async def test_an_invalid_number_is_refused_naming_its_field(world: World) -> None:
    refused = await world.norway.crm.post(
        CUSTOMERS, json={"name": "A", "phone_numbers": ["+47 22 12 34 56", "+47 1234", "call me"]}
    )
    problem = _problem(refused, 422)
    assert problem["errors"] == [
        {"field": "phone_numbers[1]", "message": "too short for a number in +47 (NO)", "source": "body"},
        {"field": "phone_numbers[2]", "message": "not a phone number", "source": "body"},
    ]
    assert "phone_numbers[1]" in problem["detail"]
    # Without a country in the tenant's locale, a number needs its country code.
    no_country = await world.nowhere.crm.put(
        f"{CUSTOMERS}/by-external-id/{_external_id()}", json={"name": "A", "phone_numbers": ["+4722123456", "22123456"]}
    )
    problem = _problem(no_country, 422)
    assert [(e["field"], e["message"]) for e in problem["errors"]] == [
        ("phone_numbers[1]", "must start with + and the country code, e.g. +47 22 12 34 56")
    ]
    bad_filter = _problem(await world.norway.reader.get(CUSTOMERS, params={"phone": "12"}), 422)
    assert bad_filter["errors"][0]["field"] == "phone" and bad_filter["errors"][0]["source"] == "query"


# --- conflicts and stale versions ------------------------------------------------------------------


async def test_a_taken_external_id_is_409_naming_the_customer_who_has_it(world: World) -> None:
    client = world.norway.admin
    external_id = _external_id()
    first = await _create(client, external_id=external_id)
    problem = _problem(await client.post(CUSTOMERS, json={"name": "B", "external_id": external_id}), 409)
    assert first["id"] in problem["detail"]
    assert problem["errors"][0]["field"] == "external_id" and first["id"] in problem["errors"][0]["message"]
    other = await _create(client)
    moved = await client.patch(f"{CUSTOMERS}/{other['id']}", json={"external_id": external_id})
    assert first["id"] in _problem(moved, 409)["detail"]


async def test_a_stale_if_match_is_412_and_nothing_is_written(world: World) -> None:
    client = world.norway.admin
    customer = await _create(client, external_id=_external_id())
    url = f"{CUSTOMERS}/{customer['id']}"
    assert (await client.patch(url, json={"name": "Changed"}, headers={"If-Match": '"1"'})).status_code == 200
    _problem(await client.patch(url, json={"name": "Stale"}, headers={"If-Match": '"1"'}), 412)
    _problem(await client.delete(url, headers={"If-Match": '"1"'}), 412)
    upsert = f"{CUSTOMERS}/by-external-id/{customer['external_id']}"
    _problem(await client.put(upsert, json={"name": "Stale"}, headers={"If-Match": '"1"'}), 412)
    _problem(await client.patch(url, json={"name": "Soon"}, headers={"If-Match": "soon"}), 422)
    now = await client.get(url)
    assert now.json()["name"] == "Changed" and now.headers["ETag"] == '"2"'


# --- who may ---------------------------------------------------------------------------------------


async def test_a_reader_is_refused_writes_and_a_supervisor_only_reads(world: World) -> None:
    customer = await _create(world.norway.admin, external_id=_external_id())
    url = f"{CUSTOMERS}/{customer['id']}"
    for client in (world.norway.reader, world.norway.supervisor):
        assert (await client.get(url)).status_code == 200
        assert (await client.get(f"{url}/interactions")).status_code == 200
        assert (await client.get(CUSTOMERS)).status_code == 200
        _problem(await client.post(CUSTOMERS, json={"name": "A"}), 403)
        _problem(await client.put(f"{CUSTOMERS}/by-external-id/{customer['external_id']}", json={"name": "A"}), 403)
        _problem(await client.patch(url, json={"name": "A"}), 403)
        _problem(await client.delete(url), 403)
    assert (await world.norway.admin.get(url)).json()["name"] == customer["name"]
    queues_only = await _token_client(world.live_server.url, world.norway.id, ["queues:read"])
    async with queues_only:
        _problem(await queues_only.get(CUSTOMERS), 403)


async def test_another_tenants_customer_is_not_found(world: World) -> None:
    theirs = await _create(world.nowhere.admin, external_id=_external_id(), phone_numbers=["+4722123456"])
    url = f"{CUSTOMERS}/{theirs['id']}"
    for client in (world.norway.admin, world.norway.crm):
        assert (await client.get(url)).status_code == 404
        assert (await client.get(f"{url}/interactions")).status_code == 404
        assert (await client.patch(url, json={"name": "Mine"})).status_code == 404
        assert (await client.delete(url)).status_code == 404
        listed = await client.get(CUSTOMERS, params={"external_id": theirs["external_id"]})
        assert listed.status_code == 200 and listed.json()["items"] == []
    # The same external id in another tenant is another customer: theirs is untouched.
    mine = await world.norway.crm.put(f"{CUSTOMERS}/by-external-id/{theirs['external_id']}", json={"name": "Mine"})
    assert mine.status_code == 201 and mine.json()["id"] != theirs["id"]
    assert (await world.nowhere.admin.get(url)).json() == theirs


# --- lists: filters and sorted pages ---------------------------------------------------------------


async def _every_page(client: httpx.AsyncClient, limit: int, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = await client.get(CUSTOMERS, params=query)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture(scope="module")
async def sorted_tenant(world: World) -> AsyncIterator[tuple[httpx.AsyncClient, list[dict[str, Any]]]]:
    """A tenant of its own with customers whose names, creation and update times tie, so ids must break ties."""
    tenant = await make_tenant("customers-sorted")
    client = await _token_client(world.live_server.url, tenant.id, ["customers:read", "customers:write"])
    names = ["Dahl", "Berg", "Aas", "Berg", "Eik", "Dahl", "Carlsen"]
    made = [await _create(client, name=name) for name in names]
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            for n, customer in enumerate(made):
                times = {
                    "created_at": START + dt.timedelta(minutes=n // 2),
                    "updated_at": START - dt.timedelta(hours=n % 3),
                }
                customer.update({key: value.isoformat() for key, value in times.items()})
                statement = sa.update(Customer).where(Customer.id == uuid.UUID(customer["id"]))  # type: ignore[arg-type]
                await session.execute(statement.values(**times))
            await session.commit()
    yield client, made
    await client.aclose()


@pytest.mark.parametrize("sort", ["name", "-name", "updated_at", "-updated_at", "created_at", "-created_at"])
async def test_every_sort_gives_every_customer_once_in_order_across_pages(
    sorted_tenant: tuple[httpx.AsyncClient, list[dict[str, Any]]], sort: str
) -> None:
    client, made = sorted_tenant
    field = sort.lstrip("-")
    # Times compare as instants: the API writes them in its own spelling.
    key = (
        (lambda c: (dt.datetime.fromisoformat(c[field]), uuid.UUID(c["id"])))
        if field != "name"
        else (lambda c: (c["name"], uuid.UUID(c["id"])))
    )
    expected = [c["id"] for c in sorted(made, key=key, reverse=sort.startswith("-"))]
    for limit in (1, 2, 3, 50):
        assert [c["id"] for c in await _every_page(client, limit, sort=sort)] == expected, limit


async def test_the_default_order_is_most_recently_updated_first_and_cursors_keep_their_sort(
    sorted_tenant: tuple[httpx.AsyncClient, list[dict[str, Any]]],
) -> None:
    client, _ = sorted_tenant
    assert await _every_page(client, 2) == await _every_page(client, 2, sort="-updated_at")
    first = (await client.get(CUSTOMERS, params={"sort": "name", "limit": "2"})).json()
    wrong = await client.get(CUSTOMERS, params={"sort": "-created_at", "cursor": first["next_cursor"]})
    assert "keep the sort while paging" in _problem(wrong, 422)["detail"]
    _problem(await client.get(CUSTOMERS, params={"sort": "email"}), 400)


async def test_filters(world: World) -> None:
    client = world.norway.admin
    tag = uuid.uuid4().hex[:8]
    ingrid = await _create(
        client,
        name=f"Ingrid {tag} Hansen",
        email=f"ingrid.{tag}@Example.no",
        external_id=_external_id(),
        phone_numbers=["+4722123400", "+4741234500"],
    )
    per = await _create(client, name=f"Per {tag}", email=f"per.{tag}@example.no", phone_numbers=["+4741234500"])
    other = await _create(client, name=f"Other {tag}", phone_numbers=["+4799999900"])

    async def ids(**params: str) -> list[str]:
        response = await client.get(CUSTOMERS, params={**params, "sort": "name"})
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await ids(external_id=ingrid["external_id"]) == [ingrid["id"]]
    assert await ids(phone="22 12 34 00") == [ingrid["id"]]
    # Any of a customer's numbers matches; a number two customers share finds both.
    assert await ids(phone="+47 412 34 500") == [ingrid["id"], per["id"]]
    assert await ids(q=f"INGRID {tag}") == [ingrid["id"]]
    assert await ids(q=f"{tag}@example") == [ingrid["id"], per["id"]]  # the email, in any case
    assert await ids(q=tag) == [ingrid["id"], other["id"], per["id"]]
    assert await ids(q=f"{tag}%") == []  # a wildcard is a character like any other
    assert await ids(q=tag, phone="41234500") == [ingrid["id"], per["id"]]
    a_week_ago = utcnow() - dt.timedelta(days=7)
    with acting_as(system_principal(world.norway.id)):
        async with get_database().session() as session:
            statement = sa.update(Customer).where(Customer.id == uuid.UUID(other["id"])).values(updated_at=a_week_ago)  # type: ignore[arg-type]
            await session.execute(statement)
            await session.commit()
    since = a_week_ago + dt.timedelta(seconds=1)
    assert await ids(q=tag, updated_since=since.isoformat()) == [ingrid["id"], per["id"]]
    assert await ids(q=tag, updated_since=a_week_ago.isoformat()) == [ingrid["id"], other["id"], per["id"]]
    # A time without a zone could be any: refused.
    naive = await client.get(CUSTOMERS, params={"updated_since": since.replace(tzinfo=None).isoformat()})
    assert _problem(naive, 422)["errors"][0]["field"] == "updated_since"


async def test_the_phone_lookup_follows_every_change_of_numbers(world: World) -> None:
    client = world.norway.crm
    external_id = _external_id()
    upsert = f"{CUSTOMERS}/by-external-id/{external_id}"

    async def holders(number: str) -> list[str]:
        response = await client.get(CUSTOMERS, params={"phone": number})
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    customer = (await client.put(upsert, json={"name": "Moving", "phone_numbers": ["+4722120011"]})).json()
    assert await holders("22120011") == [customer["id"]]
    await client.put(upsert, json={"name": "Moving", "phone_numbers": ["+4722120022", "+4722120011"]})
    assert await holders("22120022") == [customer["id"]] and await holders("22120011") == [customer["id"]]
    await client.patch(f"{CUSTOMERS}/{customer['id']}", json={"phone_numbers": ["+4722120033"]})
    assert await holders("22120011") == [] and await holders("22120022") == []
    assert await holders("22120033") == [customer["id"]]
    assert (await client.delete(f"{CUSTOMERS}/{customer['id']}")).status_code == 204
    assert await holders("22120033") == []


# --- the customer's interactions -------------------------------------------------------------------


async def test_a_customers_interactions_are_their_numbers_calls_newest_first(world: World) -> None:
    client = world.norway.admin
    customer = await _create(client, phone_numbers=["+4722120001", "+4741200002"])
    nobody = await _create(client)
    with acting_as(OPERATOR.acting_for(world.norway.id)):
        async with get_database().session() as session:
            queue = await routing.create_queue(session, routing_schemas.QueueCreate(name=f"q-{uuid.uuid4().hex[:8]}"))
            calls = [("+4722120001", 0), ("+4741200002", 5), ("+4722120001", 10), ("+4799900003", 15)]
            # Two calls arrive at the same instant: the id orders them.
            calls.append(("+4741200002", 10))
            rows = [
                Interaction(queue_id=queue.id, caller=caller, arrived_at=START + dt.timedelta(minutes=minute))
                for caller, minute in calls
            ]
            session.add_all(rows)
            await session.commit()
    mine = [r for r in rows if r.caller != "+4799900003"]
    expected = [str(r.id) for r in sorted(mine, key=lambda r: (r.arrived_at, r.id), reverse=True)]
    url = f"{CUSTOMERS}/{customer['id']}/interactions"
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (await client.get(url, params={"limit": 3, **({"cursor": cursor} if cursor else {})})).json()
        seen += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert [i["id"] for i in seen] == expected
    assert {i["queue_id"] for i in seen} == {str(queue.id)} and seen[0]["state"] == "waiting"
    assert (await client.get(f"{CUSTOMERS}/{nobody['id']}/interactions")).json() == {"items": [], "next_cursor": None}


# --- pages -----------------------------------------------------------------------------------------


async def test_supervisors_see_customers_pages_without_changing_anything(world: World) -> None:
    customer = await _create(world.norway.admin, name="Page Person", phone_numbers=["+4722125555"])
    supervisor = world.norway.supervisor
    listed = await supervisor.get("/customers", params={"phone": "22 12 55 55"})
    assert listed.status_code == 200 and "Page Person" in listed.text
    assert "New customer" not in listed.text
    page = await supervisor.get(f"/customers/{customer['id']}")
    assert page.status_code == 200 and "+4722125555" in page.text
    assert "Edit customer" not in page.text and "Delete customer" not in page.text
    assert (await supervisor.get("/customers/new")).status_code == 403
    assert (await supervisor.get(f"/customers/{customer['id']}/edit")).status_code == 403
    admin_page = await world.norway.admin.get(f"/customers/{customer['id']}")
    assert "Edit customer" in admin_page.text and "Delete customer" in admin_page.text
    refused = await supervisor.get("/customers", params={"phone": "12"})
    assert refused.status_code == 422 and "Too short for a number in +47 (NO)" in refused.text
