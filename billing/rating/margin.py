"""The operator's margin per tenant for a month: each tenant's net revenue in the operator's currency, less its
share of the shared pool's cost by agent time.

Revenue is converted with the month's exchange rate (units of the operator's currency per unit of the tenant's),
rounded half to even to the operator's minor unit once per tenant. The pool's cost is split by the tenants'
agent seconds (`allocate_pool_cost`), so the costs of all tenants sum exactly to it. A tenant whose currency has
no rate keeps its revenue in its own currency and is left out of the totals (its revenue cannot be added up);
so is its cost, so the totals' margin is their revenue less their cost, exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Literal

import msgspec

from billing.rating.allocation import allocate_pool_cost
from billing.rating.money import Money, check_currency, check_decimal, minor_unit_digits, total

# allocated: the pool's cost split by agent time; no_pool_cost: none entered for the month; no_agent_time: a
# cost entered, but the pool worked for no tenant that month, so there is nothing to split it by.
CostStatus = Literal["allocated", "no_pool_cost", "no_agent_time"]


class TenantMonth(msgspec.Struct, frozen=True, kw_only=True):
    """One tenant's month as the margin reads it."""

    tenant: str  # the tenant's key (its id as text)
    revenue: Money | None  # net revenue in the tenant's own currency; None: nothing billable (no rate card)
    busy_seconds: Decimal  # the pool's agent time on the tenant's contacts in the month, >= 0


class PoolMonth(msgspec.Struct, frozen=True, kw_only=True):
    """What the operator entered for the month."""

    currency: str  # the operator's
    cost: Money | None  # in ``currency``; None: not entered
    rates: Mapping[str, Decimal]  # units of ``currency`` per unit of another currency, > 0


class TenantMargin(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    revenue: Money | None  # as given, in the tenant's currency
    rate: Decimal | None  # the rate applied (1 for the operator's own currency); None: missing, or no revenue
    converted: Money | None  # the revenue in the operator's currency (0 without revenue); None: no rate for it
    missing_rate: str | None  # the tenant's currency when the month has no rate for it
    cost: Money | None  # its share of the pool's cost; None unless the cost is allocated
    margin: Money | None  # converted - cost, when both are known
    margin_percent: Decimal | None  # margin / converted x 100, to 2 places; None when there is no positive revenue

    @property
    def in_totals(self) -> bool:
        return self.converted is not None


class Margins(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    cost_status: CostStatus
    tenants: tuple[TenantMargin, ...]  # in the order given
    # Over the tenants in the totals (those with a rate):
    revenue: Money
    cost: Money | None
    margin: Money | None
    margin_percent: Decimal | None


def convert(amount: Money, rate: Decimal, currency: str) -> Money:
    """``amount`` in ``currency`` at ``rate`` (units of ``currency`` per unit of the amount's), rounded half to
    even to the minor unit of ``currency``: the exact product, rounded once."""
    check_decimal(rate, "an exchange rate")
    if rate <= 0:
        raise ValueError(f"an exchange rate is > 0, not {rate}")
    scale = Fraction(10) ** (minor_unit_digits(currency) - minor_unit_digits(amount.currency))
    return Money(round(amount.minor * Fraction(rate) * scale), check_currency(currency))


def percent(part: Money, whole: Money) -> Decimal | None:
    """``part`` as a percentage of ``whole`` to two places (half to even); None when ``whole`` is not positive."""
    if whole.minor <= 0:
        return None
    hundredths = round(Fraction(part.minor * 10_000, whole.minor))
    return Decimal(hundredths).scaleb(-2)


def whole_weights(seconds: Mapping[str, Decimal]) -> dict[str, int]:
    """Agent seconds (exact decimals) as whole numbers in the same proportions: each scaled by the power of ten
    that makes the finest of them whole, so the split is by the exact seconds."""
    exact = {
        tenant: Fraction(check_decimal(value, f"the agent seconds of {tenant}", minimum=Decimal(0)))
        for tenant, value in seconds.items()
    }
    scale = 1
    for value in exact.values():
        while (value * scale).denominator != 1:  # a decimal's denominator divides a power of ten
            scale *= 10
    return {tenant: int(value * scale) for tenant, value in exact.items()}


def _costs(pool: PoolMonth, tenants: Sequence[TenantMonth]) -> tuple[CostStatus, dict[str, Money]]:
    if pool.cost is None:
        return "no_pool_cost", {}
    weights = whole_weights({tenant.tenant: tenant.busy_seconds for tenant in tenants})
    if pool.cost.minor and not any(weights.values()):
        return "no_agent_time", {}
    return "allocated", allocate_pool_cost(pool.cost, weights)


def _converted(revenue: Money | None, pool: PoolMonth) -> tuple[Decimal | None, Money | None]:
    """The rate applied and the revenue in the operator's currency; (None, None) when the rate is missing."""
    if revenue is None:
        return None, Money.zero(pool.currency)
    if revenue.currency == pool.currency:
        return Decimal(1), revenue
    rate = pool.rates.get(revenue.currency)
    if rate is None:
        return None, None
    return rate, convert(revenue, rate, pool.currency)


def margins(pool: PoolMonth, tenants: Sequence[TenantMonth]) -> Margins:
    """Each tenant's revenue, cost and margin in the operator's currency, and their totals."""
    check_currency(pool.currency)
    if pool.cost is not None and pool.cost.currency != pool.currency:
        raise ValueError(f"the pool's cost is in {pool.cost.currency}, not the operator's {pool.currency}")
    if len({tenant.tenant for tenant in tenants}) != len(tenants):
        raise ValueError("each tenant is given once")
    status, costs = _costs(pool, tenants)
    found = []
    for tenant in tenants:
        rate, converted = _converted(tenant.revenue, pool)
        cost = costs.get(tenant.tenant)
        margin = converted - cost if converted is not None and cost is not None else None
        found.append(
            TenantMargin(
                tenant=tenant.tenant,
                revenue=tenant.revenue,
                rate=rate,
                converted=converted,
                missing_rate=tenant.revenue.currency if tenant.revenue is not None and converted is None else None,
                cost=cost,
                margin=margin,
                margin_percent=None if margin is None or converted is None else percent(margin, converted),
            )
        )
    counted = [tenant for tenant in found if tenant.in_totals]
    revenue = total([tenant.converted for tenant in counted if tenant.converted is not None], pool.currency)
    cost = total([costs[tenant.tenant] for tenant in counted], pool.currency) if status == "allocated" else None
    margin = None if cost is None else revenue - cost
    return Margins(
        currency=pool.currency,
        cost_status=status,
        tenants=tuple(found),
        revenue=revenue,
        cost=cost,
        margin=margin,
        margin_percent=None if margin is None else percent(margin, revenue),
    )
