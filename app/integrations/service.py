"""Webhook endpoints and their deliveries: registration (with the SSRF guard), signing, attempts, the log.

Deliveries are made from outbox events (``create_deliveries``) and from the router's interaction events
after a per-tenant checkpoint (``collect_interaction_events``), each at most once per (endpoint, event).
``attempt`` sends one delivery holding its row's lock, so a duplicate message waits and then finds it done.
Signatures follow Standard Webhooks: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.crypto import decrypt, encrypt
from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.core.models import new_id
from app.core.outbox import emit
from app.core.pagination import Page, page_of, paginate
from app.core.rows import to_struct
from app.core.settings import get_settings
from app.core.tenancy import require_tenant_id
from app.core.versioning import apply_changes, check_version, given_fields
from app.integrations import schemas
from app.integrations.models import WebhookDelivery, WebhookEndpoint, WebhookInteractionCheckpoint
from app.routing.models import InteractionEvent
from tenants.service import audit

REPLAY_TOPIC = "webhook.replay_requested"
# The outbox topics a webhook can carry (the others in the catalogue come from interaction events).
OUTBOX_EVENT_TYPES = ("callback.due", "sla.at_risk", "sla.breached", "report.delivered", "billing.invoice_overdue")
INTERACTION_EVENT_TYPES = {"offered", "answered", "ended", "abandoned"}

# An endpoint failing this long, when a delivery has used all its attempts, is disabled.
SUSTAINED_FAILURE = dt.timedelta(hours=24)
SUSTAINED_FAILURE_REASON = "sustained_failure"
MAX_RETRY_AFTER = dt.timedelta(hours=12)
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

LOGGED_BODY_CHARS = 2000
SECRET_PREFIX = "whsec_"  # noqa: S105  (the Standard Webhooks secret prefix, not a secret)


# --- signing -------------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _purpose(endpoint: WebhookEndpoint) -> str:
    return f"webhook-secret:{endpoint.tenant_id or require_tenant_id()}:{endpoint.id}"


class SecretHolder(Protocol):
    """A row holding a signing secret, encrypted, and during a rotation the previous one (endpoints, CRM lookup)."""

    secret_encrypted: str
    previous_secret_encrypted: str | None
    previous_secret_expires_at: dt.datetime | None


def held_secrets(holder: SecretHolder, purpose: str, now: dt.datetime) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    found = [decrypt(holder.secret_encrypted, purpose=purpose)]
    expires = holder.previous_secret_expires_at
    if holder.previous_secret_encrypted and expires is not None and now < expires:
        found.append(decrypt(holder.previous_secret_encrypted, purpose=purpose))
    return found


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    return held_secrets(endpoint, _purpose(endpoint), now)


def secret_rotation(holder: SecretHolder, purpose: str, overlap_seconds: int) -> tuple[str, dict[str, Any]]:
    """A new secret, and the changes that make it current (the previous one signing too for the overlap)."""
    secret = new_secret()
    changes: dict[str, Any] = {
        "previous_secret_encrypted": holder.secret_encrypted if overlap_seconds else None,
        "previous_secret_expires_at": utcnow() + dt.timedelta(seconds=overlap_seconds) if overlap_seconds else None,
        "secret_encrypted": encrypt(secret, purpose=purpose),
    }
    return secret, changes


def signed_headers(keys: Sequence[str], message_id: str, now: dt.datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one message: its id, its time and a signature under each secret."""
    timestamp = int(now.timestamp())
    return {
        "content-type": "application/json",
        "user-agent": "Tenline-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key, message_id, timestamp, body) for key in keys),
    }


# --- the SSRF guard ------------------------------------------------------------------------------


class DestinationRefused(Exception):
    """The URL's host resolves to an address webhooks may not reach."""


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    listed = get_settings().webhook_allowed_networks
    return [ipaddress.ip_network(item.strip(), strict=False) for item in listed.split(",") if item.strip()]


def refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local (cloud metadata), multicast, reserved and shared addresses, unless allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _allowed_networks()):
        return False
    return not address.is_global or address.is_multicast or address.is_reserved


@dataclass(frozen=True)
class Destination:
    """A URL whose host was resolved and checked once: requests go to ``address``, never to a second lookup
    (a DNS answer changed between check and connect -- rebinding -- cannot redirect them)."""

    url: str
    hostname: str
    address: ipaddress.IPv4Address | ipaddress.IPv6Address

    def request_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))

    def request_headers(self) -> dict[str, str]:
        parts = urlsplit(self.url)
        return {"host": parts.netloc.rpartition("@")[2]}

    def extensions(self) -> dict[str, str]:
        """TLS names and verifies the real host name (SNI and certificate), not the address."""
        return {"sni_hostname": self.hostname} if urlsplit(self.url).scheme == "https" else {}


async def check_destination(url: str) -> Destination:
    """Resolves the URL's host; raises DestinationRefused when any of its addresses is refused."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced bracket of an IPv6 host ("http://h]x")
        raise DestinationRefused("the URL is not well formed") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise DestinationRefused("the URL needs http(s) and a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number 0-65535 ("https://host:read")
        raise DestinationRefused("the URL's port is not a number from 0 to 65535") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DestinationRefused(f"{parts.hostname} does not resolve") from exc
    except (UnicodeError, ValueError) as exc:  # not encodable as a host name (IDNA), e.g. control characters
        raise DestinationRefused(f"{parts.hostname!r} is not a host name") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if refused_address(address):
            raise DestinationRefused(f"{parts.hostname} resolves to {address}, which webhooks may not reach")
    if not addresses:
        raise DestinationRefused(f"{parts.hostname} does not resolve")
    return Destination(url=url, hostname=parts.hostname, address=addresses[0])


async def post_checked(
    client: httpx.AsyncClient, url: str, *, content: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST to ``url`` after the SSRF check, connecting to the address that was checked."""
    destination = await check_destination(url)
    return await client.post(
        destination.request_url(),
        content=content,
        headers={**headers, **destination.request_headers()},
        extensions=destination.extensions(),
    )


async def checked_url(url: str) -> str:
    """The URL, or a refusal naming the ``url`` field when the SSRF guard refuses it."""
    try:
        await check_destination(url)
    except DestinationRefused as exc:
        raise InvalidInputError.for_field("url", str(exc)) from None
    return url


# --- endpoints -----------------------------------------------------------------------------------


def endpoint_out(row: WebhookEndpoint) -> schemas.EndpointOut:
    return to_struct(schemas.EndpointOut, row)


def _with_secret(row: WebhookEndpoint, secret: str) -> schemas.EndpointWithSecret:
    return to_struct(schemas.EndpointWithSecret, row, secret=secret)


async def list_endpoints(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.EndpointOut]:
    rows = (await session.exec(paginate(select(WebhookEndpoint), col(WebhookEndpoint.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[endpoint_out(row) for row in items], next_cursor=next_cursor)


async def get_endpoint(session: AsyncSession, endpoint_id: uuid.UUID, *, lock: bool = False) -> WebhookEndpoint:
    statement = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if lock:  # and read afresh: the row may have changed since this session last loaded it
        statement = statement.with_for_update().execution_options(populate_existing=True)
    row = (await session.exec(statement)).first()
    if row is None:
        raise NotFoundError("no such webhook endpoint")
    return row


async def create_endpoint(session: AsyncSession, data: schemas.EndpointCreate) -> schemas.EndpointWithSecret:
    await checked_url(data.url)
    secret = new_secret()
    row = WebhookEndpoint(
        tenant_id=require_tenant_id(),
        url=data.url,
        description=data.description,
        event_types=sorted(set(data.event_types)),
        enabled=data.enabled,
        secret_encrypted="",
    )
    row.secret_encrypted = encrypt(secret, purpose=_purpose(row))
    session.add(row)
    await session.flush()
    await audit(session, "webhook_endpoint.created", object_type="webhook_endpoint", object_id=row.id)
    return _with_secret(row, secret)


async def update_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, data: schemas.EndpointUpdate, *, if_match: int | None = None
) -> WebhookEndpoint:
    row = await get_endpoint(session, endpoint_id, lock=True)
    check_version("webhook endpoint", row, if_match)
    changes = given_fields(data)
    if "url" in changes:
        await checked_url(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = sorted(set(changes["event_types"]))
    if changes.get("enabled") is True:  # enabled again by the tenant: a fresh start
        row.disabled_reason, row.failing_since = "", None
    apply_changes(row, changes)
    await session.flush()
    await audit(
        session,
        "webhook_endpoint.updated",
        object_type="webhook_endpoint",
        object_id=row.id,
        detail={"fields": sorted(changes)},
    )
    return row


async def delete_endpoint(session: AsyncSession, endpoint_id: uuid.UUID, *, if_match: int | None = None) -> None:
    row = await get_endpoint(session, endpoint_id, lock=True)
    check_version("webhook endpoint", row, if_match)
    await session.delete(row)
    await session.flush()
    await audit(session, "webhook_endpoint.deleted", object_type="webhook_endpoint", object_id=endpoint_id)


async def rotate_secret(
    session: AsyncSession, endpoint_id: uuid.UUID, data: schemas.SecretRotate, *, if_match: int | None = None
) -> schemas.EndpointWithSecret:
    row = await get_endpoint(session, endpoint_id, lock=True)
    check_version("webhook endpoint", row, if_match)
    secret, changes = secret_rotation(row, _purpose(row), data.overlap_seconds)
    apply_changes(row, changes)
    await session.flush()
    await audit(
        session,
        "webhook_endpoint.secret_rotated",
        object_type="webhook_endpoint",
        object_id=row.id,
        detail={"overlap_seconds": data.overlap_seconds},
    )
    return _with_secret(row, secret)


# --- deliveries: the log and replay --------------------------------------------------------------


def delivery_out(row: WebhookDelivery) -> schemas.DeliveryOut:
    return to_struct(schemas.DeliveryOut, row)


async def list_deliveries(
    session: AsyncSession, endpoint_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[schemas.DeliveryOut]:
    await get_endpoint(session, endpoint_id)
    statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    rows = (await session.exec(paginate(statement, col(WebhookDelivery.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[delivery_out(row) for row in items], next_cursor=next_cursor)


async def latest_deliveries(
    session: AsyncSession, endpoint_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, WebhookDelivery]:
    """Each endpoint's newest delivery (ids are time-ordered), for lists of endpoints."""
    if not endpoint_ids:
        return {}
    rows = (
        await session.exec(
            select(WebhookDelivery)
            .where(col(WebhookDelivery.endpoint_id).in_(endpoint_ids))
            .distinct(col(WebhookDelivery.endpoint_id))
            .order_by(col(WebhookDelivery.endpoint_id), col(WebhookDelivery.id).desc())
        )
    ).all()
    return {row.endpoint_id: row for row in rows}


async def get_delivery(
    session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: uuid.UUID, *, lock: bool = False
) -> WebhookDelivery:
    statement = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    row = (await session.exec(statement.with_for_update() if lock else statement)).first()
    if row is None:
        raise NotFoundError("no such webhook delivery")
    return row


async def replay_delivery(session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Sends the delivery again, with the same webhook-id and a fresh round of attempts."""
    endpoint = await get_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        raise ConflictError("the endpoint is disabled: enable it before replaying")
    row = await get_delivery(session, endpoint_id, delivery_id, lock=True)
    row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
    await session.flush()
    # Through the outbox: the worker is told only once this change is committed.
    await emit(session, REPLAY_TOPIC, {"delivery_id": str(row.id)})
    await audit(session, "webhook_delivery.replayed", object_type="webhook_delivery", object_id=row.id)
    return row


# --- making deliveries ---------------------------------------------------------------------------


def webhook_body(event_type: str, occurred_at: dt.datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": occurred_at.isoformat(), "data": data}


async def create_deliveries(
    session: AsyncSession, event_id: uuid.UUID, event_type: str, occurred_at: dt.datetime, data: dict[str, Any]
) -> list[uuid.UUID]:
    """One delivery per enabled endpoint subscribed to ``event_type``; none again for an event seen before."""
    endpoint_ids = (
        await session.exec(
            select(WebhookEndpoint.id).where(
                col(WebhookEndpoint.enabled), col(WebhookEndpoint.event_types).contains([event_type])
            )
        )
    ).all()
    if not endpoint_ids:
        return []
    table = WebhookDelivery.__table__  # type: ignore[attr-defined]
    body = webhook_body(event_type, occurred_at, data)
    now = utcnow()
    rows = [
        {
            "tenant_id": require_tenant_id(),
            "id": new_id(),
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "event_type": event_type,
            "payload": body,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "request_headers": {},
            "request_body": "",
            "response_headers": {},
            "response_body": "",
            "error": "",
            "created_at": now,
        }
        for endpoint_id in endpoint_ids
    ]
    inserted = await session.execute(
        pg_insert(table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["tenant_id", "endpoint_id", "event_id"])
        .returning(table.c.id)
    )
    return [row[0] for row in inserted.all()]


async def _locked_checkpoint(session: AsyncSession) -> WebhookInteractionCheckpoint | None:
    table = WebhookInteractionCheckpoint.__table__  # type: ignore[attr-defined]
    await session.execute(
        pg_insert(table)
        .values(tenant_id=require_tenant_id(), id=uuid.uuid4(), log_seq=0, position=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    # Another run holding it will move it: this one has nothing to do.
    return (await session.exec(select(WebhookInteractionCheckpoint).with_for_update(skip_locked=True))).first()


async def collect_interaction_events(session: AsyncSession, *, batch_size: int = 500) -> list[uuid.UUID]:
    """Deliveries for the tenant's interaction events after its checkpoint, moved in the same transaction."""
    checkpoint = await _locked_checkpoint(session)
    if checkpoint is None:
        return []
    order = (col(InteractionEvent.log_seq), col(InteractionEvent.position))
    events = (
        await session.exec(
            select(InteractionEvent)
            .where(sa.tuple_(*order) > sa.tuple_(checkpoint.log_seq, checkpoint.position))
            .order_by(*order)
            .limit(batch_size)
        )
    ).all()
    created: list[uuid.UUID] = []
    for event in events:
        if event.type in INTERACTION_EVENT_TYPES:
            data = {
                "interaction_id": str(event.interaction_id),
                "queue_id": str(event.queue_id) if event.queue_id else None,
                "agent_id": str(event.agent_id) if event.agent_id else None,
                **json.loads(json.dumps(event.data, default=str)),
            }
            created += await create_deliveries(session, event.id, f"interaction.{event.type}", event.at, data)
    if events:
        checkpoint.log_seq, checkpoint.position = events[-1].log_seq, events[-1].position
        checkpoint.updated_at = utcnow()
    return created


async def overdue_deliveries(session: AsyncSession, *, older_than: dt.timedelta) -> list[uuid.UUID]:
    """Pending deliveries well past their time: their message was lost (a worker died before sending it)."""
    statement = select(WebhookDelivery.id).where(
        WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) < utcnow() - older_than
    )
    return list((await session.exec(statement)).all())


# --- attempts ------------------------------------------------------------------------------------


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once: each one loads the CA bundle, tens of ms of CPU per attempt."""
    return httpx.create_ssl_context()


def retry_delays() -> tuple[dt.timedelta, ...]:
    """The waits before each retry (TENLINE_WEBHOOK_RETRY_DELAYS_SECONDS; by default Standard Webhooks'
    suggestion: eight attempts over about 27 hours)."""
    return tuple(dt.timedelta(seconds=s) for s in get_settings().webhook_retry_delays_seconds)


def max_attempts() -> int:
    return len(retry_delays()) + 1


def retry_after(response: httpx.Response) -> dt.timedelta | None:
    """The wait a 429 or 503 asks for (seconds or an HTTP date), capped."""
    if response.status_code not in {429, 503}:
        return None
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        wait = dt.timedelta(seconds=int(value))
    else:
        try:
            wait = parsedate_to_datetime(value) - utcnow()
        except (TypeError, ValueError):
            return None
    return min(max(wait, dt.timedelta(0)), MAX_RETRY_AFTER)


def _request(delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: dt.datetime) -> tuple[dict[str, str], str]:
    body = json.dumps(delivery.payload, separators=(",", ":"))
    return signed_headers(signing_secrets(endpoint, now), str(delivery.event_id), now, body), body


async def attempt(session: AsyncSession, delivery_id: uuid.UUID) -> dt.datetime | None:
    """Sends the delivery if it is due; returns when to try again (None: done, or not this message's turn).

    The delivery's row stays locked through the request, so a duplicate message waits and then finds it done.
    The endpoint's row is locked only after the request, to move its failure clock: deliveries to one
    endpoint go out in parallel.
    """
    delivery = (
        await session.exec(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update())
    ).first()
    now = utcnow()
    # A stale message (the delivery was rescheduled or finished since): the current one will come.
    if delivery is None or delivery.status != "pending" or delivery.next_attempt_at > now + dt.timedelta(seconds=1):
        return None
    endpoint = await get_endpoint(session, delivery.endpoint_id)
    if not endpoint.enabled:
        delivery.status, delivery.error = "failed", "the endpoint is disabled"
        return None
    headers, body = _request(delivery, endpoint, now)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.request_headers, delivery.request_body = headers, body
    delivery.response_status, delivery.response_headers, delivery.response_body = None, {}, ""
    delivery.error = ""
    wait: dt.timedelta | None = None
    started = time.monotonic()
    try:
        # Checked again (DNS may have changed since registration), and sent to the address checked.
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, follow_redirects=False, verify=_tls_context()) as client:
            response = await post_checked(client, endpoint.url, content=body.encode(), headers=headers)
        delivery.response_status = response.status_code
        delivery.response_headers = dict(response.headers)
        delivery.response_body = response.text[:LOGGED_BODY_CHARS]
        succeeded = 200 <= response.status_code < 300
        wait = retry_after(response)
        if not succeeded:
            delivery.error = f"HTTP {response.status_code}"
    except (DestinationRefused, httpx.HTTPError) as exc:
        succeeded = False
        delivery.error = (str(exc) or type(exc).__name__)[:500]
    delivery.duration_ms = int((time.monotonic() - started) * 1000)
    if succeeded:
        delivery.status = "succeeded"
        if endpoint.failing_since is not None:
            (await get_endpoint(session, endpoint.id, lock=True)).failing_since = None
        return None
    endpoint = await get_endpoint(session, endpoint.id, lock=True)
    endpoint.failing_since = endpoint.failing_since or now
    delays = retry_delays()
    if delivery.attempts > len(delays):  # every retry used
        delivery.status = "failed"
        await _disable_if_failing(session, endpoint, now)
        return None
    delivery.next_attempt_at = now + max(delays[delivery.attempts - 1], wait or dt.timedelta(0))
    return delivery.next_attempt_at


async def _disable_if_failing(session: AsyncSession, endpoint: WebhookEndpoint, now: dt.datetime) -> None:
    if endpoint.failing_since is None or now - endpoint.failing_since < SUSTAINED_FAILURE:
        return
    apply_changes(endpoint, {"enabled": False, "disabled_reason": SUSTAINED_FAILURE_REASON})
    await session.flush()
    await audit(
        session,
        "webhook_endpoint.disabled",
        object_type="webhook_endpoint",
        object_id=endpoint.id,
        detail={"reason": SUSTAINED_FAILURE_REASON, "failing_since": endpoint.failing_since.isoformat()},
    )
