"""The CRM lookup (screen pop): the tenant's setting, and the lookup the agent desktop makes for an offered contact.

Routing never waits on the CRM: the desktop shows the offer first and asks for the lookup in a request of its
own. The request is signed like a webhook delivery (Standard Webhooks headers, under the lookup's own secret)
and goes only to an address the SSRF guard allows, the checked address being the one connected to. The whole
lookup, DNS included, is bounded by the tenant's timeout. Answers are cached in Redis per (tenant, setting
version, caller): a record for the setting's TTL, a failure for ``FAILURE_TTL_SECONDS`` so a failing CRM is
not asked again on every offer. One lookup per key runs at a time; a second asker waits for its answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.crypto import encrypt
from app.core.errors import ConflictError, NotFoundError, PreconditionFailedError
from app.core.models import new_id
from app.core.redis import get_redis
from app.core.rows import to_struct
from app.core.tenancy import acting_as, require_tenant_id, system_principal
from app.core.versioning import apply_changes, check_version
from app.integrations import schemas, service
from app.integrations.models import CrmLookupSettings
from app.routing import service as routing
from tenants.service import audit

WHAT = "CRM lookup"
NOT_SET_UP = "no CRM lookup is set up"
# What the desktop takes of an answer; the rest is ignored.
MAX_ANSWER_BYTES = 16 * 1024
MAX_FIELDS = 20
MAX_LABEL_CHARS = 80
MAX_VALUE_CHARS = 500
MAX_TITLE_CHARS = 200
FAILURE_TTL_SECONDS = 30
# A second asker polls the cache this often while the first one's lookup runs.
WAIT_STEP_SECONDS = 0.05
SUCCESSES = frozenset({"found", "empty"})


def _purpose(row: CrmLookupSettings) -> str:
    return f"crm-lookup-secret:{row.tenant_id or require_tenant_id()}"


# --- the setting ---------------------------------------------------------------------------------


def settings_out(row: CrmLookupSettings) -> schemas.CrmLookupOut:
    return to_struct(schemas.CrmLookupOut, row)


async def find_setting(session: AsyncSession, *, lock: bool = False) -> CrmLookupSettings | None:
    statement = select(CrmLookupSettings)
    return (await session.exec(statement.with_for_update() if lock else statement)).first()


async def get_setting(session: AsyncSession, *, lock: bool = False) -> CrmLookupSettings:
    row = await find_setting(session, lock=lock)
    if row is None:
        raise NotFoundError(NOT_SET_UP)
    return row


async def create_setting(session: AsyncSession, data: schemas.CrmLookupPut) -> schemas.CrmLookupSaved:
    await service.checked_url(data.url)
    secret = service.new_secret()
    row = CrmLookupSettings(
        tenant_id=require_tenant_id(),
        url=data.url,
        secret_encrypted="",
        timeout_ms=data.timeout_ms,
        cache_ttl_seconds=data.cache_ttl_seconds,
        enabled=data.enabled,
    )
    row.secret_encrypted = encrypt(secret, purpose=_purpose(row))
    try:
        async with session.begin_nested():  # someone else set it up meanwhile: one row per tenant
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise ConflictError("a CRM lookup was set up meanwhile: change that one instead") from None
    await audit(session, "crm_lookup.created", object_type="crm_lookup", object_id=row.id)
    return to_struct(schemas.CrmLookupSaved, row, secret=secret)


async def update_setting(
    session: AsyncSession, data: schemas.CrmLookupPut, *, if_match: int | None = None
) -> CrmLookupSettings:
    row = await get_setting(session, lock=True)
    check_version(WHAT, row, if_match)
    changes = {name: value for name, value in msgspec.structs.asdict(data).items() if getattr(row, name) != value}
    if not changes:
        return row  # the same setting again: no new version
    if "url" in changes:
        await service.checked_url(data.url)
    apply_changes(row, changes)
    await session.flush()
    await audit(
        session, "crm_lookup.updated", object_type="crm_lookup", object_id=row.id, detail={"fields": sorted(changes)}
    )
    return row


async def put_setting(
    session: AsyncSession, data: schemas.CrmLookupPut, *, if_match: int | None = None
) -> schemas.CrmLookupSaved:
    """Sets the lookup up (the answer then carries its secret, shown this once) or changes it."""
    if await find_setting(session, lock=True) is None:
        if if_match is not None:
            raise PreconditionFailedError(f"{NOT_SET_UP}, so it has no version {if_match}")
        return await create_setting(session, data)
    row = await update_setting(session, data, if_match=if_match)
    return to_struct(schemas.CrmLookupSaved, row, secret=None)


async def rotate_secret(
    session: AsyncSession, data: schemas.SecretRotate, *, if_match: int | None = None
) -> schemas.CrmLookupWithSecret:
    row = await get_setting(session, lock=True)
    check_version(WHAT, row, if_match)
    secret, changes = service.secret_rotation(row, _purpose(row), data.overlap_seconds)
    apply_changes(row, changes)
    await session.flush()
    await audit(
        session,
        "crm_lookup.secret_rotated",
        object_type="crm_lookup",
        object_id=row.id,
        detail={"overlap_seconds": data.overlap_seconds},
    )
    return to_struct(schemas.CrmLookupWithSecret, row, secret=secret)


async def delete_setting(session: AsyncSession, *, if_match: int | None = None) -> None:
    row = await get_setting(session, lock=True)
    check_version(WHAT, row, if_match)
    await session.delete(row)
    await session.flush()
    await audit(session, "crm_lookup.deleted", object_type="crm_lookup", object_id=row.id)


# --- the lookup ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where and how to ask one tenant's CRM, read once from its setting (nothing here touches the database)."""

    tenant_id: uuid.UUID
    version: int
    url: str
    keys: list[str]  # the signing secrets: the current one, and the previous one during an overlap
    timeout_ms: int
    cache_ttl_seconds: int


@dataclass(frozen=True)
class Contact:
    """The contact to look up, as the router's live view has it."""

    interaction_id: uuid.UUID
    tenant_id: uuid.UUID
    queue_id: uuid.UUID
    caller: str
    ivr: dict[str, Any]


async def tenants_with_lookup(session: AsyncSession, tenant_ids: list[uuid.UUID]) -> frozenset[uuid.UUID]:
    """Those of ``tenant_ids`` whose CRM lookup is set up and enabled (each read in its own tenant's context)."""
    found = set()
    for tenant_id in tenant_ids:
        with acting_as(system_principal(tenant_id)):
            enabled = (await session.exec(select(CrmLookupSettings.id).where(col(CrmLookupSettings.enabled)))).first()
        if enabled is not None:
            found.add(tenant_id)
    return frozenset(found)


async def lookup_request(session: AsyncSession, contact: Contact) -> tuple[Target, schemas.CrmLookupData] | None:
    """What to ask about ``contact`` and where, read in its tenant's context; None when the tenant has no lookup."""
    with acting_as(system_principal(contact.tenant_id)):
        row = await find_setting(session)
        if row is None or not row.enabled:
            return None
        queue = await routing.get_queue(session, contact.queue_id)
        target = Target(
            tenant_id=contact.tenant_id,
            version=row.version,
            url=row.url,
            keys=service.held_secrets(row, _purpose(row), utcnow()),
            timeout_ms=row.timeout_ms,
            cache_ttl_seconds=row.cache_ttl_seconds,
        )
    data = schemas.CrmLookupData(
        interaction_id=contact.interaction_id,
        caller=contact.caller,
        queue_id=contact.queue_id,
        queue_name=queue.name,
        ivr=contact.ivr,
    )
    return target, data


def cache_key(target: Target, caller: str) -> str:
    # The number is hashed: no caller's number sits in a key name. A changed setting has a new version.
    digest = hashlib.blake2b(caller.encode(), digest_size=16).hexdigest()
    return f"tenline:crm:{target.tenant_id}:{target.version}:{digest}"


async def look_up(target: Target, data: schemas.CrmLookupData) -> schemas.CrmAnswer:
    """The CRM's answer about ``data.caller``: from the cache, or asked now within the timeout."""
    redis = get_redis()
    key = cache_key(target, data.caller)
    if (cached := await redis.get(key)) is not None:
        return msgspec.json.decode(cached, type=schemas.CrmAnswer)
    timeout = target.timeout_ms / 1000
    lock = f"{key}:asking"
    if not await redis.set(lock, b"1", nx=True, px=target.timeout_ms + 1000):
        return await _answer_of_the_other_asker(redis, key, deadline=time.monotonic() + timeout)
    try:
        answer = await ask(target, data)
        ttl = target.cache_ttl_seconds if answer.outcome in SUCCESSES else FAILURE_TTL_SECONDS
        if ttl > 0:
            await redis.set(key, msgspec.json.encode(answer), ex=ttl)
    finally:
        await redis.delete(lock)
    return answer


async def _answer_of_the_other_asker(redis: Redis, key: str, *, deadline: float) -> schemas.CrmAnswer:
    while time.monotonic() < deadline:
        await asyncio.sleep(WAIT_STEP_SECONDS)
        if (cached := await redis.get(key)) is not None:
            return msgspec.json.decode(cached, type=schemas.CrmAnswer)
    return schemas.CrmAnswer(outcome="timeout")


async def ask(target: Target, data: schemas.CrmLookupData) -> schemas.CrmAnswer:
    """One signed request to the CRM, with no cache: its answer as the desktop shows it."""
    now = utcnow()
    body = msgspec.json.encode(schemas.CrmLookupRequest(timestamp=now, data=data))
    headers = service.signed_headers(target.keys, str(new_id()), now, body.decode())
    timeout = target.timeout_ms / 1000
    try:
        async with asyncio.timeout(timeout):
            destination = await service.check_destination(target.url)
            async with (
                httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
                client.stream(
                    "POST",
                    destination.request_url(),
                    content=body,
                    headers={**headers, **destination.request_headers()},
                    extensions=destination.extensions(),
                ) as response,
            ):
                if not response.is_success:
                    return schemas.CrmAnswer(outcome="failed", http_status=response.status_code)
                raw = await _at_most(response, MAX_ANSWER_BYTES)
    except (TimeoutError, httpx.TimeoutException):
        return schemas.CrmAnswer(outcome="timeout")
    except service.DestinationRefused:
        return schemas.CrmAnswer(outcome="refused")
    except httpx.HTTPError:
        return schemas.CrmAnswer(outcome="failed")
    return schemas.CrmAnswer(outcome="unusable") if raw is None else read_answer(raw)


async def _at_most(response: httpx.Response, limit: int) -> bytes | None:
    """The response's body, or None once it is longer than ``limit`` (the rest is not read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def read_answer(raw: bytes) -> schemas.CrmAnswer:
    """A CRM's JSON object as the desktop shows it: "title", a "url" (http or https), and up to ``MAX_FIELDS``
    "fields" (an object of label to text, number or true/false); anything else is ignored."""
    try:
        answer = json.loads(raw)
    except ValueError:
        return schemas.CrmAnswer(outcome="unusable")
    if not isinstance(answer, dict):
        return schemas.CrmAnswer(outcome="unusable")
    title = answer.get("title")
    title = title.strip()[:MAX_TITLE_CHARS] if isinstance(title, str) else ""
    link = answer.get("url")
    link = link if isinstance(link, str) and _is_web_link(link) else ""
    fields: list[tuple[str, str]] = []
    given = answer.get("fields")
    if isinstance(given, dict):
        for label, value in given.items():
            text = _text(value)
            if text is not None and label.strip():
                fields.append((label.strip()[:MAX_LABEL_CHARS], text[:MAX_VALUE_CHARS]))
            if len(fields) == MAX_FIELDS:
                break
    outcome: schemas.CrmOutcome = "found" if title or link or fields else "empty"
    return schemas.CrmAnswer(outcome=outcome, title=title, url=link, fields=fields)


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    return None  # null, lists and objects are not shown


def _is_web_link(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc) and len(url) <= 2000
