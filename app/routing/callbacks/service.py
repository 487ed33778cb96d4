"""Scheduled callbacks: the only code that reads and writes ``scheduled_callbacks``.

Everything runs in the acting tenant's context. Scheduling and cancelling are the API's; ``queue_due`` and
``settle`` are the due job's, each claiming its rows with ``FOR UPDATE SKIP LOCKED`` so that two workers never
handle one callback twice; ``arrival_for`` is what the outbox's subscriber puts in line.

Why a callback's status follows its interaction by a periodic job (``settle``) rather than on every read: the
router writes interactions in batches on its own schedule, a list filtered by status must be a plain indexed
query, and the job that queues callbacks runs every few seconds anyway. Cancelling reads the interaction
itself, so it is refused as soon as the router has recorded an agent's answer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlmodel import and_, col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.core.models import new_id
from app.core.outbox import emit
from app.core.pagination import Page, paginate_sorted, query_error, sort_orders, sorted_page_of
from app.core.phones import region_of_locale
from app.core.rows import to_struct
from app.core.tenancy import require_tenant_id
from app.core.versioning import check_version
from app.routing import commands as cmd
from app.routing.callbacks import schemas
from app.routing.callbacks.models import CallbackStatus, ScheduledCallback
from app.routing.models import Interaction, InteractionState, Queue, QueueChannel
from app.routing.service import normalise_e164
from tenants.models import Tenant, TenantStatus
from tenants.service import audit

CALLBACK_DUE_TOPIC = "callback.due"  # also the webhook event type (app.integrations)
CALLBACK_CANCELLED_TOPIC = "callback.cancelled"

MAX_AHEAD = dt.timedelta(days=30)
DUE_BATCH = 100
# A queued callback whose contact the router has not recorded after this long never reached it (refused, or
# the command was lost): it failed. Long enough to cover a router failover and a worker restart.
LOST_AFTER = dt.timedelta(minutes=10)
# A cancel can lose the race to an agent's answer (the router took the answer first): for this long after its
# due time a cancelled callback is still checked, and recorded as completed if it was answered after all.
CANCEL_RACE_WINDOW = dt.timedelta(days=1)

_FINISHED = (InteractionState.ENDED, InteractionState.ABANDONED, InteractionState.REMOVED)
_ORDERS = sort_orders(
    due_at=col(ScheduledCallback.due_at),
    created_at=col(ScheduledCallback.created_at),
    updated_at=col(ScheduledCallback.updated_at),
)


def callback_out(row: ScheduledCallback) -> schemas.CallbackOut:
    return to_struct(schemas.CallbackOut, row)


async def _tenant(session: AsyncSession) -> Tenant:
    tenant = await session.get(Tenant, require_tenant_id())
    if tenant is None:
        raise NotFoundError("no such tenant")
    return tenant


# --- scheduling and reading ----------------------------------------------------------------------


async def _check_queue(session: AsyncSession, queue_id: uuid.UUID) -> None:
    """The callback's queue: an active voice queue of this tenant (another tenant's reads as missing)."""
    queue = (await session.exec(select(Queue).where(Queue.id == queue_id))).first()
    if queue is None:
        raise InvalidInputError.for_field("queue_id", "no such queue")
    if queue.channel != QueueChannel.VOICE:
        raise InvalidInputError.for_field("queue_id", "a callback is a phone call: it needs a voice queue")
    if not queue.is_active:
        raise InvalidInputError.for_field("queue_id", "the queue is inactive: its contacts reach no agent")


def _check_due(due_at: dt.datetime, now: dt.datetime) -> None:
    if due_at <= now:
        raise InvalidInputError.for_field("due_at", "must be in the future")
    if due_at > now + MAX_AHEAD:
        raise InvalidInputError.for_field("due_at", f"must be at most {MAX_AHEAD.days} days ahead")


async def schedule(session: AsyncSession, data: schemas.CallbackCreate) -> ScheduledCallback:
    """Book a callback; the phone number is read as the tenant's country's when its locale names one."""
    tenant = await _tenant(session)
    phone = normalise_e164(data.phone, field="phone", region=region_of_locale(tenant.locale))
    _check_due(data.due_at, utcnow())
    await _check_queue(session, data.queue_id)
    row = ScheduledCallback(
        queue_id=data.queue_id,
        phone=phone,
        customer_id=data.customer_id,
        due_at=data.due_at.astimezone(dt.UTC),
        note=data.note,
    )
    session.add(row)
    await session.flush()
    await audit(
        session,
        "callback.scheduled",
        object_type="callback",
        object_id=row.id,
        detail={"queue_id": str(row.queue_id), "due_at": row.due_at.isoformat()},
    )
    return row


async def get_callback(session: AsyncSession, callback_id: uuid.UUID, *, lock: bool = False) -> ScheduledCallback:
    statement = select(ScheduledCallback).where(ScheduledCallback.id == callback_id)
    row = (await session.exec(statement.with_for_update() if lock else statement)).first()
    if row is None:
        raise NotFoundError("no such callback")
    return row


def _aware(name: str, value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise query_error(name, "needs a UTC offset, e.g. 2026-12-01T00:00:00Z")
    return value


async def list_callbacks(
    session: AsyncSession,
    *,
    cursor: str | None,
    limit: int,
    status: Sequence[str] = (),
    queue_id: uuid.UUID | None = None,
    due_from: dt.datetime | None = None,
    due_to: dt.datetime | None = None,
    sort: str = "-created_at",
) -> Page[schemas.CallbackOut]:
    """The tenant's callbacks with any of ``status``, in ``queue_id``, due in [``due_from``, ``due_to``)."""
    due_from, due_to = _aware("due_from", due_from), _aware("due_to", due_to)
    if due_from is not None and due_to is not None and due_from >= due_to:
        raise query_error("due_to", "must come after due_from")
    order = _ORDERS.get(sort)
    if order is None:
        raise query_error("sort", f"one of {', '.join(_ORDERS)}")
    statement = select(ScheduledCallback)
    if status:
        statement = statement.where(col(ScheduledCallback.status).in_(list(status)))
    if queue_id is not None:
        statement = statement.where(ScheduledCallback.queue_id == queue_id)
    if due_from is not None:
        statement = statement.where(col(ScheduledCallback.due_at) >= due_from)
    if due_to is not None:
        statement = statement.where(col(ScheduledCallback.due_at) < due_to)
    statement = paginate_sorted(statement, order, col(ScheduledCallback.id), cursor, limit)
    rows = (await session.exec(statement)).all()
    column = order.name.lstrip("-")
    items, next_cursor = sorted_page_of(rows, limit, order, lambda row: (getattr(row, column), row.id))
    return Page(items=[callback_out(row) for row in items], next_cursor=next_cursor)


# --- cancelling ----------------------------------------------------------------------------------

_NOT_CANCELLABLE = {
    CallbackStatus.CANCELLED: "the callback is already cancelled",
    CallbackStatus.COMPLETED: "the callback is completed: an agent has called back",
    CallbackStatus.FAILED: "the callback failed; there is nothing to cancel",
}


async def cancel(session: AsyncSession, callback_id: uuid.UUID, *, if_match: int | None = None) -> ScheduledCallback:
    """Call a callback off; refused (409) once completed, failed, cancelled or taken by an agent.

    A queued one leaves the line through the router (``CallbackCancel``, sent after the commit by the outbox).
    """
    row = await get_callback(session, callback_id, lock=True)
    check_version("callback", row, if_match)
    if row.status in _NOT_CANCELLABLE:
        raise ConflictError(_NOT_CANCELLABLE[CallbackStatus(row.status)])
    interaction_id = row.interaction_id
    if interaction_id is not None:
        answered = await session.exec(
            select(Interaction.id).where(Interaction.id == interaction_id, col(Interaction.answered_at).is_not(None))
        )
        if answered.first() is not None:
            raise ConflictError("an agent has taken the callback: it can no longer be cancelled")
    now = utcnow()
    row.status, row.cancelled_at = CallbackStatus.CANCELLED, now
    row.version, row.updated_at = row.version + 1, now
    await session.flush()
    if interaction_id is not None:
        event = schemas.CallbackCancelledEvent(callback_id=row.id, interaction_id=interaction_id)
        await emit(session, CALLBACK_CANCELLED_TOPIC, msgspec.to_builtins(event))
    await audit(session, "callback.cancelled", object_type="callback", object_id=row.id)
    return row


# --- the due job ---------------------------------------------------------------------------------


def _due_event(row: ScheduledCallback) -> dict[str, Any]:
    assert row.interaction_id is not None
    event = schemas.CallbackDue(
        callback_id=row.id,
        interaction_id=row.interaction_id,
        queue_id=row.queue_id,
        phone=row.phone,
        customer_id=row.customer_id,
        due_at=row.due_at,
        note=row.note,
    )
    return msgspec.to_builtins(event)


def _finish(row: ScheduledCallback, status: CallbackStatus, now: dt.datetime, reason: str = "") -> None:
    row.status, row.failure_reason = status, reason
    row.version, row.updated_at = row.version + 1, now


async def _unroutable(session: AsyncSession, queue_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Why each of these queues cannot take a contact now (absent: it can)."""
    tenant = await _tenant(session)
    if tenant.status != TenantStatus.ACTIVE:
        return dict.fromkeys(queue_ids, f"the tenant is {tenant.status}: it takes no contacts")
    statement = select(Queue.id).where(col(Queue.id).in_(list(queue_ids)), col(Queue.is_active))
    active = set((await session.exec(statement)).all())
    return {queue_id: "its queue was inactive at the due time" for queue_id in queue_ids - active}


async def queue_due(session: AsyncSession, *, now: dt.datetime, limit: int = DUE_BATCH) -> list[ScheduledCallback]:
    """Claim up to ``limit`` callbacks due by ``now`` and mark them queued, each with a fresh interaction id and a
    ``callback.due`` event (which puts it in line after the commit); a callback whose queue or tenant can take
    no contact fails instead. Rows another transaction holds are skipped: each is queued exactly once."""
    statement = (
        select(ScheduledCallback)
        .where(ScheduledCallback.status == CallbackStatus.SCHEDULED, col(ScheduledCallback.due_at) <= now)
        .order_by(col(ScheduledCallback.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list((await session.exec(statement)).all())
    if not rows:
        return []
    unroutable = await _unroutable(session, {row.queue_id for row in rows})
    queued = []
    for row in rows:
        if row.queue_id in unroutable:
            _finish(row, CallbackStatus.FAILED, now, unroutable[row.queue_id])
            continue
        row.interaction_id, row.queued_at = new_id(), now
        _finish(row, CallbackStatus.QUEUED, now)
        queued.append(row)
    await session.flush()
    for row in queued:
        await emit(session, CALLBACK_DUE_TOPIC, _due_event(row))
    return queued


def _outcome(state: str | None, answered: bool) -> tuple[CallbackStatus, str] | None:
    """What a queued callback became, from its interaction (None: still going, or not yet recorded)."""
    if state is None:
        return CallbackStatus.FAILED, "the contact never reached the router"
    if state not in _FINISHED:
        return None
    if answered:
        return CallbackStatus.COMPLETED, ""
    return CallbackStatus.FAILED, "it left the line before an agent took it (its queue closed)"


async def settle(session: AsyncSession, *, now: dt.datetime) -> int:
    """Record what became of queued callbacks (completed, failed), and of cancels an agent's answer overtook.

    Returns how many changed. Locks with SKIP LOCKED like ``queue_due``, so concurrent runs share the rows.
    """
    callbacks, interactions = ScheduledCallback, Interaction
    finished = col(interactions.state).in_([str(state) for state in _FINISHED])
    statement = (
        select(callbacks, interactions.state, interactions.answered_at)
        .outerjoin(
            interactions,
            and_(interactions.tenant_id == callbacks.tenant_id, interactions.id == callbacks.interaction_id),
        )
        .where(
            or_(
                and_(
                    callbacks.status == CallbackStatus.QUEUED,
                    or_(finished, and_(col(interactions.id).is_(None), col(callbacks.queued_at) < now - LOST_AFTER)),
                ),
                and_(
                    callbacks.status == CallbackStatus.CANCELLED,
                    col(callbacks.due_at) > now - CANCEL_RACE_WINDOW,
                    finished,
                    col(interactions.answered_at).is_not(None),
                ),
            )
        )
        .with_for_update(of=callbacks, skip_locked=True)
    )
    changed = 0
    for row, state, answered_at in (await session.exec(statement)).all():
        outcome = _outcome(state, answered_at is not None)
        if outcome is not None:
            status, reason = outcome
            _finish(row, status, now, reason)
            changed += 1
    return changed


# --- what the router is sent ---------------------------------------------------------------------


async def arrival_for(session: AsyncSession, callback_id: uuid.UUID) -> cmd.ContactArrive | None:
    """The contact to put in line for a queued callback, with the row locked until the caller's commit.

    None when it is no longer queued (cancelled meanwhile) or the router already recorded it (a redelivered
    event). Holding the lock while the command is sent orders it before any cancel's ``CallbackCancel``.
    """
    row = (
        await session.exec(select(ScheduledCallback).where(ScheduledCallback.id == callback_id).with_for_update())
    ).first()
    if row is None or row.status != CallbackStatus.QUEUED or row.interaction_id is None:
        return None
    recorded = await session.exec(select(Interaction.id).where(Interaction.id == row.interaction_id))
    if recorded.first() is not None:
        return None
    return cmd.ContactArrive(
        contact_id=row.interaction_id,
        tenant_id=require_tenant_id(),
        queue_id=row.queue_id,
        caller=row.phone,
        context={"callback_id": str(row.id), "note": row.note},
        callback=True,
    )
