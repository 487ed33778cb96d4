"""Webhook tables: a tenant's endpoints, one delivery per (endpoint, event), the interaction-event checkpoint;
and the tenant's CRM lookup settings.

Signing secrets are stored encrypted (app.core.crypto) because Tenline must sign with them again; the
plaintext is shown once, when it is made. During a rotation the previous secret stays valid until
``previous_secret_expires_at``: deliveries then carry a signature under each.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from app.core.clock import utcnow
from app.core.models import TenantScoped

TIMESTAMP = sa.DateTime(timezone=True)


class WebhookEndpoint(TenantScoped, table=True):
    __tablename__ = "webhook_endpoints"

    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=500)
    event_types: list[str] = Field(default_factory=list, sa_type=JSONB)
    secret_encrypted: str
    previous_secret_encrypted: str | None = Field(default=None)
    previous_secret_expires_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    enabled: bool = Field(default=True)
    # Why Tenline disabled it ("" when enabled or disabled by the tenant): shown by the API.
    disabled_reason: str = Field(default="", max_length=64)
    # The first failed attempt since the last success: sustained failure disables the endpoint.
    failing_since: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    version: int = 1
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class WebhookDelivery(TenantScoped, table=True):
    """One event for one endpoint, with its latest attempt's request and response (the delivery log)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"], ["webhook_endpoints.tenant_id", "webhook_endpoints.id"], ondelete="CASCADE"
        ),
        # At-least-once upstream: an event seen again makes no second delivery.
        sa.UniqueConstraint("tenant_id", "endpoint_id", "event_id"),
        sa.Index(
            "ix_webhook_deliveries_due", "tenant_id", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")
        ),
    )

    endpoint_id: uuid.UUID
    event_id: uuid.UUID  # the webhook-id header: stable across retries and replays
    event_type: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    status: str = Field(default="pending", max_length=16)  # pending, succeeded, failed
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    last_attempt_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    request_headers: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    request_body: str = ""
    response_status: int | None = Field(default=None)
    response_headers: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    response_body: str = ""  # truncated
    duration_ms: int | None = Field(default=None)
    error: str = Field(default="", max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class WebhookInteractionCheckpoint(TenantScoped, table=True):
    """How far the tenant's interaction events have been turned into deliveries: the last (log_seq, position)."""

    __tablename__ = "webhook_interaction_checkpoints"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    log_seq: int = Field(default=0, sa_type=sa.BigInteger)
    position: int = 0
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class CrmLookupSettings(TenantScoped, table=True):
    """Where the agent desktop looks a caller up in the tenant's CRM (screen pop): one row per tenant.

    The lookup is signed like a webhook delivery, with a secret of its own (encrypted, rotatable with overlap).
    """

    __tablename__ = "crm_lookup_settings"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    url: str = Field(max_length=2000)
    secret_encrypted: str
    previous_secret_encrypted: str | None = Field(default=None)
    previous_secret_expires_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    timeout_ms: int = 1500
    cache_ttl_seconds: int = 300
    enabled: bool = Field(default=True)
    version: int = 1
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
