"""Interval rollups on traffic from the real router: equal to a recomputation from the raw log, exactly once
under repeated and concurrent runs of the job, and identical after `tenline reports rebuild`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlmodel import col, select

from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.reporting import service as reporting
from app.reporting.models import AgentIntervalState
from tests.conftest import ROOT, Services, start_process, stop_process
from tests.reporting_traffic import (
    event_count,
    fold_all,
    generate,
    interaction_totals,
    make_center,
    presence_spans,
    recompute,
    stored_rollups,
)


async def _job_runs(tenant_id: uuid.UUID, stop: asyncio.Event, runs: list[int]) -> None:
    """One worker running the tenant's rollup job over and over while traffic flows."""
    with acting_as(system_principal(tenant_id)):
        while not stop.is_set():
            async with get_database().session() as session:
                runs.append(await reporting.update_rollups(session, batch_size=7))
            await asyncio.sleep(0.05)


async def test_rollups_equal_a_recomputation_under_concurrent_runs_and_after_a_rebuild() -> None:
    center = await make_center()
    runs: list[int] = []
    stop = asyncio.Event()

    async def concurrent_jobs() -> None:
        # Three workers at once (small batches, so runs interleave mid-log); each skips while another folds.
        workers = [asyncio.create_task(_job_runs(center.tenant_id, stop, runs)) for _ in range(3)]
        await asyncio.sleep(4)
        stop.set()
        await asyncio.gather(*workers)

    await generate(center, 5, meanwhile=concurrent_jobs)
    assert sum(runs) > 0 and runs.count(0) > 0  # folded while traffic flowed, and runs found nothing to do
    await fold_all(center.tenant_id)

    stored = await stored_rollups(center.tenant_id)
    expected = await recompute(center.tenant_id)
    assert stored == expected

    # The traffic is what the test meant: every counting rule had something to count.
    queue_rows = [row for (_, _, agent), row in stored.items() if agent is None]
    total = {
        name: sum(row[name] for row in queue_rows)
        for name in ("offered", "answered", "abandoned", "removed", "handled", "transfers", "resolved")
    }
    assert total["offered"] >= 20 and total["answered"] >= 10 and total["abandoned"] >= 1 and total["removed"] >= 1
    assert total["transfers"] >= 1 and total["resolved"] >= 1
    assert sum(row["hold_seconds_sum"] for row in queue_rows) > Decimal("0.3")
    assert sum(row["wrap_seconds_sum"] for row in queue_rows) > 0
    # The router's own projection agrees on the totals.
    raw = await interaction_totals(center.tenant_id)
    assert (total["offered"], total["handled"], total["removed"], total["transfers"], total["resolved"]) == (
        raw.offered,
        raw.handled,
        raw.removed,
        raw.transfers,
        raw.resolved,
    )
    assert abs(float(sum(row["hold_seconds_sum"] for row in queue_rows)) - raw.hold) < 1e-3
    # A queue's totals are the sum of its agents' rows for everything agents do.
    for (bucket, queue_id, agent_id), row in stored.items():
        if agent_id is not None:
            continue
        agents = [r for (b, q, a), r in stored.items() if (b, q) == (bucket, queue_id) and a is not None]
        for name in (
            "answered",
            "wait_seconds_sum",
            "talk_seconds_sum",
            "hold_seconds_sum",
            "wrap_seconds_sum",
            "handled",
            "transfers",
            "resolved",
        ):
            assert row[name] == sum(r[name] for r in agents), (bucket, queue_id, name)

    # Repeated runs fold nothing twice.
    assert await fold_all(center.tenant_id) == 0
    assert await stored_rollups(center.tenant_id) == stored

    # Agents' presence per interval equals their closed spans of presence, state by state.
    agents = center.people + center.simulated
    spans = await presence_spans(agents)
    async with get_database().session() as session:
        states = (
            await session.exec(select(AgentIntervalState).where(col(AgentIntervalState.agent_id).in_(agents)))
        ).all()
    by_key = {
        (row.agent_id, row.interval_start): {
            state: getattr(row, f"{state}_seconds")
            for state in ("available", "offered", "on_contact", "wrap_up", "break", "offline")
            if getattr(row, f"{state}_seconds")
        }
        for row in states
    }
    assert by_key == spans and spans

    # `tenline reports rebuild --tenant SLUG` deletes and replays: the same rows to the microsecond.
    result = subprocess.run(
        [sys.executable, "-m", "app.server.cli", "reports", "rebuild", "--tenant", center.slug],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert json.loads(line) == {"tenant": center.slug, "folded": await event_count(center.tenant_id)}
    assert await stored_rollups(center.tenant_id) == stored


async def test_rebuild_of_an_unknown_tenant_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.server.cli", "reports", "rebuild", "--tenant", f"nobody-{uuid.uuid4().hex[:6]}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "no tenant with the slug" in result.stderr


async def test_the_worker_keeps_the_rollups_current_on_its_own(services: Services, tmp_path: Path) -> None:
    """`tenline worker`'s periodic job folds new events without being asked."""
    center = await make_center("worked")
    await generate(center, 2)
    expected = await recompute(center.tenant_id)
    assert expected and await stored_rollups(center.tenant_id) == {}
    log = tmp_path / "worker.log"
    env = {**services.env, "TENLINE_WORKER_THREADS": "2", "TENLINE_WORKER_SHUTDOWN_TIMEOUT_SECONDS": "5"}
    worker = start_process(["worker"], env, log)
    try:
        deadline = time.monotonic() + 60
        while await stored_rollups(center.tenant_id) != expected:
            assert time.monotonic() < deadline, "the worker did not fold the events:\n" + log.read_text()[-3000:]
            assert worker.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.5)
    finally:
        stop_process(worker)


async def test_an_agent_available_for_weeks_folds_into_every_interval() -> None:
    """Tens of thousands of intervals in one fold (an agent who never signed off): all written, none lost."""
    from app.routing.models import AgentStateChange
    from tests.factories import make_agent, make_tenant

    agent = (await make_agent((await make_tenant("presence-long")).id)).id
    start = dt.datetime(2025, 9, 1, 8, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=365)
    async with get_database().session() as session:
        session.add(AgentStateChange(agent_id=agent, log_seq=1, state="available", at=start))
        session.add(AgentStateChange(agent_id=agent, log_seq=2, state="offline", at=end))
        await session.commit()
    async with get_database().session() as session:
        await reporting.update_presence(session, wait=True)
        await session.commit()
    async with get_database().session() as session:
        rows = (await session.exec(select(AgentIntervalState).where(AgentIntervalState.agent_id == agent))).all()
    available = [row for row in rows if row.available_seconds]
    assert len(available) == 365 * 96 > reporting.PRESENCE_KEYS_PER_QUERY
    assert sum(row.available_seconds for row in available) == Decimal(365 * 86_400)
