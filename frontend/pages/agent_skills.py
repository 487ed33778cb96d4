"""Agents' skills (proficiency 1-5) and hard attributes for the acting tenant.

The operator certifies its own agents (``MANAGE_AGENT_SKILLS``), acting for the tenant with the switcher;
the tenant's admins and supervisors read what their agents hold. Agents appear by their alias here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get, post
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import NotFoundError
from app.core.pagination import Page
from app.core.tenancy import Principal
from app.routing import schemas, service
from frontend.forms import Form, placed, text_fields, validate_and_submit
from frontend.listing import Window, form_again
from frontend.pages.queues import KINDS, LEVELS
from frontend.web import flash, redirect, render
from tenants import schemas as tenant_schemas
from tenants import service as tenant_service
from tenants.auth import requires
from tenants.permissions import Permission, allowed

PATH = "/agent-skills"
MANAGE = [requires(Permission.MANAGE_AGENT_SKILLS)]
SKILL_FIELDS = ("skill", "proficiency")
ATTRIBUTE_FIELDS = ("kind", "value", "valid_until")

S = TypeVar("S", bound=msgspec.Struct)
T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """One agent of the tenant with what routing knows of them here."""

    agent: tenant_schemas.TenantAgentOut
    skills: list[schemas.AgentSkillOut]
    attributes: list[schemas.AgentAttributeOut]


async def _profiles(session: AsyncSession, agents: Sequence[tenant_schemas.TenantAgentOut]) -> list[Profile]:
    ids = [agent.agent_id for agent in agents]
    skills = await service.skills_of_agents(session, ids)
    attributes = await service.attributes_of_agents(session, ids)
    return [Profile(a, skills.get(a.agent_id, []), attributes.get(a.agent_id, [])) for a in agents]


async def _profile(session: AsyncSession, assignment_id: uuid.UUID) -> Profile:
    """The agent working for the tenant under this assignment; anyone else's: 404."""
    return (await _profiles(session, [await tenant_service.get_tenant_agent(session, assignment_id)]))[0]


def _blank_skill() -> Form:
    return Form(values={"proficiency": "3"})


def _blank_attribute() -> Form:
    return Form(values={"kind": KINDS[0][0]})


class AgentSkillPages(Controller):
    path = PATH

    @get("/", guards=[requires(Permission.VIEW_AGENT_SKILLS)])
    async def list_agents(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        agents = await tenant_service.list_tenant_agents(session, cursor=window.cursor, limit=window.limit)
        page = Page(items=await _profiles(session, agents.items), next_cursor=agents.next_cursor)
        return render(request, "agent_skills/list.html", page=page, today=utcnow().date())

    @get("/{assignment_id:uuid}", guards=[requires(Permission.VIEW_AGENT_SKILLS)])
    async def agent(
        self, request: Request[Principal, Any, Any], session: AsyncSession, assignment_id: uuid.UUID
    ) -> Response[Any]:
        return self._page(request, await _profile(session, assignment_id))

    def _page(
        self,
        request: Request[Principal, Any, Any],
        profile: Profile,
        *,
        refused: tuple[str, Form] | None = None,
        code: int = 200,
    ) -> Response[Any]:
        """The agent's page; ``refused``: which form ("skill" or "attribute") comes back with its errors."""
        forms = {"skill": _blank_skill(), "attribute": _blank_attribute()} | dict([refused] if refused else [])
        return render(
            request,
            "agent_skills/agent.html",
            status=code,
            profile=profile,
            forms=forms,
            manage=allowed(request.user, Permission.MANAGE_AGENT_SKILLS),
            levels=LEVELS,
            kinds=KINDS,
            today=utcnow().date(),
        )

    async def _set(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        assignment_id: uuid.UUID,
        which: str,
        struct: type[S],
        fields: tuple[str, ...],
        setter: Callable[[AsyncSession, S], Awaitable[tuple[T, bool]]],
        done: Callable[[T, bool], str],
    ) -> Response[Any]:
        """Sets a skill or an attribute (``which``) from its form: back to the agent's page, or the form again."""
        profile = await _profile(session, assignment_id)
        values = text_fields(await request.form(), fields)
        data = {**values, "agent_id": str(profile.agent.agent_id)}
        result, errors = await validate_and_submit(session, struct, data, lambda body: setter(session, body))
        if result is None:
            return self._page(request, profile, refused=(which, form_again(values, placed(errors, fields))), code=422)
        flash(request, f"{profile.agent.alias}: {done(*result)}.")
        return redirect(request, f"{PATH}/{assignment_id}")

    async def _remove(
        self,
        request: Request[Principal, Any, Any],
        assignment_id: uuid.UUID,
        items: Sequence[Any],
        item_id: uuid.UUID,
        delete: Callable[[uuid.UUID], Awaitable[None]],
        describe: Callable[[Any], str],
    ) -> Response[Any]:
        """Takes one of the agent's skills or attributes off; one of another agent's is not found here."""
        item = next((item for item in items if item.id == item_id), None)
        if item is None:
            raise NotFoundError("the agent has no such skill or attribute")
        await delete(item_id)
        flash(request, f"{describe(item)} taken off.")
        return redirect(request, f"{PATH}/{assignment_id}")

    @post("/{assignment_id:uuid}/skills", guards=MANAGE)
    async def set_skill(
        self, request: Request[Principal, Any, Any], session: AsyncSession, assignment_id: uuid.UUID
    ) -> Response[Any]:
        return await self._set(
            request,
            session,
            assignment_id,
            "skill",
            schemas.AgentSkillIn,
            SKILL_FIELDS,
            service.set_agent_skill,
            lambda skill, created: f"{skill.skill} {'set' if created else 'changed'} to {skill.proficiency}",
        )

    @post("/{assignment_id:uuid}/attributes", guards=MANAGE)
    async def set_attribute(
        self, request: Request[Principal, Any, Any], session: AsyncSession, assignment_id: uuid.UUID
    ) -> Response[Any]:
        return await self._set(
            request,
            session,
            assignment_id,
            "attribute",
            schemas.AgentAttributeIn,
            ATTRIBUTE_FIELDS,
            service.set_agent_attribute,
            lambda attribute, created: f"{attribute.kind} {attribute.value} {'added' if created else 'renewed'}",
        )

    @post("/{assignment_id:uuid}/skills/{agent_skill_id:uuid}/remove", guards=MANAGE)
    async def remove_skill(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        assignment_id: uuid.UUID,
        agent_skill_id: uuid.UUID,
    ) -> Response[Any]:
        profile = await _profile(session, assignment_id)
        return await self._remove(
            request,
            assignment_id,
            profile.skills,
            agent_skill_id,
            lambda item_id: service.delete_agent_skill(session, item_id),
            lambda skill: f"{profile.agent.alias}: {skill.skill}",
        )

    @post("/{assignment_id:uuid}/attributes/{agent_attribute_id:uuid}/remove", guards=MANAGE)
    async def remove_attribute(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        assignment_id: uuid.UUID,
        agent_attribute_id: uuid.UUID,
    ) -> Response[Any]:
        profile = await _profile(session, assignment_id)
        return await self._remove(
            request,
            assignment_id,
            profile.attributes,
            agent_attribute_id,
            lambda item_id: service.delete_agent_attribute(session, item_id),
            lambda attribute: f"{profile.agent.alias}: {attribute.kind} {attribute.value}",
        )
