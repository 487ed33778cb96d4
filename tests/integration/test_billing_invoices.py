"""Invoices: the close drafts a period once, finalisation numbers without gaps and freezes, credit notes,
the Stripe push and payment state from Stripe's events."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.errors import ConflictError, InvalidInputError
from app.core.settings import Settings, get_settings
from app.core.tenancy import acting_as, system_principal
from billing import invoicing
from billing import invoicing_schemas as schemas
from billing import service as billing
from billing.invoicing_models import Invoice
from billing.models import RateCardVersion
from billing.stripe.schemas import StripeInvoiceEvent
from tenants import service as tenants
from tests.factories import OPERATOR, make_tenant
from tests.fake_stripe import FAKE_API_KEY, FakeStripe, running_fake_stripe

FEE = {"kind": "platform_fee", "id": "platform", "amount_minor": 150000, "description": "Platform"}


@dataclasses.dataclass
class Billed:
    tenant_id: uuid.UUID
    month: dt.date  # the first day of last month, the period closed


async def billed_tenant(name: str) -> Billed:
    """A tenant with a platform fee (1,500.00 EUR a month, 25% tax) in force since last month."""
    tenant = await make_tenant(name)
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            today = utcnow().astimezone(await billing.tenant_zone(session)).date()
            month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
            session.add(
                RateCardVersion(
                    version=1,
                    effective_from=month,
                    currency="EUR",
                    tax_rate_percent=Decimal(25),
                    terms={"charges": [FEE], "sla_credits": []},
                )
            )
    return Billed(tenant.id, month)


async def close(billed: Billed) -> Invoice | None:
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:
            return await invoicing.close_and_draft(session, billed.month)


async def as_operator(tenant_id: uuid.UUID, work: Any) -> Any:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            return await work(session)


async def drafted(name: str) -> tuple[Billed, Invoice]:
    billed = await billed_tenant(name)
    invoice = await close(billed)
    assert invoice is not None
    return billed, invoice


async def test_the_close_drafts_a_period_exactly_once_under_concurrent_runs() -> None:
    billed = await billed_tenant("close-once")
    first, second = await asyncio.gather(close(billed), close(billed))
    assert first is not None and second is not None and first.id == second.id
    assert await close(billed) is not None
    got = await as_operator(billed.tenant_id, lambda s: invoicing.list_invoices(s, cursor=None, limit=10))
    assert len(got.items) == 1
    invoice = await as_operator(billed.tenant_id, lambda s: invoicing.get_invoice(s, first.id))
    assert invoice.status == "draft" and invoice.number is None
    assert (invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (150000, 37500, 187500)
    assert [(line.kind, line.amount_minor) for line in invoice.lines or []] == [
        ("platform_fee", 150000),
        ("tax", 37500),
    ]
    assert invoice.period_start == billed.month


async def test_finalisation_numbers_without_gaps_under_concurrency() -> None:
    drafts = [await drafted(f"numbering-{n}") for n in range(4)]

    async def finalise(billed: Billed, invoice: Invoice) -> schemas.InvoiceOut:
        return await as_operator(billed.tenant_id, lambda s: invoicing.finalise(s, invoice.id, if_match=None))

    # A finalisation rolled back takes no number.
    billed, invoice = drafts[0]
    with pytest.raises(RuntimeError), acting_as(OPERATOR.acting_for(billed.tenant_id)):
        async with get_database().session() as session:
            await invoicing.finalise(session, invoice.id, if_match=None)
            raise RuntimeError("the transaction fails after numbering")
    finals = await asyncio.gather(*(finalise(billed, invoice) for billed, invoice in drafts))
    year = utcnow().year
    numbers = sorted(int(final.number.rsplit("-", 1)[1]) for final in finals if final.number)
    assert all(final.number and final.number.startswith(f"INV-{year}-") for final in finals)
    assert numbers == list(range(numbers[0], numbers[0] + len(drafts)))
    with pytest.raises(ConflictError):
        await finalise(*drafts[0])


async def test_a_final_invoice_and_its_lines_are_refused_changes_at_the_database() -> None:
    billed, invoice = await drafted("frozen")
    await as_operator(billed.tenant_id, lambda s: invoicing.finalise(s, invoice.id, if_match=None))
    statements = [
        "UPDATE invoice_lines SET amount_minor = 1 WHERE invoice_id = :id",
        "DELETE FROM invoice_lines WHERE invoice_id = :id",
        "UPDATE invoices SET total_minor = 1, subtotal_minor = subtotal_minor + 1 - total_minor WHERE id = :id",
        "UPDATE invoices SET status = 'void' WHERE id = :id",
        "UPDATE invoices SET billed_name = 'Someone else' WHERE id = :id",
        "UPDATE invoices SET note = 'after the fact' WHERE id = :id",
        "DELETE FROM invoices WHERE id = :id",
    ]
    for statement in statements:
        with (
            pytest.raises(sa.exc.DBAPIError, match=r"cannot|only its payment state"),
            acting_as(system_principal(billed.tenant_id)),
        ):
            async with get_database().session() as session:
                await session.execute(sa.text(statement), {"id": invoice.id})
    # The payment state and the Stripe twin still move.
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:
            await session.execute(
                sa.text(
                    "UPDATE invoices SET payment_state = 'paid', payment_updated_at = now(), version = version + 1,"
                    " stripe_invoice_id = 'in_1', stripe_customer_id = 'cus_1', updated_at = now() WHERE id = :id"
                ),
                {"id": invoice.id},
            )


async def test_a_credit_note_corrects_a_final_invoice() -> None:
    billed, invoice = await drafted("credit")
    with pytest.raises(ConflictError):  # a draft is voided or finalised, not credited
        await as_operator(
            billed.tenant_id,
            lambda s: invoicing.create_credit_note(s, invoice.id, schemas.CreditNoteIn(reason="early")),
        )
    await as_operator(billed.tenant_id, lambda s: invoicing.finalise(s, invoice.id, if_match=None))
    partial = schemas.CreditNoteIn(
        reason="Outage on the 3rd", lines=[schemas.CreditLineIn(description="Outage", amount_minor=10000)]
    )
    note = await as_operator(billed.tenant_id, lambda s: invoicing.create_credit_note(s, invoice.id, partial))
    assert note.kind == "credit_note" and note.corrects_invoice_id == invoice.id
    assert [(line.kind, line.amount_minor) for line in note.lines or []] == [("credit", -10000), ("tax", -2500)]
    assert note.total_minor == -12500 and note.tax_minor == -2500
    too_much = schemas.CreditNoteIn(
        reason="all again", lines=[schemas.CreditLineIn(description="x", amount_minor=150000)]
    )
    with pytest.raises(InvalidInputError):
        await as_operator(billed.tenant_id, lambda s: invoicing.create_credit_note(s, invoice.id, too_much))
    final = await as_operator(billed.tenant_id, lambda s: invoicing.finalise(s, note.id, if_match=None))
    assert final.number and final.number.startswith(f"CN-{utcnow().year}-")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with running_fake_stripe() as made:
        yield made


def _settings(fake: FakeStripe) -> Settings:
    return get_settings().model_copy(
        update={"stripe_api_key": SecretStr(FAKE_API_KEY), "stripe_api_base": fake.url, "stripe_max_network_retries": 2}
    )


def _event(invoice: Invoice, stripe_invoice_id: str, event_type: str, event_id: str) -> StripeInvoiceEvent:
    assert invoice.tenant_id is not None
    return StripeInvoiceEvent(
        stripe_event_id=event_id,
        event_type=event_type,  # type: ignore[arg-type]
        occurred_at=utcnow(),
        livemode=False,
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.id,
        stripe_invoice_id=stripe_invoice_id,
        status="paid",
        currency="eur",
        amount_due=invoice.total_minor,
        amount_paid=invoice.total_minor,
        amount_remaining=0,
    )


async def test_a_final_invoice_is_pushed_to_stripe_and_its_payment_reflected_once(fake: FakeStripe) -> None:
    billed, invoice = await drafted("stripe-push")
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:  # not final yet: nothing to push
            assert await invoicing.push_to_stripe(session, invoice.id, _settings(fake)) is None
    await as_operator(billed.tenant_id, lambda s: invoicing.finalise(s, invoice.id, if_match=None))
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:  # no key configured: nothing pushed
            assert await invoicing.push_to_stripe(session, invoice.id) is None
        async with get_database().session() as session:
            stripe_id = await invoicing.push_to_stripe(session, invoice.id, _settings(fake))
    assert stripe_id is not None
    assert fake.invoices[stripe_id]["status"] == "open"
    assert fake.invoices[stripe_id]["total"] == invoice.total_minor == 187500
    assert sorted(item["amount"] for item in fake.items_of(stripe_id)) == [37500, 150000]

    paid = _event(invoice, stripe_id, "invoice.paid", "evt_paid_1")
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:
            assert await invoicing.apply_stripe_event(session, paid) is True
        async with get_database().session() as session:
            assert await invoicing.apply_stripe_event(session, paid) is False
        async with get_database().session() as session:
            row = await invoicing.get_invoice(session, invoice.id)
    assert row.payment_state == "paid" and row.stripe_invoice_id == stripe_id
    assert row.version == 3  # finalised (2), paid (3); the repeated event changed nothing


async def test_erasing_a_tenant_removes_its_issued_invoices_and_nothing_else_does() -> None:
    billed, invoice = await drafted("erased")
    await as_operator(billed.tenant_id, lambda s: invoicing.finalise(s, invoice.id, if_match=None))
    count = "SELECT (SELECT count(*) FROM invoices) + (SELECT count(*) FROM invoice_lines)"
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:
            assert (await session.execute(sa.text(count))).scalar_one() > 1
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            tenant = await tenants.get_tenant(session, billed.tenant_id, OPERATOR)
            await tenants.change_tenant_status(session, tenant, "delete")
            await session.commit()
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:
            counts = await tenants.erase_tenant_data(session, billed.tenant_id, event_id=uuid.uuid4())
            await session.commit()
        assert counts is not None and counts["invoices"] == 1 and counts["invoice_lines"] >= 1
        async with get_database().session() as session:
            assert (await session.execute(sa.text(count))).scalar_one() == 0
