"""The routing configuration pages over real HTTP, for what the browser tests leave out: who may use which
form, plain (non-htmx) posts, removals, another tenant's ids, and the form's row buttons."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.routing import schemas, service
from tenants import service as tenant_service
from tests.conftest import LiveServer
from tests.factories import (
    OPERATOR,
    make_agent,
    make_staff,
    make_tenant,
    make_tenant_user,
    provision_number,
    sign_in,
)

HTMX = {"HX-Request": "true"}


@dataclass
class Tenant:
    id: uuid.UUID
    admin: httpx.AsyncClient
    operator: httpx.AsyncClient  # an ops manager acting for the tenant
    assignment_id: uuid.UUID  # its agent, as the tenant knows them
    agent_id: uuid.UUID
    queue_id: uuid.UUID


async def _tenant(live_server: LiveServer, ops_email: str) -> Tenant:
    tenant = await make_tenant("pages")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    agent = await make_agent(tenant.id)
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            assignment = (await tenant_service.list_tenant_agents(session, cursor=None, limit=1)).items[0]
            queue = await service.create_queue(session, schemas.QueueCreate(name="Support"))
            queue_id = queue.id
    operator = (await sign_in(live_server.url, ops_email)).client
    operator.headers["Tenline-Tenant"] = str(tenant.id)
    return Tenant(
        id=tenant.id,
        admin=(await sign_in(live_server.url, admin.email)).client,
        operator=operator,
        assignment_id=assignment.id,
        agent_id=agent.id,
        queue_id=queue_id,
    )


@dataclass
class World:
    a: Tenant
    b: Tenant


@pytest.fixture(scope="module")
async def world(live_server: LiveServer) -> AsyncIterator[World]:
    ops = await make_staff("ops_manager")
    world = World(a=await _tenant(live_server, ops.email), b=await _tenant(live_server, ops.email))
    yield world
    for tenant in (world.a, world.b):
        await tenant.admin.aclose()
        await tenant.operator.aclose()


def _text(response: httpx.Response) -> str:
    """The page's visible text, roughly: tags dropped, whitespace squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


async def _number(tenant: Tenant) -> uuid.UUID:
    """A number provisioned to the tenant and routed to its queue."""
    number = (await provision_number(tenant.id)).number
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            mapped = await service.create_phone_number(
                session, schemas.PhoneNumberCreate(number=number, queue_id=tenant.queue_id)
            )
            return mapped.id


async def test_who_may_open_and_post_which_page(live_server: LiveServer, world: World) -> None:
    supervisor = await make_tenant_user(world.a.id, "supervisor")
    queue = f"/queues/{world.a.queue_id}"
    skills = f"/agent-skills/{world.a.assignment_id}"
    async with await sign_in(live_server.url, supervisor.email) as client:
        for path in ("/queues", queue, "/phone-numbers", "/agent-skills", skills):
            assert (await client.get(path)).status_code == 200, path
        # Supervisors read the queue in its form, disabled, without the buttons that change it.
        page = await client.get(queue)
        assert '<fieldset class="bare" disabled>' in page.text and "Save queue" not in page.text
        assert (await client.get("/queues/new")).status_code == 403
        for path in ("/queues", queue, f"{queue}/delete", "/phone-numbers", f"{skills}/skills"):
            assert (await client.post(path, data={"name": "x"})).status_code == 403, path
    # Tenant admins read skills; setting them is the operator's.
    admin = world.a.admin
    assert "Set skill" not in (await admin.get(skills)).text
    assert (await admin.post(f"{skills}/skills", data={"skill": "billing", "proficiency": "3"})).status_code == 403
    assert "Set skill" in (await world.a.operator.get(skills)).text


async def test_another_tenants_agent_and_skills_are_not_found_for_an_operator(world: World) -> None:
    operator = world.a.operator  # acting for A
    b_skill = await _skill(world.b, "billing")
    own = f"/agent-skills/{world.a.assignment_id}"
    assert (await operator.get(f"/agent-skills/{world.b.assignment_id}")).status_code == 404
    set_on_b = await operator.post(
        f"/agent-skills/{world.b.assignment_id}/skills", data={"skill": "sales", "proficiency": "2"}
    )
    assert set_on_b.status_code == 404
    # B's skill through A's agent: not this agent's, so not found, and B's skill stays.
    assert (await operator.post(f"{own}/skills/{b_skill}/remove")).status_code == 404
    assert (await world.b.operator.get(f"/agent-skills/{world.b.assignment_id}")).text.count(f"skill-{b_skill}") == 1
    # Nor is a skill of another agent of the same tenant removable through this one's page.
    other = await make_agent(world.a.id)
    with acting_as(OPERATOR.acting_for(world.a.id)):
        async with get_database().session() as session:
            others_skill, _ = await service.set_agent_skill(
                session, schemas.AgentSkillIn(agent_id=other.id, skill="sales", proficiency=2)
            )
    assert (await operator.post(f"{own}/skills/{others_skill.id}/remove")).status_code == 404


async def _skill(tenant: Tenant, skill: str) -> uuid.UUID:
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            row, _ = await service.set_agent_skill(
                session, schemas.AgentSkillIn(agent_id=tenant.agent_id, skill=skill, proficiency=3)
            )
            return row.id


async def test_attributes_are_renewed_and_taken_off(world: World) -> None:
    operator = world.a.operator
    page = f"/agent-skills/{world.a.assignment_id}"
    body = {"kind": "clearance", "value": "PCI", "valid_until": "2030-01-31"}
    added = await operator.post(f"{page}/attributes", data=body)
    assert added.status_code == 303 and added.headers["location"] == page
    renewed = await operator.post(f"{page}/attributes", data={**body, "valid_until": "2031-01-31"})
    assert renewed.status_code == 303
    shown = await operator.get(page)
    assert "Agent: clearance pci renewed." in _text(shown)
    assert "2031-01-31" in shown.text and "2030-01-31" not in shown.text
    attribute_id = re.search(r'id="attribute-([0-9a-f-]{36})"', shown.text)
    assert attribute_id is not None
    bad_date = await operator.post(f"{page}/attributes", data={**body, "valid_until": "31/01/2031"})
    assert bad_date.status_code == 422
    assert 'id="attr-valid_until-error"' in bad_date.text and "Must be a date as YYYY-MM-DD." in bad_date.text
    removed = await operator.post(f"{page}/attributes/{attribute_id.group(1)}/remove")
    assert removed.status_code == 303
    after = await operator.get(page)
    assert "Agent: clearance pci taken off." in _text(after) and attribute_id.group(1) not in after.text


async def test_numbers_change_target_and_go_without_htmx_and_with_it(world: World) -> None:
    admin = world.a.admin
    number_id = await _number(world.a)
    with acting_as(OPERATOR.acting_for(world.a.id)):
        async with get_database().session() as session:
            other = await service.create_queue(session, schemas.QueueCreate(name=f"Sales {uuid.uuid4().hex[:6]}"))
            chat = await service.create_queue(
                session, schemas.QueueCreate(name=f"Chat {uuid.uuid4().hex[:6]}", channel="chat")
            )
            other_id, chat_id = other.id, chat.id

    moved = await admin.post(f"/phone-numbers/{number_id}/target", data={"target": f"queue:{other_id}"})
    assert moved.status_code == 303
    assert "now sends its calls to Sales" in _text(await admin.get("/phone-numbers"))
    # A chat queue cannot take calls: the service's reason, as the page's error.
    refused = await admin.post(f"/phone-numbers/{number_id}/target", data={"target": f"queue:{chat_id}"})
    assert refused.status_code == 422
    assert "Target: a phone number routes calls: it needs a voice queue" in _text(refused)
    with acting_as(OPERATOR.acting_for(world.a.id)):
        async with get_database().session() as session:
            assert (await service.get_phone_number(session, number_id)).queue_id == other_id
    # Adding without choosing where calls go says so next to the choice.
    missing = await admin.post("/phone-numbers", data={"number": "+442071838750", "target": ""})
    assert missing.status_code == 422 and 'id="new-target-error"' in missing.text
    assert "Choose where its calls go." in _text(missing)

    gone = await admin.post(f"/phone-numbers/{number_id}/delete", headers=HTMX)
    assert gone.status_code == 200 and "removed: its calls no longer reach Sales" in gone.text
    assert 'hx-swap-oob="innerHTML"' in gone.text
    assert (await admin.post(f"/phone-numbers/{number_id}/delete")).status_code == 404


async def test_queue_form_rows_without_htmx_and_a_stale_delete(world: World) -> None:
    admin = world.a.admin
    form = {"name": "Rows", "priority": "0", "answer_target_seconds": "20", "target_service_level": "0.8"}
    form |= {"wrap_up_seconds": "0", "channel": "voice", "skill": "billing", "level": "4", "step_after": "30"}
    form |= {"step0_skill": "billing", "step0_level": "2"}
    # A row button shows the form again with one more row; nothing is saved.
    added = await admin.post("/queues", data={**form, "rows": "add-step"})
    assert added.status_code == 200
    assert 'id="relaxation-1-after"' in added.text and " autofocus" in added.text
    # The new step copies the ring before it.
    assert re.search(r'id="relaxation-1-skills-0-skill" name="step1_skill" value="billing"', added.text)
    assert (await admin.post("/queues", data={**form, "rows": "remove-everything"})).status_code == 422
    assert "Rows" not in _text(await admin.get("/queues"))

    # Blank rows are dropped; the queue is saved with what the rows say.
    created = await admin.post("/queues", data={**form, "attribute_kind": "language", "attribute_value": ""})
    assert created.status_code == 303
    with acting_as(OPERATOR.acting_for(world.a.id)):
        async with get_database().session() as session:
            queue = next(
                q for q in (await service.list_queues(session, cursor=None, limit=50)).items if q.name == "Rows"
            )
            assert queue.skills == {"billing": 4} and queue.required_attributes == []
            assert [(s.after_seconds, s.skills) for s in queue.relaxation] == [(30, {"billing": 2})]
            await service.update_queue(session, queue.id, schemas.QueueUpdate(priority=9), if_match=1)

    stale = await admin.post(f"/queues/{queue.id}/delete", data={"version": "1"})
    assert stale.status_code == 303 and stale.headers["location"] == f"/queues/{queue.id}"
    assert "Rows was not deleted. Queue changed since version 1; it is now version 2." in _text(
        await admin.get(f"/queues/{queue.id}")
    )
    assert (await admin.post(f"/queues/{queue.id}/delete", data={"version": "2"})).status_code == 303
    assert (await admin.get(f"/queues/{queue.id}")).status_code == 404
