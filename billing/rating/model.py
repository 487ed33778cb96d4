"""Rate cards, usage and SLA attainment: the immutable inputs of rating.

Every struct validates itself on construction and on decoding (msgspec runs `__post_init__` on both), so
a rate card that reaches the engine is coherent: known currency, unique charge ids, tiers that rise and
end unbounded, credit bands that rise, bases that name charges of the same card.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, ClassVar

import msgspec

from billing.rating.money import check_count, check_currency, check_decimal

HUNDRED = Decimal(100)

ChargeId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="Unique within a rate card")]
Channel = Annotated[str, msgspec.Meta(min_length=1, max_length=32, examples=["voice", "chat"])]


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValueError(f"{what} must be a non-empty text of at most 64 characters")


def _check_filter(values: frozenset[str] | None, what: str) -> None:
    if values is not None and not values:
        raise ValueError(f"{what}: an empty filter would match nothing; leave it out to match everything")


# ---------------------------------------------------------------------------------------------------------
# Usage


class UsageRow(msgspec.Struct, frozen=True, kw_only=True):
    """Measured work of one channel (and optionally one queue) of a tenant over a stretch of time.

    Rows are summed: a usage may hold several rows for the same channel and queue (e.g. one per day). Seat time of
    dedicated agents belongs to no channel or queue (an agent holds the seat whatever it handles): its rows have
    neither, and charges filtered by channel or queue never count them.
    """

    channel: Channel | None
    queue: str | None = None  # a queue key; None for work not attributed to a queue
    talk_seconds: int = 0
    hold_seconds: int = 0
    wrap_up_seconds: int = 0
    handled_contacts: int = 0
    dedicated_seat_seconds: int = 0  # seat time of agents dedicated to the tenant
    outbound_attempts: int = 0

    def __post_init__(self) -> None:
        if self.channel is not None:
            _check_id(self.channel, "channel")
        for name in (
            "talk_seconds",
            "hold_seconds",
            "wrap_up_seconds",
            "handled_contacts",
            "dedicated_seat_seconds",
            "outbound_attempts",
        ):
            check_count(getattr(self, name), name)


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's metered usage over one stretch of time (a period, or one segment of it)."""

    rows: tuple[UsageRow, ...] = ()

    def plus(self, other: Usage) -> Usage:
        """Both usages together (e.g. the usage billed and the usage that arrived late)."""
        return Usage(rows=self.rows + other.rows)


class SlaAttainment(msgspec.Struct, frozen=True, kw_only=True):
    """An SLA contract's service level measured over the period, against its target (fractions, 0.78 vs 0.80)."""

    measured: Decimal
    target: Decimal

    def __post_init__(self) -> None:
        check_decimal(self.measured, "measured", minimum=Decimal(0), maximum=Decimal(1))
        check_decimal(self.target, "target", minimum=Decimal(0), maximum=Decimal(1))

    @property
    def points_below_target(self) -> Decimal:
        """Percentage points by which the measured level falls short of the target (negative above it)."""
        return (self.target - self.measured) * HUNDRED


# ---------------------------------------------------------------------------------------------------------
# Pricing of usage charges


class Tier(msgspec.Struct, frozen=True, kw_only=True):
    """Units up to and including `up_to` (in the charge's unit), counted from the previous tier's bound;
    None for the last, unbounded tier."""

    up_to: Decimal | None
    unit_price: Decimal

    def __post_init__(self) -> None:
        if self.up_to is not None:
            check_decimal(self.up_to, "up_to")
            if self.up_to <= 0:
                raise ValueError("a tier's up_to must be > 0")
        check_decimal(self.unit_price, "unit_price", minimum=Decimal(0))


def _check_tiers(tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        raise ValueError("tiered pricing needs at least one tier")
    bounds = [tier.up_to for tier in tiers]
    if bounds[-1] is not None or None in bounds[:-1]:
        raise ValueError("only the last tier is unbounded, and it must be (up_to None)")
    finite = [bound for bound in bounds if bound is not None]
    if any(later <= earlier for earlier, later in itertools.pairwise(finite)):
        raise ValueError("tier bounds must rise strictly")


class FlatPrice(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="flat"):
    """Every unit at one price."""

    unit_price: Decimal

    def __post_init__(self) -> None:
        check_decimal(self.unit_price, "unit_price", minimum=Decimal(0))


class GraduatedPrice(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="graduated"):
    """Each tier's units at that tier's price."""

    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        _check_tiers(self.tiers)


class VolumePrice(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="volume"):
    """All units at the price of the tier the period's total quantity reaches."""

    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        _check_tiers(self.tiers)


Pricing = FlatPrice | GraduatedPrice | VolumePrice


# ---------------------------------------------------------------------------------------------------------
# Charges


class UsageCharge(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """A charge on measured work. Subclasses say what a unit is; filters narrow the rows counted."""

    unit: ClassVar[str]
    label: ClassVar[str]

    id: ChargeId
    pricing: Pricing
    description: str = ""  # shown on the invoice; a description is made up from the charge when empty
    channels: frozenset[Channel] | None = None  # count only these channels; None: all
    queues: frozenset[str] | None = None  # count only rows of these queues; None: all rows

    def __post_init__(self) -> None:
        _check_id(self.id, "charge id")
        _check_filter(self.channels, "channels")
        _check_filter(self.queues, "queues")

    def counts(self, row: UsageRow) -> bool:
        if self.channels is not None and row.channel not in self.channels:
            return False
        return self.queues is None or (row.queue is not None and row.queue in self.queues)

    def _label(self) -> str:
        return self.label

    def units_of(self, row: UsageRow) -> Fraction:
        """How many of the charge's units one usage row holds: every charge kind below says it."""
        raise NotImplementedError(f"{type(self).__name__} does not say what its unit is")

    def quantity(self, usage: Usage) -> Fraction:
        """The exact number of units in the usage."""
        return sum((self.units_of(row) for row in usage.rows if self.counts(row)), Fraction(0))

    def title(self) -> str:
        if self.description:
            return self.description
        parts = [self._label()]
        if self.channels is not None:
            parts.append(", ".join(sorted(self.channels)))
        if self.queues is not None:
            parts.append("queues " + ", ".join(sorted(self.queues)))
        return ", ".join(parts)


class HandledMinutes(UsageCharge, frozen=True, kw_only=True, tag="handled_minutes"):
    """Per handled minute: talk and hold time, and wrap-up time when the contract says so (per second)."""

    unit = "minute"
    label = "Handled minutes (talk + hold)"
    include_wrap_up: bool = False

    def _label(self) -> str:
        return "Handled minutes (talk + hold + wrap-up)" if self.include_wrap_up else self.label

    def units_of(self, row: UsageRow) -> Fraction:
        seconds = row.talk_seconds + row.hold_seconds + (row.wrap_up_seconds if self.include_wrap_up else 0)
        return Fraction(seconds, 60)


class HandledContacts(UsageCharge, frozen=True, kw_only=True, tag="handled_contacts"):
    """Per handled contact."""

    unit = "contact"
    label = "Handled contacts"

    def units_of(self, row: UsageRow) -> Fraction:
        return Fraction(row.handled_contacts)


class SeatHours(UsageCharge, frozen=True, kw_only=True, tag="seat_hours"):
    """Per seat-hour of agents dedicated to the tenant (per second)."""

    unit = "seat-hour"
    label = "Dedicated seat-hours"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.channels is not None or self.queues is not None:
            raise ValueError("seat_hours: seat time belongs to no channel or queue; leave out channels and queues")

    def units_of(self, row: UsageRow) -> Fraction:
        return Fraction(row.dedicated_seat_seconds, 3600)


class OutboundAttempts(UsageCharge, frozen=True, kw_only=True, tag="outbound_attempts"):
    """Per outbound dial attempt."""

    unit = "attempt"
    label = "Outbound attempts"

    def units_of(self, row: UsageRow) -> Fraction:
        return Fraction(row.outbound_attempts)


class PlatformFee(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="platform_fee"):
    """A fixed monthly fee, prorated by days over the part of the period the card is in force."""

    id: ChargeId
    amount_minor: int
    description: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "charge id")
        check_count(self.amount_minor, "amount_minor")

    def title(self) -> str:
        return self.description or "Platform fee"


class MinimumCommitment(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="minimum_commitment"):
    """A minimum monthly spend on usage charges: when they come to less, a top-up line makes up the
    difference. `applies_to` names the usage charges that count; None: every usage charge of the card."""

    id: ChargeId
    amount_minor: int
    applies_to: frozenset[ChargeId] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "charge id")
        check_count(self.amount_minor, "amount_minor")
        _check_filter(self.applies_to, "applies_to")

    def title(self) -> str:
        return self.description or "Minimum monthly commitment (top-up)"


class OneOffCharge(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="one_off"):
    """A single charge on a date (set-up, training); billed in the period, and by the card, of that date."""

    id: ChargeId
    on: dt.date
    amount_minor: int
    description: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "charge id")
        check_count(self.amount_minor, "amount_minor")

    def title(self) -> str:
        return self.description or "One-off charge"


Charge = (
    HandledMinutes | HandledContacts | SeatHours | OutboundAttempts | PlatformFee | MinimumCommitment | OneOffCharge
)


# ---------------------------------------------------------------------------------------------------------
# SLA service credits


class CreditBand(msgspec.Struct, frozen=True, kw_only=True):
    """Credit `percent` of the base when the service level is MORE than `points_below` percentage points
    below target (0: any shortfall at all)."""

    points_below: Decimal
    percent: Decimal

    def __post_init__(self) -> None:
        check_decimal(self.points_below, "points_below", minimum=Decimal(0), maximum=HUNDRED)
        check_decimal(self.percent, "percent", minimum=Decimal(0), maximum=HUNDRED)


class SlaCreditRule(msgspec.Struct, frozen=True, kw_only=True):
    """A service credit: the highest band the shortfall of SLA contract `sla` falls in, as a percent of
    the base. `base` names the charges it reduces; None: the recurring charges (usage, platform fees and
    commitment top-ups, not one-off charges)."""

    id: ChargeId
    sla: str  # the key of the SLA contract whose attainment is judged
    bands: tuple[CreditBand, ...]
    base: frozenset[ChargeId] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id, "credit rule id")
        _check_id(self.sla, "sla")
        _check_filter(self.base, "base")
        if not self.bands:
            raise ValueError("a credit rule needs at least one band")
        thresholds = [band.points_below for band in self.bands]
        if any(later <= earlier for earlier, later in itertools.pairwise(thresholds)):
            raise ValueError("credit bands must be listed by strictly rising points_below")

    def band_for(self, attainment: SlaAttainment) -> CreditBand | None:
        """The highest band whose threshold the shortfall exceeds; None when none does."""
        shortfall = attainment.points_below_target
        matched = [band for band in self.bands if shortfall > band.points_below]
        return matched[-1] if matched else None

    def title(self) -> str:
        return self.description or f"SLA service credit ({self.sla})"


# ---------------------------------------------------------------------------------------------------------
# Rate card


class RateCard(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a tenant's rate card, in force from `effective_from` until the next version's date."""

    version: int
    currency: str
    tax_rate_percent: Decimal
    effective_from: dt.date
    charges: tuple[Charge, ...]
    sla_credits: tuple[SlaCreditRule, ...] = ()

    def __post_init__(self) -> None:
        check_currency(self.currency)
        check_count(self.version, "version")
        check_decimal(self.tax_rate_percent, "tax_rate_percent", minimum=Decimal(0), maximum=HUNDRED)
        ids = [charge.id for charge in self.charges]
        _check_unique(ids, "charge ids")
        _check_unique([rule.id for rule in self.sla_credits], "credit rule ids")
        usage_ids = {charge.id for charge in self.charges if isinstance(charge, UsageCharge)}
        for charge in self.charges:
            if isinstance(charge, MinimumCommitment) and charge.applies_to is not None:
                _check_known(charge.applies_to, usage_ids, f"minimum commitment {charge.id!r}", "usage charges")
        for rule in self.sla_credits:
            if rule.base is not None:
                _check_known(rule.base, set(ids), f"credit rule {rule.id!r}", "charges")

    def usage_charges(self) -> tuple[UsageCharge, ...]:
        return tuple(charge for charge in self.charges if isinstance(charge, UsageCharge))


def _check_unique(values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} must be unique; {value!r} is repeated")
        seen.add(value)


def _check_known(named: frozenset[str], known: set[str], who: str, what: str) -> None:
    unknown = sorted(named - known)
    if unknown:
        raise ValueError(f"{who} names {', '.join(map(repr, unknown))}, which are not {what} of the card")


# ---------------------------------------------------------------------------------------------------------
# Periods and segments


class BillingPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """The dates billed, `start` included and `end` excluded (a calendar month: Nov 1 to Dec 1).
    Monthly amounts are prorated by days of this period."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a billing period ends after it starts")

    @property
    def days(self) -> int:
        return (self.end - self.start).days


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of a billing period (start included, end excluded) during which one card version is in force."""

    start: dt.date
    end: dt.date
    card: RateCard

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a segment ends after it starts")
        if self.card.effective_from > self.start:
            raise ValueError(f"card version {self.card.version} is not in force before {self.card.effective_from}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days


class SegmentUsage(msgspec.Struct, frozen=True, kw_only=True):
    """The usage measured during one segment."""

    segment: Segment
    usage: Usage
