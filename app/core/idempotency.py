"""``Idempotency-Key`` on every POST, PUT and PATCH under /api/v1: a retried request gets the first one's answer.

(PUT is idempotent by itself, but a retried upsert should also get the first answer -- 201, not 200 -- and
PATCH is not idempotent at all; the IETF draft names POST and PATCH, and PUT costs nothing to add.)

The first request with a key claims it in Redis (an in-flight marker, ``SET NX``) together with a
fingerprint of method, path, query and body. Its response (status, headers, body) then replaces the
marker for ``idempotency_ttl_seconds`` (at least a day). A repeat with the same fingerprint replays it
with ``Idempotent-Replayed: true``; a repeat while the first still runs gets 409; the key reused with
another request gets 422. Answers of 5xx are not kept: the key is released so the client may retry.

Redis rather than PostgreSQL: the claim must be atomic across processes and visible before the first
request's transaction commits (a row inserted in that transaction would be invisible to the concurrent
repeat until commit, which is exactly the window to guard), and keys expire by themselves. The record is
written after the response went out, and the response starts only once the transaction committed
(``request_transaction_middleware`` sits outside this middleware), so a replayed success was committed.
A process dying between commit and record leaves the marker until ``IN_FLIGHT_TTL_SECONDS``, then the key
is free again.

Keys are scoped to the caller (kind, subject and acting tenant): two callers never see each other's
answers. Anonymous requests (the sign-in itself) have no caller to scope to, and the header is ignored.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import msgspec
from litestar.enums import ScopeType
from litestar.openapi.spec import OpenAPI, Operation, Parameter, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from app.core.errors import ConflictError, DomainError, FieldError, InvalidInputError
from app.core.http import API_PREFIX
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import Principal

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[A-Za-z0-9._:~+/=-]{1,255}$"
_VALID_KEY = re.compile(KEY_PATTERN)
_HEADER_NAME = HEADER.lower().encode()
# Longer than any request should run; only a process dying mid-request leaves a marker this long.
IN_FLIGHT_TTL_SECONDS = 120
# Larger answers (exports, say) are not kept: the key is released and a retry runs again.
MAX_STORED_BODY_BYTES = 1_048_576
# A replay must not hand out the first request's cookies (a session); the date is the replay's own.
_NOT_REPLAYED = frozenset({b"set-cookie", b"date"})
_REDIS_PREFIX = "tenline-idem"


class InvalidIdempotencyKey(DomainError):
    slug = "invalid-idempotency-key"


class Record(msgspec.Struct, kw_only=True):
    """What Redis holds for a key: the claim, then the first response."""

    state: Literal["in_flight", "done"]
    fingerprint: str
    status: int = 0
    headers: list[tuple[bytes, bytes]] = []
    body: bytes = b""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Record)


def redis_key(principal: Principal, key: str) -> str:
    return f"{_REDIS_PREFIX}:{principal.kind}:{principal.subject_id}:{principal.tenant_id}:{key}"


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def claim(principal: Principal, key: str, request_fingerprint: str) -> Record | None:
    """Marks the key in flight; None if this request now owns it, else the record already there."""
    redis = get_redis()
    name = redis_key(principal, key)
    marker = _encoder.encode(Record(state="in_flight", fingerprint=request_fingerprint))
    # The existing record may expire between the failed claim and its read: claim again then.
    for _ in range(3):
        if await redis.set(name, marker, nx=True, ex=IN_FLIGHT_TTL_SECONDS):
            return None
        existing = await redis.get(name)
        if isinstance(existing, bytes):
            return _decoder.decode(existing)
    raise ConflictError(f"the {HEADER} is contended; retry the request")


async def release(principal: Principal, key: str) -> None:
    await get_redis().delete(redis_key(principal, key))


async def _remember(principal: Principal, key: str, record: Record) -> None:
    await get_redis().set(redis_key(principal, key), _encoder.encode(record), ex=get_settings().idempotency_ttl_seconds)


def _key_of(scope: Scope) -> str | None:
    values = [value for name, value in scope["headers"] if name == _HEADER_NAME]
    if not values:
        return None
    key = values[0].decode("latin-1")
    if len(values) > 1 or not _VALID_KEY.match(key):
        message = "must be one header of 1 to 255 characters: letters, digits and . _ : ~ + / = -"
        raise InvalidIdempotencyKey(
            f"{HEADER}: {message}", errors=[FieldError(field=HEADER, message=message, source="header")]
        )
    return key


async def _read_body(receive: Receive, limit: int) -> tuple[list[ReceiveMessage], bytes | None]:
    """The request's body messages as received, and the body (None past ``limit``: the app refuses it)."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replaying(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> ReceiveMessage:
        return pending.pop(0) if pending else await receive()

    return replay


async def _send_record(record: Record, send: Send) -> None:
    headers = [*record.headers, (REPLAYED_HEADER.lower().encode(), b"true")]
    await send({"type": "http.response.start", "status": record.status, "headers": headers})
    await send({"type": "http.response.body", "body": record.body, "more_body": False})


KEYED_METHODS = ("POST", "PUT", "PATCH")


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    """Runs inside authentication (keys are the caller's) and inside the per-request transaction."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != ScopeType.HTTP
            or scope["method"] not in KEYED_METHODS
            or not scope["path"].startswith(API_PREFIX)
        ):
            await app(scope, receive, send)
            return
        key = _key_of(scope)
        principal = scope.get("user")
        if key is None or not isinstance(principal, Principal):
            await app(scope, receive, send)
            return
        messages, body = await _read_body(receive, get_settings().max_request_body_bytes)
        receive = _replaying(messages, receive)
        if body is None:
            await app(scope, receive, send)
            return
        request_fingerprint = fingerprint(scope["method"], scope["path"], scope["query_string"], body)
        existing = await claim(principal, key, request_fingerprint)
        if existing is not None:
            if existing.fingerprint != request_fingerprint:
                raise InvalidInputError(
                    f"this {HEADER} was used with a different request; use a new key for a new request",
                    errors=[FieldError(field=HEADER, message="reused with a different request", source="header")],
                )
            if existing.state == "in_flight":
                raise ConflictError(f"a request with this {HEADER} is still in progress; retry later")
            await _send_record(existing, send)
            return
        # Uncompressed, so the kept body suits a retry whatever encodings it accepts.
        scope["headers"] = [(name, value) for name, value in scope["headers"] if name != b"accept-encoding"]
        await _run_and_remember(app, scope, receive, send, principal, key, request_fingerprint)

    return middleware


async def _run_and_remember(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, principal: Principal, key: str, request_fingerprint: str
) -> None:
    record = Record(state="done", fingerprint=request_fingerprint)
    chunks: list[bytes] = []
    complete = False

    async def capture(message: Message) -> None:
        nonlocal complete
        if message["type"] == "http.response.start":
            record.status = message["status"]
            record.headers = [(n, v) for n, v in message.get("headers", []) if n.lower() not in _NOT_REPLAYED]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            complete = not message.get("more_body", False)
        # Returns only once the transaction committed (its middleware commits as the response starts).
        await send(message)

    try:
        await app(scope, receive, capture)
    except BaseException:
        await release(principal, key)
        raise
    record.body = b"".join(chunks)
    if complete and record.status < 500 and len(record.body) <= MAX_STORED_BODY_BYTES:
        await _remember(principal, key, record)
    else:
        await release(principal, key)


def document_idempotency(openapi: OpenAPI) -> None:
    """Adds the optional ``Idempotency-Key`` header to every POST, PUT and PATCH operation of the API."""
    parameter = Parameter(
        name=HEADER,
        param_in="header",
        required=False,
        description=(
            "Makes the request safe to retry: the first response (2xx or 4xx) is kept for at least 24 hours and "
            f"replayed, with `{REPLAYED_HEADER}: true`, for a repeat with the same body. 409 while the first is "
            "still in progress; 422 if the key is reused with a different request; 5xx are not kept."
        ),
        schema=Schema(type=OpenAPIType.STRING, pattern=KEY_PATTERN, max_length=255),
    )
    for path, item in (openapi.paths or {}).items():
        if not path.startswith(API_PREFIX):
            continue
        operations: list[Operation | None] = [item.post, item.put, item.patch]
        for operation in operations:
            if operation is None:
                continue
            existing: list[Any] = list(operation.parameters or [])
            if not any(getattr(p, "name", None) == HEADER for p in existing):
                operation.parameters = [*existing, parameter]
