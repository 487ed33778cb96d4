"""The module the Dramatiq worker processes load: every domain's actors, and the broker set up for a worker.

``tenline worker`` runs ``dramatiq app.server.actors:setup``. Importing this module declares every actor,
topic subscription and periodic job; ``setup()`` then binds them to the Redis broker in each worker
process, which also opens its own database engine and Redis client (a forked process shares neither).
A new domain with actors adds its ``actors`` module to the imports below.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware

import app.server.tables  # noqa: F401  (complete metadata: the tenant erasure walks every tenant table)
from app.core import outbox  # noqa: F401
from app.core.broker import configure_broker
from app.core.db import configure_database, get_database
from app.core.logging import configure_logging
from app.core.redis import configure_redis, get_redis
from app.core.settings import Settings, get_settings
from app.integrations import actors as integrations_actors  # noqa: F401
from app.reporting import actors as reporting_actors  # noqa: F401
from app.routing import actors as routing_actors  # noqa: F401
from app.routing.callbacks import actors as callbacks_actors  # noqa: F401
from app.sla import actors as sla_actors  # noqa: F401
from billing import actors as billing_actors  # noqa: F401
from tenants import actors as tenant_actors  # noqa: F401


class WorkerResources(Middleware):
    """Opens the database and Redis in each worker process, and closes them on its event loop at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        assert self.settings.database_url and self.settings.redis_url
        configure_database(self.settings.database_url, pool_size=self.settings.worker_threads)
        configure_redis(self.settings.redis_url)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        # Still before the AsyncIO middleware stops the loop the connections belong to.
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(_close())


async def _close() -> None:
    await get_database().dispose()
    await get_redis().aclose()


def setup() -> None:
    """Called by the Dramatiq CLI in every worker process, before the worker starts."""
    settings = get_settings()
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("TENLINE_DATABASE_URL and TENLINE_REDIS_URL must be set for the worker")
    configure_logging(settings.log_level, json=settings.log_json)
    broker = configure_broker(settings)
    if not any(isinstance(m, WorkerResources) for m in broker.middleware):
        broker.add_middleware(WorkerResources(settings))
        if settings.worker_metrics_port:
            # Imported only here: it reads its port and database folder from the environment at import.
            from dramatiq.middleware.prometheus import Prometheus

            broker.add_middleware(Prometheus())
