"""Telephony tables: the tenants' entry points (programs) and the operator's carrier number registry.

A phone number (``app.routing.models.PhoneNumber``) sends its calls to an entry point, which greets the
caller, checks the tenant's hours, asks for a language and a menu choice, and picks a queue; or straight
to a queue. Which tenant a dialled number belongs to is decided by the operator's registry, not by the
tenants' own mappings (see ``PhoneNumber``).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.core.clock import utcnow
from app.core.models import TenantScoped, new_id

TIMESTAMP = sa.DateTime(timezone=True)

DEFAULT_CLOSED_MESSAGE = "We are closed at the moment. Please call again during our opening hours."


class ClosedAction(enum.StrEnum):
    MESSAGE = "message"  # play the closed message and hang up
    CALLBACK = "callback"  # play it, then offer a callback (press 1)


class EntryPoint(TenantScoped, table=True):
    """A tenant's inbound program: greeting, optional language choice, menu, default queue, closed behaviour.

    ``language_options``: ``[{"digit": "2", "language": "fr", "prompt": "Pour le français, tapez 2"}]``; the
    choice becomes the hard attribute ``language:<tag>`` of the contact. ``menu_options``:
    ``[{"digit": "1", "queue_id": "...", "prompt": "For billing, press 1"}]``, queues of the tenant (checked by the
    service; the queue service refuses to delete a queue an entry point names). ``version`` is bumped on
    every change (ETag / If-Match).
    """

    __tablename__ = "entry_points"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name"),
        sa.ForeignKeyConstraint(["tenant_id", "default_queue_id"], ["queues.tenant_id", "queues.id"]),
        sa.Index("ix_entry_points_default_queue", "tenant_id", "default_queue_id"),
    )

    name: str = Field(max_length=100)
    greeting: str = Field(default="", max_length=1000)
    language_options: list[dict[str, str]] = Field(default_factory=list, sa_type=JSONB)
    menu_options: list[dict[str, str]] = Field(default_factory=list, sa_type=JSONB)
    # Where the call goes when the caller gives no valid answer after max_attempts prompts.
    default_queue_id: uuid.UUID
    max_attempts: int = Field(default=3)
    closed_action: str = Field(default=ClosedAction.MESSAGE, max_length=16)
    closed_message: str = Field(default=DEFAULT_CLOSED_MESSAGE, max_length=1000)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class ProvisionedNumber(SQLModel, table=True):
    """A carrier number the operator holds, and the tenant it is provisioned to (operator data, no RLS).

    Numbers are unique here across all tenants: this is where an inbound call finds its tenant, before
    any tenant context exists. Only operators write it; a tenant reads only its own rows (the services
    filter), and may map only a number provisioned to it.
    """

    __tablename__ = "provisioned_numbers"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    number: str = Field(max_length=16, sa_column_kwargs={"unique": True})
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", index=True)
    provider: str = Field(default="twilio", max_length=32)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
