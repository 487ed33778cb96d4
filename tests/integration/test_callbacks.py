"""Scheduled callbacks over real HTTP: booking (phone numbers read as the tenant's country's), the time and queue
rules, cancelling, the list's filters and pages, who may do what; another tenant sees none of it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_api_client, make_tenant, make_tenant_user, sign_in

CALLBACKS = "/api/v1/callbacks"


@dataclass
class Tenant:
    id: uuid.UUID
    admin: httpx.AsyncClient
    queue_id: uuid.UUID  # an active voice queue
    chat_queue_id: uuid.UUID
    inactive_queue_id: uuid.UUID


async def _tenant(live_server: LiveServer, name: str, locale: str) -> Tenant:
    tenant = await make_tenant(name)
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            queue = await routing.create_queue(session, routing_schemas.QueueCreate(name="Support"))
            chat = await routing.create_queue(session, routing_schemas.QueueCreate(name="Chat", channel="chat"))
            closed = await routing.create_queue(session, routing_schemas.QueueCreate(name="Old", is_active=False))
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    client = (await sign_in(live_server.url, admin.email)).client
    response = await client.patch(f"/api/v1/tenants/{tenant.id}", json={"locale": locale})
    assert response.status_code == 200, response.text
    return Tenant(tenant.id, client, queue.id, chat.id, closed.id)


@pytest.fixture(scope="module")
async def tenants(live_server: LiveServer) -> AsyncIterator[tuple[Tenant, Tenant]]:
    a = await _tenant(live_server, "callbacks-a", "en-GB")
    b = await _tenant(live_server, "callbacks-b", "fr")  # a language without a country: numbers need their +
    yield a, b
    await a.admin.aclose()
    await b.admin.aclose()


def _in(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).isoformat()


def _body(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    return {"queue_id": str(tenant.queue_id), "phone": "+44 20 7183 8750", "due_at": _in(hours=2), **fields}


async def _schedule(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = await tenant.admin.post(CALLBACKS, json=_body(tenant, **fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _refused_field(response: httpx.Response, status: int = 422) -> str:
    """The one field a problem names (422: the service refused the value; 400: the body's types did)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    (error,) = problem["errors"]
    return str(error["field"])


async def test_scheduling_answers_the_callback_with_its_location_and_version(tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    customer = uuid.uuid4()
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    # A national number is read as the country of the tenant's locale (en-GB); the due time keeps its instant.
    local_due = due.astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat()
    response = await a.admin.post(
        CALLBACKS,
        json=_body(a, phone="020 7183 8750", due_at=local_due, customer_id=str(customer), note="Card blocked"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{CALLBACKS}/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert body["phone"] == "+442071838750"
    assert dt.datetime.fromisoformat(body["due_at"]) == due
    assert (body["status"], body["customer_id"], body["note"]) == ("scheduled", str(customer), "Card blocked")
    assert (body["interaction_id"], body["queued_at"], body["cancelled_at"], body["failure_reason"]) == (
        None,
        None,
        None,
        "",
    )

    shown = await a.admin.get(response.headers["location"])
    assert shown.status_code == 200 and shown.json() == body and shown.headers["etag"] == '"1"'
    audit = (await a.admin.get("/api/v1/audit-log")).json()["items"]
    assert any(e["action"] == "callback.scheduled" and e["object_id"] == body["id"] for e in audit)


async def test_a_bad_phone_number_is_refused_naming_the_field(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    for phone in ("+44 20 7183", "not a number", "+1 555 0100"):
        assert _refused_field(await a.admin.post(CALLBACKS, json=_body(a, phone=phone))) == "phone"
    # Without a country in its locale, a tenant's national numbers mean nothing; international ones are fine.
    response = await b.admin.post(CALLBACKS, json=_body(b, phone="01 42 68 53 00"))
    assert _refused_field(response) == "phone"
    assert "international form" in response.json()["errors"][0]["message"]
    assert (await _schedule(b, phone="+33 1 42 68 53 00"))["phone"] == "+33142685300"


async def test_the_due_time_must_be_in_the_next_30_days_with_an_offset(tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    past = await a.admin.post(CALLBACKS, json=_body(a, due_at=_in(minutes=-1)))
    assert _refused_field(past) == "due_at"
    assert past.json()["errors"][0]["message"] == "must be in the future"
    assert _refused_field(await a.admin.post(CALLBACKS, json=_body(a, due_at=_in(days=30, minutes=5)))) == "due_at"
    naive = dt.datetime.now() + dt.timedelta(hours=1)  # a time without its offset, on purpose
    assert _refused_field(await a.admin.post(CALLBACKS, json=_body(a, due_at=naive.isoformat())), 400) == "due_at"
    assert (await _schedule(a, due_at=_in(days=29, hours=23)))["status"] == "scheduled"


async def test_the_queue_is_an_active_voice_queue_of_the_tenant(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    for queue_id in (a.chat_queue_id, a.inactive_queue_id, b.queue_id, uuid.uuid4()):
        response = await a.admin.post(CALLBACKS, json=_body(a, queue_id=str(queue_id)))
        assert _refused_field(response) == "queue_id", queue_id
    assert "no such queue" in (await a.admin.post(CALLBACKS, json=_body(a, queue_id=str(b.queue_id)))).text


async def test_cancelling_once_then_again_or_from_an_old_version(tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    callback = await _schedule(a)
    path = f"{CALLBACKS}/{callback['id']}/cancel"
    stale = await a.admin.post(path, headers={"If-Match": '"7"'})
    assert stale.status_code == 412, stale.text

    cancelled = await a.admin.post(path, headers={"If-Match": '"1"'})
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["cancelled_at"] is not None
    assert cancelled.headers["etag"] == '"2"' and body["version"] == 2

    again = await a.admin.post(path)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["detail"] == "the callback is already cancelled"
    assert (await a.admin.get(f"{CALLBACKS}/{callback['id']}")).json()["status"] == "cancelled"


async def test_the_list_filters_by_status_queue_and_due_time_and_pages_in_order(
    live_server: LiveServer,
) -> None:
    tenant = await _tenant(live_server, "callbacks-list", "en-GB")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            other = await routing.create_queue(session, routing_schemas.QueueCreate(name="Sales"))
    try:
        in_hours = [5, 1, 3, 2, 4]
        made = [await _schedule(tenant, due_at=_in(hours=h)) for h in in_hours]
        elsewhere = await _schedule(tenant, queue_id=str(other.id), due_at=_in(hours=6))
        await tenant.admin.post(f"{CALLBACKS}/{made[0]['id']}/cancel")
        by_due = [c["id"] for _, c in sorted(zip(in_hours, made, strict=True), key=lambda pair: pair[0])]

        async def ids(**params: Any) -> list[str]:
            response = await tenant.admin.get(CALLBACKS, params=params)
            assert response.status_code == 200, response.text
            return [c["id"] for c in response.json()["items"]]

        everything = await ids()
        assert everything == [c["id"] for c in reversed([*made, elsewhere])]  # newest first
        assert await ids(status="cancelled") == [made[0]["id"]]
        assert set(await ids(status=["scheduled", "cancelled"])) == set(everything)
        assert await ids(queue_id=str(other.id)) == [elsewhere["id"]]
        assert await ids(queue_id=str(tenant.queue_id), sort="due_at") == by_due
        window = {"due_from": _in(hours=1, minutes=30), "due_to": _in(hours=3, minutes=30)}
        assert await ids(sort="due_at", **window) == [made[3]["id"], made[2]["id"]]

        # Every callback once, in due order, a page of two at a time.
        paged: list[str] = []
        params: dict[str, Any] = {"sort": "-due_at", "limit": 2}
        while True:
            page = (await tenant.admin.get(CALLBACKS, params=params)).json()
            paged += [c["id"] for c in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert paged == [elsewhere["id"], *reversed(by_due)]

        for params in (
            {"due_from": "2026-12-01T10:00:00"},  # no offset
            {"due_from": _in(hours=3), "due_to": _in(hours=2)},
            {"status": "lost"},
            {"sort": "phone"},
        ):
            response = await tenant.admin.get(CALLBACKS, params=params)
            assert response.status_code in (400, 422), (params, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
    finally:
        await tenant.admin.aclose()


async def test_roles_and_scopes(tenants: tuple[Tenant, Tenant], live_server: LiveServer) -> None:
    a, _ = tenants
    callback = await _schedule(a)
    supervisor = await sign_in(live_server.url, (await make_tenant_user(a.id, "supervisor")).email)
    viewer = await sign_in(live_server.url, (await make_tenant_user(a.id, "report_viewer")).email)
    async with supervisor as by_supervisor, viewer as by_viewer:
        assert (await by_supervisor.post(CALLBACKS, json=_body(a))).status_code == 201
        assert (await by_supervisor.get(f"{CALLBACKS}/{callback['id']}")).status_code == 200
        assert (await by_viewer.get(CALLBACKS)).status_code == 403
        assert (await by_viewer.post(CALLBACKS, json=_body(a))).status_code == 403
        assert (await by_viewer.post(f"{CALLBACKS}/{callback['id']}/cancel")).status_code == 403

    async def program(scopes: list[str]) -> httpx.AsyncClient:
        client, secret = await make_api_client(a.id, scopes)
        async with httpx.AsyncClient(base_url=live_server.url) as anonymous:
            token = await anonymous.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret)
            )
        assert token.status_code == 200, token.text
        return httpx.AsyncClient(
            base_url=live_server.url, headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )

    async with await program(["callbacks:read"]) as reader, await program(["callbacks:write"]) as writer:
        assert (await reader.get(CALLBACKS)).status_code == 200
        assert (await reader.post(CALLBACKS, json=_body(a))).status_code == 403
        assert (await writer.post(CALLBACKS, json=_body(a))).status_code == 201
        assert (await writer.post(f"{CALLBACKS}/{callback['id']}/cancel")).status_code == 200


async def test_another_tenant_sees_none_of_the_callbacks(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    callback = await _schedule(a)
    assert callback["id"] not in [
        c["id"] for c in (await b.admin.get(CALLBACKS, params={"limit": 200})).json()["items"]
    ]
    assert (await b.admin.get(CALLBACKS, params={"queue_id": str(a.queue_id)})).json()["items"] == []
    for response in (
        await b.admin.get(f"{CALLBACKS}/{callback['id']}"),
        await b.admin.post(f"{CALLBACKS}/{callback['id']}/cancel"),
    ):
        assert response.status_code == 404, response.text
    assert (await a.admin.get(f"{CALLBACKS}/{callback['id']}")).json()["status"] == "scheduled"
