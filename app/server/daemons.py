"""Long-running service processes: `tenline router` and `tenline traffic`. SIGTERM or SIGINT stops them."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from app.core.db import Database, configure_database, reset_database
from app.core.logging import configure_logging
from app.core.redis import configure_redis
from app.core.settings import Settings
from app.routing.router import Router, RouterSettings
from app.telephony.live_traffic import LiveTraffic, TrafficSettings

Service = Callable[[Database, aioredis.Redis, asyncio.Event], Awaitable[None]]


def run_router(settings: Settings) -> None:
    router_settings = RouterSettings(
        pool=settings.router_pool,
        lock_ttl_seconds=settings.router_lock_ttl_seconds,
        offer_timeout_seconds=settings.router_offer_timeout_seconds,
    )

    async def serve(database: Database, redis: aioredis.Redis, stop: asyncio.Event) -> None:
        await Router(database, redis, router_settings).run(stop)

    _run(settings, serve)


def run_traffic(settings: Settings, traffic: TrafficSettings) -> None:
    async def serve(database: Database, redis: aioredis.Redis, stop: asyncio.Event) -> None:
        await LiveTraffic(redis, traffic).run(stop)

    _run(settings, serve)


def _run(settings: Settings, service: Service) -> None:
    configure_logging(settings.log_level, json=settings.log_json)
    if not settings.database_url or not settings.redis_url:
        raise SystemExit("TENLINE_DATABASE_URL and TENLINE_REDIS_URL must be set")
    asyncio.run(_serve(settings.database_url, settings.redis_url, service))


async def _serve(database_url: str, redis_url: str, service: Service) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    database = configure_database(database_url, pool_size=4)
    redis = configure_redis(redis_url)
    try:
        await service(database, redis, stop)
    finally:
        await redis.aclose()
        await reset_database()
