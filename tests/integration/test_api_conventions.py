"""API conventions over real HTTP: Idempotency-Key on POST, per-tenant rate limits with their headers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.types import HTTPRequestEvent, Message, Receive, Scope, Send

from app.core import idempotency, ratelimit
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import Principal
from tests.conftest import LiveServer, Services, free_port, start_process, stop_process, wait_until_up
from tests.factories import make_api_client, make_tenant, make_tenant_user, sign_in

QUEUES = "/api/v1/queues"


@dataclass
class Admin:
    client: httpx.AsyncClient
    principal: Principal  # as the server resolves the signed-in admin: the idempotency keys' scope


async def _admin(url: str) -> Admin:
    tenant = await make_tenant("conventions")
    user = await make_tenant_user(tenant.id, "tenant_admin")
    signed = await sign_in(url, user.email)
    return Admin(signed.client, Principal(kind="user", subject_id=signed.user_id, tenant_id=tenant.id))


@pytest.fixture
async def admin(live_server: LiveServer) -> AsyncIterator[Admin]:
    made = await _admin(live_server.url)
    yield made
    await made.client.aclose()


def _queue_body() -> bytes:
    return json.dumps({"name": f"queue-{uuid.uuid4().hex[:8]}"}).encode()


async def _post(client: httpx.AsyncClient, body: bytes, key: str) -> httpx.Response:
    return await client.post(
        QUEUES, content=body, headers={"Content-Type": "application/json", idempotency.HEADER: key}
    )


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    return dict(problem)


async def _queue_names(client: httpx.AsyncClient) -> list[str]:
    response = await client.get(QUEUES, params={"limit": 100})
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


# --- Idempotency-Key ---------------------------------------------------------------------------------


async def test_a_repeat_replays_the_first_response_and_creates_nothing_more(admin: Admin) -> None:
    body, key = _queue_body(), str(uuid.uuid4())
    first = await _post(admin.client, body, key)
    assert first.status_code == 201, first.text
    assert idempotency.REPLAYED_HEADER not in first.headers

    repeat = await _post(admin.client, body, key)
    assert repeat.status_code == 201
    assert repeat.headers[idempotency.REPLAYED_HEADER] == "true"
    assert repeat.json() == first.json()
    assert repeat.headers["ETag"] == first.headers["ETag"]
    assert repeat.headers["content-type"] == first.headers["content-type"]
    assert (await _queue_names(admin.client)).count(json.loads(body)["name"]) == 1
    ttl = await get_redis().ttl(idempotency.redis_key(admin.principal, key))
    assert ttl > 86_400 - 60


async def test_an_error_is_kept_and_replayed_too(admin: Admin) -> None:
    body, key = json.dumps({"name": ""}).encode(), str(uuid.uuid4())
    first = await _post(admin.client, body, key)
    _problem(first, 400)
    repeat = await _post(admin.client, body, key)
    _problem(repeat, 400)
    assert repeat.headers[idempotency.REPLAYED_HEADER] == "true"
    assert repeat.json() == first.json()


async def test_a_repeat_while_the_first_is_in_flight_is_409(admin: Admin) -> None:
    # The first request is held in flight deterministically by making its claim from here, exactly as
    # the server would on receiving it; the server then sees the repeat of a request still running.
    body, key = _queue_body(), str(uuid.uuid4())
    fingerprint = idempotency.fingerprint("POST", QUEUES, b"", body)
    assert await idempotency.claim(admin.principal, key, fingerprint) is None

    problem = _problem(await _post(admin.client, body, key), 409)
    assert "in progress" in str(problem["detail"])
    assert json.loads(body)["name"] not in await _queue_names(admin.client)

    await idempotency.release(admin.principal, key)
    created = await _post(admin.client, body, key)
    assert created.status_code == 201, created.text


async def test_the_same_key_with_another_body_is_422(admin: Admin) -> None:
    key = str(uuid.uuid4())
    assert (await _post(admin.client, _queue_body(), key)).status_code == 201
    other = _queue_body()
    problem = _problem(await _post(admin.client, other, key), 422)
    assert problem["errors"] == [
        {"field": idempotency.HEADER, "message": "reused with a different request", "source": "header"}
    ]
    assert json.loads(other)["name"] not in await _queue_names(admin.client)


async def test_keys_are_scoped_to_the_caller(live_server: LiveServer, admin: Admin) -> None:
    other = await _admin(live_server.url)
    key = str(uuid.uuid4())
    assert (await _post(admin.client, _queue_body(), key)).status_code == 201
    # Another tenant's admin with the same key and another body: a fresh request, not a 422.
    second = await _post(other.client, _queue_body(), key)
    await other.client.aclose()
    assert second.status_code == 201, second.text
    assert idempotency.REPLAYED_HEADER not in second.headers


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "é-accent"])
async def test_malformed_keys_are_400(admin: Admin, key: str) -> None:
    body = _queue_body()
    response = await admin.client.post(
        QUEUES,
        content=body,
        headers=[(b"Content-Type", b"application/json"), (idempotency.HEADER.encode(), key.encode())],
    )
    problem = _problem(response, 400)
    assert problem["type"] == "https://tenline.dev/problems/invalid-idempotency-key"
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert [(error["field"], error["source"]) for error in errors] == [(idempotency.HEADER, "header")]
    assert json.loads(body)["name"] not in await _queue_names(admin.client)


async def test_a_repeated_patch_is_applied_once(admin: Admin) -> None:
    created = (await _post(admin.client, _queue_body(), str(uuid.uuid4()))).json()
    path, key = f"{QUEUES}/{created['id']}", str(uuid.uuid4())
    change = {"Content-Type": "application/json", idempotency.HEADER: key}
    first = await admin.client.patch(path, content=b'{"priority": 5}', headers=change)
    assert first.status_code == 200 and first.json()["version"] == 2
    repeat = await admin.client.patch(path, content=b'{"priority": 5}', headers=change)
    assert repeat.headers[idempotency.REPLAYED_HEADER] == "true" and repeat.json()["version"] == 2
    assert (await admin.client.get(path)).json()["version"] == 2
    reused = await admin.client.patch(path, content=b'{"priority": 6}', headers=change)
    _problem(reused, 422)


async def test_the_key_is_documented_on_post_operations(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/schema/openapi.json")).json()
    post = schema["paths"][QUEUES]["post"]
    assert any(p["name"] == idempotency.HEADER and p["in"] == "header" for p in post["parameters"])
    assert any(p["name"] == idempotency.HEADER for p in schema["paths"][QUEUES + "/{queue_id}"]["patch"]["parameters"])
    get = schema["paths"][QUEUES]["get"]
    assert all(p["name"] != idempotency.HEADER for p in get.get("parameters", []))
    assert "RateLimit-Remaining" in schema["info"]["description"]


async def test_a_5xx_is_not_kept_so_the_client_may_retry() -> None:
    # No API route fails on purpose, so the middleware runs here around an application that fails once
    # and then succeeds, with the real Redis; nothing of it is in production code.
    answers = iter([(503, b'{"status":503}'), (201, b'{"id":1}')])
    calls = 0

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal calls
        calls += 1
        await receive()
        status, body = next(answers)
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"x/y")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    middleware = idempotency.idempotency_middleware(application)
    principal = Principal(kind="api_client", subject_id=uuid.uuid4(), tenant_id=uuid.uuid4())
    key = str(uuid.uuid4())

    async def call() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> HTTPRequestEvent:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(dict(message))

        scope: Any = {
            "type": "http",
            "method": "POST",
            "path": QUEUES,
            "query_string": b"",
            "headers": [(idempotency.HEADER.lower().encode(), key.encode())],
            "user": principal,
        }
        await middleware(scope, receive, send)
        return sent

    failed = await call()
    assert failed[0]["status"] == 503
    assert await get_redis().exists(idempotency.redis_key(principal, key)) == 0
    retried = await call()
    assert retried[0]["status"] == 201
    assert calls == 2
    replayed = await call()
    assert replayed[0]["status"] == 201
    assert (idempotency.REPLAYED_HEADER.lower().encode(), b"true") in replayed[0]["headers"]
    assert calls == 2


# --- Rate limits ---------------------------------------------------------------------------------------


def _quota(response: httpx.Response) -> tuple[int, int, int]:
    headers = response.headers
    return int(headers["RateLimit-Limit"]), int(headers["RateLimit-Remaining"]), int(headers["RateLimit-Reset"])


async def test_every_api_response_carries_the_rate_limit_headers(admin: Admin) -> None:
    first = await admin.client.get(QUEUES)
    second = await admin.client.get(QUEUES)
    missing = await admin.client.get(f"{QUEUES}/{uuid.uuid4()}")
    # The session's server runs with the test environment's limit (the default unless it sets one).
    window = ratelimit.rate(get_settings().api_rate_limit)
    limit, remaining, reset = _quota(first)
    assert limit == window.amount
    assert 0 < reset <= window.get_expiry() + 1
    assert _quota(second)[1] == remaining - 1
    assert missing.status_code == 404
    assert _quota(missing)[1] == remaining - 2
    assert first.headers["RateLimit-Policy"] == f"{window.amount};w={window.get_expiry()}"


@pytest.fixture(scope="module")
def limited_server(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second web server whose tenants may make five API requests a minute."""
    port = free_port()
    log: Path = tmp_path_factory.mktemp("limited") / "server.log"
    url = f"http://127.0.0.1:{port}"
    env = {**services.env, "TENLINE_BASE_URL": url, "TENLINE_API_RATE_LIMIT": "5/minute"}
    process = start_process(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    wait_until_up(url + "/healthz", process, log)
    yield LiveServer(url, process)
    stop_process(process)


async def test_a_tenant_past_its_limit_gets_429_and_others_do_not(limited_server: LiveServer) -> None:
    a, b = await _admin(limited_server.url), await _admin(limited_server.url)
    assert a.principal.tenant_id is not None
    api_client, secret = await make_api_client(a.principal.tenant_id, ["queues:read"])
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as program:
        token = await program.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(api_client.client_id, secret)
        )
        program.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

        # The tenant's session and its API client share one window.
        remaining = []
        for client in (a.client, program, a.client, program, a.client):
            response = await client.get(QUEUES)
            assert response.status_code == 200, response.text
            remaining.append(_quota(response)[1])
        assert remaining == [4, 3, 2, 1, 0]

        refused = await program.get(QUEUES)
        problem = _problem(refused, 429)
        assert 0 < int(refused.headers["Retry-After"]) <= 61
        assert _quota(refused)[:2] == (5, 0)
        assert "rate limit" in str(problem["detail"])
        _problem(await a.client.get(QUEUES), 429)

        other = await b.client.get(QUEUES)
        assert other.status_code == 200, other.text
        assert _quota(other)[:2] == (5, 4)
    await a.client.aclose()
    await b.client.aclose()
