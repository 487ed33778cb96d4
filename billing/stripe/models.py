"""The Stripe events received, by Stripe's event id: Stripe delivers an event at least once, Tenline acts once.

An operator-level table (the events are the operator's Stripe account's, not a tenant's): no ``tenant_id``, no
row-level security. The runtime role may read and insert, nothing else (see the migration): a row is written in
the transaction that acts on the event, so an event whose handling failed is not marked seen and Stripe's next
delivery is handled again.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.core.clock import utcnow

TIMESTAMP = sa.DateTime(timezone=True)


class StripeEventSeen(SQLModel, table=True):
    __tablename__ = "stripe_events"

    id: str = Field(primary_key=True, max_length=255)  # Stripe's event id, evt_...
    type: str = Field(max_length=100)
    object_id: str | None = Field(default=None, max_length=255)  # what it is about: in_..., cus_...
    livemode: bool
    created_at: dt.datetime = Field(sa_type=TIMESTAMP)  # when Stripe created the event
    received_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
