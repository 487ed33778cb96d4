"""SLA services: contracts and their versions, live evaluation, alerts, and the attainment the router reads.

Everything runs in the acting tenant's context (the session filters and stamps the tenant); the operator's
list of every tenant's alerts goes through ``tenants.service.cross_tenant_read``. The figures are the
reporting rollups (``app.reporting.service.queue_intervals``) per 15-minute interval; the math is the pure
core's (``app.sla.engine``).

Public functions other domains call:
- ``contract_in_force(session, on=None)``: the acting tenant's contract version in force on a local date
  (today when None), with its targets, or None; ``primary_service_level(contract)``: its first
  service-level target (the one routing is steered by).
- ``evaluate(session, now)``: evaluates and stores every current window, raises alerts, and returns the
  ``AttainmentUpdate`` for the router (None without a service-level target); ``send_attainment`` submits it.
- ``service_levels_of_every_tenant(reader, now)``: each tenant's primary service level in its current window,
  read in an audited cross-tenant session (the operator's wallboard).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import FieldError, InvalidInputError, NotFoundError, PreconditionFailedError
from app.core.models import new_id
from app.core.outbox import emit
from app.core.pagination import Page, page_of, paginate
from app.core.tenancy import current_principal, require_tenant_id, system_principal
from app.reporting import schemas as reporting_schemas
from app.reporting import service as reporting
from app.reporting.engine.intervals import WAIT_EDGES
from app.routing.commands import AttainmentUpdate, submit
from app.sla import engine, schemas
from app.sla.models import SlaAlert, SlaContractVersion, SlaEvaluation, SlaTarget
from app.telephony.hours import is_open
from tenants.service import audit, cross_tenant_read, get_tenant, tenant_choices

AT_RISK_TOPIC = "sla.at_risk"
BREACHED_TOPIC = "sla.breached"
ALERT_TOPICS = {engine.State.AT_RISK: AT_RISK_TOPIC, engine.State.BREACHED: BREACHED_TOPIC}
# An answer target T or short-abandon threshold must be an edge of the rollups' wait histograms ("within T" is
# then read off them: a wait shorter than T).
TARGET_SECONDS = frozenset(int(edge) for edge in WAIT_EDGES if edge != math.inf)
# A window that has just closed is evaluated this much longer: contacts that arrived in it are still being
# answered or abandoned (arrival-based counting), and its final state is written and alerted then.
FINALISE_GRACE = dt.timedelta(minutes=10)


# --- the tenant's calendar -------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    timezone: str
    business_hours: Mapping[str, Sequence[Sequence[str]]]
    holidays: Sequence[str]

    def counts(self, business_hours_only: bool) -> Callable[[dt.datetime], bool]:
        """Whether a 15-minute interval counts for a target: all do, or those open at their start."""
        if not business_hours_only:
            return lambda start: True
        return lambda start: is_open(
            start, timezone=self.timezone, business_hours=self.business_hours, holidays=self.holidays
        )

    def today(self) -> dt.date:
        return engine.local_date(utcnow(), self.timezone)


async def _calendar(session: AsyncSession) -> Calendar:
    tenant_id = require_tenant_id()
    tenant = await get_tenant(session, tenant_id, current_principal() or system_principal(tenant_id))
    return Calendar(tenant.timezone, tenant.business_hours, tenant.holidays)


# --- contracts -------------------------------------------------------------------------------------


def _target_out(target: SlaTarget) -> schemas.TargetOut:
    return schemas.TargetOut(
        id=target.id,
        measure=target.measure,
        window=target.window_kind,
        business_hours_only=target.business_hours_only,
        minimum=target.minimum,
        maximum=target.maximum,
        within_seconds=target.within_seconds,
    )


@dataclass(frozen=True)
class _History:
    """Every version's (id, effective_from, version): enough to say which is in force and which are shadowed."""

    rows: list[tuple[uuid.UUID, dt.date, int]]

    def in_force(self, on: dt.date) -> uuid.UUID | None:
        candidates = [(day, number, vid) for vid, day, number in self.rows if day <= on]
        return max(candidates)[2] if candidates else None

    def status(self, version: SlaContractVersion, today: dt.date) -> Literal["in_force", "scheduled", "superseded"]:
        if version.id == self.in_force(today):
            return "in_force"
        shadowed = any(day == version.effective_from and number > version.version for _, day, number in self.rows)
        return "scheduled" if version.effective_from > today and not shadowed else "superseded"

    @property
    def latest(self) -> int:
        return max((number for _, _, number in self.rows), default=0)


async def _history(session: AsyncSession) -> _History:
    statement = select(
        col(SlaContractVersion.id), col(SlaContractVersion.effective_from), col(SlaContractVersion.version)
    )
    return _History([(vid, day, number) for vid, day, number in (await session.exec(statement)).all()])


async def _targets_of(session: AsyncSession, version_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[SlaTarget]]:
    ids = list(version_ids)
    found: dict[uuid.UUID, list[SlaTarget]] = {vid: [] for vid in ids}
    if ids:
        statement = (
            select(SlaTarget)
            .where(col(SlaTarget.contract_version_id).in_(ids))
            .order_by(col(SlaTarget.contract_version_id), col(SlaTarget.position))
        )
        for target in (await session.exec(statement)).all():
            found[target.contract_version_id].append(target)
    return found


async def _contracts_out(
    session: AsyncSession, versions: Sequence[SlaContractVersion], today: dt.date
) -> list[schemas.ContractOut]:
    history = await _history(session)
    targets = await _targets_of(session, [v.id for v in versions])
    return [
        schemas.ContractOut(
            id=v.id,
            version=v.version,
            effective_from=v.effective_from,
            definition=v.definition,
            short_abandon_seconds=v.short_abandon_seconds,
            note=v.note,
            created_by=v.created_by,
            created_at=v.created_at,
            status=history.status(v, today),
            targets=[_target_out(t) for t in targets[v.id]],
        )
        for v in versions
    ]


_SHARE = "a share from 0 to 1 (0.85 is 85%)"
# Which goal fields each measure takes: (minimum, maximum), each "share", "seconds" or None (must be empty).
_GOALS: dict[engine.Measure, tuple[str | None, str | None]] = {
    engine.Measure.SERVICE_LEVEL: ("share", None),
    engine.Measure.ABANDONMENT_RATE: (None, "share"),
    engine.Measure.ASA: (None, "seconds"),
    engine.Measure.AHT: ("seconds", "seconds"),
    engine.Measure.FCR: ("share", None),
    engine.Measure.CSAT: ("share", None),
    engine.Measure.SERIOUS_ERROR_RATE: (None, "share"),
}


def _target_errors(index: int, target: schemas.TargetIn) -> list[FieldError]:
    measure = engine.Measure(target.measure)
    errors: list[FieldError] = []

    def refuse(name: str, message: str) -> None:
        errors.append(FieldError(field=f"targets[{index}].{name}", message=message, source="body"))

    for name, unit in zip(("minimum", "maximum"), _GOALS[measure], strict=True):
        value = getattr(target, name)
        if unit is None and value is not None:
            refuse(name, f"a {measure} target has no {name}")
        elif unit is not None and value is None:
            refuse(name, f"required for a {measure} target ({_SHARE if unit == 'share' else 'seconds'})")
        elif unit == "share" and value is not None and value > 1:
            refuse(name, f"must be {_SHARE}")
    if measure is engine.Measure.SERVICE_LEVEL:
        if target.within_seconds is None or target.within_seconds == 0:
            refuse("within_seconds", "required for a service level: answer within how many seconds")
        elif target.within_seconds not in TARGET_SECONDS:
            refuse("within_seconds", f"must be one of the wait buckets: {_edges_text()}")
    elif target.within_seconds is not None:
        refuse("within_seconds", "only a service level target has an answer time")
    if target.minimum is not None and target.maximum is not None and target.minimum > target.maximum:
        refuse("maximum", "must not be below the minimum")
    return errors


def _edges_text() -> str:
    return "0 to 300 in steps of 5, then 360, 420, 480, 540, 600, 900, 1200, 1800 or 3600"


def _contract_errors(data: schemas.ContractCreate, today: dt.date) -> list[FieldError]:
    errors: list[FieldError] = []
    if data.effective_from < today:
        errors.append(
            FieldError(
                field="effective_from",
                message=f"must be today ({today.isoformat()}, the tenant's time) or later: past versions stay as they were",
                source="body",
            )
        )
    if data.short_abandon_seconds not in TARGET_SECONDS:
        errors.append(
            FieldError(field="short_abandon_seconds", message=f"must be one of {_edges_text()}", source="body")
        )
    seen: set[tuple[Any, ...]] = set()
    for index, target in enumerate(data.targets):
        errors += _target_errors(index, target)
        key = (target.measure, target.window, target.business_hours_only, target.within_seconds)
        if key in seen:
            errors.append(
                FieldError(
                    field=f"targets[{index}].measure",
                    message="the same measure over the same window is already a target",
                    source="body",
                )
            )
        seen.add(key)
    return errors


async def create_contract_version(
    session: AsyncSession, data: schemas.ContractCreate, *, if_match: int | None = None
) -> schemas.ContractOut:
    """A new version of the acting tenant's contract; ``if_match``: only if the latest version is still that one.

    Versions are immutable: a change is a new version from a date (today or later in the tenant's time zone).
    """
    calendar = await _calendar(session)
    today = calendar.today()
    history = await _history(session)
    if if_match is not None and if_match != history.latest:
        raise PreconditionFailedError(
            f"the contract changed since version {if_match}; its latest version is now {history.latest}"
        )
    errors = _contract_errors(data, today)
    if errors:
        raise InvalidInputError("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    principal = current_principal()
    version = SlaContractVersion(
        version=history.latest + 1,
        effective_from=data.effective_from,
        definition=data.definition,
        short_abandon_seconds=data.short_abandon_seconds,
        note=data.note,
        created_by=principal.display_name if principal else "",
    )
    session.add(version)
    await session.flush()
    for position, target in enumerate(data.targets):
        session.add(
            SlaTarget(
                contract_version_id=version.id,
                position=position,
                measure=target.measure,
                window_kind=target.window,
                business_hours_only=target.business_hours_only,
                minimum=target.minimum,
                maximum=target.maximum,
                within_seconds=target.within_seconds,
            )
        )
    await session.flush()
    await audit(
        session,
        "sla_contract.version_created",
        object_type="sla_contract_version",
        object_id=version.id,
        detail={"version": version.version, "effective_from": data.effective_from.isoformat()},
    )
    return (await _contracts_out(session, [version], today))[0]


async def list_contract_versions(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.ContractOut]:
    """Every version of the acting tenant's contract, newest first."""
    rows = (await session.exec(paginate(select(SlaContractVersion), col(SlaContractVersion.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    today = (await _calendar(session)).today()
    return Page(items=await _contracts_out(session, items, today), next_cursor=next_cursor)


async def get_contract_version(session: AsyncSession, contract_id: uuid.UUID) -> schemas.ContractOut:
    version = (await session.exec(select(SlaContractVersion).where(SlaContractVersion.id == contract_id))).first()
    if version is None:
        raise NotFoundError("no such contract version")
    return (await _contracts_out(session, [version], (await _calendar(session)).today()))[0]


async def latest_version_number(session: AsyncSession) -> int:
    """The number of the acting tenant's newest contract version (0: none yet): what If-Match compares with."""
    return (await _history(session)).latest


async def today(session: AsyncSession) -> dt.date:
    """Today in the acting tenant's time zone."""
    return (await _calendar(session)).today()


async def _contract_on(
    session: AsyncSession, history: _History, on: dt.date, today: dt.date
) -> schemas.ContractOut | None:
    version_id = history.in_force(on)
    if version_id is None:
        return None
    version = (await session.exec(select(SlaContractVersion).where(SlaContractVersion.id == version_id))).one()
    return (await _contracts_out(session, [version], today))[0]


async def contract_in_force(session: AsyncSession, on: dt.date | None = None) -> schemas.ContractOut | None:
    """The acting tenant's contract version in force on ``on`` (a local date; today when None), or None."""
    today = (await _calendar(session)).today()
    return await _contract_on(session, await _history(session), on or today, today)


def primary_service_level(contract: schemas.ContractOut) -> schemas.TargetOut | None:
    """The contract's first service-level target: the one routing is steered by and the chart shows."""
    return _first_service_level(contract.targets)


def _first_service_level(targets: Iterable[schemas.TargetOut]) -> schemas.TargetOut | None:
    return next((t for t in targets if t.measure == engine.Measure.SERVICE_LEVEL), None)


# --- counts: the reporting rollups (``app.reporting.service``), per 15-minute interval --------------


@dataclass(frozen=True)
class IntervalSums:
    """One interval's rollups summed over the tenant's queues: what every SLA measure is computed from."""

    figures: reporting_schemas.Figures

    def sl_counts(self, target_seconds: int, short_abandon_seconds: int) -> engine.SlCounts:
        """Arrival-based counts for answer target T (T and the threshold are wait histogram edges)."""
        counts = self.figures.sl_counts(target_seconds, short_abandon_seconds)
        return engine.SlCounts(**dataclasses.asdict(counts))

    def work(self) -> engine.WorkFigures:
        figures = self.figures
        return engine.WorkFigures(
            answered=figures.answered,
            answer_wait_seconds=figures.wait_seconds,
            handled=figures.handled,
            handle_seconds=figures.talk_seconds + figures.hold_seconds + figures.wrap_seconds,
            resolved=figures.resolved,
        )


_SUMMED = (
    "offered",
    "answered",
    "abandoned",
    "wait_seconds",
    "talk_seconds",
    "hold_seconds",
    "wrap_seconds",
    "handled",
    "resolved",
)


def _summed(rows: Sequence[reporting_schemas.Figures]) -> reporting_schemas.Figures:
    def histogram(name: str) -> tuple[int, ...]:
        return tuple(sum(column) for column in zip(*(getattr(row, name) for row in rows), strict=True))

    return reporting_schemas.Figures(
        **{name: sum(getattr(row, name) for row in rows) for name in _SUMMED},
        answered_wait_hist=histogram("answered_wait_hist"),
        abandoned_wait_hist=histogram("abandoned_wait_hist"),
    )


async def interval_sums(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, IntervalSums]:
    """The acting tenant's rollups per 15-minute interval in ``[start, end)`` (intervals with nothing are absent)."""
    by_interval: dict[dt.datetime, list[reporting_schemas.Figures]] = {}
    for row in await reporting.queue_intervals(session, start, end):
        by_interval.setdefault(_utc(row.interval_start), []).append(row)
    return {start_of: IntervalSums(_summed(rows)) for start_of, rows in by_interval.items()}


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


# --- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    """One target of a contract version in one window."""

    contract: schemas.ContractOut
    target: schemas.TargetOut
    window: engine.Window


@dataclass(frozen=True)
class Evaluated:
    contract: schemas.ContractOut
    target: schemas.TargetOut
    window: engine.Window
    assessment: engine.Assessment


def _thresholds(contract: schemas.ContractOut, target: schemas.TargetOut) -> tuple[int, int]:
    """(answer target T, short-abandon threshold) a target's SlCounts are counted with (T 0: no answer target)."""
    return target.within_seconds or 0, contract.short_abandon_seconds


@dataclass(frozen=True)
class _Figures:
    """The tenant's interval sums over the span an evaluation needs."""

    sums: dict[dt.datetime, IntervalSums]

    def ratios(self, contract: schemas.ContractOut, target: schemas.TargetOut) -> dict[dt.datetime, engine.Ratio]:
        measure, definition = engine.Measure(target.measure), engine.Definition(contract.definition)
        ratios = {}
        for start, sums in self.sums.items():
            counts = sums.sl_counts(*_thresholds(contract, target))
            ratio = engine.measure_ratio(measure, counts, sums.work(), definition)
            if ratio is not None:
                ratios[start] = ratio
        return ratios

    def counts_at(
        self, start: dt.datetime, contract: schemas.ContractOut, target: schemas.TargetOut
    ) -> engine.SlCounts:
        sums = self.sums.get(start)
        return sums.sl_counts(*_thresholds(contract, target)) if sums else engine.SlCounts()


def _goal(target: schemas.TargetOut) -> engine.Goal:
    return engine.Goal(minimum=target.minimum, maximum=target.maximum)


async def _subjects(
    session: AsyncSession, calendar: Calendar, now: dt.datetime
) -> tuple[list[_Subject], schemas.ContractOut | None]:
    """The windows to evaluate (each target's window now, and the one it just closed, for FINALISE_GRACE),
    and the contract in force now."""
    history, today = await _history(session), calendar.today()
    subjects: dict[tuple[uuid.UUID, dt.datetime], _Subject] = {}
    contract = None
    for instant in (now - FINALISE_GRACE, now):
        contract = await _contract_on(session, history, engine.local_date(instant, calendar.timezone), today)
        if contract is None:
            continue
        for target in contract.targets:
            window = engine.window_at(instant, engine.WindowKind(target.window), calendar.timezone)
            subjects[(target.id, window.start)] = _Subject(contract, target, window)
    return list(subjects.values()), contract


async def _store(session: AsyncSession, item: Evaluated, now: dt.datetime) -> None:
    assessment = item.assessment
    values = {
        "value": assessment.value,
        "projected": assessment.projected,
        "state": assessment.state.value,
        "volume": assessment.volume,
        "evaluated_at": now,
    }
    statement = insert(SlaEvaluation).values(
        tenant_id=require_tenant_id(),
        id=new_id(),
        contract_version_id=item.contract.id,
        target_id=item.target.id,
        window_start=item.window.start,
        window_end=item.window.end,
        **values,
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=["tenant_id", "target_id", "window_start"], set_=values)
    )


async def _raise_alert(session: AsyncSession, item: Evaluated, now: dt.datetime) -> bool:
    """Record the alert of an at-risk or breached window; True when this call raised it (the first ever)."""
    assessment = item.assessment
    topic = ALERT_TOPICS.get(assessment.state)
    if topic is None:
        return False
    tenant_id = require_tenant_id()
    alert_id = new_id()
    statement: Any = (
        insert(SlaAlert)
        .values(
            tenant_id=tenant_id,
            id=alert_id,
            contract_version_id=item.contract.id,
            target_id=item.target.id,
            window_start=item.window.start,
            window_end=item.window.end,
            state=assessment.state.value,
            value=assessment.value,
            projected=assessment.projected,
            raised_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "target_id", "window_start", "state"])
        .returning(sa.column("id"))
    )
    if (await session.execute(statement)).first() is None:
        return False  # raised before, by an earlier or a concurrent evaluation
    payload = schemas.SlaAlertRaised(
        alert_id=alert_id,
        tenant_id=tenant_id,
        contract_id=item.contract.id,
        contract_version=item.contract.version,
        target_id=item.target.id,
        measure=item.target.measure,
        window=item.target.window,
        window_start=item.window.start,
        window_end=item.window.end,
        state=assessment.state.value,
        value=assessment.value,
        projected=assessment.projected,
        minimum=item.target.minimum,
        maximum=item.target.maximum,
        within_seconds=item.target.within_seconds,
    )
    await emit(session, topic, msgspec.to_builtins(payload))
    return True


@dataclass(frozen=True)
class Run:
    evaluated: list[Evaluated]
    attainment: AttainmentUpdate | None


def _assess(subject: _Subject, figures: _Figures, calendar: Calendar, now: dt.datetime) -> engine.Assessment:
    measure = engine.Measure(subject.target.measure)
    if measure in engine.WITHOUT_SOURCE:
        return engine.no_data()
    progress = engine.progress_of(
        subject.window,
        now,
        figures.ratios(subject.contract, subject.target),
        calendar.counts(subject.target.business_hours_only),
    )
    return engine.assess(progress, _goal(subject.target), share=measure in engine.SHARES)


async def evaluate(session: AsyncSession, now: dt.datetime) -> Run:
    """Evaluate the acting tenant's targets at ``now``: store each window's state, raise alerts (once each).

    Returns the evaluations and the router's ``AttainmentUpdate`` for the engine's current 15-minute interval
    by the contract's service-level definition (None when no service-level target is in force).
    """
    calendar = await _calendar(session)
    subjects, contract = await _subjects(session, calendar, now)
    if not subjects:
        return Run([], None)
    start = min(min(s.window.start for s in subjects), engine.interval_start(now) - engine.INTERVAL)
    figures = _Figures(await interval_sums(session, start, now))
    evaluated = []
    for subject in subjects:
        item = Evaluated(subject.contract, subject.target, subject.window, _assess(subject, figures, calendar, now))
        await _store(session, item, now)
        await _raise_alert(session, item, now)
        evaluated.append(item)
    return Run(evaluated, _attainment(contract, figures, now))


def _attainment(contract: schemas.ContractOut | None, figures: _Figures, now: dt.datetime) -> AttainmentUpdate | None:
    """The engine's current interval by the service-level definition of the contract in force now."""
    primary = primary_service_level(contract) if contract else None
    if contract is None or primary is None:
        return None
    counts = figures.counts_at(engine.interval_start(now), contract, primary)
    engine_counts = engine.engine_attainment(counts, engine.Definition(contract.definition))
    return AttainmentUpdate(
        tenant_id=require_tenant_id(),
        answered=engine_counts.answered,
        answered_within_target=engine_counts.answered_within_target,
        abandoned=engine_counts.abandoned,
    )


def attainment_sent_key(pool: str, tenant_id: uuid.UUID) -> str:
    return f"tenline:sla:attainment-sent:{pool}:{tenant_id}"


async def send_attainment(redis: aioredis.Redis, command: AttainmentUpdate, *, pool: str) -> bool:
    """Submit the figures to the pool's router unless they are the ones last sent there (the router logs each
    command it applies: a tenant's unchanged figures every few seconds would only grow the log). True if sent."""
    key = attainment_sent_key(pool, command.tenant_id)
    encoded = msgspec.json.encode(command)
    if await redis.get(key) == encoded:
        return False
    await submit(redis, command, pool=pool)
    # Kept for an interval: a new interval starts from zero in the engine, so the figures are sent again then.
    await redis.set(key, encoded, ex=int(engine.INTERVAL.total_seconds()))
    return True


# --- reading the evaluations -----------------------------------------------------------------------


async def _attainments(
    session: AsyncSession, targets: Sequence[tuple[schemas.TargetOut, str]], now: dt.datetime
) -> list[schemas.TargetAttainment]:
    """Each (target, its tenant's time zone) in its window at ``now``, as the last evaluation left it."""
    windows = {t.id: engine.window_at(now, engine.WindowKind(t.window), zone) for t, zone in targets}
    rows = (
        await session.exec(
            select(SlaEvaluation).where(
                col(SlaEvaluation.target_id).in_(list(windows)),
                col(SlaEvaluation.window_start) <= now,
                col(SlaEvaluation.window_end) > now,
            )
        )
    ).all()
    stored = {(row.target_id, _utc(row.window_start)): row for row in rows}
    found = []
    for target, _ in targets:
        window = windows[target.id]
        row = stored.get((target.id, window.start))
        found.append(
            schemas.TargetAttainment(
                target=target,
                window_start=window.start,
                window_end=window.end,
                value=row.value if row else None,
                projected=row.projected if row else None,
                state=row.state if row else "no_data",  # type: ignore[arg-type]
                volume=row.volume if row else 0.0,
                evaluated_at=row.evaluated_at if row else None,
            )
        )
    return found


async def current_attainment(session: AsyncSession) -> schemas.AttainmentOut:
    """Each target of the contract in force, in its current window, as the last evaluation left it."""
    calendar = await _calendar(session)
    contract = await contract_in_force(session)
    if contract is None:
        raise NotFoundError("no SLA contract is in force for this tenant")
    targets = await _attainments(session, [(t, calendar.timezone) for t in contract.targets], utcnow())
    return schemas.AttainmentOut(contract=contract, targets=targets)


async def service_levels_of_every_tenant(
    reader: AsyncSession, now: dt.datetime
) -> dict[uuid.UUID, schemas.TargetAttainment]:
    """Each tenant's primary service-level target (of the contract in force on its local date) in its window at
    ``now``, as the last evaluation left it: the operator's wallboard. Tenants without one are absent.

    ``reader`` is a ``tenants.service.cross_tenant_read`` session (audited, read-only, every tenant).
    """
    zones = {tenant.id: tenant.timezone for tenant in await tenant_choices(reader)}
    statement = select(
        col(SlaContractVersion.tenant_id),
        col(SlaContractVersion.id),
        col(SlaContractVersion.effective_from),
        col(SlaContractVersion.version),
    )
    histories: dict[uuid.UUID, _History] = {}
    for tenant_id, version_id, effective_from, number in (await reader.exec(statement)).all():
        histories.setdefault(tenant_id, _History([])).rows.append((version_id, effective_from, number))  # type: ignore[arg-type]
    in_force: dict[uuid.UUID, uuid.UUID] = {}
    for tenant_id, history in histories.items():
        current = history.in_force(engine.local_date(now, zones[tenant_id])) if tenant_id in zones else None
        if current is not None:
            in_force[tenant_id] = current
    targets_of = await _targets_of(reader, in_force.values())
    primaries = {}
    for tenant_id, version_id in in_force.items():
        primary = _first_service_level(_target_out(t) for t in targets_of[version_id])
        if primary is not None:
            primaries[tenant_id] = primary
    found = await _attainments(reader, [(t, zones[tenant_id]) for tenant_id, t in primaries.items()], now)
    return dict(zip(primaries, found, strict=True))


async def interval_series(session: AsyncSession, day: dt.date) -> schemas.IntervalSeriesOut:
    """The service level of each 15-minute interval of a local day, by the contract in force that day."""
    calendar = await _calendar(session)
    contract = await contract_in_force(session, day)
    target = primary_service_level(contract) if contract else None
    if contract is None or target is None or target.within_seconds is None or target.minimum is None:
        raise NotFoundError(f"no service-level target is in force on {day.isoformat()}")
    start, end = engine.day_bounds(day, calendar.timezone)
    figures = _Figures(await interval_sums(session, start, end))
    definition = engine.Definition(contract.definition)
    points = []
    for interval in engine.interval_starts(start, end):
        ratio = engine.service_level(figures.counts_at(interval, contract, target), definition)
        points.append(schemas.IntervalPoint(start=interval, contacts=int(ratio.denominator), service_level=ratio.value))
    return schemas.IntervalSeriesOut(
        day=day,
        timezone=calendar.timezone,
        definition=contract.definition,
        within_seconds=target.within_seconds,
        minimum=target.minimum,
        points=points,
    )


# --- alerts ----------------------------------------------------------------------------------------


def _alerts_query() -> Any:
    return (
        select(SlaAlert, SlaTarget, SlaContractVersion.version)
        .join(
            SlaTarget,
            sa.and_(col(SlaTarget.tenant_id) == col(SlaAlert.tenant_id), col(SlaTarget.id) == col(SlaAlert.target_id)),
        )
        .join(
            SlaContractVersion,
            sa.and_(
                col(SlaContractVersion.tenant_id) == col(SlaAlert.tenant_id),
                col(SlaContractVersion.id) == col(SlaAlert.contract_version_id),
            ),
        )
    )


async def _alert_page(session: AsyncSession, statement: Any, cursor: str | None, limit: int) -> Page[schemas.AlertOut]:
    rows = (await session.exec(paginate(statement, col(SlaAlert.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row[0].id)
    return Page(
        items=[
            schemas.AlertOut(
                id=alert.id,
                tenant_id=alert.tenant_id,
                contract_id=alert.contract_version_id,
                contract_version=number,
                target=_target_out(target),
                window_start=alert.window_start,
                window_end=alert.window_end,
                state=alert.state,
                value=alert.value,
                projected=alert.projected,
                raised_at=alert.raised_at,
            )
            for alert, target, number in items
        ],
        next_cursor=next_cursor,
    )


async def list_alerts(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.AlertOut]:
    """The acting tenant's alerts, newest first."""
    return await _alert_page(session, _alerts_query(), cursor, limit)


async def list_all_alerts(
    *, cursor: str | None, limit: int, tenant_id: uuid.UUID | None = None
) -> Page[schemas.AlertOut]:
    """Every tenant's alerts, newest first (the operator's list): an audited cross-tenant read."""
    detail = {"tenant_id": str(tenant_id)} if tenant_id else {}
    async with cross_tenant_read("SLA alerts of every tenant", **detail) as session:
        statement: Any = _alerts_query()
        if tenant_id is not None:
            statement = statement.where(col(SlaAlert.tenant_id) == tenant_id)
        return await _alert_page(session, statement, cursor, limit)
