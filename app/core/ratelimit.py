"""Rate limiting on Redis with the ``limits`` library (moving windows shared by every process)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from limits import RateLimitItem as RateLimitItem  # re-exported: callers annotate with it
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

_limiter: MovingWindowRateLimiter | None = None


def _storage_uri(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


def configure_rate_limits(redis_url: str) -> MovingWindowRateLimiter:
    global _limiter
    _limiter = MovingWindowRateLimiter(
        RedisStorage(_storage_uri(redis_url), implementation="redispy", key_prefix="tenline-rl")
    )
    return _limiter


def get_limiter() -> MovingWindowRateLimiter:
    if _limiter is None:
        raise RuntimeError("rate limits not configured: call configure_rate_limits() at start")
    return _limiter


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset_seconds: int


def rate(spec: str) -> RateLimitItem:
    """``"5/minute"`` and the like; raises ValueError on a malformed spec."""
    return parse(spec)


async def hit(item: RateLimitItem, *identifiers: str) -> tuple[bool, Quota]:
    """Counts one hit; returns whether it was allowed and what is left of the window."""
    limiter = get_limiter()
    allowed = await limiter.hit(item, *identifiers)
    stats = await limiter.get_window_stats(item, *identifiers)
    reset = max(0, int(stats.reset_time - time.time()) + 1)
    return allowed, Quota(limit=item.amount, remaining=stats.remaining, reset_seconds=reset)


async def test_only(item: RateLimitItem, *identifiers: str) -> bool:
    return await get_limiter().test(item, *identifiers)


async def clear(item: RateLimitItem, *identifiers: str) -> None:
    await get_limiter().clear(item, *identifiers)
