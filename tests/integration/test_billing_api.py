"""Billing over HTTP: rate card versions (operator admins write, tenants read), usage to date with its estimate
checked against an independent calculation, and every tenant's usage for the operator."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest

from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from billing import rating
from billing.models import RateCardVersion
from tests.conftest import LiveServer
from tests.factories import make_staff, make_tenant, make_tenant_user, sign_in, token_client
from tests.integration.test_billing_metering import S, handled, make_desk, meter
from tests.reporting_traffic import fold_all
from tests.routed import make_queue

MINUTES = {
    "kind": "handled_minutes",
    "id": "minutes",
    "include_wrap_up": True,
    "pricing": {"kind": "flat", "unit_price": "0.85"},
}
CONTACTS = {
    "kind": "handled_contacts",
    "id": "contacts",
    "pricing": {
        "kind": "volume",
        "tiers": [{"up_to": "1000", "unit_price": "0.40"}, {"up_to": None, "unit_price": "0.30"}],
    },
}
FEE = {"kind": "platform_fee", "id": "platform", "amount_minor": 150000, "description": "Platform"}


def _card(effective_from: dt.date, **changes: Any) -> dict[str, Any]:
    body = {
        "effective_from": effective_from.isoformat(),
        "currency": "EUR",
        "tax_rate_percent": "25",
        "charges": [MINUTES, CONTACTS, FEE],
        "sla_credits": [
            {
                "id": "sl",
                "sla": "service_level",
                "bands": [{"points_below": "0", "percent": "5"}, {"points_below": "5", "percent": "10"}],
            }
        ],
        "note": "MSA schedule 4",
    }
    return body | changes


@pytest.fixture(scope="module")
async def people(live_server: LiveServer) -> Any:
    tenant = await make_tenant("rate-cards")
    operator = await make_staff("operator_admin")
    ops = await make_staff("ops_manager")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    clients = {}
    for name, email in (
        ("operator", operator.email),
        ("ops", ops.email),
        ("admin", admin.email),
        ("supervisor", supervisor.email),
    ):
        signed = await sign_in(live_server.url, email)
        signed.client.headers["Tenline-Tenant"] = str(tenant.id)
        clients[name] = signed.client
    yield tenant, clients
    for client in clients.values():
        await client.aclose()


def _problem_fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return [error["field"] for error in response.json().get("errors") or []]


async def test_operator_admins_record_versions_and_tenants_read_them(people: Any, live_server: LiveServer) -> None:
    tenant, clients = people
    operator, admin = clients["operator"], clients["admin"]
    today = dt.datetime.now(ZoneInfo(tenant.timezone)).date()

    assert (await admin.get("/api/v1/billing/rate-cards/current")).status_code == 404
    created = await operator.post("/api/v1/billing/rate-cards", json=_card(today), headers={"If-Match": '"0"'})
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    first = created.json()
    assert (first["version"], first["status"], first["currency"], first["tax_rate_percent"]) == (
        1,
        "in_force",
        "EUR",
        "25",
    )
    assert [charge["kind"] for charge in first["charges"]] == ["handled_minutes", "handled_contacts", "platform_fee"]
    assert first["charges"][1]["pricing"]["tiers"][0] == {"up_to": "1000", "unit_price": "0.40"}
    assert first["created_by"] and first["note"] == "MSA schedule 4"

    # Stale If-Match: another version was recorded meanwhile.
    stale = await operator.post("/api/v1/billing/rate-cards", json=_card(today), headers={"If-Match": '"0"'})
    assert stale.status_code == 412
    later = await operator.post(
        "/api/v1/billing/rate-cards",
        json=_card(today + dt.timedelta(days=3), charges=[MINUTES]),
        headers={"If-Match": '"1"'},
    )
    assert later.status_code == 201 and later.json()["status"] == "scheduled"

    for reader in (admin, clients["ops"]):
        current = await reader.get("/api/v1/billing/rate-cards/current")
        assert current.status_code == 200 and current.json()["id"] == first["id"] and current.headers["ETag"] == '"1"'
        listed = (await reader.get("/api/v1/billing/rate-cards")).json()
        assert [item["version"] for item in listed["items"]] == [2, 1]
        one = await reader.get(f"/api/v1/billing/rate-cards/{first['id']}")
        assert one.status_code == 200 and one.json() == first
    assert (await admin.get(f"/api/v1/billing/rate-cards/{uuid.uuid4()}")).status_code == 404

    # Only operator admins write; supervisors do not see billing at all.
    assert (await admin.post("/api/v1/billing/rate-cards", json=_card(today))).status_code == 403
    assert (await clients["ops"].post("/api/v1/billing/rate-cards", json=_card(today))).status_code == 403
    assert (await clients["supervisor"].get("/api/v1/billing/rate-cards")).status_code == 403

    # Programs read with billing:read, and nothing else gets them in.
    async with token_client(live_server.url, tenant.id, ["billing:read"]) as program:
        assert (await program.get("/api/v1/billing/rate-cards/current")).json()["version"] == 1
        assert (await program.post("/api/v1/billing/rate-cards", json=_card(today))).status_code == 403
    async with token_client(live_server.url, tenant.id, ["reports:read"]) as program:
        assert (await program.get("/api/v1/billing/rate-cards")).status_code == 403


async def test_bad_rate_cards_are_refused_naming_the_field(people: Any) -> None:
    tenant, clients = people
    operator = clients["operator"]
    today = dt.datetime.now(ZoneInfo(tenant.timezone)).date()
    queue_id = await make_queue(tenant.id, "priced-queue")
    url = "/api/v1/billing/rate-cards"

    cases: list[tuple[dict[str, Any], int, str]] = [
        (_card(today - dt.timedelta(days=1)), 422, "effective_from"),
        (_card(today, currency="NOK"), 422, "currency"),  # the tenant is billed in EUR since version 1
        (_card(today, charges=[{**MINUTES, "include_wrapup": True}]), 422, "charges[0].include_wrapup"),
        (_card(today, charges=[{**MINUTES, "queues": [str(uuid.uuid4())]}]), 422, "charges[0].queues"),
        (
            _card(today, charges=[{**FEE, "kind": "one_off", "on": str(today - dt.timedelta(days=2))}]),
            422,
            "charges[0].on",
        ),
        (_card(today, charges=[MINUTES, {**MINUTES}]), 422, "charges"),  # the same charge id twice
        (_card(today, tax_rate_percent="125"), 422, "tax_rate_percent"),
        (
            _card(
                today,
                charges=[{**CONTACTS, "pricing": {"kind": "volume", "tiers": [{"up_to": "5", "unit_price": "1"}]}}],
            ),
            400,
            "charges[0].pricing",
        ),
    ]
    for body, status, field in cases:
        response = await operator.post(url, json=body)
        assert response.status_code == status, (field, response.text)
        fields = _problem_fields(response)
        assert any(found.startswith(field) or found.startswith(f"body.{field}") for found in fields), (field, fields)
    good = await operator.post(url, json=_card(today, charges=[{**MINUTES, "queues": [str(queue_id)]}]))
    assert good.status_code == 201, good.text
    assert good.json()["charges"][0]["queues"] == [str(queue_id)]


# --- usage to date ------------------------------------------------------------------------------------------


def _cents(amount: Fraction) -> int:
    """Major units to cents, half to even."""
    return int((Decimal(amount.numerator) / Decimal(amount.denominator) * 100).quantize(Decimal(1), ROUND_HALF_EVEN))


def _whole(seconds: Decimal) -> int:
    return int(seconds.to_integral_value(rounding=ROUND_HALF_EVEN))


def _charges(seconds: Decimal, contacts: int) -> tuple[int, int]:
    """The minutes line (0.85 a minute, wrap-up included) and the contacts line (volume: 0.40 up to 1000)."""
    return _cents(Fraction(_whole(seconds), 60) * Fraction("0.85")), _cents(Fraction(contacts) * Fraction("0.40"))


async def test_usage_to_date_and_its_estimate(live_server: LiveServer) -> None:
    desk = await make_desk("usage-api")
    today = dt.datetime.now(desk.zone).date()
    this_month = today.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    # A card in force since last month (recorded then): written as it was, the API refuses past dates.
    card = msgspec.convert({**_card(last_month), "version": 1}, rating.RateCard, strict=False)
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as session:
            session.add(
                RateCardVersion(
                    version=1,
                    effective_from=last_month,
                    currency="EUR",
                    tax_rate_percent=Decimal(25),
                    terms=msgspec.json.decode(
                        msgspec.json.encode({"charges": card.charges, "sla_credits": card.sla_credits})
                    ),
                )
            )

    last = [S("61.25") + S("3.5") + S("7.125"), S("30.4")]
    await handled(
        desk,
        dt.datetime.combine(last_month.replace(day=3), dt.time(10)),
        talk=S("61.25"),
        hold=S("3.5"),
        wrap=S("7.125"),
    )
    await handled(desk, dt.datetime.combine(last_month.replace(day=20), dt.time(16)), talk=S("30.4"), agent=1)
    own = [S("100.3") + S("2"), S("45.2") + S("0.5")]
    await handled(desk, dt.datetime.combine(this_month, dt.time(0, 30)), talk=S("100.3"), wrap=S("2"))
    await handled(desk, dt.datetime.combine(this_month, dt.time(0, 40)), talk=S("45.2"), hold=S("0.5"), agent=1)
    await meter(desk.tenant_id)
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as session:
            from billing import service as billing

            await billing.close_period(session, last_month)
    await handled(desk, dt.datetime.combine(last_month.replace(day=25), dt.time(9)), talk=S("80"), hold=S("20.75"))
    late = [S("100.75")]
    assert (await meter(desk.tenant_id)).late == 1

    admin = await make_tenant_user(desk.tenant_id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        page = await client.get("/billing")
        assert page.status_code == 200 and 'id="estimate"' in page.text
        refused = await client.get("/billing", params={"period": "next-ish"})
        assert (
            refused.status_code == 200
            and "Give a month as YYYY-MM" in refused.text
            and 'value="next-ish"' in refused.text
        )
        response = await client.get("/api/v1/billing/usage", params={"period": "current"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (await client.get("/api/v1/billing/usage", params={"period": "2026-13"})).status_code in (400, 422)
        previous = (await client.get("/api/v1/billing/usage", params={"period": f"{last_month:%Y-%m}"})).json()

    assert body["period"] == {
        "first_day": str(this_month),
        "last_day": str(body["period"]["last_day"]),
        "status": "open",
    }
    assert body["timezone"] == "America/New_York" and body["rate_card_version"] == 1
    assert body["totals"]["contacts"] == 2 and Decimal(body["totals"]["handled_seconds"]) == sum(own)
    assert body["late"]["contacts"] == 1 and Decimal(body["late"]["handled_seconds"]) == sum(late)
    assert [(day["day"], day["late"], day["contacts"]) for day in body["days"]] == [
        (str(last_month.replace(day=25)), True, 1),
        (str(this_month), False, 2),
    ]
    assert previous["period"]["status"] == "closed" and previous["totals"]["contacts"] == 2
    assert Decimal(previous["totals"]["handled_seconds"]) == sum(last)

    # The estimate, calculated here: this month's lines, and last month re-rated with its late contact.
    estimate = body["estimate"]
    minutes, contacts = _charges(sum(own), 2)
    fee = 150000
    assert [(line["charge_id"], line["amount"]["minor"]) for line in estimate["lines"]] == [
        ("minutes", minutes),
        ("contacts", contacts),
        ("platform", fee),
    ]
    billed = _charges(sum(last), 2)
    rerated = _charges(sum(last) + sum(late), 3)
    adjustments = {line["charge_id"]: line["amount"]["minor"] for line in estimate["adjustments"]}
    assert adjustments == {"minutes": rerated[0] - billed[0], "contacts": rerated[1] - billed[1]}
    tax = _cents(Fraction(minutes + contacts + fee, 100) * Fraction(25, 100)) + (
        _cents(Fraction(sum(rerated) + fee, 100) / 4) - _cents(Fraction(sum(billed) + fee, 100) / 4)
    )
    assert estimate["tax"]["minor"] == tax and estimate["credits"]["minor"] == 0
    assert estimate["total"]["minor"] == minutes + contacts + fee + sum(adjustments.values()) + tax
    shown_total = str(rating.Money(estimate["total"]["minor"], "EUR"))
    assert f"<strong>{shown_total}</strong>" in page.text and "late: adjustment" in page.text

    # The operator's view of every tenant: the same totals, and the tenant's share of the pool's agent time.
    await fold_all(desk.tenant_id)
    operator = await make_staff("ops_manager")
    async with await sign_in(live_server.url, operator.email) as client:
        overview = (await client.get("/api/v1/billing/usage/tenants")).json()
        operator_page = await client.get("/operator/billing")
        assert operator_page.status_code == 200 and f'id="tenant-{desk.tenant_id}"' in operator_page.text
        assert shown_total in operator_page.text
        client.headers["Tenline-Tenant"] = str(desk.tenant_id)
        assert (await client.get("/api/v1/billing/usage")).json()["totals"] == body["totals"]
    row = next(item for item in overview["tenants"] if item["tenant_id"] == str(desk.tenant_id))
    assert row["totals"] == body["totals"] and row["estimate_total_minor"] == estimate["total"]["minor"]
    assert row["currency"] == "EUR"
    # This month's contacts of the desk ended this month in UTC too; last month's are outside the span.
    assert float(row["pool_busy_seconds"]) == pytest.approx(float(sum(own)))
    shares = [Decimal(item["pool_share"]) for item in overview["tenants"] if item["pool_share"] is not None]
    assert 0 < Decimal(row["pool_share"]) <= 1 and sum(shares) <= 1 + Decimal("1e-20")
