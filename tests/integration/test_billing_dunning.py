"""Dunning: reminders once each on the policy's days (time moved by the run's clock against the invoice's
issued_at, no sleeps), mailed to the tenant's admins and delivered as ``billing.invoice_overdue`` webhooks;
past the threshold the tenant's API clients are refused by the real token endpoint and bearer auth, and
work again after Stripe's paid event; the tenant and its routing are never touched."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from standardwebhooks import Webhook

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.outbox import Event
from app.core.tenancy import acting_as, system_principal
from app.integrations import service as webhooks
from billing import dunning, invoicing
from billing.actors import reflect_stripe_payment
from billing.dunning_models import DunningPolicyOverride
from billing.invoicing_models import Invoice
from billing.stripe.schemas import STRIPE_INVOICE_EVENT_TOPIC
from tests.conftest import LiveServer, free_port
from tests.factories import make_api_client, make_tenant_user, sign_in
from tests.integration.test_billing_invoices import Billed, as_operator, drafted
from tests.integration.test_billing_invoices import _event as stripe_invoice_event
from tests.integration.test_oauth2 import (
    AGENTS,
    access_token,
    assert_invalid_client,
    assert_invalid_token,
    bearer,
    request_token,
)
from tests.integration.test_reporting_schedules import Inbox, smtp_settings
from tests.webhook_receiver import Receiver

DAY = dt.timedelta(days=1)
TERMS = 14 * DAY  # the operator's default policy: due 14 days after issue, reminders 7 and 14 days after that,
SUSPEND_AFTER = 30 * DAY  # API clients suspended 30 days after it


@pytest.fixture
def mailed() -> Iterator[Inbox]:
    received = Inbox()
    port = free_port()
    server = Controller(received, hostname="127.0.0.1", port=port)
    server.start()
    try:
        with smtp_settings(port):
            yield received
    finally:
        server.stop()


async def issued(name: str) -> tuple[Billed, Invoice]:
    """A tenant with a final (issued, unpaid) invoice."""
    billed, draft = await drafted(name)
    await as_operator(billed.tenant_id, lambda s: invoicing.finalise(s, draft.id, if_match=None))
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:
            invoice = await session.get(Invoice, (billed.tenant_id, draft.id))
    assert invoice is not None and invoice.issued_at is not None and invoice.number is not None
    return billed, invoice


async def run(tenant_id: uuid.UUID, at: dt.datetime) -> dunning.DunningRun:
    with acting_as(system_principal(tenant_id)):
        return await dunning.remind_and_suspend(at)


async def steps(tenant_id: uuid.UUID) -> list[tuple[str, bool, int]]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            rows = await session.execute(
                sa.text("SELECT step, notified, recipients FROM dunning_steps ORDER BY taken_at, step")
            )
            return [(row.step, row.notified, row.recipients) for row in rows]


async def overdue_events(tenant_id: uuid.UUID) -> list[tuple[uuid.UUID, dict[str, object]]]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            rows = await session.execute(
                sa.text("SELECT id, payload FROM outbox WHERE topic = 'billing.invoice_overdue' ORDER BY id")
            )
            return [(row.id, row.payload) for row in rows]


async def test_reminders_go_once_each_on_their_days_to_the_tenant_admins(mailed: Inbox) -> None:
    billed, invoice = await issued("dunning-days")
    admin = await make_tenant_user(billed.tenant_id, "tenant_admin")
    await make_tenant_user(billed.tenant_id, "supervisor")  # not an admin: gets no reminder
    assert invoice.issued_at is not None
    due = invoice.issued_at + TERMS

    assert (await run(billed.tenant_id, due - DAY)).reminders == 0  # not due yet
    assert (await run(billed.tenant_id, due + 7 * DAY - dt.timedelta(seconds=1))).reminders == 0
    # Two runs at once on the 7th day: one reminder.
    first = await asyncio.gather(*(run(billed.tenant_id, due + 7 * DAY) for _ in range(2)))
    assert sorted(r.reminders for r in first) == [0, 1]
    assert (await run(billed.tenant_id, due + 13 * DAY)).reminders == 0
    assert (await run(billed.tenant_id, due + 14 * DAY + dt.timedelta(hours=1))).reminders == 1
    assert (await run(billed.tenant_id, due + 20 * DAY)).reminders == 0

    assert await steps(billed.tenant_id) == [("reminder:7", True, 1), ("reminder:14", True, 1)]
    assert mailed.recipients == [[admin.email], [admin.email]]
    subjects = [message["Subject"] for message in mailed.messages]
    assert subjects == [
        f"Payment reminder: invoice {invoice.number} is 7 days overdue",
        f"Payment reminder: invoice {invoice.number} is 14 days overdue",
    ]
    body = mailed.messages[0].get_content()
    assert "1,875.00 EUR" in body and f"due on {due:%Y-%m-%d}" in body
    assert f"suspended on {due + SUSPEND_AFTER:%Y-%m-%d}" in body
    payloads = [payload for _, payload in await overdue_events(billed.tenant_id)]
    assert [(p["reminder"], p["days_overdue"], p["number"]) for p in payloads] == [
        (7, 7, invoice.number),
        (14, 14, invoice.number),
    ]


async def test_a_tenants_own_policy_applies_and_a_late_run_sends_only_the_latest_reminder() -> None:
    billed, invoice = await issued("dunning-own")
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:
            session.add(DunningPolicyOverride(payment_terms_days=0, reminder_days=[3, 5], suspend_after_days=None))
        async with get_database().session() as session:
            policy = await dunning.policy_in_force(session)
    assert (policy.source, policy.payment_terms_days, policy.suspend_after_days) == ("tenant", 0, None)
    assert invoice.issued_at is not None
    # No mail server configured: the reminder still goes out as the event, nobody is mailed.
    late = await run(billed.tenant_id, invoice.issued_at + 400 * DAY)
    assert (late.reminders, late.suspended) == (1, 0)  # never suspended under this policy
    assert await steps(billed.tenant_id) == [("reminder:3", False, 0), ("reminder:5", True, 0)]
    ((_, payload),) = await overdue_events(billed.tenant_id)
    assert payload["reminder"] == 5 and payload["api_suspension_at"] is None


async def test_the_overdue_event_is_delivered_to_the_tenants_webhook(
    live_server: LiveServer, receiver: Receiver
) -> None:
    billed, invoice = await issued("dunning-hook")
    admin = await make_tenant_user(billed.tenant_id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        created = await client.post(
            "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["billing.invoice_overdue"]}
        )
        assert created.status_code == 201, created.text
    endpoint = created.json()
    assert invoice.issued_at is not None
    assert (await run(billed.tenant_id, invoice.issued_at + TERMS + 7 * DAY)).reminders == 1
    ((event_id, payload),) = await overdue_events(billed.tenant_id)
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:
            (delivery_id,) = await webhooks.create_deliveries(
                session, event_id, dunning.INVOICE_OVERDUE_TOPIC, utcnow(), payload
            )
        async with get_database().session() as session:
            assert await webhooks.attempt(session, delivery_id) is None  # delivered, no retry
    ((headers, body),) = receiver.received
    delivered = Webhook(endpoint["secret"]).verify(body, headers)
    assert delivered["type"] == "billing.invoice_overdue"
    assert delivered["data"]["invoice_id"] == str(invoice.id) and delivered["data"]["total_minor"] == 187500
    assert delivered["data"]["reminder"] == 7


async def paid(billed: Billed, invoice: Invoice) -> None:
    """Stripe's invoice.paid as the outbox delivers it to billing's payment-state handler."""
    stripe_event = stripe_invoice_event(invoice, "in_dunning", "invoice.paid", f"evt_{uuid.uuid4().hex}")
    with acting_as(system_principal(billed.tenant_id)):
        await reflect_stripe_payment(
            Event(
                event_id=uuid.uuid4(),
                topic=STRIPE_INVOICE_EVENT_TOPIC,
                tenant_id=billed.tenant_id,
                emitted_at=utcnow(),
                payload=msgspec.to_builtins(stripe_event),
            )
        )


async def test_api_clients_are_suspended_past_the_threshold_and_resume_when_paid_routing_untouched(
    http: httpx.AsyncClient, live_server: LiveServer
) -> None:
    billed, invoice = await issued("dunning-suspend")
    tenant_id = billed.tenant_id
    client, secret = await make_api_client(tenant_id, ["agents:read"])
    other, other_secret = await make_api_client(tenant_id, ["agents:read"])
    token = await access_token(http, client.client_id, secret)
    assert (await http.get(AGENTS, headers=bearer(token))).status_code == 200
    admin = await make_tenant_user(tenant_id, "tenant_admin")
    assert invoice.issued_at is not None
    due = invoice.issued_at + TERMS

    assert (await run(tenant_id, due + SUSPEND_AFTER - DAY)).suspended == 0
    assert (await http.get(AGENTS, headers=bearer(token))).status_code == 200
    past = await run(tenant_id, due + SUSPEND_AFTER)
    assert past.suspended == 2
    assert_invalid_token(await http.get(AGENTS, headers=bearer(token)))
    assert_invalid_client(await request_token(http, client.client_id, secret))
    assert_invalid_client(await request_token(http, other.client_id, other_secret))
    assert (await run(tenant_id, due + SUSPEND_AFTER + DAY)).suspended == 0  # already suspended: nothing more
    # A client made while suspended is suspended by the next run.
    late, late_secret = await make_api_client(tenant_id, ["agents:read"])
    assert (await run(tenant_id, due + SUSPEND_AFTER + 2 * DAY)).suspended == 1
    assert_invalid_client(await request_token(http, late.client_id, late_secret))

    # The tenant and its routing are untouched: still active, its admin still configures queues.
    async with await sign_in(live_server.url, admin.email) as signed_in:
        listed = await signed_in.get(f"/api/v1/api-clients/{client.id}")
        assert listed.json()["suspended_by"] == "billing" and listed.json()["status"] == "active"
        queue = await signed_in.post("/api/v1/queues", json={"name": f"After hours {uuid.uuid4().hex[:6]}"})
        assert queue.status_code == 201, queue.text
        assert (await signed_in.get("/api/v1/queues")).status_code == 200
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            status = (
                await session.execute(sa.text("SELECT status FROM tenants WHERE id = :t"), {"t": tenant_id})
            ).scalar_one()
    assert status == "active"

    await paid(billed, invoice)
    assert (await http.get(AGENTS, headers=bearer(token))).status_code == 200  # the issued token works again
    assert (await request_token(http, late.client_id, late_secret)).status_code == 200
    assert (await run(tenant_id, due + SUSPEND_AFTER + 3 * DAY)) == dunning.DunningRun()  # paid: nothing to do
    # The first run (29 days overdue) sent the 14-day reminder only; the suspension was taken once.
    assert await steps(tenant_id) == [("reminder:7", False, 0), ("reminder:14", True, 0), ("suspension", False, 0)]
