"""Commands to the router: what telephony, the agent desktop and the simulator ask of the routing core.

Anyone submits a command by appending it to the agent pool's Redis stream (``submit``); the one active
router (``app.routing.router``) reads the stream in order, applies each command once (its stream id is
committed with its effects) and answers through the live state it publishes. A command that no longer
fits the state (an accept for an offer that has expired, a second hang-up) is dropped by the router:
senders may retry freely and never need a reply.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis

DEFAULT_POOL = "default"
# Stream entries the router has applied are trimmed; this bound only guards against a router that is down.
STREAM_MAX_LENGTH = 1_000_000


def stream_key(pool: str) -> str:
    return f"tenline:router:{pool}:commands"


class Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every router command; ``type`` names it on the wire."""


class ContactArrive(Command, frozen=True, tag="contact.arrive"):
    """A new contact for a tenant's queue (from the IVR, a chat widget, a scheduled callback)."""

    contact_id: uuid.UUID
    tenant_id: uuid.UUID
    queue_id: uuid.UUID
    channel: Literal["voice", "chat"] = "voice"
    priority: int = 0
    required_attributes: frozenset[str] = frozenset()  # hard, e.g. "language:fr" (see attribute_token)
    caller: str = ""
    context: dict[str, Any] = msgspec.field(default_factory=dict)  # IVR choices, call reference, CRM data
    callback: bool = False
    preferred_agent: uuid.UUID | None = None
    preferred_window_seconds: float = 0.0


class ContactAbandon(Command, frozen=True, tag="contact.abandon"):
    """The caller hung up while waiting; ignored once an agent has answered (telephony sends ContactEnd then)."""

    contact_id: uuid.UUID


class CallbackAccept(Command, frozen=True, tag="contact.callback"):
    """The caller took the callback offer: the contact keeps its place without holding the line."""

    contact_id: uuid.UUID


class CallbackCancel(Command, frozen=True, tag="contact.callback_cancel"):
    """A scheduled callback is called off: it leaves the line, unless an agent has already taken it.

    Not ``ContactAbandon``: the engine ignores a callback's hang-up on purpose (nobody holds the line).
    """

    contact_id: uuid.UUID


class AgentPresence(Command, frozen=True, tag="agent.presence"):
    agent_id: uuid.UUID
    state: Literal["available", "break", "offline"]
    reason: str = ""


class OfferAccept(Command, frozen=True, tag="offer.accept"):
    agent_id: uuid.UUID
    contact_id: uuid.UUID


class OfferReject(Command, frozen=True, tag="offer.reject"):
    agent_id: uuid.UUID
    contact_id: uuid.UUID


class ContactHold(Command, frozen=True, tag="contact.hold"):
    agent_id: uuid.UUID
    contact_id: uuid.UUID
    on_hold: bool


class ContactTransfer(Command, frozen=True, tag="contact.transfer"):
    """To a queue of the same tenant, or to an agent (who is preferred for a window)."""

    agent_id: uuid.UUID
    contact_id: uuid.UUID
    to_queue: uuid.UUID | None = None
    to_agent: uuid.UUID | None = None


class ContactEnd(Command, frozen=True, tag="contact.end"):
    """The conversation is over: the agent ended it, or telephony reports the call completed."""

    contact_id: uuid.UUID
    agent_id: uuid.UUID | None = None  # None: from telephony, whichever agent has it


class WrapUpFinish(Command, frozen=True, tag="wrap_up.finish"):
    """The agent records the disposition; with no wrap-up running (it timed out) only the code is kept."""

    agent_id: uuid.UUID
    contact_id: uuid.UUID
    disposition: str = ""


class AttainmentUpdate(Command, frozen=True, tag="tenant.attainment"):
    """The SLA service's figures for a tenant's current interval, in the engine's terms (they replace its own).

    The engine reads attainment as answered_within_target / (answered + abandoned); the SLA service maps
    its contract's service-level definition onto these three counts, so routing and the contract agree.
    """

    tenant_id: uuid.UUID
    answered: int
    answered_within_target: int
    abandoned: int


class Reconfigure(Command, frozen=True, tag="router.reconfigure"):
    """Configuration changed (queues, skills, assignments): the router reloads it from the database."""


AnyCommand = (
    ContactArrive
    | ContactAbandon
    | CallbackAccept
    | CallbackCancel
    | AgentPresence
    | OfferAccept
    | OfferReject
    | ContactHold
    | ContactTransfer
    | ContactEnd
    | WrapUpFinish
    | AttainmentUpdate
    | Reconfigure
)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyCommand)


def encode(command: Command) -> bytes:
    return _encoder.encode(command)


def decode(data: bytes) -> AnyCommand:
    return _decoder.decode(data)


async def submit(redis: aioredis.Redis, command: Command, *, pool: str = DEFAULT_POOL) -> None:
    """Append a command to the pool's stream."""
    await submit_many(redis, [command], pool=pool)


async def submit_many(redis: aioredis.Redis, commands: Sequence[Command], *, pool: str = DEFAULT_POOL) -> None:
    """Append commands to the pool's stream in this order, in one round trip."""
    if not commands:
        return
    pipe = redis.pipeline(transaction=False)
    for command in commands:
        pipe.xadd(stream_key(pool), {"c": encode(command)}, maxlen=STREAM_MAX_LENGTH, approximate=True)
    await pipe.execute()
