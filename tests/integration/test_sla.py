"""SLA contracts, live evaluation, alerts and the attainment the router reads, on real PostgreSQL and Redis.

Traffic goes through a real router and the reporting rollups (see ``tests/sla_helpers.py``); evaluations run
at chosen instants, so a window can be looked at while open or after it closed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from app.core.broker import Tick
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import acting_as, system_principal
from app.routing import commands as cmd
from app.sla import schemas, service
from app.sla.actors import evaluate_slas
from app.sla.engine import WindowKind, window_at
from app.sla.models import SlaEvaluation
from tenants import service as tenants
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_api_client, make_staff, make_tenant, make_tenant_user, sign_in
from tests.integration.test_router import contact_in, offer_for, pool_name, running_router, submit
from tests.sla_helpers import (
    QUARTER,
    SlaSetup,
    arrival_interval,
    clear_of_interval_end,
    evaluate_at,
    fold,
    play,
    record_contract,
    sla_tenant,
    target,
)

SL_80_IN_20 = target("service_level", minimum=0.8, within_seconds=20)


# --- a tenant whose service level broke down ---------------------------------------------------------


@pytest.fixture(scope="module")
async def breakdown() -> dict[str, Any]:
    """3 callers abandoned and 1 answered in one interval W, against 80% in 20 s (definition 3, no short
    abandons): 1 / 4 = 25%. Abandonment 3 / 4 against at most 10% a day; CSAT has no data source."""
    setup = await sla_tenant("breakdown")
    contract = await record_contract(
        setup.tenant_id,
        [SL_80_IN_20, target("abandonment_rate", "day", maximum=0.1), target("csat", "day", minimum=0.85)],
    )
    await clear_of_interval_end()
    pool = pool_name()
    async with running_router(pool):
        contacts = await play(pool, setup, answered=1, abandoned=3)
    await fold(setup.tenant_id)
    start = await arrival_interval(setup.tenant_id, contacts)
    return {"setup": setup, "contract": contract, "window": start, "now": start + QUARTER + dt.timedelta(minutes=1)}


async def _alert_keys(tenant_id: uuid.UUID) -> list[tuple[str, dt.datetime, str]]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            page = await service.list_alerts(session, cursor=None, limit=50)
    return sorted((a.target.measure, a.window_start, a.state) for a in page.items)


async def _outbox(tenant_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            rows = await session.execute(
                sa.text("SELECT topic, payload FROM outbox WHERE topic LIKE 'sla.%' ORDER BY created_at")
            )
            return [(row.topic, row.payload) for row in rows]


async def test_a_breach_is_alerted_once_however_often_and_concurrently_it_is_evaluated(
    breakdown: dict[str, Any],
) -> None:
    setup: SlaSetup = breakdown["setup"]
    window, now = breakdown["window"], breakdown["now"]
    first = await evaluate_at(setup.tenant_id, now)
    for _ in range(2):
        await evaluate_at(setup.tenant_id, now)
    await asyncio.gather(*(evaluate_at(setup.tenant_id, now) for _ in range(5)))

    states = {(e.target.measure, e.window.start): e.assessment for e in first.evaluated}
    closed = states[("service_level", window)]  # W closed a minute ago: its result is final
    assert (closed.state, closed.value, closed.projected, closed.volume) == ("breached", 0.25, 0.25, 4)
    # The next quarter has nothing yet; the recent rate and ratio (W's) project 25% for it: at risk.
    following = states[("service_level", window + QUARTER)]
    assert (following.state, following.value, following.projected) == ("at_risk", None, 0.25)
    day = window_at(now, WindowKind.DAY, setup.timezone).start
    abandonment = states[("abandonment_rate", day)]
    assert (abandonment.state, abandonment.value) == ("at_risk", 0.75)
    assert states[("csat", day)].state == "no_data"

    assert await _alert_keys(setup.tenant_id) == sorted(
        [
            ("service_level", window, "breached"),
            ("service_level", window + QUARTER, "at_risk"),
            ("abandonment_rate", day, "at_risk"),
        ]
    )
    events = await _outbox(setup.tenant_id)
    assert sorted(topic for topic, _ in events) == ["sla.at_risk", "sla.at_risk", "sla.breached"]
    breached = next(payload for topic, payload in events if topic == "sla.breached")
    contract: schemas.ContractOut = breakdown["contract"]
    assert breached == {
        "alert_id": breached["alert_id"],
        "tenant_id": str(setup.tenant_id),
        "contract_id": str(contract.id),
        "contract_version": 1,
        "target_id": str(contract.targets[0].id),
        "measure": "service_level",
        "window": "15min",
        "window_start": window.isoformat().replace("+00:00", "Z"),
        "window_end": (window + QUARTER).isoformat().replace("+00:00", "Z"),
        "state": "breached",
        "value": 0.25,
        "projected": 0.25,
        "minimum": 0.8,
        "maximum": None,
        "within_seconds": 20,
    }

    # One evaluation row per target and window, however many runs: the latest state.
    with acting_as(system_principal(setup.tenant_id)):
        async with get_database().session() as session:
            rows = await session.execute(sa.select(sa.func.count()).select_from(SlaEvaluation))
            assert rows.scalar_one() == len(first.evaluated)


async def test_the_same_window_is_out_of_reach_before_it_closes(breakdown: dict[str, Any]) -> None:
    """Evaluated in its last minute, W already projects far below target: 25% so far."""
    setup: SlaSetup = breakdown["setup"]
    window = breakdown["window"]
    open_run = await evaluate_at(setup.tenant_id, window + dt.timedelta(minutes=14))
    sl = next(e.assessment for e in open_run.evaluated if e.window.start == window and e.target.within_seconds)
    # V = 4 contacts / 1740 s recent * 60 s left; best case (1 + V) / (4 + V) = 0.28 < 0.8: out of reach.
    assert sl.expected_rest == pytest.approx(4 / 1740 * 60)
    assert (sl.state, sl.value) == ("breached", 0.25)


async def test_the_router_steers_by_the_contracts_service_level() -> None:
    """Tenant X's contract leaves abandons out (definition 1): its 3 abandons and 1 answer are 100%, though the
    engine's own count says 25%. Y has no contract: 1 abandon, 1 answer, 50% by the engine's count. Until the SLA
    service's figures reach the router X looks furthest behind and its caller is served first; after, Y's."""
    x = await sla_tenant("contract-x")
    y = await sla_tenant("contract-y", agent_id=x.agent_id)
    await record_contract(x.tenant_id, [SL_80_IN_20], definition="answered")
    await clear_of_interval_end(120)
    pool = pool_name()
    async with running_router(pool):
        await play(pool, x, answered=1, abandoned=3)
        await play(pool, y, answered=1, abandoned=1)
        await fold(x.tenant_id)
        run = await evaluate_at(x.tenant_id, utcnow())
        assert run.attainment == cmd.AttainmentUpdate(
            tenant_id=x.tenant_id, answered=1, answered_within_target=1, abandoned=0
        )
        assert await service.send_attainment(get_redis(), run.attainment, pool=pool)
        assert not await service.send_attainment(get_redis(), run.attainment, pool=pool)  # unchanged: not again

        first, second = await _callers_in_order(pool, x, y)
        await submit(pool, cmd.AgentPresence(agent_id=x.agent_id, state="available"))
        assert (await offer_for(pool, x.agent_id)).contact_id == second  # Y's, though X's caller came first
    assert first != second


async def _callers_in_order(pool: str, x: SlaSetup, y: SlaSetup) -> tuple[uuid.UUID, uuid.UUID]:
    """The shared agent steps away; a caller of X, then one of Y, wait."""
    await submit(pool, cmd.AgentPresence(agent_id=x.agent_id, state="break", reason="coffee"))
    first, second = uuid.uuid4(), uuid.uuid4()
    await submit(pool, cmd.ContactArrive(contact_id=first, tenant_id=x.tenant_id, queue_id=x.queue_id))
    await contact_in(pool, first, "waiting")
    await submit(pool, cmd.ContactArrive(contact_id=second, tenant_id=y.tenant_id, queue_id=y.queue_id))
    await contact_in(pool, second, "waiting")
    return first, second


async def test_without_the_sla_services_figures_the_router_goes_by_its_own_count() -> None:
    """The control of the test above: the same traffic, no AttainmentUpdate: X's caller (25%) is served first."""
    x = await sla_tenant("control-x")
    y = await sla_tenant("control-y", agent_id=x.agent_id)
    await clear_of_interval_end(120)
    pool = pool_name()
    async with running_router(pool):
        await play(pool, x, answered=1, abandoned=3)
        await play(pool, y, answered=1, abandoned=1)
        first, _ = await _callers_in_order(pool, x, y)
        await submit(pool, cmd.AgentPresence(agent_id=x.agent_id, state="available"))
        assert (await offer_for(pool, x.agent_id)).contact_id == first


async def test_the_periodic_job_evaluates_and_tells_the_sessions_router() -> None:
    setup = await sla_tenant("job")
    await record_contract(setup.tenant_id, [SL_80_IN_20])
    with acting_as(system_principal(setup.tenant_id)):
        await evaluate_slas(Tick(scheduled_at=utcnow()))
        async with get_database().session() as session:
            attainment = await service.current_attainment(session)
    assert [t.state for t in attainment.targets] == ["no_data"]
    assert attainment.targets[0].evaluated_at is not None
    sent = await get_redis().get(service.attainment_sent_key(get_settings().router_pool, setup.tenant_id))
    assert msgspec.json.decode(sent) == {
        "type": "tenant.attainment",
        "tenant_id": str(setup.tenant_id),
        "answered": 0,
        "answered_within_target": 0,
        "abandoned": 0,
    }


# --- contracts through the API -------------------------------------------------------------------


@pytest.fixture(scope="module")
async def people(live_server: LiveServer) -> Any:
    tenant = await make_tenant("contract")
    operator = await make_staff("operator_admin")
    ops = await make_staff("ops_manager")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    viewer = await make_tenant_user(tenant.id, "report_viewer")
    clients = {}
    for name, email in (
        ("operator", operator.email),
        ("ops", ops.email),
        ("admin", admin.email),
        ("viewer", viewer.email),
    ):
        signed = await sign_in(live_server.url, email)
        signed.client.headers["Tenline-Tenant"] = str(tenant.id)
        clients[name] = signed.client
    yield tenant, clients
    for client in clients.values():
        await client.aclose()


def _version(effective_from: dt.date, **changes: Any) -> dict[str, Any]:
    body = {
        "effective_from": effective_from.isoformat(),
        "definition": "answered_and_abandoned",
        "note": "MSA schedule 2",
        "targets": [
            {"measure": "service_level", "window": "15min", "minimum": 0.8, "within_seconds": 20},
            {"measure": "aht", "window": "day", "minimum": 240, "maximum": 360, "business_hours_only": True},
        ],
    }
    return body | changes


async def test_contract_versions_are_recorded_by_operator_admins_and_read_by_the_tenant(people: Any) -> None:
    _, clients = people
    today = utcnow().date()  # the tenant is in UTC
    operator, admin, viewer, ops = clients["operator"], clients["admin"], clients["viewer"], clients["ops"]

    assert (await admin.get("/api/v1/sla/contracts/current")).status_code == 404
    assert (await admin.post("/api/v1/sla/contracts", json=_version(today))).status_code == 403
    assert (await ops.post("/api/v1/sla/contracts", json=_version(today))).status_code == 403
    first = await operator.post("/api/v1/sla/contracts", json=_version(today), headers={"If-Match": '"0"'})
    assert first.status_code == 201, first.text
    assert first.headers["ETag"] == '"1"'
    assert first.json()["status"] == "in_force" and first.json()["created_by"] == "operator_admin"

    # A change is a new version: from tomorrow, scheduled until then; the first stays in force today.
    later = _version(today + dt.timedelta(days=1), definition="answered")
    stale = await operator.post("/api/v1/sla/contracts", json=later, headers={"If-Match": '"0"'})
    assert stale.status_code == 412 and "latest version is now 1" in stale.json()["detail"]
    second = await operator.post("/api/v1/sla/contracts", json=later, headers={"If-Match": first.headers["ETag"]})
    assert second.status_code == 201 and second.headers["ETag"] == '"2"'

    for reader in (admin, viewer, ops):
        history = (await reader.get("/api/v1/sla/contracts")).json()["items"]
        assert [(v["version"], v["status"]) for v in history] == [(2, "scheduled"), (1, "in_force")]
    current = await viewer.get("/api/v1/sla/contracts/current")
    assert current.headers["ETag"] == '"1"'
    targets = current.json()["targets"]
    assert [(t["measure"], t["window"], t["minimum"], t["maximum"], t["business_hours_only"]) for t in targets] == [
        ("service_level", "15min", 0.8, None, False),
        ("aht", "day", 240, 360, True),
    ]
    one = await admin.get(f"/api/v1/sla/contracts/{second.json()['id']}")
    assert one.json()["definition"] == "answered" and one.headers["ETag"] == '"2"'

    # A correction for today: version 3 supersedes 1 at once; 2 still takes over tomorrow.
    third = await operator.post("/api/v1/sla/contracts", json=_version(today, note="corrected"))
    assert third.status_code == 201
    history = (await viewer.get("/api/v1/sla/contracts")).json()["items"]
    assert [(v["version"], v["status"]) for v in history] == [(3, "in_force"), (2, "scheduled"), (1, "superseded")]
    assert (await viewer.get("/api/v1/sla/contracts/current")).json()["note"] == "corrected"

    attainment = (await viewer.get("/api/v1/sla/attainment")).json()
    assert [t["state"] for t in attainment["targets"]] == ["no_data", "no_data"]
    series = (await viewer.get("/api/v1/sla/attainment/intervals", params={"day": today.isoformat()})).json()
    assert len(series["points"]) == 96 and series["minimum"] == 0.8 and series["within_seconds"] == 20
    assert (await viewer.get("/api/v1/sla/alerts")).json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"effective_from": "2020-01-01"}, "effective_from", "or later"),
        ({"short_abandon_seconds": 7}, "short_abandon_seconds", "must be one of"),
        (
            {"targets": [{"measure": "service_level", "window": "day", "minimum": 0.8, "within_seconds": 17}]},
            "targets[0].within_seconds",
            "wait buckets",
        ),
        (
            {"targets": [{"measure": "service_level", "window": "day", "minimum": 80, "within_seconds": 20}]},
            "targets[0].minimum",
            "share from 0 to 1",
        ),
        (
            {"targets": [{"measure": "service_level", "window": "day", "minimum": 0.8}]},
            "targets[0].within_seconds",
            "required",
        ),
        ({"targets": [{"measure": "asa", "window": "day", "minimum": 10}]}, "targets[0].maximum", "required"),
        (
            {"targets": [{"measure": "asa", "window": "day", "minimum": 10, "maximum": 30}]},
            "targets[0].minimum",
            "no minimum",
        ),
        (
            {"targets": [{"measure": "aht", "window": "day", "minimum": 400, "maximum": 300}]},
            "targets[0].maximum",
            "below the minimum",
        ),
        (
            {"targets": [{"measure": "fcr", "window": "day", "minimum": 0.9, "within_seconds": 20}]},
            "targets[0].within_seconds",
            "only a service level",
        ),
        (
            {
                "targets": [
                    {"measure": "fcr", "window": "day", "minimum": 0.9},
                    {"measure": "fcr", "window": "day", "minimum": 0.8},
                ]
            },
            "targets[1].measure",
            "already a target",
        ),
    ],
)
async def test_a_bad_version_is_refused_naming_the_field(
    people: Any, changes: dict[str, Any], field: str, message: str
) -> None:
    _, clients = people
    response = await clients["operator"].post("/api/v1/sla/contracts", json=_version(utcnow().date()) | changes)
    assert response.status_code == 422, response.text
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert field in errors and message in errors[field], errors


async def test_programs_read_with_the_sla_scope(live_server: LiveServer, people: Any) -> None:
    tenant, _ = people
    for scopes, status in ((["sla:read"], 200), (["queues:read"], 403)):
        client, secret = await make_api_client(tenant.id, scopes)
        async with httpx.AsyncClient(base_url=live_server.url) as http:
            token = (
                await http.post(
                    "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret)
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            assert (await http.get("/api/v1/sla/contracts", headers=headers)).status_code == status
            assert (await http.get("/api/v1/sla/alerts", headers=headers)).status_code == status
            assert (await http.post("/api/v1/sla/contracts", headers=headers, json={})).status_code in (403, 422)


# --- isolation -----------------------------------------------------------------------------------


async def test_a_tenant_never_sees_another_tenants_contracts_evaluations_or_alerts(
    live_server: LiveServer, breakdown: dict[str, Any]
) -> None:
    b: SlaSetup = breakdown["setup"]
    await evaluate_at(b.tenant_id, breakdown["now"])  # B has evaluations and alerts
    a = await sla_tenant("isolated")
    await record_contract(a.tenant_id, [SL_80_IN_20])
    await evaluate_at(a.tenant_id, utcnow())
    admin = await make_tenant_user(a.tenant_id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        versions = (await client.get("/api/v1/sla/contracts")).json()["items"]
        assert versions and breakdown["contract"].id not in {uuid.UUID(v["id"]) for v in versions}
        assert (await client.get(f"/api/v1/sla/contracts/{breakdown['contract'].id}")).status_code == 404
        assert (await client.get("/api/v1/sla/alerts")).json()["items"] == []
        attainment = (await client.get("/api/v1/sla/attainment")).json()
        b_targets = {str(t.id) for t in breakdown["contract"].targets}
        assert {t["target"]["id"] for t in attainment["targets"]}.isdisjoint(b_targets)
        # Operator pages are not a tenant admin's.
        assert (await client.get("/operator/sla-alerts")).status_code == 403

    # The operator reads every tenant's alerts, and the read is audited.
    operator = await make_staff("ops_manager")
    async with await sign_in(live_server.url, operator.email) as client:
        page = await client.get("/operator/sla-alerts", params={"tenant": str(b.tenant_id)})
        assert page.status_code == 200 and "Breached" in page.text
    with acting_as(OPERATOR):
        entries = (await tenants.list_all_audit(cursor=None, limit=50, action="cross_tenant_read")).items
    assert any(
        e.actor_name == "ops_manager"
        and e.detail == {"reason": "SLA alerts of every tenant", "tenant_id": str(b.tenant_id)}
        for e in entries
    )


# --- the contract page -----------------------------------------------------------------------------


async def test_the_new_version_form_shows_each_refusal_by_its_row_then_records(people: Any) -> None:
    _, clients = people
    operator = clients["operator"]
    form = {
        "_csrf": operator.headers["X-CSRF-Token"],
        "follows": "",
        "effective_from": (utcnow().date() + dt.timedelta(days=3)).isoformat(),
        "definition": "answered",
        "short_abandon_seconds": "5",
        "note": "",
        "target_measure": ["service_level", "abandonment_rate"],
        "target_window": ["15min", "day"],
        "target_hours": ["all", "business"],
        "target_minimum": ["0.85", ""],
        "target_maximum": ["", "lots"],
        "target_within_seconds": ["17", ""],
    }
    refused = await operator.post("/sla/contract", data=form)
    assert refused.status_code == 422
    assert 'id="targets-1-maximum-error"' in refused.text and "Must be a number." in refused.text
    form["target_maximum"] = ["", "0.05"]
    refused = await operator.post("/sla/contract", data=form)
    assert refused.status_code == 422
    assert 'id="targets-0-within-error"' in refused.text and "Must be one of the wait buckets" in refused.text
    form["target_within_seconds"] = ["15", ""]
    recorded = await operator.post("/sla/contract", data=form)
    assert recorded.status_code == 303, recorded.text
    page = await operator.get("/sla/contract")
    assert "Service level: at least 85% within 15 s, per 15 minutes" in page.text
    assert "Abandonment rate: at most 5%, per day, business hours" in page.text
