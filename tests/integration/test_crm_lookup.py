"""The CRM lookup (screen pop): its setting over the API (ETag, scopes, the SSRF guard), the signed lookup to a
real local HTTP server verified with the official ``standardwebhooks`` library, the cache, answers Tenline cannot
show, failures, and, against the real router process, an offer that reaches the agent while the CRM hangs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.core.db import get_database
from app.core.redis import get_redis
from app.core.tenancy import acting_as, system_principal
from app.integrations import crm, schemas
from app.routing import commands as cmd
from tests.conftest import LiveServer
from tests.factories import make_agent, make_api_client, make_tenant, make_tenant_user, sign_in
from tests.integration.test_router import eventually
from tests.routed import make_queue, offered, route
from tests.webhook_receiver import Receiver, Reply

HTMX = {"HX-Request": "true"}
CALLER = "+442071838750"
RECORD = {
    "title": "Ada Lovelace",
    "url": "https://crm.example/contacts/42",
    "fields": {"Tier": "Gold", "Open cases": 2, "VIP": True, "Notes": None, "Orders": [1, 2]},
    "extra": "ignored",
}


def _json(body: Any, status: int = 200, delay: float = 0.0) -> Reply:
    return Reply(status, {"content-type": "application/json"}, json.dumps(body).encode(), delay)


async def _set_up(tenant_id: uuid.UUID, url: str, **fields: Any) -> str:
    """The tenant's CRM lookup, set up through the service; returns its signing secret."""
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            saved = await crm.create_setting(session, schemas.CrmLookupPut(url=url, **fields))
    assert saved.secret is not None
    return saved.secret


async def _look_up(contact: crm.Contact) -> schemas.CrmAnswer:
    async with get_database().session() as session:
        asked = await crm.lookup_request(session, contact)
    assert asked is not None
    return await crm.look_up(*asked)


def _contact(tenant_id: uuid.UUID, queue_id: uuid.UUID, caller: str = CALLER) -> crm.Contact:
    return crm.Contact(
        interaction_id=uuid.uuid4(),
        tenant_id=tenant_id,
        queue_id=queue_id,
        caller=caller,
        ivr={"language": "fr", "menu": "2"},
    )


async def _token(base_url: str, client_id: str, secret: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


async def test_the_setting_over_the_api(live_server: LiveServer, receiver: Receiver) -> None:
    tenant = await make_tenant("crm-api")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        assert (await client.get("/api/v1/crm-lookup")).status_code == 404
        refused = await client.put("/api/v1/crm-lookup", json={"url": "http://10.0.0.1/lookup"})
        assert refused.status_code == 422 and "may not reach" in refused.text
        assert refused.json()["errors"][0]["field"] == "url"
        too_slow = await client.put("/api/v1/crm-lookup", json={"url": receiver.url, "timeout_ms": 6000})
        assert too_slow.status_code == 400 and too_slow.json()["errors"][0]["field"] == "timeout_ms"

        created = await client.put("/api/v1/crm-lookup", json={"url": receiver.url})
        assert created.status_code == 201, created.text
        assert created.headers["etag"] == '"1"'
        body = created.json()
        assert body["secret"].startswith("whsec_")
        assert (body["timeout_ms"], body["cache_ttl_seconds"], body["enabled"]) == (1500, 300, True)

        changed = await client.put(
            "/api/v1/crm-lookup", json={"url": receiver.url, "timeout_ms": 800}, headers={"If-Match": '"1"'}
        )
        assert changed.status_code == 200 and changed.json()["secret"] is None
        assert changed.headers["etag"] == '"2"' and changed.json()["timeout_ms"] == 800
        stale = await client.put(
            "/api/v1/crm-lookup", json={"url": receiver.url, "timeout_ms": 900}, headers={"If-Match": '"1"'}
        )
        assert stale.status_code == 412, stale.text
        got = await client.get("/api/v1/crm-lookup")
        assert got.headers["etag"] == '"2"' and got.json()["timeout_ms"] == 800

        rotated = await client.post(
            "/api/v1/crm-lookup/rotate-secret", json={"overlap_seconds": 3600}, headers={"If-Match": '"2"'}
        )
        assert rotated.status_code == 201, rotated.text
        assert rotated.json()["secret"] not in (None, body["secret"])
        assert rotated.json()["previous_secret_expires_at"] is not None

        # A program with the webhooks scopes reads it; one with only the read scope may not change it.
        api_client, secret = await make_api_client(tenant.id, ["webhooks:read"])
        token = await _token(live_server.url, api_client.client_id, secret)
        bearer = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=live_server.url, headers=bearer) as program:
            assert (await program.get("/api/v1/crm-lookup")).json()["url"] == receiver.url
            assert (await program.put("/api/v1/crm-lookup", json={"url": receiver.url})).status_code == 403

        assert (await client.delete("/api/v1/crm-lookup", headers={"If-Match": '"1"'})).status_code == 412
        assert (await client.delete("/api/v1/crm-lookup", headers={"If-Match": '"3"'})).status_code == 204
        assert (await client.get("/api/v1/crm-lookup")).status_code == 404
    assert receiver.received == []  # setting it up asks the CRM nothing


async def test_a_lookup_is_signed_and_its_answer_cached_per_caller(receiver: Receiver) -> None:
    tenant = await make_tenant("crm-sign")
    queue_id = await make_queue(tenant.id, "Card services")
    secret = await _set_up(tenant.id, receiver.url)
    receiver.planned = [_json(RECORD)]
    first = _contact(tenant.id, queue_id)

    answer = await _look_up(first)
    assert answer == schemas.CrmAnswer(
        outcome="found",
        title="Ada Lovelace",
        url="https://crm.example/contacts/42",
        fields=[("Tier", "Gold"), ("Open cases", "2"), ("VIP", "yes")],
    )
    ((headers, body),) = receiver.received
    sent = Webhook(secret).verify(body, headers)
    assert sent["type"] == "crm.lookup"
    assert sent["data"] == {
        "interaction_id": str(first.interaction_id),
        "caller": CALLER,
        "queue_id": str(queue_id),
        "queue_name": "Card services",
        "ivr": {"language": "fr", "menu": "2"},
    }

    # The same caller again (another contact): the cached answer, no second request.
    assert await _look_up(_contact(tenant.id, queue_id)) == answer
    assert len(receiver.received) == 1
    # Another caller is another lookup.
    receiver.planned = [_json({})]
    assert (await _look_up(_contact(tenant.id, queue_id, "+33142685300"))).outcome == "empty"
    assert len(receiver.received) == 2


async def test_answers_tenline_cannot_show_and_failures_are_kept_briefly(receiver: Receiver) -> None:
    tenant = await make_tenant("crm-fail")
    queue_id = await make_queue(tenant.id, "Support")
    await _set_up(tenant.id, receiver.url, cache_ttl_seconds=600)

    unusable = {
        "+442071838760": _json([{"title": "a list"}]),
        "+442071838761": Reply(200, {"content-type": "text/html"}, b"<html>hello</html>"),
        "+442071838762": _json({"fields": {"x": "y" * 20_000}}),  # more than 16 KiB
    }
    for caller, reply in unusable.items():
        receiver.planned = [reply]
        assert (await _look_up(_contact(tenant.id, queue_id, caller))).outcome == "unusable", caller

    receiver.planned = [Reply(503, {"retry-after": "5"})]
    failing = _contact(tenant.id, queue_id, "+442071838751")
    failed = await _look_up(failing)
    assert (failed.outcome, failed.http_status) == ("failed", 503)
    requests = len(receiver.received)
    assert await _look_up(failing) == failed  # kept: a failing CRM is not asked again at once
    assert len(receiver.received) == requests
    async with get_database().session() as session:
        asked = await crm.lookup_request(session, failing)
    assert asked is not None
    ttl = await get_redis().ttl(crm.cache_key(asked[0], failing.caller))
    assert 0 < ttl <= crm.FAILURE_TTL_SECONDS


def test_what_the_desktop_takes_of_an_answer() -> None:
    many = {f"field {n:02d}": n for n in range(30)}
    shown = crm.read_answer(json.dumps({"fields": many, "url": "javascript:alert(1)", "title": 7}).encode())
    assert shown.outcome == "found" and shown.url == "" and shown.title == ""
    assert [label for label, _ in shown.fields] == [f"field {n:02d}" for n in range(crm.MAX_FIELDS)]
    assert crm.read_answer(b'{"title": "  Ada  "}').title == "Ada"
    assert crm.read_answer(b'"just text"').outcome == "unusable"
    assert crm.read_answer(b"{}").outcome == "empty"
    assert crm.read_answer(b'{"fields": {"long": "' + b"v" * 900 + b'"}}').fields == [("long", "v" * 500)]


@pytest.fixture
async def crm_desk(live_server: LiveServer, router_process: subprocess.Popen[bytes], receiver: Receiver) -> Any:
    tenant = await make_tenant("crm-desk")
    queue_id = await make_queue(tenant.id, "Card services")
    agent, colleague = await make_agent(tenant.id), await make_agent(tenant.id)
    await route(cmd.Reconfigure())
    agent_client = (await sign_in(live_server.url, agent.email)).client
    colleague_client = (await sign_in(live_server.url, colleague.email)).client
    yield tenant.id, queue_id, agent.id, agent_client, colleague_client
    await agent_client.aclose()
    await colleague_client.aclose()


async def test_an_offer_reaches_the_agent_while_the_crm_hangs(crm_desk: Any, receiver: Receiver) -> None:
    tenant_id, queue_id, agent_id, agent, colleague = crm_desk
    timeout_ms = 1000
    await _set_up(tenant_id, receiver.url, timeout_ms=timeout_ms)
    receiver.default = _json(RECORD, delay=30)  # the CRM takes the request and does not answer
    assert (await agent.post("/agent/presence", data={"state": "available"}, headers=HTMX)).status_code == 200

    contact = uuid.uuid4()
    await route(
        cmd.ContactArrive(
            contact_id=contact, tenant_id=tenant_id, queue_id=queue_id, caller=CALLER, context={"language": "en"}
        )
    )
    await offered(agent_id, contact)
    desk = await agent.get("/agent")
    assert f'hx-get="/agent/crm/{contact}"' in desk.text  # the offer shows at once; its CRM panel loads after

    # Someone else's contact is not looked up for them.
    assert (await colleague.get(f"/agent/crm/{contact}", headers=HTMX)).status_code == 404
    assert receiver.received == []

    started = time.monotonic()
    panel = asyncio.create_task(agent.get(f"/agent/crm/{contact}", headers=HTMX))

    async def asked() -> bool:
        return len(receiver.received) == 1

    await eventually(asked, what="the CRM asked")
    # While the CRM hangs, the agent takes the offer: the desktop and the router do not wait for it.
    accepted = await agent.post("/agent/offer", data={"answer": "accept", "contact_id": str(contact)}, headers=HTMX)
    assert accepted.status_code == 200 and f'id="contact-{contact}"' in accepted.text
    assert not panel.done()

    answered = await panel
    elapsed = time.monotonic() - started
    assert answered.status_code == 200
    assert "CRM did not answer in time." in answered.text
    assert elapsed < timeout_ms / 1000 + 1.5, elapsed
    # The failure is kept briefly: the contact card's panel answers at once, without asking again.
    started = time.monotonic()
    again = await agent.get(f"/agent/crm/{contact}", headers=HTMX)
    assert "CRM did not answer in time." in again.text and time.monotonic() - started < 0.5
    assert len(receiver.received) == 1


async def test_a_tenant_without_a_lookup_shows_no_crm_panel(crm_desk: Any, receiver: Receiver) -> None:
    tenant_id, queue_id, agent_id, agent, _ = crm_desk
    await agent.post("/agent/presence", data={"state": "available"}, headers=HTMX)
    contact = uuid.uuid4()
    await route(cmd.ContactArrive(contact_id=contact, tenant_id=tenant_id, queue_id=queue_id, caller=CALLER))
    await offered(agent_id, contact)
    desk = await agent.get("/agent")
    assert 'id="offer"' in desk.text and "/agent/crm/" not in desk.text
    panel = await agent.get(f"/agent/crm/{contact}", headers=HTMX)
    assert panel.status_code == 200 and "No CRM lookup for this contact." in panel.text
    assert receiver.received == []
