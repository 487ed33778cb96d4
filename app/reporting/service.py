"""Reporting services: rollup maintenance, the figures other domains read, reports, scheduled reports.

Maintenance. ``update_rollups`` folds the acting tenant's interaction events after its checkpoint into
``interval_rollups`` (``app.reporting.engine.rollup`` says what each event adds where) and moves the
checkpoint, all in the caller's transaction and under the checkpoint row's lock: a run that fails
changes nothing, and two runs never fold the same events (the second skips, or waits when asked to).
``update_presence`` does the same for agents' presence (operator data) with a cursor per agent.
``rebuild_rollups`` / ``rebuild_presence`` delete and replay from the start of the log.

Assumption: a tenant's contacts and an agent's presence each come from one router pool (``log_seq``
orders one pool's log only).

Other domains read the rollups through ``queue_intervals``, ``tenant_totals``, ``sla_counts`` and
``presence_intervals`` (the acting tenant's, like every query here); the operator's wallboard reads the whole
pool through ``pool_presence`` and ``busy_seconds_by_tenant`` in an audited cross-tenant session. Billing meters
contacts one by one through ``handled_contacts_after`` (each contact's work by the same rules as the rollups).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import smtplib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import mail
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from app.core.outbox import emit
from app.core.pagination import Page, page_of, paginate, query_error
from app.core.rows import to_struct
from app.core.settings import get_settings
from app.core.tenancy import acting_as, current_tenant_id, require_tenant_id, system_principal
from app.core.versioning import apply_changes, check_version, given_fields
from app.reporting import exports, schemas
from app.reporting.engine.figures import SlCounts, ratio, service_level
from app.reporting.engine.intervals import (
    HISTOGRAM_SIZE,
    INTERVAL,
    WAIT_EDGES,
    edge_at_or_below,
    edge_index,
    empty_histogram,
)
from app.reporting.engine.periods import Frequency, PeriodPreset, next_due, preset_days, utc_window
from app.reporting.engine.presence import PRESENCE_STATES, OpenState, fold_presence
from app.reporting.engine.rollup import (
    EventRecord,
    PresenceChange,
    RollupKey,
    Rollups,
    Tally,
    WrapStart,
    fold,
    wrap_up_end,
)
from app.reporting.models import (
    AgentIntervalState,
    AgentPresenceCursor,
    IntervalRollup,
    OpenWrapUp,
    ReportDelivery,
    ReportingCheckpoint,
    ReportSchedule,
)
from app.routing.dispositions import disposition_labels
from app.routing.models import Interaction, InteractionEvent, Queue
from tenants.models import Agent, AgentAssignment, Tenant
from tenants.service import audit

log = structlog.get_logger("tenline.reporting")

EVENTS_PER_BATCH = 5000
EVENTS_PER_RUN = 200_000
PRESENCE_CHANGES_PER_BATCH = 20_000
MAX_INTERVAL_DAYS = 31  # interval granularity: at most ~3,000 buckets
MAX_REPORT_DAYS = 366


def _seconds(micros: int) -> Decimal:
    return Decimal(micros).scaleb(-6)


def _micros(seconds: Decimal) -> int:
    return int(seconds.scaleb(6))


# --- interval rollups: incremental maintenance ------------------------------------------------------


async def _locked_checkpoint(session: AsyncSession, *, wait: bool) -> ReportingCheckpoint | None:
    """The acting tenant's checkpoint, locked for this transaction (None: another run holds it, wait=False)."""
    table = ReportingCheckpoint.__table__  # type: ignore[attr-defined]
    await session.execute(
        pg_insert(table)
        .values(
            tenant_id=require_tenant_id(), id=uuid.uuid4(), log_seq=0, position=0, events_applied=0, updated_at=utcnow()
        )
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    statement = select(ReportingCheckpoint).with_for_update(skip_locked=not wait)
    return (await session.exec(statement)).first()


async def _events_after(session: AsyncSession, log_seq: int, position: int, limit: int) -> list[EventRecord]:
    order = (col(InteractionEvent.log_seq), col(InteractionEvent.position))
    statement = (
        sa.select(*_EVENT_COLUMNS).where(sa.tuple_(*order) > sa.tuple_(log_seq, position)).order_by(*order).limit(limit)
    )
    return [EventRecord(*row) for row in (await session.execute(statement)).all()]


async def _history(
    session: AsyncSession, interaction_ids: Iterable[uuid.UUID], log_seq: int, position: int
) -> list[EventRecord]:
    """The events of these contacts up to the checkpoint, in log order."""
    ids = list(set(interaction_ids))
    order = (col(InteractionEvent.log_seq), col(InteractionEvent.position))
    statement = (
        sa.select(*_EVENT_COLUMNS)
        .where(col(InteractionEvent.interaction_id).in_(ids), sa.tuple_(*order) <= sa.tuple_(log_seq, position))
        .order_by(*order)
    )
    return [EventRecord(*row) for row in (await session.execute(statement)).all()]


_EVENT_COLUMNS = (
    col(InteractionEvent.interaction_id),
    col(InteractionEvent.log_seq),
    col(InteractionEvent.position),
    col(InteractionEvent.type),
    col(InteractionEvent.at),
    col(InteractionEvent.agent_id),
    col(InteractionEvent.queue_id),
    col(InteractionEvent.data),
)


def _tally_of(row: IntervalRollup) -> Tally:
    return Tally(
        offered=row.offered,
        answered=row.answered,
        abandoned=row.abandoned,
        removed=row.removed,
        answered_wait_hist=list(row.answered_wait_hist),
        abandoned_wait_hist=list(row.abandoned_wait_hist),
        wait_micros=_micros(row.wait_seconds_sum),
        talk_micros=_micros(row.talk_seconds_sum),
        hold_micros=_micros(row.hold_seconds_sum),
        wrap_micros=_micros(row.wrap_seconds_sum),
        handled=row.handled,
        transfers=row.transfers,
        resolved=row.resolved,
        dispositions=dict(row.dispositions),
    )


def _write_tally(row: IntervalRollup, tally: Tally) -> None:
    row.offered, row.answered, row.abandoned, row.removed = (
        tally.offered,
        tally.answered,
        tally.abandoned,
        tally.removed,
    )
    row.answered_wait_hist = list(tally.answered_wait_hist)
    row.abandoned_wait_hist = list(tally.abandoned_wait_hist)
    row.wait_seconds_sum = _seconds(tally.wait_micros)
    row.talk_seconds_sum = _seconds(tally.talk_micros)
    row.hold_seconds_sum = _seconds(tally.hold_micros)
    row.wrap_seconds_sum = _seconds(tally.wrap_micros)
    row.handled, row.transfers, row.resolved = tally.handled, tally.transfers, tally.resolved
    row.dispositions = dict(sorted(tally.dispositions.items()))


async def _add_tallies(session: AsyncSession, tallies: Mapping[RollupKey, Tally]) -> None:
    """Adds each tally to its row (made when missing). Callers hold the checkpoint lock: no one else writes."""
    if not tallies:
        return
    pairs = list({(key.interval_start, key.queue_id) for key in tallies})
    rows = (
        await session.exec(
            select(IntervalRollup).where(
                sa.tuple_(col(IntervalRollup.interval_start), col(IntervalRollup.queue_id)).in_(pairs)
            )
        )
    ).all()
    existing = {RollupKey(row.interval_start, row.queue_id, row.agent_id): row for row in rows}
    for key, tally in tallies.items():
        row = existing.get(key)
        if row is None:
            row = IntervalRollup(
                interval_start=key.interval_start,
                queue_id=key.queue_id,
                agent_id=key.agent_id,
                answered_wait_hist=empty_histogram(),
                abandoned_wait_hist=empty_histogram(),
            )
            _write_tally(row, tally)
            session.add(row)
        else:
            total = _tally_of(row)
            total.add(tally)
            _write_tally(row, total)
    await session.flush()


async def _wrap_up_ends(session: AsyncSession, starts: Sequence[WrapStart]) -> list[int | None]:
    """Each start's wrap-up (see ``wrap_up_end``) from the agent's first two presence changes from its entry on."""
    if not starts:
        return []
    result = await session.execute(
        sa.text(
            "SELECT w.idx, c.agent_id, c.log_seq, c.state, c.at "
            "FROM unnest(CAST(:agents AS uuid[]), CAST(:seqs AS bigint[])) WITH ORDINALITY AS w(agent_id, log_seq, idx) "
            "CROSS JOIN LATERAL (SELECT agent_id, log_seq, state, at FROM agent_state_changes c "
            "  WHERE c.agent_id = w.agent_id AND c.log_seq >= w.log_seq ORDER BY c.log_seq LIMIT 2) c "
            "ORDER BY w.idx, c.log_seq"
        ),
        {"agents": [start.agent_id for start in starts], "seqs": [start.log_seq for start in starts]},
    )
    changes: dict[int, list[PresenceChange]] = {}
    for idx, agent_id, log_seq, state, at in result:
        changes.setdefault(idx - 1, []).append(PresenceChange(agent_id, log_seq, state, at))
    return [wrap_up_end(start, changes.get(index, [])) for index, start in enumerate(starts)]


async def _settle_wrap_ups(session: AsyncSession, new: Sequence[WrapStart]) -> None:
    """Adds every wrap-up that is over (new ones and those left open before); keeps the others open."""
    open_rows = (await session.exec(select(OpenWrapUp))).all()
    stored = [
        WrapStart(
            row.interaction_id,
            row.agent_id,
            RollupKey(row.interval_start, row.queue_id, row.agent_id),
            row.ended_at,
            row.log_seq,
        )
        for row in open_rows
    ]
    ends = await _wrap_up_ends(session, [*stored, *new])
    finished = Rollups()
    for index, (start, wrap) in enumerate(zip([*stored, *new], ends, strict=True)):
        is_stored = index < len(stored)
        if wrap is None:
            if not is_stored:
                session.add(
                    OpenWrapUp(
                        interaction_id=start.interaction_id,
                        agent_id=start.agent_id,
                        queue_id=start.key.queue_id,
                        interval_start=start.key.interval_start,
                        ended_at=start.ended_at,
                        log_seq=start.log_seq,
                    )
                )
            continue
        if wrap:
            finished.add_wrap(start.key, wrap)
        if is_stored:
            await session.delete(open_rows[index])
    await session.flush()
    await _add_tallies(session, finished.tallies)


async def _fold_after(
    session: AsyncSession, checkpoint: ReportingCheckpoint, batch_size: int, max_events: int | None = None
) -> int:
    applied = 0
    while max_events is None or applied < max_events:
        events = await _events_after(session, checkpoint.log_seq, checkpoint.position, batch_size)
        if not events:
            break
        history = await _history(
            session, (event.interaction_id for event in events), checkpoint.log_seq, checkpoint.position
        )
        rollups = fold(history, events)
        await _add_tallies(session, rollups.tallies)
        await _settle_wrap_ups(session, rollups.wraps)
        checkpoint.log_seq, checkpoint.position = events[-1].log_seq, events[-1].position
        applied += len(events)
        if len(events) < batch_size:
            break
    if not applied:
        await _settle_wrap_ups(session, ())  # wrap-ups left open may have ended since
    checkpoint.events_applied += applied
    checkpoint.updated_at = utcnow()
    await session.flush()
    return applied


async def update_rollups(
    session: AsyncSession,
    *,
    wait: bool = False,
    batch_size: int = EVENTS_PER_BATCH,
    max_events: int | None = EVENTS_PER_RUN,
) -> int:
    """Folds the acting tenant's new events into its rollups in the caller's transaction; returns how many.

    With ``wait=False`` a run finding another one at work returns 0 at once (that one folds the events).
    A run stops after about ``max_events`` (a backlog is committed in parts; the next run goes on).
    """
    checkpoint = await _locked_checkpoint(session, wait=wait)
    if checkpoint is None:
        return 0
    return await _fold_after(session, checkpoint, batch_size, max_events)


async def rebuild_rollups(session: AsyncSession, *, batch_size: int = EVENTS_PER_BATCH) -> int:
    """Deletes the acting tenant's rollups and replays its whole event log; returns the events folded.

    One transaction: readers see the old rollups until the new ones are complete.
    """
    checkpoint = await _locked_checkpoint(session, wait=True)
    assert checkpoint is not None
    tenant_id = require_tenant_id()
    for table in (IntervalRollup.__table__, OpenWrapUp.__table__):  # type: ignore[attr-defined]
        await session.execute(sa.delete(table).where(table.c.tenant_id == tenant_id))
    checkpoint.log_seq = checkpoint.position = checkpoint.events_applied = 0
    return await _fold_after(session, checkpoint, batch_size)


# --- agents' presence per interval (operator data) ---------------------------------------------------


PRESENCE_KEYS_PER_QUERY = 1000


def _state_columns(row: AgentIntervalState) -> dict[str, Decimal]:
    return {state: getattr(row, f"{state}_seconds") for state in PRESENCE_STATES}


async def _add_presence(
    session: AsyncSession, added: Mapping[tuple[uuid.UUID, dt.datetime], Mapping[str, int]]
) -> None:
    if not added:
        return
    keys = list(added)
    existing: dict[tuple[uuid.UUID, dt.datetime], AgentIntervalState] = {}
    # In slices: an agent left available over a weekend brings hundreds of intervals, and one IN list of
    # thousands of pairs exceeds PostgreSQL's stack depth.
    for first in range(0, len(keys), PRESENCE_KEYS_PER_QUERY):
        pairs = keys[first : first + PRESENCE_KEYS_PER_QUERY]
        key = sa.tuple_(col(AgentIntervalState.agent_id), col(AgentIntervalState.interval_start))
        rows = (await session.exec(select(AgentIntervalState).where(key.in_(pairs)))).all()
        existing.update({(row.agent_id, row.interval_start): row for row in rows})
    for (agent_id, start), micros_by_state in added.items():
        row = existing.get((agent_id, start))
        if row is None:
            row = AgentIntervalState(agent_id=agent_id, interval_start=start)
            session.add(row)
        current = _state_columns(row)
        for state, amount in micros_by_state.items():
            setattr(row, f"{state}_seconds", current[state] + _seconds(amount))
    await session.flush()


async def _fold_presence(session: AsyncSession, cursors: Sequence[AgentPresenceCursor]) -> int:
    by_agent = {cursor.agent_id: cursor for cursor in cursors}
    states = {c.agent_id: OpenState(c.state, c.since, c.log_seq) for c in cursors}
    applied = 0
    while by_agent:
        result = await session.execute(
            sa.text(
                "SELECT c.agent_id, c.log_seq, c.state, c.at FROM agent_state_changes c "
                "JOIN unnest(CAST(:agents AS uuid[]), CAST(:seqs AS bigint[])) AS w(agent_id, log_seq) "
                "  ON c.agent_id = w.agent_id AND c.log_seq > w.log_seq "
                "ORDER BY c.agent_id, c.log_seq LIMIT :limit"
            ),
            {
                "agents": list(by_agent),
                "seqs": [states[agent_id].log_seq for agent_id in by_agent],
                "limit": PRESENCE_CHANGES_PER_BATCH,
            },
        )
        changes = [PresenceChange(*row) for row in result]
        if not changes:
            break
        await _add_presence(session, fold_presence(states, changes))
        applied += len(changes)
        if len(changes) < PRESENCE_CHANGES_PER_BATCH:
            break
    for agent_id, cursor in by_agent.items():
        state = states[agent_id]
        cursor.state, cursor.since, cursor.log_seq = state.state, state.since, state.log_seq
    await session.flush()
    return applied


async def _locked_cursors(session: AsyncSession, *, wait: bool) -> list[AgentPresenceCursor]:
    table = AgentPresenceCursor.__table__  # type: ignore[attr-defined]
    await session.execute(
        pg_insert(table)
        .from_select(["agent_id", "state", "log_seq"], select(col(Agent.id), sa.literal("offline"), sa.literal(0)))
        .on_conflict_do_nothing(index_elements=["agent_id"])
    )
    statement = (
        select(AgentPresenceCursor).order_by(col(AgentPresenceCursor.agent_id)).with_for_update(skip_locked=not wait)
    )
    return list((await session.exec(statement)).all())


async def update_presence(session: AsyncSession, *, wait: bool = False) -> int:
    """Folds every agent's new presence changes into ``agent_interval_states``; operator-level, no tenant.

    Each agent's cursor is locked for the transaction: concurrent runs share the agents, never one's changes.
    """
    return await _fold_presence(session, await _locked_cursors(session, wait=wait))


async def rebuild_presence(session: AsyncSession) -> int:
    """Deletes every agent's interval states and replays the presence log from the start."""
    cursors = await _locked_cursors(session, wait=True)
    await session.execute(sa.delete(AgentIntervalState.__table__))  # type: ignore[attr-defined]
    for cursor in cursors:
        cursor.state, cursor.since, cursor.log_seq = "offline", None, 0
    return await _fold_presence(session, cursors)


# --- figures other domains read (SLA, WFM) ------------------------------------------------------------


def _in_window(start: dt.datetime, end: dt.datetime) -> list[Any]:
    return [col(IntervalRollup.interval_start) >= start, col(IntervalRollup.interval_start) < end]


def _queue_rows(queue_ids: Sequence[uuid.UUID] | None) -> list[Any]:
    conditions = [col(IntervalRollup.agent_id).is_(None)]
    if queue_ids is not None:
        conditions.append(col(IntervalRollup.queue_id).in_(list(queue_ids)))
    return conditions


def _figures_of(row: Any) -> dict[str, Any]:
    return {
        "offered": row.offered,
        "answered": row.answered,
        "abandoned": row.abandoned,
        "removed": row.removed,
        "answered_wait_hist": tuple(row.answered_wait_hist),
        "abandoned_wait_hist": tuple(row.abandoned_wait_hist),
        "wait_seconds": float(row.wait_seconds_sum),
        "talk_seconds": float(row.talk_seconds_sum),
        "hold_seconds": float(row.hold_seconds_sum),
        "wrap_seconds": float(row.wrap_seconds_sum),
        "handled": row.handled,
        "transfers": row.transfers,
        "resolved": row.resolved,
        "dispositions": dict(row.dispositions),
    }


async def queue_intervals(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, queue_ids: Sequence[uuid.UUID] | None = None
) -> list[schemas.IntervalFigures]:
    """The acting tenant's queue totals per 15-minute interval in [start, end), by interval then queue.

    Intervals with nothing in them have no row. Arrival-based figures count in the interval the contacts
    arrived in, handle-based ones in the interval the work ended in (see ``app.reporting.engine.rollup``).
    """
    statement = (
        select(IntervalRollup)
        .where(*_in_window(start, end), *_queue_rows(queue_ids))
        .order_by(col(IntervalRollup.interval_start), col(IntervalRollup.queue_id))
    )
    return [
        schemas.IntervalFigures(interval_start=row.interval_start, queue_id=row.queue_id, **_figures_of(row))
        for row in (await session.exec(statement)).all()
    ]


_ADDITIVE = (
    "offered",
    "answered",
    "abandoned",
    "removed",
    "wait_seconds_sum",
    "talk_seconds_sum",
    "hold_seconds_sum",
    "wrap_seconds_sum",
    "handled",
    "transfers",
    "resolved",
)


async def _histogram_sums(session: AsyncSession, filters: Sequence[Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Element-wise sums of the answered and abandoned wait histograms of the matching rows."""
    sums = []
    for column in (IntervalRollup.answered_wait_hist, IntervalRollup.abandoned_wait_hist):
        statement = select(
            *(sa.func.coalesce(sa.func.sum(col(column)[i + 1]), 0) for i in range(HISTOGRAM_SIZE))
        ).where(*filters)
        sums.append(tuple(int(value) for value in (await session.execute(statement)).one()))
    return sums[0], sums[1]


async def _dispositions(session: AsyncSession, filters: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (codes,) in (await session.execute(select(col(IntervalRollup.dispositions)).where(*filters))).all():
        for code, count in codes.items():
            counts[code] = counts.get(code, 0) + int(count)
    return dict(sorted(counts.items()))


async def tenant_totals(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, queue_ids: Sequence[uuid.UUID] | None = None
) -> schemas.Figures:
    """The acting tenant's queue totals summed over [start, end) (and the given queues)."""
    filters = [*_in_window(start, end), *_queue_rows(queue_ids)]
    sums = (await session.execute(select(*_sum_columns()).where(*filters))).one()
    answered_hist, abandoned_hist = await _histogram_sums(session, filters)
    return schemas.Figures(
        offered=int(sums.offered),
        answered=int(sums.answered),
        abandoned=int(sums.abandoned),
        removed=int(sums.removed),
        answered_wait_hist=answered_hist,
        abandoned_wait_hist=abandoned_hist,
        wait_seconds=float(sums.wait_seconds_sum),
        talk_seconds=float(sums.talk_seconds_sum),
        hold_seconds=float(sums.hold_seconds_sum),
        wrap_seconds=float(sums.wrap_seconds_sum),
        handled=int(sums.handled),
        transfers=int(sums.transfers),
        resolved=int(sums.resolved),
        dispositions=await _dispositions(session, filters),
    )


def _sum_columns() -> list[Any]:
    return [sa.func.coalesce(sa.func.sum(getattr(IntervalRollup, name)), 0).label(name) for name in _ADDITIVE]


def _hist_at(column: Any, index: int) -> Any:
    """Entry ``index`` (0-based, as in ``WAIT_EDGES``) of a histogram column; PostgreSQL arrays start at 1."""
    return col(column)[index + 1]


async def sla_counts(
    session: AsyncSession,
    start: dt.datetime,
    end: dt.datetime,
    queue_ids: Sequence[uuid.UUID] | None,
    target_seconds: float,
    short_abandon_seconds: float,
) -> SlCounts:
    """Service-level counts of the acting tenant's contacts that arrived in [start, end), in the given queues.

    ``target_seconds`` and ``short_abandon_seconds`` must be wait histogram edges (``WAIT_EDGES``:
    0-300 s by 5 s, then 360, 420, 480, 540, 600, 900, 1200, 1800, 3600); "within" means a shorter wait.
    """
    target, short = edge_index(target_seconds), edge_index(short_abandon_seconds)
    statement = select(
        *(
            sa.func.coalesce(sa.func.sum(expression), 0)
            for expression in (
                col(IntervalRollup.offered),
                col(IntervalRollup.answered),
                _hist_at(IntervalRollup.answered_wait_hist, target),
                col(IntervalRollup.abandoned),
                _hist_at(IntervalRollup.abandoned_wait_hist, target),
                _hist_at(IntervalRollup.abandoned_wait_hist, short),
            )
        )
    ).where(*_in_window(start, end), *_queue_rows(queue_ids))
    return SlCounts(*(int(value) for value in (await session.execute(statement)).one()))


async def presence_intervals(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, agent_ids: Sequence[uuid.UUID] | None = None
) -> list[schemas.PresenceFigures]:
    """Seconds per presence state and interval in [start, end) of the acting tenant's agents (their whole day:
    agents are shared, so this is their time for every tenant). A state is counted once it has ended."""
    statement = (
        select(AgentIntervalState)
        .where(
            col(AgentIntervalState.agent_id).in_(_tenant_agents(agent_ids)),
            col(AgentIntervalState.interval_start) >= start,
            col(AgentIntervalState.interval_start) < end,
        )
        .order_by(col(AgentIntervalState.interval_start), col(AgentIntervalState.agent_id))
    )
    return [
        schemas.PresenceFigures(
            agent_id=row.agent_id,
            interval_start=row.interval_start,
            available=float(row.available_seconds),
            offered=float(row.offered_seconds),
            on_contact=float(row.on_contact_seconds),
            wrap_up=float(row.wrap_up_seconds),
            on_break=float(row.break_seconds),
            offline=float(row.offline_seconds),
        )
        for row in (await session.exec(statement)).all()
    ]


# Per agent: its state at the start of its span (the last change before it), then its changes inside the span,
# each lasting until the next one (the last until the span's end); the signed-in ones (not offline) summed.
_SIGNED_IN_SECONDS = sa.text(
    "WITH spans AS (SELECT * FROM unnest(CAST(:agents AS uuid[]), CAST(:starts AS timestamptz[])) "
    "  AS s(agent_id, start)), "
    "changes AS ("
    "  SELECT s.agent_id, s.start AS at, 0::bigint AS log_seq, b.state FROM spans s CROSS JOIN LATERAL ("
    "    SELECT c.state FROM agent_state_changes c WHERE c.agent_id = s.agent_id AND c.at < s.start "
    "    ORDER BY c.at DESC, c.log_seq DESC LIMIT 1) b "
    "  UNION ALL "
    "  SELECT c.agent_id, c.at, c.log_seq, c.state FROM agent_state_changes c JOIN spans s USING (agent_id) "
    "  WHERE c.at >= s.start AND c.at < :end), "
    "timed AS (SELECT agent_id, state, at, lead(at, 1, :end) OVER (PARTITION BY agent_id ORDER BY at, log_seq) "
    "  AS until FROM changes) "
    "SELECT agent_id, SUM(EXTRACT(EPOCH FROM until - at)) FROM timed WHERE state <> 'offline' GROUP BY agent_id"
)


async def signed_in_seconds(
    session: AsyncSession, starts: Mapping[uuid.UUID, dt.datetime], end: dt.datetime
) -> dict[uuid.UUID, Decimal]:
    """Each agent's signed-in time (every state but offline, breaks included) from its start in ``starts`` to
    ``end``, exact to the microsecond, from the presence log itself (not the interval folds, which count a state
    only once it has ended). Agents signed in for none of it are left out."""
    spans = {agent_id: start for agent_id, start in starts.items() if start < end}
    if not spans:
        return {}
    result = await session.execute(
        _SIGNED_IN_SECONDS, {"agents": list(spans), "starts": list(spans.values()), "end": end}
    )
    return {agent_id: Decimal(seconds) for agent_id, seconds in result.all() if seconds}


async def pool_presence(reader: AsyncSession, start: dt.datetime, end: dt.datetime) -> schemas.PoolPresence:
    """Every agent's presence over the intervals in [start, end), summed: the shared pool's time, for the operator.

    ``reader`` is a ``tenants.service.cross_tenant_read`` session. A state is counted once it has ended.
    """
    statement = select(*_presence_sums()).where(
        col(AgentIntervalState.interval_start) >= start, col(AgentIntervalState.interval_start) < end
    )
    figures = _Presence.of((await reader.execute(statement)).one()._mapping)
    return schemas.PoolPresence(
        **dataclasses.asdict(figures), occupancy=figures.occupancy(), utilisation=figures.utilisation()
    )


def _busy() -> Any:
    """An agent row's busy seconds: talk, hold and wrap-up."""
    return (
        col(IntervalRollup.talk_seconds_sum)
        + col(IntervalRollup.hold_seconds_sum)
        + col(IntervalRollup.wrap_seconds_sum)
    )


async def busy_seconds_by_tenant(reader: AsyncSession, start: dt.datetime, end: dt.datetime) -> dict[uuid.UUID, float]:
    """Each tenant's agent time (talk, hold and wrap-up) in the intervals in [start, end), from the rollups'
    agent rows (handle-based: the interval the work ended in); tenants with none are absent.

    ``reader`` is a ``tenants.service.cross_tenant_read`` session (every tenant's rows).
    """
    statement = (
        select(col(IntervalRollup.tenant_id), _sum(_busy(), "busy"))
        .where(*_in_window(start, end), col(IntervalRollup.agent_id).is_not(None))
        .group_by(col(IntervalRollup.tenant_id))
    )
    return {row.tenant_id: float(row.busy) for row in (await reader.execute(statement)).all() if row.busy}


def _tenant_agents(agent_ids: Sequence[uuid.UUID] | None) -> Any:
    """The acting tenant's agents (its assignments, under its filter and row-level security)."""
    statement = select(col(AgentAssignment.agent_id))
    if agent_ids is not None:
        statement = statement.where(col(AgentAssignment.agent_id).in_(list(agent_ids)))
    return statement


# --- contacts one by one (billing meters them) ------------------------------------------------------------


async def handled_contacts_after(
    session: AsyncSession, log_seq: int, position: int, limit: int
) -> list[schemas.HandledContact]:
    """The acting tenant's first ``limit`` contacts whose handling ended after (log_seq, position), in log order.

    Each contact's work is folded from its whole event log by the rollups' own rules (``fold``: talk is connected
    time less hold, per segment) and its agents' wrap-ups by ``wrap_up_end``, so a contact's figures add up to
    what the interval rollups hold for it.
    """
    order = (col(InteractionEvent.log_seq), col(InteractionEvent.position))
    ended = (
        await session.execute(
            sa.select(*_EVENT_COLUMNS)
            .where(col(InteractionEvent.type) == "ended", sa.tuple_(*order) > sa.tuple_(log_seq, position))
            .order_by(*order)
            .limit(limit)
        )
    ).all()
    if not ended:
        return []
    ends = [EventRecord(*row) for row in ended]
    ids = [end.interaction_id for end in ends]
    events: dict[uuid.UUID, list[EventRecord]] = {}
    # One array parameter rather than thousands of IN parameters.
    in_batch = sa.any_(sa.cast(sa.bindparam("ids", ids), ARRAY(sa.Uuid)))
    statement = sa.select(*_EVENT_COLUMNS).where(col(InteractionEvent.interaction_id) == in_batch).order_by(*order)
    for row in (await session.execute(statement)).all():
        record = EventRecord(*row)
        events.setdefault(record.interaction_id, []).append(record)
    # A callback's contact carries its callback's id (``app.routing.callbacks``): it was dialled out.
    dialled_out = sa.cast(col(Interaction.context), JSONB).has_key("callback_id")
    kinds = {
        interaction_id: (channel, outbound)
        for interaction_id, channel, outbound in (
            await session.execute(
                sa.select(col(Interaction.id), col(Interaction.channel), dialled_out).where(
                    col(Interaction.id) == in_batch
                )
            )
        ).all()
    }
    folded = {interaction_id: fold((), events[interaction_id]) for interaction_id in ids}
    starts = [start for rollups in folded.values() for start in rollups.wraps]
    wraps: dict[uuid.UUID, list[int | None]] = {}
    for start, wrap in zip(starts, await _wrap_up_ends(session, starts), strict=True):
        wraps.setdefault(start.interaction_id, []).append(wrap)
    contacts = []
    for end in ends:
        # The router ends only a connected contact, so its ``ended`` event names the agent and the queue.
        if end.agent_id is None or end.queue_id is None:
            continue
        queue_rows = [tally for key, tally in folded[end.interaction_id].tallies.items() if key.agent_id is None]
        contact_wraps = wraps.get(end.interaction_id, [])
        contacts.append(
            schemas.HandledContact(
                interaction_id=end.interaction_id,
                log_seq=end.log_seq,
                position=end.position,
                ended_at=end.at,
                queue_id=end.queue_id,
                agent_id=end.agent_id,
                channel=kinds[end.interaction_id][0],
                talk_seconds=_seconds(sum(tally.talk_micros for tally in queue_rows)),
                hold_seconds=_seconds(sum(tally.hold_micros for tally in queue_rows)),
                wrap_seconds=None if None in contact_wraps else _seconds(sum(w or 0 for w in contact_wraps)),
                transfers=sum(tally.transfers for tally in queue_rows),
                outbound=kinds[end.interaction_id][1],
            )
        )
    return contacts


# --- reports -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Scope:
    """What a report reads: the acting tenant, its time zone, the window in UTC and the filters."""

    tenant: Tenant
    zone: ZoneInfo
    start: dt.datetime
    end: dt.datetime
    query: schemas.ReportQuery

    def bucket(self, column: Any) -> Any:
        """A timestamp column as its bucket: the interval itself, or the tenant's local day."""
        if self.query.granularity == "interval":
            return column
        return sa.cast(sa.func.timezone(self.tenant.timezone, column), sa.Date)

    def period_start(self, bucket: dt.datetime | dt.date) -> dt.datetime:
        if isinstance(bucket, dt.datetime):
            return bucket.astimezone(self.zone)
        return dt.datetime.combine(bucket, dt.time(), self.zone)

    def buckets(self) -> list[dt.datetime | dt.date]:
        """Every bucket of the period, for time series without gaps."""
        if self.query.granularity == "day":
            days = (self.query.last_day - self.query.first_day).days + 1
            return [self.query.first_day + dt.timedelta(days=n) for n in range(days)]
        count = (self.end - self.start) // INTERVAL
        return [self.start + n * INTERVAL for n in range(count)]

    def rollup_rows(self, *, by_agent: bool | None = None) -> list[Any]:
        """Window and filters on ``interval_rollups``: queue totals, or agent rows with an agent filter.

        ``by_agent=True`` asks for agent rows whatever the filter (agent reports).
        """
        conditions = _in_window(self.start, self.end)
        if self.query.queue_ids:
            conditions.append(col(IntervalRollup.queue_id).in_(self.query.queue_ids))
        if self.query.agent_id is not None:
            conditions.append(col(IntervalRollup.agent_id) == self.query.agent_id)
        elif by_agent:
            conditions.append(col(IntervalRollup.agent_id).is_not(None))
        else:
            conditions.append(col(IntervalRollup.agent_id).is_(None))
        return conditions

    def presence_rows(self) -> list[Any]:
        agent_ids = [self.query.agent_id] if self.query.agent_id is not None else None
        return [
            col(AgentIntervalState.agent_id).in_(_tenant_agents(agent_ids)),
            col(AgentIntervalState.interval_start) >= self.start,
            col(AgentIntervalState.interval_start) < self.end,
        ]

    def report(self, kind: str, rows: list[Any]) -> schemas.Report[Any]:
        return schemas.Report(
            report=kind,
            tenant_id=self.tenant.id,
            timezone=self.tenant.timezone,
            first_day=self.query.first_day,
            last_day=self.query.last_day,
            granularity=self.query.granularity,
            queue_ids=list(self.query.queue_ids),
            agent_id=self.query.agent_id,
            rows=rows,
        )


def check_days(first_day: dt.date, last_day: dt.date, granularity: str) -> None:
    if last_day < first_day:
        raise query_error("end", "the last day comes before the first")
    days = (last_day - first_day).days + 1
    limit = MAX_INTERVAL_DAYS if granularity == "interval" else MAX_REPORT_DAYS
    if days > limit:
        raise query_error("end", f"at most {limit} days at {granularity} granularity")


async def report_days(
    session: AsyncSession, period: PeriodPreset | None, first_day: dt.date | None, last_day: dt.date | None
) -> tuple[dt.date, dt.date]:
    """The days a request asks for: ``first_day`` (to ``last_day``, default the same day), else a preset period
    seen from today in the acting tenant's time zone (UTC for the operator's overview); default today."""
    if first_day is not None:
        return first_day, last_day or first_day
    if last_day is not None:
        raise query_error("start", "give the first day too")
    tenant = await session.get(Tenant, require_tenant_id()) if current_tenant_id() else None
    zone = ZoneInfo(tenant.timezone) if tenant is not None else dt.UTC
    return preset_days(period or "today", utcnow().astimezone(zone).date())


async def _scope(session: AsyncSession, query: schemas.ReportQuery) -> _Scope:
    tenant = await session.get(Tenant, require_tenant_id())
    if tenant is None:
        raise NotFoundError("no such tenant")
    check_days(query.first_day, query.last_day, query.granularity)
    await _check_references(session, query.queue_ids, query.agent_id, source="query")
    zone = ZoneInfo(tenant.timezone)
    start, end = utc_window(query.first_day, query.last_day, zone)
    return _Scope(tenant, zone, start, end, query)


async def _check_references(
    session: AsyncSession, queue_ids: Sequence[uuid.UUID], agent_id: uuid.UUID | None, *, source: str
) -> None:
    """Queues and the agent a report names are the acting tenant's (another tenant's read as missing)."""
    if queue_ids:
        found = set((await session.exec(select(Queue.id).where(col(Queue.id).in_(list(queue_ids))))).all())
        if missing := sorted(str(q) for q in set(queue_ids) - found):
            raise InvalidInputError(
                f"queue_id: no such queue {', '.join(missing)}",
                errors=[FieldError(field="queue_id", message="no such queue", source=source)],
            )
    if agent_id is not None:
        assigned = (await session.exec(select(AgentAssignment.id).where(AgentAssignment.agent_id == agent_id))).first()
        if assigned is None:
            raise InvalidInputError(
                "agent_id: no such agent",
                errors=[FieldError(field="agent_id", message="no such agent", source=source)],
            )


@dataclasses.dataclass(frozen=True, slots=True)
class _QueueTarget:
    name: str
    target_index: int
    target_service_level: float | None


async def _queue_targets(session: AsyncSession, queue_ids: Sequence[uuid.UUID] = ()) -> dict[uuid.UUID, _QueueTarget]:
    """Each queue's name and answer target (as measured: the histogram edge at or below it)."""
    statement = select(Queue.id, Queue.name, Queue.answer_target_seconds, Queue.target_service_level)
    if queue_ids:
        statement = statement.where(col(Queue.id).in_(list(queue_ids)))
    return {
        queue_id: _QueueTarget(name, edge_at_or_below(target), level)
        for queue_id, name, target, level in (await session.exec(statement)).all()
    }


def _within(column: Any, targets: Mapping[uuid.UUID, _QueueTarget]) -> Any:
    """The histogram entry at each row's own queue target."""
    if not targets:
        return sa.literal(0)
    whens = {queue_id: _hist_at(column, target.target_index) for queue_id, target in targets.items()}
    return sa.case(whens, value=col(IntervalRollup.queue_id), else_=0)


def _sum(expression: Any, label: str) -> Any:
    return sa.func.coalesce(sa.func.sum(expression), 0).label(label)


@dataclasses.dataclass(frozen=True, slots=True)
class _ContractTarget:
    """The service-level target of the tenant's SLA contract: what compliance is measured against when there is one."""

    version: int
    definition: str
    within_seconds: int
    goal: float | None
    short_abandon_seconds: int

    def service_level(self, counts: SlCounts) -> float | None:
        from app.sla import engine as sla_engine

        sla_counts = sla_engine.SlCounts(**dataclasses.asdict(counts))
        return sla_engine.service_level(sla_counts, sla_engine.Definition(self.definition)).value


async def _contract_target(session: AsyncSession, day: dt.date) -> _ContractTarget | None:
    """The SLA contract's service-level target in force on ``day``, if the tenant has one."""
    # Imported here: the SLA domain reads these rollups through this module, so it imports it first.
    from app.sla import service as sla

    contract = await sla.contract_in_force(session, day)
    target = sla.primary_service_level(contract) if contract is not None else None
    if contract is None or target is None or target.within_seconds is None:
        return None
    return _ContractTarget(
        contract.version, contract.definition, target.within_seconds, target.minimum, contract.short_abandon_seconds
    )


ROUTING_DEFINITION = "answered_within / (answered + abandoned)"


async def service_level_report(
    session: AsyncSession, query: schemas.ReportQuery
) -> schemas.Report[schemas.ServiceLevelRow]:
    """Per bucket and queue: arrivals, answers and abandons within the answer target, against the goal.

    The target, goal and definition are the tenant's SLA contract's (the version in force on the period's
    last day) when it has one; otherwise each queue's own answer target and goal, measured as routing does.
    """
    if query.agent_id is not None:
        raise query_error("agent_id", "service level is measured per queue, not per agent; drop the agent filter")
    scope = await _scope(session, query)
    targets = await _queue_targets(session, query.queue_ids)
    contract = await _contract_target(session, query.last_day)
    if contract is not None:
        index = edge_index(contract.within_seconds)
        targets = {
            queue_id: dataclasses.replace(t, target_index=index, target_service_level=contract.goal)
            for queue_id, t in targets.items()
        }
        short = edge_index(contract.short_abandon_seconds)
    else:
        short = edge_index(get_settings().short_abandon_seconds)
    bucket = scope.bucket(col(IntervalRollup.interval_start)).label("bucket")
    statement = (
        sa.select(
            bucket,
            col(IntervalRollup.queue_id),
            _sum(col(IntervalRollup.offered), "offered"),
            _sum(col(IntervalRollup.answered), "answered"),
            _sum(_within(IntervalRollup.answered_wait_hist, targets), "answered_within"),
            _sum(col(IntervalRollup.abandoned), "abandoned"),
            _sum(_within(IntervalRollup.abandoned_wait_hist, targets), "abandoned_within"),
            _sum(_hist_at(IntervalRollup.abandoned_wait_hist, short), "abandoned_short"),
        )
        .where(*scope.rollup_rows())
        .group_by(bucket, col(IntervalRollup.queue_id))
    )
    rows = []
    for row in (await session.execute(statement)).all():
        target = targets[row.queue_id]
        counts = SlCounts(
            int(row.offered),
            int(row.answered),
            int(row.answered_within),
            int(row.abandoned),
            int(row.abandoned_within),
            int(row.abandoned_short),
        )
        level = contract.service_level(counts) if contract is not None else service_level(counts)
        goal = target.target_service_level
        rows.append(
            schemas.ServiceLevelRow(
                period_start=scope.period_start(row.bucket),
                queue_id=row.queue_id,
                queue=target.name,
                offered=counts.offered,
                answered=counts.answered,
                answered_within=counts.answered_within,
                abandoned=counts.abandoned,
                abandoned_within=counts.abandoned_within,
                abandoned_short=counts.abandoned_short,
                answer_target_seconds=WAIT_EDGES[target.target_index],
                target_service_level=goal,
                service_level=level,
                met=None if level is None or goal is None else level >= goal,
                definition=contract.definition if contract is not None else ROUTING_DEFINITION,
                contract_version=contract.version if contract is not None else None,
            )
        )
    rows.sort(key=lambda r: (r.period_start, r.queue.lower(), str(r.queue_id)))
    return scope.report("service-level", rows)


_HANDLE_SUMS = ("handled", "talk_seconds_sum", "hold_seconds_sum", "wrap_seconds_sum", "transfers", "resolved")


def _handling(sums: Mapping[Any, Any]) -> dict[str, Any]:
    """AHT and its parts per handled contact, transfers, first-contact resolution (``sums`` may be empty)."""
    handled = int(sums.get("handled", 0))
    talk, hold, wrap = (
        float(sums.get(name, 0)) for name in ("talk_seconds_sum", "hold_seconds_sum", "wrap_seconds_sum")
    )
    return {
        "handled": handled,
        "aht_seconds": ratio(talk + hold + wrap, handled),
        "talk_seconds": ratio(talk, handled),
        "hold_seconds": ratio(hold, handled),
        "wrap_up_seconds": ratio(wrap, handled),
        "transfers": int(sums.get("transfers", 0)),
        "fcr": ratio(int(sums.get("resolved", 0)), handled),
    }


async def volumes_report(session: AsyncSession, query: schemas.ReportQuery) -> schemas.Report[schemas.VolumeRow]:
    """Per bucket: offered, answered, abandoned, ASA, AHT (talk, hold, wrap-up), transfers, FCR.

    With an agent filter the figures are that agent's: answers and handling, no arrivals or abandons.
    """
    scope = await _scope(session, query)
    bucket = scope.bucket(col(IntervalRollup.interval_start)).label("bucket")
    statement = (
        sa.select(bucket, *(_sum(getattr(IntervalRollup, name), name) for name in _ADDITIVE))
        .where(*scope.rollup_rows())
        .group_by(bucket)
    )
    found = {row.bucket: row._mapping for row in (await session.execute(statement)).all()}
    by_agent = query.agent_id is not None
    rows = []
    for key in scope.buckets():
        sums: Mapping[Any, Any] = found.get(key, {})
        offered, answered, abandoned = (int(sums.get(name, 0)) for name in ("offered", "answered", "abandoned"))
        rows.append(
            schemas.VolumeRow(
                period_start=scope.period_start(key),
                offered=None if by_agent else offered,
                answered=answered,
                abandoned=None if by_agent else abandoned,
                removed=None if by_agent else int(sums.get("removed", 0)),
                abandon_rate=None if by_agent else ratio(abandoned, offered),
                asa_seconds=ratio(float(sums.get("wait_seconds_sum", 0)), answered),
                **_handling(sums),
            )
        )
    return scope.report("volumes", rows)


def _presence_sums() -> list[Any]:
    return [_sum(getattr(AgentIntervalState, f"{state}_seconds"), state) for state in PRESENCE_STATES]


@dataclasses.dataclass(frozen=True, slots=True)
class _Presence:
    """Summed seconds per presence state (offline left out: it is not staffed time)."""

    available: float = 0.0
    offered: float = 0.0
    on_contact: float = 0.0
    wrap_up: float = 0.0
    on_break: float = 0.0

    @classmethod
    def of(cls, sums: Mapping[Any, Any]) -> _Presence:
        return cls(*(float(sums[state]) for state in ("available", "offered", "on_contact", "wrap_up", "break")))

    @property
    def busy(self) -> float:
        return self.on_contact + self.wrap_up

    @property
    def working(self) -> float:
        return self.available + self.offered + self.busy

    @property
    def staffed(self) -> float:
        return self.working + self.on_break

    def occupancy(self) -> float | None:
        return ratio(self.busy, self.working)

    def utilisation(self) -> float | None:
        return ratio(self.working, self.staffed)


async def occupancy_report(session: AsyncSession, query: schemas.ReportQuery) -> schemas.Report[schemas.OccupancyRow]:
    """Per bucket: the tenant's agents' time by state (for every tenant), occupancy, utilisation, and the share
    of their busy time that was this tenant's."""
    scope = await _scope(session, query)
    bucket = scope.bucket(col(AgentIntervalState.interval_start)).label("bucket")
    staffed = sa.or_(
        *(getattr(AgentIntervalState, f"{state}_seconds") > 0 for state in PRESENCE_STATES if state != "offline")
    )
    statement = (
        select(
            bucket,
            sa.func.count(sa.distinct(sa.case((staffed, col(AgentIntervalState.agent_id))))).label("agents"),
            *_presence_sums(),
        )
        .where(*scope.presence_rows())
        .group_by(bucket)
    )
    presence = {row.bucket: row._mapping for row in (await session.execute(statement)).all()}
    busy = await _tenant_busy(session, scope, scope.bucket(col(IntervalRollup.interval_start)))
    rows = []
    for key in scope.buckets():
        sums = presence.get(key)
        figures = _Presence.of(sums) if sums else _Presence()
        tenant_busy = busy.get(key, 0.0)
        rows.append(
            schemas.OccupancyRow(
                period_start=scope.period_start(key),
                agents=int(sums["agents"]) if sums else 0,
                staffed_seconds=figures.staffed,
                available_seconds=figures.available,
                offered_seconds=figures.offered,
                on_contact_seconds=figures.on_contact,
                wrap_up_seconds=figures.wrap_up,
                break_seconds=figures.on_break,
                occupancy=figures.occupancy(),
                utilisation=figures.utilisation(),
                tenant_busy_seconds=tenant_busy,
                tenant_share=ratio(tenant_busy, figures.busy),
            )
        )
    return scope.report("occupancy", rows)


async def _tenant_busy(session: AsyncSession, scope: _Scope, group: Any) -> dict[Any, float]:
    """Talk, hold and wrap-up for this tenant from its agent rows, grouped by ``group`` (bucket or agent)."""
    key = group.label("key")
    statement = select(key, _sum(_busy(), "busy")).where(*scope.rollup_rows(by_agent=True)).group_by(key)
    return {row.key: float(row.busy) for row in (await session.execute(statement)).all()}


async def agents_report(session: AsyncSession, query: schemas.ReportQuery) -> schemas.Report[schemas.AgentRow]:
    """Per agent (by the alias the tenant knows): answers, handling, occupancy and the tenant's share of its time."""
    scope = await _scope(session, query)
    aliases_statement = select(AgentAssignment.agent_id, AgentAssignment.alias)
    if query.agent_id is not None:
        aliases_statement = aliases_statement.where(AgentAssignment.agent_id == query.agent_id)
    aliases = dict((await session.exec(aliases_statement)).all())
    handling_sums = (_sum(getattr(IntervalRollup, name), name) for name in ("answered", *_HANDLE_SUMS))
    handling = {
        row.agent_id: row._mapping
        for row in (
            await session.execute(
                sa.select(col(IntervalRollup.agent_id), *handling_sums)
                .where(*scope.rollup_rows(by_agent=True))
                .group_by(col(IntervalRollup.agent_id))
            )
        ).all()
    }
    presence = {
        row.agent_id: _Presence.of(row._mapping)
        for row in (
            await session.execute(
                select(col(AgentIntervalState.agent_id), *_presence_sums())
                .where(*scope.presence_rows())
                .group_by(col(AgentIntervalState.agent_id))
            )
        ).all()
    }
    busy = await _tenant_busy(session, scope, col(IntervalRollup.agent_id))
    rows = []
    for agent_id, alias in aliases.items():
        sums: Mapping[Any, Any] = handling.get(agent_id, {})
        figures = presence.get(agent_id, _Presence())
        rows.append(
            schemas.AgentRow(
                agent_id=agent_id,
                agent=alias,
                answered=int(sums.get("answered", 0)),
                staffed_seconds=figures.staffed,
                occupancy=figures.occupancy(),
                utilisation=figures.utilisation(),
                tenant_share=ratio(busy.get(agent_id, 0.0), figures.busy),
                **_handling(sums),
            )
        )
    rows.sort(key=lambda r: (r.agent.lower(), str(r.agent_id)))
    return scope.report("agents", rows)


async def dispositions_report(
    session: AsyncSession, query: schemas.ReportQuery
) -> schemas.Report[schemas.DispositionRow]:
    """Contacts per disposition code over the period (ended in it), most frequent first."""
    scope = await _scope(session, query)
    counts = await _dispositions(session, scope.rollup_rows())
    total = sum(counts.values())
    labels = await disposition_labels(session)
    rows = [
        schemas.DispositionRow(disposition=code, label=labels.get(code), contacts=count, share=ratio(count, total))
        for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    return scope.report("dispositions", rows)


REPORTS: dict[str, Callable[[AsyncSession, schemas.ReportQuery], Awaitable[schemas.Report[Any]]]] = {
    "service-level": service_level_report,
    "volumes": volumes_report,
    "occupancy": occupancy_report,
    "agents": agents_report,
    "dispositions": dispositions_report,
}


async def run_report(
    session: AsyncSession, kind: schemas.ReportKind, query: schemas.ReportQuery
) -> schemas.Report[Any]:
    """The acting tenant's report of this kind."""
    return await REPORTS[kind](session, query)


async def export_report(
    session: AsyncSession, kind: schemas.ReportKind, query: schemas.ReportQuery, file_format: schemas.ExportFormat
) -> exports.ExportFile:
    report = await run_report(session, kind, query)
    tenant = await session.get(Tenant, require_tenant_id())
    assert tenant is not None  # the report found it
    return exports.export(report, kind, file_format, tenant.slug)


async def tenants_overview(
    reader: AsyncSession, first_day: dt.date, last_day: dt.date
) -> schemas.Report[schemas.TenantOverviewRow]:
    """Every tenant's headline figures for its own local days ``first_day`` to ``last_day``.

    ``reader`` is a ``tenants.service.cross_tenant_read`` session (audited, read-only, every tenant).
    """
    check_days(first_day, last_day, "day")
    tenants = (
        await reader.exec(
            select(Tenant.id, Tenant.name)
            .where(col(Tenant.status).in_(["active", "suspended"]))
            .order_by(col(Tenant.name))
        )
    ).all()
    targets = await _queue_targets(reader)
    local_start = dt.datetime.combine(first_day, dt.time())
    local_end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time())
    statement = (
        sa.select(
            col(IntervalRollup.tenant_id),
            *(_sum(getattr(IntervalRollup, name), name) for name in _ADDITIVE),
            _sum(_within(IntervalRollup.answered_wait_hist, targets), "answered_within"),
        )
        .join(Tenant, col(Tenant.id) == col(IntervalRollup.tenant_id))
        .where(
            col(IntervalRollup.agent_id).is_(None),
            col(IntervalRollup.interval_start) >= sa.func.timezone(col(Tenant.timezone), local_start),
            col(IntervalRollup.interval_start) < sa.func.timezone(col(Tenant.timezone), local_end),
        )
        .group_by(col(IntervalRollup.tenant_id))
    )
    found = {row.tenant_id: row._mapping for row in (await reader.execute(statement)).all()}
    rows = []
    for tenant_id, tenant_name in tenants:
        sums: Mapping[Any, Any] = found.get(tenant_id, {})
        handling = _handling(sums)
        offered, answered, abandoned = (int(sums.get(name, 0)) for name in ("offered", "answered", "abandoned"))
        rows.append(
            schemas.TenantOverviewRow(
                tenant_id=tenant_id,
                tenant=tenant_name,
                offered=offered,
                answered=answered,
                abandoned=abandoned,
                abandon_rate=ratio(abandoned, offered),
                service_level=ratio(int(sums.get("answered_within", 0)), answered + abandoned),
                asa_seconds=ratio(float(sums.get("wait_seconds_sum", 0)), answered),
                aht_seconds=handling["aht_seconds"],
                fcr=handling["fcr"],
            )
        )
    return schemas.Report(
        report="tenants",
        tenant_id=None,
        timezone="each tenant's own",
        first_day=first_day,
        last_day=last_day,
        granularity="total",
        queue_ids=[],
        agent_id=None,
        rows=rows,
    )


# --- scheduled reports ---------------------------------------------------------------------------------

REPORT_DELIVERED_TOPIC = "report.delivered"
WEBHOOK_FILE_LIMIT_BYTES = 512 * 1024  # larger files travel by email or the export API, not in the event
# A delivery that fails (mail server down, a queue gone) stays due and is tried again at the next run.
DELIVERY_ERRORS = (mail.MailNotConfigured, smtplib.SMTPException, OSError, InvalidInputError)


def schedule_out(row: ReportSchedule) -> schemas.ReportScheduleOut:
    return to_struct(schemas.ReportScheduleOut, row)


async def _tenant(session: AsyncSession) -> Tenant:
    tenant = await session.get(Tenant, require_tenant_id())
    if tenant is None:
        raise NotFoundError("no such tenant")
    return tenant


def _due_after(row: ReportSchedule, after: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    frequency: Frequency = "weekly" if row.frequency == "weekly" else "daily"
    return next_due(after, zone, frequency, row.weekday, dt.time.fromisoformat(row.time_of_day))


def _check_schedule(row: ReportSchedule) -> None:
    if row.frequency == "weekly" and row.weekday is None:
        raise InvalidInputError.for_field("weekday", "a weekly schedule needs a weekday (0 Monday .. 6 Sunday)")
    if row.frequency == "daily":
        row.weekday = None
    if row.report == "service-level" and row.agent_id is not None:
        raise InvalidInputError.for_field("agent_id", "service level is measured per queue, not per agent")


def _scheduled_period(row: ReportSchedule) -> PeriodPreset:
    period: PeriodPreset = msgspec.convert(row.period, schemas.ScheduledPeriod)
    return period


async def _check_name(session: AsyncSession, name: str, schedule_id: uuid.UUID | None) -> None:
    statement = select(ReportSchedule.id).where(ReportSchedule.name == name)
    if schedule_id is not None:
        statement = statement.where(ReportSchedule.id != schedule_id)
    if (await session.exec(statement)).first() is not None:
        raise ConflictError(
            "name: another schedule has this name",
            errors=[FieldError(field="name", message="another schedule has this name", source="body")],
        )


async def list_schedules(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.ReportScheduleOut]:
    rows = (await session.exec(paginate(select(ReportSchedule), col(ReportSchedule.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[schedule_out(row) for row in items], next_cursor=next_cursor)


async def get_schedule(session: AsyncSession, schedule_id: uuid.UUID) -> ReportSchedule:
    row = (await session.exec(select(ReportSchedule).where(ReportSchedule.id == schedule_id))).first()
    if row is None:
        raise NotFoundError("no such report schedule")
    return row


async def create_schedule(session: AsyncSession, data: schemas.ReportScheduleCreate) -> ReportSchedule:
    await _check_references(session, data.queue_ids, data.agent_id, source="body")
    await _check_name(session, data.name, None)
    tenant = await _tenant(session)
    row = ReportSchedule(**msgspec.structs.asdict(data), next_due_at=utcnow())
    _check_schedule(row)
    row.next_due_at = _due_after(row, utcnow(), ZoneInfo(tenant.timezone))
    session.add(row)
    await session.flush()
    await audit(
        session, "report_schedule.created", object_type="report_schedule", object_id=row.id, detail={"name": row.name}
    )
    return row


async def update_schedule(
    session: AsyncSession, schedule_id: uuid.UUID, data: schemas.ReportScheduleUpdate, *, if_match: int | None
) -> ReportSchedule:
    row = await get_schedule(session, schedule_id)
    check_version("report schedule", row, if_match)
    changes = given_fields(data)
    if "queue_ids" in changes or "agent_id" in changes:
        await _check_references(session, changes.get("queue_ids", ()), changes.get("agent_id"), source="body")
    if "name" in changes:
        await _check_name(session, changes["name"], row.id)
    apply_changes(row, changes)
    _check_schedule(row)
    # A new time, or a schedule enabled again, is due from now on (never for the days it was off).
    tenant = await _tenant(session)
    row.next_due_at = _due_after(row, utcnow(), ZoneInfo(tenant.timezone))
    await session.flush()
    await audit(
        session,
        "report_schedule.updated",
        object_type="report_schedule",
        object_id=row.id,
        detail={"fields": sorted(changes)},
    )
    return row


async def delete_schedule(session: AsyncSession, schedule_id: uuid.UUID, *, if_match: int | None) -> None:
    row = await get_schedule(session, schedule_id)
    check_version("report schedule", row, if_match)
    await session.delete(row)
    await session.flush()
    await audit(
        session,
        "report_schedule.deleted",
        object_type="report_schedule",
        object_id=schedule_id,
        detail={"name": row.name},
    )


async def _next_due(session: AsyncSession, now: dt.datetime, skip: set[uuid.UUID]) -> ReportSchedule | None:
    statement = (
        select(ReportSchedule)
        .where(col(ReportSchedule.enabled), col(ReportSchedule.next_due_at) <= now)
        .order_by(col(ReportSchedule.next_due_at))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if skip:
        statement = statement.where(col(ReportSchedule.id).not_in(list(skip)))
    return (await session.exec(statement)).first()


async def _deliver(session: AsyncSession, schedule: ReportSchedule) -> None:
    """Records the delivery of the schedule's due time, moves it to the next one, then mails the file."""
    settings = get_settings()
    tenant = await _tenant(session)
    zone = ZoneInfo(tenant.timezone)
    due = schedule.next_due_at
    first, last = preset_days(_scheduled_period(schedule), due.astimezone(zone).date())
    kind = msgspec.convert(schedule.report, schemas.ReportKind)
    file_format = msgspec.convert(schedule.format, schemas.ExportFormat)
    query = schemas.ReportQuery(
        first_day=first,
        last_day=last,
        granularity=msgspec.convert(schedule.granularity, schemas.Granularity),
        queue_ids=tuple(schedule.queue_ids),
        agent_id=schedule.agent_id,
    )
    report = await run_report(session, kind, query)
    file = exports.export(report, kind, file_format, tenant.slug)
    # The unique (schedule, due time) makes a second delivery of this due time fail here, before any mail.
    session.add(
        ReportDelivery(
            schedule_id=schedule.id,
            due_at=due,
            period_start=first,
            period_end=last,
            filename=file.filename,
            recipients=list(schedule.recipients),
            rows=len(report.rows),
        )
    )
    schedule.next_due_at = _due_after(schedule, due, zone)
    schedule.last_delivered_at = utcnow()
    delivered = schemas.ReportDelivered(
        schedule_id=schedule.id,
        schedule=schedule.name,
        report=kind,
        format=file_format,
        first_day=first,
        last_day=last,
        due_at=due,
        filename=file.filename,
        rows=len(report.rows),
        recipients=len(schedule.recipients),
        media_type=file.media_type,
        content_base64=(
            base64.b64encode(file.content).decode() if len(file.content) <= WEBHOOK_FILE_LIMIT_BYTES else None
        ),
    )
    await emit(session, REPORT_DELIVERED_TOPIC, msgspec.to_builtins(delivered))
    await session.flush()
    if not schedule.recipients:
        return  # webhook only
    title = schemas.REPORT_TITLES[kind]
    message = mail.message(
        settings,
        to=schedule.recipients,
        subject=f"{title}: {tenant.name}, {first.isoformat()} to {last.isoformat()}",
        body=(
            f"{title} for {tenant.name}, {first.isoformat()} to {last.isoformat()} ({tenant.timezone}), "
            f"{len(report.rows)} rows, attached as {file.filename}.\n\n"
            f'Sent by the schedule "{schedule.name}" in Tenline.\n'
        ),
        attachments=[mail.Attachment(file.filename, file.content, file.media_type)],
    )
    await mail.send(settings, message)


async def deliver_due_reports(now: dt.datetime) -> int:
    """Delivers every schedule of the acting tenant due by ``now``, each due time once; returns how many.

    Each delivery is one transaction holding its schedule's row lock, and the mail is sent last inside it:
    a concurrent run skips the schedule, a failed send rolls the delivery back (it stays due), and a
    committed delivery has moved the schedule to its next due time. Only a crash between the mail
    server accepting the message and the commit can send a due time twice.
    """
    delivered = 0
    failed: set[uuid.UUID] = set()
    while True:
        async with get_database().session() as session:
            schedule = await _next_due(session, now, failed)
            if schedule is None:
                return delivered
            schedule_id = schedule.id
            try:
                async with session.begin_nested():
                    await _deliver(session, schedule)
            except DELIVERY_ERRORS as exc:
                failed.add(schedule_id)
                log.warning("report.delivery_failed", schedule_id=str(schedule_id), error=str(exc))
                continue
        delivered += 1


# --- `tenline reports rebuild` ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Rebuilt:
    tenant: str | None  # slug; None: agents' presence
    folded: int  # events (or presence changes) replayed


async def rebuild(slug: str | None = None) -> list[Rebuilt]:
    """Rebuilds one tenant's rollups (by slug), or every live tenant's and the agents' presence states.

    Each tenant in its own transaction, in its own context (row-level security applies as in the job).
    """
    database = get_database()
    async with database.session() as session:
        statement = select(Tenant.id, Tenant.slug).order_by(col(Tenant.slug))
        if slug is None:
            statement = statement.where(col(Tenant.status).in_(["active", "suspended"]))
        else:
            statement = statement.where(Tenant.slug == slug)
        tenants = (await session.exec(statement)).all()
    if slug is not None and not tenants:
        raise NotFoundError(f"no tenant with the slug {slug!r}")
    done = []
    for tenant_id, tenant_slug in tenants:
        with acting_as(system_principal(tenant_id)):
            async with database.session() as session:
                done.append(Rebuilt(tenant_slug, await rebuild_rollups(session)))
    if slug is None:
        async with database.session() as session:
            done.append(Rebuilt(None, await rebuild_presence(session)))
    return done
