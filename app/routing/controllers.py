"""HTTP API for the acting tenant's routing configuration under /api/v1."""

from __future__ import annotations

import uuid
from typing import Literal, TypeVar

from litestar import delete, get, patch, post
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from msgspec import Struct
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import (
    API_PREFIX,
    DEFAULT_PAGE_SIZE,
    Cursor,
    IfMatch,
    Limit,
    TransactionController,
    if_match_version,
    with_etag,
)
from app.core.pagination import Page
from app.routing import schemas, service
from app.routing.models import Queue
from tenants.auth import requires
from tenants.permissions import Permission

_BodyT = TypeVar("_BodyT", bound=Struct)

VIEW_QUEUES = [requires(Permission.VIEW_QUEUES)]
MANAGE_QUEUES = [requires(Permission.MANAGE_QUEUES)]
VIEW_AGENT_SKILLS = [requires(Permission.VIEW_AGENT_SKILLS)]
MANAGE_AGENT_SKILLS = [requires(Permission.MANAGE_AGENT_SKILLS)]


def _with_etag(queue: Queue, status_code: int = HTTP_200_OK) -> Response[schemas.QueueOut]:
    return with_etag(service.queue_out(queue), queue.version, status_code)


def _created_or_replaced(body: _BodyT, created: bool) -> Response[_BodyT]:
    return Response(body, status_code=HTTP_201_CREATED if created else HTTP_200_OK)


class QueueController(TransactionController):
    path = f"{API_PREFIX}/queues"
    tags = ["routing"]

    @get("/", guards=VIEW_QUEUES, summary="List the tenant's queues")
    async def list_queues(
        self,
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        channel: Literal["voice", "chat"] | None = None,
        is_active: bool | None = None,
    ) -> Page[schemas.QueueOut]:
        return await service.list_queues(session, cursor=cursor, limit=limit, channel=channel, is_active=is_active)

    @post("/", guards=MANAGE_QUEUES, summary="Create a queue")
    async def create_queue(self, session: AsyncSession, data: schemas.QueueCreate) -> Response[schemas.QueueOut]:
        return _with_etag(await service.create_queue(session, data), HTTP_201_CREATED)

    @get("/{queue_id:uuid}", guards=VIEW_QUEUES, summary="Get a queue (its ETag is its version)")
    async def get_queue(self, session: AsyncSession, queue_id: uuid.UUID) -> Response[schemas.QueueOut]:
        return _with_etag(await service.get_queue(session, queue_id))

    @patch("/{queue_id:uuid}", guards=MANAGE_QUEUES, summary="Change a queue (If-Match: only from that version)")
    async def update_queue(
        self, session: AsyncSession, queue_id: uuid.UUID, data: schemas.QueueUpdate, if_match: IfMatch = None
    ) -> Response[schemas.QueueOut]:
        queue = await service.update_queue(session, queue_id, data, if_match=if_match_version(if_match))
        return _with_etag(queue)

    @delete(
        "/{queue_id:uuid}",
        guards=MANAGE_QUEUES,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a queue no phone number or overflow points at",
    )
    async def delete_queue(self, session: AsyncSession, queue_id: uuid.UUID, if_match: IfMatch = None) -> None:
        await service.delete_queue(session, queue_id, if_match=if_match_version(if_match))


class PhoneNumberController(TransactionController):
    path = f"{API_PREFIX}/phone-numbers"
    tags = ["routing"]

    @get("/", guards=VIEW_QUEUES, summary="List the tenant's phone numbers (DIDs)")
    async def list_phone_numbers(
        self,
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        queue_id: uuid.UUID | None = None,
        entry_point_id: uuid.UUID | None = None,
    ) -> Page[schemas.PhoneNumberOut]:
        return await service.list_phone_numbers(
            session, cursor=cursor, limit=limit, queue_id=queue_id, entry_point_id=entry_point_id
        )

    @post(
        "/",
        guards=MANAGE_QUEUES,
        summary="Route a phone number provisioned to the tenant to an entry point or a voice queue",
    )
    async def create_phone_number(
        self, session: AsyncSession, data: schemas.PhoneNumberCreate
    ) -> schemas.PhoneNumberOut:
        return await service.create_phone_number(session, data)

    @get("/{phone_number_id:uuid}", guards=VIEW_QUEUES, summary="Get a phone number")
    async def get_phone_number(self, session: AsyncSession, phone_number_id: uuid.UUID) -> schemas.PhoneNumberOut:
        return await service.get_phone_number(session, phone_number_id)

    @patch(
        "/{phone_number_id:uuid}",
        guards=MANAGE_QUEUES,
        summary="Point a phone number at another entry point or voice queue",
    )
    async def update_phone_number(
        self, session: AsyncSession, phone_number_id: uuid.UUID, data: schemas.PhoneNumberUpdate
    ) -> schemas.PhoneNumberOut:
        return await service.update_phone_number(session, phone_number_id, data)

    @delete(
        "/{phone_number_id:uuid}",
        guards=MANAGE_QUEUES,
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a phone number",
    )
    async def delete_phone_number(self, session: AsyncSession, phone_number_id: uuid.UUID) -> None:
        await service.delete_phone_number(session, phone_number_id)


class AgentSkillController(TransactionController):
    """Agents' skills for the acting tenant: the operator certifies them, the tenant may read them."""

    path = f"{API_PREFIX}/agent-skills"
    tags = ["routing"]

    @get("/", guards=VIEW_AGENT_SKILLS, summary="List agents' skills")
    async def list_agent_skills(
        self,
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        agent_id: uuid.UUID | None = None,
        skill: str | None = None,
    ) -> Page[schemas.AgentSkillOut]:
        return await service.list_agent_skills(session, cursor=cursor, limit=limit, agent_id=agent_id, skill=skill)

    @post("/", guards=MANAGE_AGENT_SKILLS, summary="Set an agent's proficiency in a skill (201 new, 200 replaced)")
    async def set_agent_skill(
        self, session: AsyncSession, data: schemas.AgentSkillIn
    ) -> Response[schemas.AgentSkillOut]:
        return _created_or_replaced(*await service.set_agent_skill(session, data))

    @delete(
        "/{agent_skill_id:uuid}",
        guards=MANAGE_AGENT_SKILLS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Take a skill off an agent",
    )
    async def delete_agent_skill(self, session: AsyncSession, agent_skill_id: uuid.UUID) -> None:
        await service.delete_agent_skill(session, agent_skill_id)


class AgentAttributeController(TransactionController):
    """Agents' hard attributes for the acting tenant (languages, certifications, clearances)."""

    path = f"{API_PREFIX}/agent-attributes"
    tags = ["routing"]

    @get("/", guards=VIEW_AGENT_SKILLS, summary="List agents' hard attributes")
    async def list_agent_attributes(
        self,
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        agent_id: uuid.UUID | None = None,
        kind: Literal["language", "certification", "clearance"] | None = None,
    ) -> Page[schemas.AgentAttributeOut]:
        return await service.list_agent_attributes(session, cursor=cursor, limit=limit, agent_id=agent_id, kind=kind)

    @post("/", guards=MANAGE_AGENT_SKILLS, summary="Give an agent a hard attribute (201 new, 200 replaced)")
    async def set_agent_attribute(
        self, session: AsyncSession, data: schemas.AgentAttributeIn
    ) -> Response[schemas.AgentAttributeOut]:
        return _created_or_replaced(*await service.set_agent_attribute(session, data))

    @delete(
        "/{agent_attribute_id:uuid}",
        guards=MANAGE_AGENT_SKILLS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Take a hard attribute off an agent",
    )
    async def delete_agent_attribute(self, session: AsyncSession, agent_attribute_id: uuid.UUID) -> None:
        await service.delete_agent_attribute(session, agent_attribute_id)


route_handlers = [QueueController, PhoneNumberController, AgentSkillController, AgentAttributeController]
