"""Dunning: reminders for overdue invoices, then suspension of the tenant's API clients; lifted when paid.

Policy. An invoice is due ``payment_terms_days`` after it is issued; a reminder goes out on each of
``reminder_days`` after the due date; ``suspend_after_days`` after it the tenant's API clients are suspended
(never, when unset; when set, never before the last reminder). The policy in force for a tenant is its own row in
``dunning_policies`` when it has one, else the operator's default: the one row of ``operator_dunning_policies``
once an operator admin has saved it, until then the settings ``TENLINE_BILLING_*``. Only operator admins change
either (``set_operator_default``, ``set_tenant_policy``, ``remove_tenant_policy``: If-Match on the row's version,
0 meaning none saved yet; audited, the default in the operator's log, a tenant's in the tenant's); the job reads
the policy afresh on each run, so a change applies from the next one.

The job (``remind_and_suspend``, periodic per tenant) looks at the tenant's final invoices with money owed
(unpaid or failed). Each step is taken once per invoice: a unique ``dunning_steps`` row is written in the same
transaction as the step's outbox event (``billing.invoice_overdue``, which the tenant's webhooks may carry) and
its mail to the tenant's admins, sent last: a failed send rolls the step back and the next run takes it again;
a concurrent run finds the row and does nothing. When a run finds several reminders of an invoice due at once
(the job was down, or the policy changed), only the latest is sent; the earlier ones are recorded as passed over.

Suspension is of API clients only, reversibly (``suspended_by = "billing"``; the token endpoint and bearer auth
refuse a suspended client): it is the policy's only sanction. It stays while any invoice is past the threshold
(clients created meanwhile are suspended by the next run) and is lifted as soon as none is: by the next run (a
policy changed to suspend later, or never, lifts it then too), and at once by the payment-state handler. Routing
and live contacts are never touched: suspending the tenant itself is an operator admin's explicit action
(``/api/v1/tenants/{id}/suspend``), never this job's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import msgspec
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import mail
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.errors import FieldError, InvalidInputError, NotFoundError
from app.core.models import new_id
from app.core.outbox import emit
from app.core.rows import to_struct
from app.core.settings import Settings, get_settings
from app.core.tenancy import acting_as, current_principal, require_tenant_id
from app.core.versioning import apply_changes, check_version
from billing import rating
from billing.dunning_models import DunningPolicyOverride, DunningPolicyTerms, DunningStep, OperatorDunningPolicy
from billing.dunning_schemas import (
    DunningPolicyIn,
    DunningPolicyOut,
    DunningTerms,
    InvoiceOverdue,
    OperatorDunningPolicyOut,
    OverdueInvoice,
    PolicySource,
    TenantDunningPolicy,
)
from billing.invoicing_models import Invoice, InvoiceKind, InvoiceStatus, PaymentState
from tenants import service as tenants
from tenants.models import Tenant, TenantMembership, User
from tenants.permissions import Role

log = structlog.get_logger("tenline.billing.dunning")

INVOICE_OVERDUE_TOPIC = "billing.invoice_overdue"
SUSPENDED_BY = "billing"
SUSPENSION_STEP = "suspension"
REMINDER_STEP_PREFIX = "reminder:"
OWED = (PaymentState.UNPAID, PaymentState.FAILED)


def reminder_step(days: int) -> str:
    return f"{REMINDER_STEP_PREFIX}{days}"


# --- policy -------------------------------------------------------------------------------------------------


def _settings_default(settings: Settings) -> OperatorDunningPolicyOut:
    return OperatorDunningPolicyOut(
        payment_terms_days=settings.billing_payment_terms_days,
        reminder_days=sorted(set(settings.billing_reminder_days)),
        suspend_after_days=settings.billing_suspend_after_days,
        version=0,
        updated_by="",
        updated_at=None,
    )


async def _operator_row(session: AsyncSession, *, for_update: bool = False) -> OperatorDunningPolicy | None:
    statement = select(OperatorDunningPolicy)
    return (await session.exec(statement.with_for_update() if for_update else statement)).first()


async def _own_row(session: AsyncSession, *, for_update: bool = False) -> DunningPolicyOverride | None:
    statement = select(DunningPolicyOverride)
    return (await session.exec(statement.with_for_update() if for_update else statement)).first()


async def operator_default(session: AsyncSession, settings: Settings | None = None) -> OperatorDunningPolicyOut:
    """The operator's default policy: as an operator admin last saved it, else the settings."""
    row = await _operator_row(session)
    return _settings_default(settings or get_settings()) if row is None else to_struct(OperatorDunningPolicyOut, row)


def _in_force(terms: DunningTerms | DunningPolicyOverride, source: PolicySource, version: int) -> DunningPolicyOut:
    return DunningPolicyOut(
        payment_terms_days=terms.payment_terms_days,
        # Saved sorted and once each; a row written by hand may not be, and the job takes the last as the latest.
        reminder_days=sorted(set(terms.reminder_days)),
        suspend_after_days=terms.suspend_after_days,
        source=source,
        version=version,
    )


async def operator_policy(session: AsyncSession, settings: Settings | None = None) -> DunningPolicyOut:
    """The operator's default as the policy in force of a tenant without its own."""
    return _in_force(await operator_default(session, settings), "operator", 0)


async def policy_in_force(session: AsyncSession, settings: Settings | None = None) -> DunningPolicyOut:
    """The acting tenant's own policy when it has one, else the operator's default."""
    own = await _own_row(session)
    if own is None:
        return await operator_policy(session, settings)
    return _in_force(own, "tenant", own.version)


def _checked_reminder_days(data: DunningPolicyIn) -> list[int]:
    """The reminder days, sorted; refused (422, by field) when a day is given twice or the suspension comes
    before the last reminder (the job would suspend the API clients before the reminder warning of it)."""
    days = sorted(data.reminder_days)
    errors = []
    if repeated := sorted({day for day in days if days.count(day) > 1}):
        listed = ", ".join(str(day) for day in repeated)
        errors.append(FieldError(field="reminder_days", message=f"each day once: {listed} given twice", source="body"))
    if data.suspend_after_days is not None and days and data.suspend_after_days < days[-1]:
        errors.append(
            FieldError(
                field="suspend_after_days",
                message=f"must be on or after the last reminder (day {days[-1]}), so the suspension is announced",
                source="body",
            )
        )
    if errors:
        raise InvalidInputError("; ".join(f"{error.field}: {error.message}" for error in errors), errors=errors)
    return days


def _terms(data: DunningPolicyIn, reminder_days: list[int]) -> dict[str, Any]:
    return {
        "payment_terms_days": data.payment_terms_days,
        "reminder_days": reminder_days,
        "suspend_after_days": data.suspend_after_days,
    }


def _save(row: DunningPolicyTerms, terms: dict[str, Any]) -> None:
    apply_changes(row, terms)
    principal = current_principal()
    row.updated_by = principal.display_name if principal else "system"


async def set_operator_default(
    session: AsyncSession, data: DunningPolicyIn, *, if_match: int | None
) -> OperatorDunningPolicyOut:
    """Saves the operator's default (operator admins), in force at once for every tenant without its own policy;
    audited in the operator's log."""
    terms = _terms(data, _checked_reminder_days(data))
    row = await _operator_row(session, for_update=True)
    check_version("the operator's dunning policy", row, if_match)
    if row is None:
        operator = await tenants.the_operator(session)
        row = OperatorDunningPolicy(operator_id=operator.id, **terms, version=0)
        session.add(row)
    _save(row, terms)
    await session.flush()
    principal = current_principal()
    with acting_as(principal.acting_for(None) if principal else None):  # the operator's change, no tenant's
        await tenants.audit(
            session,
            "dunning_policy.default_saved",
            object_type="dunning_policy",
            object_id=row.operator_id,
            detail={**terms, "version": row.version},
        )
    return to_struct(OperatorDunningPolicyOut, row)


async def set_tenant_policy(
    session: AsyncSession, data: DunningPolicyIn, *, if_match: int | None
) -> tuple[DunningPolicyOut, bool]:
    """Gives the acting tenant a policy of its own in place of the operator's default, or replaces it (operator
    admins); returns it and whether it was created. Audited in the tenant's log."""
    terms = _terms(data, _checked_reminder_days(data))
    row = await _own_row(session, for_update=True)
    check_version("the tenant's dunning policy", row, if_match)
    created = row is None
    if row is None:
        row = DunningPolicyOverride(**terms, version=0)
        session.add(row)
    _save(row, terms)
    await session.flush()
    await tenants.audit(
        session,
        "dunning_policy.set",
        object_type="dunning_policy",
        object_id=row.id,
        detail={**terms, "version": row.version},
    )
    return _in_force(row, "tenant", row.version), created


async def remove_tenant_policy(session: AsyncSession, *, if_match: int | None) -> None:
    """Takes the acting tenant's own policy away: the operator's default is in force again (404 when it has
    none). Audited in the tenant's log."""
    row = await _own_row(session, for_update=True)
    if row is None:
        raise NotFoundError("the tenant has no dunning policy of its own")
    check_version("the tenant's dunning policy", row, if_match)
    await session.delete(row)
    await session.flush()
    await tenants.audit(
        session,
        "dunning_policy.removed",
        object_type="dunning_policy",
        object_id=row.id,
        detail={"version": row.version},
    )


async def policies_of_every_tenant(reader: AsyncSession, settings: Settings | None = None) -> list[TenantDunningPolicy]:
    """Every tenant's policy in force, by tenant name (``reader``: a ``cross_tenant_read`` session)."""
    default = await operator_policy(reader, settings)
    own = {row.tenant_id: row for row in (await reader.exec(select(DunningPolicyOverride))).all()}
    return [
        TenantDunningPolicy(
            tenant_id=tenant.id,
            tenant=tenant.name,
            policy=_in_force(row, "tenant", row.version) if (row := own.get(tenant.id)) else default,
        )
        for tenant in await tenants.tenant_choices(reader)
    ]


# --- overdue invoices ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Overdue:
    invoice: Invoice
    due_at: dt.datetime
    days_overdue: int  # whole days past the due time


async def overdue_invoices(session: AsyncSession, policy: DunningPolicyOut, now: dt.datetime) -> list[Overdue]:
    """The acting tenant's final invoices with money owed whose due time has passed, oldest first."""
    terms = dt.timedelta(days=policy.payment_terms_days)
    rows = (
        await session.exec(
            select(Invoice)
            .where(
                Invoice.kind == InvoiceKind.INVOICE,
                Invoice.status == InvoiceStatus.FINAL,
                col(Invoice.payment_state).in_(OWED),
                Invoice.total_minor > 0,
                col(Invoice.issued_at) <= now - terms,
            )
            .order_by(col(Invoice.issued_at))
        )
    ).all()
    found = []
    for row in rows:
        assert row.issued_at is not None  # final invoices are issued
        due_at = row.issued_at + terms
        found.append(Overdue(row, due_at, (now - due_at).days))
    return found


def past_suspension(policy: DunningPolicyOut, overdue: Overdue) -> bool:
    return policy.suspend_after_days is not None and overdue.days_overdue >= policy.suspend_after_days


def _suspension_at(policy: DunningPolicyOut, due_at: dt.datetime) -> dt.datetime | None:
    return due_at + dt.timedelta(days=policy.suspend_after_days) if policy.suspend_after_days is not None else None


async def overdue_with_steps(session: AsyncSession, policy: DunningPolicyOut, now: dt.datetime) -> list[OverdueInvoice]:
    """The acting tenant's overdue invoices (oldest first) with the reminders sent for each: its billing page."""
    overdue = await overdue_invoices(session, policy, now)
    if not overdue:
        return []
    sent = (
        await session.exec(
            select(DunningStep.invoice_id, DunningStep.step)
            .where(
                col(DunningStep.invoice_id).in_([item.invoice.id for item in overdue]),
                col(DunningStep.step).startswith(REMINDER_STEP_PREFIX),
                DunningStep.notified,
            )
            .order_by(col(DunningStep.taken_at))
        )
    ).all()
    reminders: dict[uuid.UUID, list[int]] = {}
    for invoice_id, step in sent:
        reminders.setdefault(invoice_id, []).append(int(step.removeprefix(REMINDER_STEP_PREFIX)))
    out = []
    for item in overdue:
        assert item.invoice.number is not None  # final invoices are numbered
        out.append(
            OverdueInvoice(
                invoice_id=item.invoice.id,
                number=item.invoice.number,
                currency=item.invoice.currency,
                total_minor=item.invoice.total_minor,
                due_at=item.due_at,
                days_overdue=item.days_overdue,
                reminders_sent=reminders.get(item.invoice.id, []),
                api_suspension_at=_suspension_at(policy, item.due_at),
            )
        )
    return out


async def _record_step(
    session: AsyncSession, invoice_id: uuid.UUID, step: str, days_overdue: int, *, notified: bool, recipients: int
) -> bool:
    """Writes the step unless it was taken already (by this run's predecessors or a concurrent run)."""
    inserted = await session.execute(
        pg_insert(DunningStep)
        .values(
            tenant_id=require_tenant_id(),
            id=new_id(),
            invoice_id=invoice_id,
            step=step,
            days_overdue=days_overdue,
            notified=notified,
            recipients=recipients,
            taken_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "invoice_id", "step"])
        .returning(sa.column("id"))
    )
    return inserted.first() is not None


async def _taken_steps(session: AsyncSession, invoice_ids: list[uuid.UUID]) -> set[tuple[uuid.UUID, str]]:
    rows = (
        await session.exec(
            select(DunningStep.invoice_id, DunningStep.step).where(col(DunningStep.invoice_id).in_(invoice_ids))
        )
    ).all()
    return {(invoice_id, step) for invoice_id, step in rows}


async def admin_emails(session: AsyncSession) -> list[str]:
    """The acting tenant's admins, who get the reminders."""
    rows = (
        await session.exec(
            select(User.email)
            .join(TenantMembership, col(TenantMembership.user_id) == col(User.id))
            .where(TenantMembership.role == Role.TENANT_ADMIN)
            .order_by(col(User.email))
        )
    ).all()
    return list(rows)


def _amount(invoice: Invoice) -> str:
    return f"{Decimal(invoice.total_minor).scaleb(-rating.minor_unit_digits(invoice.currency)):,f} {invoice.currency}"


def _reminder_mail(
    settings: Settings, tenant: Tenant, overdue: Overdue, event: InvoiceOverdue, to: list[str], now: dt.datetime
) -> EmailMessage:
    invoice = overdue.invoice
    suspension = ""
    if event.api_suspension_at is not None:
        suspension = (
            f"Unless it is paid, your API clients will be suspended on {event.api_suspension_at:%Y-%m-%d} "
            "(calls from your systems will be refused; your contact center keeps working).\n"
            if event.api_suspension_at > now
            else "Your API clients are suspended until it is paid (your contact center keeps working).\n"
        )
    return mail.message(
        settings,
        to=to,
        subject=f"Payment reminder: invoice {invoice.number} is {overdue.days_overdue} days overdue",
        body=(
            f"Invoice {invoice.number} for {tenant.name} ({invoice.period_start:%Y-%m}), {_amount(invoice)}, "
            f"was due on {overdue.due_at:%Y-%m-%d} and is {overdue.days_overdue} days overdue.\n{suspension}\n"
            "If you have paid it already, please disregard this reminder.\n"
        ),
    )


# --- the job ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class DunningRun:
    reminders: int = 0  # reminders sent (events emitted, mails sent)
    suspended: int = 0  # API clients suspended by this run
    resumed: int = 0  # API clients whose suspension this run lifted


async def _remind(
    session: AsyncSession,
    settings: Settings,
    policy: DunningPolicyOut,
    item: Overdue,
    due_days: list[int],
    now: dt.datetime,
) -> bool:
    """Sends the latest of the reminders due for the invoice (the earlier ones are recorded as passed over);
    False when a concurrent run took it first."""
    for days in due_days[:-1]:
        await _record_step(
            session, item.invoice.id, reminder_step(days), item.days_overdue, notified=False, recipients=0
        )
    recipients = await admin_emails(session) if settings.smtp_host else []
    latest = due_days[-1]
    if not await _record_step(
        session, item.invoice.id, reminder_step(latest), item.days_overdue, notified=True, recipients=len(recipients)
    ):
        return False
    invoice = item.invoice
    assert invoice.issued_at is not None and invoice.number is not None  # final invoices are numbered and issued
    event = InvoiceOverdue(
        invoice_id=invoice.id,
        number=invoice.number,
        currency=invoice.currency,
        total_minor=invoice.total_minor,
        issued_at=invoice.issued_at,
        due_at=item.due_at,
        days_overdue=item.days_overdue,
        reminder=latest,
        payment_state=invoice.payment_state,
        api_suspension_at=_suspension_at(policy, item.due_at),
    )
    await emit(session, INVOICE_OVERDUE_TOPIC, msgspec.to_builtins(event))
    await tenants.audit(
        session,
        "invoice.reminder_sent",
        object_type="invoice",
        object_id=invoice.id,
        detail={"reminder": latest, "days_overdue": item.days_overdue, "recipients": len(recipients)},
    )
    if recipients:  # last: a refused send rolls the step back, and the next run sends it again
        tenant = await session.get(Tenant, require_tenant_id())
        assert tenant is not None
        await mail.send(settings, _reminder_mail(settings, tenant, item, event, recipients, now))
    return True


async def enforce_suspension(
    session: AsyncSession, now: dt.datetime | None = None, settings: Settings | None = None
) -> tuple[int, int]:
    """Suspends the acting tenant's API clients while an invoice is past the policy's threshold, lifts billing's
    suspension when none is; returns (suspended, resumed) counts."""
    now = now or utcnow()
    policy = await policy_in_force(session, settings)
    past = [item for item in await overdue_invoices(session, policy, now) if past_suspension(policy, item)]
    if not past:
        return 0, await tenants.resume_api_clients(session, by=SUSPENDED_BY)
    for item in past:
        if await _record_step(
            session, item.invoice.id, SUSPENSION_STEP, item.days_overdue, notified=False, recipients=0
        ):
            await tenants.audit(
                session,
                "invoice.api_clients_suspended",
                object_type="invoice",
                object_id=item.invoice.id,
                detail={"days_overdue": item.days_overdue},
            )
    return await tenants.suspend_api_clients(session, by=SUSPENDED_BY), 0


async def remind_and_suspend(now: dt.datetime | None = None, settings: Settings | None = None) -> DunningRun:
    """One dunning run for the acting tenant: each invoice's due reminder in its own transaction, then the
    suspension (or its lifting) of the API clients."""
    now = now or utcnow()
    settings = settings or get_settings()
    database = get_database()
    run = DunningRun()
    async with database.session() as session:
        policy = await policy_in_force(session, settings)
        overdue = await overdue_invoices(session, policy, now)
        taken = await _taken_steps(session, [item.invoice.id for item in overdue])
    for item in overdue:
        due_days = [
            days
            for days in policy.reminder_days
            if item.days_overdue >= days and (item.invoice.id, reminder_step(days)) not in taken
        ]
        if not due_days:
            continue
        try:
            async with database.session() as session:
                if await _remind(session, settings, policy, item, due_days, now):
                    run.reminders += 1
        except OSError as exc:  # the SMTP server refused or is away: the step is rolled back, due again next run
            log.warning("billing.reminder_not_sent", invoice_id=str(item.invoice.id), error=str(exc))
    async with database.session() as session:
        run.suspended, run.resumed = await enforce_suspension(session, now, settings)
    return run
