"""Reports over HTTP on traffic from the real router, each figure checked against the raw log computed here.

Two tenants with traffic, in time zones far from UTC (days are the tenant's). Their reports, exports, the
operator's overview across tenants, and what each caller may (not) see.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.reporting.exports import COLUMNS
from app.reporting.service import ROUTING_DEFINITION
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_api_client, make_staff, make_tenant_user, sign_in
from tests.reporting_traffic import Center, fold_all, generate, make_center, outcomes, presence_spans, recompute

A_ZONE, B_ZONE = "Pacific/Chatham", "America/New_York"


class Traffic:
    def __init__(self, a: Center, b: Center) -> None:
        self.a, self.b = a, b


@pytest.fixture(scope="module")
async def traffic() -> Traffic:
    a = await make_center("reports-a", A_ZONE)
    b = await make_center("reports-b", B_ZONE)
    await generate(a, 5)
    await generate(b, 2, seed=11)
    await fold_all(a.tenant_id)
    await fold_all(b.tenant_id)
    return Traffic(a, b)


def _days(zone: str) -> dict[str, str]:
    """Yesterday to tomorrow in the tenant's zone: all of the traffic, whatever the time of day."""
    today = dt.datetime.now(ZoneInfo(zone)).date()
    return {"start": str(today - dt.timedelta(days=1)), "end": str(today + dt.timedelta(days=1))}


def _by_day(rows: dict[Any, dict[str, Any]], zone: str, *, agent_rows: bool = False) -> dict[str, dict[str, Any]]:
    """The recomputed rollup rows summed per local day of their interval (queue totals, or agent rows)."""
    days: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(lambda: Decimal(0)))
    for (start, _, agent), row in rows.items():
        if (agent is not None) != agent_rows:
            continue
        day = days[start.astimezone(ZoneInfo(zone)).date().isoformat()]
        for name, value in row.items():
            if isinstance(value, int | Decimal):
                day[name] += value
    return days


def _close(actual: float | None, numerator: Decimal | int, denominator: Decimal | int) -> None:
    if not denominator:
        assert actual is None
    else:
        assert actual == pytest.approx(float(numerator) / float(denominator), rel=1e-9, abs=1e-9)


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
async def viewer_a(traffic: Traffic, live_server: LiveServer) -> Any:
    user = await make_tenant_user(traffic.a.tenant_id, "report_viewer")
    async with await sign_in(live_server.url, user.email) as client:
        yield client


async def test_volumes_and_handling_per_local_day_match_the_raw_log(
    traffic: Traffic, viewer_a: httpx.AsyncClient
) -> None:
    a = traffic.a
    expected = _by_day(await recompute(a.tenant_id), A_ZONE)
    report = await _get(viewer_a, "/api/v1/reports/volumes", **_days(A_ZONE))
    assert report["timezone"] == A_ZONE and report["granularity"] == "day"
    assert [row["period_start"][:10] for row in report["rows"]] == [
        str(dt.date.fromisoformat(_days(A_ZONE)["start"]) + dt.timedelta(days=n)) for n in range(3)
    ]
    assert sum(row["offered"] for row in report["rows"]) >= 20
    for row in report["rows"]:
        day = expected[row["period_start"][:10]]
        assert (
            row["offered"],
            row["answered"],
            row["abandoned"],
            row["removed"],
            row["handled"],
            row["transfers"],
        ) == (day["offered"], day["answered"], day["abandoned"], day["removed"], day["handled"], day["transfers"])
        _close(row["abandon_rate"], day["abandoned"], day["offered"])
        _close(row["asa_seconds"], day["wait_seconds_sum"], day["answered"])
        _close(row["talk_seconds"], day["talk_seconds_sum"], day["handled"])
        _close(row["hold_seconds"], day["hold_seconds_sum"], day["handled"])
        _close(row["wrap_up_seconds"], day["wrap_seconds_sum"], day["handled"])
        _close(
            row["aht_seconds"],
            day["talk_seconds_sum"] + day["hold_seconds_sum"] + day["wrap_seconds_sum"],
            day["handled"],
        )
        _close(row["fcr"], day["resolved"], day["handled"])

    # Offered per local day, straight from the interactions the router wrote.
    with acting_as(system_principal(a.tenant_id)):
        async with get_database().session() as session:
            statement = sa.text("SELECT arrived_at FROM interactions WHERE tenant_id = :t")
            arrived = (await session.execute(statement, {"t": a.tenant_id})).scalars().all()
    per_day: dict[str, int] = defaultdict(int)
    for at in arrived:
        per_day[at.astimezone(ZoneInfo(A_ZONE)).date().isoformat()] += 1
    assert {row["period_start"][:10]: row["offered"] for row in report["rows"] if row["offered"]} == dict(per_day)

    # 15-minute buckets: the whole local day, each interval's figures those of its rollup rows.
    today = dt.datetime.now(ZoneInfo(A_ZONE)).date().isoformat()
    intervals = await _get(viewer_a, "/api/v1/reports/volumes", start=today, granularity="interval")
    rows = intervals["rows"]
    assert len(rows) in (92, 96, 100) and rows[0]["period_start"].startswith(today + "T00:00:00")
    offered: dict[dt.datetime, int] = defaultdict(int)
    for (start, _, agent), row in (await recompute(a.tenant_id)).items():
        if agent is None:
            offered[start] += row["offered"]
    for row in rows:
        assert row["offered"] == offered.get(dt.datetime.fromisoformat(row["period_start"]), 0)
    assert sum(row["offered"] for row in rows) == per_day.get(today, 0)


async def test_service_level_per_day_and_queue_is_counted_from_waits(
    traffic: Traffic, viewer_a: httpx.AsyncClient
) -> None:
    a = traffic.a
    counts: dict[tuple[str, uuid.UUID], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for bucket, queue_id, outcome, _, wait in await outcomes(a.tenant_id):
        key = (bucket.astimezone(ZoneInfo(A_ZONE)).date().isoformat(), queue_id)
        counts[key]["offered"] += 1
        if outcome in ("answered", "abandoned"):
            counts[key][outcome] += 1
            counts[key][f"{outcome}_within"] += wait < 20  # every queue's answer target: 20 s
            counts[key]["abandoned_short"] += outcome == "abandoned" and wait < 5
    report = await _get(viewer_a, "/api/v1/reports/service-level", **_days(A_ZONE))
    assert {(row["period_start"][:10], uuid.UUID(row["queue_id"])) for row in report["rows"]} == set(counts)
    for row in report["rows"]:
        expected = counts[row["period_start"][:10], uuid.UUID(row["queue_id"])]
        for name in ("offered", "answered", "answered_within", "abandoned", "abandoned_within", "abandoned_short"):
            assert row[name] == expected[name], name
        _close(row["service_level"], expected["answered_within"], expected["answered"] + expected["abandoned"])
        assert row["answer_target_seconds"] == 20 and row["target_service_level"] == 0.8
        assert row["definition"] == ROUTING_DEFINITION and row["contract_version"] is None
        assert row["met"] == (None if row["service_level"] is None else row["service_level"] >= 0.8)
    assert {row["queue"] for row in report["rows"]} <= {"support", "billing", "short"}
    # Service level has no meaning per agent: the filter is refused, as a problem naming it.
    refused = await viewer_a.get("/api/v1/reports/service-level", params={"agent_id": str(a.people[0])})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "agent_id"


async def test_agents_occupancy_and_dispositions_match_the_raw_log(
    traffic: Traffic, viewer_a: httpx.AsyncClient
) -> None:
    a = traffic.a
    rows = await recompute(a.tenant_id)
    per_agent: dict[uuid.UUID, dict[str, Any]] = defaultdict(lambda: defaultdict(lambda: Decimal(0)))
    dispositions: dict[str, int] = defaultdict(int)
    for (_, _, agent), row in rows.items():
        if agent is None:
            for code, count in row["dispositions"].items():
                dispositions[code] += count
            continue
        for name, value in row.items():
            if isinstance(value, int | Decimal):
                per_agent[agent][name] += value
    spans = await presence_spans(a.people + a.simulated)
    staffed: dict[uuid.UUID, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: Decimal(0)))
    for (agent, _), seconds in spans.items():
        for state, amount in seconds.items():
            staffed[agent][state] += amount

    report = await _get(viewer_a, "/api/v1/reports/agents", **_days(A_ZONE))
    assert {uuid.UUID(row["agent_id"]) for row in report["rows"]} == set(a.people + a.simulated)
    assert sum(row["handled"] for row in report["rows"]) > 0
    for row in report["rows"]:
        agent = uuid.UUID(row["agent_id"])
        mine, states = per_agent[agent], staffed[agent]
        assert (row["answered"], row["handled"], row["transfers"]) == (
            mine["answered"],
            mine["handled"],
            mine["transfers"],
        )
        busy = mine["talk_seconds_sum"] + mine["hold_seconds_sum"] + mine["wrap_seconds_sum"]
        _close(row["aht_seconds"], busy, mine["handled"])
        working = states["available"] + states["offered"] + states["on_contact"] + states["wrap_up"]
        assert row["staffed_seconds"] == pytest.approx(float(working + states["break"]))
        _close(row["occupancy"], states["on_contact"] + states["wrap_up"], working)
        _close(row["utilisation"], working, working + states["break"])
        _close(row["tenant_share"], busy, states["on_contact"] + states["wrap_up"])

    occupancy = await _get(viewer_a, "/api/v1/reports/occupancy", **_days(A_ZONE))
    total = {
        state: sum((s[state] for s in staffed.values()), Decimal(0))
        for state in ("on_contact", "wrap_up", "available", "offered")
    }
    assert sum(row["on_contact_seconds"] for row in occupancy["rows"]) == pytest.approx(float(total["on_contact"]))
    assert sum(row["available_seconds"] for row in occupancy["rows"]) == pytest.approx(float(total["available"]))
    assert max(row["agents"] for row in occupancy["rows"]) == len([s for s in staffed.values() if any(s.values())])

    report = await _get(viewer_a, "/api/v1/reports/dispositions", **_days(A_ZONE))
    assert {row["disposition"]: row["contacts"] for row in report["rows"]} == dict(dispositions)
    assert "resolved" in dispositions
    _close(report["rows"][0]["share"], report["rows"][0]["contacts"], sum(dispositions.values()))


async def test_exports_carry_the_report_as_csv_and_xlsx(traffic: Traffic, viewer_a: httpx.AsyncClient) -> None:
    days = _days(A_ZONE)
    report = await _get(viewer_a, "/api/v1/reports/volumes", **days)
    response = await viewer_a.get("/api/v1/reports/export", params={"report": "volumes", "format": "csv", **days})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    filename = f"{traffic.a.slug}-volumes-{days['start']}-to-{days['end']}"
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}.csv"'
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == [column.label for column in COLUMNS["volumes"]]
    assert len(lines) == 1 + len(report["rows"])
    for line, row in zip(lines[1:], report["rows"], strict=True):
        values = dict(zip(lines[0], line, strict=True))
        assert values["Period"] == row["period_start"][:10]
        assert int(values["Offered"]) == row["offered"] and int(values["Handled"]) == row["handled"]
        assert values["AHT (s)"] == ("" if row["aht_seconds"] is None else f"{row['aht_seconds']:.1f}")

    response = await viewer_a.get("/api/v1/reports/export", params={"report": "agents", "format": "xlsx", **days})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["content-disposition"].endswith(f'-agents-{days["start"]}-to-{days["end"]}.xlsx"')
    agents = await _get(viewer_a, "/api/v1/reports/agents", **days)
    sheet = load_workbook(io.BytesIO(response.content))["Report"]
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert cells[0] == [column.label for column in COLUMNS["agents"]]
    for line, row in zip(cells[1:], agents["rows"], strict=True):
        values = dict(zip(cells[0], line, strict=True))
        assert (values["Agent"], values["Handled"], values["Answered"]) == (
            row["agent"],
            row["handled"],
            row["answered"],
        )
        # XLSX keeps 16 significant digits.
        assert row["occupancy"] is not None and values["Occupancy"] == pytest.approx(row["occupancy"], rel=1e-15)


async def test_each_tenant_sees_only_its_own_figures(
    traffic: Traffic, viewer_a: httpx.AsyncClient, live_server: LiveServer
) -> None:
    a, b = traffic.a, traffic.b
    b_user = await make_tenant_user(b.tenant_id, "supervisor")
    expected_b = _by_day(await recompute(b.tenant_id), B_ZONE)
    async with await sign_in(live_server.url, b_user.email) as client:
        report = await _get(client, "/api/v1/reports/volumes", **_days(B_ZONE))
        assert {row["period_start"][:10]: row["offered"] for row in report["rows"] if row["offered"]} == {
            day: row["offered"] for day, row in expected_b.items() if row["offered"]
        }
        agents = await _get(client, "/api/v1/reports/agents", **_days(B_ZONE))
        assert {uuid.UUID(row["agent_id"]) for row in agents["rows"]} == set(b.people + b.simulated)
        # A's queue or agent in B's filters reads as missing, exactly like an id that does not exist.
        for params in ({"queue_id": str(a.support)}, {"queue_id": str(uuid.uuid4())}, {"agent_id": str(a.people[0])}):
            refused = await client.get("/api/v1/reports/volumes", params=params)
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"].split(":")[1].strip().startswith("no such")
        forbidden = await client.get("/api/v1/reports/tenants")
        assert forbidden.status_code == 403

    # A program of A with reports:read gets A's figures; without the scope it is refused.
    client_a, secret = await make_api_client(a.tenant_id, ["reports:read"])
    other, other_secret = await make_api_client(a.tenant_id, ["queues:read"])
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        tokens = []
        for api_client, key in ((client_a, secret), (other, other_secret)):
            response = await http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(api_client.client_id, key)
            )
            tokens.append(response.json()["access_token"])
        by_program = await http.get(
            "/api/v1/reports/volumes", params=_days(A_ZONE), headers={"Authorization": f"Bearer {tokens[0]}"}
        )
        by_person = await _get(viewer_a, "/api/v1/reports/volumes", **_days(A_ZONE))
        assert by_program.status_code == 200 and by_program.json() == by_person
        assert (
            await http.get("/api/v1/reports/volumes", headers={"Authorization": f"Bearer {tokens[1]}"})
        ).status_code == 403


async def test_the_operator_reads_every_tenant_through_the_audited_path(
    traffic: Traffic, live_server: LiveServer
) -> None:
    a, b = traffic.a, traffic.b
    operator = await make_staff("ops_manager")
    async with await sign_in(live_server.url, operator.email) as client:
        # No tenant chosen: tenant reports are refused, the overview answers.
        assert (await client.get("/api/v1/reports/volumes")).status_code == 403
        today = dt.datetime.now(dt.UTC).date()
        overview = await _get(
            client,
            "/api/v1/reports/tenants",
            start=str(today - dt.timedelta(days=2)),
            end=str(today + dt.timedelta(days=2)),
        )
        rows = {uuid.UUID(row["tenant_id"]): row for row in overview["rows"]}
        for center in (a, b):
            queue_rows = [row for (_, _, agent), row in (await recompute(center.tenant_id)).items() if agent is None]
            assert rows[center.tenant_id]["offered"] == sum(row["offered"] for row in queue_rows)
            assert rows[center.tenant_id]["answered"] == sum(row["answered"] for row in queue_rows)
        # Acting for one tenant, the operator reads exactly what that tenant's people read.
        acting = await client.get(
            "/api/v1/reports/volumes", params=_days(A_ZONE), headers={"Tenline-Tenant": str(a.tenant_id)}
        )
        assert acting.status_code == 200
        assert [row["offered"] for row in acting.json()["rows"]] == [
            row["offered"] for row in (await _get_as_viewer(a, live_server))["rows"]
        ]
        audit = await _get(client, "/api/v1/operator/audit-log", action="cross_tenant_read")
        assert any(entry["detail"].get("reason") == "tenants overview report" for entry in audit["items"])


async def _get_as_viewer(center: Center, live_server: LiveServer) -> Any:
    user = await make_tenant_user(center.tenant_id, "report_viewer")
    async with await sign_in(live_server.url, user.email) as client:
        return await _get(client, "/api/v1/reports/volumes", **_days(A_ZONE))


async def test_report_pages_show_the_tenant_its_figures(
    traffic: Traffic, viewer_a: httpx.AsyncClient, live_server: LiveServer
) -> None:
    days = _days(A_ZONE)
    page = await viewer_a.get("/reports", params={"report": "volumes", "period": "custom", **days})
    assert page.status_code == 200 and 'id="report-chart"' in page.text and 'id="report-table"' in page.text
    export = await viewer_a.get(
        "/reports/export", params={"report": "dispositions", "period": "custom", "format": "csv", **days}
    )
    assert export.status_code == 200 and export.text.splitlines()[0] == "Disposition,Label,Contacts,Share"
    refused = await viewer_a.get("/reports", params={"period": "custom", "start": "not-a-day"})
    assert refused.status_code == 422 and "YYYY-MM-DD" in refused.text
    operator = await make_staff("operator_admin")
    async with await sign_in(live_server.url, operator.email) as client:
        overview = await client.get("/operator/reports")
        assert overview.status_code == 200 and "Tenants overview" in overview.text
        one = await client.get(
            "/operator/reports",
            params={"tenant": str(traffic.b.tenant_id), "report": "agents", "period": "custom", **_days(B_ZONE)},
        )
        assert one.status_code == 200 and "Agent performance" in one.text
        assert (await client.get("/operator/reports", params={"tenant": str(uuid.uuid4())})).status_code == 404


async def test_service_level_is_measured_by_the_sla_contract_when_there_is_one(
    traffic: Traffic, live_server: LiveServer
) -> None:
    from app.sla import schemas as sla_schemas
    from app.sla import service as sla

    b = traffic.b
    with acting_as(OPERATOR.acting_for(b.tenant_id)):
        async with get_database().session() as session:
            contract = await sla.create_contract_version(
                session,
                sla_schemas.ContractCreate(
                    effective_from=await sla.today(session),
                    definition="answered",
                    short_abandon_seconds=10,
                    targets=[
                        sla_schemas.TargetIn(measure="service_level", window="day", minimum=0.9, within_seconds=10)
                    ],
                ),
            )
    counts: dict[tuple[str, uuid.UUID], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for bucket, queue_id, outcome, _, wait in await outcomes(b.tenant_id):
        key = (bucket.astimezone(ZoneInfo(B_ZONE)).date().isoformat(), queue_id)
        counts[key]["answered"] += outcome == "answered"
        counts[key]["answered_within"] += outcome == "answered" and wait < 10
        counts[key]["abandoned_short"] += outcome == "abandoned" and wait < 10
    user = await make_tenant_user(b.tenant_id, "report_viewer")
    async with await sign_in(live_server.url, user.email) as client:
        report = await _get(client, "/api/v1/reports/service-level", **_days(B_ZONE))
    assert report["rows"]
    for row in report["rows"]:
        expected = counts[row["period_start"][:10], uuid.UUID(row["queue_id"])]
        assert (row["answered_within"], row["abandoned_short"]) == (
            expected["answered_within"],
            expected["abandoned_short"],
        )
        # Definition "answered": answered within T over answered, abandons left out.
        _close(row["service_level"], expected["answered_within"], expected["answered"])
        assert (row["answer_target_seconds"], row["target_service_level"]) == (10, 0.9)
        assert (row["definition"], row["contract_version"]) == ("answered", contract.version)


async def test_the_figures_other_domains_read_equal_the_raw_log(traffic: Traffic) -> None:
    """``queue_intervals``, ``tenant_totals``, ``sla_counts`` and ``presence_intervals`` (SLA and WFM read these)."""
    from app.reporting import service as reporting

    a = traffic.a
    rows = await recompute(a.tenant_id)
    queue_rows = {key: row for key, row in rows.items() if key[2] is None}
    start = min(key[0] for key in queue_rows)
    end = max(key[0] for key in queue_rows) + dt.timedelta(minutes=15)
    waits = await outcomes(a.tenant_id)
    with acting_as(system_principal(a.tenant_id)):
        async with get_database().session() as session:
            intervals = await reporting.queue_intervals(session, start, end)
            totals = await reporting.tenant_totals(session, start, end)
            counts = await reporting.sla_counts(session, start, end, [a.support, a.billing], 15, 5)
            presence = await reporting.presence_intervals(
                session, start - dt.timedelta(days=1), end + dt.timedelta(days=1)
            )
    assert {(f.interval_start, f.queue_id): (f.offered, f.answered, f.handled) for f in intervals} == {
        (key[0], key[1]): (row["offered"], row["answered"], row["handled"]) for key, row in queue_rows.items()
    }
    assert (totals.offered, totals.answered, totals.abandoned, totals.handled, totals.resolved) == tuple(
        sum(row[name] for row in queue_rows.values())
        for name in ("offered", "answered", "abandoned", "handled", "resolved")
    )
    assert totals.wait_seconds == pytest.approx(float(sum(row["wait_seconds_sum"] for row in queue_rows.values())))
    assert totals.answered_wait_hist[-1] == totals.answered
    mine = [w for w in waits if w[1] in (a.support, a.billing)]
    assert (counts.offered, counts.answered, counts.answered_within, counts.abandoned, counts.abandoned_short) == (
        len(mine),
        sum(1 for w in mine if w[2] == "answered"),
        sum(1 for w in mine if w[2] == "answered" and w[4] < 15),
        sum(1 for w in mine if w[2] == "abandoned"),
        sum(1 for w in mine if w[2] == "abandoned" and w[4] < 5),
    )
    assert totals.sl_counts(15, 5).answered_within == sum(1 for w in waits if w[2] == "answered" and w[4] < 15)
    spans = await presence_spans(a.people + a.simulated)
    assert {(p.agent_id, p.interval_start): p.on_contact for p in presence if p.on_contact} == {
        key: pytest.approx(float(seconds["on_contact"])) for key, seconds in spans.items() if seconds.get("on_contact")
    }
