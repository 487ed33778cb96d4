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
from pathlib import Path
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
        # Live pages hold server-sent event streams open; on stop they are cut after this long (browsers reconnect).
        timeout_graceful_shutdown=5,
    )


@main.command()
def worker() -> None:
    """Run background workers (Dramatiq), the outbox relay and the periodic jobs."""
    from app.server.worker import run_worker

    run_worker(_settings())


@main.command()
def router() -> None:
    """Run the agent pool's router: one process leads, any other stands by to take over."""
    from app.server.daemons import run_router

    run_router(_settings())


@main.command()
@click.option(
    "--calls-per-minute",
    type=click.FloatRange(min=0.01, max=600),
    default=2.0,
    show_default=True,
    help="arrivals per voice queue",
)
@click.option("--aht-seconds", type=click.FloatRange(min=1, max=3600), default=45.0, show_default=True)
@click.option("--patience-seconds", type=click.FloatRange(min=1, max=3600), default=90.0, show_default=True)
@click.option(
    "--agent-code-prefix", default="SIM-", show_default=True, help="agents whose employee code starts so are simulated"
)
@click.option("--seed", type=int, default=None)
def traffic(
    calls_per_minute: float, aht_seconds: float, patience_seconds: float, agent_code_prefix: str, seed: int | None
) -> None:
    """Drive live simulated callers and agents through the router (the demo's traffic)."""
    from app.server.daemons import run_traffic
    from app.telephony.live_traffic import TrafficSettings
    from app.telephony.simulator import HandleTime

    settings = _settings()
    run_traffic(
        settings,
        TrafficSettings(
            pool=settings.router_pool,
            calls_per_minute=calls_per_minute,
            handle=HandleTime(aht_seconds, aht_seconds * 0.6),
            patience_seconds=patience_seconds,
            agent_code_prefix=agent_code_prefix,
            seed=seed,
        ),
    )


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
@click.option("--revision", default="heads", show_default=True)
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
def reports() -> None:
    """Reporting: interval rollups."""


@reports.command("rebuild")
@click.option("--tenant", "slug", default=None, help="only this tenant (its slug); default: every tenant and agents")
def reports_rebuild(slug: str | None) -> None:
    """Recompute interval rollups from the event log (delete, then replay); one JSON line per tenant."""
    from app.core.errors import NotFoundError
    from app.reporting.service import rebuild

    try:
        done = _run(lambda: rebuild(slug), _settings())
    except NotFoundError as exc:
        raise click.UsageError(exc.detail) from None
    for item in done:
        click.echo(json.dumps({"tenant": item.tenant, "folded": item.folded}))


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
    """The router and the live traffic simulator (simulated callers and agents for the demo tenants)."""
    tenline = [sys.executable, "-m", "app.server.cli"]
    return [
        subprocess.Popen([*tenline, "router"], env=env),  # noqa: S603
        subprocess.Popen([*tenline, "traffic"], env=env),  # noqa: S603
    ]


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
    """Run the benchmark tests/benchmarks/NAME.py (a dash in NAME stands for an underscore) and print its figures."""
    module_name = name.replace("-", "_")
    if not module_name.replace("_", "").isalnum():
        raise click.UsageError(f"no benchmark named {name!r}")
    try:
        module = importlib.import_module(f"tests.benchmarks.{module_name}")
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
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="a multi-tenant scenario, .yaml or .json (instead of the single-queue options)",
)
@click.option("--agents", type=click.IntRange(min=1), help="agents staffing the queue")
@click.option("--calls-per-interval", type=_POSITIVE, help="offered calls per interval (Poisson)")
@click.option("--interval-seconds", type=_POSITIVE, help="length of the interval")
@click.option("--aht-seconds", type=_POSITIVE, help="mean handle time (exponential)")
@click.option("--answer-target-seconds", type=click.FloatRange(min=0, max=1e9), help="T of the service level")
@click.option("--duration-seconds", type=_POSITIVE, help="simulated time with arrivals")
@click.option("--patience-seconds", type=_POSITIVE, default=None, help="mean caller patience (exponential)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def simulate(
    scenario_file: Path | None,
    agents: int | None,
    calls_per_interval: float | None,
    interval_seconds: float | None,
    aht_seconds: float | None,
    answer_target_seconds: float | None,
    duration_seconds: float | None,
    patience_seconds: float | None,
    seed: int,
    as_json: bool,
) -> None:
    """Run one queue through the routing engine with simulated traffic; show Erlang C (A with patience) beside it.

    Service level = answered within T / answered; p_wait = share of answered and abandoned contacts that
    queued; occupancy = agents' busy time / (agents x duration).

    With --scenario FILE instead, run a multi-tenant center (app/telephony/scenario.py describes the file)
    and show each tenant's results; there the service level counts abandoned contacts against it.
    """
    from rich.progress import Progress

    single_queue_options = {
        "--agents": agents,
        "--calls-per-interval": calls_per_interval,
        "--interval-seconds": interval_seconds,
        "--aht-seconds": aht_seconds,
        "--answer-target-seconds": answer_target_seconds,
        "--duration-seconds": duration_seconds,
        "--patience-seconds": patience_seconds,
    }
    if scenario_file is not None:
        mixed = [flag for flag, value in single_queue_options.items() if value is not None]
        if mixed:
            raise click.UsageError(
                f"--scenario describes the whole center: it cannot be combined with {', '.join(mixed)}"
            )
        _simulate_scenario(scenario_file, seed, as_json)
        return
    if (
        agents is None
        or calls_per_interval is None
        or interval_seconds is None
        or aht_seconds is None
        or answer_target_seconds is None
        or duration_seconds is None
    ):
        missing = [
            flag for flag, value in single_queue_options.items() if value is None and flag != "--patience-seconds"
        ]
        raise click.UsageError(f"missing option(s) {', '.join(missing)} (or give --scenario FILE)")

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


def _simulate_scenario(path: Path, seed: int, as_json: bool) -> None:
    """`tenline simulate --scenario FILE`: every tenant's offered, answered, abandoned, service level and ASA."""
    import yaml
    from rich.progress import Progress

    from app.telephony.scenario import ScenarioError, parse_scenario, report
    from app.telephony.simulator import simulate as run_simulation

    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise click.BadParameter("the scenario file must be .json, .yaml or .yml", param_hint="--scenario")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"{path} cannot be read: {exc}", param_hint="--scenario") from None
    try:
        scenario = parse_scenario(data)
    except ScenarioError as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--scenario") from None
    if as_json:
        result = run_simulation(scenario, seed)
    else:
        with Progress(transient=True) as bar:
            task = bar.add_task("simulating", total=scenario.duration_seconds)
            result = run_simulation(scenario, seed, lambda at: bar.update(task, completed=at))
    output = {"scenario": str(path), "seed": seed, **report(scenario, result)}
    if as_json:
        click.echo(json.dumps(output))
        return
    overall = output["overall"]
    click.echo(
        f"{path.name}: {len(output['tenants'])} tenants, {output['queues']} queues, {output['agents']} agents, "
        f"{overall['offered']} contacts over {scenario.duration_seconds / 3600:g} h (seed {seed})"
    )
    click.echo("service level = answered within the answer target / (answered + abandoned)")
    click.echo(
        f"{'tenant':12} {'offered':>8} {'answered':>9} {'abandoned':>10} {'service level':>13} {'target':>14} {'ASA (s)':>8}  met"
    )
    for tenant_id, row in output["tenants"].items():
        target = f"{row['target_service_level']:.0%} in {row['answer_target_seconds']:g} s"
        click.echo(
            f"{tenant_id:12} {row['offered']:8} {row['answered']:9} {row['abandoned']:10} {row['service_level']:13.1%} "
            f"{target:>14} {row['asa_seconds']:8.1f}  {'yes' if row['met'] else 'NO'}"
        )
    click.echo(
        f"{'overall':12} {overall['offered']:8} {overall['answered']:9} {overall['abandoned']:10} "
        f"{overall['service_level']:13.1%} {'':>14} {overall['asa_seconds']:8.1f}  "
        f"{overall['tenants_met']}/{len(output['tenants'])} tenants met"
    )


@main.group()
def wfm() -> None:
    """Workforce planning: Erlang staffing."""


@wfm.command("erlang")
@click.option("--calls", type=float, required=True, help="calls offered in the interval")
@click.option("--interval-seconds", type=float, required=True, help="length of the interval")
@click.option("--aht-seconds", type=float, required=True, help="mean handle time (talk, hold and wrap-up)")
@click.option("--answer-target-seconds", type=float, required=True, help="T of the service level")
@click.option("--target-sl", type=float, required=True, help="share to answer within T, a fraction (0.8)")
@click.option("--patience-seconds", type=float, default=None, help="mean caller patience: Erlang A instead of C")
@click.option("--shrinkage", type=float, default=None, help="share of staff time off contacts (0 to 0.9)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def wfm_erlang(
    calls: float,
    interval_seconds: float,
    aht_seconds: float,
    answer_target_seconds: float,
    target_sl: float,
    patience_seconds: float | None,
    shrinkage: float | None,
    as_json: bool,
) -> None:
    """Agents needed for a service level (Erlang C; Erlang A with --patience-seconds), and the figures around it.

    Service level = answered within T / answered. Rows run from the fewest agents the model accepts up to
    three past the requirement; --shrinkage adds the staff to schedule (agents / (1 - shrinkage)).
    """
    from app.workforce.calculator import ArgumentError, Question, answer, answer_json

    try:
        result = answer(
            Question(
                calls=calls,
                interval_seconds=interval_seconds,
                aht_seconds=aht_seconds,
                answer_target_seconds=answer_target_seconds,
                target_sl=target_sl,
                patience_seconds=patience_seconds,
                shrinkage=shrinkage,
            )
        )
    except ArgumentError as exc:
        if exc.field is None:
            raise click.UsageError(exc.message) from None
        raise click.BadParameter(exc.message, param_hint="--" + exc.field.replace("_", "-")) from None
    if as_json:
        click.echo(json.dumps(answer_json(result)))
        return
    model = "Erlang C" if result.model == "erlang_c" else f"Erlang A (mean patience {patience_seconds:g} s)"
    click.echo(
        f"{model}: {calls:g} calls in {interval_seconds:g} s, AHT {aht_seconds:g} s = "
        f"{result.load_erlangs:.4g} Erlangs offered"
    )
    staff = "" if shrinkage is None else f", {result.required_staff} staff at {shrinkage:.0%} shrinkage"
    click.echo(
        f"{target_sl:.0%} answered within {answer_target_seconds:g} s needs {result.required_agents} agents{staff}"
    )
    click.echo(f"  {'agents':>6} {'P(wait)':>9} {'service level':>14} {'ASA (s)':>9} {'occupancy':>10}")
    for row in result.rows:
        mark = "*" if row.agents == result.required_agents else " "
        click.echo(
            f"{mark} {row.agents:6} {row.p_wait:9.2%} {row.service_level:14.2%} "
            f"{row.asa_seconds:9.2f} {row.occupancy:10.2%}"
        )


def entry() -> None:
    try:
        main(standalone_mode=True)
    except SettingsError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    entry()
