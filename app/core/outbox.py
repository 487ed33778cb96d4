"""Transactional outbox: a domain event is a row written in the same transaction as the change.

The relay (run by the worker) claims unrelayed rows under the narrow ``tenline_outbox_relay`` role,
sends each to its actor and marks it relayed in the same transaction, so an event committed is sent
at least once even if a process dies between commit and send. Consumers are idempotent on event id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field

from app.core.clock import utcnow
from app.core.models import TenantScoped


class OutboxEvent(TenantScoped, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index(
            "ix_outbox_pending",
            "created_at",
            postgresql_where=sa.text("relayed_at IS NULL"),
        ),
    )

    topic: str = Field(max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    relayed_at: dt.datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


async def emit(session: AsyncSession, topic: str, payload: dict[str, Any]) -> uuid.UUID:
    """Record an event for the current tenant in the caller's transaction."""
    event = OutboxEvent(topic=topic, payload=payload)
    session.add(event)
    await session.flush()
    return event.id
