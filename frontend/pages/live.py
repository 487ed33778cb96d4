"""Live boards: queues and agents as the router shows them now, kept current over server-sent events.

A tenant's board (``/live``, for its admins and supervisors, and for an operator acting for it) shows
only its own queues and agents. Agents are shared: one busy with another tenant's contact shows as busy,
with nothing about that contact.

The operator's board (``/operator/live``) is the wallboard across tenants: per tenant its contacts waiting,
the agents serving it, its service level so far and projected (tenants at risk or breached first) and its
share of the pool's agent time today; the pool's capacity and occupancy now and this hour; every tenant's
queues and every agent. The router's views (Redis) are read on each redraw; names and figures (PostgreSQL)
come from audited cross-tenant reads, once per page and at a bounded rate per stream.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get
from litestar.response import ServerSentEvent
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import Principal, acting_as
from app.reporting import schemas as reporting_schemas
from app.reporting import service as reporting
from app.reporting.engine.figures import ratio
from app.routing import live
from app.routing import service as routing
from app.sla import schemas as sla_schemas
from app.sla import service as sla
from frontend.pages import sla as sla_pages
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
# The wallboard's figures (service levels, the pool's hour, shares of agent time) are read again this often: the
# SLA job evaluates every few seconds, as often as the tenant's attainment page refreshes.
FIGURES_SECONDS = float(sla_pages.STATE_REFRESH_SECONDS)
TROUBLED = frozenset({"at_risk", "breached"})
WALLBOARD_READ = "operator wallboard: every tenant's queues, service levels and share of the agent pool"
T = TypeVar("T")


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


# --- the operator's board: the wallboard --------------------------------------------------------


class ServiceLevelNow(msgspec.Struct, frozen=True):
    """A tenant's primary service-level target in its current window, as the SLA job last evaluated it."""

    target: sla_schemas.TargetOut
    window_end: dt.datetime
    value: float | None
    projected: float | None
    state: str

    @property
    def troubled(self) -> bool:
        return self.state in TROUBLED

    @property
    def shortfall(self) -> float:
        """How far the projection (the value so far while there is none) falls below the goal."""
        reached = self.projected if self.projected is not None else self.value
        return (self.target.minimum or 0.0) - (reached or 0.0)


class TenantLine(msgspec.Struct, frozen=True):
    """One tenant on the wallboard: contacts waiting, agents serving it now, service level, share of agent time."""

    tenant_id: uuid.UUID
    name: str
    waiting: int
    oldest_arrived_at: float | None
    offered: int  # agents with an offer of its contact
    on_contact: int  # agents on its contacts
    wrap_up: int  # agents wrapping up its contacts
    available: int  # its agents free now (shared: any of their tenants' contacts may take them)
    service_level: ServiceLevelNow | None
    share_today: float | None  # of the pool's busy time today (UTC), by the rollups' agent rows


class PoolCapacity(msgspec.Struct, frozen=True):
    counts: list[tuple[str, int]]  # agents per presence now
    signed_on: int
    working: int  # signed on and not on break
    occupancy: float | None  # now: on a contact or wrapping up, over working
    hour: reporting_schemas.PoolPresence  # this hour (UTC) so far, from the presence rollups


class PoolBoard(msgspec.Struct, frozen=True):
    lines: list[TenantLine]  # tenants at risk or breached first
    capacity: PoolCapacity
    tenants: list[TenantQueues]
    agents: list[AgentRow]  # every agent not offline


class PoolFigures(msgspec.Struct, frozen=True):
    """What the wallboard reads from PostgreSQL every few seconds (the rest is the router's views in Redis)."""

    service_levels: dict[uuid.UUID, ServiceLevelNow]
    hour: reporting_schemas.PoolPresence
    busy_today: dict[uuid.UUID, float]  # busy seconds per tenant


PoolNames = tuple[routing.PoolLiveNames, list[tuple[uuid.UUID, str]]]  # and the tenants, by name


async def pool_names(reader: AsyncSession) -> PoolNames:
    """``reader``: a ``cross_tenant_read`` session."""
    tenant_list = [(t.id, t.name) for t in await tenants.tenant_choices(reader)]
    return await routing.pool_live_names(reader), tenant_list


async def pool_figures(reader: AsyncSession, now: dt.datetime) -> PoolFigures:
    """Service levels in their current windows at ``now``, the pool's presence this hour and every tenant's busy
    time today (hour and day in UTC, as the operator's pages show times); ``reader``: a ``cross_tenant_read``."""
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    service_levels = {
        tenant_id: ServiceLevelNow(a.target, a.window_end, a.value, a.projected, a.state)
        for tenant_id, a in (await sla.service_levels_of_every_tenant(reader, now)).items()
    }
    return PoolFigures(
        service_levels=service_levels,
        hour=await reporting.pool_presence(reader, hour, hour + dt.timedelta(hours=1)),
        busy_today=await reporting.busy_seconds_by_tenant(reader, day, day + dt.timedelta(days=1)),
    )


async def _read_across(principal: Principal, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
    with acting_as(principal):
        async with tenants.cross_tenant_read(WALLBOARD_READ) as reader:
            return await read(reader)


def _attention(line: TenantLine) -> tuple[int, float, str]:
    """Tenants at risk or breached first, the furthest below their goal first; then the others, by name."""
    shown = line.service_level
    if shown is not None and shown.troubled:
        return 0, -shown.shortfall, line.name.lower()
    return 1, 0.0, line.name.lower()


def _capacity(counts: Mapping[str, int], hour: reporting_schemas.PoolPresence) -> PoolCapacity:
    working = sum(counts[p] for p in ("available", "offered", "on_contact", "wrap_up"))
    return PoolCapacity(
        counts=list(counts.items()),
        signed_on=working + counts["break"],
        working=working,
        occupancy=ratio(counts["on_contact"] + counts["wrap_up"], working),
        hour=hour,
    )


@dataclass
class _PoolAgents:
    counts: dict[str, int]  # agents per presence
    serving: dict[uuid.UUID, Counter[str]]  # per tenant: agents per presence serving it
    rows: list[AgentRow]  # every agent not offline


async def _pool_agents(names: routing.PoolLiveNames, tenant_names: Mapping[uuid.UUID, str]) -> _PoolAgents:
    views = await live.agent_views(get_redis(), None, _pool())
    contacts = await _contacts_of(views)
    counts = dict.fromkeys(ORDER, 0)
    counts.pop("busy")
    serving: dict[uuid.UUID, Counter[str]] = {tenant_id: Counter() for tenant_id in tenant_names}
    rows = []
    for view in views:
        counts[view.presence] = counts.get(view.presence, 0) + 1
        places = _places(view, contacts)
        # Busy: for the tenants of what it holds; available: for every tenant it works for.
        if view.presence == "available":
            served = set(names.tenants_of.get(view.agent_id, ()))
        else:
            served = {t for t, _ in places}
        for tenant_id in served & serving.keys():
            serving[tenant_id][view.presence] += 1
        if view.presence == "offline":
            continue
        work = ", ".join(
            f"{tenant_names.get(t, '')} · {names.queues[q].name if q in names.queues else ''}" for t, q in places
        )
        name = names.agents.get(view.agent_id, str(view.agent_id))
        rows.append(AgentRow(name, view.presence, view.reason, view.since or None, work))
    # Agents the router has no view of yet (never signed on since it started) are offline.
    counts["offline"] += len(set(names.agents) - {view.agent_id for view in views})
    return _PoolAgents(counts, serving, sorted(rows, key=_by_presence))


def _tenant_line(
    tenant_id: uuid.UUID,
    name: str,
    queues: Sequence[live.QueueView],
    serving: Counter[str],
    figures: PoolFigures,
    busy_total: float,
) -> TenantLine:
    waits = [q.oldest_arrived_at for q in queues if q.oldest_arrived_at is not None]
    return TenantLine(
        tenant_id=tenant_id,
        name=name,
        waiting=sum(q.waiting for q in queues),
        oldest_arrived_at=min(waits, default=None),
        offered=serving["offered"],
        on_contact=serving["on_contact"],
        wrap_up=serving["wrap_up"],
        available=serving["available"],
        service_level=figures.service_levels.get(tenant_id),
        share_today=ratio(figures.busy_today.get(tenant_id, 0.0), busy_total),
    )


async def pool_board(names: PoolNames, figures: PoolFigures) -> PoolBoard:
    live_names, tenant_list = names
    redis, pool = get_redis(), _pool()
    queue_views = {tenant_id: await live.queue_views(redis, tenant_id, pool) for tenant_id, _ in tenant_list}
    by_tenant: dict[uuid.UUID, dict[uuid.UUID, routing.LiveQueue]] = {}
    for queue_id, queue in live_names.queues.items():
        by_tenant.setdefault(queue.tenant_id, {})[queue_id] = queue
    sections = [
        TenantQueues(name, rows)
        for tenant_id, name in tenant_list
        if (rows := _queue_rows(by_tenant.get(tenant_id, {}), queue_views[tenant_id]))
    ]
    agents = await _pool_agents(live_names, dict(tenant_list))
    busy_total = sum(figures.busy_today.values())
    lines = [
        _tenant_line(tenant_id, name, queue_views[tenant_id], agents.serving[tenant_id], figures, busy_total)
        for tenant_id, name in tenant_list
    ]
    return PoolBoard(
        lines=sorted(lines, key=_attention),
        capacity=_capacity(agents.counts, figures.hour),
        tenants=sections,
        agents=agents.rows,
    )


# --- the pages --------------------------------------------------------------------------------------


def _board_stream(
    request: Request[Any, Any, Any],
    channels: list[str],
    board: Callable[[], Awaitable[msgspec.Struct]],
    template: str,
    interval: float,
    refresh: float | None = None,
    **context: Any,
) -> ServerSentEvent:
    paint = Painter(request)

    async def read() -> Snapshot:
        shown = await board()

        async def draw() -> str:
            return paint(template, board=shown, now=time.time(), **context)

        return Snapshot(key_of(shown), draw)

    return live_stream(request, channels, read, event="board", min_interval=interval, refresh=refresh)


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


# What the wallboard's templates show of service levels, as the SLA pages word them.
WALLBOARD_SHOWN = {"states": sla_pages.STATES, "goal_text": sla_pages.goal_text, "windows": sla_pages.WINDOWS}


class PoolLivePages(Controller):
    """The operator's wallboard. Its names and figures come from audited cross-tenant reads: one per page, and per
    stream one for names every ``POOL_NAMES_SECONDS`` and one for figures every ``FIGURES_SECONDS``."""

    path = OPERATOR_PATH
    guards = [requires(Permission.READ_CROSS_TENANT)]

    @get("/")
    async def board(self, request: Request[Principal, Any, Any]) -> Response[Any]:
        async def read(reader: AsyncSession) -> tuple[PoolNames, PoolFigures]:
            return await pool_names(reader), await pool_figures(reader, utcnow())

        names, figures = await _read_across(request.user, read)
        shown = await pool_board(names, figures)
        return render(request, "live/pool.html", board=shown, now=time.time(), **WALLBOARD_SHOWN)

    @get("/events")
    async def events(self, request: Request[Principal, Any, Any]) -> ServerSentEvent:
        principal = request.user
        names = Refreshing(lambda: _read_across(principal, pool_names), POOL_NAMES_SECONDS)
        figures = Refreshing(
            lambda: _read_across(principal, lambda reader: pool_figures(reader, utcnow())), FIGURES_SECONDS
        )

        async def board() -> PoolBoard:
            return await pool_board(await names.get(), await figures.get())

        return _board_stream(
            request,
            [live.pool_channel(_pool())],
            board,
            "live/pool_board.html",
            POOL_INTERVAL_SECONDS,
            refresh=FIGURES_SECONDS,
            **WALLBOARD_SHOWN,
        )
