"""Monthly close for 50 tenants: metering of a month of contacts, then each tenant's close (its draft invoice).

`tenline bench billing [--quick] [--json]`. Provisions its own database and Redis as the test suite does, makes
50 tenants (one queue and one agent each) with rate cards of three kinds in turn (per handled minute with
wrap-up, a platform fee and a minimum commitment; per handled contact with volume tiers and tax; graduated voice
minutes with a new version from the 16th), and last month's contacts: 5,000,000 in all (--quick 200,000;
TENLINE_BENCH_BILLING_INTERACTIONS overrides the count), spread evenly over the tenants and the month.

Where the data goes, and why: the contacts are written as the router leaves them, into ``interactions``,
``interaction_events`` (arrived, answered, ended) and ``agent_state_changes`` (on contact, wrap-up, available),
with ``INSERT ... SELECT FROM generate_series`` as the owner role (in each tenant's RLS context, one statement
per tenant and table). Not into what metering reads: metering then runs as in production (``billing.service.meter_usage``
per tenant, the reporting fold of each contact's events and its agent's wrap-up, usage records and daily
summaries), so its cost is measured rather than skipped.

Timed, in this process, one tenant after another as the per-tenant jobs run them:
- ``metering_wall_seconds``: every tenant metered until a run finds nothing (each run commits at most
  ``CONTACTS_PER_RUN`` contacts, as the periodic job does);
- ``close_wall_seconds``: ``billing.invoicing.close_and_draft`` for last month, for each of the 50 tenants.
``peak_rss_mb`` is this process's peak resident set (``VmHWM`` in /proc/self/status, the same as
``ru_maxrss``): metering and the close both run here. Generation time is reported apart (``generate_seconds``).
Everything shares the machine's cores with PostgreSQL; ``cpu_count`` and the load before the run are reported.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import resource
import time
import uuid
from decimal import Decimal
from typing import Any

import psycopg

from app.core.clock import utcnow
from app.core.db import configure_database, get_database, reset_database
from app.core.redis import configure_redis, get_redis
from app.core.tenancy import acting_as, system_principal
from billing import invoicing
from billing import service as billing
from billing.models import RateCardVersion
from tests.conftest import ROOT, Services, provisioned_services
from tests.factories import make_agent, make_tenant
from tests.routed import make_queue

TENANTS = 50
INTERACTIONS = 5_000_000
QUICK_INTERACTIONS = 200_000
SEQ_STRIDE = 10  # log sequence numbers per contact: its events and its agent's presence changes

_CARDS: list[list[tuple[int, str, Decimal, dict[str, Any]]]] = [
    [
        (
            0,
            "EUR",
            Decimal(0),
            {
                "charges": [
                    {
                        "kind": "handled_minutes",
                        "id": "minutes",
                        "include_wrap_up": True,
                        "pricing": {"kind": "flat", "unit_price": "0.85"},
                    },
                    {"kind": "platform_fee", "id": "platform", "amount_minor": 150_000},
                    {"kind": "minimum_commitment", "id": "commitment", "amount_minor": 5_000_000},
                ],
                "sla_credits": [],
            },
        )
    ],
    [
        (
            0,
            "USD",
            Decimal("8.875"),
            {
                "charges": [
                    {
                        "kind": "handled_contacts",
                        "id": "contacts",
                        "pricing": {
                            "kind": "volume",
                            "tiers": [
                                {"up_to": "20000", "unit_price": "4.00"},
                                {"up_to": "80000", "unit_price": "3.50"},
                                {"up_to": None, "unit_price": "3.00"},
                            ],
                        },
                    }
                ],
                "sla_credits": [],
            },
        )
    ],
    [
        (
            day,
            "JPY",
            Decimal(10),
            {
                "charges": [
                    {
                        "kind": "handled_minutes",
                        "id": "voice",
                        "channels": ["voice"],
                        "pricing": {
                            "kind": "graduated",
                            "tiers": [
                                {"up_to": "100000", "unit_price": str(first)},
                                {"up_to": "300000", "unit_price": str(second)},
                                {"up_to": None, "unit_price": str(third)},
                            ],
                        },
                    }
                ],
                "sla_credits": [],
            },
        )
        for day, (first, second, third) in ((0, (60, 45, 30)), (15, (55, 40, 25)))
    ],
]

# One statement per tenant and table; contact g (1..n) ends at :start + g * :step seconds and is folded by the
# same numbers in all three (talk 60..599 s, every third held 5..94 s, wrap-up 0..59 s, waits 1..30 s).
_CONTACTS = f"""
WITH c AS (
    SELECT g, md5(%(tenant)s::text || '-' || g)::uuid AS id,
           %(start)s::timestamptz + make_interval(secs => g * %(step)s) AS ended,
           60 + (g * 37) %% 540 AS talk,
           CASE WHEN g %% 3 = 0 THEN 5 + (g * 11) %% 90 ELSE 0 END AS hold,
           (g * 13) %% 60 AS wrap,
           1 + (g * 7) %% 30 AS wait,
           %(seq)s::bigint + g * {SEQ_STRIDE} AS seq
    FROM generate_series(1, %(count)s) AS g
)
"""
_INTERACTIONS = (
    _CONTACTS
    + """
INSERT INTO interactions (tenant_id, id, queue_id, channel, state, caller, context, agent_id, arrived_at, answered_at,
                          ended_at, hold_seconds, transfers, updated_at)
SELECT %(tenant)s, id, %(queue)s, 'voice', 'ended', '', '{}'::jsonb, %(agent)s,
       ended - make_interval(secs => talk + hold + wait), ended - make_interval(secs => talk + hold), ended, hold, 0,
       ended
FROM c
"""
)
_EVENTS = (
    _CONTACTS
    + """
INSERT INTO interaction_events (tenant_id, id, interaction_id, log_seq, position, type, at, agent_id, queue_id, data)
SELECT %(tenant)s, gen_random_uuid(), id, seq + step.n, 0, step.type,
       ended - make_interval(secs => step.before), step.agent, %(queue)s, '{}'::jsonb
FROM c CROSS JOIN LATERAL (VALUES
    (0, 'arrived', talk + hold + wait, NULL::uuid),
    (1, 'answered', talk + hold, %(agent)s::uuid),
    (2, 'ended', 0, %(agent)s::uuid)
) AS step(n, type, before, agent)
"""
)
_PRESENCE = (
    _CONTACTS
    + """
INSERT INTO agent_state_changes (id, agent_id, log_seq, state, reason, at)
SELECT gen_random_uuid(), %(agent)s, seq + step.n, step.state, '', step.at
FROM c CROSS JOIN LATERAL (VALUES
    (1, 'on_contact', ended - make_interval(secs => talk + hold)),
    (2, 'wrap_up', ended),
    (3, 'available', ended + make_interval(secs => wrap))
) AS step(n, state, at)
"""
)


def _last_month() -> tuple[dt.date, dt.datetime, int]:
    """Last month (UTC, the tenants' zone): its first day, its start and its length in seconds."""
    today = utcnow().date()
    first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(today.replace(day=1), dt.time(), tzinfo=dt.UTC)
    return first, start, int((end - start).total_seconds())


async def _seed(month: dt.date) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
    """The tenants, each with a queue, an agent and its rate card versions: (tenant, queue, agent)."""
    made = []
    for n in range(TENANTS):
        tenant = await make_tenant(f"bill-{n:02d}")
        queue_id = await make_queue(tenant.id, "billed", wrap_up_seconds=60)
        agent_id = (await make_agent(tenant.id)).id
        with acting_as(system_principal(tenant.id)):
            async with get_database().session() as session:
                for version, (day, currency, tax, terms) in enumerate(_CARDS[n % len(_CARDS)], 1):
                    session.add(
                        RateCardVersion(
                            version=version,
                            effective_from=month + dt.timedelta(days=day),
                            currency=currency,
                            tax_rate_percent=tax,
                            terms=terms,
                        )
                    )
                await session.commit()
        made.append((tenant.id, queue_id, agent_id))
    return made


def _generate(owner_url: str, tenants: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]], total: int) -> None:
    _, start, seconds = _last_month()
    per_tenant = total // len(tenants)
    with psycopg.connect(owner_url) as conn, conn.cursor() as cur:
        for n, (tenant_id, queue_id, agent_id) in enumerate(tenants):
            parameters = {
                "tenant": tenant_id,
                "queue": queue_id,
                "agent": agent_id,
                "start": start,
                "step": (seconds - 3600) / per_tenant,  # the last contact's wrap-up ends inside the month
                "count": per_tenant,
                "seq": n * (per_tenant + 1) * SEQ_STRIDE,
            }
            # RLS is forced on the owner too: each tenant's rows are written in its own tenant context.
            cur.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant_id),))
            for statement in (_INTERACTIONS, _EVENTS, _PRESENCE):
                cur.execute(statement, parameters)
            conn.commit()
        cur.execute("ANALYZE interactions; ANALYZE interaction_events; ANALYZE agent_state_changes")


async def _meter(tenant_id: uuid.UUID) -> int:
    metered = 0
    with acting_as(system_principal(tenant_id)):
        while True:
            async with get_database().session() as session:
                run = await billing.meter_usage(session, wait=True)
            metered += run.contacts
            if not run.contacts:
                return metered


async def _close(tenant_id: uuid.UUID, month: dt.date) -> int:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            invoice = await invoicing.close_and_draft(session, month)
    if invoice is None:
        raise AssertionError(f"no invoice drafted for tenant {tenant_id}")
    return invoice.total_minor


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def _measure(services: Services, total: int) -> dict[str, Any]:
    month, _, _ = _last_month()
    load_average = os.getloadavg()[0]
    tenants = await _seed(month)
    began = time.perf_counter()
    await asyncio.to_thread(_generate, services.owner_url, tenants, total)
    generate_seconds = time.perf_counter() - began
    interactions = total // TENANTS * TENANTS

    began = time.perf_counter()
    metered = [await _meter(tenant_id) for tenant_id, _, _ in tenants]
    metering_seconds = time.perf_counter() - began
    if sum(metered) != interactions:
        raise AssertionError(f"metered {sum(metered)} contacts of {interactions}")

    began = time.perf_counter()
    totals = [await _close(tenant_id, month) for tenant_id, _, _ in tenants]
    close_seconds = time.perf_counter() - began
    if not all(amount > 0 for amount in totals):
        raise AssertionError("every tenant's invoice bills its month")
    return {
        "tenants": TENANTS,
        "interactions": interactions,
        "metering_wall_seconds": round(metering_seconds, 2),
        "metering_contacts_per_second": round(interactions / metering_seconds),
        "close_wall_seconds": round(close_seconds, 3),
        "close_seconds_per_tenant": round(close_seconds / TENANTS, 4),
        "peak_rss_mb": _peak_rss_mb(),
        "generate_seconds": round(generate_seconds, 2),
        "data_source": "interactions + interaction_events + agent_state_changes (generate_series, owner role)",
        "cpu_count": os.cpu_count(),
        "load_average_before": round(load_average, 2),
    }


async def _run(services: Services, total: int) -> dict[str, Any]:
    configure_database(services.app_url, pool_size=2)
    configure_redis(services.redis_url)
    try:
        return await _measure(services, total)
    finally:
        await get_redis().aclose()
        await reset_database()


def run(quick: bool = False) -> dict[str, Any]:
    override = os.environ.get("TENLINE_BENCH_BILLING_INTERACTIONS")
    total = int(override) if override else QUICK_INTERACTIONS if quick else INTERACTIONS
    with provisioned_services(ROOT / ".tenline" / "bench", "tenline_bench") as services:
        return asyncio.run(_run(services, total))
