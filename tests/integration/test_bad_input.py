"""Malformed input gets a 4xx problem that says what is wrong, never a 500, and changes nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import LiveServer
from tests.factories import make_staff, sign_in


@pytest.fixture
async def operator(live_server: LiveServer):  # type: ignore[no-untyped-def]
    staff = await make_staff("operator_admin")
    signed = await sign_in(live_server.url, staff.email)
    async with signed as client:
        yield client


def _problem(response) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == response.status_code and body["title"]
    return body  # type: ignore[no-any-return]


async def test_malformed_json(operator) -> None:  # type: ignore[no-untyped-def]
    response = await operator.post(
        "/api/v1/tenants", content=b'{"slug": "x", ', headers={"Content-Type": "application/json"}
    )
    _problem(response)


async def test_wrong_types_name_the_field(operator) -> None:  # type: ignore[no-untyped-def]
    body = _problem(await operator.post("/api/v1/tenants", json={"slug": 42, "name": "X"}))
    assert "slug" in body["detail"]
    assert any(e["field"] == "slug" for e in body.get("errors", [])) or "slug" in body["detail"]


async def test_unknown_fields_are_refused_by_name(operator) -> None:  # type: ignore[no-untyped-def]
    body = _problem(
        await operator.post("/api/v1/tenants", json={"slug": "unknown-field", "name": "X", "colour": "red"})
    )
    assert "colour" in body["detail"]


async def test_invalid_values(operator) -> None:  # type: ignore[no-untyped-def]
    body = _problem(await operator.post("/api/v1/tenants", json={"slug": "Not A Slug", "name": "X"}))
    assert "slug" in body["detail"]
    body = _problem(
        await operator.post("/api/v1/tenants", json={"slug": "tz-bad", "name": "X", "timezone": "Mars/Olympus"})
    )
    assert body["errors"][0]["field"] == "timezone"
    body = _problem(
        await operator.post(
            "/api/v1/tenants", json={"slug": "hours-bad", "name": "X", "business_hours": {"mon": [["18:00", "09:00"]]}}
        )
    )
    assert "business_hours.mon" in body["detail"]
    # Nothing was created by the refused requests.
    listed = (await operator.get("/api/v1/tenants", params={"limit": 200})).json()["items"]
    assert not {"unknown-field", "tz-bad", "hours-bad"} & {t["slug"] for t in listed}


async def test_oversized_body(operator) -> None:  # type: ignore[no-untyped-def]
    big = {"slug": "big", "name": "x" * 2_000_000}
    response = await operator.post("/api/v1/tenants", json=big)
    assert response.status_code == 413
    _problem(response)


async def test_invalid_ids_and_cursors(operator) -> None:  # type: ignore[no-untyped-def]
    assert (await operator.get("/api/v1/tenants/not-a-uuid")).status_code == 404
    assert (await operator.get("/api/v1/tenants/00000000-0000-0000-0000-000000000000")).status_code == 404
    body = _problem(await operator.get("/api/v1/tenants", params={"cursor": "%%%garbage"}))
    assert body["errors"][0]["field"] == "cursor"
    _problem(await operator.get("/api/v1/tenants", params={"limit": 0}))
    _problem(await operator.get("/api/v1/tenants", params={"limit": "many"}))


async def test_wrong_content_type_and_method(operator) -> None:  # type: ignore[no-untyped-def]
    _problem(await operator.post("/api/v1/tenants", content=b"slug=x", headers={"Content-Type": "text/csv"}))
    response = await operator.put("/api/v1/tenants")
    assert response.status_code == 405
    _problem(response)


async def test_stale_if_match_is_412(operator) -> None:  # type: ignore[no-untyped-def]
    created = await operator.post("/api/v1/tenants", json={"slug": "etag-tenant-x", "name": "E"})
    assert created.status_code == 201
    tenant_id = created.json()["id"]
    got = await operator.get(f"/api/v1/tenants/{tenant_id}")
    etag = got.headers["ETag"]
    ok = await operator.patch(f"/api/v1/tenants/{tenant_id}", json={"name": "E2"}, headers={"If-Match": etag})
    assert ok.status_code == 200
    stale = await operator.patch(f"/api/v1/tenants/{tenant_id}", json={"name": "E3"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    _problem(stale)


async def test_concurrent_duplicates_are_409_never_500(operator) -> None:  # type: ignore[no-untyped-def]
    slug = f"race-{uuid.uuid4().hex[:8]}"
    responses = await asyncio.gather(
        *(operator.post("/api/v1/tenants", json={"slug": slug, "name": "Race"}) for _ in range(6))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) == {201, 409}, statuses
    for response in responses:
        if response.status_code == 409:
            _problem(response)
