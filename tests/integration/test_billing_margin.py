"""The operator's margin per tenant over HTTP: three tenants (two billed in EUR, one in SEK) with contacts in a
month of their own, its invoices closed and finalised (one corrected by a credit note), the pool's cost entered
with and without the SEK rate, every figure computed here by hand; the current month from estimates; bad input
named by field; who may read and enter what."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, NamedTuple

import httpx
import pytest
import sqlalchemy as sa

from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.routing.models import AgentStateChange
from billing import invoicing
from billing import invoicing_schemas as invoice_schemas
from billing.models import RateCardVersion
from tenants.service import cross_tenant_read
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_staff, make_tenant_user, sign_in, token_client
from tests.integration.test_billing_metering import Desk, S, handled, make_desk, meter
from tests.reporting_traffic import fold_all

# A month no other test bills or handles contacts in: the pool's agent time in it is these tenants' alone.
MONTH = dt.date(2025, 4, 1)
FEE = "platform_fee"


def charges(fee_minor: int, per_contact: str) -> list[dict[str, Any]]:
    return [
        {"kind": FEE, "id": "platform", "amount_minor": fee_minor, "description": "Platform"},
        {"kind": "handled_contacts", "id": "contacts", "pricing": {"kind": "flat", "unit_price": per_contact}},
    ]


class Handled(NamedTuple):
    """A contact of the month: its local day, and its talk, hold and wrap-up seconds (the pool's agent time)."""

    day: int
    talk: Decimal
    hold: Decimal = S(0)
    wrap: Decimal = S(0)


async def priced_desk(name: str, currency: str, terms: list[dict[str, Any]], month: dt.date) -> Desk:
    """A tenant (America/New_York) with a rate card in force from ``month`` on, 25% tax."""
    desk = await make_desk(name)
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as session:
            session.add(
                RateCardVersion(
                    version=1,
                    effective_from=month,
                    currency=currency,
                    tax_rate_percent=Decimal(25),
                    terms={"charges": terms, "sla_credits": []},
                )
            )
            await session.commit()
    return desk


async def work(desk: Desk, month: dt.date, contacts: list[Handled]) -> None:
    """The contacts (each ending at 11:00 local, mid-month: the same day in UTC), metered and folded into the
    rollups; the agent goes offline afterwards (its presence is folded up to then only)."""
    for contact in contacts:
        ended = dt.datetime.combine(month.replace(day=contact.day), dt.time(11))
        await handled(desk, ended, talk=contact.talk, hold=contact.hold, wrap=contact.wrap)
    async with get_database().session() as session:
        offline = dt.datetime.combine(month.replace(day=contacts[-1].day), dt.time(18), tzinfo=desk.zone)
        session.add(AgentStateChange(agent_id=desk.agents[0], log_seq=desk.seq(), state="offline", at=offline))
        await session.commit()
    await meter(desk.tenant_id)
    await fold_all(desk.tenant_id)


async def as_operator(tenant_id: uuid.UUID, action: Any) -> Any:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            return await action(session)


async def invoiced(desk: Desk, month: dt.date) -> invoice_schemas.InvoiceOut:
    """The month closed, its draft finalised."""
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as session:
            draft = await invoicing.close_and_draft(session, month)
    assert draft is not None
    return await as_operator(desk.tenant_id, lambda s: invoicing.finalise(s, draft.id, if_match=None))


@dataclasses.dataclass(frozen=True)
class Month:
    cobalt: Desk  # EUR: 1,500.00 a month + 0.40 a contact
    fjord: Desk  # EUR: 800.00 a month + 0.40 a contact, 100.00 credited back
    lumen: Desk  # SEK: 20,000.00 a month + 3.25 a contact


@pytest.fixture(scope="module")
async def month(live_server: LiveServer) -> Month:
    cobalt = await priced_desk("margin-cobalt", "EUR", charges(150_000, "0.40"), MONTH)
    fjord = await priced_desk("margin-fjord", "EUR", charges(80_000, "0.40"), MONTH)
    lumen = await priced_desk("margin-lumen", "SEK", charges(2_000_000, "3.25"), MONTH)
    # Agent time: cobalt 630 + 90 + 1200 + 60 = 1980 s, fjord 960 + 30 = 990 s, lumen 330 + 340 + 330 = 1000 s.
    await work(cobalt, MONTH, [Handled(7, S(600), S(30), S(90)), Handled(8, S(1200), wrap=S(60))])
    await work(fjord, MONTH, [Handled(14, S(900), S(60), S(30))])
    await work(
        lumen,
        MONTH,
        [Handled(20, S(300), wrap=S(30)), Handled(21, S(310), wrap=S(30)), Handled(22, S(300), wrap=S(30))],
    )
    await invoiced(cobalt, MONTH)
    await invoiced(lumen, MONTH)
    fjord_invoice = await invoiced(fjord, MONTH)
    credit = invoice_schemas.CreditNoteIn(
        reason="Outage", lines=[invoice_schemas.CreditLineIn(description="Outage", amount_minor=10_000)]
    )
    note = await as_operator(fjord.tenant_id, lambda s: invoicing.create_credit_note(s, fjord_invoice.id, credit))
    await as_operator(fjord.tenant_id, lambda s: invoicing.finalise(s, note.id, if_match=None))
    return Month(cobalt, fjord, lumen)


@pytest.fixture(scope="module")
async def clients(live_server: LiveServer, month: Month) -> Any:
    admin = await sign_in(live_server.url, (await make_staff("operator_admin")).email)
    ops = await sign_in(live_server.url, (await make_staff("ops_manager")).email)
    tenant_admin = await sign_in(
        live_server.url, (await make_tenant_user(month.cobalt.tenant_id, "tenant_admin")).email
    )
    tenant_admin.client.headers["Tenline-Tenant"] = str(month.cobalt.tenant_id)
    yield {"admin": admin.client, "ops": ops.client, "tenant_admin": tenant_admin.client}
    for signed in (admin, ops, tenant_admin):
        await signed.client.aclose()


def rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["tenant_id"]: row for row in body["tenants"]}


def figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["basis"],
        row["currency"],
        row["revenue_minor"],
        row["revenue_converted_minor"],
        row["cost_minor"],
        row["margin_minor"],
        row["margin_percent"],
        row["in_totals"],
    )


POOL = f"/api/v1/billing/pool-costs/{MONTH:%Y-%m}"
MARGIN = f"/api/v1/billing/margin?month={MONTH:%Y-%m}"


async def test_the_margin_of_a_closed_month_by_hand(month: Month, clients: Any) -> None:
    admin, ops = clients["admin"], clients["ops"]
    cobalt, fjord, lumen = (str(desk.tenant_id) for desk in (month.cobalt, month.fjord, month.lumen))

    # Revenue, net of tax: cobalt 1,500.00 + 2 x 0.40; fjord 800.00 + 0.40 less the credit note's 100.00;
    # lumen 20,000.00 + 3 x 3.25 SEK.
    before = (await ops.get(MARGIN)).json()
    assert before["currency"] == "EUR" and before["pool_cost"] is None and before["cost_status"] == "no_pool_cost"
    assert before["pool_from"].startswith("2025-04-01T00:00:00") and before["pool_to"].startswith("2025-05-01T00:00:00")
    assert [row["tenant_id"] for row in before["tenants"]] == [cobalt, fjord, lumen]  # by name
    found = rows(before)
    assert figures(found[cobalt]) == ("invoiced", "EUR", 150_080, 150_080, None, None, None, True)
    assert figures(found[fjord]) == ("invoiced", "EUR", 70_040, 70_040, None, None, None, True)
    assert found[fjord]["credits_minor"] == -10_000
    assert figures(found[lumen]) == ("invoiced", "SEK", 2_000_975, None, None, None, None, False)
    assert found[lumen]["problems"] == ["no exchange rate for SEK", "no pool cost entered"]
    assert found[cobalt]["problems"] == ["no pool cost entered"]
    assert [Decimal(found[t]["pool_busy_seconds"]) for t in (cobalt, fjord, lumen)] == [1980, 990, 1000]
    assert Decimal(found[fjord]["pool_share"]) == Decimal(990) / Decimal(3970)
    assert before["totals"] == {
        "revenue_minor": 220_120,
        "cost_minor": None,
        "margin_minor": None,
        "margin_percent": None,
    }

    # 3,000.00 EUR over 1980 : 990 : 1000 seconds = 1,496.22166, 748.11083, 755.66750: the cent left over goes to
    # the largest remainder (lumen's .750). No SEK rate yet: lumen is left out of the totals.
    entered = await admin.put(POOL, json={"amount_minor": 300_000, "note": "Payroll and seats"})
    assert entered.status_code == 201, entered.text
    assert entered.headers["ETag"] == '"1"' and entered.headers["Location"].endswith(f"/pool-costs/{MONTH:%Y-%m}")
    assert entered.json()["currency"] == "EUR" and entered.json()["exchange_rates"] == {}
    without_rate = (await ops.get(MARGIN)).json()
    found = rows(without_rate)
    assert figures(found[cobalt]) == ("invoiced", "EUR", 150_080, 150_080, 149_622, 458, "0.31", True)
    assert figures(found[fjord]) == ("invoiced", "EUR", 70_040, 70_040, 74_811, -4_771, "-6.81", True)
    assert figures(found[lumen]) == ("invoiced", "SEK", 2_000_975, None, 75_567, None, None, False)
    assert found[lumen]["problems"] == ["no exchange rate for SEK"]
    assert without_rate["totals"] == {
        "revenue_minor": 220_120,
        "cost_minor": 224_433,
        "margin_minor": -4_313,
        "margin_percent": "-1.96",
    }

    # 20,009.75 SEK x 0.0874 = 1,748.852150 EUR: 174,885 cents, rounded once.
    stale = await admin.put(POOL, json={"amount_minor": 300_000}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    changed = await admin.put(
        POOL,
        json={"amount_minor": 300_000, "note": "Payroll and seats", "exchange_rates": {"SEK": "0.0874"}},
        headers={"If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == '"2"' and changed.json()["exchange_rates"] == {"SEK": "0.0874"}
    read = await ops.get(POOL)
    assert read.status_code == 200 and read.headers["ETag"] == '"2"' and read.json() == changed.json()
    body = (await admin.get(MARGIN)).json()
    found = rows(body)
    assert figures(found[lumen]) == ("invoiced", "SEK", 2_000_975, 174_885, 75_567, 99_318, "56.79", True)
    assert found[lumen]["exchange_rate"] == "0.0874" and found[lumen]["problems"] == []
    assert figures(found[cobalt])[4:6] == (149_622, 458)
    assert body["cost_status"] == "allocated" and body["pool_cost"]["version"] == 2
    assert sum(row["cost_minor"] for row in body["tenants"]) == 300_000
    # 150,080 + 70,040 + 174,885 = 395,005 less 300,000 = 95,005: 24.05%.
    assert body["totals"] == {
        "revenue_minor": 395_005,
        "cost_minor": 300_000,
        "margin_minor": 95_005,
        "margin_percent": "24.05",
    }

    # The entry is the operator's own audit event, not a tenant's.
    with acting_as(OPERATOR):
        async with cross_tenant_read("test: the pool cost's audit") as reader:
            audited = (
                await reader.execute(
                    sa.text(
                        "SELECT action, tenant_id, detail FROM audit_log WHERE object_type = 'pool_cost' "
                        "AND object_id = :month ORDER BY occurred_at"
                    ),
                    {"month": f"{MONTH:%Y-%m}"},
                )
            ).all()
    assert [(row.action, row.tenant_id) for row in audited] == [
        ("pool_cost.entered", None),
        ("pool_cost.changed", None),
    ]
    assert audited[-1].detail["exchange_rates"] == {"SEK": "0.0874"}


async def test_the_current_month_is_estimated(month: Month, clients: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    body = (await clients["ops"].get(f"/api/v1/billing/margin?month={now:%Y-%m}")).json()
    assert body["month"] == f"{now:%Y-%m}-01" and body["pool_cost"] is None
    found = rows(body)
    # No contacts this month: the estimates are the platform fees (the contact charges come to nothing).
    assert figures(found[str(month.cobalt.tenant_id)]) == ("estimate", "EUR", 150_000, 150_000, None, None, None, True)
    assert figures(found[str(month.lumen.tenant_id)]) == ("estimate", "SEK", 2_000_000, None, None, None, None, False)
    assert found[str(month.lumen.tenant_id)]["problems"] == ["no exchange rate for SEK", "no pool cost entered"]
    default = (await clients["ops"].get("/api/v1/billing/margin")).json()
    last = (now.date().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    assert default["month"] == str(last)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount_minor": 100, "exchange_rates": {"XYZ": "1.5"}}, "exchange_rates.XYZ"),
        ({"amount_minor": 100, "exchange_rates": {"sek": "1.5"}}, "exchange_rates.sek"),
        ({"amount_minor": 100, "exchange_rates": {"SEK": "0"}}, "exchange_rates.SEK"),
        ({"amount_minor": 100, "exchange_rates": {"SEK": "-0.08"}}, "exchange_rates.SEK"),
        ({"amount_minor": 100, "exchange_rates": {"SEK": "0.12345678901"}}, "exchange_rates.SEK"),
        ({"amount_minor": 100, "exchange_rates": {"EUR": "1"}}, "exchange_rates.EUR"),
    ],
)
async def test_bad_rates_are_refused_by_field(clients: Any, body: dict[str, Any], field: str) -> None:
    response = await clients["admin"].put("/api/v1/billing/pool-costs/2025-06", json=body)
    assert response.status_code == 422, response.text
    assert problem_fields(response) == [field]


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return [error["field"] for error in response.json().get("errors") or []]


async def test_bad_months_and_amounts_are_refused(clients: Any) -> None:
    admin = clients["admin"]
    negative = await admin.put("/api/v1/billing/pool-costs/2025-06", json={"amount_minor": -1})
    assert negative.status_code == 400 and any("amount_minor" in field for field in problem_fields(negative))
    no_month = await admin.put("/api/v1/billing/pool-costs/2026-13", json={"amount_minor": 1})
    assert no_month.status_code == 422 and problem_fields(no_month) == ["month"]
    assert problem_fields(await admin.get("/api/v1/billing/margin?month=2026-13")) == ["month"]
    assert (await admin.get("/api/v1/billing/pool-costs/2026-00")).status_code == 422
    assert (await admin.get("/api/v1/billing/pool-costs/2025-06")).status_code == 404
    created_with_if_match = await admin.put(
        "/api/v1/billing/pool-costs/2025-06", json={"amount_minor": 1}, headers={"If-Match": '"1"'}
    )
    assert created_with_if_match.status_code == 412  # nothing entered yet: no version 1
    assert (await admin.get("/api/v1/billing/pool-costs/2025-06")).status_code == 404
    first = await admin.put("/api/v1/billing/pool-costs/2025-06", json={"amount_minor": 1}, headers={"If-Match": '"0"'})
    assert first.status_code == 201  # "0": only while nothing is entered
    second = await admin.put(
        "/api/v1/billing/pool-costs/2025-06", json={"amount_minor": 2}, headers={"If-Match": '"0"'}
    )
    assert (
        second.status_code == 412
        and (await admin.get("/api/v1/billing/pool-costs/2025-06")).json()["amount_minor"] == 1
    )


async def test_only_operators_reach_the_margin(month: Month, clients: Any, live_server: LiveServer) -> None:
    ops, tenant_admin = clients["ops"], clients["tenant_admin"]
    # Ops managers read, operator admins alone enter.
    assert (await ops.put("/api/v1/billing/pool-costs/2025-07", json={"amount_minor": 1})).status_code == 403
    for url in (MARGIN, POOL):
        assert (await tenant_admin.get(url)).status_code == 403
    assert (await tenant_admin.put("/api/v1/billing/pool-costs/2025-07", json={"amount_minor": 1})).status_code == 403
    async with token_client(live_server.url, month.cobalt.tenant_id, ["billing:read"]) as program:
        assert (await program.get(MARGIN)).status_code == 403
        assert (await program.get(POOL)).status_code == 403
        assert (await program.put("/api/v1/billing/pool-costs/2025-07", json={"amount_minor": 1})).status_code == 403
    # The pages likewise.
    assert (await tenant_admin.get("/operator/billing/margin")).status_code == 403
    page = await ops.get(f"/operator/billing/margin?month={MONTH:%Y-%m}")
    assert page.status_code == 200 and f'id="margin-{month.cobalt.tenant_id}"' in page.text
    assert 'id="pool-cost-form"' not in page.text  # ops managers read
    refused = await ops.post("/operator/billing/margin", data={"month": "2025-07", "amount": "1"})
    assert refused.status_code == 403


async def test_the_page_says_what_is_wrong_with_the_form(month: Month, clients: Any) -> None:
    admin = clients["admin"]
    page = await admin.get("/operator/billing/margin?month=2025-08")
    # Lumen's card is in force: its month is estimated, and SEK wants a rate.
    assert page.status_code == 200 and 'id="pool-cost-form"' in page.text and 'name="rate_SEK"' in page.text
    typed = {"month": "2025-08", "version": "0", "amount": "12.345", "note": "x", "rate_SEK": "abc", "rate_NOK": "-1"}
    refused = await admin.post("/operator/billing/margin", data=typed)
    assert refused.status_code == 422
    assert "An amount in EUR with at most 2 decimals, e.g. 12500.00." in refused.text
    assert "A number, e.g. 0.0874." in refused.text and 'value="12.345"' in refused.text
    typed |= {"amount": "12.34", "rate_SEK": "0.0874"}
    refused = await admin.post("/operator/billing/margin", data=typed)
    assert refused.status_code == 422 and "Must be greater than 0." in refused.text  # NOK's rate
    assert (await admin.get("/api/v1/billing/pool-costs/2025-08")).status_code == 404  # nothing saved
    saved = await admin.post("/operator/billing/margin", data=typed | {"rate_NOK": ""}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/operator/billing/margin?month=2025-08"
    cost = (await admin.get("/api/v1/billing/pool-costs/2025-08")).json()
    assert (cost["amount_minor"], cost["exchange_rates"], cost["note"], cost["version"]) == (
        1234,
        {"SEK": "0.0874"},
        "x",
        1,
    )
    again = await admin.get("/operator/billing/margin?month=2025-08")
    assert 'value="12.34"' in again.text and 'value="0.0874"' in again.text  # the form as saved
    # A form loaded before someone else's save keeps what was typed and takes the new version.
    stale = await admin.post("/operator/billing/margin", data=typed | {"amount": "5"})
    assert stale.status_code == 422 and "it is now version 1" in stale.text
    assert 'name="version" value="1"' in stale.text and 'value="5"' in stale.text
