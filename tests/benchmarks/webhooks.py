"""Signed webhook deliveries against a no-op Dramatiq actor, and a customer upsert with an Idempotency-Key.

`tenline bench webhooks [--quick] [--json]`. The benchmark provisions its own database and Redis the way the
test suite does (the servers named by TENLINE_TEST_ADMIN_DATABASE_URL and TENLINE_TEST_REDIS_URL, or embedded
ones), creates a tenant with one webhook endpoint and an OAuth2 API client with `customers:write`, and
measures in one run:

- `deliveries_per_second`: N deliveries (5,000; --quick 500) are made up front for the endpoint, which points
  at a receiver in its own process (`webhook_receiver_app.py` under uvicorn: it answers 204 and verifies every
  10th signature with the official `standardwebhooks` library). A real `tenline worker` is started and warmed
  up with a first batch; then the N `deliver` messages are enqueued as Tenline's actors enqueue them, and the
  figure is N over the wall time from the first enqueue until PostgreSQL shows the last one succeeded (polled
  every 20 ms). Every delivery must succeed at its first attempt and the receiver must refuse no signature.
- `noop_messages_per_second`: N messages to an actor that does nothing (`noop_actor.py`, declared like
  Tenline's actors), on the same Redis, run by the Dramatiq command `tenline worker` runs
  (`dramatiq app.server.actors:setup`, same processes and threads) with the no-op's module added; enqueued the
  same way, timed until the broker holds none of them (each acknowledged after its run). The `tenline worker`
  process around Dramatiq (outbox relay, scheduler) is not in this run; it idles through the other.
- `ratio` = deliveries_per_second / noop_messages_per_second: what a delivery (its row and its endpoint's
  locked, the request signed and sent, the log written) costs against the message alone.
- `customer_upsert_*`: `tenline serve` (one process) loaded by wrk as `api.py` loads it (same threads,
  connections and warm-up) with `PUT /api/v1/customers/by-external-id/{id}`, each request with its own
  external id and Idempotency-Key (`customer_upsert.lua`): each creates a customer and stores its first
  response under its key. Every answer must be 2xx, and the run must have made at least as many customers as
  wrk counted answers.

Everything shares the machine's cores (PostgreSQL, Redis, the receiver, wrk), as in `api.py`: the figures are
for this machine as it was (`cpu_count` and the load average before the run are reported).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import sqlalchemy as sa
from dramatiq.brokers.redis import RedisBroker
from sqlmodel import col, select

from app.core.broker import configure_broker
from app.core.clock import utcnow
from app.core.db import configure_database, get_database, reset_database
from app.core.ratelimit import configure_rate_limits
from app.core.redis import configure_redis, get_redis
from app.core.settings import get_settings
from app.core.tenancy import acting_as, system_principal
from app.customers.models import Customer
from app.integrations import schemas, service
from app.integrations.actors import deliver
from app.integrations.models import WebhookDelivery
from app.server.worker import dramatiq_command
from tests.benchmarks import noop_actor, webhook_receiver_app
from tests.benchmarks.api import CONNECTIONS, THREADS, Load, measure
from tests.conftest import (
    ROOT,
    Services,
    free_port,
    provisioned_services,
    spawn,
    start_process,
    stop_process,
    wait_until_up,
)
from tests.factories import make_api_client, make_tenant

MESSAGES = 5_000
QUICK_MESSAGES = 500
WARMUP_MESSAGES = 100
EVENT_TYPE: schemas.EventType = "sla.breached"
SCOPE = "customers:write"
UPSERT_SCRIPT = Path(__file__).with_name("customer_upsert.lua")
# `tenline worker`'s defaults, spelled out: both runs get them.
WORKER_PROCESSES = 1
WORKER_THREADS = 4
WORKER_ENV = {"TENLINE_WORKER_PROCESSES": str(WORKER_PROCESSES), "TENLINE_WORKER_THREADS": str(WORKER_THREADS)}
POLL_SECONDS = 0.02
DEADLINE_SECONDS = 900

RECEIVER_COMMAND = [
    sys.executable,
    "-m",
    "uvicorn",
    f"{webhook_receiver_app.__name__}:create_app",
    "--factory",
    "--workers",
    "1",
    "--no-access-log",
    "--lifespan",
    "off",
    "--log-level",
    "warning",
]


# --- seeding -------------------------------------------------------------------------------------


async def _seed(receiver_url: str) -> tuple[uuid.UUID, str, str, str]:
    """The tenant, its endpoint and its API client: (tenant id, endpoint secret, client id, client secret)."""
    tenant = await make_tenant("bench-hooks")
    with acting_as(system_principal(tenant.id)):
        async with get_database().session() as session:
            endpoint = await service.create_endpoint(
                session, schemas.EndpointCreate(url=receiver_url, event_types=[EVENT_TYPE])
            )
    client, client_secret = await make_api_client(tenant.id, [SCOPE], name="bench-crm")
    return tenant.id, endpoint.secret, client.client_id, client_secret


def _event_data(sequence: int) -> dict[str, Any]:
    """An SLA breach as the SLA service reports it (the size of a typical event)."""
    return {
        "sequence": sequence,
        "contract_id": str(uuid.uuid4()),
        "queue_id": str(uuid.uuid4()),
        "target": "service_level",
        "threshold": 0.8,
        "attained": 0.7342,
        "window_start": "2026-11-26T09:00:00+00:00",
    }


async def _make_deliveries(tenant_id: uuid.UUID, count: int, batch: int = 500) -> list[uuid.UUID]:
    """``count`` deliveries for the endpoint, made as an outbox event makes them (one per event)."""
    made: list[uuid.UUID] = []
    with acting_as(system_principal(tenant_id)):
        for start in range(0, count, batch):
            async with get_database().session() as session:
                for sequence in range(start, min(count, start + batch)):
                    made += await service.create_deliveries(
                        session, uuid.uuid4(), EVENT_TYPE, utcnow(), _event_data(sequence)
                    )
    return made


# --- timing messages -----------------------------------------------------------------------------


def _enqueue(tenant_id: uuid.UUID, ids: Sequence[uuid.UUID], send: Callable[[uuid.UUID], object]) -> None:
    """Each message in the tenant's context, one at a time, as the actors send theirs."""
    with acting_as(system_principal(tenant_id)):
        for item in ids:
            send(item)


def _send_delivery(delivery_id: uuid.UUID) -> object:
    return deliver.send(schemas.DeliveryDue(delivery_id=delivery_id))


def _send_noop(item: uuid.UUID) -> object:
    return noop_actor.noop.send(noop_actor.Ping(id=item))


async def _succeeded(tenant_id: uuid.UUID) -> int:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            statement = select(sa.func.count()).where(col(WebhookDelivery.status) == "succeeded")
            return (await session.exec(statement.select_from(WebhookDelivery))).one()


class Timing(NamedTuple):
    seconds: float  # from the first enqueue until the last message's work is done
    enqueue_seconds: float  # of which enqueueing (the workers work meanwhile)


async def _time_deliveries(tenant_id: uuid.UUID, ids: Sequence[uuid.UUID], already_succeeded: int) -> Timing:
    """From the first enqueue until the database shows every one of ``ids`` succeeded."""
    started = time.monotonic()
    _enqueue(tenant_id, ids, _send_delivery)
    enqueued = time.monotonic()
    while await _succeeded(tenant_id) < already_succeeded + len(ids):
        if time.monotonic() - started > DEADLINE_SECONDS:
            raise RuntimeError(f"deliveries did not finish in {DEADLINE_SECONDS} s")
        await asyncio.sleep(POLL_SECONDS)
    return Timing(time.monotonic() - started, enqueued - started)


def _time_noops(tenant_id: uuid.UUID, count: int) -> Timing:
    """From the first enqueue until the broker holds none of the messages (each acknowledged after its run)."""
    broker = configure_broker(get_settings())
    assert isinstance(broker, RedisBroker)
    started = time.monotonic()
    _enqueue(tenant_id, [uuid.uuid4() for _ in range(count)], _send_noop)
    enqueued = time.monotonic()
    broker.join(noop_actor.QUEUE, interval=int(POLL_SECONDS * 1000), timeout=DEADLINE_SECONDS * 1000)
    return Timing(time.monotonic() - started, enqueued - started)


async def _check_deliveries(tenant_id: uuid.UUID, expected: int, receiver_url: str) -> int:
    """Every delivery succeeded at its first attempt and the receiver refused no signature; returns how many
    signatures it verified."""
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            statement = select(sa.func.count()).where(
                col(WebhookDelivery.status) == "succeeded", col(WebhookDelivery.attempts) == 1
            )
            first_time = (await session.exec(statement.select_from(WebhookDelivery))).one()
    stats = httpx.get(receiver_url, timeout=10).json()
    if first_time != expected or stats["received"] != expected or stats["refused"] or not stats["verified"]:
        raise RuntimeError(
            f"{expected} deliveries: {first_time} succeeded at the first attempt; the receiver got "
            f"{stats['received']}, verified {stats['verified']} and refused {stats['refused']} signatures"
        )
    return int(stats["verified"])


# --- the API -------------------------------------------------------------------------------------


def _bearer_token(base_url: str, client_id: str, secret: str) -> str:
    """A client-credentials token, and a check that an upsert with a key is replayed when repeated."""
    response = httpx.post(
        base_url + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(client_id, secret),
        timeout=30,
    )
    if response.status_code != 200:
        raise RuntimeError(f"POST /oauth/token answered {response.status_code}: {response.text}")
    token = str(response.json()["access_token"])
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "bench-check"}
    url = base_url + "/api/v1/customers/by-external-id/bench-check"
    answers = [httpx.put(url, json={"name": "Check"}, headers=headers, timeout=30) for _ in range(2)]
    if [a.status_code for a in answers] != [201, 201] or answers[1].headers.get("idempotent-replayed") != "true":
        raise RuntimeError(
            "the upsert with an Idempotency-Key answered "
            + ", ".join(f"{a.status_code} {a.headers.get('idempotent-replayed')} {a.text[:200]}" for a in answers)
        )
    return token


async def _customers(tenant_id: uuid.UUID) -> int:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return (await session.exec(select(sa.func.count()).select_from(Customer))).one()


def _load_upserts(
    wrk: str, services: Services, logs: Path, client_id: str, secret: str, *, warmup: int, seconds: int
) -> Load:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_process(
        ["serve", "--host", "127.0.0.1", "--port", str(port)],
        {**services.env, "TENLINE_BASE_URL": url},
        logs / "tenline.log",
    )
    try:
        wait_until_up(url + "/healthz", server, logs / "tenline.log")
        token = _bearer_token(url, client_id, secret)
        load = measure(
            wrk,
            url + "/",  # the script gives each request its path
            {"Authorization": f"Bearer {token}"},
            server.pid,
            warmup=warmup,
            seconds=seconds,
            script=UPSERT_SCRIPT,
        )
    finally:
        stop_process(server)
    if load.non_2xx or load.socket_errors:
        raise RuntimeError(
            f"Tenline answered {load.non_2xx} upserts with an error status and lost {load.socket_errors} to "
            f"socket errors; its log:\n{(logs / 'tenline.log').read_text()[-4000:]}"
        )
    return load


# --- the run -------------------------------------------------------------------------------------


async def _measure(services: Services, logs: Path, wrk: str, count: int, warmup: int, seconds: int) -> dict[str, Any]:
    receiver_port = free_port()
    receiver_base = f"http://127.0.0.1:{receiver_port}"
    tenant_id, endpoint_secret, client_id, client_secret = await _seed(receiver_base + "/hooks")
    warmup_ids = await _make_deliveries(tenant_id, WARMUP_MESSAGES)
    measured_ids = await _make_deliveries(tenant_id, count)
    configure_broker(get_settings())
    worker_env = {**services.env, **WORKER_ENV}
    load_average = os.getloadavg()[0]

    receiver = spawn(
        [*RECEIVER_COMMAND, "--host", "127.0.0.1", "--port", str(receiver_port)],
        {webhook_receiver_app.SECRET_VARIABLE: endpoint_secret},
        logs / "receiver.log",
    )
    try:
        wait_until_up(receiver_base + webhook_receiver_app.STATS_PATH, receiver, logs / "receiver.log")
        worker = start_process(["worker"], worker_env, logs / "worker.log")
        try:
            await _time_deliveries(tenant_id, warmup_ids, 0)
            deliveries = await _time_deliveries(tenant_id, measured_ids, len(warmup_ids))
        finally:
            stop_process(worker)
        verified = await _check_deliveries(
            tenant_id, len(warmup_ids) + count, receiver_base + webhook_receiver_app.STATS_PATH
        )
    finally:
        stop_process(receiver)

    # The Dramatiq half of `tenline worker`, with the same settings and the no-op's module added.
    command = dramatiq_command(
        get_settings().model_copy(update={"worker_processes": WORKER_PROCESSES, "worker_threads": WORKER_THREADS})
    )
    command.insert(command.index("app.server.actors:setup") + 1, noop_actor.__name__)
    noop_worker = spawn(command, worker_env, logs / "noop-worker.log")
    try:
        _time_noops(tenant_id, WARMUP_MESSAGES)
        noops = _time_noops(tenant_id, count)
    finally:
        stop_process(noop_worker)

    customers_before = await _customers(tenant_id)
    load = _load_upserts(wrk, services, logs, client_id, client_secret, warmup=warmup, seconds=seconds)
    customers_made = await _customers(tenant_id) - customers_before
    # wrk counts the requests answered within its measured run; the warm-up's made customers too.
    if customers_made < load.requests:
        raise RuntimeError(f"{load.requests} upserts answered 2xx but only {customers_made} customers were made")

    deliveries_per_second = count / deliveries.seconds
    noop_per_second = count / noops.seconds
    return {
        "deliveries_per_second": round(deliveries_per_second, 1),
        "noop_messages_per_second": round(noop_per_second, 1),
        "ratio": round(deliveries_per_second / noop_per_second, 4),
        "messages": count,
        "deliveries_seconds": round(deliveries.seconds, 3),
        "deliveries_enqueue_seconds": round(deliveries.enqueue_seconds, 3),
        "noop_seconds": round(noops.seconds, 3),
        "noop_enqueue_seconds": round(noops.enqueue_seconds, 3),
        "signatures_verified_by_receiver": verified,
        "worker_processes": WORKER_PROCESSES,
        "worker_threads": WORKER_THREADS,
        "customer_upsert_requests_per_second": round(load.requests_per_second, 1),
        "customer_upsert_p50_ms": round(load.p50_ms, 2),
        "customer_upsert_p99_ms": round(load.p99_ms, 2),
        "customer_upsert_requests": load.requests,
        "customer_upsert_non_2xx": load.non_2xx,
        "customer_upsert_socket_errors": load.socket_errors,
        "customer_upsert_server_cpu_ms_per_request": load.server_cpu_ms_per_request,
        "customers_made": customers_made,
        "upsert_duration_seconds": seconds,
        "upsert_warmup_seconds": warmup,
        "connections": CONNECTIONS,
        "threads": THREADS,
        "cpu_count": os.cpu_count(),
        "load_average_before": round(load_average, 2),
    }


async def _run(services: Services, logs: Path, wrk: str, count: int, warmup: int, seconds: int) -> dict[str, Any]:
    configure_database(services.app_url, pool_size=2)
    configure_redis(services.redis_url)
    configure_rate_limits(services.redis_url)
    try:
        return await _measure(services, logs, wrk, count, warmup, seconds)
    finally:
        await get_redis().aclose()
        await reset_database()


def run(quick: bool = False) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("the webhooks benchmark needs the wrk load generator: apt-get install -y wrk (Debian)")
    count, warmup, seconds = (QUICK_MESSAGES, 1, 3) if quick else (MESSAGES, 5, 15)
    with (
        tempfile.TemporaryDirectory(prefix="tenline-bench-") as tmp,
        provisioned_services(ROOT / ".tenline" / "bench", "tenline_bench") as services,
    ):
        return asyncio.run(_run(services, Path(tmp), wrk, count, warmup, seconds))
