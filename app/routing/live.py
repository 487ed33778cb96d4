"""Live routing state in Redis: what the router publishes and the desktop, wallboards and telephony read.

The router is the only writer. After each committed batch it rewrites the views of the agents,
contacts and queues the batch touched (one msgpack value per key) and publishes a notice on the
channels of the agent, the tenant and the pool; readers subscribe and re-read the views. On takeover
a new router rewrites every view, so the state here never outlives a failover by more than a rebuild.
Views of finished contacts expire after an hour (telephony may still ask about them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar

import msgspec
import redis.asyncio as aioredis

from app.routing.commands import DEFAULT_POOL

Presence = Literal["offline", "available", "offered", "on_contact", "wrap_up", "break"]
ContactState = Literal["waiting", "offered", "connected", "ended", "abandoned", "removed"]
FINISHED_TTL_SECONDS = 3600


class OfferView(msgspec.Struct, frozen=True, kw_only=True):
    contact_id: uuid.UUID
    tenant_id: uuid.UUID
    queue_id: uuid.UUID
    expires_at: float  # epoch seconds


class AgentView(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: uuid.UUID
    presence: Presence
    # What the agent asked for (available, break or offline); it shows once the contacts in hand are over.
    requested: Literal["available", "break", "offline"] = "offline"
    reason: str = ""  # break reason
    since: float  # epoch seconds of the last presence change
    offer: OfferView | None = None
    contacts: tuple[uuid.UUID, ...] = ()
    wrap_up_contact: uuid.UUID | None = None
    wrap_up_until: float | None = None
    # Contacts ended whose disposition is still to record (the agent may wrap up after the timer ran out).
    pending_dispositions: tuple[uuid.UUID, ...] = ()


class ContactView(msgspec.Struct, frozen=True, kw_only=True):
    contact_id: uuid.UUID
    tenant_id: uuid.UUID
    queue_id: uuid.UUID
    channel: str
    state: ContactState
    caller: str = ""
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    agent_id: uuid.UUID | None = None
    arrived_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    on_hold: bool = False
    transfers: int = 0
    disposition: str | None = None


class QueueView(msgspec.Struct, frozen=True, kw_only=True):
    queue_id: uuid.UUID
    tenant_id: uuid.UUID
    waiting: int
    oldest_arrived_at: float | None = None
    offered: int = 0  # contacts on offer to an agent now
    connected: int = 0


def _prefix(pool: str) -> str:
    return f"tenline:live:{pool}"


def agent_key(agent_id: uuid.UUID | str, pool: str = DEFAULT_POOL) -> str:
    return f"{_prefix(pool)}:agent:{agent_id}"


def contact_key(contact_id: uuid.UUID | str, pool: str = DEFAULT_POOL) -> str:
    return f"{_prefix(pool)}:contact:{contact_id}"


def queue_key(queue_id: uuid.UUID | str, pool: str = DEFAULT_POOL) -> str:
    return f"{_prefix(pool)}:queue:{queue_id}"


def tenant_queues_key(tenant_id: uuid.UUID | str, pool: str = DEFAULT_POOL) -> str:
    """A set of the tenant's queue ids that have a view."""
    return f"{_prefix(pool)}:tenant-queues:{tenant_id}"


def agents_key(pool: str = DEFAULT_POOL) -> str:
    """A set of every agent id that has a view."""
    return f"{_prefix(pool)}:agents"


def agent_channel(agent_id: uuid.UUID | str, pool: str = DEFAULT_POOL) -> str:
    return f"{_prefix(pool)}:changed:agent:{agent_id}"


def tenant_channel(tenant_id: uuid.UUID | str, pool: str = DEFAULT_POOL) -> str:
    return f"{_prefix(pool)}:changed:tenant:{tenant_id}"


def pool_channel(pool: str = DEFAULT_POOL) -> str:
    return f"{_prefix(pool)}:changed"


def key_pattern(pool: str = DEFAULT_POOL) -> str:
    return f"{_prefix(pool)}:*"


_encoder = msgspec.msgpack.Encoder()
_decoders: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {
    view: msgspec.msgpack.Decoder(view) for view in (AgentView, ContactView, QueueView)
}
ViewT = TypeVar("ViewT", AgentView, ContactView, QueueView)


def encode(view: AgentView | ContactView | QueueView) -> bytes:
    return _encoder.encode(view)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def _read(redis: aioredis.Redis, view: type[ViewT], keys: Sequence[str]) -> list[ViewT]:
    if not keys:
        return []
    raws: list[bytes | str | None] = await redis.mget(keys)
    decoder = _decoders[view]
    return [decoder.decode(raw.encode() if isinstance(raw, str) else raw) for raw in raws if raw]


async def _members(redis: aioredis.Redis, key: str) -> list[str]:
    raws: set[bytes | str] = await redis.smembers(key)
    return sorted(_text(raw) for raw in raws)


async def agent_view(redis: aioredis.Redis, agent_id: uuid.UUID, pool: str = DEFAULT_POOL) -> AgentView | None:
    views = await _read(redis, AgentView, [agent_key(agent_id, pool)])
    return views[0] if views else None


async def contact_view(redis: aioredis.Redis, contact_id: uuid.UUID, pool: str = DEFAULT_POOL) -> ContactView | None:
    views = await _read(redis, ContactView, [contact_key(contact_id, pool)])
    return views[0] if views else None


async def contact_views(
    redis: aioredis.Redis, contact_ids: Sequence[uuid.UUID], pool: str = DEFAULT_POOL
) -> list[ContactView]:
    return await _read(redis, ContactView, [contact_key(c, pool) for c in contact_ids])


async def agent_views(
    redis: aioredis.Redis, agent_ids: Iterable[uuid.UUID] | None = None, pool: str = DEFAULT_POOL
) -> list[AgentView]:
    """The given agents' views, or every agent's."""
    ids = [str(a) for a in agent_ids] if agent_ids is not None else await _members(redis, agents_key(pool))
    return await _read(redis, AgentView, [agent_key(a, pool) for a in ids])


async def queue_views(redis: aioredis.Redis, tenant_id: uuid.UUID, pool: str = DEFAULT_POOL) -> list[QueueView]:
    """The live figures of one tenant's queues (only ever that tenant's: the set is per tenant)."""
    ids = await _members(redis, tenant_queues_key(tenant_id, pool))
    views = await _read(redis, QueueView, [queue_key(q, pool) for q in ids])
    return [view for view in views if view.tenant_id == tenant_id]
