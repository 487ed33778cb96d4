"""Requests and responses of the operator's margin API (msgspec structs): the shared pool's cost per UTC month
with the month's exchange rates, and the margin per tenant. Money in integer minor units; rates and shares are
exact decimals."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from app.core.structs import Input, Output
from billing.rating import CostStatus

# How a tenant's revenue for the month is known: its final invoices (less credit notes), the estimate of a period
# not invoiced yet, or none (no rate card: nothing billed).
RevenueBasis = Literal["invoiced", "estimate", "none"]


class PoolCostIn(Input):
    """The shared pool's cost for a UTC calendar month and the month's exchange rates (replaces what was set)."""

    amount_minor: Annotated[
        int,
        msgspec.Meta(
            ge=0, le=10**15, description="the pool's cost in minor units of the operator's currency (cents for EUR)"
        ),
    ]
    note: Annotated[
        str, msgspec.Meta(max_length=1000, description="what the cost is made of, e.g. payroll + seats")
    ] = ""
    exchange_rates: Annotated[
        dict[str, Decimal],
        msgspec.Meta(
            description="per ISO 4217 code a tenant bills in (other than the operator's own): units of the operator's "
            'currency per 1 unit of it, > 0, at most 10 decimals, e.g. {"SEK": "0.0874"}'
        ),
    ] = {}


class PoolCostOut(Output):
    month: dt.date  # the month's first day (UTC calendar month)
    currency: str  # the operator's currency the amount and the rates are in
    amount_minor: int
    note: str
    exchange_rates: dict[str, Decimal]
    version: int
    updated_by: str
    updated_at: dt.datetime


class TenantMarginOut(Output):
    """One tenant's month: revenue in its currency and the operator's, its share of the pool's cost, the margin."""

    tenant_id: uuid.UUID
    tenant: str
    period_first_day: dt.date  # the tenant's billing period: its own local month starting on the month's first day
    basis: RevenueBasis
    currency: str | None  # the tenant's (None: no rate card and no invoice)
    revenue_minor: int | None  # net: before tax, after SLA credits, with adjustments, less credit notes
    credits_minor: int | None  # of which SLA credits and credit notes (<= 0), in the tenant's currency
    exchange_rate: Decimal | None  # applied; 1 for the operator's own currency
    revenue_converted_minor: int | None  # in the operator's currency; None: no exchange rate for ``currency``
    pool_busy_seconds: Decimal  # the pool's agent time on the tenant's contacts in the UTC month
    pool_share: Decimal | None  # of the pool's agent time in the month, 0..1 (None: no agent time at all)
    cost_minor: int | None  # its share of the pool's cost; None: not allocated (see cost_status)
    margin_minor: int | None
    margin_percent: Decimal | None  # of the converted revenue, to 2 places; None without a positive revenue
    in_totals: bool  # False: no exchange rate for its currency
    problems: list[str]  # why a figure is missing, e.g. "no exchange rate for SEK", "no pool cost entered"


class MarginTotalsOut(Output):
    """Over the tenants with an exchange rate (``in_totals``), in the operator's currency."""

    revenue_minor: int
    cost_minor: int | None
    margin_minor: int | None
    margin_percent: Decimal | None


class MarginOut(Output):
    month: dt.date  # the first day of the UTC calendar month
    pool_from: dt.datetime  # the pool's month: [pool_from, pool_to) in UTC
    pool_to: dt.datetime
    currency: str  # the operator's
    pool_cost: PoolCostOut | None  # None: no pool cost entered for the month
    cost_status: CostStatus
    tenants: list[TenantMarginOut]
    totals: MarginTotalsOut
