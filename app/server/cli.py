"""The `tenline` command line."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from app.core.settings import Settings, SettingsError, get_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _run(factory: Callable[[], Awaitable[T]], settings: Settings) -> T:
    """Runs one coroutine with the database and Redis configured, then closes them."""
    from app.core.db import configure_database, reset_database
    from app.core.ratelimit import configure_rate_limits
    from app.core.redis import configure_redis

    async def main() -> T:
        configure_database(_require(settings.database_url, "TENLINE_DATABASE_URL"))
        if settings.redis_url:
            configure_redis(settings.redis_url)
            configure_rate_limits(settings.redis_url)
        try:
            return await factory()
        finally:
            await reset_database()

    return asyncio.run(main())


def _require(value: str | None, name: str) -> str:
    if not value:
        raise click.UsageError(f"{name} is not set (or run `tenline up`, which starts embedded services)")
    return value


@click.group()
def main() -> None:
    """Tenline: a multi-tenant contact-center platform."""


@main.command()
@click.option("--host", default=None, help="address to listen on (default TENLINE_HOST)")
@click.option("--port", default=None, type=int, help="port (default TENLINE_PORT)")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="web processes")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the web server."""
    import uvicorn

    settings = _settings()
    _require(settings.database_url, "TENLINE_DATABASE_URL")
    _require(settings.redis_url, "TENLINE_REDIS_URL")
    uvicorn.run(
        "app.server.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=True,
    )


@main.command()
def worker() -> None:
    """Run background workers (Dramatiq), the outbox relay and the periodic jobs."""
    from app.server.worker import run_worker

    run_worker(_settings())


@main.group()
def db() -> None:
    """Database: bootstrap, migrations."""


@db.command("bootstrap")
@click.option("--admin-url", required=True, envvar="TENLINE_DATABASE_ADMIN_URL", help="a superuser URL")
@click.option("--database", default="tenline", show_default=True)
def db_bootstrap(admin_url: str, database: str) -> None:
    """Create the database roles and the database (idempotent); print the owner and runtime URLs.

    When TENLINE_DATABASE_OWNER_URL / TENLINE_DATABASE_URL carry a password, the owner and runtime
    roles are given it, so the deployment's connection URLs are the one source of the passwords.
    """
    from sqlalchemy.engine import make_url

    from app.server.local_services import APP_ROLE, OWNER_ROLE, bootstrap_database, set_role_passwords

    settings = _settings()
    passwords: dict[str, str] = {}
    for url, role in ((settings.database_owner_url, OWNER_ROLE), (settings.database_url, APP_ROLE)):
        parsed = make_url(url) if url else None
        if parsed is not None and parsed.password:
            if parsed.username != role:
                raise click.UsageError(f"the URL for the {role} role names the user {parsed.username!r}")
            passwords[role] = str(parsed.password)
    urls = bootstrap_database(admin_url, database)
    set_role_passwords(admin_url, passwords)
    click.echo(json.dumps({"owner_url": urls.owner, "app_url": urls.app, "passwords_set": sorted(passwords)}))


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (as the owner role, TENLINE_DATABASE_OWNER_URL)."""
    from app.server.migrate import upgrade

    upgrade(_require(_settings().database_owner_url, "TENLINE_DATABASE_OWNER_URL"), revision)


@db.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (add RLS with migrations.policies)."""
    from app.server.migrate import revision

    revision(_require(_settings().database_owner_url, "TENLINE_DATABASE_OWNER_URL"), message)


@db.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    from app.server.migrate import check

    check(_require(_settings().database_owner_url, "TENLINE_DATABASE_OWNER_URL"))


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
def demo_seed() -> None:
    """Create the demo operator, tenants, people and agents (idempotent)."""
    from app.server.demo import DEMO_PASSWORD, seed

    logins = _run(seed, _settings())
    for login in logins:
        click.echo(f"  {login.email:34} {login.role:15} {login.tenant or ''}")
    click.echo(f"  password for every demo login: {DEMO_PASSWORD}")


@main.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@click.option("--no-worker", is_flag=True, help="do not start the worker")
def up(host: str | None, port: int | None, no_worker: bool) -> None:
    """Everything for a local run: services (embedded when none is configured), migrations, demo, web, worker."""
    from app.server.demo import DEMO_PASSWORD, seed
    from app.server.local_services import EmbeddedServices, bootstrap_database
    from app.server.migrate import upgrade

    settings = _settings()
    embedded = EmbeddedServices(settings.data_dir)
    env = dict(os.environ)
    if not settings.database_url:
        click.echo("starting embedded PostgreSQL in " + str(settings.data_dir / "postgres"))
        urls = bootstrap_database(embedded.postgres_admin_url(), "tenline")
        env["TENLINE_DATABASE_URL"], env["TENLINE_DATABASE_OWNER_URL"] = urls.app, urls.owner
    elif not settings.database_owner_url:
        raise click.UsageError(
            "TENLINE_DATABASE_OWNER_URL must be set with TENLINE_DATABASE_URL (migrations run as the owner)"
        )
    if not settings.redis_url:
        click.echo("starting embedded Redis in " + str(settings.data_dir / "redis"))
        env["TENLINE_REDIS_URL"] = embedded.redis_url()
    os.environ.update(env)
    get_settings.cache_clear()
    settings = _settings()
    click.echo("applying migrations")
    upgrade(_require(settings.database_owner_url, "TENLINE_DATABASE_OWNER_URL"))
    click.echo("seeding the demo")
    logins = _run(seed, settings)

    host = host or settings.host
    port = port or settings.port
    tenline = [sys.executable, "-m", "app.server.cli"]
    children = [subprocess.Popen([*tenline, "serve", "--host", host, "--port", str(port)], env=env)]  # noqa: S603
    if not no_worker:
        children.append(subprocess.Popen([*tenline, "worker"], env=env))  # noqa: S603
    children.extend(_extra_processes(env))
    _print_banner(f"http://{host}:{port}", logins, DEMO_PASSWORD)
    _supervise(children)


def _extra_processes(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """Processes later domains add to a local run (the live traffic simulator)."""
    return []


def _print_banner(url: str, logins: list[Any], password: str) -> None:
    click.echo("")
    click.secho(f"Tenline is running at {url}", bold=True)
    click.echo(f"API docs: {url}/schema")
    click.echo("Demo logins:")
    for login in logins:
        click.echo(f"  {login.email:34} {login.role:15} {login.tenant or ''}")
    click.echo(f"  password: {password}")
    click.echo("Press Ctrl-C to stop.")


def _supervise(children: list[subprocess.Popen[bytes]]) -> None:
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    failed = [child for child in children if child.returncode not in (0, -signal.SIGTERM, None)]
    if failed and not stopping:
        raise SystemExit(1)


@main.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--quick", is_flag=True, help="a short run (for smoke tests)")
def bench(name: str, as_json: bool, quick: bool) -> None:
    """Run the benchmark tests/benchmarks/NAME.py and print its figures."""
    if not name.replace("_", "").isalnum():
        raise click.UsageError(f"no benchmark named {name!r}")
    try:
        module = importlib.import_module(f"tests.benchmarks.{name}")
    except ModuleNotFoundError:
        raise click.UsageError(f"no benchmark named {name!r} in tests/benchmarks") from None
    result: dict[str, Any] = module.run(quick=quick)
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key, value in result.items():
            click.echo(f"{key:28} {value}")


_POSITIVE = click.FloatRange(min=0, min_open=True, max=1e9)  # finite: "inf" would never end a run


@main.command()
@click.option("--agents", required=True, type=click.IntRange(min=1), help="agents staffing the queue")
@click.option("--calls-per-interval", required=True, type=_POSITIVE, help="offered calls per interval (Poisson)")
@click.option("--interval-seconds", required=True, type=_POSITIVE, help="length of the interval")
@click.option("--aht-seconds", required=True, type=_POSITIVE, help="mean handle time (exponential)")
@click.option(
    "--answer-target-seconds", required=True, type=click.FloatRange(min=0, max=1e9), help="T of the service level"
)
@click.option("--duration-seconds", required=True, type=_POSITIVE, help="simulated time with arrivals")
@click.option("--patience-seconds", type=_POSITIVE, default=None, help="mean caller patience (exponential)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def simulate(
    agents: int,
    calls_per_interval: float,
    interval_seconds: float,
    aht_seconds: float,
    answer_target_seconds: float,
    duration_seconds: float,
    patience_seconds: float | None,
    seed: int,
    as_json: bool,
) -> None:
    """Run one queue through the routing engine with simulated traffic; show Erlang C (A with patience) beside it.

    Service level = answered within T / answered; p_wait = share of answered and abandoned contacts that
    queued; occupancy = agents' busy time / (agents x duration).
    """
    from rich.progress import Progress

    from app.telephony.simulator import simulate as run_simulation
    from app.telephony.simulator import single_queue
    from app.workforce.erlang import Workload, evaluate

    workload = Workload(calls_per_interval, interval_seconds, aht_seconds, patience_seconds)
    if patience_seconds is None and agents <= workload.load:
        raise click.BadParameter(
            f"unstable: {workload.load:.4g} Erlangs need more than {agents} agents when callers never hang up "
            "(add agents, lower the load, or give --patience-seconds)",
            param_hint="--agents",
        )
    try:
        predicted = evaluate(workload, agents, answer_target_seconds)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    scenario = single_queue(
        agents=agents,
        calls_per_interval=calls_per_interval,
        interval_seconds=interval_seconds,
        aht_seconds=aht_seconds,
        answer_target_seconds=answer_target_seconds,
        duration_seconds=duration_seconds,
        patience_seconds=patience_seconds,
    )
    if as_json:
        result = run_simulation(scenario, seed)
    else:
        with Progress(transient=True) as bar:
            task = bar.add_task("simulating", total=duration_seconds)
            result = run_simulation(scenario, seed, lambda at: bar.update(task, completed=at))
    figures = result.overall
    erlang = {
        "model": "erlang_c" if patience_seconds is None else "erlang_a",
        "load_erlangs": workload.load,
        "p_wait": predicted.p_wait,
        "service_level": predicted.service_level,
        "asa_seconds": predicted.asa_seconds,
        "occupancy": predicted.occupancy,
        "abandon_probability": predicted.abandon_probability,
    }
    output: dict[str, Any] = {
        "agents": agents,
        "offered": figures.offered,
        "answered": figures.answered,
        "abandoned": figures.abandoned,
        "abandon_rate": figures.abandoned / figures.offered if figures.offered else 0.0,
        "service_level": figures.service_level,
        "asa_seconds": figures.asa_seconds,
        "occupancy": figures.occupancy,
        "p_wait": figures.p_wait,
        "answer_target_seconds": answer_target_seconds,
        "duration_seconds": duration_seconds,
        "seed": seed,
        "engine_events": result.engine_events,
        "erlang": erlang,
    }
    if as_json:
        click.echo(json.dumps(output))
        return
    click.echo(f"{agents} agents, {workload.load:.3g} Erlangs offered, {figures.offered} contacts simulated")
    click.echo(f"{'':22} {'simulated':>12} {erlang['model']:>12}")
    rows = (
        ("service level", figures.service_level, predicted.service_level, "{:12.2%}"),
        ("ASA (s)", figures.asa_seconds, predicted.asa_seconds, "{:12.2f}"),
        ("P(wait)", figures.p_wait, predicted.p_wait, "{:12.2%}"),
        ("occupancy", figures.occupancy, predicted.occupancy, "{:12.2%}"),
        ("abandoned", output["abandon_rate"], predicted.abandon_probability, "{:12.2%}"),
    )
    for label, simulated, theory, fmt in rows:
        click.echo(f"{label:22} {fmt.format(simulated)} {fmt.format(theory)}")
    click.echo(
        f"answered {figures.answered}, abandoned {figures.abandoned} (service level within {answer_target_seconds:g} s)"
    )


def entry() -> None:
    try:
        main(standalone_mode=True)
    except SettingsError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    entry()
