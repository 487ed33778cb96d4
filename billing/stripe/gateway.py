"""The Stripe gateway: Tenline's customers and finalised invoices pushed through the official ``StripeClient``.

Every write carries an idempotency key made of Tenline's own ids (``tenline-invoice-{invoice_id}-item-{line_id}``),
so a retry, by the library after a lost response or by a job run again, replays Stripe's first answer instead of
creating a second object. Stripe forgets keys after a day, so a push also looks before it writes: the invoice by
its Tenline id in the metadata, the items already on the invoice by their Tenline line ids. Before finalising,
Stripe's total must equal the sum of Tenline's lines: an invoice never goes out at an amount Tenline did not
compute (a coupon on the customer, a stray item).

With no API key (``TENLINE_STRIPE_API_KEY``) the gateway reports itself not configured: ``sync_invoice`` pushes
nothing and returns None, so the product works without Stripe; the single operations raise ``StripeNotConfigured``.
Use it as ``async with stripe_gateway() as gateway:`` (the block closes its HTTP connections).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import msgspec
import stripe
import structlog

from app.core.settings import Settings, get_settings
from billing.stripe.schemas import (
    INVOICE_KEY,
    INVOICE_NUMBER_KEY,
    LINE_KEY,
    MAX_ITEMS_PER_INVOICE,
    TENANT_KEY,
    StripeCustomerDraft,
    StripeInvoiceDraft,
    StripeInvoiceLine,
    StripeInvoiceObject,
    StripeInvoiceRef,
)

log = structlog.get_logger("tenline.billing.stripe")


def customer_key(tenant_id: uuid.UUID) -> str:
    return f"tenline-customer-{tenant_id}"


def invoice_key(invoice_id: uuid.UUID) -> str:
    return f"tenline-invoice-{invoice_id}"


def item_key(invoice_id: uuid.UUID, line_id: uuid.UUID) -> str:
    return f"tenline-invoice-{invoice_id}-item-{line_id}"


def finalize_key(invoice_id: uuid.UUID) -> str:
    return f"tenline-invoice-{invoice_id}-finalize"


class StripeNotConfigured(RuntimeError):
    """No Stripe API key is configured: nothing can be pushed (Tenline keeps and shows its invoices alone)."""


class StripeGatewayError(Exception):
    """Stripe refused a call or could not be reached. ``retryable``: a later attempt may succeed (network, rate
    limit, Stripe's own failure); otherwise the request itself is wrong and needs a person."""

    def __init__(self, operation: str, error: stripe.StripeError) -> None:
        self.operation = operation
        self.http_status = error.http_status
        self.error_type = error.error.type if error.error is not None else None
        self.code = error.code
        self.request_id = error.request_id
        self.retryable = isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or (
            self.http_status is not None and self.http_status >= 500
        )
        status = f"HTTP {self.http_status}" if self.http_status else "no answer"
        details = ", ".join(part for part in (self.error_type, self.code, self.request_id) if part)
        super().__init__(
            f"Stripe {operation} failed ({status}{'; ' + details if details else ''}): "
            f"{error.user_message or type(error).__name__}"
        )


class StripeTotalMismatch(Exception):
    """Stripe's total for the invoice differs from the sum of Tenline's lines; the invoice stays a draft."""


def _metadata(obj: stripe.StripeObject) -> dict[str, str]:
    return {str(key): str(value) for key, value in (obj.to_dict().get("metadata") or {}).items()}


def _invoice(obj: stripe.Invoice) -> StripeInvoiceObject:
    return msgspec.convert(obj.to_dict(), StripeInvoiceObject)


def invoice_ref(invoice: StripeInvoiceObject) -> StripeInvoiceRef:
    tenline_id = invoice.metadata.get(INVOICE_KEY)
    return StripeInvoiceRef(
        stripe_invoice_id=invoice.id,
        stripe_customer_id=invoice.customer,
        status=invoice.status,
        number=invoice.number,
        currency=invoice.currency,
        total=invoice.total,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        amount_remaining=invoice.amount_remaining,
        hosted_invoice_url=invoice.hosted_invoice_url,
        invoice_id=uuid.UUID(tenline_id) if tenline_id else None,
    )


class StripeGateway:
    """Tenline's operations on Stripe, over one ``StripeClient`` (None: not configured)."""

    def __init__(self, client: stripe.StripeClient | None) -> None:
        self._client = client

    @property
    def configured(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise StripeNotConfigured("Stripe is not configured here: set TENLINE_STRIPE_API_KEY")
        return self._client

    # --- customers ---------------------------------------------------------------------------------

    async def ensure_customer(self, customer: StripeCustomerDraft) -> str:
        """The tenant's Stripe customer id: the one kept, else the one carrying its tenant id, else a new one."""
        tenant = str(customer.tenant_id)
        if customer.stripe_customer_id:
            kept = await self._retrieve_customer(customer.stripe_customer_id)
            if kept is not None:
                if _metadata(kept).get(TENANT_KEY) != tenant:
                    raise ValueError(
                        f"Stripe customer {kept.id} is not tenant {tenant}'s "
                        f"(its {TENANT_KEY} is {_metadata(kept).get(TENANT_KEY)!r})"
                    )
                return kept.id
        with self._calling("customer search"):
            found = await self.client.v1.customers.search_async(
                {"query": f"metadata['{TENANT_KEY}']:'{tenant}'", "limit": 1}
            )
        if found.data:
            return found.data[0].id
        params: stripe.params.CustomerCreateParams = {"name": customer.name, "metadata": {TENANT_KEY: tenant}}
        if customer.email:
            params["email"] = customer.email
        with self._calling("customer creation"):
            created = await self.client.v1.customers.create_async(
                params, {"idempotency_key": customer_key(customer.tenant_id)}
            )
        log.info("stripe.customer_created", tenant_id=tenant, stripe_customer_id=created.id)
        return created.id

    async def _retrieve_customer(self, customer_id: str) -> stripe.Customer | None:
        """The customer, or None when Stripe does not know it (any more)."""
        try:
            customer = await self.client.v1.customers.retrieve_async(customer_id)
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                return None
            raise StripeGatewayError("customer retrieval", exc) from exc
        except stripe.StripeError as exc:
            raise StripeGatewayError("customer retrieval", exc) from exc
        return None if customer.to_dict().get("deleted") else customer

    # --- invoices ----------------------------------------------------------------------------------

    async def push_invoice(self, draft: StripeInvoiceDraft, customer_id: str) -> StripeInvoiceRef:
        """The invoice at Stripe with every line as an invoice item, still a draft (see ``finalize_invoice``).

        Safe to repeat: an invoice or item already there is found, not created again. An invoice already
        finalised at Stripe is returned as it is.
        """
        if len(draft.lines) > MAX_ITEMS_PER_INVOICE:
            raise ValueError(f"Stripe takes at most {MAX_ITEMS_PER_INVOICE} items per invoice")
        found = await self._find_invoice(draft.invoice_id)
        if found is None:
            created = await self._create_invoice(draft, customer_id)
            # A replayed creation answers the invoice as it was then: read what it is now.
            found = await self._retrieve_invoice(created.id)
        if found.customer != customer_id:
            raise ValueError(f"Stripe invoice {found.id} of Tenline invoice {draft.invoice_id} bills another customer")
        if found.status != "draft":
            return invoice_ref(found)
        present = await self._line_ids_on(found.id)
        for line in draft.lines:
            if str(line.line_id) not in present:
                await self._add_item(draft, customer_id, found.id, line)
        invoice = await self._retrieve_invoice(found.id)
        if invoice.total != draft.total:
            raise StripeTotalMismatch(
                f"Stripe invoice {invoice.id} totals {invoice.total}, Tenline invoice {draft.number} {draft.total} "
                f"({draft.currency} minor units): left as a draft"
            )
        return invoice_ref(invoice)

    async def finalize_invoice(self, draft: StripeInvoiceDraft, stripe_invoice_id: str) -> StripeInvoiceRef:
        """Finalise the pushed invoice; Stripe then sends it and collects it (``auto_advance``)."""
        invoice = await self._retrieve_invoice(stripe_invoice_id)
        if invoice.status != "draft":
            return invoice_ref(invoice)
        with self._calling("invoice finalisation"):
            finalized = await self.client.v1.invoices.finalize_invoice_async(
                stripe_invoice_id, {"auto_advance": True}, {"idempotency_key": finalize_key(draft.invoice_id)}
            )
        log.info(
            "stripe.invoice_finalized",
            invoice_id=str(draft.invoice_id),
            stripe_invoice_id=finalized.id,
            status=finalized.status,
        )
        return invoice_ref(_invoice(finalized))

    async def invoice_state(self, stripe_invoice_id: str) -> StripeInvoiceRef:
        """The invoice as Stripe has it now (status, amounts paid and due)."""
        return invoice_ref(await self._retrieve_invoice(stripe_invoice_id))

    async def sync_invoice(self, customer: StripeCustomerDraft, draft: StripeInvoiceDraft) -> StripeInvoiceRef | None:
        """Customer, invoice, items, finalisation: the whole push of a finalised Tenline invoice, repeatable.

        None when Stripe is not configured: nothing is sent, the invoice lives in Tenline only.
        """
        if customer.tenant_id != draft.tenant_id:
            raise ValueError("the customer and the invoice are different tenants'")
        if not self.configured:
            log.info("stripe.not_configured", invoice_id=str(draft.invoice_id))
            return None
        customer_id = await self.ensure_customer(customer)
        pushed = await self.push_invoice(draft, customer_id)
        return await self.finalize_invoice(draft, pushed.stripe_invoice_id)

    async def _find_invoice(self, invoice_id: uuid.UUID) -> StripeInvoiceObject | None:
        # Stripe's search lags writes by up to a minute; the creation's idempotency key covers that window.
        with self._calling("invoice search"):
            found = await self.client.v1.invoices.search_async(
                {"query": f"metadata['{INVOICE_KEY}']:'{invoice_id}'", "limit": 1}
            )
        return _invoice(found.data[0]) if found.data else None

    async def _create_invoice(self, draft: StripeInvoiceDraft, customer_id: str) -> StripeInvoiceObject:
        params: stripe.params.InvoiceCreateParams = {
            "customer": customer_id,
            "currency": draft.currency.lower(),
            "collection_method": "send_invoice",
            "days_until_due": draft.days_until_due,
            # Stays a draft until every item is on it; finalize_invoice advances it.
            "auto_advance": False,
            # Only the items added for this invoice, and no discount Tenline did not compute.
            "pending_invoice_items_behavior": "exclude",
            "discounts": "",
            "number": draft.number,
            "metadata": {
                TENANT_KEY: str(draft.tenant_id),
                INVOICE_KEY: str(draft.invoice_id),
                INVOICE_NUMBER_KEY: draft.number,
            },
        }
        if draft.memo:
            params["description"] = draft.memo
        with self._calling("invoice creation"):
            created = await self.client.v1.invoices.create_async(
                params, {"idempotency_key": invoice_key(draft.invoice_id)}
            )
        log.info("stripe.invoice_created", invoice_id=str(draft.invoice_id), stripe_invoice_id=created.id)
        return _invoice(created)

    async def _retrieve_invoice(self, stripe_invoice_id: str) -> StripeInvoiceObject:
        with self._calling("invoice retrieval"):
            return _invoice(await self.client.v1.invoices.retrieve_async(stripe_invoice_id))

    async def _line_ids_on(self, stripe_invoice_id: str) -> set[str]:
        """Tenline line ids of the items already on the invoice (a listing is consistent at once, unlike search)."""
        present: set[str] = set()
        with self._calling("invoice item listing"):
            page = await self.client.v1.invoice_items.list_async({"invoice": stripe_invoice_id, "limit": 100})
            async for item in page.auto_paging_iter():
                line_id = _metadata(item).get(LINE_KEY)
                if line_id:
                    present.add(line_id)
        return present

    async def _add_item(
        self, draft: StripeInvoiceDraft, customer_id: str, stripe_invoice_id: str, line: StripeInvoiceLine
    ) -> None:
        with self._calling("invoice item creation"):
            await self.client.v1.invoice_items.create_async(
                {
                    "customer": customer_id,
                    "invoice": stripe_invoice_id,
                    "amount": line.amount,
                    "currency": draft.currency.lower(),
                    "description": line.description,
                    "metadata": {INVOICE_KEY: str(draft.invoice_id), LINE_KEY: str(line.line_id)},
                },
                {"idempotency_key": item_key(draft.invoice_id, line.line_id)},
            )

    @contextlib.contextmanager
    def _calling(self, operation: str) -> Iterator[None]:
        try:
            yield
        except stripe.StripeError as exc:
            raise StripeGatewayError(operation, exc) from exc


def stripe_client(settings: Settings, http_client: stripe.HTTPClient | None = None) -> stripe.StripeClient | None:
    """The official client as the settings describe it; None without an API key."""
    if settings.stripe_api_key is None:
        return None
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=settings.stripe_max_network_retries,
        http_client=http_client,
    )


@contextlib.asynccontextmanager
async def stripe_gateway(settings: Settings | None = None) -> AsyncIterator[StripeGateway]:
    """A gateway for one unit of work; its HTTP connections (httpx, asynchronous) close when the block ends."""
    settings = settings or get_settings()
    if settings.stripe_api_key is None:
        yield StripeGateway(None)
        return
    http_client = stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
    try:
        yield StripeGateway(stripe_client(settings, http_client))
    finally:
        await http_client.close_async()
