"""`tenline worker`: the Dramatiq worker processes, the outbox relay and the periodic-job scheduler.

One command, two halves:
- a ``dramatiq app.server.actors:setup`` child process (``worker_processes`` x ``worker_threads``) runs actors;
- this process relays the outbox (woken by PostgreSQL NOTIFY, polling as a fallback) and runs the scheduler.

Run as many as needed: relays share the outbox through ``SKIP LOCKED`` and only the scheduler-lock holder
sends periodic jobs. SIGTERM or SIGINT stops cleanly (the child finishes its messages, the lock is released);
the child gets SIGTERM from the kernel even if this process is killed outright, so no orphan keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator

import structlog

from app.core.logging import configure_logging
from app.core.settings import Settings, SettingsError

log = structlog.get_logger("tenline.worker")

_PR_SET_PDEATHSIG = 1


def dramatiq_command(settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "app.server.actors:setup",
        "--processes",
        str(settings.worker_processes),
        "--threads",
        str(settings.worker_threads),
        "--worker-shutdown-timeout",
        str(settings.worker_shutdown_timeout_seconds * 1000),
    ]


def run_worker(settings: Settings) -> None:
    if not settings.database_url or not settings.redis_url:
        raise SettingsError("TENLINE_DATABASE_URL and TENLINE_REDIS_URL must be set (`tenline up` sets them)")
    configure_logging(settings.log_level, json=settings.log_json)
    with _child_environment(settings) as env:
        # Its own session: a terminal's Ctrl-C reaches this process only, which then stops the child once.
        child = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            dramatiq_command(settings), env=env, preexec_fn=_die_with_parent_hook(), start_new_session=True
        )
        try:
            code = asyncio.run(_serve(settings, child))
        finally:
            _stop(child, settings.worker_shutdown_timeout_seconds + 5)
    if code:
        raise SystemExit(code)


@contextlib.contextmanager
def _child_environment(settings: Settings) -> Iterator[dict[str, str]]:
    """The child's environment; with metrics on, a fresh folder its processes write their metrics to."""
    env = dict(os.environ)
    if not settings.worker_metrics_port:
        yield env
        return
    folder = tempfile.mkdtemp(prefix="tenline-worker-metrics-")
    # Set before the child imports prometheus_client, so every process writes to the shared folder.
    env.update(
        PROMETHEUS_MULTIPROC_DIR=folder,
        dramatiq_prom_db=folder,
        dramatiq_prom_host=settings.host,
        dramatiq_prom_port=str(settings.worker_metrics_port),
    )
    try:
        yield env
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _die_with_parent_hook() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def die_with_parent() -> None:
        # Runs in the child before exec: the kernel sends SIGTERM when the parent dies, even by SIGKILL (once per
        # thread of ours that exits, so possibly more than once: Dramatiq then stops its workers at once).
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return die_with_parent


def _stop(child: subprocess.Popen[bytes], timeout: float) -> None:
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("worker.child_killed", pid=child.pid)
        child.kill()
        child.wait()


async def _serve(settings: Settings, child: subprocess.Popen[bytes]) -> int:
    """Relay and schedule until a signal arrives or the child dies; returns the exit code."""
    # Imported only now, after the child started: both processes load the (slow to import) app in parallel.
    import app.server.actors  # noqa: F401  (the relay and scheduler need every subscription and periodic job)
    from app.core.broker import configure_broker
    from app.core.db import configure_database, get_database, reset_database
    from app.core.outbox import run_relay
    from app.core.redis import configure_redis
    from app.server.scheduler import Scheduler
    from tenants import service as tenant_service

    async def live_tenant_ids() -> list[uuid.UUID]:
        async with get_database().session() as session:
            return await tenant_service.live_tenant_ids(session)

    assert settings.database_url and settings.redis_url
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    configure_database(settings.database_url, pool_size=2)
    redis = configure_redis(settings.redis_url)
    configure_broker(settings)
    scheduler = Scheduler(redis, lock_ttl_seconds=settings.scheduler_lock_ttl_seconds, tenant_ids=live_tenant_ids)
    tasks = [
        asyncio.create_task(
            run_relay(
                stop,
                interval_seconds=settings.outbox_relay_interval_seconds,
                batch_size=settings.outbox_relay_batch_size,
                listen_url=settings.database_url,
            ),
            name="outbox-relay",
        ),
        asyncio.create_task(scheduler.run(stop), name="scheduler"),
    ]
    log.info("worker.started", dramatiq_pid=child.pid)
    code = 0
    try:
        while not stop.is_set():
            if child.poll() is not None:
                log.error("worker.dramatiq_exited", code=child.returncode)
                code = 1
                break
            crashed = next((task for task in tasks if task.done()), None)
            if crashed is not None:
                log.error("worker.task_exited", task=crashed.get_name(), error=repr(crashed.exception()))
                code = 1
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
        stop.set()
        await asyncio.wait(tasks, timeout=settings.scheduler_lock_ttl_seconds)
    finally:
        for task in tasks:
            task.cancel()
        await reset_database()
        await redis.aclose()
    log.info("worker.stopped", code=code)
    return code
