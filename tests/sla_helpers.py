"""Helpers of the SLA tests: a tenant with a contract, real traffic through a router, rollups, evaluations.

Traffic is played through a real router (``tests.integration.test_router.running_router``) on a pool of the
test's own, so the interaction events are the router's; the reporting rollups are then folded from them
(``app.reporting.service.update_rollups``) and the SLA evaluation reads the rollups, as in production.
Waits through a real router are short (well under a second): answered contacts are answered within any
target, abandoned ones abandoned within it (and, with a short-abandon threshold of 0, never "short").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.reporting import service as reporting
from app.routing import commands as cmd
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.sla import schemas, service
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tests.factories import OPERATOR, make_agent, make_tenant
from tests.integration.test_router import contact_in, eventually, offer_for, submit

QUARTER = dt.timedelta(minutes=15)


def noon_timezone(now: dt.datetime | None = None) -> str:
    """A fixed-offset zone whose local time is near noon now: local midnight (day windows) is hours away."""
    offset = (12 - (now or utcnow()).hour) % 24
    offset = offset - 24 if offset > 12 else offset
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT-{offset}" if offset > 0 else f"Etc/GMT+{-offset}"


@dataclass(frozen=True)
class SlaSetup:
    tenant_id: uuid.UUID
    queue_id: uuid.UUID
    agent_id: uuid.UUID
    timezone: str


async def sla_tenant(prefix: str = "sla", *, agent_id: uuid.UUID | None = None) -> SlaSetup:
    """A tenant (its clock near noon) with one voice queue and one agent (a new one, or ``agent_id`` shared)."""
    tenant = await make_tenant(prefix)
    zone = noon_timezone()
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            row = await tenants.get_tenant(session, tenant.id, OPERATOR)
            await tenants.update_tenant(session, row, tenant_schemas.TenantUpdate(timezone=zone))
            queue = await routing.create_queue(session, routing_schemas.QueueCreate(name="support"))
    if agent_id is None:
        agent_id = (await make_agent(tenant.id)).id
    else:
        with acting_as(OPERATOR):
            async with get_database().session() as session:
                await tenants.assign_agent(
                    session, agent_id, tenant_schemas.AgentAssign(tenant_id=tenant.id, alias="Shared")
                )
    return SlaSetup(tenant.id, queue.id, agent_id, zone)


def target(measure: str, window: str = "15min", **goal: Any) -> schemas.TargetIn:
    return schemas.TargetIn(measure=measure, window=window, **goal)  # type: ignore[arg-type]


async def record_contract(
    tenant_id: uuid.UUID,
    targets: Sequence[schemas.TargetIn],
    *,
    definition: str = "offered_less_short_abandons",
    short_abandon_seconds: int = 0,
) -> schemas.ContractOut:
    """A contract version in force from today (the tenant's), recorded by the operator."""
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            today = await service.today(session)
            return await service.create_contract_version(
                session,
                schemas.ContractCreate(
                    effective_from=today,
                    definition=definition,  # type: ignore[arg-type]
                    short_abandon_seconds=short_abandon_seconds,
                    targets=list(targets),
                ),
            )


async def clear_of_interval_end(margin_seconds: float = 60.0) -> None:
    """Waits out the end of the current 15-minute interval when it is near, so what follows stays in one."""
    now = utcnow()
    start = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)
    left = (start + QUARTER - now).total_seconds()
    if left < margin_seconds:
        await asyncio.sleep(left + 1)


async def play(pool: str, setup: SlaSetup, *, answered: int, abandoned: int) -> list[uuid.UUID]:
    """``abandoned`` callers hang up while no agent is available, then ``answered`` are answered and resolved."""
    contacts = []
    await submit(pool, cmd.Reconfigure())
    # Away while callers give up (a shared agent may still be available from another tenant's traffic).
    await submit(pool, cmd.AgentPresence(agent_id=setup.agent_id, state="break", reason="away"))
    for _ in range(abandoned):
        contact = uuid.uuid4()
        await submit(pool, cmd.ContactArrive(contact_id=contact, tenant_id=setup.tenant_id, queue_id=setup.queue_id))
        await contact_in(pool, contact, "waiting")
        await submit(pool, cmd.ContactAbandon(contact_id=contact))
        contacts.append(contact)
    await submit(pool, cmd.AgentPresence(agent_id=setup.agent_id, state="available"))
    for _ in range(answered):
        contact = uuid.uuid4()
        await submit(pool, cmd.ContactArrive(contact_id=contact, tenant_id=setup.tenant_id, queue_id=setup.queue_id))
        assert (await offer_for(pool, setup.agent_id)).contact_id == contact
        await submit(pool, cmd.OfferAccept(agent_id=setup.agent_id, contact_id=contact))
        await contact_in(pool, contact, "connected")
        await submit(pool, cmd.ContactEnd(agent_id=setup.agent_id, contact_id=contact))
        await submit(pool, cmd.WrapUpFinish(agent_id=setup.agent_id, contact_id=contact, disposition="resolved"))
        contacts.append(contact)
    await _settled(setup.tenant_id, contacts)
    return contacts


async def _settled(tenant_id: uuid.UUID, contacts: Sequence[uuid.UUID]) -> None:
    """Until the router has committed every contact's outcome (and the answered ones' disposition)."""

    async def probe() -> bool:
        with acting_as(system_principal(tenant_id)):
            async with get_database().session() as session:
                done = await session.execute(
                    sa.text(
                        "SELECT count(*) FROM interactions WHERE id = ANY(:ids) "
                        "AND (state = 'abandoned' OR (state = 'ended' AND disposition IS NOT NULL))"
                    ),
                    {"ids": list(contacts)},
                )
                return done.scalar_one() == len(contacts)

    await eventually(probe, what="the contacts' outcomes committed")


async def arrival_interval(tenant_id: uuid.UUID, contacts: Sequence[uuid.UUID]) -> dt.datetime:
    """The one 15-minute interval the contacts arrived in."""
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            rows = await session.execute(
                sa.text(
                    "SELECT DISTINCT date_bin('15 minutes', arrived_at, TIMESTAMPTZ 'epoch') FROM interactions "
                    "WHERE id = ANY(:ids)"
                ),
                {"ids": list(contacts)},
            )
            (start,) = [row[0] for row in rows]
    return start.astimezone(dt.UTC)


async def fold(tenant_id: uuid.UUID) -> None:
    """The reporting rollups brought up to date with the tenant's events (the reporting worker's job)."""
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            await reporting.update_rollups(session, wait=True)


async def evaluate_at(tenant_id: uuid.UUID, now: dt.datetime) -> service.Run:
    """One evaluation of the tenant's targets, as the periodic job runs it."""
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return await service.evaluate(session, now)
