"""The Stripe side of billing: the gateway through the official ``StripeClient`` against an in-process fake Stripe
(tests/fake_stripe.py), and Stripe's webhooks posted, signed as Stripe signs them, to a real Tenline server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import stripe
from pydantic import SecretStr
from sqlmodel import col, select

from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.core.settings import Settings, get_settings
from app.core.tenancy import acting_as, system_principal
from billing.stripe.controllers import PATH
from billing.stripe.gateway import (
    StripeGatewayError,
    StripeNotConfigured,
    StripeTotalMismatch,
    stripe_client,
    stripe_gateway,
)
from billing.stripe.models import StripeEventSeen
from billing.stripe.schemas import (
    STRIPE_INVOICE_EVENT_TOPIC,
    StripeCustomerDraft,
    StripeInvoiceDraft,
    StripeInvoiceEvent,
    StripeInvoiceLine,
    StripeInvoiceRef,
)
from tests.conftest import LiveServer, Services, free_port, start_process, stop_process, wait_until_up
from tests.factories import make_tenant
from tests.fake_stripe import FAKE_API_KEY, FakeStripe, Fault, WebhookSender, running_fake_stripe

# The stripe library's httpx client hands its form body to httpx as ``data=<str>``, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

WEBHOOK_SECRET = "whsec_tenline_test_0123456789abcdef0123"
TOLERANCE_SECONDS = 300


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with running_fake_stripe() as made:
        yield made


def _settings(fake: FakeStripe, **changes: Any) -> Settings:
    update = {
        "stripe_api_key": SecretStr(FAKE_API_KEY),
        "stripe_api_base": fake.url,
        "stripe_max_network_retries": 2,
        **changes,
    }
    return get_settings().model_copy(update=update)


def _customer(tenant_id: uuid.UUID, stripe_customer_id: str | None = None) -> StripeCustomerDraft:
    return StripeCustomerDraft(
        tenant_id=tenant_id, name="Fjord Bank", email="ap@fjordbank.example", stripe_customer_id=stripe_customer_id
    )


def _draft(tenant_id: uuid.UUID, number: str | None = None) -> StripeInvoiceDraft:
    """A month's invoice: usage, the platform fee, and an SLA service credit (a negative line)."""
    return StripeInvoiceDraft(
        tenant_id=tenant_id,
        invoice_id=uuid.uuid4(),
        number=number or f"TL-{uuid.uuid4().hex[:10].upper()}",
        currency="EUR",
        lines=(
            StripeInvoiceLine(line_id=uuid.uuid4(), description="Handled minutes: 41,150 at 0.30", amount=1_234_500),
            StripeInvoiceLine(line_id=uuid.uuid4(), description="Platform fee, November 2026", amount=50_000),
            StripeInvoiceLine(
                line_id=uuid.uuid4(), description="SLA service credit: 5% (service level 81.2% < 85%)", amount=-61_725
            ),
        ),
    )


def _customers_of(fake: FakeStripe, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    return [c for c in fake.customers.values() if c["metadata"].get("tenline_tenant_id") == str(tenant_id)]


def _invoices_of(fake: FakeStripe, draft: StripeInvoiceDraft) -> list[dict[str, Any]]:
    return [i for i in fake.invoices.values() if i["metadata"].get("tenline_invoice_id") == str(draft.invoice_id)]


def _assert_pushed_once(fake: FakeStripe, draft: StripeInvoiceDraft, ref: StripeInvoiceRef) -> None:
    """One Stripe invoice for the Tenline invoice, with exactly one item per line, finalised at Tenline's total."""
    (invoice,) = _invoices_of(fake, draft)
    assert invoice["id"] == ref.stripe_invoice_id
    items = fake.items_of(invoice["id"])
    assert sorted((i["metadata"]["tenline_line_id"], i["amount"], i["description"]) for i in items) == sorted(
        (str(line.line_id), line.amount, line.description) for line in draft.lines
    )
    assert invoice["status"] == ref.status == "open"
    assert invoice["total"] == ref.total == draft.total == 1_234_500 + 50_000 - 61_725


# --- customers -----------------------------------------------------------------------------------


async def test_a_tenants_customer_is_created_once_and_kept(fake: FakeStripe) -> None:
    tenant_id = uuid.uuid4()
    async with stripe_gateway(_settings(fake)) as gateway:
        first = await gateway.ensure_customer(_customer(tenant_id))
        again = await gateway.ensure_customer(_customer(tenant_id))
        searches = len(fake.calls("GET", "/v1/customers/search"))
        kept = await gateway.ensure_customer(_customer(tenant_id, stripe_customer_id=first))
        # The kept id is read back, not searched for.
        assert len(fake.calls("GET", "/v1/customers/search")) == searches
        # A kept id Stripe no longer knows: the customer carrying the tenant's id is found instead.
        gone = await gateway.ensure_customer(_customer(tenant_id, stripe_customer_id="cus_deleted0000000000"))
        with pytest.raises(ValueError, match="is not tenant"):
            await gateway.ensure_customer(_customer(uuid.uuid4(), stripe_customer_id=first))
    assert first == again == kept == gone
    (customer,) = _customers_of(fake, tenant_id)
    assert (customer["id"], customer["name"], customer["email"]) == (first, "Fjord Bank", "ap@fjordbank.example")
    creations = [
        r for r in fake.calls("POST", "/v1/customers") if r.params["metadata"]["tenline_tenant_id"] == str(tenant_id)
    ]
    assert [r.idempotency_key for r in creations] == [f"tenline-customer-{tenant_id}"]


# --- invoices ------------------------------------------------------------------------------------


async def test_a_finalised_invoice_is_pushed_with_its_items_and_finalised(fake: FakeStripe) -> None:
    tenant_id = uuid.uuid4()
    draft = _draft(tenant_id)
    async with stripe_gateway(_settings(fake)) as gateway:
        ref = await gateway.sync_invoice(_customer(tenant_id), draft)
        assert ref is not None
        _assert_pushed_once(fake, draft, ref)
        invoice = fake.invoices[ref.stripe_invoice_id]
        assert invoice["customer"] == ref.stripe_customer_id == _customers_of(fake, tenant_id)[0]["id"]
        assert (invoice["number"], invoice["currency"], invoice["collection_method"], invoice["days_until_due"]) == (
            draft.number,
            "eur",
            "send_invoice",
            30,
        )
        assert invoice["metadata"] == {
            "tenline_tenant_id": str(tenant_id),
            "tenline_invoice_id": str(draft.invoice_id),
            "tenline_invoice_number": draft.number,
        }
        assert ref.invoice_id == draft.invoice_id and ref.amount_due == draft.total and ref.hosted_invoice_url
        assert all(item["currency"] == "eur" for item in fake.items_of(ref.stripe_invoice_id))
        # Every write under a key made of Tenline's ids.
        keys = {r.idempotency_key for r in fake.calls("POST", r"/v1/invoice.*") if str(draft.invoice_id) in str(r)}
        assert keys == {
            f"tenline-invoice-{draft.invoice_id}",
            f"tenline-invoice-{draft.invoice_id}-finalize",
            *(f"tenline-invoice-{draft.invoice_id}-item-{line.line_id}" for line in draft.lines),
        }
        finalisations = fake.calls("POST", f"/v1/invoices/{ref.stripe_invoice_id}/finalize")
        assert [r.idempotency_key for r in finalisations] == [f"tenline-invoice-{draft.invoice_id}-finalize"]

        assert await gateway.invoice_state(ref.stripe_invoice_id) == ref
        fake.transition(ref.stripe_invoice_id, "paid")
        paid = await gateway.invoice_state(ref.stripe_invoice_id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", draft.total, 0)


async def test_a_repeated_push_creates_nothing_twice(fake: FakeStripe) -> None:
    tenant_id = uuid.uuid4()
    draft = _draft(tenant_id)
    async with stripe_gateway(_settings(fake)) as gateway:
        first = await gateway.sync_invoice(_customer(tenant_id), draft)
        second = await gateway.sync_invoice(_customer(tenant_id), draft)
    assert first is not None and second == first
    _assert_pushed_once(fake, draft, first)
    assert len(_customers_of(fake, tenant_id)) == 1
    # The second push found the invoice: no creation was even replayed.
    creations = [r for r in fake.calls("POST", "/v1/invoices") if str(draft.invoice_id) in str(r.params)]
    assert len(creations) == 1


async def test_a_push_that_failed_halfway_completes_without_duplicates(fake: FakeStripe) -> None:
    tenant_id = uuid.uuid4()
    draft = _draft(tenant_id)
    # Stripe fails on the second item, and the client is not to retry: the job fails with the invoice half there.
    fake.plan(Fault("POST", "/v1/invoiceitems", status=500, after=1))
    async with stripe_gateway(_settings(fake, stripe_max_network_retries=0)) as gateway:
        with pytest.raises(StripeGatewayError) as failed:
            await gateway.sync_invoice(_customer(tenant_id), draft)
    assert failed.value.retryable and failed.value.http_status == 500
    (half,) = _invoices_of(fake, draft)
    assert half["status"] == "draft" and len(fake.items_of(half["id"])) == 1
    # The job's next run completes it.
    async with stripe_gateway(_settings(fake)) as gateway:
        ref = await gateway.sync_invoice(_customer(tenant_id), draft)
    assert ref is not None
    _assert_pushed_once(fake, draft, ref)


async def test_lost_responses_are_retried_under_the_same_key(fake: FakeStripe) -> None:
    """Stripe acted but its answer never arrived: the library retries with the same key and gets the first answer."""
    tenant_id = uuid.uuid4()
    draft = _draft(tenant_id)
    fake.plan(
        Fault("POST", "/v1/customers", kind="lose_response"),
        Fault("POST", "/v1/invoices", kind="lose_response"),
        Fault("POST", "/v1/invoiceitems", kind="lose_response", after=1),
    )
    async with stripe_gateway(_settings(fake)) as gateway:
        ref = await gateway.sync_invoice(_customer(tenant_id), draft)
    assert ref is not None
    _assert_pushed_once(fake, draft, ref)
    assert len(_customers_of(fake, tenant_id)) == 1
    second_item = f"tenline-invoice-{draft.invoice_id}-item-{draft.lines[1].line_id}"
    attempts = [r for r in fake.calls("POST", "/v1/invoiceitems") if r.idempotency_key == second_item]
    assert [r.replayed for r in attempts] == [False, True]
    creations = [
        r for r in fake.calls("POST", "/v1/invoices") if r.idempotency_key == f"tenline-invoice-{draft.invoice_id}"
    ]
    assert [r.replayed for r in creations] == [False, True]


async def test_stripe_errors_become_clear_exceptions(fake: FakeStripe) -> None:
    tenant_id = uuid.uuid4()
    async with stripe_gateway(_settings(fake, stripe_api_key=SecretStr("sk_test_not_the_key"))) as gateway:
        with pytest.raises(StripeGatewayError) as refused:
            await gateway.ensure_customer(_customer(tenant_id))
    assert refused.value.http_status == 401 and not refused.value.retryable
    assert str(refused.value).startswith("Stripe customer search failed (HTTP 401")
    assert "Invalid API Key provided" in str(refused.value)

    async with stripe_gateway(_settings(fake)) as gateway:
        with pytest.raises(StripeGatewayError) as missing:
            await gateway.push_invoice(_draft(tenant_id), "cus_nobody000000000000")
        assert (missing.value.http_status, missing.value.error_type, missing.value.code) == (
            400,
            "invalid_request_error",
            "resource_missing",
        )
        assert not missing.value.retryable
        assert "invoice creation" in str(missing.value) and "No such customer: 'cus_nobody000000000000'" in str(
            missing.value
        )

        # Stripe's total disagrees with Tenline's (as a coupon on the customer would make it): not finalised.
        draft = _draft(tenant_id)
        customer_id = await gateway.ensure_customer(_customer(tenant_id))
        pushed = await gateway.push_invoice(draft, customer_id)
        fake.invoices[pushed.stripe_invoice_id]["total"] -= 5_000
        with pytest.raises(StripeTotalMismatch, match=f"totals {draft.total - 5_000}, Tenline invoice"):
            await gateway.sync_invoice(_customer(tenant_id, customer_id), draft)
    assert fake.invoices[pushed.stripe_invoice_id]["status"] == "draft"
    assert fake.calls("POST", f"/v1/invoices/{pushed.stripe_invoice_id}/finalize") == []


async def test_the_fake_keeps_stripes_idempotency_rules(fake: FakeStripe) -> None:
    """What the tests above lean on, checked through the official client: a key replays its first answer, and the
    same key with other parameters is refused."""
    http_client = stripe.HTTPXClient()
    client = stripe_client(_settings(fake, stripe_max_network_retries=0), http_client)
    assert client is not None
    key = f"fake-rules-{uuid.uuid4()}"
    try:
        first = await client.v1.customers.create_async({"name": "Once"}, {"idempotency_key": key})
        again = await client.v1.customers.create_async({"name": "Once"}, {"idempotency_key": key})
        with pytest.raises(stripe.IdempotencyError, match="same parameters"):
            await client.v1.customers.create_async({"name": "Other"}, {"idempotency_key": key})
    finally:
        await http_client.close_async()
    assert again.id == first.id
    assert again.last_response is not None and again.last_response.headers["idempotent-replayed"] == "true"
    assert [c["name"] for c in fake.customers.values() if c["name"] in ("Once", "Other")] == ["Once"]


async def test_without_an_api_key_nothing_is_pushed(fake: FakeStripe) -> None:
    assert get_settings().stripe_api_key is None  # the default: Tenline without Stripe
    tenant_id = uuid.uuid4()
    before = len(fake.requests)
    async with stripe_gateway(_settings(fake, stripe_api_key=None)) as gateway:
        assert not gateway.configured
        assert await gateway.sync_invoice(_customer(tenant_id), _draft(tenant_id)) is None
        with pytest.raises(StripeNotConfigured, match="TENLINE_STRIPE_API_KEY"):
            await gateway.ensure_customer(_customer(tenant_id))
    assert len(fake.requests) == before


# --- webhooks ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stripe_server(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web server with a Stripe webhook secret and tolerance."""
    port = free_port()
    log = tmp_path_factory.mktemp("stripe") / "server.log"
    env = {
        **services.env,
        "TENLINE_BASE_URL": f"http://127.0.0.1:{port}",
        "TENLINE_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TENLINE_STRIPE_WEBHOOK_TOLERANCE_SECONDS": str(TOLERANCE_SECONDS),
    }
    process = start_process(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/healthz", process, log)
    yield url
    stop_process(process)


@pytest.fixture
def sender(stripe_server: str) -> WebhookSender:
    return WebhookSender(stripe_server + PATH, WEBHOOK_SECRET)


async def _pushed_invoice(fake: FakeStripe, tenant_id: uuid.UUID) -> tuple[StripeInvoiceDraft, StripeInvoiceRef]:
    draft = _draft(tenant_id)
    async with stripe_gateway(_settings(fake)) as gateway:
        ref = await gateway.sync_invoice(_customer(tenant_id), draft)
    assert ref is not None
    return draft, ref


async def _outbox_events(tenant_id: uuid.UUID) -> list[StripeInvoiceEvent]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            rows = (
                await session.exec(
                    select(OutboxEvent)
                    .where(OutboxEvent.topic == STRIPE_INVOICE_EVENT_TOPIC)
                    .order_by(col(OutboxEvent.created_at))
                )
            ).all()
    return [msgspec.convert(row.payload, StripeInvoiceEvent) for row in rows]


async def _recorded(event_id: str) -> list[StripeEventSeen]:
    async with get_database().session() as session:
        return list((await session.exec(select(StripeEventSeen).where(StripeEventSeen.id == event_id))).all())


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(slug), body
    return body


async def test_a_signed_invoice_event_reaches_the_outbox(fake: FakeStripe, sender: WebhookSender) -> None:
    tenant = await make_tenant("stripe-paid")
    draft, ref = await _pushed_invoice(fake, tenant.id)
    paid = fake.event("invoice.paid", fake.transition(ref.stripe_invoice_id, "paid"))
    response = await sender.post(paid)
    assert response.status_code == 200, response.text
    assert response.json() == {"duplicate": False, "handled": True}

    (event,) = await _outbox_events(tenant.id)
    assert (event.stripe_event_id, event.event_type, event.tenant_id, event.invoice_id) == (
        paid["id"],
        "invoice.paid",
        tenant.id,
        draft.invoice_id,
    )
    assert (event.stripe_invoice_id, event.status, event.currency) == (ref.stripe_invoice_id, "paid", "eur")
    assert (event.amount_due, event.amount_paid, event.amount_remaining) == (draft.total, draft.total, 0)
    assert int(event.occurred_at.timestamp()) == paid["created"]
    (seen,) = await _recorded(paid["id"])
    assert (seen.type, seen.object_id, seen.livemode) == ("invoice.paid", ref.stripe_invoice_id, False)

    # The other invoice events Tenline acts on reach the same topic, each once.
    snapshot = fake.invoices[ref.stripe_invoice_id]
    others = ["invoice.finalized", "invoice.payment_failed", "invoice.voided", "invoice.marked_uncollectible"]
    for event_type in others:
        response = await sender.post(fake.event(event_type, snapshot))
        assert response.status_code == 200 and response.json()["handled"], response.text
    assert [e.event_type for e in await _outbox_events(tenant.id)] == ["invoice.paid", *others]


async def test_bad_or_stale_signatures_are_refused(fake: FakeStripe, sender: WebhookSender) -> None:
    tenant = await make_tenant("stripe-signed")
    _, ref = await _pushed_invoice(fake, tenant.id)
    event = fake.event("invoice.payment_failed", fake.invoices[ref.stripe_invoice_id])
    now = int(time.time())

    wrong_secret = await sender.post(event, secret="whsec_someone_elses_secret_000000")
    assert "No signatures found matching" in _problem(wrong_secret, 400, "stripe-signature-invalid")["detail"]
    tampered = await sender.post(event, payload=b'{"id": "' + event["id"].encode() + b'", "type": "invoice.paid"}')
    _problem(tampered, 400, "stripe-signature-invalid")
    unsigned = await sender.post(event, signature="")
    assert "No Stripe-Signature header" in _problem(unsigned, 400, "stripe-signature-invalid")["detail"]
    garbled = await sender.post(event, signature="t=yesterday,v1=abc")
    _problem(garbled, 400, "stripe-signature-invalid")
    stale = await sender.post(event, timestamp=now - TOLERANCE_SECONDS - 60)
    assert "tolerance" in _problem(stale, 400, "stripe-signature-invalid")["detail"]
    # Nothing of it was recorded or handed on.
    assert await _recorded(event["id"]) == []
    assert await _outbox_events(tenant.id) == []

    # Signed a while ago but within the tolerance (a slow delivery): accepted, and handled as a first delivery.
    late = await sender.post(event, timestamp=now - TOLERANCE_SECONDS + 60)
    assert late.status_code == 200 and late.json() == {"duplicate": False, "handled": True}, late.text
    assert [e.stripe_event_id for e in await _outbox_events(tenant.id)] == [event["id"]]


async def test_a_duplicate_event_is_ignored(fake: FakeStripe, sender: WebhookSender) -> None:
    tenant = await make_tenant("stripe-twice")
    _, ref = await _pushed_invoice(fake, tenant.id)
    event = fake.event("invoice.paid", fake.transition(ref.stripe_invoice_id, "paid"))
    first = await sender.post(event)
    # Stripe's retry of the same event is signed afresh.
    retried = await sender.post(event, timestamp=int(time.time()) + 1)
    assert first.json() == {"duplicate": False, "handled": True}
    assert retried.status_code == 200 and retried.json() == {"duplicate": True, "handled": False}

    # Three deliveries of one event at once: one is handled, the others wait for it and find it done.
    racing = fake.event("invoice.finalized", fake.invoices[ref.stripe_invoice_id])
    answers = await asyncio.gather(*(sender.post(racing) for _ in range(3)))
    assert sorted(a.json()["duplicate"] for a in answers) == [False, True, True], [a.text for a in answers]

    assert [e.stripe_event_id for e in await _outbox_events(tenant.id)] == [event["id"], racing["id"]]
    assert len(await _recorded(event["id"])) == len(await _recorded(racing["id"])) == 1


async def test_events_tenline_does_not_act_on_are_acknowledged(fake: FakeStripe, sender: WebhookSender) -> None:
    tenant = await make_tenant("stripe-other")
    _, ref = await _pushed_invoice(fake, tenant.id)
    snapshot = fake.invoices[ref.stripe_invoice_id]
    customer_event = fake.event("customer.updated", fake.customers[ref.stripe_customer_id])
    # An invoice made in Stripe's dashboard (no Tenline metadata), and one naming a tenant that does not exist.
    foreign = fake.event("invoice.paid", {**snapshot, "id": "in_made_by_hand", "metadata": {}})
    unknown_tenant = fake.event(
        "invoice.paid", {**snapshot, "metadata": {**snapshot["metadata"], "tenline_tenant_id": str(uuid.uuid4())}}
    )
    for event in (customer_event, foreign, unknown_tenant):
        response = await sender.post(event)
        assert response.status_code == 200 and response.json() == {"duplicate": False, "handled": False}
        assert len(await _recorded(event["id"])) == 1
    assert await _outbox_events(tenant.id) == []


async def test_without_a_webhook_secret_the_route_answers_503(live_server: LiveServer) -> None:
    """The shared test server has no TENLINE_STRIPE_WEBHOOK_SECRET: nothing is accepted, signed or not."""
    sender = WebhookSender(live_server.url + PATH, WEBHOOK_SECRET)
    event = {"id": "evt_unconfigured", "object": "event", "type": "invoice.paid", "created": 0, "livemode": False}
    _problem(await sender.post(event), 503, "stripe-not-configured")
    assert await _recorded("evt_unconfigured") == []
