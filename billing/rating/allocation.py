"""Shared-pool cost allocation: the operator's cost of the shared agent pool, split by agent time."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

from billing.rating.money import Money, check_count, largest_remainder

TenantKey = TypeVar("TenantKey", bound=Hashable)


def allocate_pool_cost(cost: Money, agent_seconds: Mapping[TenantKey, int]) -> dict[TenantKey, Money]:
    """Each tenant's share of the pool's cost for the period, in proportion to the agent time (seconds)
    the pool spent on it, by largest remainder: the shares sum exactly to the cost, each is within one
    minor unit of its exact proportion, more agent time never gets a smaller share, and no agent time
    gets nothing. Ties go to the larger agent time, then to the tenant whose key sorts first as text.

    The result lists the tenants in that text order. A cost with no agent time at all to split it by is
    refused (ValueError); a zero cost gives every tenant zero.
    """
    if cost.minor < 0:
        raise ValueError("a pool cost is >= 0")
    tenants = sorted(agent_seconds, key=str)
    seconds = [check_count(agent_seconds[tenant], "agent seconds") for tenant in tenants]
    if cost.minor and not sum(seconds):
        raise ValueError("no agent time to allocate the pool's cost by")
    shares = largest_remainder(cost.minor, seconds)
    return {tenant: Money(share, cost.currency) for tenant, share in zip(tenants, shares, strict=True)}
