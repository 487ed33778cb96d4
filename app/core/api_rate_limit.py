"""Per-tenant rate limits on /api/v1, with the IETF draft's headers on every response.

One moving window (``TENLINE_API_RATE_LIMIT``, e.g. ``600/minute``) per tenant: its users' sessions and its
API clients share it. An operator counts against their own window whichever tenant they act for; a request
with no caller against its client address. Headers follow draft-ietf-httpapi-ratelimit-headers-06:
``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy``.
Past the limit the answer is 429 problem details with ``Retry-After``.
"""

from __future__ import annotations

import functools

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.openapi.spec import OpenAPI
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.core import ratelimit
from app.core.errors import TooManyRequestsError
from app.core.http import API_PREFIX
from app.core.settings import get_settings
from app.core.tenancy import Principal

_QUOTA = "tenline.api_quota"
_NAMESPACE = "api"


@functools.cache
def _window(spec: str) -> ratelimit.RateLimitItem:
    return ratelimit.rate(spec)


def counted_as(principal: Principal | None, scope: Scope) -> str:
    """Whose window a request counts against."""
    if principal is None:
        client = scope.get("client")
        return f"address:{client[0] if client else 'unknown'}"
    if principal.is_operator or principal.tenant_id is None:
        return f"{principal.kind}:{principal.subject_id}"
    return f"tenant:{principal.tenant_id}"


def api_rate_limit_middleware(app: ASGIApp) -> ASGIApp:
    """Runs after authentication (it needs the caller); ``rate_limit_headers`` writes the headers."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not scope["path"].startswith(API_PREFIX):
            await app(scope, receive, send)
            return
        principal = scope.get("user")
        window = _window(get_settings().api_rate_limit)
        allowed, quota = await ratelimit.hit(
            window, _NAMESPACE, counted_as(principal if isinstance(principal, Principal) else None, scope)
        )
        scope.setdefault("state", {})[_QUOTA] = (quota, window.get_expiry())
        if not allowed:
            raise TooManyRequestsError(
                f"rate limit of {window.amount} requests per {window.get_expiry()} seconds exceeded; "
                f"retry in {quota.reset_seconds} seconds",
                retry_after_seconds=quota.reset_seconds,
            )
        await app(scope, receive, send)

    return middleware


async def rate_limit_headers(message: Message, scope: Scope) -> None:
    """App-level ``before_send``: so errors answered outside the middleware (429 included) carry them too."""
    if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
        return
    counted = scope.get("state", {}).get(_QUOTA)
    if counted is None:
        return
    quota, window_seconds = counted
    headers = MutableScopeHeaders.from_message(message)
    headers["RateLimit-Limit"] = str(quota.limit)
    headers["RateLimit-Remaining"] = str(quota.remaining)
    headers["RateLimit-Reset"] = str(quota.reset_seconds)
    headers["RateLimit-Policy"] = f"{quota.limit};w={window_seconds}"


def document_rate_limits(openapi: OpenAPI) -> None:
    """Says in the API description how the limits work (the headers come on every operation)."""
    settings = get_settings()
    note = (
        f"\n\nRate limits: {settings.api_rate_limit} per tenant (an operator: per operator), as a moving window. "
        "Every response carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy` "
        "(draft-ietf-httpapi-ratelimit-headers-06); past the limit the answer is 429 with `Retry-After`."
    )
    if openapi.info.description and note not in openapi.info.description:
        openapi.info.description += note
