"""Transactional outbox: a domain event is a row written in the same transaction as the change.

The relay (run by ``tenline worker``) claims unrelayed rows under the narrow ``tenline_outbox_relay`` role,
sends each to the actors subscribed to its topic and marks it relayed in the same transaction, so an event
committed is sent at least once even if a process dies between commit and send: a failure before the
commit rolls the claim back and the rows are sent again. Consumers are therefore idempotent on event id.

Domains subscribe an actor taking an ``Event`` to a topic from their actors.py::

    @subscribe("tenant.erasure_requested")
    @actor()
    async def erase_tenant(event: Event) -> None:
        request = event.decode(ErasureRequested)

Each subscriber gets its own message, in the context of the event's tenant. An event nobody subscribes to
is logged and marked relayed, not retried forever. Relayed rows are purged after a retention period.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import msgspec
import psycopg
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.broker import JobActor, Tick, actor, periodic
from app.core.clock import utcnow
from app.core.db import OUTBOX_RELAY_ROLE, get_database, system_session
from app.core.models import TenantScoped
from app.core.settings import get_settings
from app.core.structs import Job
from app.core.tenancy import acting_as, require_tenant_id, system_principal

T = TypeVar("T")

# emit() notifies this channel; the relay listens so it wakes at once instead of at its next poll.
NOTIFY_CHANNEL = "tenline_outbox"

log = structlog.get_logger("tenline.outbox")


class OutboxEvent(TenantScoped, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index(
            "ix_outbox_pending",
            "created_at",
            postgresql_where=sa.text("relayed_at IS NULL"),
        ),
    )

    topic: str = Field(max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    relayed_at: dt.datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


async def emit(session: AsyncSession, topic: str, payload: dict[str, Any]) -> uuid.UUID:
    """Record an event for the current tenant in the caller's transaction."""
    event = OutboxEvent(topic=topic, payload=payload)
    session.add(event)
    await session.flush()
    # Delivered at commit, and not at all on rollback; several in one transaction fold into one.
    await (await session.connection()).execute(sa.text("NOTIFY " + NOTIFY_CHANNEL))
    return event.id


# --- subscriptions -------------------------------------------------------------------------------


class Event(Job, frozen=True):
    """The message a subscriber gets: ``event_id`` is stable across redeliveries, for idempotency."""

    event_id: uuid.UUID
    topic: str
    tenant_id: uuid.UUID
    emitted_at: dt.datetime
    payload: dict[str, Any]

    def decode(self, payload_type: type[T]) -> T:
        return msgspec.convert(self.payload, payload_type)


_subscribers: dict[str, list[JobActor[Event]]] = {}


def subscribe(topic: str) -> Callable[[JobActor[Event]], JobActor[Event]]:
    """Send every event of ``topic`` to this actor (it takes an ``Event`` and needs a tenant)."""

    def register(job_actor: JobActor[Event]) -> JobActor[Event]:
        if job_actor.job_type is not Event:
            raise TypeError(f"{job_actor.name} must take an app.core.outbox.Event to subscribe to {topic!r}")
        if not job_actor.tenant_required:
            raise ValueError(f"{job_actor.name}: events belong to a tenant, so their actors need one")
        targets = _subscribers.setdefault(topic, [])
        if job_actor not in targets:
            targets.append(job_actor)
        return job_actor

    return register


def subscribers(topic: str) -> tuple[JobActor[Event], ...]:
    return tuple(_subscribers.get(topic, ()))


# --- the relay -----------------------------------------------------------------------------------


class _Claimed(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID | None
    id: uuid.UUID
    topic: str
    payload: dict[str, Any]
    created_at: dt.datetime


def _outbox() -> sa.Table:
    return cast(sa.Table, OutboxEvent.__table__)  # type: ignore[attr-defined]


async def _claim(session: AsyncSession, limit: int) -> list[_Claimed]:
    result = await session.exec(
        select(OutboxEvent)
        .where(col(OutboxEvent.relayed_at).is_(None))
        .order_by(col(OutboxEvent.created_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # Plain values: the rows are read from another thread while this session stays in the event loop.
    return [
        _Claimed(tenant_id=row.tenant_id, id=row.id, topic=row.topic, payload=row.payload, created_at=row.created_at)
        for row in result
    ]


def _send_all(events: Sequence[_Claimed]) -> None:
    """Enqueue each event to its subscribers, each in its tenant's context. Raises on a broker failure."""
    for event in events:
        targets = subscribers(event.topic)
        if not targets:
            log.warning("outbox.unrouted", topic=event.topic, event_id=str(event.id), tenant_id=str(event.tenant_id))
            continue
        if event.tenant_id is None:  # the column is NOT NULL; this only narrows the type
            raise ValueError(f"outbox row {event.id} has no tenant")
        message = Event(
            event_id=event.id,
            topic=event.topic,
            tenant_id=event.tenant_id,
            emitted_at=event.created_at,
            payload=event.payload,
        )
        with acting_as(system_principal(event.tenant_id)):
            for target in targets:
                target.send(message)


async def _mark_relayed(session: AsyncSession, events: Sequence[_Claimed]) -> None:
    table = _outbox()
    keys = [(event.tenant_id, event.id) for event in events]  # the primary key, so its index serves the update
    await session.exec(
        sa.update(table).where(sa.tuple_(table.c.tenant_id, table.c.id).in_(keys)).values(relayed_at=utcnow())
    )


async def relay_batch(limit: int = 100) -> int:
    """Relay up to ``limit`` pending events, oldest first; returns how many rows were claimed.

    One transaction under the relay role: claim (SKIP LOCKED, so several relays share the work), enqueue,
    mark relayed, commit. If enqueueing fails the transaction rolls back and the rows stay pending.
    """
    async with system_session(OUTBOX_RELAY_ROLE) as session:
        claimed = await _claim(session, limit)
        if not claimed:
            return 0
        # The broker's client blocks; a thread keeps this process's event loop (scheduler, lock) responsive.
        await asyncio.to_thread(_send_all, claimed)
        await _mark_relayed(session, claimed)
    return len(claimed)


async def run_relay(
    stop: asyncio.Event,
    *,
    interval_seconds: float,
    batch_size: int,
    listen_url: str | None = None,
) -> None:
    """Relay until ``stop`` is set: at every NOTIFY from emit() when ``listen_url`` is given, else every interval."""
    wake = asyncio.Event()
    helpers = [asyncio.create_task(_set_when(stop, wake))]
    if listen_url:
        helpers.append(asyncio.create_task(_listen(listen_url, wake)))
    try:
        while not stop.is_set():
            wake.clear()
            try:
                while await relay_batch(batch_size) == batch_size and not stop.is_set():
                    pass
            except Exception:  # the rows stay pending and the next round tries again
                log.exception("outbox.relay_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval_seconds)
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)


async def _set_when(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def _listen(url: str, wake: asyncio.Event) -> None:
    """Sets ``wake`` at every notification; reconnects after a failure (polling covers the gap)."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(_libpq_url(url), autocommit=True) as conn:
                await conn.execute("LISTEN " + NOTIFY_CHANNEL)
                async for _ in conn.notifies():
                    wake.set()
        except psycopg.Error as exc:
            log.warning("outbox.listen_failed", error=str(exc))
            await asyncio.sleep(5)


# --- retention -----------------------------------------------------------------------------------


async def purge_relayed(session: AsyncSession, *, relayed_before: dt.datetime) -> int:
    """Delete the current tenant's events relayed before the given time; pending ones are never touched."""
    table = _outbox()
    result = await session.exec(
        sa.delete(table).where(
            table.c.tenant_id == require_tenant_id(),
            table.c.relayed_at.is_not(None),
            table.c.relayed_at < relayed_before,
        )
    )
    return result.rowcount


@periodic(every=dt.timedelta(hours=1), per_tenant=True)
@actor(queue_name="maintenance")
async def purge_relayed_events(tick: Tick) -> None:
    retention = dt.timedelta(days=get_settings().outbox_retention_days)
    async with get_database().session() as session:
        purged = await purge_relayed(session, relayed_before=tick.scheduled_at - retention)
    if purged:
        log.info("outbox.purged", count=purged, tenant_id=str(require_tenant_id()))
