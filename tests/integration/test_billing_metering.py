"""Metering: usage records and daily summaries from handled contacts, each contact billed once, late ones as
adjustments in the next open period.

Two sources: contacts written directly as the router writes them (exact times, a previous month, wrap-ups
still running), and traffic from the real router, checked against talk, hold and wrap-up computed here with
SQL of our own from ``interaction_events`` and ``agent_state_changes``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.core.db import get_database
from app.core.errors import ConflictError
from app.core.tenancy import acting_as, system_principal
from app.routing.models import AgentStateChange, Interaction, InteractionEvent
from billing import service as billing
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tests.factories import OPERATOR, make_agent, make_tenant
from tests.reporting_traffic import SEGMENT_TIMES, SEGMENTS_CTE, fold_all, generate, make_center
from tests.routed import make_queue

ZONE = "America/New_York"
S = Decimal  # exact seconds


async def _rows(tenant_id: uuid.UUID, sql: str, **params: Any) -> list[Any]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return list((await session.execute(sa.text(sql), {"tenant": tenant_id, **params})).all())


async def meter(tenant_id: uuid.UUID) -> billing.MeteringRun:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return await billing.meter_usage(session, wait=True)


async def meter_all(tenant_id: uuid.UUID) -> int:
    """Runs metering until a run has nothing left; the records written."""
    recorded = 0
    while True:
        run = await meter(tenant_id)
        recorded += run.recorded
        if not run.contacts:
            return recorded


async def records(tenant_id: uuid.UUID) -> dict[uuid.UUID, Any]:
    rows = await _rows(
        tenant_id,
        "SELECT r.interaction_id, r.measure, r.day, p.first_day AS period, r.channel, r.queue_id, r.agent_id,"
        " r.talk_seconds, r.hold_seconds, r.wrap_seconds, r.outbound_attempts, r.late"
        " FROM usage_records r JOIN billing_periods p ON p.tenant_id = r.tenant_id AND p.id = r.period_id"
        " WHERE r.tenant_id = :tenant",
    )
    return {row.interaction_id: row for row in rows}


async def daily(tenant_id: uuid.UUID) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    rows = await _rows(
        tenant_id,
        "SELECT p.first_day, d.day, d.channel, d.queue_id, d.contacts, d.talk_seconds, d.hold_seconds,"
        " d.wrap_seconds, d.outbound_attempts"
        " FROM usage_daily d JOIN billing_periods p ON p.tenant_id = d.tenant_id AND p.id = d.period_id"
        " WHERE d.tenant_id = :tenant",
    )
    return {tuple(row[:4]): tuple(row[4:]) for row in rows}


def summed(expected: dict[uuid.UUID, Any]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Daily summaries as they should be: records grouped by (period, day, channel, queue), summed here."""
    sums: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, S(0), S(0), S(0), 0])
    for record in expected.values():
        total = sums[(record.period, record.day, record.channel, record.queue_id)]
        total[0] += 1
        total[1] += record.talk_seconds
        total[2] += record.hold_seconds
        total[3] += record.wrap_seconds
        total[4] += record.outbound_attempts
    return {key: tuple(value) for key, value in sums.items()}


async def rewind(tenant_id: uuid.UUID, *, seats: bool = False) -> None:
    """Replays every event: the checkpoint back to the start of the log (and of the seat days, with ``seats``)."""
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            await session.execute(sa.text("UPDATE billing_checkpoints SET log_seq = 0, position = 0"))
            if seats:
                await session.execute(sa.text("UPDATE billing_checkpoints SET seats_metered_through = NULL"))
            await session.commit()


# --- contacts written as the router writes them ---------------------------------------------------------


@dataclasses.dataclass
class Desk:
    tenant_id: uuid.UUID
    queue_id: uuid.UUID
    agents: list[uuid.UUID]
    zone: ZoneInfo
    next_seq: int = 100

    def seq(self) -> int:
        self.next_seq += 10
        return self.next_seq


@dataclasses.dataclass(frozen=True)
class Expected:
    period: dt.date
    day: dt.date
    channel: str
    queue_id: uuid.UUID
    talk_seconds: Decimal
    hold_seconds: Decimal
    wrap_seconds: Decimal
    outbound_attempts: int = 0


async def make_desk(name: str) -> Desk:
    tenant = await make_tenant(name)
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            row = await tenants.get_tenant(session, tenant.id, OPERATOR)
            await tenants.update_tenant(session, row, tenant_schemas.TenantUpdate(timezone=ZONE))
    queue_id = await make_queue(tenant.id, "billing-desk", wrap_up_seconds=30)
    agents = [(await make_agent(tenant.id)).id for _ in range(2)]
    return Desk(tenant.id, queue_id, agents, ZoneInfo(ZONE))


async def handled(
    desk: Desk,
    ended_local: dt.datetime,
    *,
    talk: Decimal,
    hold: Decimal = S(0),
    wrap: Decimal = S(0),
    wrap_over: bool = True,
    agent: int = 0,
    callback: bool = False,
) -> tuple[uuid.UUID, Expected]:
    """A contact answered, held once, ended at ``ended_local`` (the tenant's wall clock), then wrapped up; a
    ``callback`` carries its callback's id as the callbacks service puts it in line."""
    agent_id = desk.agents[agent]
    ended = ended_local.replace(tzinfo=desk.zone).astimezone(dt.UTC)
    answered = ended - dt.timedelta(seconds=float(talk + hold))
    held = answered + dt.timedelta(seconds=float(talk) / 2)
    arrived = answered - dt.timedelta(seconds=12)
    contact = uuid.uuid4()
    seq = desk.seq()
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as session:
            session.add(
                Interaction(
                    id=contact,
                    queue_id=desk.queue_id,
                    state="ended",
                    agent_id=agent_id,
                    arrived_at=arrived,
                    answered_at=answered,
                    ended_at=ended,
                    hold_seconds=float(hold),
                    context={"callback_id": str(uuid.uuid4()), "note": ""} if callback else {},
                )
            )
            await session.flush()
            steps = [("arrived", arrived, None), ("answered", answered, agent_id)]
            if hold:
                steps += [("held", held, agent_id), ("resumed", held + dt.timedelta(seconds=float(hold)), agent_id)]
            steps.append(("ended", ended, agent_id))
            for offset, (kind, at, who) in enumerate(steps):
                session.add(
                    InteractionEvent(
                        interaction_id=contact,
                        log_seq=seq + offset,
                        type=kind,
                        at=at,
                        agent_id=who,
                        queue_id=desk.queue_id,
                    )
                )
            ended_seq = seq + len(steps) - 1
            presence = [(seq + 1, "on_contact", answered), (ended_seq, "wrap_up" if wrap else "available", ended)]
            if wrap and wrap_over:
                presence.append((ended_seq + 1, "available", ended + dt.timedelta(seconds=float(wrap))))
            for log_seq, state, at in presence:
                session.add(AgentStateChange(agent_id=agent_id, log_seq=log_seq, state=state, at=at))
            await session.commit()
    day = ended_local.date()
    return contact, Expected(day.replace(day=1), day, "voice", desk.queue_id, talk, hold, wrap, int(callback))


async def wrap_up_ends(desk: Desk, agent: int, at_local: dt.datetime) -> None:
    async with get_database().session() as session:
        session.add(
            AgentStateChange(
                agent_id=desk.agents[agent],
                log_seq=desk.seq(),
                state="available",
                at=at_local.replace(tzinfo=desk.zone).astimezone(dt.UTC),
            )
        )
        await session.commit()


def _shape(expected: dict[uuid.UUID, Expected], stored: dict[uuid.UUID, Any]) -> None:
    assert set(stored) == set(expected)
    for contact, want in expected.items():
        row = stored[contact]
        assert row.measure == "handled"
        assert (row.period, row.day, row.channel, row.queue_id) == (want.period, want.day, want.channel, want.queue_id)
        assert (row.talk_seconds, row.hold_seconds, row.wrap_seconds, row.outbound_attempts) == (
            want.talk_seconds,
            want.hold_seconds,
            want.wrap_seconds,
            want.outbound_attempts,
        )


async def test_contacts_are_metered_once_by_local_day_and_late_ones_land_in_the_next_open_period() -> None:
    desk = await make_desk("metering")
    today = dt.datetime.now(desk.zone).date()
    this_month = today.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    last_day = this_month - dt.timedelta(days=1)
    expected: dict[uuid.UUID, Expected] = {}

    def add(made: tuple[uuid.UUID, Expected]) -> uuid.UUID:
        expected[made[0]] = made[1]
        return made[0]

    add(
        await handled(
            desk,
            dt.datetime.combine(last_month.replace(day=10), dt.time(9, 30)),
            talk=S("61.25"),
            hold=S("3.5"),
            wrap=S("7.125"),
        )
    )
    # 23:30 in New York is the next day (and month) in UTC: the local day decides.
    add(await handled(desk, dt.datetime.combine(last_day, dt.time(23, 30)), talk=S("30"), agent=1))
    # A callback: the platform dialled the customer, an outbound attempt.
    add(
        await handled(
            desk, dt.datetime.combine(this_month, dt.time(0, 15)), talk=S("42.000001"), wrap=S("2"), callback=True
        )
    )

    run = await meter(desk.tenant_id)
    assert (run.contacts, run.recorded, run.late, run.waiting) == (3, 3, 0, False)
    stored = await records(desk.tenant_id)
    _shape(expected, stored)
    assert not any(row.late for row in stored.values())
    assert stored[next(c for c, e in expected.items() if e.day == last_day)].period == last_month
    summaries = await daily(desk.tenant_id)
    assert summaries == summed(expected)
    assert summaries[(this_month, this_month, "voice", desk.queue_id)][4] == 1

    # The same events read again (a replay from the start of the log) bill nothing twice.
    await rewind(desk.tenant_id)
    again = await meter(desk.tenant_id)
    assert (again.contacts, again.recorded) == (3, 0)
    assert await daily(desk.tenant_id) == summaries and await records(desk.tenant_id) == stored

    # A contact whose wrap-up is still running holds metering back, the contacts after it included.
    running = add(
        await handled(desk, dt.datetime.combine(this_month, dt.time(8)), talk=S("20"), wrap=S("4.5"), wrap_over=False)
    )
    after = add(await handled(desk, dt.datetime.combine(this_month, dt.time(8, 5)), talk=S("15"), agent=1))
    held_back = await meter(desk.tenant_id)
    assert (held_back.contacts, held_back.recorded, held_back.waiting) == (0, 0, True)
    assert running not in await records(desk.tenant_id)
    await wrap_up_ends(desk, 0, dt.datetime.combine(this_month, dt.time(8, 0, 4, 500_000)))
    assert (await meter(desk.tenant_id)).recorded == 2
    _shape(expected, await records(desk.tenant_id))
    assert after in await records(desk.tenant_id)

    # Close last month; a contact of last month metered after that is late: billed in this month's period.
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as session:
            closed = await billing.close_period(session, last_month)
            assert closed.status == "closed" and closed.last_day == last_day
            with pytest.raises(ConflictError):
                await billing.close_period(session, this_month)  # not over yet
    closed_before = {key: value for key, value in (await daily(desk.tenant_id)).items() if key[0] == last_month}
    late_contact, late_expected = await handled(
        desk, dt.datetime.combine(last_month.replace(day=15), dt.time(14)), talk=S("90.5"), hold=S("1.25")
    )
    expected[late_contact] = dataclasses.replace(late_expected, period=this_month)
    late_run = await meter(desk.tenant_id)
    assert (late_run.recorded, late_run.late) == (1, 1)
    stored = await records(desk.tenant_id)
    _shape(expected, stored)
    assert stored[late_contact].late and stored[late_contact].day == last_month.replace(day=15)
    assert [c for c, row in stored.items() if row.late] == [late_contact]
    summaries = await daily(desk.tenant_id)
    assert summaries == summed(expected)
    # The closed period's summaries did not move; the adjustment is a row of this month's period for a day of the last.
    assert {key: value for key, value in summaries.items() if key[0] == last_month} == closed_before
    assert (this_month, last_month.replace(day=15), "voice", desk.queue_id) in summaries

    # Replaying everything once more, after the close, still bills nothing twice and moves nothing.
    await rewind(desk.tenant_id)
    assert await meter_all(desk.tenant_id) == 0
    assert await daily(desk.tenant_id) == summaries


async def test_a_run_finding_another_at_work_leaves_the_contacts_to_it() -> None:
    desk = await make_desk("metering-lock")
    await meter(desk.tenant_id)  # the checkpoint row exists (a run inserting it would wait for the other's insert)
    now_local = dt.datetime.now(desk.zone).replace(tzinfo=None, microsecond=0) - dt.timedelta(hours=1)
    await handled(desk, now_local, talk=S("10"))
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as holding:
            first = await billing.meter_usage(holding)
            async with get_database().session() as other:
                assert await billing.meter_usage(other) == billing.MeteringRun(0, 0, 0, False)
            await holding.commit()
    assert first.recorded == 1 and len(await records(desk.tenant_id)) == 1


# --- traffic from the real router -------------------------------------------------------------------------

# Each segment's times (tests/reporting_traffic.py); the contact's end is its ``ended`` event.
_SEGMENTS = f"""{SEGMENTS_CTE}
SELECT s.interaction_id, fin.at AS contact_end, fin.queue_id, i.channel, {SEGMENT_TIMES}
FROM seg s
JOIN ev fin ON fin.interaction_id = s.interaction_id AND fin.type = 'ended'
JOIN interactions i ON i.tenant_id = :tenant AND i.id = s.interaction_id
"""


async def independent(tenant_id: uuid.UUID, zone: str) -> dict[uuid.UUID, Expected]:
    """Each handled contact's talk, hold and wrap-up, summed over its segments from the raw log."""
    contacts: dict[uuid.UUID, Expected] = {}
    for contact, end, queue_id, channel, connected, hold, wrap in await _rows(tenant_id, _SEGMENTS):
        assert wrap is not None, "every wrap-up is over once the agents went offline"
        day = end.astimezone(ZoneInfo(zone)).date()
        known = contacts.get(contact) or Expected(day.replace(day=1), day, channel, queue_id, S(0), S(0), S(0))
        contacts[contact] = dataclasses.replace(
            known,
            talk_seconds=known.talk_seconds + connected - hold,
            hold_seconds=known.hold_seconds + hold,
            wrap_seconds=known.wrap_seconds + wrap,
        )
    return contacts


async def test_router_traffic_is_metered_exactly_once_under_concurrent_runs() -> None:
    zone = "Pacific/Chatham"
    center = await make_center("metering-traffic", zone)
    runs: list[int] = []
    stop = asyncio.Event()

    async def job(worker: int) -> None:
        with acting_as(system_principal(center.tenant_id)):
            while not stop.is_set():
                async with get_database().session() as session:
                    runs.append((await billing.meter_usage(session, batch_size=3 + worker)).recorded)
                await asyncio.sleep(0.05)

    async def concurrent_jobs() -> None:
        workers = [asyncio.create_task(job(n)) for n in range(3)]
        await asyncio.sleep(4)
        stop.set()
        await asyncio.gather(*workers)

    await generate(center, 5, meanwhile=concurrent_jobs)
    assert sum(runs) > 0  # metered while traffic flowed
    await meter_all(center.tenant_id)

    expected = await independent(center.tenant_id, zone)
    (ended,) = await _rows(
        center.tenant_id, "SELECT count(*) FROM interactions WHERE tenant_id = :tenant AND state = 'ended'"
    )
    assert len(expected) == ended[0] >= 5
    assert any(e.hold_seconds for e in expected.values()) and any(e.wrap_seconds for e in expected.values())
    stored = await records(center.tenant_id)
    _shape(expected, stored)
    summaries = await daily(center.tenant_id)
    assert summaries == summed(expected)

    # Handled time adds up to what reporting's rollups hold for the same contacts.
    await fold_all(center.tenant_id)
    (rollup,) = await _rows(
        center.tenant_id,
        "SELECT sum(talk_seconds_sum), sum(hold_seconds_sum), sum(wrap_seconds_sum), sum(handled)"
        " FROM interval_rollups WHERE tenant_id = :tenant AND agent_id IS NULL",
    )
    totals = [sum(value[i] for value in summaries.values()) for i in range(4)]
    assert (totals[1], totals[2], totals[3], totals[0]) == tuple(rollup)

    await rewind(center.tenant_id)
    assert await meter_all(center.tenant_id) == 0
    assert await daily(center.tenant_id) == summaries


# --- dedicated seat time --------------------------------------------------------------------------------


async def seat_usage(tenant_id: uuid.UUID) -> dict[tuple[uuid.UUID, dt.date], tuple[dt.date, Decimal, bool]]:
    rows = await _rows(
        tenant_id,
        "SELECT s.agent_id, s.day, p.first_day, s.seat_seconds, s.late"
        " FROM seat_usage s JOIN billing_periods p ON p.tenant_id = s.tenant_id AND p.id = s.period_id"
        " WHERE s.tenant_id = :tenant",
    )
    return {(row.agent_id, row.day): (row.first_day, row.seat_seconds, row.late) for row in rows}


async def presence(desk: Desk, agent: int, *changes: tuple[dt.datetime, str]) -> None:
    """Presence changes of one agent as the router logs them, at the tenant's wall-clock times."""
    async with get_database().session() as session:
        for at_local, state in changes:
            at = at_local.replace(tzinfo=desk.zone).astimezone(dt.UTC)
            session.add(AgentStateChange(agent_id=desk.agents[agent], log_seq=desk.seq(), state=state, at=at))
        await session.commit()


async def dedicate(tenant_id: uuid.UUID, agent_id: uuid.UUID, since: dt.datetime) -> None:
    """Dedicates the agent to the tenant as the operator does, dated back to ``since`` (history written here)."""
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            data = tenant_schemas.AgentAssign(tenant_id=tenant_id, alias="Dedicated", dedicated=True)
            await tenants.assign_agent(session, agent_id, data)
            await session.commit()
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            await session.execute(
                sa.text("UPDATE agent_assignments SET dedicated_since = :since WHERE agent_id = :agent"),
                {"since": since, "agent": agent_id},
            )
            await session.commit()


async def test_dedicated_seat_time_is_metered_once_per_local_day_from_the_dedication() -> None:
    desk = await make_desk("metering-seats")
    this_month = dt.datetime.now(desk.zone).date().replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)

    def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(last_month.replace(day=day), dt.time(hour, minute))

    # Agent 0: signed in before it was dedicated (the 3rd at noon), a break (a seat is held through it), then
    # offline; on the 4th signed in across midnight into the 5th (a daylight-saving change in New York never
    # falls on these nights). Agent 1 works as much but for the shared pool: not billed as a seat.
    await presence(
        desk,
        0,
        (at(2, 20), "available"),
        (at(3, 15), "on_contact"),
        (at(3, 15, 10), "wrap_up"),
        (at(3, 15, 11), "available"),
        (at(3, 18), "break"),
        (at(3, 18, 30), "available"),
        (at(3, 22), "offline"),
        (at(4, 23), "available"),
        (at(5, 2), "offline"),
    )
    await presence(desk, 1, (at(3, 9), "available"), (at(3, 17), "offline"))
    await dedicate(desk.tenant_id, desk.agents[0], at(3, 12).replace(tzinfo=desk.zone))

    run = await meter(desk.tenant_id)
    assert (run.seat_days, run.seat_days_late) == (3, 0)
    agent = desk.agents[0]
    stored = await seat_usage(desk.tenant_id)
    assert stored == {
        (agent, last_month.replace(day=3)): (last_month, S(10 * 3600), False),  # noon to 22:00, the break included
        (agent, last_month.replace(day=4)): (last_month, S(3600), False),
        (agent, last_month.replace(day=5)): (last_month, S(2 * 3600), False),
    }

    # Read again from the first day (a replayed run): nothing is written twice.
    await rewind(desk.tenant_id, seats=True)
    assert (await meter(desk.tenant_id)).seat_days == 0
    assert await seat_usage(desk.tenant_id) == stored

    # Usage to date shows the seat time by day, with no channel, and in the month's totals.
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as session:
            usage = await billing.usage(session, f"{last_month:%Y-%m}")
    assert usage.totals.dedicated_seat_seconds == S(13 * 3600) and usage.totals.contacts == 0
    assert [(day.day.day, day.channel, day.dedicated_seat_seconds) for day in usage.days] == [
        (3, None, S(36000)),
        (4, None, S(3600)),
        (5, None, S(7200)),
    ]

    # Today is not over: an agent signed in since midnight is not metered before the day ends.
    today = dt.datetime.now(desk.zone).date()
    await presence(desk, 0, (dt.datetime.combine(today, dt.time()), "available"))
    assert (await meter(desk.tenant_id)).seat_days == 0
    assert await seat_usage(desk.tenant_id) == stored
