"""Dunning: reminders for overdue invoices, then suspension of the tenant's API clients; lifted when paid.

Policy. The operator's (settings ``TENLINE_BILLING_*``), or the tenant's own row in ``dunning_policies``: an
invoice is due ``payment_terms_days`` after it is issued; a reminder goes out on each of ``reminder_days`` after
the due date; ``suspend_after_days`` after it the tenant's API clients are suspended (never, when unset).

The job (``remind_and_suspend``, periodic per tenant) looks at the tenant's final invoices with money owed
(unpaid or failed). Each step is taken once per invoice: a unique ``dunning_steps`` row is written in the same
transaction as the step's outbox event (``billing.invoice_overdue``, which the tenant's webhooks may carry) and
its mail to the tenant's admins, sent last: a failed send rolls the step back and the next run takes it again;
a concurrent run finds the row and does nothing. When a run finds several reminders of an invoice due at once
(the job was down), only the latest is sent; the earlier ones are recorded as passed over.

Suspension is of API clients only, reversibly (``suspended_by = "billing"``; the token endpoint and bearer auth
refuse a suspended client). It stays while any invoice is past the threshold (clients created meanwhile are
suspended by the next run) and is lifted as soon as none is: by the next run, and at once by the payment-state
handler. Routing and live contacts are never touched: suspending the tenant itself is an operator admin's
explicit action (``/api/v1/tenants/{id}/suspend``), never this job's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from email.message import EmailMessage

import msgspec
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import mail
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.models import new_id
from app.core.outbox import emit
from app.core.settings import Settings, get_settings
from app.core.tenancy import require_tenant_id
from billing import rating
from billing.dunning_models import DunningPolicyOverride, DunningStep
from billing.dunning_schemas import DunningPolicyOut, InvoiceOverdue
from billing.invoicing_models import Invoice, InvoiceKind, InvoiceStatus, PaymentState
from tenants import service as tenants
from tenants.models import Tenant, TenantMembership, User
from tenants.permissions import Role

log = structlog.get_logger("tenline.billing.dunning")

INVOICE_OVERDUE_TOPIC = "billing.invoice_overdue"
SUSPENDED_BY = "billing"
SUSPENSION_STEP = "suspension"
OWED = (PaymentState.UNPAID, PaymentState.FAILED)


def reminder_step(days: int) -> str:
    return f"reminder:{days}"


# --- policy -------------------------------------------------------------------------------------------------


def operator_policy(settings: Settings) -> DunningPolicyOut:
    return DunningPolicyOut(
        payment_terms_days=settings.billing_payment_terms_days,
        reminder_days=sorted(set(settings.billing_reminder_days)),
        suspend_after_days=settings.billing_suspend_after_days,
        source="operator",
    )


async def policy_in_force(session: AsyncSession, settings: Settings | None = None) -> DunningPolicyOut:
    """The acting tenant's own policy when it has one, else the operator's."""
    own = (await session.exec(select(DunningPolicyOverride))).first()
    if own is None:
        return operator_policy(settings or get_settings())
    return DunningPolicyOut(
        payment_terms_days=own.payment_terms_days,
        reminder_days=sorted(set(own.reminder_days)),
        suspend_after_days=own.suspend_after_days,
        source="tenant",
        version=own.version,
    )


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
        api_suspension_at=(
            item.due_at + dt.timedelta(days=policy.suspend_after_days)
            if policy.suspend_after_days is not None
            else None
        ),
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
