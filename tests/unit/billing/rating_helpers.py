"""Builders shared by the rating tests: short ways to write cards, usage and the figures of a draft."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from billing.rating import (
    BillingPeriod,
    Charge,
    CreditBand,
    FlatPrice,
    InvoiceDraft,
    LineKind,
    RateCard,
    SlaAttainment,
    SlaCreditRule,
    Tier,
    Usage,
    UsageRow,
)

NOVEMBER = BillingPeriod(start=dt.date(2026, 11, 1), end=dt.date(2026, 12, 1))  # 30 days
DECEMBER = BillingPeriod(start=dt.date(2026, 12, 1), end=dt.date(2027, 1, 1))  # 31 days
LONG_AGO = dt.date(2026, 1, 1)


def card(
    *charges: Charge,
    credits: tuple[SlaCreditRule, ...] = (),
    tax: str = "0",
    currency: str = "EUR",
    version: int = 1,
    effective_from: dt.date = LONG_AGO,
) -> RateCard:
    return RateCard(
        version=version,
        currency=currency,
        tax_rate_percent=Decimal(tax),
        effective_from=effective_from,
        charges=charges,
        sla_credits=credits,
    )


def flat(price: str) -> FlatPrice:
    return FlatPrice(unit_price=Decimal(price))


def tiers(*bounds: tuple[int | str | None, str]) -> tuple[Tier, ...]:
    return tuple(
        Tier(up_to=None if up_to is None else Decimal(up_to), unit_price=Decimal(price)) for up_to, price in bounds
    )


def usage(*rows: UsageRow) -> Usage:
    return Usage(rows=rows)


def voice(**figures: int) -> UsageRow:
    return UsageRow(channel="voice", **figures)


def chat(**figures: int) -> UsageRow:
    return UsageRow(channel="chat", **figures)


def credit_rule(
    *bands: tuple[str, str], sla: str = "voice", rule_id: str = "sla", base: frozenset[str] | None = None
) -> SlaCreditRule:
    return SlaCreditRule(
        id=rule_id,
        sla=sla,
        bands=tuple(CreditBand(points_below=Decimal(points), percent=Decimal(percent)) for points, percent in bands),
        base=base,
    )


def attained(measured: str, target: str = "0.80", sla: str = "voice") -> dict[str, SlaAttainment]:
    return {sla: SlaAttainment(measured=Decimal(measured), target=Decimal(target))}


def figures(draft: InvoiceDraft) -> list[tuple[str, int | None, int]]:
    """(charge id, tier, amount in minor units) of every line, in order."""
    return [(line.charge_id, line.tier, line.amount.minor) for line in draft.lines]


def charge_lines(draft: InvoiceDraft) -> list[tuple[str, int | None, int]]:
    return [
        (line.charge_id, line.tier, line.amount.minor) for line in draft.lines if line.kind is not LineKind.SLA_CREDIT
    ]


def credit_amounts(draft: InvoiceDraft) -> list[tuple[str, int]]:
    return [(line.charge_id, line.amount.minor) for line in draft.lines if line.kind is LineKind.SLA_CREDIT]
