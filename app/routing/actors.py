"""Routing jobs: configuration changes reach the router as soon as they are committed."""

from __future__ import annotations

from app.core.broker import actor
from app.core.outbox import Event, subscribe
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.routing.commands import Reconfigure, submit
from app.routing.service import CONFIGURATION_CHANGED_TOPIC
from tenants.service import AGENT_ASSIGNMENTS_TOPIC


async def _reconfigure() -> None:
    # Several changes in a row give several reloads; the router compares and applies only a difference.
    await submit(get_redis(), Reconfigure(), pool=get_settings().router_pool)


@subscribe(CONFIGURATION_CHANGED_TOPIC)
@actor()
async def reload_routing_configuration(event: Event) -> None:
    await _reconfigure()


@subscribe(AGENT_ASSIGNMENTS_TOPIC)
@actor()
async def reload_routing_agents(event: Event) -> None:
    await _reconfigure()
