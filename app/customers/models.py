"""The tenant's end customers, as its CRM pushes them (by the CRM's own id) or its staff enter them.

Phone numbers are stored in E.164 (``app.core.phones``): in the customer's own order in
``Customer.phone_numbers``, and once more, one row each, in ``customer_phone_numbers`` for finding a caller.

Why not a GIN index on the array: under row-level security the planner uses only leakproof operators in
index conditions (a policy must see a row before anything that could leak it does), and array containment
(``@>``, what such an index serves) is not leakproof, while ``=`` on text is. Measured on 400,000 customers
(two tenants): ``phone_numbers @> ARRAY[...]`` is a sequential scan of every tenant's customers, 50 to 90 ms
and growing with the table, even with exact statistics; the GIN index is used only by a superuser. The
B-tree lookup here takes under a millisecond.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field

from app.core.clock import utcnow
from app.core.models import TenantScoped

TIMESTAMP = sa.DateTime(timezone=True)
E164_LENGTH = 16  # "+" and at most 15 digits


class Customer(TenantScoped, table=True):
    """One end customer of a tenant. ``version`` is bumped on every change (ETag / If-Match)."""

    __tablename__ = "customers"
    __table_args__ = (
        # Unique per tenant when set (NULLs are distinct): customers entered in Tenline may have none.
        sa.UniqueConstraint("tenant_id", "external_id"),
        # Keyset pages by update time (the default order, and CRMs syncing with updated_since) and by name.
        sa.Index("ix_customers_updated", "tenant_id", "updated_at", "id"),
        sa.Index("ix_customers_name", "tenant_id", "name", "id"),
    )

    external_id: str | None = Field(default=None, max_length=255)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone_numbers: list[str] = Field(default_factory=list, sa_type=ARRAY(sa.String(E164_LENGTH)))
    language: str | None = Field(default=None, max_length=35)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class CustomerPhoneNumber(TenantScoped, table=True):
    """One of a customer's numbers (E.164), kept equal to ``Customer.phone_numbers`` by the service: the
    index that finds the customers a caller's number belongs to (see the module's docstring)."""

    __tablename__ = "customer_phone_numbers"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"], ["customers.tenant_id", "customers.id"], ondelete="CASCADE"
        ),
        sa.UniqueConstraint("tenant_id", "customer_id", "number"),
        # Several customers may share a number (a household, a switchboard).
        sa.Index("ix_customer_phone_numbers_number", "tenant_id", "number"),
    )

    customer_id: uuid.UUID
    number: str = Field(max_length=E164_LENGTH)
