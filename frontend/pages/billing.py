"""Billing pages: the tenant's usage in a period with the estimate of its bill, its invoices, and every tenant's
for the operator.

The tenant's page shows a month's usage by day and channel (late days of closed months marked), the estimate
line by line, the rate card in force, its issued invoices and credit notes with their payment state and links
to the printable invoice, its PDF and its lines as CSV, and its payment terms (the dunning policy in force, read
only) with its overdue invoices and the reminders sent for them. ``/billing/invoices/{id}`` is the printable invoice
(print CSS: no navigation, A4), ``/billing/invoices/{id}.pdf`` the same content as a PDF. The operator's page
lists every tenant's current month, its estimated total and its share of the pool's agent time (an audited
cross-tenant read, as the API's); its admins change dunning policies on ``frontend.pages.dunning``'s pages.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import QueryParameter
from litestar.types import Guard
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.errors import ConflictError, InvalidInputError, NotFoundError, PreconditionFailedError
from app.core.http import attachment
from app.core.settings import get_settings
from app.core.tenancy import Principal, acting_as
from billing import dunning, invoice_documents, invoice_overview, invoicing, rating, service
from billing import invoicing_schemas as invoice_schemas
from frontend.web import flash, redirect, render
from tenants.auth import requires
from tenants.permissions import Permission, allowed
from tenants.service import cross_tenant_read

BILLING_PATH = "/billing"
OPERATOR_BILLING_PATH = "/operator/billing"

Period = Annotated[str | None, QueryParameter(name="period", max_length=16)]


def duration(seconds: Decimal) -> str:
    """Seconds as people read a long time: 12:04:31 (hours, minutes, whole seconds)."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def money(minor: int | None, currency: str | None) -> str:
    if minor is None or currency is None:
        return "—"
    return str(rating.Money(minor, currency))


def last_day(end: dt.date) -> dt.date:
    """The last day of a stretch the rating core gives as [start, end)."""
    return end - dt.timedelta(days=1)


def day_list(days: list[int]) -> str:
    """Days as a sentence lists them: 7, 14 and 30."""
    named = [str(day) for day in days]
    return " and ".join(filter(None, [", ".join(named[:-1]), *named[-1:]]))


SHOWN = {"duration": duration, "money": money, "last_day": last_day, "day_list": day_list}


class BillingPages(Controller):
    path = BILLING_PATH
    guards = [requires(Permission.VIEW_BILLING)]

    @get("/")
    async def usage(
        self, request: Request[Principal, Any, Any], session: AsyncSession, period: Period = None
    ) -> Response[Any]:
        asked = period or "current"
        try:
            usage = await service.usage(session, asked)
            error = None
        except InvalidInputError:
            usage, error = await service.usage(session, "current"), "Give a month as YYYY-MM, e.g. 2026-11."
        policy = await dunning.policy_in_force(session)
        return render(
            request,
            "billing/usage.html",
            policy=policy,
            overdue=await dunning.overdue_with_steps(session, policy, utcnow()),
            usage=usage,
            card=await service.rate_card_in_force(session, min(await service.today(session), usage.period.last_day)),
            period_value=asked if error else f"{usage.period.first_day:%Y-%m}",
            period_error=error,
            invoices=await invoicing.list_invoices(
                session, cursor=None, limit=ISSUED_SHOWN, sort="-issued_at", filters=ISSUED
            ),
            credit_notes=await invoicing.list_invoices(
                session, cursor=None, limit=ISSUED_SHOWN, sort="-issued_at", filters=ISSUED_CREDIT_NOTES
            ),
            **SHOWN,
        )

    @get("/invoices/{invoice_file:str}", media_type=MediaType.HTML)  # the PDF answer names its own
    async def invoice(self, request: Request[Principal, Any, Any], session: AsyncSession, invoice_file: str) -> Any:
        """``{id}``: the printable invoice; ``{id}.pdf``: the same as a PDF (one route: a path parameter is a
        whole segment)."""
        invoice_id, as_pdf = _invoice_file(invoice_file)
        document = await invoice_documents.invoice_document(session, invoice_id, get_settings().billing_issuer_name)
        if as_pdf:
            name = invoice_documents.filename(document.invoice, "pdf")
            return attachment(invoice_documents.invoice_pdf(document), invoice_documents.PDF_MEDIA_TYPE, name)
        return render(request, "billing/invoice.html", document=document)


# The tenant's page lists what was issued to it: drafts are the operator's until finalised, voids never were.
ISSUED = invoice_schemas.InvoiceFilters(status="final", kind="invoice")
ISSUED_CREDIT_NOTES = invoice_schemas.InvoiceFilters(status="final", kind="credit_note")
ISSUED_SHOWN = 24  # two years of monthly invoices; older ones through the API


def _invoice_file(name: str) -> tuple[uuid.UUID, bool]:
    """The invoice an ``{id}`` or ``{id}.pdf`` segment names, and whether the PDF is asked for."""
    stem, dot, extension = name.partition(".")
    try:
        invoice_id = uuid.UUID(stem)
    except ValueError:
        raise NotFoundError("no such invoice") from None
    if dot and extension != "pdf":
        raise NotFoundError("no such invoice")
    return invoice_id, bool(dot)


@get(OPERATOR_BILLING_PATH, guards=[requires(Permission.READ_CROSS_TENANT)])
async def operator_billing(request: Request[Principal, Any, Any]) -> Response[Any]:
    now = utcnow()
    month_start = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    async with cross_tenant_read("billing page: usage and invoices of every tenant") as reader:
        overview = await service.usage_of_every_tenant(reader, pool_from=month_start, pool_to=now)
        invoices = await invoice_overview.invoices_of_every_tenant(reader)
    return render(
        request,
        "billing/tenants.html",
        overview=overview,
        invoices=invoices,
        tenant_names={summary.tenant_id: summary.tenant for summary in invoices.tenants},
        can_manage=allowed(request.user, Permission.MANAGE_BILLING),
        **SHOWN,
    )


# Operator admins' billing work across tenants (reviewing drafts, dunning policies): no acting tenant needed, each
# change is made as the tenant it concerns.
OPERATOR_BILLING_ADMINS: list[Guard] = [
    requires(Permission.READ_CROSS_TENANT),
    requires(Permission.MANAGE_BILLING, acting_tenant=False),
]


async def _review(
    request: Request[Principal, Any, Any],
    invoice_id: uuid.UUID,
    change: Callable[[AsyncSession, int | None], Awaitable[invoice_schemas.InvoiceOut]],
    done: str,
) -> Response[Any]:
    """A draft's review from the overview of every tenant: the change made as the invoice's tenant (the form
    names it), under the version the page showed; a refusal is told as the page's message."""
    form = await request.form()
    try:
        tenant_id = uuid.UUID(str(form.get("tenant_id", "")))
        version = int(str(form.get("version", "")))
    except ValueError:
        raise NotFoundError("no such invoice") from None
    try:
        with acting_as(request.user.acting_for(tenant_id)):
            async with get_database().session() as session:
                invoice = await change(session, version)
        flash(request, f"{invoice.number or 'The draft'} of {invoice.period_start:%Y-%m} {done}.")
    except (ConflictError, PreconditionFailedError, InvalidInputError) as refused:
        flash(request, str(refused), "error")
    return redirect(request, OPERATOR_BILLING_PATH)


@post(f"{OPERATOR_BILLING_PATH}/invoices/{{invoice_id:uuid}}/finalise", guards=OPERATOR_BILLING_ADMINS)
async def operator_finalise(request: Request[Principal, Any, Any], invoice_id: uuid.UUID) -> Response[Any]:
    return await _review(
        request,
        invoice_id,
        lambda session, version: invoicing.finalise(session, invoice_id, if_match=version),
        "is finalised",
    )


@post(f"{OPERATOR_BILLING_PATH}/invoices/{{invoice_id:uuid}}/void", guards=OPERATOR_BILLING_ADMINS)
async def operator_void(request: Request[Principal, Any, Any], invoice_id: uuid.UUID) -> Response[Any]:
    reason = str((await request.form()).get("reason", "")).strip()
    if not reason:
        flash(request, "Give the reason the draft is voided (it is recorded).", "error")
        return redirect(request, OPERATOR_BILLING_PATH)
    return await _review(
        request,
        invoice_id,
        lambda session, version: invoicing.void(session, invoice_id, reason[:1000], if_match=version),
        "is voided",
    )
