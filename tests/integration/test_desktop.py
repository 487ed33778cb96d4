"""The agent desktop's actions and stream over real HTTP, against the real router process.

What the browser test leaves out: actions the live view no longer allows (a stale offer, another agent's
contact, a bad disposition), CSRF, who may open the streams, plain (non-htmx) posts, and a stream that
lets go of its Redis subscription when the browser leaves.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from app.core.redis import get_redis
from app.core.settings import get_settings
from app.routing import commands as cmd
from app.routing import live
from tests.conftest import LiveServer
from tests.factories import make_agent, make_tenant, make_tenant_user, sign_in
from tests.integration.test_router import eventually
from tests.routed import Event, agent_view, contact_view, make_queue, offered, route, sse_events

HTMX = {"HX-Request": "true"}


@dataclass
class Desk:
    tenant_id: uuid.UUID
    queue_id: uuid.UUID
    other_queue_id: uuid.UUID
    agent_id: uuid.UUID
    agent: httpx.AsyncClient
    colleague_id: uuid.UUID
    colleague: httpx.AsyncClient


@pytest.fixture
async def desk(live_server: LiveServer, router_process: subprocess.Popen[bytes]) -> AsyncIterator[Desk]:
    tenant = await make_tenant("actions")
    queue_id = await make_queue(tenant.id, "Support", wrap_up_seconds=60)
    other_queue_id = await make_queue(tenant.id, "Billing")
    agent, colleague = await make_agent(tenant.id), await make_agent(tenant.id)
    await route(cmd.Reconfigure())
    agent_client = (await sign_in(live_server.url, agent.email)).client
    colleague_client = (await sign_in(live_server.url, colleague.email)).client
    yield Desk(tenant.id, queue_id, other_queue_id, agent.id, agent_client, colleague.id, colleague_client)
    await agent_client.aclose()
    await colleague_client.aclose()


def _text(response: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


async def _connected(desk: Desk) -> uuid.UUID:
    """A contact the agent has accepted through the desktop."""
    available = await desk.agent.post("/agent/presence", data={"state": "available"}, headers=HTMX)
    assert available.status_code == 200 and 'id="presence-state">Available<' in available.text
    contact = uuid.uuid4()
    await route(cmd.ContactArrive(contact_id=contact, tenant_id=desk.tenant_id, queue_id=desk.queue_id, caller="+1555"))
    await offered(desk.agent_id, contact)
    accepted = await desk.agent.post(
        "/agent/offer", data={"answer": "accept", "contact_id": str(contact)}, headers=HTMX
    )
    assert accepted.status_code == 200, accepted.text
    assert f'id="contact-{contact}"' in accepted.text and "On a contact" in _text(accepted)
    return contact


async def test_accepting_an_offer_that_is_gone_is_explained(desk: Desk) -> None:
    await desk.agent.post("/agent/presence", data={"state": "available"}, headers=HTMX)
    contact = uuid.uuid4()
    await route(cmd.ContactArrive(contact_id=contact, tenant_id=desk.tenant_id, queue_id=desk.queue_id))
    await offered(desk.agent_id, contact)
    await route(cmd.ContactAbandon(contact_id=contact))  # the caller hangs up: the offer is withdrawn

    async def withdrawn() -> bool:
        view = await agent_view(desk.agent_id)
        return view is not None and view.offer is None

    await eventually(withdrawn, what="the offer withdrawn")
    late = await desk.agent.post("/agent/offer", data={"answer": "accept", "contact_id": str(contact)}, headers=HTMX)
    assert late.status_code == 409
    assert "That offer is no longer available: it ran out or was withdrawn." in _text(late)
    assert late.headers["HX-Retarget"] == "#alerts"
    # Without htmx the same answer is a whole page.
    plain = await desk.agent.post("/agent/offer", data={"answer": "accept", "contact_id": str(contact)})
    assert plain.status_code == 409 and "<html" in plain.text and "no longer available" in plain.text
    assert (await contact_view(contact)).state == "abandoned"  # type: ignore[union-attr]


async def test_an_agent_cannot_act_on_another_agents_contact(desk: Desk) -> None:
    contact = await _connected(desk)
    refused = {
        "end": {"contact_id": str(contact)},
        "hold": {"contact_id": str(contact), "on_hold": "true"},
        "transfer": {"contact_id": str(contact), "target": f"queue:{desk.other_queue_id}"},
        "wrap-up": {"contact_id": str(contact), "disposition": "resolved"},
    }
    for action, data in refused.items():
        response = await desk.colleague.post(f"/agent/{action}", data=data, headers=HTMX)
        assert response.status_code == 404, (action, response.status_code)
        assert "not on your desktop" in _text(response) or "no disposition to record" in _text(response)
    not_an_id = await desk.colleague.post("/agent/end", data={"contact_id": "nope"}, headers=HTMX)
    assert not_an_id.status_code == 404
    view = await contact_view(contact)
    assert view is not None and view.state == "connected" and view.agent_id == desk.agent_id and not view.on_hold


async def test_bad_choices_are_refused_before_reaching_the_router(desk: Desk) -> None:
    contact = await _connected(desk)
    elsewhere = await desk.agent.post(
        "/agent/transfer", data={"contact_id": str(contact), "target": f"queue:{uuid.uuid4()}"}, headers=HTMX
    )
    assert elsewhere.status_code == 422 and "Choose a queue or an agent of" in _text(elsewhere)
    no_reason = await desk.agent.post("/agent/presence", data={"state": "break", "reason": "nap"}, headers=HTMX)
    assert no_reason.status_code == 422 and "Choose a reason for the break." in _text(no_reason)
    ended = await desk.agent.post("/agent/end", data={"contact_id": str(contact)}, headers=HTMX)
    assert ended.status_code == 200 and f'id="wrap-up-{contact}"' in ended.text
    bad_code = await desk.agent.post(
        "/agent/wrap-up", data={"contact_id": str(contact), "disposition": "whatever"}, headers=HTMX
    )
    assert bad_code.status_code == 422 and "Choose how the contact ended." in _text(bad_code)
    view = await agent_view(desk.agent_id)
    assert view is not None and view.pending_dispositions == (contact,)


async def test_a_transfer_to_a_colleague_and_a_plain_post(desk: Desk) -> None:
    contact = await _connected(desk)
    await desk.colleague.post("/agent/presence", data={"state": "available"}, headers=HTMX)
    # A plain form post (no script) answers with a redirect back to the desktop.
    moved = await desk.agent.post(
        "/agent/transfer", data={"contact_id": str(contact), "target": f"agent:{desk.colleague_id}"}
    )
    assert moved.status_code == 303 and moved.headers["location"] == "/agent"
    await offered(desk.colleague_id, contact)
    page = await desk.colleague.get("/agent")
    assert page.status_code == 200 and 'id="offer"' in page.text and "Support" in page.text


async def test_forms_without_the_csrf_token_are_refused(desk: Desk) -> None:
    token = desk.agent.headers.pop("X-CSRF-Token")
    forged = await desk.agent.post("/agent/presence", data={"state": "available"}, headers=HTMX)
    assert forged.status_code == 403 and "CSRF token missing or invalid" in _text(forged)
    genuine = await desk.agent.post("/agent/presence", data={"state": "available", "_csrf": token}, headers=HTMX)
    assert genuine.status_code == 200 and 'id="presence-state">Available<' in genuine.text


async def test_streams_need_a_signed_in_person_with_the_right_role(live_server: LiveServer) -> None:
    tenant = await make_tenant("streams")
    agent = await make_agent(tenant.id)
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    viewer = await make_tenant_user(tenant.id, "report_viewer")
    async with httpx.AsyncClient(base_url=live_server.url) as anonymous:
        for path in ("/agent/events", "/live/events", "/operator/live/events"):
            response = await anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    refused = {
        agent.email: ["/live/events", "/operator/live/events"],
        supervisor.email: ["/agent/events", "/operator/live/events"],
        viewer.email: ["/agent/events", "/live/events", "/operator/live/events"],
    }
    for email, paths in refused.items():
        async with await sign_in(live_server.url, email) as client:
            for path in paths:
                assert (await client.get(path)).status_code == 403, (email, path)


async def _subscribers(channel: str) -> int:
    counts = await get_redis().pubsub_numsub(channel)
    return int(counts[0][1])


async def _until_shown(events: AsyncIterator[Event], text: str) -> list[Event]:
    """The events up to the first whose fragment shows ``text`` (the router may publish steps in between)."""
    seen: list[Event] = []

    async def read() -> None:
        async for event in events:
            seen.append(event)
            if text in event.data:
                return
        raise AssertionError("the stream ended")

    await asyncio.wait_for(read(), 15)
    return seen


async def test_the_desk_stream_follows_the_router_and_unsubscribes_on_disconnect(desk: Desk) -> None:
    channel = live.agent_channel(desk.agent_id, get_settings().router_pool)
    async with desk.agent.stream("GET", "/agent/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        first = await anext(events)
        assert first.name == "desk" and 'id="presence-state">Offline<' in first.data
        assert await _subscribers(channel) == 1
        await route(cmd.AgentPresence(agent_id=desk.agent_id, state="break", reason="lunch"))
        on_break = (await _until_shown(events, 'id="presence-state">On break (lunch)<'))[-1]
        assert on_break.name == "desk"
        await events.aclose()

    async def unsubscribed() -> bool:
        return await _subscribers(channel) == 0

    await eventually(unsubscribed, what="the stream's subscription closed")
    # Reconnecting with the last event's id, the browser is not sent the same desk again, only what changed.
    async with desk.agent.stream("GET", "/agent/events", headers={"Last-Event-ID": on_break.id}) as response:
        events = sse_events(response)
        await eventually(lambda: _subscribers(channel), what="the new stream subscribed")
        await route(cmd.AgentPresence(agent_id=desk.agent_id, state="available"))
        seen = await _until_shown(events, 'id="presence-state">Available<')
        assert all("On break" not in event.data and event.id != on_break.id for event in seen)
        await events.aclose()
