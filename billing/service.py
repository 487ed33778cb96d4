"""Billing services: metering measured work into usage, billing periods, rate cards, usage to date.

Metering (``meter_usage``, a worker job per tenant). Under the tenant's checkpoint row lock, it reads the
contacts whose handling ended after the checkpoint (``app.reporting.service.handled_contacts_after``: each
contact's talk, hold and wrap-up by the rollups' own rules), writes one ``usage_records`` row per contact and
measure with ``INSERT ... ON CONFLICT DO NOTHING`` and adds to ``usage_daily`` exactly the rows that insert
returned, then moves the checkpoint, all in the caller's transaction. A retried or replayed run, or one that
reads the same events again, therefore bills nothing twice. A contact is metered once its agents' wrap-up is
over (the wrap-up is part of its handled time): the checkpoint stops before the first contact whose wrap-up
is still running, which holds metering back by at most one wrap-up.

Periods are calendar months in the tenant's time zone, made when first needed. A record whose month is closed
is ``late`` and billed in the next open period, as an adjustment. Metering holds the periods it bills into
with ``FOR SHARE``, so closing a period waits for a metering run in flight and then sees all of its records.

Rate cards are immutable versions (``create_rate_card``: operator admins, from today on in the tenant's time
zone, one currency per tenant); their terms are the rating core's structs. Usage to date (``usage``) is a
period's daily summaries and an estimate: the rating core rates the period's own days with the versions in force
(each stretch's seconds summed exactly per channel and queue, then rounded to whole seconds once), and late
days of closed periods as adjustments (the closed month re-rated as billed, with and without them). SLA credits
are decided at the close, so the estimate has none.

Outbound attempts are the callbacks among the handled contacts (the platform dialled the customer for the
agent). Dedicated seat time: an agent dedicated to the tenant (its assignment says so; it then works for that
tenant alone) is billed for its signed-in time, breaks included, from the moment it was dedicated. Each local day
is metered once it is over (plus ``SEAT_DAY_GRACE`` for the router's log of its last changes), one ``seat_usage``
row per agent and day with ``ON CONFLICT DO NOTHING``, by the same run and under the same checkpoint lock as the
contacts. An agent no longer dedicated when a day is metered is not billed for that day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import uuid
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import ConflictError, FieldError, InvalidInputError, NotFoundError, PreconditionFailedError
from app.core.models import new_id
from app.core.pagination import Page, page_of, paginate, query_error
from app.core.tenancy import current_principal, require_tenant_id, system_principal
from app.reporting import schemas as reporting_schemas
from app.reporting import service as reporting
from app.routing import service as routing
from app.sla import engine as sla_engine
from billing import rating, schemas
from billing.models import (
    BillingCheckpoint,
    BillingPeriod,
    Measure,
    PeriodStatus,
    RateCardVersion,
    SeatUsage,
    UsageDaily,
)
from tenants.models import Tenant
from tenants.service import audit, dedicated_agents, get_tenant

CONTACTS_PER_BATCH = 2000
CONTACTS_PER_RUN = 100_000
SEAT_DAY_GRACE = dt.timedelta(minutes=15)
SEAT_DAYS_PER_RUN = 62


# --- periods -------------------------------------------------------------------------------------------


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the calendar month holding ``day``."""
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


async def tenant_zone(session: AsyncSession) -> ZoneInfo:
    tenant_id = require_tenant_id()
    tenant = await get_tenant(session, tenant_id, current_principal() or system_principal(tenant_id))
    return ZoneInfo(tenant.timezone)


async def _period(session: AsyncSession, first_day: dt.date, *, exclusive: bool = False) -> BillingPeriod:
    """The acting tenant's period starting on ``first_day`` (a month), made open when missing, locked for this
    transaction: shared (metering bills into it) or ``exclusive`` (closing it)."""
    table = BillingPeriod.__table__  # type: ignore[attr-defined]
    _, last_day = month_of(first_day)
    await session.execute(
        pg_insert(table)
        .values(
            tenant_id=require_tenant_id(),
            id=new_id(),
            first_day=first_day,
            last_day=last_day,
            status=PeriodStatus.OPEN,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "first_day"])
    )
    statement = select(BillingPeriod).where(BillingPeriod.first_day == first_day).with_for_update(read=not exclusive)
    return (await session.exec(statement)).one()


class _Periods:
    """The periods one metering run bills into, each read (and share-locked) once."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.by_first_day: dict[dt.date, BillingPeriod] = {}

    async def get(self, first_day: dt.date) -> BillingPeriod:
        period = self.by_first_day.get(first_day)
        if period is None:
            period = self.by_first_day[first_day] = await _period(self.session, first_day)
        return period

    async def billed_in(self, day: dt.date) -> tuple[BillingPeriod, bool]:
        """The period a record of ``day`` is billed in, and whether it is late (its own month closed)."""
        first_day, _ = month_of(day)
        period = await self.get(first_day)
        late = False
        while period.status == PeriodStatus.CLOSED:
            late = True
            period = await self.get(period.last_day + dt.timedelta(days=1))
        return period, late


async def close_period(session: AsyncSession, first_day: dt.date) -> BillingPeriod:
    """Closes the acting tenant's period starting on ``first_day``: usage metered from now on for its days is late.

    Only a period that is over (its last day before today, in the tenant's time zone) may close. Waits for a
    metering run billing into it to commit (its share lock), so every record metered before the close is in it.
    """
    if month_of(first_day)[0] != first_day:
        raise NotFoundError("no such billing period (a period starts on the first day of a month)")
    today = utcnow().astimezone(await tenant_zone(session)).date()
    period = await _period(session, first_day, exclusive=True)
    if period.last_day >= today:
        raise ConflictError(f"the period {period.first_day:%Y-%m} is not over yet (it ends on {period.last_day})")
    if period.status == PeriodStatus.OPEN:
        period.status = PeriodStatus.CLOSED
        period.closed_at = utcnow()
        await session.flush()
    return period


# --- metering ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class MeteringRun:
    contacts: int  # contacts read and done with (their checkpoint passed)
    recorded: int  # usage records written (fewer when some were already recorded)
    late: int  # of which billed in a later period than their own
    waiting: bool  # stopped before a contact whose wrap-up is still running
    seat_days: int = 0  # dedicated agents' days of seat time written
    seat_days_late: int = 0  # of which billed in a later period than their own


async def _locked_checkpoint(session: AsyncSession, *, wait: bool) -> BillingCheckpoint | None:
    """The acting tenant's checkpoint, locked for this transaction (None: another run holds it, wait=False).

    Made on the first run. Not with an upsert every time: inserting over a row another run has updated but not
    committed waits for that run, which would defeat skipping it.
    """
    locked = select(BillingCheckpoint).with_for_update(skip_locked=not wait)
    checkpoint = (await session.exec(locked)).first()
    if checkpoint is not None:
        return checkpoint
    if not wait and (await session.exec(select(BillingCheckpoint.id))).first() is not None:
        return None
    table = BillingCheckpoint.__table__  # type: ignore[attr-defined]
    await session.execute(
        pg_insert(table)
        .values(
            tenant_id=require_tenant_id(), id=new_id(), log_seq=0, position=0, contacts_metered=0, updated_at=utcnow()
        )
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    return (await session.exec(locked)).first()


_SUMMED = ("talk_seconds", "hold_seconds", "wrap_seconds", "outbound_attempts")
# A usage record's own columns and their PostgreSQL types (tenant, measure and creation time are the batch's).
_RECORD_COLUMNS = {
    "id": "uuid",
    "interaction_id": "uuid",
    "period_id": "uuid",
    "day": "date",
    "ended_at": "timestamptz",
    "queue_id": "uuid",
    "agent_id": "uuid",
    "channel": "text",
    "talk_seconds": "numeric",
    "hold_seconds": "numeric",
    "wrap_seconds": "numeric",
    "outbound_attempts": "integer",
    "late": "boolean",
}
# One array per column (unnest): a batch is one statement with a dozen parameters, not thousands; the records
# already there are left alone, and only those written come back.
_INSERT_RECORDS = sa.text(
    f"INSERT INTO usage_records (tenant_id, measure, created_at, {', '.join(_RECORD_COLUMNS)}) "
    "SELECT :tenant_id, :measure, :created_at, * FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _RECORD_COLUMNS.items())
    + ") ON CONFLICT (tenant_id, interaction_id, measure) DO NOTHING "
    "RETURNING period_id, day, channel, queue_id, late, talk_seconds, hold_seconds, wrap_seconds, outbound_attempts"
)


async def _record(
    session: AsyncSession, contacts: Sequence[reporting_schemas.HandledContact], zone: ZoneInfo, periods: _Periods
) -> tuple[int, int]:
    """Writes the contacts' usage records and adds the new ones to the daily summaries; (written, late)."""
    tenant_id = require_tenant_id()
    now = utcnow()
    columns: dict[str, list[Any]] = {name: [] for name in _RECORD_COLUMNS}
    for contact in contacts:
        day = contact.ended_at.astimezone(zone).date()
        period, late = await periods.billed_in(day)
        for name, value in (
            ("id", new_id()),
            ("interaction_id", contact.interaction_id),
            ("period_id", period.id),
            ("day", day),
            ("ended_at", contact.ended_at),
            ("queue_id", contact.queue_id),
            ("agent_id", contact.agent_id),
            ("channel", contact.channel),
            ("talk_seconds", contact.talk_seconds),
            ("hold_seconds", contact.hold_seconds),
            ("wrap_seconds", contact.wrap_seconds),
            ("outbound_attempts", int(contact.outbound)),
            ("late", late),
        ):
            columns[name].append(value)
    parameters = {"tenant_id": tenant_id, "measure": Measure.HANDLED.value, "created_at": now, **columns}
    written = (await session.execute(_INSERT_RECORDS, parameters)).all()
    daily: dict[tuple[uuid.UUID, dt.date, str, uuid.UUID], dict[str, Any]] = {}
    for row in written:
        summary = daily.setdefault(
            (row.period_id, row.day, row.channel, row.queue_id), {"contacts": 0, **dict.fromkeys(_SUMMED, 0)}
        )
        summary["contacts"] += 1
        for name in _SUMMED:
            summary[name] += getattr(row, name)
    if daily:
        table = UsageDaily.__table__  # type: ignore[attr-defined]
        statement = pg_insert(table).values(
            [
                {
                    "tenant_id": tenant_id,
                    "id": new_id(),
                    "period_id": period_id,
                    "day": day,
                    "channel": channel,
                    "queue_id": queue_id,
                    "updated_at": now,
                    **summary,
                }
                for (period_id, day, channel, queue_id), summary in sorted(daily.items())
            ]
        )
        added = {name: table.c[name] + statement.excluded[name] for name in ("contacts", *_SUMMED)}
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "period_id", "day", "channel", "queue_id"],
                set_={**added, "updated_at": statement.excluded.updated_at},
            )
        )
    return len(written), sum(1 for row in written if row.late)


async def _meter_seats(
    session: AsyncSession, checkpoint: BillingCheckpoint, zone: ZoneInfo, periods: _Periods, now: dt.datetime
) -> tuple[int, int]:
    """Meters the dedicated agents' seat time of the local days over since the checkpoint; (written, late)."""
    yesterday = (now - SEAT_DAY_GRACE).astimezone(zone).date() - dt.timedelta(days=1)
    through = checkpoint.seats_metered_through
    dedicated = await dedicated_agents(session)
    if not dedicated:
        if through is not None:
            checkpoint.seats_metered_through = max(through, yesterday)
        return 0, 0
    if through is not None:
        first_day = through + dt.timedelta(days=1)
    else:
        first_day = min(since.astimezone(zone).date() for since in dedicated.values())
    last_day = min(yesterday, first_day + dt.timedelta(days=SEAT_DAYS_PER_RUN - 1))
    written = late = 0
    day = first_day
    while day <= last_day:
        start, end = sla_engine.day_bounds(day, str(zone))
        seconds = await reporting.signed_in_seconds(
            session, {agent_id: max(start, since) for agent_id, since in dedicated.items()}, end
        )
        if seconds:
            period, is_late = await periods.billed_in(day)
            inserted = await session.execute(
                pg_insert(SeatUsage)
                .values(
                    [
                        {
                            "tenant_id": require_tenant_id(),
                            "id": new_id(),
                            "agent_id": agent_id,
                            "day": day,
                            "period_id": period.id,
                            "seat_seconds": amount,
                            "late": is_late,
                            "created_at": now,
                        }
                        for agent_id, amount in sorted(seconds.items())
                    ]
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "agent_id", "day"])
                .returning(col(SeatUsage.id))
            )
            count = len(inserted.all())
            written, late = written + count, late + (count if is_late else 0)
        day += dt.timedelta(days=1)
    if last_day >= first_day:
        checkpoint.seats_metered_through = last_day
    return written, late


async def meter_usage(
    session: AsyncSession,
    *,
    wait: bool = False,
    batch_size: int = CONTACTS_PER_BATCH,
    max_contacts: int = CONTACTS_PER_RUN,
) -> MeteringRun:
    """Meters the acting tenant's contacts handled since its checkpoint, in the caller's transaction.

    With ``wait=False`` a run finding another one at work returns at once (that one meters the contacts).
    A run stops after about ``max_contacts`` (a backlog is committed in parts; the next run goes on).
    """
    checkpoint = await _locked_checkpoint(session, wait=wait)
    if checkpoint is None:
        return MeteringRun(0, 0, 0, False)
    zone = await tenant_zone(session)
    periods = _Periods(session)
    done = recorded = late = 0
    waiting = False
    while done < max_contacts:
        contacts = await reporting.handled_contacts_after(session, checkpoint.log_seq, checkpoint.position, batch_size)
        ready = list(itertools.takewhile(lambda contact: contact.wrap_seconds is not None, contacts))
        if ready:
            written, written_late = await _record(session, ready, zone, periods)
            recorded, late = recorded + written, late + written_late
            checkpoint.log_seq, checkpoint.position = ready[-1].log_seq, ready[-1].position
            done += len(ready)
        waiting = len(ready) < len(contacts)
        if waiting or len(contacts) < batch_size:
            break
    seats, seats_late = await _meter_seats(session, checkpoint, zone, periods, utcnow())
    checkpoint.contacts_metered += done
    checkpoint.updated_at = utcnow()
    await session.flush()
    return MeteringRun(done, recorded, late, waiting, seats, seats_late)


# --- rate cards ------------------------------------------------------------------------------------------


def _today(zone: ZoneInfo) -> dt.date:
    return utcnow().astimezone(zone).date()


async def today(session: AsyncSession) -> dt.date:
    """Today in the acting tenant's time zone."""
    return _today(await tenant_zone(session))


def plain(value: Decimal) -> Decimal:
    """A stored decimal as given: no trailing zeros of the column's scale, never an exponent (25, 8.875)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def rating_card(row: RateCardVersion) -> rating.RateCard:
    """The stored version as the rating core's card (its terms were checked by the same struct when written)."""
    return msgspec.convert(
        {
            "version": row.version,
            "currency": row.currency,
            "tax_rate_percent": plain(row.tax_rate_percent),
            "effective_from": row.effective_from,
            **row.terms,
        },
        rating.RateCard,
    )


@dataclasses.dataclass(frozen=True)
class _Cards:
    """Every version of one tenant's rate card, oldest first: which is in force when, and which are shadowed."""

    rows: list[RateCardVersion]

    def in_force(self, on: dt.date) -> RateCardVersion | None:
        candidates = [row for row in self.rows if row.effective_from <= on]
        return max(candidates, key=lambda row: (row.effective_from, row.version)) if candidates else None

    def effective(self) -> list[RateCardVersion]:
        """The versions that are ever in force: the highest number of each effective date."""
        by_day: dict[dt.date, RateCardVersion] = {}
        for row in self.rows:
            if row.effective_from not in by_day or row.version > by_day[row.effective_from].version:
                by_day[row.effective_from] = row
        return sorted(by_day.values(), key=lambda row: row.effective_from)

    def status(self, row: RateCardVersion, today: dt.date) -> schemas.RateCardStatus:
        current = self.in_force(today)
        if current is not None and row.id == current.id:
            return "in_force"
        return "scheduled" if row.effective_from > today and row in self.effective() else "superseded"

    @property
    def latest(self) -> int:
        return max((row.version for row in self.rows), default=0)

    @property
    def currency(self) -> str | None:
        return self.rows[0].currency if self.rows else None


async def _cards(session: AsyncSession, tenant_id: uuid.UUID) -> _Cards:
    statement = (
        select(RateCardVersion)
        .where(RateCardVersion.tenant_id == tenant_id)
        .order_by(col(RateCardVersion.effective_from), col(RateCardVersion.version))
    )
    return _Cards(list((await session.exec(statement)).all()))


def rate_card_out(row: RateCardVersion, cards: _Cards, today: dt.date) -> schemas.RateCardOut:
    card = rating_card(row)
    return schemas.RateCardOut(
        id=row.id,
        version=row.version,
        effective_from=row.effective_from,
        currency=row.currency,
        tax_rate_percent=plain(row.tax_rate_percent),
        charges=list(card.charges),
        sla_credits=list(card.sla_credits),
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
        status=cards.status(row, today),
    )


def _invalid(errors: list[FieldError]) -> InvalidInputError:
    return InvalidInputError("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


async def _rate_card_errors(
    session: AsyncSession, data: schemas.RateCardCreate, cards: _Cards, today: dt.date
) -> list[FieldError]:
    errors = []

    def error(field: str, message: str) -> None:
        errors.append(FieldError(field=field, message=message, source="body"))

    if data.effective_from < today:
        error(
            "effective_from",
            f"must be today ({today}, in the tenant's time zone) or later: billed days keep their card",
        )
    if not (data.tax_rate_percent.is_finite() and 0 <= data.tax_rate_percent <= 100):
        error("tax_rate_percent", "a percentage from 0 to 100")
    if cards.currency is not None and data.currency != cards.currency:
        error("currency", f"the tenant is billed in {cards.currency}; every version keeps that currency")
    queues = {str(queue_id) for queue_id, _, _ in await routing.queue_choices(session)}
    for index, charge in enumerate(data.charges):
        unknown = sorted(charge.queues - queues) if isinstance(charge, rating.UsageCharge) and charge.queues else []
        if unknown:
            error(f"charges[{index}].queues", f"no such queue {', '.join(unknown)} (give queue ids)")
        if isinstance(charge, rating.OneOffCharge) and charge.on < data.effective_from:
            error(f"charges[{index}].on", "a one-off charge before the version is in force would never be billed")
    return errors


async def create_rate_card(
    session: AsyncSession, data: schemas.RateCardCreate, given: Any, *, if_match: int | None = None
) -> schemas.RateCardOut:
    """A new version of the acting tenant's rate card; ``if_match``: only if the latest version is still that one.

    ``given`` is the request body as decoded JSON: a field no struct of the card knows is refused, not dropped.
    Versions are immutable: a change is a new version from a date (today or later in the tenant's time zone).
    """
    tenant_id = require_tenant_id()
    today = _today(await tenant_zone(session))
    cards = await _cards(session, tenant_id)
    if if_match is not None and if_match != cards.latest:
        raise PreconditionFailedError(
            f"the rate card changed since version {if_match}; its latest version is now {cards.latest}"
        )
    terms = msgspec.json.decode(msgspec.json.encode({"charges": data.charges, "sla_credits": data.sla_credits}))
    unknown = [
        found
        for name in ("charges", "sla_credits")
        for found in schemas.unknown_fields(given.get(name) if isinstance(given, dict) else None, terms[name], name)
    ]
    errors = [FieldError(field=field, message="unknown field", source="body") for field in unknown]
    errors += await _rate_card_errors(session, data, cards, today)
    if errors:
        raise _invalid(errors)
    row = RateCardVersion(
        version=cards.latest + 1,
        effective_from=data.effective_from,
        currency=data.currency,
        tax_rate_percent=data.tax_rate_percent,
        terms=terms,
        note=data.note,
        created_by=(principal.display_name if (principal := current_principal()) else ""),
    )
    try:
        rating_card(row)
    except msgspec.ValidationError as exc:  # checks across the card: unique ids, what commitments and credits name
        raise _invalid([FieldError(field="charges", message=str(exc), source="body")]) from None
    session.add(row)
    await session.flush()
    await audit(
        session,
        "rate_card.version_created",
        object_type="rate_card_version",
        object_id=row.id,
        detail={"version": row.version, "effective_from": row.effective_from.isoformat(), "currency": row.currency},
    )
    return rate_card_out(row, _Cards([*cards.rows, row]), today)


async def list_rate_cards(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.RateCardOut]:
    """Every version of the acting tenant's rate card, newest first."""
    rows = (await session.exec(paginate(select(RateCardVersion), col(RateCardVersion.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    cards = await _cards(session, require_tenant_id())
    today = _today(await tenant_zone(session))
    return Page(items=[rate_card_out(row, cards, today) for row in items], next_cursor=next_cursor)


async def get_rate_card(session: AsyncSession, rate_card_id: uuid.UUID) -> schemas.RateCardOut:
    row = (await session.exec(select(RateCardVersion).where(RateCardVersion.id == rate_card_id))).first()
    if row is None:
        raise NotFoundError("no such rate card version")
    return rate_card_out(row, await _cards(session, require_tenant_id()), _today(await tenant_zone(session)))


async def rate_card_in_force(session: AsyncSession, on: dt.date | None = None) -> schemas.RateCardOut | None:
    """The acting tenant's version in force on ``on`` (a local date; today when None), or None."""
    today = _today(await tenant_zone(session))
    cards = await _cards(session, require_tenant_id())
    row = cards.in_force(on or today)
    return None if row is None else rate_card_out(row, cards, today)


async def latest_rate_card_version(session: AsyncSession) -> int:
    """The number of the acting tenant's newest version (0: none yet): what If-Match compares with."""
    return (await _cards(session, require_tenant_id())).latest


# --- usage to date and its estimate -------------------------------------------------------------------------


def parse_period(value: str, today: dt.date) -> dt.date:
    """The first day of the month a ``period`` parameter names: ``current`` or ``YYYY-MM``."""
    if value == "current":
        return month_of(today)[0]
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise query_error("period", "current, or a month as YYYY-MM") from None


@dataclasses.dataclass(frozen=True, slots=True)
class _Daily:
    """One ``usage_daily`` row as rating and the summaries read it, or a day's dedicated seat time (its agents
    summed; no channel or queue)."""

    period_first_day: dt.date
    period_status: str
    day: dt.date
    channel: str | None
    queue_id: uuid.UUID | None
    contacts: int
    talk: Decimal
    hold: Decimal
    wrap: Decimal
    outbound_attempts: int
    seat: Decimal


def _billed_in(table: Any, tenant_id: uuid.UUID, period: dt.date | None, days: tuple[dt.date, dt.date] | None) -> Any:
    """The join of a usage table with the periods its rows are billed in, narrowed to a period or days."""
    joined = sa.join(
        table,
        BillingPeriod.__table__,  # type: ignore[attr-defined]
        sa.and_(col(BillingPeriod.tenant_id) == table.c.tenant_id, col(BillingPeriod.id) == table.c.period_id),
    )
    conditions = [table.c.tenant_id == tenant_id]
    if period is not None:
        conditions.append(col(BillingPeriod.first_day) == period)
    if days is not None:
        conditions += [table.c.day >= days[0], table.c.day <= days[1]]
    return joined, conditions


async def _daily(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    period: dt.date | None = None,
    days: tuple[dt.date, dt.date] | None = None,
) -> list[_Daily]:
    """The tenant's daily usage billed in the period starting on ``period``, or of the days in ``days``: its
    contacts per day, channel and queue, then its dedicated seat time per day."""
    usage = UsageDaily.__table__  # type: ignore[attr-defined]
    joined, conditions = _billed_in(usage, tenant_id, period, days)
    contacts = (
        sa.select(
            col(BillingPeriod.first_day),
            col(BillingPeriod.status),
            usage.c.day,
            usage.c.channel,
            usage.c.queue_id,
            usage.c.contacts,
            usage.c.talk_seconds,
            usage.c.hold_seconds,
            usage.c.wrap_seconds,
            usage.c.outbound_attempts,
            sa.literal(Decimal(0)),
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(usage.c.day, usage.c.channel)
    )
    seats_table = SeatUsage.__table__  # type: ignore[attr-defined]
    joined, conditions = _billed_in(seats_table, tenant_id, period, days)
    zero = sa.literal(Decimal(0))
    seats = (
        sa.select(
            col(BillingPeriod.first_day),
            col(BillingPeriod.status),
            seats_table.c.day,
            sa.null(),
            sa.null(),
            sa.literal(0),
            zero,
            zero,
            zero,
            sa.literal(0),
            sa.func.sum(seats_table.c.seat_seconds),
        )
        .select_from(joined)
        .where(*conditions)
        .group_by(col(BillingPeriod.first_day), col(BillingPeriod.status), seats_table.c.day)
        .order_by(seats_table.c.day)
    )
    rows = [_Daily(*row) for row in (await session.execute(contacts)).all()]
    return rows + [_Daily(*row) for row in (await session.execute(seats)).all()]


def _totals(rows: Sequence[_Daily]) -> schemas.UsageTotals:
    talk, hold, wrap, seat = (
        sum((getattr(row, name) for row in rows), Decimal(0)) for name in ("talk", "hold", "wrap", "seat")
    )
    return schemas.UsageTotals(
        contacts=sum(row.contacts for row in rows),
        talk_seconds=talk,
        hold_seconds=hold,
        wrap_up_seconds=wrap,
        handled_seconds=talk + hold + wrap,
        outbound_attempts=sum(row.outbound_attempts for row in rows),
        dedicated_seat_seconds=seat,
    )


def _days(rows: Sequence[_Daily], first_day: dt.date) -> list[schemas.UsageDay]:
    by_day: dict[tuple[dt.date, str], list[_Daily]] = {}
    for row in rows:
        by_day.setdefault((row.day, row.channel or ""), []).append(row)
    days = []
    for (day, channel), group in sorted(by_day.items()):
        totals = _totals(group)
        days.append(
            schemas.UsageDay(
                day=day,
                channel=channel or None,
                contacts=totals.contacts,
                talk_seconds=totals.talk_seconds,
                hold_seconds=totals.hold_seconds,
                wrap_up_seconds=totals.wrap_up_seconds,
                handled_seconds=totals.handled_seconds,
                outbound_attempts=totals.outbound_attempts,
                dedicated_seat_seconds=totals.dedicated_seat_seconds,
                late=day < first_day,
            )
        )
    return days


def _whole_seconds(talk: Decimal, hold: Decimal, wrap: Decimal) -> tuple[int, int, int]:
    """Talk, hold and wrap-up in whole seconds, as rating counts them, rounded cumulatively (half to even) so that
    talk + hold and talk + hold + wrap-up, the quantities charges price, are each their exact sum rounded once."""
    rounded = [
        int(value.to_integral_value(rounding=ROUND_HALF_EVEN)) for value in (talk, talk + hold, talk + hold + wrap)
    ]
    return rounded[0], rounded[1] - rounded[0], rounded[2] - rounded[1]


def _usage(rows: Sequence[_Daily], start: dt.date, end: dt.date) -> rating.Usage:
    """The rows of the days start <= day < end, summed per channel and queue (the queue's id is its key); seat
    time in a row of its own, rounded to whole seconds once like the rest."""
    sums: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        if start <= row.day < end:
            key = (row.channel or "", "" if row.queue_id is None else str(row.queue_id))
            total = sums.setdefault(key, [0, Decimal(0), Decimal(0), Decimal(0), 0, Decimal(0)])
            for index, amount in enumerate(
                (row.contacts, row.talk, row.hold, row.wrap, row.outbound_attempts, row.seat)
            ):
                total[index] += amount
    usage_rows = []
    for (channel, queue), (contacts, talk, hold, wrap, attempts, seat) in sorted(sums.items()):
        talk_seconds, hold_seconds, wrap_seconds = _whole_seconds(talk, hold, wrap)
        usage_rows.append(
            rating.UsageRow(
                channel=channel or None,
                queue=queue or None,
                handled_contacts=contacts,
                talk_seconds=talk_seconds,
                hold_seconds=hold_seconds,
                wrap_up_seconds=wrap_seconds,
                outbound_attempts=attempts,
                dedicated_seat_seconds=int(seat.to_integral_value(rounding=ROUND_HALF_EVEN)),
            )
        )
    return rating.Usage(rows=tuple(usage_rows))


def _parts(
    cards: _Cards, first_day: dt.date, rows: Sequence[_Daily]
) -> tuple[rating.BillingPeriod, list[rating.SegmentUsage]]:
    """The month starting on ``first_day`` cut at its card changes, with the usage of ``rows`` in each stretch."""
    _, last_day = month_of(first_day)
    period = rating.BillingPeriod(start=first_day, end=last_day + dt.timedelta(days=1))
    stretches = rating.segments(period, [rating_card(row) for row in cards.effective()])
    return period, [
        rating.SegmentUsage(segment=stretch, usage=_usage(rows, stretch.start, stretch.end)) for stretch in stretches
    ]


async def _estimate(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    cards: _Cards,
    first_day: dt.date,
    rows: Sequence[_Daily],
    attainment: Mapping[str, rating.SlaAttainment] | None = None,
) -> rating.InvoiceDraft | None:
    """The period's usage so far rated with its cards, late usage of closed periods as adjustments; SLA credits
    by ``attainment`` (the period's close gives it; an estimate has none)."""
    period, parts = _parts(cards, first_day, [row for row in rows if row.day >= first_day])
    if not parts:
        return None
    adjustments = []
    for closed_first_day in sorted({month_of(row.day)[0] for row in rows if row.day < first_day}):
        # The closed month as billed (its own days, and its late days already billed in closed periods), and
        # its late days billed in this period: the difference is what this period carries.
        closed_rows = await _daily(session, tenant_id, days=month_of(closed_first_day))
        billed = [row for row in closed_rows if row.period_status == PeriodStatus.CLOSED]
        late = [row for row in closed_rows if row.period_first_day == first_day]
        closed_period, billed_parts = _parts(cards, closed_first_day, billed)
        if billed_parts:
            _, late_parts = _parts(cards, closed_first_day, late)
            adjustments.append(rating.late_usage_adjustment(closed_period, billed_parts, late_parts))
    draft = rating.rate_segments(period, parts, attainment=attainment)
    return rating.with_adjustments(draft, adjustments) if adjustments else draft


async def _checkpoint_time(session: AsyncSession, tenant_id: uuid.UUID) -> dt.datetime | None:
    statement = select(BillingCheckpoint.updated_at).where(BillingCheckpoint.tenant_id == tenant_id)
    return (await session.exec(statement)).first()


async def _period_status(session: AsyncSession, tenant_id: uuid.UUID, first_day: dt.date) -> schemas.UsagePeriod:
    statement = select(BillingPeriod.status).where(
        BillingPeriod.tenant_id == tenant_id, BillingPeriod.first_day == first_day
    )
    status = (await session.exec(statement)).first() or PeriodStatus.OPEN  # made when first billed into
    return schemas.UsagePeriod(
        first_day=first_day,
        last_day=month_of(first_day)[1],
        status="closed" if status == PeriodStatus.CLOSED else "open",
    )


async def usage(session: AsyncSession, period: str = "current") -> schemas.UsageOut:
    """The acting tenant's usage billed in a period (``current`` or ``YYYY-MM``), by day, with an estimate."""
    tenant_id = require_tenant_id()
    zone = await tenant_zone(session)
    today = _today(zone)
    first_day = parse_period(period, today)
    rows = await _daily(session, tenant_id, period=first_day)
    own = [row for row in rows if row.day >= first_day]
    cards = await _cards(session, tenant_id)
    in_force = cards.in_force(min(today, month_of(first_day)[1]))
    return schemas.UsageOut(
        tenant_id=tenant_id,
        timezone=str(zone),
        period=await _period_status(session, tenant_id, first_day),
        days=_days(rows, first_day),
        totals=_totals(own),
        late=_totals([row for row in rows if row.day < first_day]),
        metered_at=await _checkpoint_time(session, tenant_id),
        rate_card_version=None if in_force is None else in_force.version,
        estimate=await _estimate(session, tenant_id, cards, first_day, rows),
    )


async def usage_of_every_tenant(
    reader: AsyncSession, *, pool_from: dt.datetime, pool_to: dt.datetime
) -> schemas.TenantsUsageOut:
    """Every tenant's current period so far (its own month, in its time zone), with the estimate's total, and
    its share of the pool's agent time in [pool_from, pool_to).

    ``reader`` is a ``tenants.service.cross_tenant_read`` session (audited, read-only, every tenant): every
    query here names its tenant.
    """
    tenants = (
        await reader.exec(
            select(Tenant.id, Tenant.name, Tenant.timezone)
            .where(col(Tenant.status).in_(["active", "suspended"]))
            .order_by(col(Tenant.name))
        )
    ).all()
    shares = {share.tenant_id: share for share in await pool_shares(reader, pool_from, pool_to)}
    found = []
    for tenant_id, name, timezone in tenants:
        first_day = month_of(_today(ZoneInfo(timezone)))[0]
        rows = await _daily(reader, tenant_id, period=first_day)
        cards = await _cards(reader, tenant_id)
        estimate = await _estimate(reader, tenant_id, cards, first_day, rows)
        found.append(
            schemas.TenantUsage(
                tenant_id=tenant_id,
                tenant=name,
                period=await _period_status(reader, tenant_id, first_day),
                totals=_totals([row for row in rows if row.day >= first_day]),
                late=_totals([row for row in rows if row.day < first_day]),
                currency=cards.currency,
                estimate_total_minor=None if estimate is None else estimate.total.minor,
                pool_busy_seconds=shares[tenant_id].busy_seconds if tenant_id in shares else Decimal(0),
                pool_share=shares[tenant_id].share if tenant_id in shares else (Decimal(0) if shares else None),
            )
        )
    return schemas.TenantsUsageOut(tenants=found, pool_from=pool_from, pool_to=pool_to)


# --- the shared pool -----------------------------------------------------------------------------------------


async def pool_shares(reader: AsyncSession, start: dt.datetime, end: dt.datetime) -> list[schemas.PoolShare]:
    """Each tenant's share of the shared pool's agent time (talk, hold, wrap-up) in [start, end): the input
    of the operator's cost allocation (``billing.rating.allocate_pool_cost`` splits a cost by these seconds).

    From reporting's agent figures (``busy_seconds_by_tenant``: handle-based, the interval the work ended in);
    ``reader`` is a ``tenants.service.cross_tenant_read`` session.
    """
    busy = {
        tenant_id: Decimal(repr(seconds))
        for tenant_id, seconds in (await reporting.busy_seconds_by_tenant(reader, start, end)).items()
    }
    pool = sum(busy.values(), Decimal(0))
    return [
        schemas.PoolShare(tenant_id=tenant_id, busy_seconds=seconds, share=seconds / pool)
        for tenant_id, seconds in sorted(busy.items(), key=lambda item: (-item[1], str(item[0])))
    ]


async def rated_period(
    session: AsyncSession, first_day: dt.date, attainment: Mapping[str, rating.SlaAttainment]
) -> rating.InvoiceDraft | None:
    """The acting tenant's period starting on ``first_day`` rated as it is billed: its usage with the versions in
    force, SLA credits by ``attainment``, late usage of closed periods as adjustments (None: no rate card)."""
    return await rated_period_of(session, require_tenant_id(), first_day, attainment)


async def rated_period_of(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    first_day: dt.date,
    attainment: Mapping[str, rating.SlaAttainment] | None = None,
) -> rating.InvoiceDraft | None:
    """The tenant's period starting on ``first_day`` rated as it stands (None: no rate card in force in it); with
    no ``attainment``, the estimate, which has no SLA credits. Every query names the tenant, so ``session`` may
    be a ``tenants.service.cross_tenant_read`` session."""
    rows = await _daily(session, tenant_id, period=first_day)
    return await _estimate(session, tenant_id, await _cards(session, tenant_id), first_day, rows, attainment)
