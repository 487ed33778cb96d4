"""The interactions API over real HTTP, on contacts driven through the real router process.

Tenant A's contacts: one answered by one agent, held, transferred to a colleague who ends it and records a
disposition; one abandoned; three left waiting. Tenant B has a contact of its own. Each filter, both
orders across pages, the events in the router's log order, agents by alias only, and who may read.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import typing
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.routing import commands as cmd
from app.routing import schemas
from app.routing.models import InteractionState
from tests.conftest import LiveServer
from tests.factories import make_agent, make_tenant, make_tenant_user, sign_in, token_client
from tests.integration.test_router import eventually
from tests.routed import agent_view, assign, contact_view, make_queue, offered, presence_is, route

PATH = "/api/v1/interactions"
CALLER = "+442071838750"


@dataclass
class Calls:
    tenant_id: uuid.UUID
    support_id: uuid.UUID
    billing_id: uuid.UUID
    first: uuid.UUID  # answered by Ava, transferred to Yann, ended by Yann with "escalated"
    abandoned: uuid.UUID
    waiting: list[uuid.UUID]  # in arrival order
    ava: uuid.UUID
    yann: uuid.UUID
    b_contact: uuid.UUID
    b_queue_id: uuid.UUID
    admin: httpx.AsyncClient  # A's tenant admin

    @property
    def arrival_order(self) -> list[uuid.UUID]:
        return [self.first, self.abandoned, *self.waiting]


async def _state_is(contact_id: uuid.UUID, state: str) -> None:
    async def probe() -> bool:
        view = await contact_view(contact_id)
        return view is not None and view.state == state

    await eventually(probe, what=f"contact {contact_id} {state}")


async def _offline(agent_id: uuid.UUID) -> None:
    await route(cmd.AgentPresence(agent_id=agent_id, state="offline"))
    await presence_is(agent_id, "offline")


async def _arrive(tenant_id: uuid.UUID, queue_id: uuid.UUID, caller: str) -> uuid.UUID:
    contact = uuid.uuid4()
    await route(cmd.ContactArrive(contact_id=contact, tenant_id=tenant_id, queue_id=queue_id, caller=caller))
    await _state_is(contact, "waiting")
    return contact


@pytest.fixture(scope="module")
async def calls(live_server: LiveServer, router_process: subprocess.Popen[bytes]) -> AsyncIterator[Calls]:
    a, b = await make_tenant("interactions-a"), await make_tenant("interactions-b")
    support, billing = await make_queue(a.id, "Support"), await make_queue(a.id, "Billing")
    b_queue = await make_queue(b.id, "B support")
    ava, yann = await make_agent(), await make_agent()
    await assign(ava.id, a.id, "Ava")
    await assign(yann.id, a.id, "Yann")
    await route(cmd.Reconfigure(), cmd.AgentPresence(agent_id=ava.id, state="available"))
    await presence_is(ava.id, "available")

    first = uuid.uuid4()
    await route(cmd.ContactArrive(contact_id=first, tenant_id=a.id, queue_id=support, caller=CALLER))
    await offered(ava.id, first)
    await route(
        cmd.OfferAccept(agent_id=ava.id, contact_id=first),
        cmd.ContactHold(agent_id=ava.id, contact_id=first, on_hold=True),
    )
    await eventually(_on_hold(first, True), what="on hold")
    await route(cmd.ContactHold(agent_id=ava.id, contact_id=first, on_hold=False))
    await eventually(_on_hold(first, False), what="resumed")
    await route(cmd.AgentPresence(agent_id=yann.id, state="available"))
    await presence_is(yann.id, "available")
    await route(cmd.ContactTransfer(agent_id=ava.id, contact_id=first, to_agent=yann.id))
    await offered(yann.id, first)
    await route(cmd.OfferAccept(agent_id=yann.id, contact_id=first), cmd.ContactEnd(agent_id=yann.id, contact_id=first))
    await _state_is(first, "ended")
    await route(cmd.WrapUpFinish(agent_id=yann.id, contact_id=first, disposition="escalated"))

    async def wrapped() -> bool:
        view = await agent_view(yann.id)
        return view is not None and first not in view.pending_dispositions

    await eventually(wrapped, what="the wrap-up recorded")
    # Both go offline: the contacts that follow wait. (The router commits rows before it shows views, so
    # each state seen in a view is in the database too.)
    await _offline(ava.id)
    await _offline(yann.id)
    abandoned = await _arrive(a.id, billing, "+442071838751")
    await route(cmd.ContactAbandon(contact_id=abandoned))
    await _state_is(abandoned, "abandoned")
    waiting = []
    for queue, caller in ((support, "chat:visitor-7"), (billing, CALLER), (support, "chat:visitor-7")):
        waiting.append(await _arrive(a.id, queue, caller))
    b_contact = await _arrive(b.id, b_queue, CALLER)
    admin = await make_tenant_user(a.id, "tenant_admin")
    signed = await sign_in(live_server.url, admin.email)
    async with signed as client:
        yield Calls(a.id, support, billing, first, abandoned, waiting, ava.id, yann.id, b_contact, b_queue, client)


def _on_hold(contact_id: uuid.UUID, on_hold: bool) -> Any:
    async def probe() -> bool:
        view = await contact_view(contact_id)
        return view is not None and view.on_hold == on_hold

    return probe


async def _ids(client: httpx.AsyncClient, **params: Any) -> list[uuid.UUID]:
    response = await client.get(PATH, params=params)
    assert response.status_code == 200, response.text
    return [uuid.UUID(item["id"]) for item in response.json()["items"]]


async def test_the_state_literal_names_every_state_the_router_writes() -> None:
    assert set(typing.get_args(schemas.InteractionStateName)) == {state.value for state in InteractionState}


async def test_filters_each_select_exactly_their_contacts(calls: Calls) -> None:
    everyone = set(calls.arrival_order)
    assert set(await _ids(calls.admin)) == everyone  # B's contact is not A's
    assert await _ids(calls.admin, state="waiting") == calls.waiting[::-1]
    assert await _ids(calls.admin, state="abandoned") == [calls.abandoned]
    assert await _ids(calls.admin, state="ended", channel="voice") == [calls.first]
    assert await _ids(calls.admin, channel="chat") == []
    assert set(await _ids(calls.admin, queue_id=calls.billing_id)) == {calls.abandoned, calls.waiting[1]}
    assert await _ids(calls.admin, agent_id=calls.yann) == [calls.first]
    assert await _ids(calls.admin, agent_id=calls.ava) == []  # the contact is Yann's now
    assert await _ids(calls.admin, disposition="escalated") == [calls.first]
    assert await _ids(calls.admin, disposition="resolved") == []
    # A number in any notation finds the stored E.164; anything else matches as given.
    assert await _ids(calls.admin, caller="+44 20 7183 8750") == [calls.waiting[1], calls.first]
    assert await _ids(calls.admin, caller="+44 (20) 7183-8751") == [calls.abandoned]
    assert await _ids(calls.admin, caller="chat:visitor-7") == [calls.waiting[2], calls.waiting[0]]
    # Another tenant's queue filters down to nothing rather than to its contacts.
    assert await _ids(calls.admin, queue_id=calls.b_queue_id) == []


async def test_the_arrival_window_is_half_open_and_must_not_be_empty(calls: Calls) -> None:
    arrived = {}
    for contact in calls.arrival_order:
        body = (await calls.admin.get(f"{PATH}/{contact}")).json()
        arrived[contact] = dt.datetime.fromisoformat(body["arrived_at"])
    start, end = arrived[calls.abandoned], arrived[calls.waiting[1]]
    window = {"arrived_from": start.isoformat(), "arrived_to": end.isoformat(), "sort": "arrived_at"}
    assert await _ids(calls.admin, **window) == [calls.abandoned, calls.waiting[0]]
    since = await _ids(calls.admin, arrived_from=end.isoformat())
    assert since == calls.waiting[:0:-1]
    for arrived_to in (start, start - dt.timedelta(seconds=1)):
        empty = await calls.admin.get(
            PATH, params={"arrived_from": start.isoformat(), "arrived_to": arrived_to.isoformat()}
        )
        assert empty.status_code == 422 and empty.headers["content-type"] == "application/problem+json"
        assert empty.json()["errors"][0]["field"] == "arrived_to"
    naive = await calls.admin.get(PATH, params={"arrived_from": "2026-11-26T09:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["errors"][0]["message"]


@pytest.mark.parametrize("sort", ["arrived_at", "-arrived_at"])
@pytest.mark.parametrize("limit", [1, 2, 4])
async def test_pages_follow_the_sort_and_give_every_contact_once(calls: Calls, sort: str, limit: int) -> None:
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"sort": sort, "limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await calls.admin.get(PATH, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        seen += [uuid.UUID(item["id"]) for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = calls.arrival_order if sort == "arrived_at" else calls.arrival_order[::-1]
    assert seen == expected
    first_page = (await calls.admin.get(PATH, params={"sort": sort, "limit": 1})).json()
    other = "-arrived_at" if sort == "arrived_at" else "arrived_at"
    mixed = await calls.admin.get(PATH, params={"sort": other, "cursor": first_page["next_cursor"]})
    assert mixed.status_code == 422 and "keep the sort" in mixed.json()["detail"]
    assert (await calls.admin.get(PATH, params={"sort": "caller"})).status_code == 400


async def test_one_contact_has_its_events_in_log_order_and_its_times(calls: Calls) -> None:
    response = await calls.admin.get(f"{PATH}/{calls.first}")
    assert response.status_code == 200
    body = response.json()
    types = [event["type"] for event in body["events"]]
    assert types == [
        "arrived",
        "offered",
        "answered",
        "held",
        "resumed",
        "transferred",
        "offered",
        "answered",
        "ended",
        "wrapped_up",
    ]
    by_type = {event["type"]: event for event in body["events"]}  # the last of each
    ava, yann = {"agent_id": str(calls.ava), "alias": "Ava"}, {"agent_id": str(calls.yann), "alias": "Yann"}
    assert body["events"][2]["agent"] == ava and by_type["transferred"]["agent"] == ava
    assert by_type["answered"]["agent"] == yann and by_type["ended"]["agent"] == yann
    assert by_type["arrived"]["data"] == {"caller": CALLER, "callback": False}
    assert by_type["wrapped_up"]["data"]["disposition"] == "escalated"
    assert all(event["queue_id"] == str(calls.support_id) for event in body["events"])
    ats = [dt.datetime.fromisoformat(event["at"]) for event in body["events"]]
    assert ats == sorted(ats)
    assert body["agent"] == yann and body["state"] == "ended" and body["transfers"] == 1
    assert body["disposition"] == {"code": "escalated", "label": "Escalated"}
    assert body["caller"] == CALLER and body["queue_id"] == str(calls.support_id)

    at = {(event["type"], n): moment for n, (event, moment) in enumerate(zip(body["events"], ats, strict=True))}
    arrived, answered, held, resumed, transferred, answered_again, ended = (
        at[("arrived", 0)],
        at[("answered", 2)],
        at[("held", 3)],
        at[("resumed", 4)],
        at[("transferred", 5)],
        at[("answered", 7)],
        at[("ended", 8)],
    )
    hold = (resumed - held).total_seconds()
    assert body["wait_seconds"] == pytest.approx((answered - arrived).total_seconds(), abs=1e-6)
    assert body["hold_seconds"] == pytest.approx(hold, abs=2e-6)
    talk = (transferred - answered).total_seconds() - hold + (ended - answered_again).total_seconds()
    assert body["talk_seconds"] == pytest.approx(talk, abs=1e-5)

    abandoned = (await calls.admin.get(f"{PATH}/{calls.abandoned}")).json()
    assert abandoned["agent"] is None and abandoned["disposition"] is None and abandoned["talk_seconds"] == 0
    span = dt.datetime.fromisoformat(abandoned["ended_at"]) - dt.datetime.fromisoformat(abandoned["arrived_at"])
    assert abandoned["wait_seconds"] == pytest.approx(span.total_seconds(), abs=1e-6)
    still_waiting = (await calls.admin.get(f"{PATH}/{calls.waiting[0]}")).json()
    assert still_waiting["wait_seconds"] is None and [e["type"] for e in still_waiting["events"]] == ["arrived"]


async def test_agents_show_by_alias_never_by_the_operators_data(calls: Calls, live_server: LiveServer) -> None:
    listed = await calls.admin.get(PATH, params={"agent_id": str(calls.yann)})
    detail = await calls.admin.get(f"{PATH}/{calls.first}")
    async with token_client(live_server.url, calls.tenant_id, ["agents:read"]) as program:
        agents = [await calls.admin.get("/api/v1/agents"), await program.get("/api/v1/agents")]
    for response in (listed, detail, *agents):
        assert response.status_code == 200 and "Yann" in response.text
        # make_agent's people are "Agent Person" with an operator email and an employee code.
        for personal in ("Agent Person", "@operator.example", '"E-'):
            assert personal not in response.text
    for response in agents:
        assert {item["alias"] for item in response.json()["items"]} == {"Ava", "Yann"}


async def test_another_tenants_contact_is_not_found(calls: Calls, live_server: LiveServer) -> None:
    async with token_client(live_server.url, calls.tenant_id, ["interactions:read"]) as bearer:
        for client in (calls.admin, bearer):
            assert (await client.get(f"{PATH}/{calls.b_contact}")).status_code == 404
            assert (await client.get(f"{PATH}/{uuid.uuid4()}")).status_code == 404
            assert (await client.get(f"{PATH}/{calls.first}")).status_code == 200
            assert calls.b_contact not in await _ids(client)


async def test_who_may_read_interactions(calls: Calls, live_server: LiveServer) -> None:
    async with (
        token_client(live_server.url, calls.tenant_id, ["interactions:read"]) as allowed,
        token_client(live_server.url, calls.tenant_id, ["queues:read", "agents:read"]) as refused,
    ):
        assert (await allowed.get(PATH)).status_code == 200
        for path in (PATH, f"{PATH}/{calls.first}"):
            response = await refused.get(path)
            assert response.status_code == 403 and response.headers["content-type"] == "application/problem+json"
    for role, status in (("supervisor", 200), ("report_viewer", 403)):
        person = await make_tenant_user(calls.tenant_id, role)
        async with await sign_in(live_server.url, person.email) as client:
            assert (await client.get(f"{PATH}/{calls.first}")).status_code == status, role
