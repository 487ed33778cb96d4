"""Golden month: three tenants with different contracts, a month of generated traffic, metering and the close
as in production, and every invoice line checked against a calculation written here from the contacts
themselves (plain Python over what was generated; the rating core is not called). Then idempotency: every
event replayed and every Stripe webhook delivered twice change no total.

Contracts (last month, in each tenant's time zone):
- A (EUR, Oslo): per handled minute with wrap-up, a platform fee, a minimum commitment that tops up, and an
  SLA credit (5% below target, 10% more than 5 points below) that triggers on the month's service level.
- B (USD, New York, 8.875% tax): per handled contact, voice and chat, with volume tiers; per outbound attempt (its
  callbacks); per seat-hour of the agent dedicated to it (its signed-in time, from the presence log).
- C (JPY, Tokyo, 10% tax): graduated tiers per minute (talk + hold) of voice only (chat not billed), a one-off
  set-up charge, and a new card version from the 16th with other prices (tiers run over the whole month).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import time
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import col, select

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.core.settings import Settings, get_settings
from app.core.tenancy import acting_as, system_principal
from app.routing.models import AgentStateChange, Interaction, InteractionEvent
from app.sla.engine import day_bounds
from app.sla.models import SlaContractVersion, SlaEvaluation, SlaTarget
from billing import invoicing
from billing import service as billing
from billing.invoicing_models import Invoice, InvoiceLineRow
from billing.models import RateCardVersion
from billing.stripe.controllers import PATH
from billing.stripe.schemas import STRIPE_INVOICE_EVENT_TOPIC, StripeInvoiceEvent
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tests.conftest import Services, free_port, start_process, stop_process, wait_until_up
from tests.factories import OPERATOR, make_agent, make_tenant
from tests.fake_stripe import FAKE_API_KEY, FakeStripe, WebhookSender, running_fake_stripe
from tests.integration.test_billing_metering import dedicate, meter_all, rewind
from tests.routed import make_queue

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

WEBHOOK_SECRET = "whsec_tenline_golden_0123456789abcdef"
SL_ANSWER_SECONDS = 20
SL_TARGET = Decimal("0.8")


# --- traffic written as the router writes it -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Contact:
    channel: str
    ended_local: dt.datetime  # the tenant's wall clock
    wait: int
    talk: int
    hold: int
    wrap: int
    callback: bool = False  # the platform dialled the customer: an outbound attempt


@dataclasses.dataclass
class Tenant:
    id: uuid.UUID
    zone: str
    month: dt.date  # the first day of last month
    contacts: list[Contact] = dataclasses.field(default_factory=list)
    agents: list[uuid.UUID] = dataclasses.field(default_factory=list)
    # Each agent's presence changes (UTC), as written: the seat time of a dedicated one is computed from them.
    presence: dict[uuid.UUID, list[tuple[dt.datetime, str]]] = dataclasses.field(default_factory=dict)


def last_month(zone: str) -> dt.date:
    today = utcnow().astimezone(ZoneInfo(zone)).date()
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def days_of(month: dt.date) -> int:
    return billing.month_of(month)[1].day


def traffic(
    rng: random.Random, month: dt.date, count: int, channels: list[str], talk: tuple[int, int]
) -> list[Contact]:
    """``count`` contacts over the month, 07:00 to 21:00 local, in whole seconds (some held, most wrapped up)."""
    contacts = []
    for _ in range(count):
        day = month + dt.timedelta(days=rng.randrange(days_of(month)))
        ended = dt.datetime.combine(day, dt.time(7)) + dt.timedelta(seconds=rng.randrange(14 * 3600))
        contacts.append(
            Contact(
                channel=rng.choice(channels),
                ended_local=ended,
                wait=rng.choice([rng.randint(1, SL_ANSWER_SECONDS)] * 2 + [rng.randint(SL_ANSWER_SECONDS + 1, 240)]),
                talk=rng.randint(*talk),
                hold=rng.choice([0, 0, rng.randint(5, 120)]),
                wrap=rng.choice([0, rng.randint(3, 90), rng.randint(3, 90)]),
            )
        )
    return sorted(contacts, key=lambda contact: contact.ended_local)


async def write_contacts(tenant: Tenant, first_seq: int) -> None:
    """The contacts as the router leaves them: interaction, its events, its agent's presence changes (on contact,
    wrap-up, available), each contact in a block of log sequence numbers of its own, in order of ending; the
    agents go offline at the end."""
    zone = ZoneInfo(tenant.zone)
    queues = {
        channel: await make_queue(tenant.id, f"golden-{channel}", channel=channel, wrap_up_seconds=30)
        for channel in sorted({c.channel for c in tenant.contacts})
    }
    agents = tenant.agents = [(await make_agent(tenant.id)).id for _ in range(3)]
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            for n, contact in enumerate(tenant.contacts):
                seq = first_seq + 10 * n
                agent_id = agents[n % len(agents)]
                queue_id = queues[contact.channel]
                ended = contact.ended_local.replace(tzinfo=zone).astimezone(dt.UTC)
                answered = ended - dt.timedelta(seconds=contact.talk + contact.hold)
                held = answered + dt.timedelta(seconds=contact.talk // 2)
                arrived = answered - dt.timedelta(seconds=contact.wait)
                interaction_id = uuid.uuid4()
                session.add(
                    Interaction(
                        id=interaction_id,
                        queue_id=queue_id,
                        channel=contact.channel,
                        state="ended",
                        agent_id=agent_id,
                        arrived_at=arrived,
                        answered_at=answered,
                        ended_at=ended,
                        hold_seconds=float(contact.hold),
                        context={"callback_id": str(uuid.uuid4())} if contact.callback else {},
                    )
                )
                steps = [("arrived", arrived, None), ("answered", answered, agent_id)]
                if contact.hold:
                    steps += [
                        ("held", held, agent_id),
                        ("resumed", held + dt.timedelta(seconds=contact.hold), agent_id),
                    ]
                steps.append(("ended", ended, agent_id))
                for offset, (kind, at, who) in enumerate(steps):
                    session.add(
                        InteractionEvent(
                            interaction_id=interaction_id,
                            log_seq=seq + offset,
                            type=kind,
                            at=at,
                            agent_id=who,
                            queue_id=queue_id,
                        )
                    )
                ended_seq = seq + len(steps) - 1
                presence = [(seq + 1, "on_contact", answered)]
                if contact.wrap:
                    presence += [
                        (ended_seq, "wrap_up", ended),
                        (ended_seq + 1, "available", ended + dt.timedelta(seconds=contact.wrap)),
                    ]
                else:
                    presence.append((ended_seq, "available", ended))
                for log_seq, state, at in presence:
                    session.add(AgentStateChange(agent_id=agent_id, log_seq=log_seq, state=state, at=at))
                    tenant.presence.setdefault(agent_id, []).append((at, state))
                if n % 200 == 199:
                    await session.flush()
            # The agents sign off after the month's last contact: agents are the operator's, and one left
            # available for ever would stay in every later pool figure of the session (reporting's presence).
            last = tenant.contacts[-1].ended_local.replace(tzinfo=zone).astimezone(dt.UTC) + dt.timedelta(hours=1)
            for n, agent_id in enumerate(agents):
                session.add(
                    AgentStateChange(
                        agent_id=agent_id, log_seq=first_seq + 10 * len(tenant.contacts) + n, state="offline", at=last
                    )
                )
                tenant.presence.setdefault(agent_id, []).append((last, "offline"))
            await session.commit()


async def make_billed_tenant(name: str, zone: str) -> Tenant:
    made = await make_tenant(name)
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            row = await tenants.get_tenant(session, made.id, OPERATOR)
            await tenants.update_tenant(session, row, tenant_schemas.TenantUpdate(timezone=zone))
    return Tenant(made.id, zone, last_month(zone))


async def add_cards(tenant: Tenant, *cards: tuple[dt.date, str, Decimal, dict[str, Any]]) -> None:
    """Rate card versions in force from dates in the past (the API takes only today on: written as stored)."""
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            for version, (effective_from, currency, tax, terms) in enumerate(cards, 1):
                session.add(
                    RateCardVersion(
                        version=version,
                        effective_from=effective_from,
                        currency=currency,
                        tax_rate_percent=tax,
                        terms=terms,
                    )
                )
            await session.commit()


def service_level(contacts: list[Contact]) -> float:
    """The month's service level of the generated contacts: answered within the answer target, of all."""
    within = sum(1 for contact in contacts if contact.wait <= SL_ANSWER_SECONDS)
    return round(within / len(contacts), 4)


async def add_sla_month(tenant: Tenant, measured: float) -> None:
    """The SLA contract in force last month, with a monthly service-level target, and its evaluation of the
    month as the SLA job stores it (the value measured from the generated waits)."""
    window_start = day_bounds(tenant.month, tenant.zone)[0]
    window_end = day_bounds(billing.month_of(tenant.month)[1], tenant.zone)[1]
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            contract = SlaContractVersion(
                version=1,
                effective_from=tenant.month,
                definition="offered_less_short_abandons",
                short_abandon_seconds=0,
            )
            session.add(contract)
            await session.flush()
            target = SlaTarget(
                contract_version_id=contract.id,
                position=1,
                measure="service_level",
                window_kind="month",
                minimum=float(SL_TARGET),
                within_seconds=SL_ANSWER_SECONDS,
            )
            session.add(target)
            await session.flush()
            session.add(
                SlaEvaluation(
                    contract_version_id=contract.id,
                    target_id=target.id,
                    window_start=window_start,
                    window_end=window_end,
                    value=measured,
                    state="breached",
                    volume=float(len(tenant.contacts)),
                    evaluated_at=window_end,
                )
            )
            await session.commit()


# --- the independent calculation ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Line:
    kind: str
    charge_id: str | None
    start: dt.date
    end: dt.date
    tier: int | None
    quantity: Decimal
    amount_minor: int


def shown(quantity: Fraction) -> Decimal:
    """A quantity as an invoice shows it: to 4 places, half to even."""
    return (Decimal(quantity.numerator) / Decimal(quantity.denominator)).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_EVEN
    )


def minor(major: Fraction, digits: int) -> int:
    return round(major * 10**digits)  # round() on a Fraction is half to even


def tax_line(start: dt.date, end: dt.date, net: int, percent: Decimal, digits: int) -> Line:
    return Line(
        "tax", "", start, end, None, Decimal(net).scaleb(-digits), round(Fraction(net) * Fraction(percent) / 100)
    )


def expected_a(tenant: Tenant, measured: float) -> list[Line]:
    start, end = tenant.month, billing.month_of(tenant.month)[1] + dt.timedelta(days=1)
    seconds = sum(c.talk + c.hold + c.wrap for c in tenant.contacts)
    minutes = Fraction(seconds, 60)
    usage = minor(minutes * Fraction("0.85"), 2)
    fee = 150_000
    top_up = 500_000 - usage
    assert top_up > 0, "the generated month must fall short of the commitment"
    shortfall = (SL_TARGET - Decimal(repr(measured))) * 100
    percent = 10 if shortfall > 5 else 5 if shortfall > 0 else 0
    assert percent == 10, "the generated month must miss the target by more than 5 points"
    credit = round(Fraction(usage + fee + top_up) * percent / 100)
    net = usage + fee + top_up - credit
    return [
        Line("handled_minutes", "minutes", start, end, None, shown(minutes), usage),
        Line("platform_fee", "platform", start, end, None, Decimal(1), fee),
        Line("minimum_commitment", "commitment", start, end, None, Decimal(1), top_up),
        Line("sla_credit", "sl-credit", start, end, None, Decimal(1), -credit),
        tax_line(start, end, net, Decimal(0), 2),
    ]


B_TIERS = [(200, Decimal("4.00")), (500, Decimal("3.50")), (None, Decimal("3.00"))]
B_ATTEMPT = Decimal("0.12")
B_SEAT_HOUR = Decimal("21.50")


def signed_in_seconds(changes: list[tuple[dt.datetime, str]]) -> int:
    """The time between each change and the next (in time order) spent in a state other than offline."""
    ordered = sorted(changes, key=lambda change: change[0])
    return sum(
        int((following[0] - change[0]).total_seconds())
        for change, following in itertools.pairwise(ordered)
        if change[1] != "offline"
    )


def expected_b(tenant: Tenant) -> list[Line]:
    start, end = tenant.month, billing.month_of(tenant.month)[1] + dt.timedelta(days=1)
    count = len(tenant.contacts)
    tier = next(n for n, (up_to, _) in enumerate(B_TIERS, 1) if up_to is None or count <= up_to)
    usage = minor(count * Fraction(B_TIERS[tier - 1][1]), 2)
    attempts = sum(1 for contact in tenant.contacts if contact.callback)
    dialled = minor(attempts * Fraction(B_ATTEMPT), 2)
    seat_hours = Fraction(signed_in_seconds(tenant.presence[tenant.agents[0]]), 3600)
    seats = minor(seat_hours * Fraction(B_SEAT_HOUR), 2)
    assert attempts and seat_hours > 24, "the generated month must have callbacks and seat time"
    return [
        Line("handled_contacts", "contacts", start, end, tier, Decimal(count), usage),
        Line("outbound_attempts", "callbacks", start, end, None, Decimal(attempts), dialled),
        Line("seat_hours", "seats", start, end, None, shown(seat_hours), seats),
        tax_line(start, end, usage + dialled + seats, Decimal("8.875"), 2),
    ]


C_TIERS = {1: [(1000, 60), (3000, 45), (None, 30)], 2: [(1000, 55), (3000, 40), (None, 25)]}


def c_change(month: dt.date) -> dt.date:
    return month.replace(day=16)


def expected_c(tenant: Tenant) -> list[Line]:
    start, end = tenant.month, billing.month_of(tenant.month)[1] + dt.timedelta(days=1)
    change = c_change(tenant.month)
    lines = []
    before = Fraction(0)
    for version, (seg_start, seg_end) in ((1, (start, change)), (2, (change, end))):
        seconds = sum(
            c.talk + c.hold
            for c in tenant.contacts
            if c.channel == "voice" and seg_start <= c.ended_local.date() < seg_end
        )
        after = before + Fraction(seconds, 60)
        lower = Fraction(0)
        for tier, (up_to, price) in enumerate(C_TIERS[version], 1):
            upper = after if up_to is None else min(after, Fraction(up_to))
            units = upper - max(before, lower)
            if units > 0:
                lines.append(
                    Line("handled_minutes", "voice", seg_start, seg_end, tier, shown(units), round(units * price))
                )
            lower = Fraction(up_to) if up_to is not None else lower
        if version == 1:
            setup_day = tenant.month.replace(day=5)
            lines.append(
                Line("one_off", "setup", setup_day, setup_day + dt.timedelta(days=1), None, Decimal(1), 150_000)
            )
        before = after
    assert len({line.tier for line in lines if line.tier}) == 3, "the generated month must reach every tier"
    net = sum(line.amount_minor for line in lines)
    return [*lines, tax_line(start, end, net, Decimal(10), 0)]


# --- the month ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Month:
    a: Tenant
    b: Tenant
    c: Tenant
    measured_a: float

    @property
    def tenants(self) -> list[Tenant]:
        return [self.a, self.b, self.c]


def a_terms() -> dict[str, Any]:
    return {
        "charges": [
            {
                "kind": "handled_minutes",
                "id": "minutes",
                "include_wrap_up": True,
                "pricing": {"kind": "flat", "unit_price": "0.85"},
            },
            {"kind": "platform_fee", "id": "platform", "amount_minor": 150_000},
            {"kind": "minimum_commitment", "id": "commitment", "amount_minor": 500_000, "applies_to": ["minutes"]},
        ],
        "sla_credits": [
            {
                "id": "sl-credit",
                "sla": "service_level",
                "bands": [{"points_below": "0", "percent": "5"}, {"points_below": "5", "percent": "10"}],
            }
        ],
    }


def b_terms() -> dict[str, Any]:
    tiers = [{"up_to": None if up_to is None else str(up_to), "unit_price": str(price)} for up_to, price in B_TIERS]
    return {
        "charges": [
            {"kind": "handled_contacts", "id": "contacts", "pricing": {"kind": "volume", "tiers": tiers}},
            {"kind": "outbound_attempts", "id": "callbacks", "pricing": {"kind": "flat", "unit_price": str(B_ATTEMPT)}},
            {"kind": "seat_hours", "id": "seats", "pricing": {"kind": "flat", "unit_price": str(B_SEAT_HOUR)}},
        ],
        "sla_credits": [],
    }


def c_terms(version: int, month: dt.date) -> dict[str, Any]:
    tiers = [
        {"up_to": None if up_to is None else str(up_to), "unit_price": str(price)} for up_to, price in C_TIERS[version]
    ]
    charges: list[dict[str, Any]] = [
        {
            "kind": "handled_minutes",
            "id": "voice",
            "channels": ["voice"],
            "pricing": {"kind": "graduated", "tiers": tiers},
        }
    ]
    if version == 1:
        charges.append(
            {"kind": "one_off", "id": "setup", "on": month.replace(day=5).isoformat(), "amount_minor": 150_000}
        )
    return {"charges": charges, "sla_credits": []}


@pytest.fixture(scope="module")
async def month() -> Month:
    rng = random.Random(20261126)
    a = await make_billed_tenant("golden-a", "Europe/Oslo")
    b = await make_billed_tenant("golden-b", "America/New_York")
    c = await make_billed_tenant("golden-c", "Asia/Tokyo")
    a.contacts = traffic(rng, a.month, 300, ["voice"], (60, 600))
    b.contacts = traffic(rng, b.month, 350, ["voice", "chat"], (30, 400))
    c.contacts = traffic(rng, c.month, 400, ["voice", "voice", "voice", "chat"], (240, 1200))
    b.contacts = [dataclasses.replace(contact, callback=n % 7 == 3) for n, contact in enumerate(b.contacts)]
    for n, tenant in enumerate((a, b, c)):
        await write_contacts(tenant, first_seq=1_000_000 * (n + 1))
    await dedicate(b.id, b.agents[0], day_bounds(b.month, b.zone)[0])  # from the start of its month
    await add_cards(a, (a.month, "EUR", Decimal(0), a_terms()))
    await add_cards(b, (b.month - dt.timedelta(days=40), "USD", Decimal("8.875"), b_terms()))
    await add_cards(
        c,
        (c.month, "JPY", Decimal(10), c_terms(1, c.month)),
        (c_change(c.month), "JPY", Decimal(10), c_terms(2, c.month)),
    )
    measured = service_level(a.contacts)
    await add_sla_month(a, measured)
    for tenant in (a, b, c):
        assert await meter_all(tenant.id) == len(tenant.contacts)
        await close(tenant)
    return Month(a, b, c, measured)


async def close(tenant: Tenant) -> Invoice:
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            invoice = await invoicing.close_and_draft(session, tenant.month)
    assert invoice is not None
    return invoice


async def invoice_of(tenant: Tenant) -> tuple[Invoice, list[InvoiceLineRow]]:
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            (invoice,) = (await session.exec(select(Invoice).where(Invoice.period_start == tenant.month))).all()
            lines = (
                await session.exec(
                    select(InvoiceLineRow)
                    .where(InvoiceLineRow.invoice_id == invoice.id)
                    .order_by(col(InvoiceLineRow.position))
                )
            ).all()
    return invoice, list(lines)


def as_lines(rows: list[InvoiceLineRow]) -> list[Line]:
    return [Line(row.kind, row.charge_id, row.start, row.end, row.tier, row.quantity, row.amount_minor) for row in rows]


async def check_invoice(tenant: Tenant, want: list[Line]) -> Invoice:
    invoice, rows = await invoice_of(tenant)
    got = as_lines(rows)
    assert [(line.kind, line.charge_id) for line in got] == [(line.kind, line.charge_id) for line in want]
    for have, expected in zip(got, want, strict=True):
        assert have == expected
    charges = sum(line.amount_minor for line in want if line.kind not in ("sla_credit", "tax"))
    credits = sum(line.amount_minor for line in want if line.kind == "sla_credit")
    tax = sum(line.amount_minor for line in want if line.kind == "tax")
    assert (invoice.subtotal_minor, invoice.credits_minor, invoice.adjustments_minor, invoice.tax_minor) == (
        charges,
        credits,
        0,
        tax,
    )
    assert invoice.total_minor == charges + credits + tax
    return invoice


async def test_invoices_of_a_generated_month_match_an_independent_calculation_line_by_line(month: Month) -> None:
    a = await check_invoice(month.a, expected_a(month.a, month.measured_a))
    assert a.currency == "EUR" and a.sla_attainment == {
        "service_level": {"measured": repr(month.measured_a), "target": repr(float(SL_TARGET))}
    }
    b = await check_invoice(month.b, expected_b(month.b))
    assert b.currency == "USD" and b.sla_attainment == {}
    c = await check_invoice(month.c, expected_c(month.c))
    assert c.currency == "JPY"


# --- idempotency ----------------------------------------------------------------------------------------------


async def totals(month: Month) -> list[tuple[int, ...]]:
    found = []
    for tenant in month.tenants:
        invoice, rows = await invoice_of(tenant)
        found.append(
            (
                invoice.subtotal_minor,
                invoice.credits_minor,
                invoice.tax_minor,
                invoice.total_minor,
                *(row.amount_minor for row in rows),
            )
        )
    return found


async def usage_sums(tenant: Tenant) -> tuple[Any, ...]:
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            row = (
                await session.execute(
                    sa.text(
                        "SELECT (SELECT count(*) FROM usage_records), sum(contacts), sum(talk_seconds),"
                        " sum(hold_seconds), sum(wrap_seconds), sum(outbound_attempts),"
                        " (SELECT sum(seat_seconds) FROM seat_usage) FROM usage_daily"
                    )
                )
            ).one()
    return tuple(row)


async def test_replaying_every_event_changes_no_total(month: Month) -> None:
    before = await totals(month)
    usage_before = [await usage_sums(tenant) for tenant in month.tenants]
    for tenant in month.tenants:
        await rewind(tenant.id, seats=True)
        assert await meter_all(tenant.id) == 0  # every record was there: nothing billed twice, nothing late
        await close(tenant)  # the close again: the same draft
    assert [await usage_sums(tenant) for tenant in month.tenants] == usage_before
    assert await totals(month) == before
    for tenant in month.tenants:  # and nothing carried to the open month as a late adjustment
        with acting_as(system_principal(tenant.id)):
            async with get_database().session() as session:
                current = await billing.usage(session)
        assert current.late.contacts == 0 and current.totals.contacts == 0


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with running_fake_stripe() as made:
        yield made


@pytest.fixture(scope="module")
def stripe_server(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web server receiving Stripe's webhooks (a secret set)."""
    port = free_port()
    log = tmp_path_factory.mktemp("golden-stripe") / "server.log"
    env = {
        **services.env,
        "TENLINE_BASE_URL": f"http://127.0.0.1:{port}",
        "TENLINE_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    process = start_process(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/healthz", process, log)
    yield url
    stop_process(process)


def stripe_settings(fake: FakeStripe) -> Settings:
    return get_settings().model_copy(
        update={"stripe_api_key": SecretStr(FAKE_API_KEY), "stripe_api_base": fake.url, "stripe_max_network_retries": 2}
    )


async def stripe_events(tenant: Tenant) -> list[StripeInvoiceEvent]:
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            rows = (
                await session.exec(
                    select(OutboxEvent)
                    .where(OutboxEvent.topic == STRIPE_INVOICE_EVENT_TOPIC)
                    .order_by(col(OutboxEvent.created_at))
                )
            ).all()
    return [msgspec.convert(row.payload, StripeInvoiceEvent) for row in rows]


async def test_every_stripe_webhook_twice_changes_no_total(month: Month, fake: FakeStripe, stripe_server: str) -> None:
    sender = WebhookSender(stripe_server + PATH, WEBHOOK_SECRET)
    for tenant in month.tenants:
        invoice, _ = await invoice_of(tenant)
        with acting_as(OPERATOR.acting_for(tenant.id)):
            async with get_database().session() as session:
                await invoicing.finalise(session, invoice.id, if_match=None)
        with acting_as(system_principal(tenant.id)):
            async with get_database().session() as session:
                assert await invoicing.push_to_stripe(session, invoice.id, stripe_settings(fake)) is not None
    before = await totals(month)
    for tenant in month.tenants:
        invoice, _ = await invoice_of(tenant)
        assert invoice.stripe_invoice_id is not None
        assert fake.invoices[invoice.stripe_invoice_id]["total"] == invoice.total_minor
        snapshot = fake.invoices[invoice.stripe_invoice_id]
        finalized = fake.event("invoice.finalized", snapshot)
        paid = fake.event("invoice.paid", fake.transition(invoice.stripe_invoice_id, "paid"))
        for event in (finalized, paid):
            first = await sender.post(event)
            again = await sender.post(event, timestamp=int(time.time()) + 1)  # Stripe's retry, signed afresh
            assert first.json() == {"duplicate": False, "handled": True}, first.text
            assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
        events = await stripe_events(tenant)
        assert [event.event_type for event in events] == ["invoice.finalized", "invoice.paid"]
        # The relay delivers at least once: each event reaches the payment state twice.
        changed = []
        for delivered in [*events, *events]:
            with acting_as(system_principal(tenant.id)):
                async with get_database().session() as session:
                    changed.append(await invoicing.apply_stripe_event(session, delivered))
        assert changed == [False, True, False, False]  # finalized moves no payment state; paid once
        after, _ = await invoice_of(tenant)
        assert after.payment_state == "paid" and after.version == invoice.version + 1
    assert await totals(month) == before
