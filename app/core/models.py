"""Table conventions shared by every domain.

Tenant tables key on ``(tenant_id, id)`` so the schema can be distributed by tenant later (Citus);
ids are UUIDv7, so they sort by creation time and serve as pagination cursors.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
import uuid_utils.compat
from sqlmodel import Field, SQLModel

from app.core.clock import utcnow


def new_id() -> uuid.UUID:
    return uuid_utils.compat.uuid7()


class Timestamped(SQLModel):
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False)


class TenantScoped(SQLModel):
    """Mixin for every table holding one tenant's data: RLS applies, the session stamps and filters it."""

    tenant_id: uuid.UUID | None = Field(default=None, primary_key=True, foreign_key="tenants.id", ondelete="CASCADE")
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)


def is_tenant_scoped(cls: type) -> bool:
    return isinstance(cls, type) and issubclass(cls, TenantScoped)
