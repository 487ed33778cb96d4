"""Tenancy's background jobs: erasing a deleted tenant, and API-client credential housekeeping."""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from app.core.broker import Tick, actor, periodic
from app.core.db import get_database
from app.core.errors import DomainError
from app.core.outbox import Event, subscribe
from app.core.structs import Job
from app.core.tenancy import require_tenant_id
from tenants import service

log = structlog.get_logger("tenline.tenants.jobs")

# Deleting a large tenant's history is one long transaction; Dramatiq's default limit is ten minutes.
ERASURE_TIME_LIMIT_MS = 2 * 3600 * 1000


class TenantErasureRequested(Job, frozen=True):
    tenant_id: uuid.UUID


@subscribe(service.TENANT_ERASURE_TOPIC)
@actor(time_limit=ERASURE_TIME_LIMIT_MS, throws=(DomainError,))
async def erase_tenant(event: Event) -> None:
    """Erase the tenant the event names; a second delivery of the same event finds it erased and stops."""
    request = event.decode(TenantErasureRequested)
    if request.tenant_id != event.tenant_id or request.tenant_id != require_tenant_id():
        # A domain error is not retried: the message is dead-lettered where an operator sees it.
        raise DomainError(f"erasure of {request.tenant_id} delivered in the context of {require_tenant_id()}")
    async with get_database().session() as session:
        counts = await service.erase_tenant_data(session, request.tenant_id, event_id=event.event_id)
    if counts is None:
        log.info("tenant.erasure_already_done", tenant_id=str(request.tenant_id), event_id=str(event.event_id))
    else:
        log.info("tenant.erased", tenant_id=str(request.tenant_id), rows=counts)


@periodic(every=dt.timedelta(minutes=10), per_tenant=True)
@actor(queue_name="maintenance")
async def clear_expired_rotation_secrets(tick: Tick) -> None:
    """Drop previous API-client secrets once their rotation overlap has ended (they no longer authenticate)."""
    async with get_database().session() as session:
        cleared = await service.clear_expired_previous_secrets(session)
    if cleared:
        log.info("api_clients.previous_secrets_cleared", count=cleared, tenant_id=str(require_tenant_id()))
