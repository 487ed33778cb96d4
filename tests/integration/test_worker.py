"""`tenline worker` for real: outbox relay, tenant erasure end to end, crashes, the scheduler lock."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import psycopg
import pytest
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker
from sqlmodel import SQLModel, col, select

from app.core import outbox
from app.core.broker import PRINCIPAL_OPTION, PeriodicJob, Tick, configure_broker, install_broker, middleware_stack
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.errors import ConflictError
from app.core.outbox import Event, OutboxEvent
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import acting_as, system_principal
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.routing.models import AgentAttribute, AgentSkill, PhoneNumber, Queue
from app.server.scheduler import LeaderLock, Scheduler
from app.telephony import schemas as telephony_schemas
from app.telephony import service as telephony
from app.telephony.models import EntryPoint
from tenants import service
from tenants.actors import clear_expired_rotation_secrets, erase_tenant
from tenants.models import AgentAssignment, ApiClient, AuditEntry, Tenant, TenantMembership
from tenants.permissions import KNOWN_SCOPES
from tenants.schemas import ApiClientCreate
from tests.conftest import LiveServer, Services, start_process, stop_process
from tests.factories import OPERATOR, make_agent, make_staff, make_tenant, make_tenant_user, provision_number, sign_in

WORKER_ENV = {
    "TENLINE_OUTBOX_RELAY_INTERVAL_SECONDS": "0.2",
    "TENLINE_WORKER_THREADS": "2",
    "TENLINE_WORKER_SHUTDOWN_TIMEOUT_SECONDS": "5",
    "TENLINE_JOB_MIN_BACKOFF_MS": "100",
}


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def broker(services: Services) -> Iterator[dramatiq.Broker]:
    """The test process's own Redis broker on the test Redis, its queues empty."""
    redis_broker = configure_broker(get_settings())
    redis_broker.flush_all()
    yield redis_broker
    redis_broker.flush_all()


@contextlib.contextmanager
def running_worker(services: Services, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_process(["worker"], {**services.env, **WORKER_ENV}, log)
    try:
        yield process
    finally:
        stop_process(process)


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, *, timeout: float = 30, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting until {what}" + (f"\nworker log:\n{log.read_text()}" if log else "")
            )
        await asyncio.sleep(0.2)


async def count(model: type[SQLModel], tenant_id: uuid.UUID, *where: Any) -> int:
    """Rows of a table as the tenant sees them (its context, so row-level security applies)."""
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            statement = select(sa.func.count()).select_from(model).where(*where)
            return (await session.exec(statement)).one()


async def pending_events(tenant_id: uuid.UUID, topic: str | None = None) -> int:
    pending = col(OutboxEvent.relayed_at).is_(None)
    if topic is None:
        return await count(OutboxEvent, tenant_id, pending)
    return await count(OutboxEvent, tenant_id, pending, col(OutboxEvent.topic) == topic)


async def erased_entries(tenant_id: uuid.UUID) -> list[AuditEntry]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            statement = select(AuditEntry).where(
                AuditEntry.tenant_id == tenant_id, AuditEntry.action == "tenant.erased"
            )
            return list((await session.exec(statement)).all())


async def tenant_row(tenant_id: uuid.UUID) -> Tenant:
    async with get_database().session() as session:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant


async def is_deleted(tenant_id: uuid.UUID) -> bool:
    return (await tenant_row(tenant_id)).status == "deleted"


async def request_deletion(tenant_id: uuid.UUID) -> None:
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            tenant = await service.get_tenant(session, tenant_id, OPERATOR)
            await service.change_tenant_status(session, tenant, "delete")


async def add_api_client(tenant_id: uuid.UUID, name: str) -> None:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            await service.create_api_client(session, ApiClientCreate(name=name, scopes=sorted(KNOWN_SCOPES)[:1]))


async def add_routing_config(tenant_id: uuid.UUID, agent_id: uuid.UUID) -> None:
    """Two queues (one overflowing to the other), an entry point and its phone number, the agent's skill and language."""
    provisioned = await provision_number(tenant_id)
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            main = await routing.create_queue(session, routing_schemas.QueueCreate(name="main"))
            await routing.create_queue(
                session,
                routing_schemas.QueueCreate(name="busy", overflow_queue_id=main.id, overflow_after_seconds=60),
            )
            entry_point = await telephony.create_entry_point(
                session, telephony_schemas.EntryPointCreate(name="main line", default_queue_id=main.id)
            )
            await routing.create_phone_number(
                session,
                routing_schemas.PhoneNumberCreate(number=provisioned.number, entry_point_id=entry_point.id),
            )
            await routing.set_agent_skill(
                session, routing_schemas.AgentSkillIn(agent_id=agent_id, skill="billing", proficiency=4)
            )
            await routing.set_agent_attribute(
                session, routing_schemas.AgentAttributeIn(agent_id=agent_id, kind="language", value="fr")
            )


def queued_event_ids(redis_broker: dramatiq.Broker) -> list[str]:
    """Event ids of the messages waiting in (or being worked off) the default queue, from Redis itself."""
    stored = redis_broker.client.hvals("dramatiq:default.msgs")  # type: ignore[attr-defined]
    return [json.loads(raw)["args"][0]["event_id"] for raw in stored]


def descendants(pid: int) -> set[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def populated_tenant(prefix: str) -> uuid.UUID:
    tenant = await make_tenant(prefix)
    await make_tenant_user(tenant.id, "tenant_admin")
    await add_api_client(tenant.id, "crm")
    return tenant.id


# --- end to end ----------------------------------------------------------------------------------


async def test_tenant_erasure_end_to_end_through_a_relay_crash_and_a_killed_worker(
    live_server: LiveServer,
    services: Services,
    broker: dramatiq.Broker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doomed = await populated_tenant("doomed")
    kept = await populated_tenant("kept")
    later = await populated_tenant("later")
    agent = await make_agent(doomed, kept)
    await add_routing_config(doomed, agent.id)
    await add_routing_config(kept, agent.id)
    admin = await make_staff("operator_admin")
    first_log, second_log = tmp_path / "worker.log", tmp_path / "worker-restarted.log"
    async with await sign_in(live_server.url, admin.email) as client:
        # 1. With no worker running, deleting a tenant leaves its erasure event pending in the outbox.
        response = await client.delete(f"/api/v1/tenants/{doomed}")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "deleting"
        assert await pending_events(doomed, service.TENANT_ERASURE_TOPIC) == 1
        with acting_as(system_principal(doomed)):
            async with get_database().session() as session:
                erasure = select(OutboxEvent.id).where(OutboxEvent.topic == service.TENANT_ERASURE_TOPIC)
                event_id = str((await session.exec(erasure)).one())

        # 2. A relay dies after enqueueing, before its commit: the message is in Redis and the row still pending.
        async def die_before_commit(*args: object) -> None:
            raise ConnectionError("relay died before commit")

        monkeypatch.setattr(outbox, "_mark_relayed", die_before_commit)
        with pytest.raises(ConnectionError):
            await outbox.relay_batch(limit=100_000)  # all pending, whatever other tests left
        monkeypatch.undo()
        assert await pending_events(doomed, service.TENANT_ERASURE_TOPIC) == 1
        assert event_id in queued_event_ids(broker)

        # 3. A worker starts: the queued message and the relay's resend may both arrive; the erasure happens once.
        with running_worker(services, first_log) as worker:
            await eventually(lambda: is_deleted(doomed), "the tenant is erased", log=first_log)
            await eventually(lambda: _true(not queued_event_ids(broker)), "the queue is drained", log=first_log)

            # 4. The worker is killed outright; the kernel stops its Dramatiq children too, so none works unsupervised.
            children = descendants(worker.pid)
            assert children, "the worker runs Dramatiq in child processes"
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            await request_deletion(later)
            await eventually(lambda: _true(not any(map(alive, children))), "the worker's children exit")
        # Nobody relays while the worker is down, and the event is not lost either.
        assert await pending_events(later, service.TENANT_ERASURE_TOPIC) == 1
        assert not await is_deleted(later)

        # 5. A new worker picks the event up.
        with running_worker(services, second_log):
            await eventually(lambda: is_deleted(later), "the restarted worker erases the tenant", log=second_log)

        assert (await client.get(f"/api/v1/tenants/{doomed}")).status_code == 404
        assert (await client.get(f"/api/v1/tenants/{kept}")).status_code == 200

    for model in (TenantMembership, AgentAssignment, ApiClient, OutboxEvent):
        assert await count(model, doomed) == 0, model.__name__
        assert await count(model, later) == 0, model.__name__
    routing_tables = {Queue: 2, EntryPoint: 1, PhoneNumber: 1, AgentSkill: 1, AgentAttribute: 1}
    for model, kept_rows in routing_tables.items():
        assert await count(model, doomed) == 0, model.__name__
        assert await count(model, kept) == kept_rows, model.__name__
    assert await count(TenantMembership, kept) == 1
    assert await count(AgentAssignment, kept, col(AgentAssignment.agent_id) == agent.id) == 1
    assert await count(ApiClient, kept) == 1

    tenant = await tenant_row(doomed)
    assert tenant.name == service.ERASED_TENANT_NAME
    assert tenant.slug.startswith("doomed-")
    assert tenant.status_changed_at is not None
    # Exactly once from the consumer's view, however many times the event was delivered.
    (erased,) = await erased_entries(doomed)
    assert erased.detail["event_id"] == event_id
    erased_rows = erased.detail["rows"]
    # Every tenant table is walked (those the tenant had nothing in report 0)...
    assert set(erased_rows) == {table.name for table in service.tenant_tables_children_first()}
    # ...and what the tenant had is gone, counted.
    assert {table: count for table, count in erased_rows.items() if count} == {
        "tenant_memberships": 1,
        "agent_assignments": 1,
        "api_clients": 1,
        # The erasure request and the router's notices of the agent's assignment, the two queues, the skill
        # and the attribute (relayed long before; erased with the rest).
        "outbox": 6,
        "queues": 2,
        "entry_points": 1,
        "phone_numbers": 1,
        "agent_skills": 1,
        "agent_attributes": 1,
    }
    assert len(await erased_entries(later)) == 1


async def _true(value: bool) -> bool:
    return value


# --- the erasure itself --------------------------------------------------------------------------


async def test_erasure_is_idempotent_and_refuses_a_tenant_not_being_deleted(services: Services) -> None:
    tenant_id = await populated_tenant("twice")
    event = Event(
        event_id=uuid.uuid4(),
        topic=service.TENANT_ERASURE_TOPIC,
        tenant_id=tenant_id,
        emitted_at=utcnow(),
        payload={"tenant_id": str(tenant_id)},
    )
    with acting_as(system_principal(tenant_id)), pytest.raises(ConflictError):
        await erase_tenant(event)
    assert await count(TenantMembership, tenant_id) == 1

    await request_deletion(tenant_id)
    with acting_as(system_principal(tenant_id)):
        await erase_tenant(event)
        await erase_tenant(event)
    assert await is_deleted(tenant_id)
    assert len(await erased_entries(tenant_id)) == 1
    assert await count(TenantMembership, tenant_id) == 0


# --- the relay -----------------------------------------------------------------------------------


async def emit_one(tenant_id: uuid.UUID, topic: str) -> None:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            await outbox.emit(session, topic, {})


async def test_the_relay_wakes_at_a_notify_long_before_its_next_poll(services: Services) -> None:
    tenant_id = (await make_tenant("notified")).id
    await emit_one(tenant_id, "test.before_start")

    async def listening() -> bool:
        with psycopg.connect(services.admin_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query = %s",
                (services.database, "LISTEN " + outbox.NOTIFY_CHANNEL),
            ).fetchone()
        return bool(row and row[0])

    stop = asyncio.Event()
    relay = asyncio.create_task(
        outbox.run_relay(stop, interval_seconds=600, batch_size=10, listen_url=services.app_url)
    )
    try:
        await eventually(lambda: _true_after(pending_events(tenant_id), 0), "the first round relays what was there")
        await eventually(listening, "the relay listens")
        # Nobody subscribes to these topics: the relay marks them relayed (with a warning) rather than keep them.
        await emit_one(tenant_id, "test.after_start")
        await eventually(lambda: _true_after(pending_events(tenant_id), 0), "the relay wakes at the NOTIFY", timeout=10)
    finally:
        stop.set()
        # Stopping does not wait for the next poll either.
        await asyncio.wait_for(relay, timeout=5)
    assert await count(OutboxEvent, tenant_id) == 2


async def _true_after(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


# --- periodic jobs -------------------------------------------------------------------------------


async def test_expired_previous_secrets_are_cleared_for_the_tenant_only(services: Services) -> None:
    tenants = [(await make_tenant("rotating")).id for _ in range(2)]
    now = utcnow()
    for tenant_id in tenants:
        with acting_as(OPERATOR.acting_for(tenant_id)):
            async with get_database().session() as session:
                for name, expires in (
                    ("ended", now - dt.timedelta(minutes=1)),
                    ("overlapping", now + dt.timedelta(hours=1)),
                ):
                    session.add(
                        ApiClient(
                            name=name,
                            client_id=f"{name}-{uuid.uuid4().hex}",
                            secret_hash="sha256$" + "1" * 64,
                            previous_secret_hash="sha256$" + "2" * 64,
                            previous_secret_expires_at=expires,
                        )
                    )

    with acting_as(system_principal(tenants[0])):
        await clear_expired_rotation_secrets(Tick(scheduled_at=now))

    def with_previous(name: str) -> Any:
        return (col(ApiClient.name) == name, col(ApiClient.previous_secret_hash).is_not(None))

    assert await count(ApiClient, tenants[0], *with_previous("ended")) == 0
    assert await count(ApiClient, tenants[0], *with_previous("overlapping")) == 1
    assert await count(ApiClient, tenants[1], *with_previous("ended")) == 1


async def test_relayed_events_past_retention_are_purged(services: Services) -> None:
    tenant_id = (await make_tenant("purge")).id
    now = utcnow()
    ages = {"old": now - dt.timedelta(days=30), "recent": now - dt.timedelta(hours=1), "pending": None}
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            for topic, relayed_at in ages.items():
                session.add(
                    OutboxEvent(topic=topic, payload={}, created_at=now - dt.timedelta(days=31), relayed_at=relayed_at)
                )

    with acting_as(system_principal(tenant_id)):
        await outbox.purge_relayed_events(Tick(scheduled_at=now))

    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            left = set((await session.exec(select(OutboxEvent.topic))).all())
    assert left == {"recent", "pending"}


async def test_a_per_tenant_job_is_sent_once_per_live_tenant_in_its_context(services: Services) -> None:
    stub = install_broker(StubBroker(middleware=middleware_stack(get_settings())))
    tenants = [uuid.uuid4(), uuid.uuid4()]

    async def live() -> list[uuid.UUID]:
        return tenants

    job = PeriodicJob(actor=clear_expired_rotation_secrets, every=dt.timedelta(minutes=1), cron=None, per_tenant=True)
    lock_name = f"tenline:test:scheduler:{uuid.uuid4().hex}"
    leader = Scheduler(get_redis(), lock_ttl_seconds=5, tenant_ids=live, jobs=[job], lock_name=lock_name)
    follower = Scheduler(get_redis(), lock_ttl_seconds=5, tenant_ids=live, jobs=[job], lock_name=lock_name)
    try:
        assert await leader.lock.refresh()
        assert not await follower.lock.refresh()
        assert await follower.fire(job) == 0
        assert await leader.fire(job) == 2
        queue = stub.queues["maintenance"]
        messages = [dramatiq.Message.decode(queue.get_nowait()) for _ in range(queue.qsize())]
        assert sorted(m.options[PRINCIPAL_OPTION]["tenant_id"] for m in messages) == sorted(map(str, tenants))
        assert {m.actor_name for m in messages} == {clear_expired_rotation_secrets.name}

        # Their ticks still wait: firing again sends nothing. One starts to run: its tenant gets the next tick.
        assert await leader.fire(job) == 0
        started = next(m for m in messages if m.options[PRINCIPAL_OPTION]["tenant_id"] == str(tenants[0]))
        with acting_as(system_principal(tenants[0])):
            await clear_expired_rotation_secrets.run(started.args[0])
        assert await leader.fire(job) == 1
        (again,) = [dramatiq.Message.decode(queue.get_nowait()) for _ in range(queue.qsize())]
        assert again.options[PRINCIPAL_OPTION]["tenant_id"] == str(tenants[0])
        # A mark outlives a lost tick only for a while (three firing intervals here, at least 30 s).
        assert 0 < await get_redis().ttl(again.args[0]["pending_key"]) <= 180
    finally:
        await leader.lock.release()
        configure_broker(get_settings())


# --- the scheduler lock --------------------------------------------------------------------------


async def test_only_one_of_two_schedulers_leads_and_the_other_takes_over(services: Services) -> None:
    redis = get_redis()
    lock_name = f"tenline:test:scheduler:{uuid.uuid4().hex}"

    async def no_tenants() -> list[uuid.UUID]:
        return []

    first = Scheduler(redis, lock_ttl_seconds=2, tenant_ids=no_tenants, jobs=[], lock_name=lock_name)
    second = Scheduler(redis, lock_ttl_seconds=2, tenant_ids=no_tenants, jobs=[], lock_name=lock_name)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    running_first = asyncio.create_task(first.run(stop_first))
    await eventually(lambda: _true(first.is_leader), "the first scheduler leads")
    running_second = asyncio.create_task(second.run(stop_second))
    await asyncio.sleep(3)  # past the lock's expiry: the leader keeps renewing it
    assert first.is_leader and not second.is_leader

    stop_first.set()
    await running_first
    await eventually(lambda: _true(second.is_leader), "the second scheduler takes over", timeout=3)
    stop_second.set()
    await running_second
    assert not await redis.exists(lock_name)


async def test_a_lock_holder_that_stops_renewing_loses_the_lock_at_expiry(services: Services) -> None:
    redis = get_redis()
    lock_name = f"tenline:test:scheduler:{uuid.uuid4().hex}"
    stalled, other = LeaderLock(redis, lock_name, 1), LeaderLock(redis, lock_name, 1)
    assert await stalled.refresh()
    assert not await other.refresh()
    await asyncio.sleep(1.2)
    assert await other.refresh()
    assert not await stalled.refresh()  # it finds out at its next renewal and stops acting as leader
    await other.release()
