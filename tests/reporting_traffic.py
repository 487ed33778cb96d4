"""Traffic for the reporting tests, made by the real router, and rollups recomputed from the raw log.

``generate`` runs a router (its own pool) with a scripted part (hold, transfer to another queue, wrap-up,
disposition, an abandon) and then the demo's live callers and simulated agents. ``recompute`` derives
every rollup row again with SQL of its own from ``interaction_events`` and ``agent_state_changes``,
sharing nothing with ``app.reporting.engine``; ``stored_rollups`` reads what the job wrote.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from app.core.db import get_database
from app.core.redis import get_redis
from app.core.tenancy import acting_as, system_principal
from app.reporting import service as reporting
from app.routing import commands as cmd
from app.telephony.live_traffic import LiveTraffic, TrafficSettings
from app.telephony.simulator import HandleTime
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tests.factories import OPERATOR, make_agent, make_tenant
from tests.integration.test_live_traffic import simulated_agents
from tests.integration.test_router import contact_in, offer_for, pool_name, running_router
from tests.routed import make_queue

Key = tuple[dt.datetime, uuid.UUID, uuid.UUID | None]

# The edges of the rollups' wait histograms, written out again (cumulative: waits shorter than each edge).
EDGES = [*range(0, 301, 5), 360, 420, 480, 540, 600, 900, 1200, 1800, 3600, math.inf]


@dataclass
class Center:
    tenant_id: uuid.UUID
    slug: str
    support: uuid.UUID  # wrap-up 1 s
    billing: uuid.UUID
    short: uuid.UUID  # callers removed after 2 s
    people: list[uuid.UUID]  # agents driven by the script
    simulated: list[uuid.UUID]  # agents driven by LiveTraffic
    prefix: str


async def make_center(name: str = "reports", timezone: str = "UTC") -> Center:
    tenant = await make_tenant(name)
    if timezone != "UTC":
        with acting_as(OPERATOR):
            async with get_database().session() as session:
                row = await tenants.get_tenant(session, tenant.id, OPERATOR)
                await tenants.update_tenant(session, row, tenant_schemas.TenantUpdate(timezone=timezone))
    support = await make_queue(tenant.id, "support", wrap_up_seconds=1)
    billing = await make_queue(tenant.id, "billing")
    short = await make_queue(tenant.id, "short", max_wait_seconds=2)
    people = [(await make_agent(tenant.id)).id for _ in range(2)]
    prefix = f"R{uuid.uuid4().hex[:6].upper()}-"
    simulated = await simulated_agents(tenant.id, prefix, 3)
    return Center(tenant.id, tenant.slug, support, billing, short, people, simulated, prefix)


async def _script(pool: str, center: Center) -> None:
    """A caller removed at max wait, hold, transfer to billing, answered there, resolved; a caller abandoning while
    nobody is free."""
    first, second = center.people

    async def send(*commands: cmd.Command) -> None:
        for command in commands:
            await cmd.submit(get_redis(), command, pool=pool)

    await send(cmd.Reconfigure())
    # Nobody is available yet: this caller of the short queue is removed at its max wait (2 s).
    removed = uuid.uuid4()
    await send(cmd.ContactArrive(contact_id=removed, tenant_id=center.tenant_id, queue_id=center.short))
    await contact_in(pool, removed, "removed")
    await send(cmd.AgentPresence(agent_id=first, state="available"))
    contact = uuid.uuid4()
    await send(cmd.ContactArrive(contact_id=contact, tenant_id=center.tenant_id, queue_id=center.support))
    await offer_for(pool, first)
    await asyncio.sleep(0.3)
    await send(cmd.OfferAccept(agent_id=first, contact_id=contact))
    await contact_in(pool, contact, "connected")
    await send(cmd.ContactHold(agent_id=first, contact_id=contact, on_hold=True))
    await asyncio.sleep(0.2)
    await send(cmd.ContactHold(agent_id=first, contact_id=contact, on_hold=False))
    await asyncio.sleep(0.1)
    await send(cmd.ContactHold(agent_id=first, contact_id=contact, on_hold=True))
    await asyncio.sleep(0.2)
    # Transferred while on hold: the hold ends with the segment.
    await send(cmd.ContactTransfer(agent_id=first, contact_id=contact, to_queue=center.billing))
    await contact_in(pool, contact, "waiting")
    await send(cmd.AgentPresence(agent_id=second, state="available"))
    await offer_for(pool, second)
    await send(cmd.OfferAccept(agent_id=second, contact_id=contact))
    await contact_in(pool, contact, "connected")
    # Nobody free now: this caller gives up.
    gone = uuid.uuid4()
    await send(cmd.ContactArrive(contact_id=gone, tenant_id=center.tenant_id, queue_id=center.billing))
    await asyncio.sleep(0.3)
    await send(cmd.ContactAbandon(contact_id=gone))
    await contact_in(pool, gone, "abandoned")
    await send(cmd.ContactEnd(agent_id=second, contact_id=contact))
    await contact_in(pool, contact, "ended")
    await send(cmd.WrapUpFinish(agent_id=second, contact_id=contact, disposition="resolved"))
    await send(cmd.AgentPresence(agent_id=first, state="offline"), cmd.AgentPresence(agent_id=second, state="offline"))


async def generate(
    center: Center, seconds: float, *, meanwhile: Callable[[], Awaitable[None]] | None = None, seed: int = 7
) -> None:
    """The script, then ``seconds`` of live callers and simulated agents; ``meanwhile`` runs beside the traffic."""
    pool = pool_name()
    settings = TrafficSettings(
        pool=pool,
        calls_per_minute=150,
        handle=HandleTime(0.6, 0.3),
        patience_seconds=4,
        accept_delay_seconds=(0.05, 0.3),
        wrap_up_seconds=(0.05, 0.4),
        agent_code_prefix=center.prefix,
        tenants=frozenset({center.tenant_id}),
        poll_seconds=0.05,
        seed=seed,
    )
    async with running_router(pool):
        await _script(pool, center)
        stop = asyncio.Event()
        traffic = asyncio.create_task(LiveTraffic(get_redis(), settings).run(stop))
        side = asyncio.create_task(meanwhile()) if meanwhile else None
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(traffic, 15)
        if side is not None:
            await asyncio.wait_for(side, 30)
        await asyncio.sleep(1)  # the router applies the last commands (simulated agents going offline)


async def fold_all(tenant_id: uuid.UUID) -> int:
    """Runs the rollup job for the tenant until nothing is left to fold (and the agents' presence)."""
    total = 0
    with acting_as(system_principal(tenant_id)):
        while True:
            async with get_database().session() as session:
                applied = await reporting.update_rollups(session, wait=True)
            total += applied
            if not applied:
                break
    async with get_database().session() as session:
        await reporting.update_presence(session, wait=True)
    return total


# --- what the rollups hold, and what they should hold ---------------------------------------------------

METRICS = (
    "offered",
    "answered",
    "abandoned",
    "removed",
    "answered_wait_hist",
    "abandoned_wait_hist",
    "wait_seconds_sum",
    "talk_seconds_sum",
    "hold_seconds_sum",
    "wrap_seconds_sum",
    "handled",
    "transfers",
    "resolved",
    "dispositions",
)


async def _rows(tenant_id: uuid.UUID, sql: str, **params: Any) -> list[Any]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return list((await session.execute(sa.text(sql), {"tenant": tenant_id, **params})).all())


async def stored_rollups(tenant_id: uuid.UUID) -> dict[Key, dict[str, Any]]:
    rows = await _rows(
        tenant_id,
        f"SELECT interval_start, queue_id, agent_id, {', '.join(METRICS)} FROM interval_rollups WHERE tenant_id = :tenant",
    )
    return {(row[0], row[1], row[2]): dict(zip(METRICS, row[3:], strict=True)) for row in rows}


def _blank() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(METRICS, 0)
    for name in ("wait_seconds_sum", "talk_seconds_sum", "hold_seconds_sum", "wrap_seconds_sum"):
        row[name] = Decimal(0)
    row["answered_wait_hist"] = [0] * len(EDGES)
    row["abandoned_wait_hist"] = [0] * len(EDGES)
    row["dispositions"] = {}
    return row


def _count_wait(histogram: list[int], wait: Decimal) -> None:
    for index, edge in enumerate(EDGES):
        if wait < edge:
            histogram[index] += 1


_EVENTS = "SELECT * FROM interaction_events WHERE tenant_id = :tenant"
_BUCKET = "to_timestamp(floor(extract(epoch FROM {0}) / 900) * 900)"
_OUTCOMES = f"""
WITH ev AS ({_EVENTS}),
arrival AS (SELECT interaction_id, at, queue_id FROM ev WHERE type = 'arrived'),
outcome AS (
  SELECT DISTINCT ON (interaction_id) interaction_id, type, at, agent_id FROM ev
  WHERE type IN ('answered', 'abandoned', 'max_wait', 'queue_closed') ORDER BY interaction_id, log_seq, position
)
SELECT {_BUCKET.format("a.at")} AS bucket, a.queue_id, o.type, o.agent_id, extract(epoch FROM o.at - a.at) AS wait
FROM arrival a LEFT JOIN outcome o USING (interaction_id)
"""
# Per connected segment (answered until transferred or ended): the segment, then its connected time, the hold
# within it (held until resumed or the segment's end) and the agent's wrap-up after it (when the agent was in
# wrap_up after the segment's log entry: until the next presence change). Shared with the billing tests.
SEGMENTS_CTE = f"""
WITH ev AS ({_EVENTS}),
seg AS (
  SELECT a.interaction_id, a.agent_id, a.queue_id, a.at AS answered_at, a.log_seq AS a_seq, a.position AS a_pos,
         e.type AS end_type, e.at AS end_at, e.log_seq AS e_seq, e.position AS e_pos
  FROM ev a
  CROSS JOIN LATERAL (
    SELECT type, at, log_seq, position FROM ev e
    WHERE e.interaction_id = a.interaction_id AND e.type IN ('transferred', 'ended')
      AND (e.log_seq, e.position) > (a.log_seq, a.position)
    ORDER BY e.log_seq, e.position LIMIT 1) e
  WHERE a.type = 'answered'
)
"""
SEGMENT_TIMES = """
  extract(epoch FROM s.end_at - s.answered_at) AS connected,
  coalesce((
    SELECT sum(extract(epoch FROM coalesce((
        SELECT r.at FROM ev r WHERE r.interaction_id = h.interaction_id AND r.type = 'resumed'
          AND (r.log_seq, r.position) > (h.log_seq, h.position) AND (r.log_seq, r.position) < (s.e_seq, s.e_pos)
        ORDER BY r.log_seq, r.position LIMIT 1), s.end_at) - h.at))
    FROM ev h WHERE h.interaction_id = s.interaction_id AND h.type = 'held'
      AND (h.log_seq, h.position) > (s.a_seq, s.a_pos) AND (h.log_seq, h.position) < (s.e_seq, s.e_pos)
  ), 0) AS hold,
  CASE WHEN EXISTS (
    SELECT 1 FROM agent_state_changes c WHERE c.agent_id = s.agent_id AND c.log_seq = s.e_seq AND c.state = 'wrap_up')
  THEN extract(epoch FROM (
    SELECT c.at FROM agent_state_changes c WHERE c.agent_id = s.agent_id AND c.log_seq > s.e_seq
    ORDER BY c.log_seq LIMIT 1) - s.end_at)
  ELSE 0 END AS wrap
"""
_SEGMENTS = f"""{SEGMENTS_CTE}
SELECT {_BUCKET.format("s.end_at")} AS bucket, s.queue_id, s.agent_id, s.end_type, {SEGMENT_TIMES},
  (SELECT w.data ->> 'disposition' FROM ev w WHERE w.interaction_id = s.interaction_id AND w.type = 'wrapped_up'
     AND s.end_type = 'ended') AS disposition
FROM seg s
"""


async def outcomes(tenant_id: uuid.UUID) -> list[Any]:
    """Per contact: its arrival interval and queue, its first outcome (answered, abandoned, ...) and its wait."""
    return await _rows(tenant_id, _OUTCOMES)


async def recompute(tenant_id: uuid.UUID) -> dict[Key, dict[str, Any]]:
    """Every rollup row again, from the raw events and presence changes (wrap-ups still running left out)."""
    expected: dict[Key, dict[str, Any]] = {}

    def rows_of(bucket: dt.datetime, queue_id: uuid.UUID, agent_id: uuid.UUID | None) -> list[dict[str, Any]]:
        keys = [(bucket, queue_id, None)] + ([(bucket, queue_id, agent_id)] if agent_id else [])
        return [expected.setdefault(key, _blank()) for key in keys]

    for bucket, queue_id, outcome, agent_id, wait in await _rows(tenant_id, _OUTCOMES):
        queue_row = rows_of(bucket, queue_id, None)[0]
        queue_row["offered"] += 1
        if outcome == "answered":
            for row in rows_of(bucket, queue_id, agent_id):
                row["answered"] += 1
                row["wait_seconds_sum"] += wait
                _count_wait(row["answered_wait_hist"], wait)
        elif outcome == "abandoned":
            queue_row["abandoned"] += 1
            _count_wait(queue_row["abandoned_wait_hist"], wait)
        elif outcome is not None:
            queue_row["removed"] += 1
    for bucket, queue_id, agent_id, end_type, connected, hold, wrap, disposition in await _rows(tenant_id, _SEGMENTS):
        for row in rows_of(bucket, queue_id, agent_id):
            row["talk_seconds_sum"] += connected - hold
            row["hold_seconds_sum"] += hold
            row["wrap_seconds_sum"] += wrap or 0
            row["handled" if end_type == "ended" else "transfers"] += 1
            if disposition:
                row["dispositions"][disposition] = row["dispositions"].get(disposition, 0) + 1
                row["resolved"] += disposition == "resolved"
    return expected


async def event_count(tenant_id: uuid.UUID) -> int:
    (row,) = await _rows(tenant_id, "SELECT count(*) FROM interaction_events WHERE tenant_id = :tenant")
    return int(row[0])


async def interaction_totals(tenant_id: uuid.UUID) -> Any:
    """Totals read from the ``interactions`` table (the router's own projection)."""
    (row,) = await _rows(
        tenant_id,
        "SELECT count(*) AS offered, count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered_ever,"
        " count(*) FILTER (WHERE state = 'ended') AS handled, count(*) FILTER (WHERE state = 'removed') AS removed,"
        " coalesce(sum(hold_seconds), 0) AS hold, coalesce(sum(transfers), 0) AS transfers,"
        " count(*) FILTER (WHERE disposition = 'resolved') AS resolved"
        " FROM interactions WHERE tenant_id = :tenant",
    )
    return row


async def presence_spans(agent_ids: list[uuid.UUID]) -> dict[tuple[uuid.UUID, dt.datetime], dict[str, Decimal]]:
    """Seconds per state and interval from each agent's consecutive presence changes (the last one still open)."""
    async with get_database().session() as session:
        rows = (
            await session.execute(
                sa.text(
                    "SELECT agent_id, state, at, lead(at) OVER (PARTITION BY agent_id ORDER BY log_seq) AS until"
                    " FROM agent_state_changes WHERE agent_id = ANY(:agents)"
                ),
                {"agents": agent_ids},
            )
        ).all()
    spans: dict[tuple[uuid.UUID, dt.datetime], dict[str, Decimal]] = {}
    step = dt.timedelta(minutes=15)
    for agent_id, state, at, until in rows:
        if until is None:
            continue
        start = at
        while start < until:
            bucket = dt.datetime.fromtimestamp(int(start.timestamp()) // 900 * 900, dt.UTC)
            stop = min(until, bucket + step)
            seconds = spans.setdefault((agent_id, bucket), {})
            delta = stop - start
            seconds[state] = (
                seconds.get(state, Decimal(0))
                + Decimal(delta.days * 86400 + delta.seconds)
                + Decimal(delta.microseconds).scaleb(-6)
            )
            start = stop
    return spans
