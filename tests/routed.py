"""Helpers of the desktop and live-board tests: queues, assignments and commands to the session's router.

The session's router (fixture ``router_process``) serves the pool named by ``TENLINE_ROUTER_POOL``; the
web server reads and commands the same pool. A test changes routing configuration, then submits
``Reconfigure`` so the router loads it before the commands that follow.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from app.core.db import get_database
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import acting_as
from app.routing import commands as cmd
from app.routing import live, schemas
from app.routing import service as routing
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tests.factories import OPERATOR
from tests.integration.test_router import eventually


async def make_queue(tenant_id: uuid.UUID, name: str, **fields: Any) -> uuid.UUID:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            queue = await routing.create_queue(session, schemas.QueueCreate(name=name, **fields))
            return queue.id


async def assign(agent_id: uuid.UUID, tenant_id: uuid.UUID, alias: str) -> None:
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            await tenants.assign_agent(session, agent_id, tenant_schemas.AgentAssign(tenant_id=tenant_id, alias=alias))


async def route(*commands: cmd.Command) -> None:
    for command in commands:
        await cmd.submit(get_redis(), command, pool=get_settings().router_pool)


async def agent_view(agent_id: uuid.UUID) -> live.AgentView | None:
    return await live.agent_view(get_redis(), agent_id, get_settings().router_pool)


async def contact_view(contact_id: uuid.UUID) -> live.ContactView | None:
    return await live.contact_view(get_redis(), contact_id, get_settings().router_pool)


async def offered(agent_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    async def probe() -> bool:
        view = await agent_view(agent_id)
        return view is not None and view.offer is not None and view.offer.contact_id == contact_id

    await eventually(probe, what=f"contact {contact_id} offered to {agent_id}")


async def presence_is(agent_id: uuid.UUID, presence: str) -> None:
    async def probe() -> bool:
        view = await agent_view(agent_id)
        return view is not None and view.presence == presence

    await eventually(probe, what=f"agent {agent_id} {presence}")


async def interaction_row(contact_id: uuid.UUID, tenant_id: uuid.UUID) -> Any:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            result = await session.execute(sa.text("SELECT * FROM interactions WHERE id = :id"), {"id": contact_id})
            return result.one_or_none()


@dataclass(frozen=True)
class Event:
    name: str
    data: str
    id: str


async def sse_events(response: httpx.Response) -> AsyncIterator[Event]:
    """Each server-sent event of a streamed response; comments (keep-alives) are skipped."""
    fields: dict[str, list[str]] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield Event(
                    " ".join(fields.get("event", [])), "\n".join(fields["data"]), " ".join(fields.get("id", []))
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
