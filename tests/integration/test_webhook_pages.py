"""The webhook and CRM lookup pages over real HTTP, for what the browser test leaves out: who may open them, the
form's refusals (each next to its field, nothing typed lost), stale edits and deletes, switching an endpoint off
and on, rotation, the delivery log's pages, a replay refused, and another tenant's ids."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.integrations import schemas, service
from frontend.pages.webhooks import EVENT_LABELS
from tests.conftest import LiveServer
from tests.factories import make_tenant, make_tenant_user, sign_in
from tests.webhook_receiver import Receiver


@dataclass
class Tenant:
    id: uuid.UUID
    admin: httpx.AsyncClient
    supervisor: httpx.AsyncClient


@pytest.fixture
async def tenant(live_server: LiveServer) -> AsyncIterator[Tenant]:
    made = await make_tenant("hook-pages")
    admin = await make_tenant_user(made.id, "tenant_admin")
    supervisor = await make_tenant_user(made.id, "supervisor")
    result = Tenant(
        made.id,
        (await sign_in(live_server.url, admin.email)).client,
        (await sign_in(live_server.url, supervisor.email)).client,
    )
    yield result
    await result.admin.aclose()
    await result.supervisor.aclose()


def _text(response: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


def _field_error(response: httpx.Response, field_id: str) -> str:
    match = re.search(rf'id="{field_id}-error" class="field-error">([^<]*)<', response.text)
    assert match, f"no error next to {field_id}"
    return match.group(1)


async def _create(client: httpx.AsyncClient, url: str, *event_types: str, description: str = "") -> tuple[str, str]:
    """An endpoint made through the page: (its id, its secret as the page showed it)."""
    response = await client.post(
        "/webhooks", data={"url": url, "description": description, "event_types": list(event_types), "enabled": "true"}
    )
    assert response.status_code == 201, _text(response)
    secret = re.search(r'<code id="signing-secret">(whsec_[^<]+)</code>', response.text)
    endpoint = re.search(r'action="/webhooks/([0-9a-f-]{36})"', response.text)
    assert secret and endpoint
    return endpoint.group(1), secret.group(1)


def test_every_event_type_has_a_label_people_read() -> None:
    assert set(EVENT_LABELS) == set(schemas.EVENT_TYPES)


async def test_who_may_open_the_pages(tenant: Tenant) -> None:
    home = await tenant.admin.get("/")
    assert 'href="/webhooks"' in home.text
    for path in ("/webhooks", "/webhooks/new", "/webhooks/crm-lookup"):
        assert (await tenant.admin.get(path)).status_code == 200, path
        assert (await tenant.supervisor.get(path)).status_code == 403, path
    refused = await tenant.supervisor.post(
        "/webhooks", data={"url": "https://example.com/", "event_types": "sla.breached"}
    )
    assert refused.status_code == 403
    assert 'href="/webhooks"' not in (await tenant.supervisor.get("/")).text


async def test_refusals_show_next_to_their_fields_and_keep_what_was_typed(tenant: Tenant) -> None:
    typed = {
        "url": "http://10.0.0.1/",
        "description": "Salesforce sandbox",
        "event_types": ["sla.breached", "interaction.ended"],
    }
    refused = await tenant.admin.post("/webhooks", data={**typed, "enabled": "true"})
    assert refused.status_code == 422
    assert "resolves to 10.0.0.1, which webhooks may not reach" in _field_error(refused, "e-url")
    assert 'value="http://10.0.0.1/"' in refused.text and 'value="Salesforce sandbox"' in refused.text
    for event_type in typed["event_types"]:
        assert f'value="{event_type}" checked' in refused.text
    assert 'value="sla.at_risk" checked' not in refused.text

    nothing = await tenant.admin.post("/webhooks", data={"url": "ftp://example.com/", "description": "x"})
    assert nothing.status_code == 422
    assert _field_error(nothing, "e-event_types") == "Choose at least one."
    assert _field_error(nothing, "e-url") == "Must be an http or https URL."
    # Nothing was made.
    assert "No webhook endpoints yet." in _text(await tenant.admin.get("/webhooks"))


async def test_a_stale_edit_keeps_what_was_typed_and_shows_the_saved_values(tenant: Tenant, receiver: Receiver) -> None:
    endpoint_id, secret = await _create(tenant.admin, receiver.url, "sla.breached", description="first")
    page = await tenant.admin.get(f"/webhooks/{endpoint_id}")
    assert secret not in page.text  # shown once, when made
    assert page.headers.get("cache-control") != "no-store"
    # Someone else changes it over the API meanwhile (version 2).
    other = await tenant.admin.patch(f"/api/v1/webhook-endpoints/{endpoint_id}", json={"description": "theirs"})
    assert other.status_code == 200 and other.headers["etag"] == '"2"'

    form = {
        "url": receiver.url,
        "description": "mine",
        "event_types": ["sla.at_risk"],
        "enabled": "true",
        "version": "1",
    }
    stale = await tenant.admin.post(f"/webhooks/{endpoint_id}", data=form)
    assert stale.status_code == 422
    text = _text(stale)
    assert "Someone else saved this webhook endpoint while you were editing it; it is now version 2." in text
    assert 'value="mine"' in stale.text and "Saved meanwhile: theirs" in text
    assert 'name="version" value="2"' in stale.text
    # Saving again replaces it knowingly.
    saved = await tenant.admin.post(f"/webhooks/{endpoint_id}", data={**form, "version": "2"})
    assert saved.status_code == 303 and saved.headers["location"] == "/webhooks"
    listed = await tenant.admin.get("/webhooks")
    assert f"Webhook endpoint {receiver.url} saved." in _text(listed)
    assert "mine" in listed.text and "An SLA target is at risk" in listed.text

    # A delete at a stale version is refused with the reason; at the current one it goes.
    refused = await tenant.admin.post(f"/webhooks/{endpoint_id}/delete", data={"version": "1"})
    assert refused.status_code == 303 and refused.headers["location"] == f"/webhooks/{endpoint_id}"
    assert "was not deleted" in _text(await tenant.admin.get(f"/webhooks/{endpoint_id}"))
    deleted = await tenant.admin.post(f"/webhooks/{endpoint_id}/delete", data={"version": "3"})
    assert deleted.status_code == 303
    assert (await tenant.admin.get(f"/webhooks/{endpoint_id}")).status_code == 404


async def test_disable_enable_rotate_and_a_refused_replay(tenant: Tenant, receiver: Receiver) -> None:
    endpoint_id, secret = await _create(tenant.admin, receiver.url, "report.delivered")
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            (delivery_id,) = await service.create_deliveries(session, uuid.uuid4(), "report.delivered", utcnow(), {})
    off = await tenant.admin.post(f"/webhooks/{endpoint_id}/enabled", data={"enabled": "false"})
    assert off.status_code == 303
    page = _text(await tenant.admin.get(f"/webhooks/{endpoint_id}"))
    assert f"{receiver.url} is disabled." in page and "Nothing is delivered while it is disabled." in page

    replay = await tenant.admin.post(f"/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay")
    assert replay.status_code == 303
    assert "Not replayed. The endpoint is disabled: enable it before replaying." in _text(
        await tenant.admin.get(replay.headers["location"])
    )

    await tenant.admin.post(f"/webhooks/{endpoint_id}/enabled", data={"enabled": "true"})
    rotated = await tenant.admin.post(f"/webhooks/{endpoint_id}/rotate", data={"overlap_seconds": "604800"})
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    new = re.search(r'<code id="signing-secret">(whsec_[^<]+)</code>', rotated.text)
    assert new and new.group(1) != secret
    assert "The previous secret also signs every request until" in _text(rotated)
    bad = await tenant.admin.post(f"/webhooks/{endpoint_id}/rotate", data={"overlap_seconds": "999999999"})
    assert bad.status_code == 422


async def test_the_delivery_log_pages_newest_first(tenant: Tenant, receiver: Receiver) -> None:
    endpoint_id, _ = await _create(tenant.admin, receiver.url, "sla.breached")
    made = []
    with acting_as(system_principal(tenant.id)):
        for n in range(3):
            async with get_database().session() as session:
                made += await service.create_deliveries(session, uuid.uuid4(), "sla.breached", utcnow(), {"n": n})
    first = await tenant.admin.get(f"/webhooks/{endpoint_id}/deliveries", params={"limit": 2})
    rows = re.findall(r'<tr id="delivery-([0-9a-f-]{36})"', first.text)
    assert rows == [str(made[2]), str(made[1])]
    older = re.search(r'<a href="([^"]+)"[^\n]*>Older</a>', first.text)
    assert older
    second = await tenant.admin.get(older.group(1).replace("&amp;", "&"))
    assert re.findall(r'<tr id="delivery-([0-9a-f-]{36})"', second.text) == [str(made[0])]
    listed = _text(await tenant.admin.get("/webhooks"))
    assert "pending" in listed  # the newest delivery's status, on the list


async def test_another_tenants_endpoint_and_delivery_are_not_found(
    tenant: Tenant, live_server: LiveServer, receiver: Receiver
) -> None:
    endpoint_id, _ = await _create(tenant.admin, receiver.url, "sla.breached")
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            (delivery_id,) = await service.create_deliveries(session, uuid.uuid4(), "sla.breached", utcnow(), {})
    other = await make_tenant("hook-pages-b")
    other_admin = await make_tenant_user(other.id, "tenant_admin")
    async with await sign_in(live_server.url, other_admin.email) as client:
        for path in (
            f"/webhooks/{endpoint_id}",
            f"/webhooks/{endpoint_id}/deliveries",
            f"/webhooks/{endpoint_id}/deliveries/{delivery_id}",
        ):
            assert (await client.get(path)).status_code == 404, path
        for path, data in (
            (f"/webhooks/{endpoint_id}", {"url": receiver.url, "event_types": "sla.breached", "version": "1"}),
            (f"/webhooks/{endpoint_id}/enabled", {"enabled": "false"}),
            (f"/webhooks/{endpoint_id}/rotate", {"overlap_seconds": "0"}),
            (f"/webhooks/{endpoint_id}/delete", {"version": "1"}),
            (f"/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay", {}),
        ):
            assert (await client.post(path, data=data)).status_code == 404, path
    still = await tenant.admin.get(f"/api/v1/webhook-endpoints/{endpoint_id}")
    assert still.json()["enabled"] is True and still.headers["etag"] == '"1"'


async def test_the_crm_lookup_page(tenant: Tenant, receiver: Receiver) -> None:
    blank = await tenant.admin.get("/webhooks/crm-lookup")
    assert 'value="1500"' in blank.text and 'value="300"' in blank.text
    typed = {"url": "http://169.254.169.254/latest", "timeout_ms": "9000", "cache_ttl_seconds": "60", "enabled": "true"}
    refused = await tenant.admin.post("/webhooks/crm-lookup", data={**typed, "version": "0"})
    assert refused.status_code == 422
    assert _field_error(refused, "crm-timeout_ms") == "Must be at most 5000."
    assert 'value="http://169.254.169.254/latest"' in refused.text and 'value="60"' in refused.text
    refused_url = await tenant.admin.post("/webhooks/crm-lookup", data={**typed, "timeout_ms": "900", "version": "0"})
    assert "may not reach" in _field_error(refused_url, "crm-url")

    created = await tenant.admin.post(
        "/webhooks/crm-lookup", data={**typed, "url": receiver.url, "timeout_ms": "900", "version": "0"}
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    assert re.search(r'<code id="signing-secret">whsec_', created.text)
    # Someone else sets it to 1200 ms meanwhile; a save at version 1 is stale.
    theirs = await tenant.admin.put(
        "/api/v1/crm-lookup", json={"url": receiver.url, "timeout_ms": 1200, "cache_ttl_seconds": 60}
    )
    assert theirs.status_code == 200
    stale = await tenant.admin.post(
        "/webhooks/crm-lookup", data={**typed, "url": receiver.url, "timeout_ms": "700", "version": "1"}
    )
    assert stale.status_code == 422
    assert "Someone else saved this CRM lookup while you were editing it" in _text(stale)
    assert "Saved meanwhile: 1200" in _text(stale) and 'value="700"' in stale.text
    # A setup form loaded before anyone set it up is stale too: it never replaces a setting unseen.
    late = await tenant.admin.post(
        "/webhooks/crm-lookup", data={**typed, "url": receiver.url, "timeout_ms": "700", "version": "0"}
    )
    assert late.status_code == 422 and "Someone else saved this CRM lookup" in _text(late)
    saved = await tenant.admin.post(
        "/webhooks/crm-lookup", data={**typed, "url": receiver.url, "timeout_ms": "700", "version": "2"}
    )
    assert saved.status_code == 303
    assert "CRM lookup saved." in _text(await tenant.admin.get("/webhooks/crm-lookup"))
    assert (await tenant.admin.get("/api/v1/crm-lookup")).json()["timeout_ms"] == 700

    rotated = await tenant.admin.post("/webhooks/crm-lookup/rotate", data={"overlap_seconds": "3600"})
    assert rotated.status_code == 200 and "New signing secret" in rotated.text
    removed = await tenant.admin.post("/webhooks/crm-lookup/delete", data={"version": "4"})
    assert removed.status_code == 303
    assert "CRM lookup deleted." in _text(await tenant.admin.get("/webhooks/crm-lookup"))
    assert (await tenant.admin.get("/api/v1/crm-lookup")).status_code == 404
