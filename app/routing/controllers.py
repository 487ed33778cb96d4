"""HTTP API under /api/v1 for the acting tenant's routing: configuration, queues now, interactions, disposition
codes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, TypeVar

from litestar import delete, get, patch, post
from litestar.params import QueryParameter
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
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.routing import dispositions, interactions, live_stats, schemas, service
from app.routing.models import DispositionCode, Queue
from tenants.auth import requires
from tenants.permissions import Permission

_BodyT = TypeVar("_BodyT", bound=Struct)

VIEW_QUEUES = [requires(Permission.VIEW_QUEUES)]
MANAGE_QUEUES = [requires(Permission.MANAGE_QUEUES)]
VIEW_AGENT_SKILLS = [requires(Permission.VIEW_AGENT_SKILLS)]
MANAGE_AGENT_SKILLS = [requires(Permission.MANAGE_AGENT_SKILLS)]
VIEW_INTERACTIONS = [requires(Permission.VIEW_INTERACTIONS)]
VIEW_DISPOSITIONS = [requires(Permission.VIEW_DISPOSITIONS)]
MANAGE_DISPOSITIONS = [requires(Permission.MANAGE_DISPOSITIONS)]


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

    @get(
        "/live",
        guards=VIEW_QUEUES,
        summary="Every queue of the tenant now: contacts waiting, agents, service level today",
        description="From the router's live view: contacts waiting, on offer and connected, the longest wait, "
        "agents available for, busy with and wrapping up each queue's contacts; the service level of the day's "
        "contacts so far from the reporting rollups (a few seconds behind), null before one is counted.",
    )
    async def list_queues_live(self, session: AsyncSession) -> schemas.QueueLiveList:
        items = await live_stats.queues_live(session, get_redis(), get_settings().router_pool)
        return schemas.QueueLiveList(items=items)

    @get(
        "/{queue_id:uuid}/live",
        guards=VIEW_QUEUES,
        summary="A queue now: contacts waiting, agents, service level today",
        description="The figures of GET /api/v1/queues/live for one queue.",
    )
    async def get_queue_live(self, session: AsyncSession, queue_id: uuid.UUID) -> schemas.QueueLiveOut:
        (found,) = await live_stats.queues_live(session, get_redis(), get_settings().router_pool, queue_id)
        return found

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


# --- interactions ------------------------------------------------------------------------------------

InteractionSort = Annotated[
    schemas.InteractionSort,
    QueryParameter(name="sort", description="arrival order, newest first with the leading '-'; keep it while paging"),
]
# ``state`` is a name Litestar keeps for the app state: the handler takes the query key "state" under another.
StateFilter = Annotated[schemas.InteractionStateName | None, QueryParameter(name="state")]
ChannelFilter = Annotated[schemas.ChannelName | None, QueryParameter(name="channel")]
CallerFilter = Annotated[
    str | None,
    QueryParameter(
        name="caller",
        min_length=1,
        max_length=40,
        description="a phone number in international form, in any notation (+44 20 7183 8750); anything else "
        "(a chat handle) matched as given",
    ),
]
DispositionFilter = Annotated[
    str | None, QueryParameter(name="disposition", min_length=1, max_length=64, description="a disposition code")
]
ArrivedFrom = Annotated[
    dt.datetime | None,
    QueryParameter(name="arrived_from", description="arrived at or after this time (RFC 3339, with an offset)"),
]
ArrivedTo = Annotated[
    dt.datetime | None,
    QueryParameter(name="arrived_to", description="arrived before this time (RFC 3339, with an offset)"),
]


class InteractionController(TransactionController):
    """The tenant's contacts as the router recorded them (read only)."""

    path = f"{API_PREFIX}/interactions"
    tags = ["interactions"]

    @get(
        "/",
        guards=VIEW_INTERACTIONS,
        summary="List the tenant's interactions",
        description="Filters combine (all must hold); the window is arrived_from <= arrival < arrived_to (422 if "
        "it is empty). Pages follow `sort`; a cursor is only good for its own sort. Agents appear by the alias "
        "the tenant knows them by.",
    )
    async def list_interactions(
        self,
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        sort: InteractionSort = "-arrived_at",
        contact_state: StateFilter = None,
        channel: ChannelFilter = None,
        queue_id: uuid.UUID | None = None,
        agent_id: uuid.UUID | None = None,
        caller: CallerFilter = None,
        disposition: DispositionFilter = None,
        arrived_from: ArrivedFrom = None,
        arrived_to: ArrivedTo = None,
    ) -> Page[schemas.InteractionSummary]:
        filters = interactions.InteractionFilters(
            state=contact_state,
            channel=channel,
            queue_id=queue_id,
            agent_id=agent_id,
            caller=caller,
            disposition=disposition,
            arrived_from=arrived_from,
            arrived_to=arrived_to,
        )
        return await interactions.list_interactions(session, cursor=cursor, limit=limit, sort=sort, filters=filters)

    @get(
        "/{interaction_id:uuid}",
        guards=VIEW_INTERACTIONS,
        summary="Get an interaction with its events, disposition and times",
        description="Events in the router's log order. Wait, talk and hold are counted as the reports count them.",
    )
    async def get_interaction(self, session: AsyncSession, interaction_id: uuid.UUID) -> schemas.InteractionOut:
        return await interactions.get_interaction(session, interaction_id)


# --- disposition codes -------------------------------------------------------------------------------


def _code_with_etag(row: DispositionCode, status_code: int = HTTP_200_OK) -> Response[schemas.DispositionCodeOut]:
    return with_etag(dispositions.code_out(row), row.version, status_code)


class DispositionCodeController(TransactionController):
    """How the tenant's contacts end: the codes its agents choose from at wrap-up."""

    path = f"{API_PREFIX}/disposition-codes"
    tags = ["dispositions"]

    @get(
        "/",
        guards=VIEW_DISPOSITIONS,
        summary="List the tenant's disposition codes",
        description="In the agents' order (sort_order, then creation). A tenant starts with resolved, follow-up, "
        "escalated, no-answer and wrong-number.",
    )
    async def list_codes(
        self,
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        is_active: bool | None = None,
    ) -> Page[schemas.DispositionCodeOut]:
        return await dispositions.list_codes(session, cursor=cursor, limit=limit, is_active=is_active)

    @post(
        "/",
        guards=MANAGE_DISPOSITIONS,
        summary="Create a disposition code",
        description="409 when the tenant has the code already (active or not).",
    )
    async def create_code(
        self, session: AsyncSession, data: schemas.DispositionCodeCreate
    ) -> Response[schemas.DispositionCodeOut]:
        return _code_with_etag(await dispositions.create_code(session, data), HTTP_201_CREATED)

    @get("/{code_id:uuid}", guards=VIEW_DISPOSITIONS, summary="Get a disposition code (its ETag is its version)")
    async def get_code(self, session: AsyncSession, code_id: uuid.UUID) -> Response[schemas.DispositionCodeOut]:
        return _code_with_etag(await dispositions.get_code(session, code_id))

    @patch(
        "/{code_id:uuid}",
        guards=MANAGE_DISPOSITIONS,
        summary="Change a disposition code's label, description, order or active state (If-Match: from that version)",
        description="The code itself never changes. 409 when deactivating the tenant's last active code.",
    )
    async def update_code(
        self,
        session: AsyncSession,
        code_id: uuid.UUID,
        data: schemas.DispositionCodeUpdate,
        if_match: IfMatch = None,
    ) -> Response[schemas.DispositionCodeOut]:
        row = await dispositions.update_code(session, code_id, data, if_match=if_match_version(if_match))
        return _code_with_etag(row)

    @delete(
        "/{code_id:uuid}",
        guards=MANAGE_DISPOSITIONS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a disposition code no contact has",
        description="409 when a contact ended with it (deactivate it instead: the history keeps it), or when it "
        "is the tenant's last active code.",
    )
    async def delete_code(self, session: AsyncSession, code_id: uuid.UUID, if_match: IfMatch = None) -> None:
        await dispositions.delete_code(session, code_id, if_match=if_match_version(if_match))


route_handlers = [
    QueueController,
    PhoneNumberController,
    AgentSkillController,
    AgentAttributeController,
    InteractionController,
    DispositionCodeController,
]
