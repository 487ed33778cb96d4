"""What rating produces: invoice drafts, their lines and taxes, and adjustments to closed periods."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

import msgspec

from billing.rating.model import BillingPeriod
from billing.rating.money import Money


class LineKind(StrEnum):
    """What a line bills: the kind of the charge it comes from, or an SLA credit."""

    HANDLED_MINUTES = "handled_minutes"
    HANDLED_CONTACTS = "handled_contacts"
    SEAT_HOURS = "seat_hours"
    OUTBOUND_ATTEMPTS = "outbound_attempts"
    PLATFORM_FEE = "platform_fee"
    MINIMUM_COMMITMENT = "minimum_commitment"
    ONE_OFF = "one_off"
    SLA_CREDIT = "sla_credit"


USAGE_KINDS = frozenset(
    {LineKind.HANDLED_MINUTES, LineKind.HANDLED_CONTACTS, LineKind.SEAT_HOURS, LineKind.OUTBOUND_ATTEMPTS}
)


class CreditShare(msgspec.Struct, frozen=True, kw_only=True):
    """The part of a charge line that a credit takes back."""

    line: int  # position of the charge line in the draft's `lines`
    amount: Money  # > 0: how much of that line the credit reduces


class InvoiceLine(msgspec.Struct, frozen=True, kw_only=True):
    kind: LineKind
    charge_id: str  # the charge's id; for an SLA credit, the credit rule's id
    description: str
    start: dt.date  # the dates the line is for, start included, end excluded
    end: dt.date
    quantity: Decimal  # shown rounded (see billing.rating); the amount comes from the exact quantity
    unit: str
    unit_price: Decimal  # major units per unit, as on the rate card (negative on a credit)
    amount: Money  # < 0 on a credit
    tier: int | None = None  # 1-based tier of tiered or volume pricing
    credited: tuple[CreditShare, ...] = ()  # on a credit: the charge lines it reduces, and by how much

    @property
    def is_credit(self) -> bool:
        return self.kind is LineKind.SLA_CREDIT


class TaxLine(msgspec.Struct, frozen=True, kw_only=True):
    """The tax at one rate: on the net of the lines billed at that rate."""

    rate_percent: Decimal
    net: Money
    amount: Money


class InvoiceDraft(msgspec.Struct, frozen=True, kw_only=True):
    """A rated period. total = subtotal + credits + adjustments_total + tax, where subtotal is the sum of
    the charge lines, credits the sum of the credit lines (<= 0), adjustments_total the sum of the
    adjustment lines carried over from closed periods and tax the sum of `taxes`."""

    currency: str
    period: BillingPeriod
    lines: tuple[InvoiceLine, ...]  # charge lines in card order per segment, then credit lines
    adjustments: tuple[InvoiceLine, ...]  # lines of Adjustments to closed periods carried on this invoice
    subtotal: Money
    credits: Money
    adjustments_total: Money
    taxes: tuple[TaxLine, ...]
    tax: Money
    total: Money
    credit_note: bool  # the total is negative: the tenant is owed money (only ever through adjustments)


class Adjustment(msgspec.Struct, frozen=True, kw_only=True):
    """The change to a closed period's invoice (late usage, a correction), to be carried on the next one.

    Each line is the difference between the line as re-rated and as billed (a line no longer billed comes
    back negated), so the billed total plus this total is exactly the total of the period re-rated."""

    currency: str
    period: BillingPeriod  # the closed period adjusted
    lines: tuple[InvoiceLine, ...]
    net: Money
    taxes: tuple[TaxLine, ...]
    tax: Money
    total: Money
    credit_note: bool  # the total is negative
