"""Live boards: queues and agents as the router shows them now, kept current over server-sent events.

A tenant's board (``/live``, for its admins and supervisors, and for an operator acting for it) shows
only its own queues and agents. Agents are shared: one busy with another tenant's contact shows as busy,
with nothing about that contact. The operator's board (``/operator/live``) shows every tenant's queues
and the whole pool; its names come from one audited cross-tenant read per page and per stream.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.response import ServerSentEvent
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import get_database
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import Principal, acting_as
from app.routing import live
from app.routing import service as routing
from frontend.streams import Painter, Refreshing, Snapshot, key_of, live_stream
from frontend.web import acting_tenant, redirect, render
from tenants import service as tenants
from tenants.auth import requires
from tenants.permissions import Permission

PATH = "/live"
OPERATOR_PATH = "/operator/live"
# Presences in the order boards list them: the agents doing something first.
ORDER = ("offered", "on_contact", "wrap_up", "busy", "available", "break", "offline")
TENANT_NAMES_SECONDS = 30.0
POOL_NAMES_SECONDS = 300.0  # each load is an audited cross-tenant read
TENANT_INTERVAL_SECONDS = 1.0
POOL_INTERVAL_SECONDS = 2.0


def _pool() -> str:
    return get_settings().router_pool


class QueueRow(msgspec.Struct, frozen=True):
    queue_id: uuid.UUID
    name: str
    waiting: int
    oldest_arrived_at: float | None
    offered: int
    connected: int


class AgentRow(msgspec.Struct, frozen=True):
    name: str
    presence: str
    reason: str
    since: float | None  # None: not shown (another tenant's work)
    work: str  # which queue (and, on the operator's board, which tenant) the agent works for now


class TenantQueues(msgspec.Struct, frozen=True):
    tenant: str
    queues: list[QueueRow]


Names = tuple[dict[uuid.UUID, routing.LiveQueue], dict[uuid.UUID, str]]


def _queue_rows(queues: Mapping[uuid.UUID, routing.LiveQueue], views: Iterable[live.QueueView]) -> list[QueueRow]:
    """Active queues, and any other with something in it; a queue the router has no view of yet is empty."""
    by_id = {view.queue_id: view for view in views}
    rows = []
    for queue_id, queue in queues.items():
        view = by_id.get(queue_id)
        row = QueueRow(
            queue_id,
            queue.name,
            view.waiting if view else 0,
            view.oldest_arrived_at if view else None,
            view.offered if view else 0,
            view.connected if view else 0,
        )
        if queue.is_active or row.waiting or row.offered or row.connected:
            rows.append(row)
    return sorted(rows, key=lambda row: row.name.lower())


async def _contacts_of(views: Sequence[live.AgentView]) -> dict[uuid.UUID, live.ContactView]:
    ids = [c for view in views for c in (*view.contacts, *([view.wrap_up_contact] if view.wrap_up_contact else []))]
    return {c.contact_id: c for c in await live.contact_views(get_redis(), ids, _pool())}


def _places(view: live.AgentView, contacts: Mapping[uuid.UUID, live.ContactView]) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, queue) of what the agent is busy with: the offer, the contacts in hand, or the one wrapped up."""
    if view.presence == "offered" and view.offer is not None:
        return [(view.offer.tenant_id, view.offer.queue_id)]
    if view.presence == "on_contact":
        held: Sequence[uuid.UUID] = view.contacts
    elif view.presence == "wrap_up" and view.wrap_up_contact is not None:
        held = [view.wrap_up_contact]
    else:
        return []
    return [(contacts[c].tenant_id, contacts[c].queue_id) for c in held if c in contacts]


def _by_presence(row: AgentRow) -> tuple[int, str]:
    return ORDER.index(row.presence) if row.presence in ORDER else len(ORDER), row.name.lower()


# --- a tenant's board ------------------------------------------------------------------------------


class TenantBoard(msgspec.Struct, frozen=True):
    queues: list[QueueRow]
    agents: list[AgentRow]


async def tenant_board(tenant_id: uuid.UUID, names: Names) -> TenantBoard:
    queues, aliases = names
    redis, pool = get_redis(), _pool()
    views = await live.agent_views(redis, list(aliases), pool)
    contacts = await _contacts_of(views)
    by_agent = {view.agent_id: view for view in views}
    agents = []
    for agent_id, alias in aliases.items():
        view = by_agent.get(agent_id)
        if view is None:
            agents.append(AgentRow(alias, "offline", "", None, ""))
            continue
        places = _places(view, contacts)
        if view.presence in ("offered", "on_contact", "wrap_up"):
            if not any(t == tenant_id for t, _ in places):
                # Another tenant's contact: busy, and nothing more about it.
                agents.append(AgentRow(alias, "busy", "", None, ""))
                continue
            ours = [queues[q].name for t, q in places if t == tenant_id and q in queues]
            agents.append(AgentRow(alias, view.presence, "", view.since or None, ", ".join(ours)))
        else:
            agents.append(AgentRow(alias, view.presence, view.reason, view.since or None, ""))
    return TenantBoard(
        queues=_queue_rows(queues, await live.queue_views(redis, tenant_id, pool)),
        agents=sorted(agents, key=_by_presence),
    )


# --- the operator's board --------------------------------------------------------------------------


class PoolBoard(msgspec.Struct, frozen=True):
    tenants: list[TenantQueues]
    counts: list[tuple[str, int]]  # agents per presence
    agents: list[AgentRow]  # every agent not offline


PoolNames = tuple[Names, list[tuple[uuid.UUID, str]]]  # (queues, agent names), tenants by name


async def pool_board(names: PoolNames) -> PoolBoard:
    (queues, agent_names), tenant_list = names
    redis, pool = get_redis(), _pool()
    tenant_names = dict(tenant_list)
    by_tenant: dict[uuid.UUID, dict[uuid.UUID, routing.LiveQueue]] = {}
    for queue_id, queue in queues.items():
        by_tenant.setdefault(queue.tenant_id, {})[queue_id] = queue
    sections = []
    for tenant_id, name in tenant_list:
        rows = _queue_rows(by_tenant.get(tenant_id, {}), await live.queue_views(redis, tenant_id, pool))
        if rows:
            sections.append(TenantQueues(name, rows))
    views = await live.agent_views(redis, None, pool)
    contacts = await _contacts_of(views)
    counts = dict.fromkeys(ORDER, 0)
    counts.pop("busy")
    agents = []
    for view in views:
        counts[view.presence] = counts.get(view.presence, 0) + 1
        if view.presence == "offline":
            continue
        work = ", ".join(
            f"{tenant_names.get(t, '')} · {queues[q].name if q in queues else ''}" for t, q in _places(view, contacts)
        )
        name = agent_names.get(view.agent_id, str(view.agent_id))
        agents.append(AgentRow(name, view.presence, view.reason, view.since or None, work))
    # Agents the router has no view of yet (never signed on since it started) are offline.
    counts["offline"] += len(set(agent_names) - {view.agent_id for view in views})
    return PoolBoard(tenants=sections, counts=list(counts.items()), agents=sorted(agents, key=_by_presence))


# --- the pages --------------------------------------------------------------------------------------


def _board_stream(
    request: Request[Any, Any, Any],
    channels: list[str],
    board: Callable[[], Awaitable[msgspec.Struct]],
    template: str,
    interval: float,
) -> ServerSentEvent:
    paint = Painter(request)

    async def read() -> Snapshot:
        shown = await board()

        async def draw() -> str:
            return paint(template, board=shown, now=time.time())

        return Snapshot(key_of(shown), draw)

    return live_stream(request, channels, read, event="board", min_interval=interval)


async def _pool_names(session: AsyncSession) -> PoolNames:
    tenant_list = [(t.id, t.name) for t in await tenants.tenant_choices(session)]
    return await routing.pool_live_names(), tenant_list


class LivePages(Controller):
    path = PATH
    guards = [requires(Permission.VIEW_LIVE)]

    @get("/")
    async def board(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        if request.user.is_operator and request.user.tenant_id is None:
            return redirect(request, OPERATOR_PATH)
        tenant_id = acting_tenant(request.user)
        shown = await tenant_board(tenant_id, await routing.tenant_live_names(session))
        return render(request, "live/tenant.html", board=shown, now=time.time())

    @get("/events")
    async def events(self, request: Request[Principal, Any, Any]) -> ServerSentEvent:
        principal = request.user
        tenant_id = acting_tenant(principal)

        async def load() -> Names:
            with acting_as(principal):
                async with get_database().session() as own:
                    return await routing.tenant_live_names(own)

        names = Refreshing(load, TENANT_NAMES_SECONDS)

        async def board() -> TenantBoard:
            return await tenant_board(tenant_id, await names.get())

        # The pool's channel, not the tenant's: an agent's presence change is announced to the pool only.
        channels = [live.pool_channel(_pool())]
        return _board_stream(request, channels, board, "live/tenant_board.html", TENANT_INTERVAL_SECONDS)


class PoolLivePages(Controller):
    path = OPERATOR_PATH
    guards = [requires(Permission.READ_CROSS_TENANT)]

    @get("/")
    async def board(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        shown = await pool_board(await _pool_names(session))
        return render(request, "live/pool.html", board=shown, now=time.time())

    @get("/events")
    async def events(self, request: Request[Principal, Any, Any]) -> ServerSentEvent:
        principal = request.user

        async def load() -> PoolNames:
            with acting_as(principal):
                async with get_database().session() as own:
                    return await _pool_names(own)

        names = Refreshing(load, POOL_NAMES_SECONDS)

        async def board() -> PoolBoard:
            return await pool_board(await names.get())

        return _board_stream(
            request, [live.pool_channel(_pool())], board, "live/pool_board.html", POOL_INTERVAL_SECONDS
        )
