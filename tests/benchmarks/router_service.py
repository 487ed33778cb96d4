"""The reference center's busy hour through the full router service, with PostgreSQL and Redis.

`tenline bench router_service [--quick] [--json]`. It provisions its own database and Redis as the test
suite does, loads the reference center (`../shared/reference-center.json`: 40 tenants, their queues,
1,500 agents in their skill groups, assigned to the tenants they are certified for with their
proficiency) straight into the tables, and starts a real `tenline router` process.

The busy hour is the four consecutive 15-minute intervals with the most contacts: about 10,200 contacts
spread over tenants and queues by their shares. They are pushed through in compressed time: callers
arrive as fast as the router takes them (at most `BACKLOG` unfinished at once), and one driver plays
all 1,500 agents, answering every offer, ending every contact and recording a disposition as soon as
the live state shows it. So each contact costs the router four commands (arrive, accept, end, wrap
up), an offer decision, and its rows in PostgreSQL (interaction, five events, presence changes, the
log), and the figure is the router's own sustained rate: `contacts_per_second`, complete contacts
over wall time. The real busy hour needs `busy_hour_contacts / 3600` per second; `headroom` is the
ratio of the two. At the end every contact must be in PostgreSQL as ended with its disposition.

--quick runs 1,000 contacts.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

import psycopg

from app.routing import commands as cmd
from app.routing import live
from tests.conftest import ROOT, Services, provisioned_services, start_process, stop_process

REFERENCE = ROOT / "tests" / "data" / "reference-center.json"  # a copy of ../shared/reference-center.json
BACKLOG = 1_000
QUICK_CONTACTS = 1_000


def busy_hour(center: dict[str, Any]) -> tuple[int, list[tuple[str, str, float]]]:
    """Contacts in the busiest hour, and (tenant, queue, share of contacts) for every queue."""
    weights = center["intraday_weights"]
    per_hour = max(sum(weights[i : i + 4]) for i in range(len(weights) - 3))
    shares = [
        (tenant["id"], queue["name"], tenant["share"] * queue["share"])
        for tenant in center["tenants"]
        for queue in tenant["queues"]
    ]
    return round(center["day_contacts"] * per_hour), shares


def load_center(
    owner_url: str, center: dict[str, Any]
) -> tuple[dict[str, uuid.UUID], dict[tuple[str, str], uuid.UUID], list[uuid.UUID]]:
    """Tenants, queues, agents, assignments and skills of the reference center, inserted as the owner."""
    tenants = {t["id"]: uuid.uuid4() for t in center["tenants"]}
    queues = {(t["id"], q["name"]): uuid.uuid4() for t in center["tenants"] for q in t["queues"]}
    agents: list[tuple[uuid.UUID, dict[str, Any]]] = []
    for group in center["agent_groups"]:
        agents += [(uuid.uuid4(), group) for _ in range(group["count"])]
    with psycopg.connect(owner_url, autocommit=False) as conn, conn.cursor() as cur:
        operator = uuid.uuid4()
        cur.execute("INSERT INTO operators (id, name, created_at) VALUES (%s, 'Reference center', now())", (operator,))
        for tenant in center["tenants"]:
            cur.execute(
                "INSERT INTO tenants (id, operator_id, slug, name, status, timezone, locale, business_hours, holidays,"
                " version, created_at, updated_at) VALUES (%s, %s, %s, %s, 'active', 'UTC', 'en-US', '{}', '[]', 1,"
                " now(), now())",
                (tenants[tenant["id"]], operator, f"ref-{tenant['id']}", tenant["name"]),
            )
        for n, (agent_id, group) in enumerate(agents):
            user_id = uuid.uuid4()
            cur.execute(
                "INSERT INTO users (id, email, display_name, is_active, created_at) VALUES (%s, %s, %s, true, now())",
                (user_id, f"ref-agent-{n}@reference.example", f"Agent {n}"),
            )
            cur.execute(
                "INSERT INTO agents (id, user_id, employee_code, site, chat_capacity, is_active, created_at)"
                " VALUES (%s, %s, %s, %s, 0, true, now())",
                (agent_id, user_id, f"R-{n:05}", group["name"]),
            )
        for tenant in center["tenants"]:
            tenant_id = tenants[tenant["id"]]
            # The owner is subject to row-level security too: each tenant's rows in its own context.
            cur.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant_id),))
            for queue in tenant["queues"]:
                cur.execute(
                    "INSERT INTO queues (tenant_id, id, name, channel, priority, skills, relaxation,"
                    " required_attributes, answer_target_seconds, target_service_level, wrap_up_seconds,"
                    " is_active, version, script, created_at, updated_at) VALUES (%s, %s, %s, 'voice', 0,"
                    " %s, '[]', '[]', %s, %s, 0, true, 1, '', now(), now())",
                    (
                        tenant_id,
                        queues[tenant["id"], queue["name"]],
                        queue["name"],
                        json.dumps({"program": 1}),
                        tenant["sla"]["answer_target_seconds"],
                        tenant["sla"]["service_level"],
                    ),
                )
            for n, (agent_id, group) in enumerate(agents):
                level = group["proficiency"].get(tenant["id"])
                if level is None:
                    continue
                cur.execute(
                    "INSERT INTO agent_assignments (tenant_id, id, agent_id, alias, created_at)"
                    " VALUES (%s, %s, %s, %s, now())",
                    (tenant_id, uuid.uuid4(), agent_id, f"Agent {n}"),
                )
                cur.execute(
                    "INSERT INTO agent_skills (tenant_id, id, agent_id, skill, proficiency, created_at, updated_at)"
                    " VALUES (%s, %s, %s, 'program', %s, now(), now())",
                    (tenant_id, uuid.uuid4(), agent_id, level),
                )
        conn.commit()
    return tenants, queues, [agent_id for agent_id, _ in agents]


async def drive(
    services: Services,
    pool: str,
    contacts: int,
    shares: list[tuple[str, str, float]],
    tenants: dict[str, uuid.UUID],
    queues: dict[tuple[str, str], uuid.UUID],
    agents: list[uuid.UUID],
) -> tuple[float, int]:
    """Plays callers and agents until every contact is wrapped up; returns wall seconds and commands sent."""
    import redis.asyncio as aioredis

    redis = aioredis.Redis.from_url(services.redis_url)
    rng = random.Random(7)
    weights = [share for _, _, share in shares]
    sent = 0
    try:
        await cmd.submit(redis, cmd.Reconfigure(), pool=pool)
        await cmd.submit_many(redis, [cmd.AgentPresence(agent_id=a, state="available") for a in agents], pool=pool)
        await wait_for_agents(redis, pool, agents)
        submitted = 0
        handled: set[uuid.UUID] = set()
        acted: set[tuple[str, uuid.UUID]] = set()
        start = time.perf_counter()
        while len(handled) < contacts:
            batch: list[cmd.Command] = []
            room = min(contacts - submitted, BACKLOG - (submitted - len(handled)), 500)
            for _ in range(max(room, 0)):
                tenant, queue, _ = rng.choices(shares, weights)[0]
                batch.append(
                    cmd.ContactArrive(
                        contact_id=uuid.uuid4(), tenant_id=tenants[tenant], queue_id=queues[tenant, queue]
                    )
                )
            submitted += max(room, 0)
            for view in await live.agent_views(redis, agents, pool):
                if view.offer is not None and ("accept", view.offer.contact_id) not in acted:
                    acted.add(("accept", view.offer.contact_id))
                    batch.append(cmd.OfferAccept(agent_id=view.agent_id, contact_id=view.offer.contact_id))
                for contact_id in view.contacts:
                    if ("end", contact_id) not in acted:
                        acted.add(("end", contact_id))
                        batch.append(cmd.ContactEnd(agent_id=view.agent_id, contact_id=contact_id))
                for contact_id in view.pending_dispositions:
                    if contact_id not in handled:
                        handled.add(contact_id)
                        batch.append(
                            cmd.WrapUpFinish(agent_id=view.agent_id, contact_id=contact_id, disposition="resolved")
                        )
            await cmd.submit_many(redis, batch, pool=pool)
            sent += len(batch)
            if not batch:
                await asyncio.sleep(0.005)
        # The last dispositions are committed when the router has read them.
        await wait_until_empty(redis, pool, agents)
        return time.perf_counter() - start, sent
    finally:
        await redis.aclose()


async def wait_for_agents(redis: Any, pool: str, agents: list[uuid.UUID]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        views = await live.agent_views(redis, agents, pool)
        if sum(v.presence == "available" for v in views) == len(agents):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the agents never became available: is the router running?")


async def wait_until_empty(redis: Any, pool: str, agents: list[uuid.UUID]) -> None:
    while any(v.pending_dispositions for v in await live.agent_views(redis, agents, pool)):
        await asyncio.sleep(0.01)


def run(quick: bool = False) -> dict[str, Any]:
    center = json.loads(REFERENCE.read_text())
    busy, shares = busy_hour(center)
    contacts = QUICK_CONTACTS if quick else busy
    with provisioned_services(ROOT / ".tenline" / "bench", "tenline_bench") as services:
        pool = services.env["TENLINE_ROUTER_POOL"]
        tenants, queues, agents = load_center(services.owner_url, center)
        log = ROOT / ".tenline" / "bench" / f"{pool}-router.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        router = start_process(["router"], {**services.env, "TENLINE_LOG_LEVEL": "WARNING"}, log)
        try:
            wall, commands = asyncio.run(drive(services, pool, contacts, shares, tenants, queues, agents))
        finally:
            stop_process(router)
        with psycopg.connect(services.admin_url.rsplit("/", 1)[0] + "/" + services.database) as conn:
            ended = conn.execute(
                "SELECT count(*) FROM interactions WHERE state = 'ended' AND disposition IS NOT NULL"
            ).fetchone()
            events = conn.execute("SELECT count(*) FROM interaction_events").fetchone()
    assert ended is not None and events is not None
    if ended[0] != contacts:
        raise RuntimeError(f"{contacts} contacts driven but {ended[0]} recorded as ended with a disposition")
    needed = busy / 3600
    per_second = contacts / wall
    return {
        "contacts": contacts,
        "agents": len(agents),
        "tenants": len(tenants),
        "queues": len(queues),
        "wall_seconds": round(wall, 3),
        "contacts_per_second": round(per_second, 1),
        "commands_per_second": round(commands / wall, 1),
        "interaction_events": events[0],
        "busy_hour_contacts": busy,
        "busy_hour_contacts_per_second": round(needed, 3),
        "headroom": round(per_second / needed, 1),
    }
