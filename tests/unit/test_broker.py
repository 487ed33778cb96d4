"""The broker's middleware on Dramatiq's StubBroker and a real Dramatiq worker: tenant context, retries, dead letters."""

from __future__ import annotations

import uuid
from collections import Counter as Tally
from collections.abc import Iterator

import dramatiq
import pytest
import structlog
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Middleware
from prometheus_client import REGISTRY

from app.core.broker import (
    PRINCIPAL_OPTION,
    BrokerNotConfigured,
    actor,
    configure_broker,
    install_broker,
    middleware_stack,
    reset_broker,
)
from app.core.settings import Settings
from app.core.structs import Job
from app.core.tenancy import Principal, Role, acting_as, current_principal


class Probe(Job, frozen=True):
    label: str
    reference: uuid.UUID


seen: dict[str, tuple[Principal | None, object]] = {}
attempts: Tally[str] = Tally()
left_behind: list[Principal | None] = []


class ContextAfterwards(Middleware):
    """First in the stack, so its after-hook runs last: records what the worker thread is left with."""

    def after_process_message(self, broker: dramatiq.Broker, message: object, **kwargs: object) -> None:
        left_behind.append(current_principal())


@actor(max_retries=0)
async def tenant_probe(probe: Probe) -> None:
    seen[probe.label] = (current_principal(), probe.reference)


@actor(tenant_required=False, max_retries=0)
async def operator_probe(probe: Probe) -> None:
    seen[probe.label] = (current_principal(), probe.reference)


@actor(max_retries=2, min_backoff=10, max_backoff=20)
async def always_failing(probe: Probe) -> None:
    attempts[probe.label] += 1
    raise RuntimeError(f"attempt {attempts[probe.label]} failed")


def _settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


@pytest.fixture
def stub() -> Iterator[StubBroker]:
    broker = StubBroker(middleware=middleware_stack(_settings()))
    broker.add_middleware(ContextAfterwards(), before=AgeLimit)
    broker.emit_after("process_boot")
    install_broker(broker)
    # One thread: consecutive messages share it, which is what could leak a tenant from one to the next.
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    seen.clear()
    attempts.clear()
    left_behind.clear()
    yield broker
    worker.stop()
    reset_broker()


def _drain(broker: StubBroker) -> None:
    broker.join("default", fail_fast=False, timeout=10_000)


def _dead_letters(actor_name: str) -> float:
    return REGISTRY.get_sample_value("tenline_jobs_dead_lettered_total", {"actor": actor_name, "queue": "default"}) or 0


def test_a_message_runs_in_its_senders_tenant_and_the_next_one_does_not_inherit_it(stub: StubBroker) -> None:
    tenant_a, tenant_b, user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sender = Principal(
        kind="user",
        subject_id=user,
        tenant_id=tenant_a,
        roles=frozenset({Role.TENANT_ADMIN}),
        scopes=frozenset({"contacts:read"}),
        display_name="Ada Admin",
        ip="192.0.2.7",
    )
    reference = uuid.uuid4()
    with acting_as(sender):
        message = tenant_probe.send(Probe(label="a", reference=reference))
    with acting_as(Principal(kind="system", tenant_id=tenant_b)):
        tenant_probe.send(Probe(label="b", reference=reference))
    operator_probe.send(Probe(label="none", reference=reference))
    _drain(stub)

    assert message.options[PRINCIPAL_OPTION] == {
        "kind": "user",
        "subject_id": str(user),
        "tenant_id": str(tenant_a),
        "roles": ["tenant_admin"],
        "display_name": "Ada Admin",
    }
    # The request's address and token scopes stay with the request.
    assert seen["a"] == (
        Principal(
            kind="user",
            subject_id=user,
            tenant_id=tenant_a,
            roles=frozenset({Role.TENANT_ADMIN}),
            display_name="Ada Admin",
        ),
        reference,
    )
    principal_b, _ = seen["b"]
    assert principal_b is not None and principal_b.tenant_id == tenant_b
    assert seen["none"] == (None, reference)
    assert left_behind == [None, None, None]


def test_a_tenant_actor_refuses_a_message_without_a_tenant(stub: StubBroker) -> None:
    before = _dead_letters(tenant_probe.name)
    with structlog.testing.capture_logs() as logs:
        tenant_probe.send(Probe(label="orphan", reference=uuid.uuid4()))
        with acting_as(Principal(kind="user", subject_id=uuid.uuid4(), roles=frozenset({Role.OPERATOR_ADMIN}))):
            tenant_probe.send(Probe(label="operator", reference=uuid.uuid4()))
        _drain(stub)

    assert "orphan" not in seen and "operator" not in seen
    assert [m.actor_name for m in stub.dead_letters] == [tenant_probe.name, tenant_probe.name]
    assert _dead_letters(tenant_probe.name) == before + 2
    events = [entry["event"] for entry in logs]
    assert events.count("job.tenant_context_missing") == 2
    assert events.count("job.dead_lettered") == 2


def test_a_failing_job_is_retried_with_backoff_then_dead_lettered(stub: StubBroker) -> None:
    before = _dead_letters(always_failing.name)
    with structlog.testing.capture_logs() as logs, acting_as(Principal(kind="system", tenant_id=uuid.uuid4())):
        always_failing.send(Probe(label="flaky", reference=uuid.uuid4()))
        _drain(stub)

    assert attempts["flaky"] == 3  # the first try and max_retries=2 more
    assert [m.actor_name for m in stub.dead_letters] == [always_failing.name]
    assert stub.dead_letters[0].options["retries"] == 3
    assert _dead_letters(always_failing.name) == before + 1
    (dead,) = [entry for entry in logs if entry["event"] == "job.dead_lettered"]
    assert dead["actor"] == always_failing.name
    assert dead["error"] == "RuntimeError: attempt 3 failed"


def test_sending_before_a_broker_is_configured_is_refused() -> None:
    reset_broker()
    with pytest.raises(BrokerNotConfigured):
        operator_probe.send(Probe(label="lost", reference=uuid.uuid4()))


SOCKET = "/run/tenline/redis.sock"  # never connected to: the broker connects lazily


def test_configure_broker_is_idempotent_and_takes_unix_socket_urls() -> None:
    settings = _settings(redis_url=f"unix://{SOCKET}?db=3", job_max_retries=4)
    try:
        broker = configure_broker(settings)
        assert configure_broker(settings) is broker
        assert isinstance(broker, RedisBroker)
        assert broker.client.connection_pool.connection_kwargs["path"] == SOCKET
        assert broker.client.connection_pool.connection_kwargs["db"] == 3
        assert tenant_probe.bound is broker.get_actor(tenant_probe.name)
        other = configure_broker(_settings(redis_url="redis://127.0.0.1:6379/9", job_max_retries=4))
        assert other is not broker and tenant_probe.bound is other.get_actor(tenant_probe.name)
    finally:
        reset_broker()
