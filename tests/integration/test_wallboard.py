"""The operator's wallboard over real HTTP, the real router and the SLA and reporting services.

Tenants get contracts and real traffic (a router of the test's own, then the reporting rollups and an SLA
evaluation, as the workers would run them); the session's router holds agents in every presence for one
more tenant. The board lists tenants at risk or breached first, furthest below target first; its pool
occupancy (now and this hour) and each tenant's share of agent time today equal an independent computation
from the router's views, the raw presence log and the rollups; tenant roles cannot open it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import acting_as
from app.reporting import service as reporting
from app.routing import commands as cmd
from app.routing import live
from frontend.pages.live import WALLBOARD_READ, PoolBoard, pool_board, pool_figures, pool_names
from tenants import service as tenants
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_agent, make_staff, make_tenant, make_tenant_user, sign_in
from tests.integration.test_router import pool_name, running_router
from tests.reporting_traffic import presence_spans, recompute
from tests.routed import assign, make_queue, offered, presence_is, route, sse_events
from tests.sla_helpers import SlaSetup, evaluate_at, fold, play, record_contract, sla_tenant, target

PRESENCES = ("available", "offered", "on_contact", "wrap_up", "break", "offline")


@dataclass(frozen=True)
class Plan:
    """A tenant's traffic today and its service-level goal (None: no contract)."""

    prefix: str
    minimum: float | None
    answered: int
    abandoned: int


async def tenants_with_service_levels(*plans: Plan) -> list[SlaSetup]:
    """Tenants (clock near noon) with a day-window service level of 20 s, their traffic played through a router of
    their own, folded into the rollups and evaluated now. A day window has hours left: a low value so far
    projects below target without being out of reach (at risk)."""
    setups = [await sla_tenant(plan.prefix) for plan in plans]
    for setup, plan in zip(setups, plans, strict=True):
        if plan.minimum is not None:
            goal = target("service_level", "day", minimum=plan.minimum, within_seconds=20)
            await record_contract(setup.tenant_id, [goal])
    pool = pool_name()
    async with running_router(pool):
        for setup, plan in zip(setups, plans, strict=True):
            await play(pool, setup, answered=plan.answered, abandoned=plan.abandoned)
    now = utcnow()
    for setup in setups:
        await fold(setup.tenant_id)
        await evaluate_at(setup.tenant_id, now)
    return setups


@dataclass
class World:
    worst: SlaSetup  # 90% goal, 1 of 4 answered: at risk, 65 points short
    risky: SlaSetup  # 80% goal, 1 of 2: at risk, 30 points short
    steady: SlaSetup  # 80% goal, 2 of 2: met
    plain: SlaSetup  # no contract
    busy_tenant: uuid.UUID  # served by the session's router now
    on_contact: uuid.UUID
    wrapping_up: uuid.UUID
    free: uuid.UUID  # available, shared with `steady`
    away: uuid.UUID  # on break
    ops: str


@pytest.fixture(scope="module")
async def world(live_server: LiveServer, router_process: subprocess.Popen[bytes]) -> World:
    worst, risky, steady, plain = await tenants_with_service_levels(
        Plan("worst", 0.9, 1, 3), Plan("risky", 0.8, 1, 1), Plan("steady", 0.8, 2, 0), Plan("plain", None, 1, 0)
    )
    busy = await make_tenant("busy")
    queue_id = await make_queue(busy.id, "Claims", wrap_up_seconds=600)
    on_contact, wrapping_up, free, away = [(await make_agent(busy.id)).id for _ in range(4)]
    await assign(free, steady.tenant_id, "Shared")
    await route(cmd.Reconfigure())
    for agent_id, ends in ((on_contact, False), (wrapping_up, True)):
        contact = uuid.uuid4()
        await route(cmd.AgentPresence(agent_id=agent_id, state="available"))
        await route(cmd.ContactArrive(contact_id=contact, tenant_id=busy.id, queue_id=queue_id, caller="+15550100"))
        await offered(agent_id, contact)
        await route(cmd.OfferAccept(agent_id=agent_id, contact_id=contact))
        await presence_is(agent_id, "on_contact")
        if ends:
            await route(cmd.ContactEnd(agent_id=agent_id, contact_id=contact))
            await presence_is(agent_id, "wrap_up")
    await route(cmd.AgentPresence(agent_id=free, state="available"))
    await route(cmd.AgentPresence(agent_id=away, state="break", reason="lunch"))
    await presence_is(free, "available")
    await presence_is(away, "break")
    ops = (await make_staff("ops_manager")).email
    return World(worst, risky, steady, plain, busy.id, on_contact, wrapping_up, free, away, ops)


# --- reading the board ------------------------------------------------------------------------------


def _text(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)).strip())


@dataclass(frozen=True)
class Line:
    tenant_id: uuid.UUID
    name: str
    state: str  # the SLA state ("none": no contract in force)
    cells: dict[str, str]  # by class


def _lines(markup: str) -> list[Line]:
    """The wallboard's tenant rows, in order."""
    rows = re.findall(
        r'<tr id="tenant-([0-9a-f-]{36})" class="sla-(\w+)">\s*<th scope="row" class="tenant">(.*?)</th>(.*?)</tr>',
        markup,
        flags=re.S,
    )
    return [
        Line(
            uuid.UUID(tenant_id),
            _text(name),
            state,
            {
                cell: _text(value)
                for cell, value in re.findall(r'<td class="(\w+)(?: num)?"[^>]*>(.*?)</td>', cells, re.S)
            },
        )
        for tenant_id, state, name, cells in rows
    ]


async def _first_board(client: httpx.AsyncClient) -> str:
    async with client.stream("GET", "/operator/live/events") as response:
        assert response.status_code == 200
        events = sse_events(response)
        first = await anext(events)
        await events.aclose()
    assert first.name == "board"
    return first.data


async def _wallboard_reads(user_id: uuid.UUID) -> int:
    """How many audited cross-tenant reads the wallboard made for this person."""
    with acting_as(OPERATOR):
        entries = (await tenants.list_all_audit(cursor=None, limit=200, action="cross_tenant_read")).items
    return sum(1 for e in entries if e.actor_id == user_id and e.detail.get("reason") == WALLBOARD_READ)


def _check_order(lines: Sequence[Line], world: World) -> None:
    position = {line.tenant_id: index for index, line in enumerate(lines)}
    troubled = [line.state in ("at_risk", "breached") for line in lines]
    # Every tenant at risk or breached comes before every other one; the others go by name.
    assert troubled == sorted(troubled, reverse=True)
    others = [line.name.lower() for line in lines if line.state not in ("at_risk", "breached")]
    assert others == sorted(others)
    # Both at risk, the one further below its goal first (65 points short, then 30).
    assert position[world.worst.tenant_id] < position[world.risky.tenant_id] < troubled.count(True)
    assert position[world.steady.tenant_id] >= troubled.count(True)


# --- the tests --------------------------------------------------------------------------------------


async def test_tenants_at_risk_come_first_furthest_below_target_first(live_server: LiveServer, world: World) -> None:
    signed = await sign_in(live_server.url, world.ops)
    async with signed as client:
        page = await client.get("/operator/live")
        assert page.status_code == 200
        assert await _wallboard_reads(signed.user_id) == 1  # one audited read for the page
        stream = await _first_board(client)
    assert await _wallboard_reads(signed.user_id) == 3  # and the stream's first: names, figures
    for markup in (page.text, stream):
        lines = _lines(markup)
        _check_order(lines, world)
        by_tenant = {line.tenant_id: line for line in lines}
        worst = by_tenant[world.worst.tenant_id]
        assert worst.state == "at_risk"
        assert (worst.cells["value"], worst.cells["projected"], worst.cells["state"]) == ("25.0%", "25.0%", "At risk")
        assert worst.cells["target"].startswith("at least 90% within 20 s per day")
        risky = by_tenant[world.risky.tenant_id]
        assert (risky.state, risky.cells["value"], risky.cells["projected"]) == ("at_risk", "50.0%", "50.0%")
        steady = by_tenant[world.steady.tenant_id]
        assert (steady.state, steady.cells["projected"], steady.cells["state"]) == ("met", "100.0%", "On track")
        # The shared agent is available to both tenants it works for.
        assert steady.cells["available"] == "1"
        plain = by_tenant[world.plain.tenant_id]
        assert (plain.state, plain.cells["target"], plain.cells["value"]) == ("none", "No contract in force", "–")
        busy = by_tenant[world.busy_tenant].cells
        assert {k: busy[k] for k in ("waiting", "longest", "offered", "on_contact", "wrap_up", "available")} == {
            "waiting": "0",
            "longest": "–",
            "offered": "0",
            "on_contact": "1",
            "wrap_up": "1",
            "available": "1",
        }


async def test_pool_occupancy_and_tenant_shares_equal_an_independent_computation(world: World) -> None:
    # The presence log folded into the rollups (the reporting worker's job).
    async with get_database().session() as session:
        await reporting.update_presence(session, wait=True)
    now = utcnow()
    with acting_as(OPERATOR):
        async with tenants.cross_tenant_read("wallboard test") as reader:
            names, figures = await pool_names(reader), await pool_figures(reader, now)
    board: PoolBoard = await pool_board(names, figures)

    # Now: every agent of the session's router by presence (no view: offline), from its views in Redis.
    views = await live.agent_views(get_redis(), None, get_settings().router_pool)
    async with get_database().session() as session:
        every_agent = [row[0] for row in await session.execute(sa.text("SELECT id FROM agents"))]
    expected = dict.fromkeys(PRESENCES, 0)
    for view in views:
        expected[view.presence] += 1
    expected["offline"] += len(set(every_agent) - {view.agent_id for view in views})
    assert dict(board.capacity.counts) == expected
    assert expected["on_contact"] >= 1 and expected["wrap_up"] >= 1 and expected["break"] >= 1
    working = expected["available"] + expected["offered"] + expected["on_contact"] + expected["wrap_up"]
    assert (board.capacity.signed_on, board.capacity.working) == (working + expected["break"], working)
    assert board.capacity.occupancy == pytest.approx((expected["on_contact"] + expected["wrap_up"]) / working)

    # This hour: every agent's closed spans of presence from the raw log, cut at 15-minute boundaries.
    hour = now.replace(minute=0, second=0, microsecond=0)
    seconds = dict.fromkeys(PRESENCES, 0.0)
    for (_, bucket), states in (await presence_spans(every_agent)).items():
        if hour <= bucket < hour + dt.timedelta(hours=1):
            for state, amount in states.items():
                seconds[state] += float(amount)
    busy, working_seconds = seconds["on_contact"] + seconds["wrap_up"], seconds["available"] + seconds["offered"]
    working_seconds += busy
    assert busy > 0
    hour_seconds = board.capacity.hour
    assert (hour_seconds.available, hour_seconds.offered, hour_seconds.on_contact) == pytest.approx(
        (seconds["available"], seconds["offered"], seconds["on_contact"])
    )
    assert (hour_seconds.wrap_up, hour_seconds.on_break) == pytest.approx((seconds["wrap_up"], seconds["break"]))
    assert board.capacity.hour.occupancy == pytest.approx(busy / working_seconds)
    assert board.capacity.hour.utilisation == pytest.approx(working_seconds / (working_seconds + seconds["break"]))

    # Today: each tenant's talk, hold and wrap-up over every tenant's, from the rollups' agent rows...
    day = hour.replace(hour=0)
    with acting_as(OPERATOR):
        async with tenants.cross_tenant_read("wallboard test: every tenant's busy time") as reader:
            rows = await reader.execute(
                sa.text(
                    "SELECT tenant_id, sum(talk_seconds_sum + hold_seconds_sum + wrap_seconds_sum)"
                    " FROM interval_rollups WHERE agent_id IS NOT NULL"
                    " AND interval_start >= :day AND interval_start < :day + interval '1 day' GROUP BY tenant_id"
                ),
                {"day": day},
            )
            busy_today = {tenant_id: float(total) for tenant_id, total in rows}
    total = sum(busy_today.values())
    shares = {line.tenant_id: line.share_today for line in board.lines}
    for tenant_id, share in shares.items():
        assert share == pytest.approx(busy_today.get(tenant_id, 0.0) / total)
    # ... and the tenants' rollups are their raw events': the same busy seconds recomputed from the log.
    for setup in (world.worst, world.risky, world.steady, world.plain):
        raw = sum(
            float(row["talk_seconds_sum"] + row["hold_seconds_sum"] + row["wrap_seconds_sum"])
            for (bucket, _, agent_id), row in (await recompute(setup.tenant_id)).items()
            if agent_id is not None and day <= bucket < day + dt.timedelta(days=1)
        )
        assert raw > 0 and busy_today[setup.tenant_id] == pytest.approx(raw)
        assert shares[setup.tenant_id] == pytest.approx(raw / total)


@pytest.mark.parametrize("role", ["tenant_admin", "supervisor", "report_viewer", "agent"])
async def test_tenant_roles_cannot_open_the_wallboard(live_server: LiveServer, world: World, role: str) -> None:
    if role == "agent":
        email = (await make_agent(world.worst.tenant_id)).email
    else:
        email = (await make_tenant_user(world.worst.tenant_id, role)).email
    signed = await sign_in(live_server.url, email)
    async with signed as client:
        for path in ("/operator/live", "/operator/live/events"):
            response = await client.get(path)
            assert response.status_code == 403, (role, path)
            for other in (world.risky, world.steady, world.plain):
                assert str(other.tenant_id) not in response.text
    # Refused before anything was read.
    assert await _wallboard_reads(signed.user_id) == 0
