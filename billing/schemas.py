"""Request and response structs of the billing API: rate card versions, usage to date and its estimate.

A rate card's charges and SLA credit rules are the rating core's own structs (``billing.rating``), so what is
stored is exactly what rating reads; they check themselves as they are decoded (tiers that rise, known
currency, unique ids, ...).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from app.core.structs import Input, Output
from billing.rating import Charge, InvoiceDraft, SlaCreditRule

Currency = Annotated[
    str, msgspec.Meta(pattern="^[A-Z]{3}$", description="ISO 4217 code; a tenant is billed in one currency")
]
TaxRatePercent = Annotated[Decimal, msgspec.Meta(description="tax rate in percent, 0 to 100, e.g. 25 or 8.875")]
Seconds = Annotated[Decimal, msgspec.Meta(description="seconds, exact to the microsecond (a decimal string)")]
RateCardStatus = Literal["in_force", "scheduled", "superseded"]


class RateCardCreate(Input):
    """A new version of the acting tenant's rate card, in force from ``effective_from`` (its local date) on."""

    effective_from: Annotated[
        dt.date, msgspec.Meta(description="first day in force, in the tenant's time zone: today or later")
    ]
    currency: Currency
    tax_rate_percent: TaxRatePercent
    charges: Annotated[
        list[Charge],
        msgspec.Meta(
            max_length=50,
            description="combinable: handled_minutes, handled_contacts, seat_hours, outbound_attempts (each priced "
            "flat, graduated or volume; optionally for some channels, or queues by id), platform_fee, "
            "minimum_commitment, one_off (amounts in minor units of the currency)",
        ),
    ]
    sla_credits: Annotated[
        list[SlaCreditRule], msgspec.Meta(max_length=20, description="service credits when an SLA target is missed")
    ] = []
    note: Annotated[str, msgspec.Meta(max_length=1000, description="what the version rests on, e.g. amendment 3")] = ""


class RateCardOut(Output):
    id: uuid.UUID
    version: int
    effective_from: dt.date
    currency: str
    tax_rate_percent: Decimal
    charges: list[Charge]
    sla_credits: list[SlaCreditRule]
    note: str
    created_by: str
    created_at: dt.datetime
    # in_force: the version of today; scheduled: from a later day; superseded: no longer in force.
    status: RateCardStatus


class UsageDay(Output):
    """One local day and channel of a period's usage (queues summed), or, with no channel, the day's seat time
    of the agents dedicated to the tenant."""

    day: dt.date
    channel: str | None
    contacts: int
    talk_seconds: Seconds
    hold_seconds: Seconds
    wrap_up_seconds: Seconds
    handled_seconds: Seconds  # talk + hold + wrap-up
    outbound_attempts: int  # callbacks: the platform dialled the customer for the agent
    dedicated_seat_seconds: Seconds  # signed-in time of the agents dedicated to the tenant
    # Usage of a day of an earlier, closed period that was metered after it closed: billed here as an adjustment.
    late: bool


class UsageTotals(Output):
    contacts: int
    talk_seconds: Seconds
    hold_seconds: Seconds
    wrap_up_seconds: Seconds
    handled_seconds: Seconds
    outbound_attempts: int
    dedicated_seat_seconds: Seconds


class UsagePeriod(Output):
    first_day: dt.date
    last_day: dt.date
    status: Literal["open", "closed"]


class UsageOut(Output):
    """A billing period's usage so far: days of its own, late days of closed periods, and an estimate."""

    tenant_id: uuid.UUID
    timezone: str
    period: UsagePeriod
    days: list[UsageDay]
    totals: UsageTotals  # the period's own days
    late: UsageTotals  # days of closed periods metered late, billed in this period as adjustments
    metered_at: dt.datetime | None  # when metering last ran for the tenant
    rate_card_version: int | None  # the version in force on the period's last day so far
    # The usage so far rated with the card(s) in force (None without one); SLA credits are decided at the
    # period's close, so none are in it.
    estimate: InvoiceDraft | None


class TenantUsage(Output):
    """One tenant's current period so far, for the operator."""

    tenant_id: uuid.UUID
    tenant: str
    period: UsagePeriod
    totals: UsageTotals
    late: UsageTotals
    currency: str | None
    estimate_total_minor: int | None  # the estimate's total in minor units of ``currency``
    pool_busy_seconds: Decimal  # the pool's agent time on the tenant's contacts in the pool span
    pool_share: Decimal | None  # its part of the pool's agent time in that span, 0..1 (None: no agent time at all)


class TenantsUsageOut(Output):
    tenants: list[TenantUsage]
    pool_from: dt.datetime  # the span of the pool shares
    pool_to: dt.datetime


class PoolShare(Output):
    """A tenant's share of the shared pool's agent time (talk, hold and wrap-up) over a span."""

    tenant_id: uuid.UUID
    busy_seconds: Decimal
    share: Decimal  # busy_seconds / the pool's, 0..1


def unknown_fields(given: Any, decoded: Any, path: str) -> list[str]:
    """Fields of ``given`` (a decoded JSON value) that ``decoded`` (the same value as structs, back as builtins)
    lost: keys no struct knows, which msgspec drops silently in nested structs of other packages."""
    if isinstance(given, dict) and isinstance(decoded, dict):
        lost = [f"{path}.{key}" for key in given if key not in decoded]
        return lost + [
            found
            for key in given
            if key in decoded
            for found in unknown_fields(given[key], decoded[key], f"{path}.{key}")
        ]
    if isinstance(given, list) and isinstance(decoded, list):
        return [
            found
            for index, (item, known) in enumerate(zip(given, decoded, strict=False))
            for found in unknown_fields(item, known, f"{path}[{index}]")
        ]
    return []
