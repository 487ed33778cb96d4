"""Scheduled callbacks end to end with the session's router (``tenline router``) and a real ``tenline worker``:
the due job queues each callback exactly once however many runs race, the outbox puts it in line as a callback
contact and sends the signed ``callback.due`` webhook, a cancel takes a queued one out of line through the router,
and the job records what became of the others."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from standardwebhooks import Webhook

from app.core import clock
from app.core.broker import Tick
from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.integrations import schemas as integrations_schemas
from app.integrations import service as integrations
from app.routing import commands as cmd
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.routing.callbacks import actors
from tests.conftest import LiveServer, Services, start_process, stop_process
from tests.factories import OPERATOR, make_agent, make_tenant, make_tenant_user, sign_in
from tests.integration.test_router import eventually
from tests.routed import contact_view, interaction_row, offered, route
from tests.webhook_receiver import Receiver

CALLBACKS = "/api/v1/callbacks"
WORKER_ENV = {"TENLINE_OUTBOX_RELAY_INTERVAL_SECONDS": "0.2", "TENLINE_WORKER_THREADS": "2"}


async def _rows(tenant_id: uuid.UUID, sql: str, **params: Any) -> list[Any]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return list((await session.execute(sa.text(sql), params)).all())


async def _run_due_job(tenant_id: uuid.UUID) -> None:
    with acting_as(system_principal(tenant_id)):
        await actors.queue_due_callbacks(Tick(scheduled_at=clock.utcnow()))


async def test_due_callbacks_are_queued_once_reach_an_agent_and_are_announced(
    services: Services,
    live_server: LiveServer,
    router_process: subprocess.Popen[bytes],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    tenant = await make_tenant("callbacks-routed")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            queue = await routing.create_queue(session, routing_schemas.QueueCreate(name="Call backs"))
            endpoint = await integrations.create_endpoint(
                session, integrations_schemas.EndpointCreate(url=receiver.url, event_types=["callback.due"])
            )
    agent = (await make_agent(tenant.id)).id
    await route(cmd.Reconfigure(), cmd.AgentPresence(agent_id=agent, state="available"))
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        due_at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)).isoformat()
        booked = []
        for n, phone in enumerate(("+442071838750", "+442071838751", "+442071838752")):
            body = {"queue_id": str(queue.id), "phone": phone, "due_at": due_at, "note": f"Call {n}"}
            response = await client.post(CALLBACKS, json=body)
            assert response.status_code == 201, response.text
            booked.append(response.json())
        ids = {c["id"] for c in booked}

        # 1. Two runs of the due job at once (a minute later on this process's clock): each callback once.
        _ahead(1)
        try:
            await asyncio.gather(_run_due_job(tenant.id), _run_due_job(tenant.id))
            await _run_due_job(tenant.id)  # and once more afterwards: nothing left to queue
        finally:
            clock.set_clock(None)
        events = await _rows(
            tenant.id, "SELECT payload FROM outbox WHERE topic = 'callback.due' ORDER BY payload->>'callback_id'"
        )
        assert sorted(e.payload["callback_id"] for e in events) == sorted(ids)
        rows = {
            str(r.id): r
            for r in await _rows(tenant.id, "SELECT id, status, interaction_id, version FROM scheduled_callbacks")
        }
        assert {r.status for r in rows.values()} == {"queued"} and {r.version for r in rows.values()} == {2}
        interaction_of = {callback_id: r.interaction_id for callback_id, r in rows.items()}
        assert len(set(interaction_of.values())) == 3
        assert {uuid.UUID(e.payload["interaction_id"]) for e in events} == set(interaction_of.values())

        # 2. The worker relays the events: the contacts join the line, the agent is offered the first.
        log = tmp_path / "worker.log"
        worker = start_process(["worker"], {**services.env, **WORKER_ENV}, log)
        try:
            contact_of = {interaction: callback_id for callback_id, interaction in interaction_of.items()}

            async def offer() -> uuid.UUID | None:
                for interaction in contact_of:
                    view = await contact_view(interaction)
                    if view is not None and view.state == "offered":
                        return interaction
                return None

            first = await eventually(offer, timeout=60, what="a callback offered to the agent")
            await offered(agent, first)
            view = await contact_view(first)
            assert view is not None
            callback = next(c for c in booked if c["id"] == contact_of[first])
            assert view.caller == callback["phone"]
            assert view.context == {"callback_id": callback["id"], "note": callback["note"]}
            arrived = await _rows(
                tenant.id,
                "SELECT data FROM interaction_events WHERE interaction_id = :id AND type = 'arrived'",
                id=first,
            )
            assert [a.data["callback"] for a in arrived] == [True]

            # 3. A callback waiting in line is cancelled: the router takes it out (not counted as abandoned).
            waiting = next(i for i in contact_of if i != first)

            async def in_line(interaction: uuid.UUID) -> bool:
                view = await contact_view(interaction)
                return view is not None and view.state == "waiting"

            await eventually(lambda: in_line(waiting), timeout=30, what="the second callback in line")
            response = await client.post(f"{CALLBACKS}/{contact_of[waiting]}/cancel")
            assert response.status_code == 200, response.text

            async def removed() -> bool:
                row = await interaction_row(waiting, tenant.id)
                return row is not None and row.state == "removed"

            await eventually(removed, timeout=30, what="the cancelled callback out of line")
            types = [
                r.type
                for r in await _rows(
                    tenant.id,
                    "SELECT type FROM interaction_events WHERE interaction_id = :id ORDER BY log_seq, position",
                    id=waiting,
                )
            ]
            assert types == ["arrived", "cancelled"]

            # 4. Taken by the agent: no longer cancellable; once ended, completed.
            await route(cmd.OfferAccept(agent_id=agent, contact_id=first))

            async def answered() -> bool:
                row = await interaction_row(first, tenant.id)
                return row is not None and row.answered_at is not None

            await eventually(answered, timeout=30, what="the callback answered")
            taken = await client.post(f"{CALLBACKS}/{contact_of[first]}/cancel")
            assert taken.status_code == 409, taken.text
            assert "an agent has taken the callback" in taken.json()["detail"]
            await route(cmd.ContactEnd(agent_id=agent, contact_id=first))

            async def completed() -> bool:
                await _run_due_job(tenant.id)
                shown = (await client.get(f"{CALLBACKS}/{contact_of[first]}")).json()
                return bool(shown["status"] == "completed")

            await eventually(completed, timeout=30, what="the callback completed")
            done = await client.post(f"{CALLBACKS}/{contact_of[first]}/cancel")
            assert done.status_code == 409 and "completed" in done.json()["detail"], done.text
            statuses = {c["id"]: c["status"] for c in (await client.get(CALLBACKS)).json()["items"]}
            third = next(i for i in contact_of if i not in (first, waiting))
            assert statuses == {
                contact_of[first]: "completed",
                contact_of[waiting]: "cancelled",
                contact_of[third]: "queued",
            }

            # 5. The receiver got callback.due once per callback, signed.
            async def announced() -> bool:
                return len(receiver.received) >= 3

            await eventually(announced, timeout=60, what="three callback.due webhooks")
        finally:
            stop_process(worker)
    assert router_process.poll() is None, "the router died"
    deliveries = []
    for headers, body in receiver.received:
        event = Webhook(endpoint.secret).verify(body, headers)
        assert event["type"] == "callback.due"
        deliveries.append((headers["webhook-id"], event["data"]))
    assert len({webhook_id for webhook_id, _ in deliveries}) == 3
    assert sorted(data["callback_id"] for _, data in deliveries) == sorted(ids)
    for _, data in deliveries:
        callback = next(c for c in booked if c["id"] == data["callback_id"])
        assert data["interaction_id"] == str(interaction_of[callback["id"]])
        assert (data["phone"], data["note"], data["queue_id"]) == (callback["phone"], callback["note"], str(queue.id))


def _ahead(minutes: float) -> None:
    """This process's clock ``minutes`` ahead of the wall clock (the due job reads it)."""
    clock.set_clock(lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes))


async def test_callbacks_that_cannot_reach_an_agent_fail(live_server: LiveServer) -> None:
    """One's queue closed before its time; the other's contact never reached the router (refused, or the command
    was lost: no worker runs here, so nothing relays it), and the job gives up on it after a while."""
    tenant = await make_tenant("callbacks-lost")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            kept = await routing.create_queue(session, routing_schemas.QueueCreate(name="Kept"))
            closing = await routing.create_queue(session, routing_schemas.QueueCreate(name="Closing"))
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        due_at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).isoformat()
        ids = []
        for queue in (kept, closing):
            body = {"queue_id": str(queue.id), "phone": "+442071838750", "due_at": due_at}
            response = await client.post(CALLBACKS, json=body)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        lost, closed = ids
        response = await client.patch(f"/api/v1/queues/{closing.id}", json={"is_active": False})
        assert response.status_code == 200, response.text

        async def shown(callback_id: str) -> tuple[str, str]:
            body = (await client.get(f"{CALLBACKS}/{callback_id}")).json()
            return body["status"], body["failure_reason"]

        try:
            _ahead(1)
            await _run_due_job(tenant.id)
            assert await shown(closed) == ("failed", "its queue was inactive at the due time")
            assert await shown(lost) == ("queued", "")
            _ahead(9)
            await _run_due_job(tenant.id)
            assert await shown(lost) == ("queued", "")  # the router may still be catching up
            _ahead(12)
            await _run_due_job(tenant.id)
        finally:
            clock.set_clock(None)
        assert await shown(lost) == ("failed", "the contact never reached the router")
        for callback_id in ids:
            cancel = await client.post(f"{CALLBACKS}/{callback_id}/cancel")
            assert cancel.status_code == 409 and "failed" in cancel.json()["detail"], cancel.text
