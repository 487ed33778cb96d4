"""Queue live statistics over real HTTP, from the real router's live views.

Tenant L's queues ask different things of agents: a skill, a language, nothing, the chat channel, and a
high skill relaxed after a while. Its agents: Pia (the skill and the language), Rui (nothing), and Sol,
whom tenant M shares and keeps busy. Contacts arrive and are answered step by step; each step's figures
are read through the API. Then today's service level from the reporting rollups, who may read, and the
path that must not be taken for a queue id.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.reporting import service as reporting
from app.routing import commands as cmd
from app.routing import schemas
from app.routing import service as routing
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_agent, make_tenant, make_tenant_user, sign_in, token_client
from tests.integration.test_router import eventually
from tests.routed import assign, contact_view, make_queue, offered, presence_is, route

PATH = "/api/v1/queues"


@dataclass
class Center:
    tenant_id: uuid.UUID
    queues: dict[str, uuid.UUID]  # by name
    pia: uuid.UUID
    rui: uuid.UUID
    sol: uuid.UUID
    other_tenant: uuid.UUID
    other_queue: uuid.UUID


@pytest.fixture
async def center(live_server: LiveServer, router_process: subprocess.Popen[bytes]) -> Center:
    tenant, other = await make_tenant("live-l"), await make_tenant("live-m")
    queues = {
        "sales": await make_queue(tenant.id, "sales", skills={"sales": 2}, wrap_up_seconds=300),
        "french": await make_queue(
            tenant.id, "french", required_attributes=[schemas.Attribute(kind="language", value="fr")]
        ),
        "plain": await make_queue(tenant.id, "plain"),
        "chat": await make_queue(tenant.id, "chat", channel="chat"),
        "relaxed": await make_queue(
            tenant.id,
            "relaxed",
            skills={"sales": 4},
            relaxation=[schemas.RelaxationStepIn(after_seconds=600, skills={"sales": 2})],
        ),
    }
    other_queue = await make_queue(other.id, "M support")
    pia, rui, sol = await make_agent(), await make_agent(), await make_agent()
    for agent, alias in ((pia, "Pia"), (rui, "Rui"), (sol, "Sol")):
        await assign(agent.id, tenant.id, alias)
    await assign(sol.id, other.id, "Sol")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            await routing.set_agent_skill(session, schemas.AgentSkillIn(agent_id=pia.id, skill="sales", proficiency=3))
            await routing.set_agent_attribute(
                session, schemas.AgentAttributeIn(agent_id=pia.id, kind="language", value="fr")
            )
    await route(cmd.Reconfigure())
    return Center(tenant.id, queues, pia.id, rui.id, sol.id, other.id, other_queue)


async def _live(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get(f"{PATH}/live")
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()["items"]}


def _agents(item: dict[str, Any]) -> tuple[int, int, int]:
    return item["agents_available"], item["agents_busy"], item["agents_wrap_up"]


def _contacts(item: dict[str, Any]) -> tuple[int, int, int]:
    return item["waiting"], item["offered"], item["connected"]


async def _arrive(tenant_id: uuid.UUID, queue_id: uuid.UUID) -> uuid.UUID:
    contact = uuid.uuid4()
    await route(cmd.ContactArrive(contact_id=contact, tenant_id=tenant_id, queue_id=queue_id, caller="+442071838750"))

    async def seen() -> bool:
        return await contact_view(contact) is not None

    await eventually(seen, what=f"contact {contact} in line")
    return contact


async def _available(agent_id: uuid.UUID) -> None:
    await route(cmd.AgentPresence(agent_id=agent_id, state="available"))
    await presence_is(agent_id, "available")


async def test_figures_follow_contacts_and_agents_step_by_step(center: Center, live_server: LiveServer) -> None:
    admin = await make_tenant_user(center.tenant_id, "supervisor")
    async with await sign_in(live_server.url, admin.email) as client:
        before = dt.datetime.now(dt.UTC)
        first = await _arrive(center.tenant_id, center.queues["sales"])
        second = await _arrive(center.tenant_id, center.queues["sales"])
        live = await _live(client)
        assert list(live) == sorted(center.queues)  # every queue of the tenant, by name; none of M's
        assert _contacts(live["sales"]) == (2, 0, 0) and _agents(live["sales"]) == (0, 0, 0)
        assert 0 < live["sales"]["longest_wait_seconds"] < 60
        assert live["plain"]["longest_wait_seconds"] is None and _contacts(live["plain"]) == (0, 0, 0)
        as_of = dt.datetime.fromisoformat(live["sales"]["as_of"])
        assert before <= as_of <= dt.datetime.now(dt.UTC)
        assert all(item["service_level_today"] is None for item in live.values())  # nothing counted yet

        # Sol takes a contact of M: busy, but for none of L's queues (and not available to them).
        await _available(center.sol)
        theirs = await _arrive(center.other_tenant, center.other_queue)
        await offered(center.sol, theirs)
        await route(cmd.OfferAccept(agent_id=center.sol, contact_id=theirs))
        await presence_is(center.sol, "on_contact")
        # Rui meets no queue's skill, language or channel: available for the plain queue only.
        await _available(center.rui)
        live = await _live(client)
        assert {name: _agents(item) for name, item in live.items()} == {
            "chat": (0, 0, 0),
            "french": (0, 0, 0),
            "plain": (1, 0, 0),
            "relaxed": (0, 0, 0),
            "sales": (0, 0, 0),
        }
        assert _contacts(live["sales"]) == (2, 0, 0)

        # Pia has the skill: offered the oldest sales contact, then on it, then wrapping it up.
        await route(cmd.AgentPresence(agent_id=center.pia, state="available"))
        await offered(center.pia, first)
        live = await _live(client)
        assert _contacts(live["sales"]) == (1, 1, 0) and _agents(live["sales"]) == (0, 1, 0)
        await route(cmd.OfferAccept(agent_id=center.pia, contact_id=first))
        await presence_is(center.pia, "on_contact")
        live = await _live(client)
        assert _contacts(live["sales"]) == (1, 0, 1) and _agents(live["sales"]) == (0, 1, 0)
        await route(cmd.ContactEnd(agent_id=center.pia, contact_id=first))
        await presence_is(center.pia, "wrap_up")
        live = await _live(client)
        assert _contacts(live["sales"]) == (1, 0, 0) and _agents(live["sales"]) == (0, 0, 1)

        # Free again, Pia counts for every queue she may serve: the skill, the language, the relaxed ring.
        await route(cmd.WrapUpFinish(agent_id=center.pia, contact_id=first, disposition="resolved"))
        await offered(center.pia, second)
        await route(
            cmd.OfferReject(agent_id=center.pia, contact_id=second),
            cmd.AgentPresence(agent_id=center.pia, state="offline"),
        )
        await presence_is(center.pia, "offline")
        await route(cmd.ContactAbandon(contact_id=second))
        await _available(center.pia)
        live = await _live(client)
        assert {name: item["agents_available"] for name, item in live.items()} == {
            "chat": 0,
            "french": 1,
            "plain": 2,
            "relaxed": 1,
            "sales": 1,
        }

        one = await client.get(f"{PATH}/{center.queues['sales']}/live")
        assert one.status_code == 200
        assert {k: v for k, v in one.json().items() if k != "as_of"} == {
            k: v for k, v in live["sales"].items() if k != "as_of"
        }

        # Today's service level, once reporting has folded the day's events (the worker does every 5 s).
        with acting_as(OPERATOR.acting_for(center.tenant_id)):
            async with get_database().session() as session:
                await reporting.update_rollups(session, wait=True)
        level = (await _live(client))["sales"]["service_level_today"]
        assert level is not None
        assert (level["offered"], level["answered"], level["abandoned"]) == (2, 1, 1)
        assert level["answer_target_seconds"] == 20 and level["target_service_level"] == 0.8
        assert level["service_level"] == pytest.approx(level["answered_within"] / 2)
        assert level["contract_version"] is None
        assert (await _live(client))["plain"]["service_level_today"] is None


async def test_another_tenants_queue_is_not_found_and_live_is_not_an_id(
    center: Center, live_server: LiveServer
) -> None:
    async with (
        token_client(live_server.url, center.tenant_id, ["queues:read"]) as reader,
        token_client(live_server.url, center.tenant_id, ["agents:read"]) as stranger,
    ):
        assert (await reader.get(f"{PATH}/{center.other_queue}/live")).status_code == 404
        assert (await reader.get(f"{PATH}/{uuid.uuid4()}/live")).status_code == 404
        listed = await reader.get(f"{PATH}/live")
        assert listed.status_code == 200 and str(center.other_queue) not in listed.text
        queue = await reader.get(f"{PATH}/{center.queues['plain']}")
        assert queue.status_code == 200 and queue.json()["name"] == "plain"
        for path in (f"{PATH}/live", f"{PATH}/{center.queues['plain']}/live"):
            refused = await stranger.get(path)
            assert refused.status_code == 403
