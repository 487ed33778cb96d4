"""Periodic jobs: APScheduler fires them, and only the process holding the scheduler lock sends them.

Every ``tenline worker`` runs a scheduler, so a dead one is replaced without anyone noticing; a Redis lock
with an expiry, renewed at a third of it, makes exactly one of them the leader. A leader that cannot renew
(Redis unreachable, or it stalled past the expiry) stops sending at once, and another takes over once the
key expires. Per-tenant jobs are sent once per live tenant, each message in that tenant's context.
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
        tick = Tick(scheduled_at=utcnow())
        tenants: Sequence[uuid.UUID | None] = await self._tenant_ids() if job.per_tenant else [None]

        def send() -> int:
            for tenant_id in tenants:
                with acting_as(system_principal(tenant_id)):
                    job.actor.send(tick)
            return len(tenants)

        try:
            return await asyncio.to_thread(send)
        except Exception:  # the next firing tries again; a scheduler must not die of one failure
            log.exception("scheduler.fire_failed", job=job.actor.name)
            return 0
