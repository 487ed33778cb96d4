"""Shared fixtures: real PostgreSQL and Redis, a real web server process, real HTTP.

Services: TENLINE_TEST_ADMIN_DATABASE_URL (a superuser URL) and TENLINE_TEST_REDIS_URL when set
(CI points them at the machine's servers); otherwise embedded PostgreSQL and Redis in .tenline/test.
Each test session gets its own database, so concurrent runs do not meet.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from app.core.settings import get_settings
from app.server.local_services import EmbeddedServices, bootstrap_database, drop_database
from app.server.migrate import upgrade
from tests.webhook_receiver import Receiver, running_receiver

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Services:
    admin_url: str
    owner_url: str
    app_url: str
    redis_url: str
    database: str
    env: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def provisioned_services(embedded_dir: Path, database_prefix: str) -> Iterator[Services]:
    """A fresh migrated database and Redis, with TENLINE_* set in this process; dropped afterwards.

    The configured servers (TENLINE_TEST_ADMIN_DATABASE_URL, TENLINE_TEST_REDIS_URL) or embedded ones
    in ``embedded_dir``. The test session and the benchmarks use it.
    """
    embedded = EmbeddedServices(embedded_dir)
    admin_url = os.environ.get("TENLINE_TEST_ADMIN_DATABASE_URL") or embedded.postgres_admin_url()
    redis_url = os.environ.get("TENLINE_TEST_REDIS_URL") or embedded.redis_url()
    database = f"{database_prefix}_{secrets.token_hex(4)}"
    urls = bootstrap_database(admin_url, database)
    env = {
        "TENLINE_ENVIRONMENT": "test",
        "TENLINE_DATABASE_URL": urls.app,
        "TENLINE_DATABASE_OWNER_URL": urls.owner,
        "TENLINE_REDIS_URL": redis_url,
        "TENLINE_SECRET_KEY": "test-secret-key-" + "x" * 32,
        "TENLINE_LOG_LEVEL": "WARNING",
        # The session's own router pool: its command stream and live keys meet no other run's in Redis.
        "TENLINE_ROUTER_POOL": database.replace("_", "-"),
        # One operator and one client address make most of a session's requests: no throttling but where a
        # test sets its own limit (tests/integration/test_api_conventions.py).
        "TENLINE_API_RATE_LIMIT": "1000000/minute",
        # Webhook tests deliver to receivers on this machine, which the SSRF guard refuses otherwise.
        "TENLINE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    previous = {key: os.environ.get(key) for key in env}
    try:
        upgrade(urls.owner)
        os.environ.update(env)
        get_settings.cache_clear()
        yield Services(admin_url, urls.owner, urls.app, redis_url, database, env)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        drop_database(admin_url, database)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    with provisioned_services(ROOT / ".tenline" / "test", "tenline_test") as provided:
        yield provided


@pytest.fixture(scope="session", autouse=True)
async def configured(services: Services) -> AsyncIterator[None]:
    """The test process's own database and Redis clients (the web server has its own)."""
    from app.core.db import configure_database, reset_database
    from app.core.ratelimit import configure_rate_limits
    from app.core.redis import configure_redis, get_redis

    configure_database(services.app_url, pool_size=5)
    configure_redis(services.redis_url)
    configure_rate_limits(services.redis_url)
    yield
    await get_redis().aclose()
    await reset_database()


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child process in the project root, its output in ``log``."""
    with log.open("wb") as handle:
        return subprocess.Popen(argv, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``tenline ARGS`` in a child process."""
    return spawn([sys.executable, "-m", "app.server.cli", *args], env, log)


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, *, timeout: float = 60) -> None:
    """Polls ``url`` until it answers 200; raises with the server's log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited:\n" + log.read_text())
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start:\n" + log.read_text())


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def live_server(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real web server in its own process, on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**services.env, "TENLINE_BASE_URL": f"http://127.0.0.1:{port}"}
    process = start_process(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/healthz", process, log)
    yield LiveServer(url, process)
    stop_process(process)


@pytest.fixture(scope="session")
def router_process(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    """The session pool's router (``tenline router``) in its own process, as in production.

    Tests that change routing configuration submit ``app.routing.commands.Reconfigure`` to the pool
    (``TENLINE_ROUTER_POOL`` in ``services.env``) so the router picks it up at once.
    """
    log = tmp_path_factory.mktemp("router") / "router.log"
    process = start_process(["router"], {**services.env, "TENLINE_LOG_LEVEL": "INFO"}, log)
    yield process
    stop_process(process)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as made:
        yield made


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous HTTP client on the live server (its own cookie jar)."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
