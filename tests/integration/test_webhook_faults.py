"""Webhooks through faults: the worker is killed outright while deliveries are pending and the receiver is down
for a while; after recovery every event has been delivered, none lost, and a repeat carries its first webhook-id.

Real processes throughout: `tenline worker` (relay, scheduler, Dramatiq), killed with SIGKILL together with its
Dramatiq processes, a receiver that is a closed port, then slow, then closed again, then answering 503 before
204. The delivery messages the killed worker held are dropped from Redis rather than handed back by Dramatiq a
minute later, so only the overdue sweep can bring those deliveries back. The retry waits and the sweep are
short in the workers' environment only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import dramatiq
import pytest
import sqlalchemy as sa
from sqlmodel import col, select
from standardwebhooks import Webhook

from app.core.broker import get_broker
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.outbox import emit
from app.core.tenancy import acting_as, system_principal
from app.integrations import schemas, service
from app.integrations.actors import deliver
from app.integrations.models import WebhookDelivery
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.routing.models import Interaction, InteractionEvent
from tests.conftest import Services, free_port, start_process, stop_process
from tests.factories import make_tenant

# ``broker``: the session's Redis broker, its queues emptied before and after (a killed worker leaves messages).
from tests.integration.test_worker import WORKER_ENV, alive, broker, descendants, eventually  # noqa: F401
from tests.webhook_receiver import Reply, running_receiver

OUTBOX_EVENTS = 200
INTERACTIONS = 20  # each offered and ended: 40 interaction events
OUTBOX_TOPICS = ("sla.at_risk", "sla.breached")
INTERACTION_TYPES = ("offered", "ended")
# Short waits so the test takes a minute, not a day; enough retries to outlast the outages.
FAULT_ENV = {
    **WORKER_ENV,
    "TENLINE_WEBHOOK_RETRY_DELAYS_SECONDS": "1,2,2,3,3,3,3,3,3,3,3,3",
    "TENLINE_WEBHOOK_OVERDUE_AFTER_SECONDS": "2",
    "TENLINE_WEBHOOK_OVERDUE_SWEEP_SECONDS": "1",
    # The killed worker's scheduler lock expires soon, so the new worker's scheduler (the sweep) takes over.
    "TENLINE_SCHEDULER_LOCK_TTL_SECONDS": "3",
}

# An event as the receiver sees it, without its webhook-id: (type, what makes it unique in its data).
Identity = tuple[str, str]


@contextlib.contextmanager
def worker_process(services: Services, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_process(["worker"], {**services.env, **FAULT_ENV}, log)
    try:
        yield process
    finally:
        if process.poll() is None:
            stop_process(process)


async def kill_outright(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the worker and its Dramatiq processes at once: nothing finishes, nothing is handed back."""
    children = descendants(worker.pid)
    assert children, "the worker runs Dramatiq in child processes"
    for pid in (*children, worker.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait()

    async def all_gone() -> bool:
        return not any(map(alive, children))

    await eventually(all_gone, "the killed worker's processes are gone")


def drop_held_deliveries(redis_broker: dramatiq.Broker) -> int:
    """Drops from Redis the delivery messages the killed worker held (fetched, waiting out a delay, or running).

    Dramatiq hands a dead worker's messages back a minute after its last heartbeat; dropped, they are lost like
    a message whose sender died between its commit and the send, and only the overdue sweep can find them.
    """
    client = redis_broker.client  # type: ignore[attr-defined]
    dropped = 0
    for key in client.scan_iter("dramatiq:__acks__.*"):  # dramatiq:__acks__.<worker id>.<queue>
        messages = f"dramatiq:{key.decode().split('.', 2)[2]}.msgs"
        for message_id in client.smembers(key):
            raw = client.hget(messages, message_id)
            if raw is not None and json.loads(raw)["actor_name"] == deliver.name:
                client.srem(key, message_id)
                client.hdel(messages, message_id)
                dropped += 1
    return dropped


async def emit_outbox_events(tenant_id: uuid.UUID, first: int, count: int) -> dict[uuid.UUID, Identity]:
    """Domain events in the outbox, in one transaction; the relay hands them to the webhook subscriber."""
    made: dict[uuid.UUID, Identity] = {}
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            for sequence in range(first, first + count):
                topic = OUTBOX_TOPICS[sequence % len(OUTBOX_TOPICS)]
                event_id = await emit(session, topic, {"sequence": sequence})
                made[event_id] = (topic, str(sequence))
    return made


async def record_interactions(tenant_id: uuid.UUID) -> dict[uuid.UUID, Identity]:
    """Interactions and their events as the router records them; the periodic collector makes deliveries."""
    made: dict[uuid.UUID, Identity] = {}
    now = utcnow()
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            queue = await routing.create_queue(session, routing_schemas.QueueCreate(name="faults"))
            for n in range(INTERACTIONS):
                interaction = Interaction(queue_id=queue.id, state="ended", arrived_at=now, ended_at=now)
                session.add(interaction)
                await session.flush()
                for position, kind in enumerate(INTERACTION_TYPES):
                    event = InteractionEvent(
                        interaction_id=interaction.id,
                        log_seq=n + 1,
                        position=position,
                        type=kind,
                        at=now,
                        queue_id=queue.id,
                    )
                    session.add(event)
                    made[event.id] = (f"interaction.{kind}", str(interaction.id))
    return made


async def deliveries(tenant_id: uuid.UUID) -> list[WebhookDelivery]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return list((await session.exec(select(WebhookDelivery))).all())


class Tally(NamedTuple):
    deliveries: int
    tried: int  # at least once
    succeeded: int
    failed_since: int  # pending, last tried (and failed) after the given time


async def tally(tenant_id: uuid.UUID, since: dt.datetime | None = None) -> Tally:
    """The tenant's deliveries counted in one query (cheap to poll)."""
    attempted_since = col(WebhookDelivery.last_attempt_at) > (since or utcnow())
    statement = select(
        sa.func.count(),
        sa.func.count().filter(col(WebhookDelivery.attempts) >= 1),
        sa.func.count().filter(col(WebhookDelivery.status) == "succeeded"),
        sa.func.count().filter(col(WebhookDelivery.status) == "pending", attempted_since),
    )
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return Tally(*(await session.exec(statement.select_from(WebhookDelivery))).one())


def identity(event: dict[str, Any]) -> Identity:
    data = event["data"]
    return (event["type"], str(data["sequence"]) if "sequence" in data else data["interaction_id"])


@pytest.mark.usefixtures("broker")
async def test_every_event_is_delivered_through_a_killed_worker_and_a_receiver_outage(
    services: Services, tmp_path: Path
) -> None:
    tenant_id = (await make_tenant("hooks-faults")).id
    port = free_port()  # the receiver's; nothing listens there yet
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            endpoint = await service.create_endpoint(
                session,
                schemas.EndpointCreate(
                    url=f"http://127.0.0.1:{port}/hooks",
                    event_types=[*OUTBOX_TOPICS, *(f"interaction.{kind}" for kind in INTERACTION_TYPES)],  # type: ignore[list-item]
                ),
            )
    expected: dict[uuid.UUID, Identity] = {}
    logs = [tmp_path / "worker-killed.log", tmp_path / "worker-new.log"]
    arrivals: list[tuple[dict[str, str], bytes]] = []

    async def all_made_and_tried() -> bool:
        made = await tally(tenant_id)
        return made.deliveries == made.tried == len(expected)

    async def succeeded() -> int:
        return (await tally(tenant_id)).succeeded

    with worker_process(services, logs[0]) as first:
        # 1. Events arrive while the receiver is down (a closed port): every delivery is made and fails.
        for first_sequence in range(0, OUTBOX_EVENTS, 50):
            expected |= await emit_outbox_events(tenant_id, first_sequence, 50)
        expected |= await record_interactions(tenant_id)
        await eventually(all_made_and_tried, "every event has a delivery that was tried", timeout=120, log=logs[0])

        # 2. The receiver is back, slow; the worker is killed outright mid-way (a request may be in flight).
        with running_receiver(port) as slow:
            slow.default = Reply(delay=0.03)

            async def some_succeeded() -> bool:
                return await succeeded() >= 40

            await eventually(some_succeeded, "deliveries succeed", timeout=90, log=logs[0])
            await kill_outright(first)
            killed_at = utcnow()
            assert drop_held_deliveries(get_broker()) > 0, "the killed worker held delivery messages"
        arrivals += slow.received
        succeeded_before_kill = await succeeded()
        assert 40 <= succeeded_before_kill < len(expected), "the worker is killed with deliveries pending"

    # 3. A new worker while the receiver is down again: its attempts fail.
    with worker_process(services, logs[1]):

        async def tried_again() -> bool:
            return (await tally(tenant_id, killed_at)).failed_since > 0

        await eventually(tried_again, "the new worker tries and fails", timeout=60, log=logs[1])

        # 4. The receiver recovers: a few 503s asking to retry later, then 204s.
        with running_receiver(port) as recovered:
            recovered.planned = [Reply(status=503, headers={"Retry-After": "1"})] * 5

            async def all_succeeded() -> bool:
                return await succeeded() == len(expected)

            await eventually(all_succeeded, "every delivery succeeds", timeout=120, log=logs[1])
        arrivals += recovered.received

    # Every arrival is signed by the endpoint's secret (the official library verifies it) and is one of ours.
    ids_by_event: dict[Identity, set[str]] = defaultdict(set)
    verifier = Webhook(endpoint.secret)
    for headers, body in arrivals:
        event = verifier.verify(body, headers)
        webhook_id = headers["webhook-id"]
        assert identity(event) == expected[uuid.UUID(webhook_id)], webhook_id
        ids_by_event[identity(event)].add(webhook_id)
    # Every event arrived; a repeat (a retry, or a request the killed worker never recorded) has its first id.
    assert set(ids_by_event) == set(expected.values())
    assert all(len(ids) == 1 for ids in ids_by_event.values())
    assert len(arrivals) >= len(expected) + 5  # at least the five answered 503, each repeated under its id

    # The delivery log: one delivery per event, each succeeded with the receiver's answer.
    logged = await deliveries(tenant_id)
    assert sorted(row.event_id for row in logged) == sorted(expected)
    assert {(row.status, row.response_status) for row in logged} == {("succeeded", 204)}
    assert all(row.request_headers["webhook-id"] == str(row.event_id) for row in logged)
