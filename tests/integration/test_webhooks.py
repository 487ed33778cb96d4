"""Outgoing webhooks: registered over the API behind the SSRF guard, delivered to a real HTTP receiver in this
process and verified with the official ``standardwebhooks`` library; retries keep the webhook-id, Retry-After
is honoured, rotated secrets overlap, deliveries are replayed, and another tenant sees none of it."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.integrations import schemas, service
from app.integrations.models import WebhookDelivery
from tests.conftest import LiveServer
from tests.factories import make_tenant, make_tenant_user, sign_in
from tests.webhook_receiver import Receiver


async def _admin(live_server: LiveServer, slug: str) -> tuple[uuid.UUID, Any]:
    tenant = await make_tenant(slug)
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    return tenant.id, await sign_in(live_server.url, admin.email)


async def _register(client: Any, url: str, event_types: list[str]) -> dict[str, Any]:
    response = await client.post("/api/v1/webhook-endpoints", json={"url": url, "event_types": event_types})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["secret"].startswith("whsec_")
    return body


async def _deliver_event(tenant_id: uuid.UUID, event_type: str, data: dict[str, Any]) -> list[uuid.UUID]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return await service.create_deliveries(session, uuid.uuid4(), event_type, utcnow(), data)


async def _attempt(tenant_id: uuid.UUID, delivery_id: uuid.UUID, *, make_due: bool = False) -> dt.datetime | None:
    """One attempt; ``make_due`` first brings a rescheduled delivery's time forward (the wait has passed)."""
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            if make_due:
                await session.execute(
                    sa.update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(next_attempt_at=utcnow())  # type: ignore[arg-type]
                )
            return await service.attempt(session, delivery_id)


async def test_registration_refuses_private_and_metadata_addresses(live_server: LiveServer) -> None:
    _, signed_in = await _admin(live_server, "hooks-ssrf")
    async with signed_in as client:
        for url in ("http://169.254.169.254/latest/meta-data", "http://10.1.2.3/hook", "http://[::1]:8080/hook"):
            response = await client.post(
                "/api/v1/webhook-endpoints", json={"url": url, "event_types": ["sla.breached"]}
            )
            assert response.status_code == 422, (url, response.text)
            assert "may not reach" in response.text
        # A host no resolver can take (found by schemathesis): a field error, not a 500.
        refused = await client.post(
            "/api/v1/webhook-endpoints", json={"url": "http://\u0091gA\u009b/", "event_types": ["sla.breached"]}
        )
        assert refused.status_code == 422 and "is not a host name" in refused.text, refused.text
        unbalanced = await client.post(
            "/api/v1/webhook-endpoints", json={"url": "http://h]x/", "event_types": ["sla.breached"]}
        )
        assert unbalanced.status_code == 422 and "not well formed" in unbalanced.text, unbalanced.text
    assert service.refused_address(ipaddress.ip_address("224.0.0.1"))


async def test_a_delivery_is_signed_retried_with_the_same_id_and_logged(
    live_server: LiveServer, receiver: Receiver
) -> None:
    tenant_id, signed_in = await _admin(live_server, "hooks-retry")
    async with signed_in as client:
        endpoint = await _register(client, receiver.url, ["sla.breached"])
        (delivery_id,) = await _deliver_event(tenant_id, "sla.breached", {"target": "service_level"})
        assert await _deliver_event(tenant_id, "sla.at_risk", {}) == []  # not subscribed

        receiver.planned = [(500, {}), (429, {"Retry-After": "120"})]
        before = utcnow()
        first_retry = await _attempt(tenant_id, delivery_id)
        assert first_retry is not None and first_retry >= before + service.retry_delays()[0]
        second_retry = await _attempt(tenant_id, delivery_id, make_due=True)
        assert second_retry is not None and second_retry >= utcnow() + dt.timedelta(seconds=119)
        assert await _attempt(tenant_id, delivery_id) is None  # not due yet: nothing sent
        assert await _attempt(tenant_id, delivery_id, make_due=True) is None

        assert len(receiver.received) == 3
        ids = {headers["webhook-id"] for headers, _ in receiver.received}
        assert len(ids) == 1
        for headers, body in receiver.received:
            verified = Webhook(endpoint["secret"]).verify(body, headers)
            assert verified["type"] == "sla.breached" and verified["data"] == {"target": "service_level"}

        log = (await client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries")).json()["items"]
        assert [(d["status"], d["attempts"], d["response_status"]) for d in log] == [("succeeded", 3, 204)]
        assert log[0]["request_headers"]["webhook-id"] == str(log[0]["event_id"])


async def test_a_rotated_secret_overlaps_and_a_replay_resends_the_same_id(
    live_server: LiveServer, receiver: Receiver
) -> None:
    tenant_id, signed_in = await _admin(live_server, "hooks-rotate")
    async with signed_in as client:
        endpoint = await _register(client, receiver.url, ["report.delivered"])
        rotated = await client.post(
            f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", json={"overlap_seconds": 3600}
        )
        assert rotated.status_code == 201, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret != endpoint["secret"]

        (delivery_id,) = await _deliver_event(tenant_id, "report.delivered", {"schedule": "daily"})
        assert await _attempt(tenant_id, delivery_id) is None
        headers, body = receiver.received[-1]
        assert len(headers["webhook-signature"].split(" ")) == 2
        for secret in (endpoint["secret"], new_secret):
            Webhook(secret).verify(body, headers)

        path = f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery_id}/replay"
        replayed = await client.post(path)
        assert replayed.status_code == 202, replayed.text
        assert replayed.json()["status"] == "pending"
        assert await _attempt(tenant_id, delivery_id) is None
        assert receiver.received[-1][0]["webhook-id"] == headers["webhook-id"]

        # Without overlap the old secret no longer verifies.
        await client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", json={"overlap_seconds": 0})
        (second,) = await _deliver_event(tenant_id, "report.delivered", {})
        await _attempt(tenant_id, second)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret).verify(receiver.received[-1][1], receiver.received[-1][0])


async def test_sustained_failure_disables_the_endpoint_and_tells_the_tenant(
    live_server: LiveServer, receiver: Receiver
) -> None:
    tenant_id, signed_in = await _admin(live_server, "hooks-disable")
    async with signed_in as client:
        endpoint = await _register(client, receiver.url, ["sla.at_risk"])
        (delivery_id,) = await _deliver_event(tenant_id, "sla.at_risk", {})
        with acting_as(system_principal(tenant_id)):
            async with get_database().session() as session:
                # The delivery is on its last attempt and the endpoint has failed for a day.
                await session.execute(
                    sa.text("UPDATE webhook_deliveries SET attempts = :attempts WHERE id = :id"),
                    {"attempts": service.max_attempts() - 1, "id": delivery_id},
                )
                await session.execute(
                    sa.text("UPDATE webhook_endpoints SET failing_since = now() - interval '25 hours' WHERE id = :id"),
                    {"id": uuid.UUID(endpoint["id"])},
                )
        receiver.planned = [(503, {})]
        assert await _attempt(tenant_id, delivery_id) is None

        shown = (await client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}")).json()
        assert shown["enabled"] is False and shown["disabled_reason"] == "sustained_failure"
        audit = (await client.get("/api/v1/audit-log")).json()["items"]
        assert any(entry["action"] == "webhook_endpoint.disabled" for entry in audit)
        assert await _deliver_event(tenant_id, "sla.at_risk", {}) == []  # no new deliveries while disabled


async def test_another_tenant_cannot_see_or_replay_the_endpoints_deliveries(
    live_server: LiveServer, receiver: Receiver
) -> None:
    tenant_a, signed_in_a = await _admin(live_server, "hooks-a")
    _, signed_in_b = await _admin(live_server, "hooks-b")
    async with signed_in_a as client_a, signed_in_b as client_b:
        endpoint = await _register(client_a, receiver.url, ["sla.breached"])
        (delivery_id,) = await _deliver_event(tenant_a, "sla.breached", {})
        base = f"/api/v1/webhook-endpoints/{endpoint['id']}"
        assert (await client_b.get("/api/v1/webhook-endpoints")).json()["items"] == []
        for response in (
            await client_b.get(base),
            await client_b.get(f"{base}/deliveries"),
            await client_b.get(f"{base}/deliveries/{delivery_id}"),
            await client_b.post(f"{base}/deliveries/{delivery_id}/replay"),
            await client_b.post(f"{base}/rotate-secret", json={}),
        ):
            assert response.status_code == 404, response.text
        assert (await client_a.get(f"{base}/deliveries/{delivery_id}")).status_code == 200


async def test_interaction_events_become_deliveries_exactly_once(receiver: Receiver) -> None:
    from app.routing import commands as cmd
    from tests.integration.test_router import contact_in, make_setup, offer_for, pool_name, running_router, submit

    setup = await make_setup(1)
    agent = setup.agents[0]
    with acting_as(system_principal(setup.tenant_id)):
        async with get_database().session() as session:
            endpoint = await service.create_endpoint(
                session,
                schemas.EndpointCreate(
                    url=receiver.url, event_types=["interaction.answered", "interaction.ended", "interaction.abandoned"]
                ),
            )
    pool = pool_name()
    answered, abandoned = uuid.uuid4(), uuid.uuid4()
    async with running_router(pool):
        await submit(pool, cmd.Reconfigure())
        await submit(pool, cmd.AgentPresence(agent_id=agent, state="available"))
        await submit(pool, cmd.ContactArrive(contact_id=answered, tenant_id=setup.tenant_id, queue_id=setup.queue_id))
        await offer_for(pool, agent)
        await submit(pool, cmd.OfferAccept(agent_id=agent, contact_id=answered))
        await submit(pool, cmd.ContactArrive(contact_id=abandoned, tenant_id=setup.tenant_id, queue_id=setup.queue_id))
        await submit(pool, cmd.ContactAbandon(contact_id=abandoned))
        await submit(pool, cmd.ContactEnd(agent_id=agent, contact_id=answered))
        await contact_in(pool, answered, "ended")
        await contact_in(pool, abandoned, "abandoned")

    async def collect() -> list[uuid.UUID]:
        with acting_as(system_principal(setup.tenant_id)):
            async with get_database().session() as session:
                return await service.collect_interaction_events(session)

    # Runs at once, and again later: each event becomes one delivery (offered is not subscribed).
    runs = await asyncio.gather(collect(), collect(), collect())
    deliveries = [delivery for run in runs for delivery in run]
    assert len(deliveries) == 3
    assert await collect() == []
    for delivery_id in deliveries:
        await _attempt(setup.tenant_id, delivery_id)
    kinds = []
    for headers, body in receiver.received:
        event = Webhook(endpoint.secret).verify(body, headers)
        kinds.append((event["type"], event["data"]["interaction_id"]))
    assert sorted(kinds) == sorted(
        [
            ("interaction.answered", str(answered)),
            ("interaction.ended", str(answered)),
            ("interaction.abandoned", str(abandoned)),
        ]
    )


async def test_a_delivery_goes_to_the_address_that_was_checked_not_a_rebound_one(
    live_server: LiveServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the host answers an allowed address to the check, then a metadata address. The request
    must go to the checked address (with the real Host header), never to a second lookup's answer."""
    tenant_id, signed_in = await _admin(live_server, "hooks-rebind")
    port = receiver.server.server_address[1]
    async with signed_in as client:
        endpoint = await _register(client, receiver.url, ["sla.breached"])
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            row = await service.get_endpoint(session, uuid.UUID(endpoint["id"]))
            row.url = f"http://rebind.test:{port}/hooks"
            await session.commit()
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        answer = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    (delivery_id,) = await _deliver_event(tenant_id, "sla.breached", {})
    assert await _attempt(tenant_id, delivery_id) is None
    assert lookups == ["rebind.test"]
    ((headers, body),) = receiver.received
    assert headers["host"] == f"rebind.test:{port}"
    assert Webhook(endpoint["secret"]).verify(body, headers)["type"] == "sla.breached"


async def test_endpoint_changes_are_conditional_on_the_version(live_server: LiveServer, receiver: Receiver) -> None:
    _, signed_in = await _admin(live_server, "hooks-etag")
    async with signed_in as client:
        endpoint = await _register(client, receiver.url, ["sla.breached"])
        path = f"/api/v1/webhook-endpoints/{endpoint['id']}"
        assert (await client.get(path)).headers["etag"] == '"1"'

        changed = await client.patch(path, json={"description": "CRM"}, headers={"If-Match": '"1"'})
        assert changed.status_code == 200 and changed.headers["etag"] == '"2"'
        stale = await client.patch(path, json={"description": "lost update"}, headers={"If-Match": '"1"'})
        assert stale.status_code == 412 and stale.headers["content-type"].startswith("application/problem+json")

        rotated = await client.post(f"{path}/rotate-secret", json={"overlap_seconds": 0}, headers={"If-Match": '"2"'})
        assert rotated.status_code == 201 and rotated.headers["etag"] == '"3"'
        assert rotated.json()["secret"] != endpoint["secret"]

        assert (await client.delete(path, headers={"If-Match": '"2"'})).status_code == 412
        assert (await client.get(path)).json()["description"] == "CRM"
        assert (await client.delete(path, headers={"If-Match": '"3"'})).status_code == 204
        assert (await client.get(path)).status_code == 404
