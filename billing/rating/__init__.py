"""The rating core: rate card versions and measured usage in, an invoice draft out. Pure: no database, no
clock, no settings; every input is an immutable msgspec struct, and the same inputs always give the same
draft, line for line and in the same order.

Money
    Amounts are integers in the minor unit of the card's ISO 4217 currency (cents for EUR, yen for JPY,
    fils for BHD: `Money`). Unit prices, tier bounds, tax rates and percentages are Decimals, never floats;
    quantities are kept exact (fractions: 61 seconds are 61/60 minutes) until a line's amount is rounded.

Charges (combinable, in the card's order)
    Usage: per handled minute (talk + hold, + wrap-up when `include_wrap_up`), per handled contact, per
    dedicated seat-hour, per outbound attempt; each priced flat, graduated (each tier's units at that
    tier's price) or by volume (all units at the price of the tier the period's total reaches; a tier's
    `up_to` bound belongs to it), optionally filtered to channels and queues. Fixed: a monthly platform
    fee; a minimum monthly commitment (a top-up line when the usage charges it names come to less); one-off
    charges, billed in the period that holds their date.

Rounding (the only places amounts are rounded; always half to even, to the currency's minor unit)
    1. Each usage line: exact quantity x unit price. A graduated charge has one line per tier reached,
       each rounded on its own. The shown `quantity` is rounded to 4 places for display only.
    2. Each platform fee line: fee x days of its segment / days of the period (exact when not split).
    3. A minimum commitment: the commitment prorated by days over the segments that have it, rounded
       once; the top-up is that less the (already rounded) usage lines it counts.
    4. Each credit line: its percent x its base's billed amount.
    5. Tax, once per tax rate: on the net (charge lines less credit lines) of the segments at that rate.
    So subtotal, credits, tax and total are exact sums of rounded parts: total = sum of lines + tax.
    Splitting a period at a card change moves amounts only by this per-line rounding: with the same
    card on both sides, each usage charge and platform fee differs from rating the period at once by at
    most half a minor unit per rounded line of it in the two drafts, and so does the subtotal (a
    commitment top-up absorbs the rounding of the usage it counts); one-off charges do not move.

Card changes inside a period (`segments`, `rate_segments`)
    The period is cut at the effective dates of the versions; the caller measures the usage of each
    segment. Fees are prorated by days; tier positions, volume tiers and minimum commitments run over the
    whole period, charges being matched across versions by id (units of the first segment fill the
    first tiers, the period's total picks the volume tier, each version's prices apply to its own units);
    credit rules and tax rates of a version apply to the lines of its segment.

SLA service credits (scoring)
    A rule judges one SLA contract's attainment for the period (measured vs target service level). The
    shortfall in percentage points is (target - measured) x 100. A band matches when the shortfall is
    strictly greater than its `points_below` (0 = any shortfall; exactly on target, or exactly 5 points
    below for a 5-point band, does not reach it); the highest matching band alone applies. The credit is
    that band's percent of the rule's base: the named charges, or by default every recurring line (usage,
    platform fee, commitment top-up; not one-off charges) of the rule's segment. Credits are taken in
    rule order and never exceed what earlier credits left of the lines they reduce; each credit records
    its share of each line (`credited`, spread by largest remainder), so no line, and no draft, is ever
    credited below zero. A rule whose SLA has no attainment given (no traffic measured) credits nothing.

Adjustments (`adjustment`, `late_usage_adjustment`, `with_adjustments`)
    Usage arriving after a period closed is rated by rating the period again with and without it; the
    difference, line by line and tax by tax, is carried on the next invoice. It can be negative (late units
    reaching a cheaper volume tier); an invoice whose total turns negative is a credit note. A draft from
    `rate` alone never is: its charges are >= 0 and its credits never exceed them.

Shared-pool cost (`allocate_pool_cost`)
    The pool's cost split by each tenant's agent time, by largest remainder: shares sum exactly to the cost.

The operator's margin (`margins`)
    Per tenant and month: its net revenue converted to the operator's currency (rounded half to even once per
    tenant), less its share of the pool's cost; margin = revenue - cost exactly. A tenant whose currency has no
    exchange rate is left out of the totals.
"""

from billing.rating.allocation import allocate_pool_cost
from billing.rating.engine import adjustment, late_usage_adjustment, rate, rate_segments, segments, with_adjustments
from billing.rating.invoice import Adjustment, CreditShare, InvoiceDraft, InvoiceLine, LineKind, TaxLine
from billing.rating.margin import CostStatus, Margins, PoolMonth, TenantMargin, TenantMonth, convert, margins
from billing.rating.model import (
    BillingPeriod,
    Charge,
    CreditBand,
    FlatPrice,
    GraduatedPrice,
    HandledContacts,
    HandledMinutes,
    MinimumCommitment,
    OneOffCharge,
    OutboundAttempts,
    PlatformFee,
    Pricing,
    RateCard,
    SeatHours,
    Segment,
    SegmentUsage,
    SlaAttainment,
    SlaCreditRule,
    Tier,
    Usage,
    UsageCharge,
    UsageRow,
    VolumePrice,
)
from billing.rating.money import ISO_4217, Money, minor_unit_digits

__all__ = [
    "ISO_4217",
    "Adjustment",
    "BillingPeriod",
    "Charge",
    "CostStatus",
    "CreditBand",
    "CreditShare",
    "FlatPrice",
    "GraduatedPrice",
    "HandledContacts",
    "HandledMinutes",
    "InvoiceDraft",
    "InvoiceLine",
    "LineKind",
    "Margins",
    "MinimumCommitment",
    "Money",
    "OneOffCharge",
    "OutboundAttempts",
    "PlatformFee",
    "PoolMonth",
    "Pricing",
    "RateCard",
    "SeatHours",
    "Segment",
    "SegmentUsage",
    "SlaAttainment",
    "SlaCreditRule",
    "TaxLine",
    "TenantMargin",
    "TenantMonth",
    "Tier",
    "Usage",
    "UsageCharge",
    "UsageRow",
    "VolumePrice",
    "adjustment",
    "allocate_pool_cost",
    "convert",
    "late_usage_adjustment",
    "margins",
    "minor_unit_digits",
    "rate",
    "rate_segments",
    "segments",
    "with_adjustments",
]
