"""API throughput: a tenant-scoped list endpoint of Tenline against a bare Litestar hello world.

`tenline bench api [--quick] [--json]` runs it. The benchmark provisions its own database and Redis
the way the test suite does: the servers named by TENLINE_TEST_ADMIN_DATABASE_URL and
TENLINE_TEST_REDIS_URL, or embedded ones. It creates a tenant with 200 assigned agents and an
OAuth2 API client with the `agents:read` scope, and takes a bearer token from `POST /oauth/token`.
Then it serves

- Tenline with `tenline serve` (uvicorn, one process), loaded with
  `GET /api/v1/agents?limit=50` and the bearer token, and
- `tests/benchmarks/hello_app.py` with uvicorn in one process with the same options, loaded with
  `GET /hello`.

Both get the same load from Debian's `wrk` in a separate process (same threads, connections and
duration, after a warm-up). wrk shares the machine's cores with the server it loads, which holds for
both, so the ratio stays fair while the absolute figures are lower than on separate machines. The
server process's own CPU time per request (from /proc) is reported too: it does not depend on what
else runs on the machine (PostgreSQL's and Redis's CPU are not in it).
Tenline must answer every request with a 2xx status, or the benchmark fails.

--quick seeds fewer agents (still more than a page, so each request does the same work) and loads
for 3 s instead of 15 s.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.benchmarks import hello_app
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
from tests.factories import make_agent, make_api_client, make_tenant

AGENTS = 200
QUICK_AGENTS = 60  # more than a page: the list request does the same work as with 200
PAGE_SIZE = 50
SCOPE = "agents:read"
THREADS = 2
CONNECTIONS = 32
LIST_PATH = f"/api/v1/agents?limit={PAGE_SIZE}"

# `tenline serve` runs uvicorn.run(factory=True, workers=1, access_log=False, proxy_headers=True,
# log_level=TENLINE_LOG_LEVEL); the baseline gets the same options on uvicorn's command line.
HELLO_COMMAND = [
    sys.executable,
    "-m",
    "uvicorn",
    f"{hello_app.__name__}:create_app",
    "--factory",
    "--workers",
    "1",
    "--no-access-log",
    "--proxy-headers",
    "--log-level",
    "warning",
]


@dataclass(frozen=True)
class Load:
    """What wrk measured against one URL."""

    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu_ms_per_request: float | None


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _match(pattern: str, output: str) -> re.Match[str]:
    found = re.search(pattern, output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"unexpected wrk output (no match for {pattern!r}):\n{output}")
    return found


def _percentile_ms(output: str, percentile: int) -> float:
    found = _match(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output)
    return float(found.group(1)) * _UNIT_MS[found.group(2)]


def parse_wrk(output: str, server_cpu_seconds: float | None = None) -> Load:
    """Reads `wrk --latency` output (wrk counts responses with a status of 400 or more as non-2xx)."""
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    requests = int(_match(r"(\d+) requests in ", output).group(1))
    return Load(
        requests=requests,
        requests_per_second=float(_match(r"^Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=_percentile_ms(output, 50),
        p99_ms=_percentile_ms(output, 99),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
        server_cpu_ms_per_request=(
            round(server_cpu_seconds * 1000 / requests, 3) if server_cpu_seconds is not None and requests else None
        ),
    )


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3 of stat(5), utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(
    wrk: str, url: str, headers: dict[str, str], seconds: int, server_pid: int, script: Path | None, run: str
) -> Load:
    argv = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    script_args: list[str] = []
    if script is not None:
        argv += ["-s", str(script)]
        script_args = ["--", run]
    cpu_before = cpu_seconds(server_pid)
    result = subprocess.run(
        [*argv, url, *script_args], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    cpu_after = cpu_seconds(server_pid)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    used = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return parse_wrk(result.stdout, used)


def measure(
    wrk: str,
    url: str,
    headers: dict[str, str],
    server_pid: int,
    *,
    warmup: int,
    seconds: int,
    script: Path | None = None,
) -> Load:
    """A warm-up run (discarded), then the measured one; a wrk Lua ``script`` gets the run's name as its
    argument ("warmup", "measured")."""
    _wrk(wrk, url, headers, warmup, server_pid, script, "warmup")
    return _wrk(wrk, url, headers, seconds, server_pid, script, "measured")


async def _seed(services: Services, agents: int) -> tuple[str, str]:
    """The tenant, its agents and its API client; returns the client's id and secret."""
    from app.core.db import configure_database, reset_database
    from app.core.ratelimit import configure_rate_limits
    from app.core.redis import configure_redis, get_redis

    configure_database(services.app_url, pool_size=2)
    configure_redis(services.redis_url)
    configure_rate_limits(services.redis_url)
    try:
        tenant = await make_tenant("bench")
        for _ in range(agents):
            await make_agent(tenant.id)
        client, secret = await make_api_client(tenant.id, [SCOPE], name="bench-crm")
        return client.client_id, secret
    finally:
        await get_redis().aclose()
        await reset_database()


def bearer_token(base_url: str, client_id: str, secret: str) -> str:
    """The OAuth2 client-credentials flow, and a check that the token reads a full page of agents."""
    token_response = httpx.post(
        base_url + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(client_id, secret),
        timeout=30,
    )
    if token_response.status_code != 200:
        raise RuntimeError(f"POST /oauth/token answered {token_response.status_code}: {token_response.text}")
    token = str(token_response.json()["access_token"])
    page = httpx.get(base_url + LIST_PATH, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if page.status_code != 200 or len(page.json()["items"]) != PAGE_SIZE:
        raise RuntimeError(f"GET {LIST_PATH} answered {page.status_code}: {page.text[:500]}")
    return token


def _figures(prefix: str, load: Load) -> dict[str, Any]:
    return {
        f"{prefix}_requests_per_second": round(load.requests_per_second, 1),
        f"{prefix}_p50_ms": round(load.p50_ms, 2),
        f"{prefix}_p99_ms": round(load.p99_ms, 2),
        f"{prefix}_requests": load.requests,
        f"{prefix}_non_2xx": load.non_2xx,
        f"{prefix}_socket_errors": load.socket_errors,
        f"{prefix}_server_cpu_ms_per_request": load.server_cpu_ms_per_request,
    }


def run(quick: bool = False) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("the API benchmark needs the wrk load generator: apt-get install -y wrk (Debian)")
    seconds, warmup, agents = (3, 1, QUICK_AGENTS) if quick else (15, 5, AGENTS)
    with (
        tempfile.TemporaryDirectory(prefix="tenline-bench-") as tmp,
        provisioned_services(ROOT / ".tenline" / "bench", "tenline_bench") as services,
    ):
        client_id, secret = asyncio.run(_seed(services, agents))
        logs = Path(tmp)
        tenline_port, hello_port = free_port(), free_port()
        tenline_url, hello_url = f"http://127.0.0.1:{tenline_port}", f"http://127.0.0.1:{hello_port}"
        env = {**services.env, "TENLINE_BASE_URL": tenline_url}
        tenline = start_process(
            ["serve", "--host", "127.0.0.1", "--port", str(tenline_port)], env, logs / "tenline.log"
        )
        hello = spawn([*HELLO_COMMAND, "--host", "127.0.0.1", "--port", str(hello_port)], {}, logs / "hello.log")
        try:
            wait_until_up(tenline_url + "/healthz", tenline, logs / "tenline.log")
            wait_until_up(hello_url + hello_app.PATH, hello, logs / "hello.log")
            token = bearer_token(tenline_url, client_id, secret)
            load_average = os.getloadavg()[0]
            tenline_load = measure(
                wrk,
                tenline_url + LIST_PATH,
                {"Authorization": f"Bearer {token}"},
                tenline.pid,
                warmup=warmup,
                seconds=seconds,
            )
            hello_load = measure(wrk, hello_url + hello_app.PATH, {}, hello.pid, warmup=warmup, seconds=seconds)
        finally:
            stop_process(tenline)
            stop_process(hello)
        if tenline_load.non_2xx or tenline_load.socket_errors:
            raise RuntimeError(
                f"Tenline answered {tenline_load.non_2xx} requests with an error status and lost "
                f"{tenline_load.socket_errors} to socket errors; its log:\n{(logs / 'tenline.log').read_text()[-4000:]}"
            )
    return {
        **_figures("tenline", tenline_load),
        **_figures("hello", hello_load),
        "ratio": round(tenline_load.requests_per_second / hello_load.requests_per_second, 4),
        "duration_seconds": seconds,
        "warmup_seconds": warmup,
        "connections": CONNECTIONS,
        "threads": THREADS,
        "agents": agents,
        "page_size": PAGE_SIZE,
        "cpu_count": os.cpu_count(),
        "load_average_before": round(load_average, 2),
    }
