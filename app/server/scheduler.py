"""Periodic jobs: APScheduler fires them, and only the process holding the scheduler lock sends them.

Every ``tenline worker`` runs a scheduler, so a dead one is replaced without anyone noticing; a Redis lock
with an expiry, renewed at a third of it, makes exactly one of them the leader. A leader that cannot renew
(Redis unreachable, or it stalled past the expiry) stops sending at once, and another takes over once the
key expires. Per-tenant jobs are sent once per live tenant, each message in that tenant's context.

A job's tick is not sent again to a tenant whose last one still waits in a queue: the scheduler marks it pending
in Redis (``SET NX`` with an expiry, so a lost message blocks nothing for long) and the worker clears the mark as
the tick starts. Behind a backlog, ticks of hundreds of tenants therefore never pile up ahead of other work.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

import redis.asyncio as aioredis
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from redis.exceptions import LockError, RedisError

from app.core.broker import PeriodicJob, Tick, periodic_jobs
from app.core.clock import utcnow
from app.core.tenancy import acting_as, system_principal

LOCK_NAME = "tenline:scheduler:leader"
PENDING_PREFIX = "tenline:scheduler:pending:"
# How long a pending mark outlives its tick at most (a message lost with its worker), in firing intervals.
PENDING_INTERVALS = 3
PENDING_AT_LEAST = dt.timedelta(seconds=30)
PENDING_CRON = dt.timedelta(hours=1)

log = structlog.get_logger("tenline.scheduler")

TenantIds = Callable[[], Awaitable[Sequence[uuid.UUID]]]


class LeaderLock:
    """A Redis lock held by at most one process: acquired without waiting, renewed while held."""

    def __init__(self, redis: aioredis.Redis, name: str, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._lock = redis.lock(name, timeout=ttl_seconds, blocking=False, thread_local=False)
        self.held = False

    async def refresh(self) -> bool:
        """Renew the lock if held, else try to take it; returns whether this process holds it now."""
        was_held = self.held
        try:
            if self.held:
                await self._lock.reacquire()
            else:
                self.held = bool(await self._lock.acquire(blocking=False))
        except LockError:
            self.held = False
        except RedisError as exc:
            # Unknown whether the key still exists: act as if lost, so two leaders never overlap.
            log.warning("scheduler.lock_unreachable", error=str(exc))
            self.held = False
        if self.held != was_held:
            log.info("scheduler.leader" if self.held else "scheduler.follower")
        return self.held

    async def release(self) -> None:
        if self.held:
            self.held = False
            with contextlib.suppress(LockError, RedisError):
                await self._lock.release()


def _trigger(job: PeriodicJob) -> BaseTrigger:
    every = job.interval()
    if every is not None:
        return IntervalTrigger(seconds=every.total_seconds(), timezone=dt.UTC)
    assert job.cron is not None
    return CronTrigger.from_crontab(job.cron, timezone=dt.UTC)


class Scheduler:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        lock_ttl_seconds: float,
        tenant_ids: TenantIds,
        jobs: Sequence[PeriodicJob] | None = None,
        lock_name: str = LOCK_NAME,
    ) -> None:
        self.redis = redis
        self.lock = LeaderLock(redis, lock_name, lock_ttl_seconds)
        self._tenant_ids = tenant_ids
        self._jobs = list(periodic_jobs() if jobs is None else jobs)

    @property
    def is_leader(self) -> bool:
        return self.lock.held

    async def run(self, stop: asyncio.Event) -> None:
        """Fire the periodic jobs and keep the lock fresh until ``stop`` is set; then release the lock."""
        # APScheduler logs every run at INFO (five lines every five seconds): only its warnings are news.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        for job in self._jobs:
            scheduler.add_job(
                self.fire,
                _trigger(job),
                args=[job],
                id=job.actor.name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=60,
            )
        scheduler.start()
        try:
            while not stop.is_set():
                await self.lock.refresh()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.lock.ttl_seconds / 3)
        finally:
            scheduler.shutdown(wait=False)
            await self.lock.release()

    async def fire(self, job: PeriodicJob) -> int:
        """Send one periodic job if this process leads; returns the number of messages sent."""
        if not self.lock.held:
            return 0
        scheduled_at = utcnow()
        try:
            tenants: Sequence[uuid.UUID | None] = await self._tenant_ids() if job.per_tenant else [None]
            due = await self._not_pending(job, tenants, scheduled_at)

            def send() -> int:
                for tenant_id, key in due:
                    with acting_as(system_principal(tenant_id)):
                        job.actor.send(Tick(scheduled_at=scheduled_at, pending_key=key))
                return len(due)

            return await asyncio.to_thread(send)
        except Exception:  # the next firing tries again; a scheduler must not die of one failure
            log.exception("scheduler.fire_failed", job=job.actor.name)
            return 0

    async def _not_pending(
        self, job: PeriodicJob, tenants: Sequence[uuid.UUID | None], scheduled_at: dt.datetime
    ) -> list[tuple[uuid.UUID | None, str]]:
        """The tenants whose last tick of the job has started (or expired), each with its new pending mark."""
        every = job.interval()
        expiry = max(every * PENDING_INTERVALS, PENDING_AT_LEAST) if every is not None else PENDING_CRON
        keys = [f"{PENDING_PREFIX}{job.actor.name}:{tenant_id or 'operator'}" for tenant_id in tenants]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(key, scheduled_at.isoformat(), nx=True, ex=expiry)
            marked = await pipe.execute()
        return [(tenant_id, key) for tenant_id, key, set_now in zip(tenants, keys, marked, strict=True) if set_now]
