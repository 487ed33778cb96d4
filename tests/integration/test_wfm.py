"""The workforce API over HTTP: forecasts from the reporting rollups, staffing plans (a tenant's queues; the
operator's shared pool), planned against actual staff, errors as RFC 9457 problems, and tenant isolation.

The history is written straight into ``interval_rollups`` as the reporting worker would leave it (four
weeks of a fixed weekly pattern in the tenant's time zone, America/Sao_Paulo; tests/workforce_data.py), so
the forecast of the day after it is exactly that pattern and every plan figure can be recomputed from Erlang.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.sla import schemas as sla_schemas
from app.sla import service as sla
from app.workforce.erlang import Workload, required_agents, required_staff
from tenants import schemas as tenant_schemas
from tests.conftest import LiveServer
from tests.factories import make_agent, make_staff, make_tenant_user, sign_in
from tests.workforce_data import (
    AHT,
    WEEKS,
    ZONE,
    local_start,
    make_queue,
    make_zoned_tenant,
    pattern,
    reference_day,
    write_history,
    write_presence,
)

PROBLEM = "application/problem+json"


@dataclass
class Center:
    a: tenant_schemas.TenantOut
    b: tenant_schemas.TenantOut
    support: uuid.UUID  # A's, no skills
    billing: uuid.UUID  # A's, billing >= 3
    b_queue: uuid.UUID  # B's, no skills
    b_french: uuid.UUID  # B's, French speakers only: nobody
    shared: uuid.UUID  # agent of A and B
    biller: uuid.UUID  # agent of A with billing 4
    b_only: uuid.UUID  # agent of B
    day: dt.date


@pytest.fixture(scope="module")
async def center() -> Center:
    day = reference_day()
    a, b = await make_zoned_tenant("wfm-a"), await make_zoned_tenant("wfm-b")
    support = await make_queue(a.id, name="Support", answer_target_seconds=20, target_service_level=0.8)
    billing = await make_queue(
        a.id, name="Billing", skills={"billing": 3}, answer_target_seconds=30, target_service_level=0.9
    )
    b_queue = await make_queue(b.id, name="Orders", answer_target_seconds=15, target_service_level=0.85)
    b_french = await make_queue(
        b.id, name="Commandes", required_attributes=[routing_schemas.Attribute(kind="language", value="fr")]
    )
    shared, biller, b_only = await make_agent(a.id, b.id), await make_agent(a.id), await make_agent(b.id)
    with acting_as(system_principal(a.id)):
        async with get_database().session() as session:
            await routing.set_agent_skill(
                session, routing_schemas.AgentSkillIn(agent_id=biller.id, skill="billing", proficiency=4)
            )
    await write_history(a.id, support, day, 1.0)
    await write_history(a.id, billing, day, 0.25)
    await write_history(b.id, b_queue, day, 10.0)
    await write_presence(
        shared.id,
        day,
        [("09:00", "available"), ("10:00", "break"), ("10:15", "available"), ("12:00", "offline")],
    )
    await write_presence(
        biller.id,
        day,
        [
            ("09:30", "available"),
            ("10:00", "on_contact"),
            ("10:05", "wrap_up"),
            ("10:06", "available"),
            ("11:00", "offline"),
        ],
    )
    return Center(a, b, support, billing, b_queue, b_french, shared.id, biller.id, b_only.id, day)


@pytest.fixture(scope="module")
async def admin_a(center: Center, live_server: LiveServer) -> Any:
    user = await make_tenant_user(center.a.id, "tenant_admin")
    async with await sign_in(live_server.url, user.email) as client:
        yield client


@pytest.fixture(scope="module")
async def operator(live_server: LiveServer) -> Any:
    staff = await make_staff("ops_manager")
    async with await sign_in(live_server.url, staff.email) as client:
        yield client


def _local_times(points: list[dict[str, Any]]) -> list[dt.datetime]:
    zone = zoneinfo.ZoneInfo(ZONE)
    return [dt.datetime.fromisoformat(p["start"]).astimezone(zone) for p in points]


def _is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["instance"] == response.request.url.path
    return body


# --- forecast ---------------------------------------------------------------------------------------------


async def test_the_forecast_of_the_day_after_the_history_is_its_weekly_pattern(
    center: Center, admin_a: httpx.AsyncClient
) -> None:
    response = await admin_a.get(
        "/api/v1/wfm/forecast", params={"day": center.day.isoformat(), "history_weeks": WEEKS, "holdout_weeks": 1}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == ZONE
    assert dt.datetime.fromisoformat(body["start"]) == local_start(center.day)
    assert dt.datetime.fromisoformat(body["history_end"]) == local_start(center.day)
    by_name = {q["name"]: q for q in body["queues"]}
    assert set(by_name) == {"Support", "Billing"}  # A's queues only
    support = by_name["Support"]
    assert len(support["points"]) == 96
    for point, local in zip(support["points"], _local_times(support["points"]), strict=True):
        assert point["calls"] == pytest.approx(pattern(local, 1.0), abs=1e-6)
        if point["calls"] > 0:
            assert point["aht_seconds"] == pytest.approx(AHT)
    assert support["volume"]["trend_per_week"] == pytest.approx(0, abs=1e-6)
    # The fourth week, forecast from the first three, is the same pattern: no error.
    held_out = support["held_out"]
    assert held_out["weeks"] == 1 and held_out["intervals"] == 672
    assert held_out["wape"] == pytest.approx(0, abs=1e-9) and held_out["bias"] == pytest.approx(0, abs=1e-9)
    assert held_out["actual_calls"] == pytest.approx(support["history_calls"] / WEEKS)
    assert "WAPE" in body["method"]

    one = await admin_a.get(
        "/api/v1/wfm/forecast", params={"day": center.day.isoformat(), "queue_id": str(center.billing), "days": 2}
    )
    assert one.status_code == 200
    assert [q["name"] for q in one.json()["queues"]] == ["Billing"] and len(one.json()["queues"][0]["points"]) == 192


# --- the tenant's plan ------------------------------------------------------------------------------------


async def test_the_tenant_plan_sizes_each_queue_by_erlang_c_and_shrinkage(
    center: Center, admin_a: httpx.AsyncClient
) -> None:
    response = await admin_a.get(
        "/api/v1/wfm/plan", params={"day": center.day.isoformat(), "shrinkage": 0.35, "history_weeks": WEEKS}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "tenant" and body["shrinkage"] == 0.35 and body["day"] == center.day.isoformat()
    queues = {q["name"]: q for q in body["queues"]}
    assert queues["Support"]["target"] == {
        "answer_target_seconds": 20,
        "service_level": 0.8,
        "patience_seconds": None,
        "source": "queue",
    }
    assert queues["Billing"]["target"]["answer_target_seconds"] == 30
    for name, target, share, scale in (("Support", 20, 0.8, 1.0), ("Billing", 30, 0.9, 0.25)):
        for point, local in zip(queues[name]["intervals"], _local_times(queues[name]["intervals"]), strict=True):
            calls = pattern(local, scale)
            assert point["calls"] == pytest.approx(calls, abs=1e-6)
            if calls == 0:
                assert (point["agents"], point["staff"]) == (0, 0)
                continue
            agents = required_agents(Workload(calls, 900, AHT), target, share)
            assert (point["agents"], point["staff"]) == (agents, required_staff(agents, 0.35))
            assert point["service_level"] >= share
    for total, support, billing in zip(
        body["totals"], queues["Support"]["intervals"], queues["Billing"]["intervals"], strict=True
    ):
        assert total["agents"] == support["agents"] + billing["agents"]
        assert total["staff"] == support["staff"] + billing["staff"]

    patient = await admin_a.get(
        "/api/v1/wfm/plan", params={"day": center.day.isoformat(), "history_weeks": WEEKS, "patience_seconds": 60}
    )
    busiest = max(patient.json()["queues"][0]["intervals"], key=lambda p: p["calls"])
    assert patient.json()["queues"][0]["target"]["patience_seconds"] == 60
    assert busiest["agents"] == required_agents(
        Workload(busiest["calls"], 900, AHT, 60.0),
        patient.json()["queues"][0]["target"]["answer_target_seconds"],
        patient.json()["queues"][0]["target"]["service_level"],
    )


async def test_the_sla_contract_in_force_sets_the_target(center: Center, live_server: LiveServer) -> None:
    """Tenant C records a contract (90 % within 15 s from today): today's plan sizes every queue for it."""
    c = await make_zoned_tenant("wfm-c")
    await make_queue(c.id, name="Help", answer_target_seconds=60, target_service_level=0.5)
    with acting_as(system_principal(c.id)):
        async with get_database().session() as session:
            await sla.create_contract_version(
                session,
                sla_schemas.ContractCreate(
                    effective_from=await sla.today(session),
                    definition="answered",
                    targets=[
                        sla_schemas.TargetIn(measure="service_level", window="day", minimum=0.9, within_seconds=15)
                    ],
                ),
            )
    user = await make_tenant_user(c.id, "supervisor")
    async with await sign_in(live_server.url, user.email) as client:
        today = await client.get("/api/v1/wfm/plan")
        yesterday = await client.get("/api/v1/wfm/plan", params={"day": reference_day().isoformat()})
    assert today.status_code == 200, today.text
    assert today.json()["queues"][0]["target"] == {
        "answer_target_seconds": 15,
        "service_level": 0.9,
        "patience_seconds": None,
        "source": "sla_contract",
    }
    # Before the contract's first day the queue's own target holds.
    assert yesterday.json()["queues"][0]["target"]["source"] == "queue"
    assert yesterday.json()["queues"][0]["target"]["answer_target_seconds"] == 60


# --- planned against actual -------------------------------------------------------------------------------


async def test_intraday_compares_the_plan_with_the_tenants_agents_staffed(
    center: Center, admin_a: httpx.AsyncClient
) -> None:
    params = {"day": center.day.isoformat(), "history_weeks": WEEKS}
    intraday = await admin_a.get("/api/v1/wfm/intraday", params=params)
    plan = await admin_a.get("/api/v1/wfm/plan", params=params)
    assert intraday.status_code == 200, intraday.text
    body = intraday.json()
    assert body["scope"] == "tenant" and body["timezone"] == ZONE
    points = {local.strftime("%H:%M"): p for local, p in zip(_local_times(body["points"]), body["points"], strict=True)}
    assert len(points) == 96
    assert [(p["planned_agents"], p["planned_staff"]) for p in body["points"]] == [
        (t["agents"], t["staff"]) for t in plan.json()["totals"]
    ]
    # shared: 09:00-12:00 (break 10:00-10:15); biller: 09:30-11:00 (a contact at 10:00, wrap-up at 10:05).
    expected = {
        "08:45": (0.0, 0.0),
        "09:00": (1.0, 1.0),
        "09:30": (2.0, 2.0),
        "10:00": (2.0, 1.0),
        "10:15": (2.0, 2.0),
        "11:00": (1.0, 1.0),
        "11:45": (1.0, 1.0),
        "12:00": (0.0, 0.0),
    }
    for clock, (staffed, available) in expected.items():
        assert (points[clock]["staffed"], points[clock]["available"]) == (
            pytest.approx(staffed),
            pytest.approx(available),
        )


async def test_intraday_of_a_day_not_begun_has_no_actual_figures(center: Center, admin_a: httpx.AsyncClient) -> None:
    tomorrow = reference_day() + dt.timedelta(days=2)
    body = (await admin_a.get("/api/v1/wfm/intraday", params={"day": tomorrow.isoformat()})).json()
    assert {p["staffed"] for p in body["points"]} == {None}


# --- the operator's pool ----------------------------------------------------------------------------------


async def test_the_operator_plans_the_shared_pool_by_skill_overlap(center: Center, operator: httpx.AsyncClient) -> None:
    day = local_start(center.day).date()  # the pool plans UTC days; 03:00 UTC is the local midnight
    response = await operator.get(
        "/api/v1/wfm/plan", params={"day": day.isoformat(), "history_weeks": WEEKS, "shrinkage": 0.3}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "pool"
    mine = {str(q) for q in (center.support, center.billing, center.b_queue, center.b_french)}
    pools = [p for p in body["pools"] if {q["queue_id"] for q in p["queues"]} & mine]
    assert len(pools) == 2
    joined, alone = sorted(pools, key=lambda p: -len(p["queues"]))
    # shared joins A's Support with B's Orders, the biller joins Support with Billing; Commandes has nobody.
    assert {q["queue_id"] for q in joined["queues"]} == {str(center.support), str(center.billing), str(center.b_queue)}
    assert {q["tenant_name"] for q in joined["queues"]} == {center.a.name, center.b.name}
    groups = {frozenset(g["queue_ids"]): g["agents"] for g in joined["skill_groups"]}
    assert groups == {
        frozenset({str(center.support), str(center.b_queue)}): 1,
        frozenset({str(center.support), str(center.billing)}): 1,
        frozenset({str(center.b_queue)}): 1,
    }
    assert joined["agents"] == 3
    assert joined["target"] == {
        "answer_target_seconds": 15,
        "service_level": 0.9,
        "patience_seconds": None,
        "source": "queue",
    }
    assert [q["queue_id"] for q in alone["queues"]] == [str(center.b_french)] and alone["agents"] == 0

    # Each interval: the pooled contacts sized for 90 % in 15 s, and the queues sized alone for comparison.
    zone = zoneinfo.ZoneInfo(ZONE)
    busy = 0
    for point in joined["intervals"]:
        local = dt.datetime.fromisoformat(point["start"]).astimezone(zone)
        parts = [(pattern(local, 1.0), 20, 0.8), (pattern(local, 0.25), 30, 0.9), (pattern(local, 10.0), 15, 0.85)]
        calls = math.fsum(c for c, _, _ in parts)
        assert point["calls"] == pytest.approx(calls, abs=1e-6)
        if calls == 0:
            assert point["agents"] == point["dedicated_agents"] == 0
            continue
        busy += 1
        pooled = required_agents(Workload(calls, 900, AHT), 15, 0.9)
        dedicated = sum(required_agents(Workload(c, 900, AHT), t, x) for c, t, x in parts if c)
        assert (point["agents"], point["staff"]) == (pooled, required_staff(pooled, 0.3))
        assert point["dedicated_agents"] == dedicated >= pooled
    assert busy == 40  # 08:00-18:00 local of a weekday

    audit = await operator.get("/api/v1/operator/audit-log", params={"action": "cross_tenant_read"})
    assert any(entry["detail"].get("reason") == "workforce plan of the shared pool" for entry in audit.json()["items"])


async def test_the_pool_intraday_counts_every_agent(center: Center, operator: httpx.AsyncClient) -> None:
    day = local_start(center.day).date()
    body = (await operator.get("/api/v1/wfm/intraday", params={"day": day.isoformat()})).json()
    assert body["scope"] == "pool" and body["timezone"] == "UTC"
    by_start = {dt.datetime.fromisoformat(p["start"]): p for p in body["points"]}
    at_ten_local = by_start[local_start(center.day) + dt.timedelta(hours=10)]
    assert at_ten_local["staffed"] >= 2  # our two, and any other test's agents on at that time


async def test_an_operator_acting_for_a_tenant_gets_that_tenants_plan(
    center: Center, operator: httpx.AsyncClient
) -> None:
    response = await operator.get(
        "/api/v1/wfm/plan",
        params={"day": center.day.isoformat(), "history_weeks": WEEKS},
        headers={"Tenline-Tenant": str(center.b.id)},
    )
    assert response.status_code == 200
    assert response.json()["type"] == "tenant"
    assert {q["name"] for q in response.json()["queues"]} == {"Orders", "Commandes"}


# --- errors and isolation ---------------------------------------------------------------------------------


async def test_bad_parameters_are_problems(center: Center, admin_a: httpx.AsyncClient) -> None:
    for path, params in (
        ("/api/v1/wfm/plan", {"shrinkage": "0.95"}),
        ("/api/v1/wfm/plan", {"shrinkage": "lots"}),
        ("/api/v1/wfm/plan", {"patience_seconds": "0"}),
        ("/api/v1/wfm/plan", {"day": "2026-02-30"}),
        ("/api/v1/wfm/forecast", {"days": "15"}),
        ("/api/v1/wfm/forecast", {"history_weeks": "0"}),
        ("/api/v1/wfm/intraday", {"history_weeks": "53"}),
    ):
        body = _is_problem(await admin_a.get(path, params=params), 400)
        assert body["errors"] and next(iter(params)) in body["errors"][0]["field"]


async def test_another_tenants_queue_is_not_found(center: Center, admin_a: httpx.AsyncClient) -> None:
    for queue_id in (center.b_queue, uuid.uuid4()):
        body = _is_problem(await admin_a.get("/api/v1/wfm/forecast", params={"queue_id": str(queue_id)}), 404)
        assert body["detail"] == "no such queue"


async def test_a_tenant_sees_only_its_own_queues_and_figures(center: Center, live_server: LiveServer) -> None:
    user = await make_tenant_user(center.b.id, "supervisor")
    async with await sign_in(live_server.url, user.email) as client:
        plan = (
            await client.get("/api/v1/wfm/plan", params={"day": center.day.isoformat(), "history_weeks": WEEKS})
        ).json()
        intraday = (await client.get("/api/v1/wfm/intraday", params={"day": center.day.isoformat()})).json()
    assert {q["queue_id"] for q in plan["queues"]} == {str(center.b_queue), str(center.b_french)}
    orders = next(q for q in plan["queues"] if q["name"] == "Orders")
    assert max(p["calls"] for p in orders["intervals"]) == pytest.approx(10 * 56)  # B's own scale, not A's
    # B's agents are the shared one and its own: at 09:30 only the shared one is on (the biller is A's alone).
    at = {
        local.strftime("%H:%M"): p
        for local, p in zip(_local_times(intraday["points"]), intraday["points"], strict=True)
    }
    assert at["09:30"]["staffed"] == pytest.approx(1.0)


async def test_who_may_plan(center: Center, live_server: LiveServer, operator: httpx.AsyncClient) -> None:
    viewer = await make_tenant_user(center.a.id, "report_viewer")
    async with await sign_in(live_server.url, viewer.email) as client:
        _is_problem(await client.get("/api/v1/wfm/plan"), 403)
    agent = await make_agent(center.a.id)
    async with await sign_in(live_server.url, agent.email) as client:
        _is_problem(await client.get("/api/v1/wfm/intraday"), 403)
    async with httpx.AsyncClient(base_url=live_server.url) as anonymous:
        _is_problem(await anonymous.get("/api/v1/wfm/forecast"), 401)
    # The forecast is of a tenant's queues: an operator picks a tenant first.
    body = _is_problem(await operator.get("/api/v1/wfm/forecast"), 403)
    assert "choose a tenant" in body["detail"]


# --- the pages --------------------------------------------------------------------------------------------


async def test_the_workforce_page_shows_plan_staffing_and_forecast_error(
    center: Center, admin_a: httpx.AsyncClient
) -> None:
    params = {"day": center.day.isoformat(), "history_weeks": str(WEEKS), "shrinkage": "0.3"}
    page = await admin_a.get("/wfm", params=params)
    assert page.status_code == 200, page.text
    html = page.text
    plan = (await admin_a.get("/api/v1/wfm/plan", params=params)).json()
    ten = next(t for t, local in zip(plan["totals"], _local_times(plan["totals"]), strict=True) if local.hour == 10)
    # The 10:00 row: both queues' contacts and agents, the totals, and the 2.00 agents staffed.
    row = html[html.index('<th scope="row">10:00</th>') :].split("</tr>", 1)[0]
    assert f'<td class="num">{ten["agents"]}</td>\n        <td class="num">{ten["staff"]}</td>' in row
    assert '<td class="num">2.00</td>' in row
    assert 'id="forecast-table"' in html and '<td class="num">0.0%</td>' in html  # held-out WAPE of a repeating week
    assert 'id="wfm-chart"' in html and "/static/wfm.js" in html

    refused = await admin_a.get("/wfm", params={"shrinkage": "2", "history_weeks": "x"})
    assert refused.status_code == 400
    assert "Must be a fraction from 0 to 0.9" in refused.text and "Must be a whole number of weeks" in refused.text


async def test_the_operator_page_shows_the_pools(center: Center, operator: httpx.AsyncClient) -> None:
    page = await operator.get("/operator/wfm", params={"day": local_start(center.day).date().isoformat()})
    assert page.status_code == 200, page.text
    assert f"{center.a.name} · Support" in page.text and f"{center.b.name} · Commandes" in page.text
    # Without a tenant the tenant page sends the operator to the pool's.
    redirected = await operator.get("/wfm", follow_redirects=False)
    assert redirected.status_code == 303 and redirected.headers["location"] == "/operator/wfm"


async def test_the_calculator_page_answers_and_refuses_like_the_command_line(admin_a: httpx.AsyncClient) -> None:
    example = await admin_a.get("/wfm/erlang")
    assert example.status_code == 200 and 'value="100"' in example.text and 'id="erlang-table"' not in example.text
    asked = {
        "calls": "100",
        "interval_seconds": "1800",
        "aht_seconds": "180",
        "answer_target_seconds": "20",
        "target_sl": "0.8",
        "patience_seconds": "",
        "shrinkage": "0.3",
    }
    answered = await admin_a.get("/wfm/erlang", params=asked)
    assert answered.status_code == 200
    assert "<h2>14 agents, 20 staff</h2>" in answered.text
    assert '<tr class="required" aria-current="true">\n          <th scope="row" class="num">14</th>' in answered.text
    refused = await admin_a.get(
        "/wfm/erlang", params=asked | {"target_sl": "1.5", "calls": "many", "shrinkage": "0.95"}
    )
    assert refused.status_code == 400
    assert 'id="erlang-calls-error"' in refused.text and "Must be a number." in refused.text
    # Once every value is a number, the calculator's own checks speak (the same words as the command line's).
    refused = await admin_a.get("/wfm/erlang", params=asked | {"target_sl": "1.5", "shrinkage": "0.95"})
    assert "Must be a fraction between 0 and 1, both excluded (0.8 for 80 %)." in refused.text
    assert "Must be a fraction from 0 to 0.9 (0.3 for 30 %)." in refused.text
    unreachable = await admin_a.get("/wfm/erlang", params=asked | {"calls": "100000"})
    assert unreachable.status_code == 400 and "Unreachable: no staffing up to 1000 agents" in unreachable.text
