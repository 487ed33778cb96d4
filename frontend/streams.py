"""Live pages over server-sent events: the router's notices in, re-rendered fragments out.

The router writes its views to Redis and publishes a notice (no data) on the agent's, the tenant's and
the pool's channels after each batch (``app.routing.live``). A stream subscribes on a pubsub of its own,
re-reads its views on each notice and sends the fragment again only when what it shows has changed.
The pubsub is closed when the stream ends for any reason: the browser went away (Litestar cancels the
stream on disconnect), the stream reached its lifetime, or an error. A stream lasts ``STREAM_SECONDS``:
the browser reconnects by itself and is authenticated again, so a signed-out session stops receiving.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from litestar import Request
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from redis.asyncio.client import PubSub

from app.core.redis import get_redis
from frontend.layout import layout_of
from tenants.auth import csrf_token

STREAM_SECONDS = 600.0
KEEPALIVE_SECONDS = 15.0
RECONNECT_MS = 2000
SUBSCRIBE_SECONDS = 5.0

T = TypeVar("T")


@contextlib.asynccontextmanager
async def subscribed(channels: Sequence[str]) -> AsyncIterator[PubSub]:
    """A pubsub of its own on ``channels``, confirmed by Redis before use (no notice after this is missed)."""
    pubsub = get_redis().pubsub()
    try:
        await pubsub.subscribe(*channels)
        confirmed = 0
        deadline = time.monotonic() + SUBSCRIBE_SECONDS
        while confirmed < len(set(channels)):
            message = await pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if message is None:
                raise TimeoutError("Redis did not confirm the subscription")
            confirmed += message["type"] == "subscribe"
        yield pubsub
    finally:
        await pubsub.aclose()


async def notice(pubsub: PubSub, within: float) -> bool:
    """Waits up to ``within`` seconds for a notice; a burst of notices counts as one (one re-read for a batch)."""
    if await pubsub.get_message(ignore_subscribe_messages=True, timeout=max(0.0, within)) is None:
        return False
    while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.0) is not None:
        pass
    return True


@dataclass(frozen=True)
class Snapshot:
    """What a live fragment shows, read once: ``key`` tells two apart, ``draw`` renders it."""

    key: bytes
    draw: Callable[[], Awaitable[str]]


def key_of(*parts: Any) -> bytes:
    return msgspec.msgpack.encode(parts)


class Painter:
    """Renders a page's fragment to text, with the context ``frontend.web.fragment`` gives templates."""

    def __init__(self, request: Request[Any, Any, Any]) -> None:
        self._engine = request.app.template_engine
        self._context = {"layout": layout_of(request.scope), "csrf": csrf_token(request), "path": request.url.path}

    def __call__(self, template: str, **context: Any) -> str:
        if self._engine is None:
            raise RuntimeError("the application has no template engine")
        return str(self._engine.get_template(template).render(**self._context, **context))


def _event_id(key: bytes) -> str:
    return hashlib.blake2b(key, digest_size=12).hexdigest()


def live_stream(
    request: Request[Any, Any, Any],
    channels: Sequence[str],
    read: Callable[[], Awaitable[Snapshot]],
    *,
    event: str,
    min_interval: float = 0.0,
    refresh: float | None = None,
) -> ServerSentEvent:
    """An SSE response: the fragment at once, then again after each notice that changed it.

    Each fragment's event id names what it shows; a browser reconnecting sends the last one back
    (``Last-Event-ID``) and is not sent the same fragment again (which would reset what the person was
    choosing in its forms). ``min_interval`` spaces re-reads on busy channels (the pool's has a notice
    after every router batch). ``refresh``: re-read also after that many seconds without a notice, for a
    fragment showing figures that change without the router (the SLA job's evaluations).
    """
    last_seen = request.headers.get("last-event-id")

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        end = time.monotonic() + STREAM_SECONDS
        async with subscribed(channels) as pubsub:
            shown = last_seen
            last_read = 0.0
            changed = True
            while time.monotonic() < end:
                if changed:
                    last_read = time.monotonic()
                    snapshot = await read()
                    event_id = _event_id(snapshot.key)
                    if event_id != shown:
                        shown = event_id
                        data = await snapshot.draw()
                        yield ServerSentEventMessage(data=data, event=event, id=event_id, retry=RECONNECT_MS)
                    # Notices during the pause are kept by the pubsub and count as one.
                    pause = last_read + min_interval - time.monotonic()
                    if pause > 0:
                        await asyncio.sleep(pause)
                wait = min(KEEPALIVE_SECONDS, end - time.monotonic())
                changed = await notice(pubsub, wait if refresh is None else min(wait, refresh))
                if not changed:
                    yield ServerSentEventMessage(comment="keepalive")
                    changed = refresh is not None

    return ServerSentEvent(events(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class Refreshing(Generic[T]):
    """A value (names for a live board) loaded again once it is ``seconds`` old: names change rarely."""

    def __init__(self, load: Callable[[], Awaitable[T]], seconds: float) -> None:
        self._load = load
        self._seconds = seconds
        self._value: T | None = None
        self._loaded_at = 0.0

    async def get(self) -> T:
        if self._value is None or time.monotonic() - self._loaded_at > self._seconds:
            self._value = await self._load()
            self._loaded_at = time.monotonic()
        return self._value
