"""One Redis client per process, for sessions, rate limits, live state and pub/sub."""

from __future__ import annotations

import redis.asyncio as aioredis

_client: aioredis.Redis | None = None
_url: str | None = None


def configure_redis(url: str, client: aioredis.Redis | None = None) -> aioredis.Redis:
    global _client, _url
    _url = url
    _client = client or aioredis.Redis.from_url(url)
    return _client


def get_redis() -> aioredis.Redis:
    if _client is None:
        raise RuntimeError("redis not configured: call configure_redis() at start")
    return _client


def redis_url() -> str:
    if _url is None:
        raise RuntimeError("redis not configured")
    return _url
