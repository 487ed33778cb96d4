"""Invoices over HTTP: lists with filters and keyset pages, one invoice with its lines and ETag, operator admins'
finalise / void / credit notes under If-Match with RFC 9457 problems, and the lines as a CSV attachment."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import make_staff, make_tenant_user, sign_in, token_client
from tests.integration.test_billing_invoices import drafted

PATH = "/api/v1/billing/invoices"


@pytest.fixture(scope="module")
async def billed(live_server: LiveServer) -> Any:
    """A tenant with last month's draft (1,500.00 EUR platform fee + 25% tax), its admin and an operator admin."""
    tenant, invoice = await drafted("invoice-api")
    operator = await make_staff("operator_admin")
    admin = await make_tenant_user(tenant.tenant_id, "tenant_admin")
    clients = {}
    for name, email in (("operator", operator.email), ("admin", admin.email)):
        signed = await sign_in(live_server.url, email)
        signed.client.headers["Tenline-Tenant"] = str(tenant.tenant_id)
        clients[name] = signed.client
    yield tenant, invoice.id, clients
    for client in clients.values():
        await client.aclose()


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_invoices_are_listed_by_filter_and_read_with_their_lines(billed: Any) -> None:
    tenant, invoice_id, clients = billed
    month = f"{tenant.month:%Y-%m}"
    for client in clients.values():
        listed = await client.get(PATH, params={"status": "draft", "kind": "invoice", "period": month})
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["items"]] == [str(invoice_id)]
    for filters in ({"status": "final"}, {"kind": "credit_note"}, {"payment_state": "paid"}, {"period": "2001-01"}):
        assert (await clients["admin"].get(PATH, params=filters)).json()["items"] == [], filters
    _problem(await clients["admin"].get(PATH, params={"period": "2026-13"}), 400)
    _problem(await clients["admin"].get(PATH, params={"sort": "total"}), 400)

    one = await clients["admin"].get(f"{PATH}/{invoice_id}")
    assert one.status_code == 200, one.text
    body = one.json()
    assert one.headers["etag"] == f'"{body["version"]}"'
    assert [(line["kind"], line["amount_minor"]) for line in body["lines"]] == [
        ("platform_fee", 150000),
        ("tax", 37500),
    ]
    assert body["total_minor"] == 187500 == sum(line["amount_minor"] for line in body["lines"])
    _problem(await clients["admin"].get(f"{PATH}/{uuid.uuid4()}"), 404)


async def test_programs_read_invoices_with_the_billing_read_scope(billed: Any, live_server: LiveServer) -> None:
    tenant, invoice_id, _ = billed
    async with token_client(live_server.url, tenant.tenant_id, ["billing:read"]) as program:
        got = await program.get(f"{PATH}/{invoice_id}")
        assert got.status_code == 200, got.text
    async with token_client(live_server.url, tenant.tenant_id, ["agents:read"]) as program:
        _problem(await program.get(PATH), 403)


async def test_operator_admins_finalise_under_if_match_and_correct_with_credit_notes(billed: Any) -> None:
    _, invoice_id, clients = billed
    operator, admin = clients["operator"], clients["admin"]
    version = (await operator.get(f"{PATH}/{invoice_id}")).json()["version"]

    _problem(await admin.post(f"{PATH}/{invoice_id}/finalise", headers={"If-Match": f'"{version}"'}), 403)
    _problem(await operator.post(f"{PATH}/{invoice_id}/finalise", headers={"If-Match": f'"{version + 1}"'}), 412)
    final = await operator.post(f"{PATH}/{invoice_id}/finalise", headers={"If-Match": f'"{version}"'})
    assert final.status_code == 200, final.text
    body = final.json()
    assert body["status"] == "final" and body["number"].startswith(f"INV-{body['issued_at'][:4]}-")
    assert final.headers["etag"] == f'"{version + 1}"'

    again = _problem(
        await operator.post(f"{PATH}/{invoice_id}/finalise", headers={"If-Match": final.headers["etag"]}), 409
    )
    assert "only a draft is finalised" in again["detail"]
    _problem(await operator.post(f"{PATH}/{invoice_id}/void", json={"reason": "late"}), 409)
    _problem(await operator.post(f"{PATH}/{invoice_id}/void", json={"reason": ""}), 400)

    stale = await operator.post(
        f"{PATH}/{invoice_id}/credit-notes", json={"reason": "outage"}, headers={"If-Match": f'"{version}"'}
    )
    _problem(stale, 412)
    note = await operator.post(
        f"{PATH}/{invoice_id}/credit-notes",
        json={"reason": "outage", "lines": [{"description": "Outage on the 3rd", "amount_minor": 10000}]},
        headers={"If-Match": final.headers["etag"]},
    )
    assert note.status_code == 201, note.text
    credit = note.json()
    assert note.headers["location"] == f"{PATH}/{credit['id']}"
    assert (credit["kind"], credit["status"], credit["corrects_invoice_id"]) == (
        "credit_note",
        "draft",
        str(invoice_id),
    )
    assert credit["total_minor"] == -12500  # 100.00 EUR and its 25% tax
    _problem(await operator.post(f"{PATH}/{credit['id']}/credit-notes", json={"reason": "a draft"}), 409)
    too_much = await operator.post(
        f"{PATH}/{invoice_id}/credit-notes",
        json={"reason": "all of it", "lines": [{"description": "Everything", "amount_minor": 150000}]},
    )
    assert [error["field"] for error in _problem(too_much, 422)["errors"]] == ["lines"]

    # Both, newest issued first (the draft credit note by its creation), a page at a time with no repeats.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "-issued_at", "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await admin.get(PATH, params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [credit["id"], str(invoice_id)]
    finals = (await admin.get(PATH, params={"status": "final", "kind": "invoice"})).json()["items"]
    assert [item["number"] for item in finals] == [body["number"]]


async def test_the_lines_download_as_csv_summing_to_the_total(billed: Any) -> None:
    _, invoice_id, clients = billed
    invoice = (await clients["admin"].get(f"{PATH}/{invoice_id}")).json()
    got = await clients["admin"].get(f"{PATH}/{invoice_id}/lines.csv")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    name = invoice["number"] or f"draft-{invoice_id}"
    assert got.headers["content-disposition"] == f'attachment; filename="{name}.csv"'
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [row["kind"] for row in rows] == ["platform_fee", "tax"]
    assert rows[0]["amount"] == "1500.00" and rows[0]["currency"] == "EUR"
    assert sum(int(row["amount_minor"]) for row in rows) == invoice["total_minor"]
    _problem(await clients["admin"].get(f"{PATH}/{uuid.uuid4()}/lines.csv"), 404)
