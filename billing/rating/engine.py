"""Rating: rate card versions and usage in, an invoice draft out (see the package docstring for the rules)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import msgspec

from billing.rating.invoice import (
    USAGE_KINDS,
    Adjustment,
    CreditShare,
    InvoiceDraft,
    InvoiceLine,
    LineKind,
    TaxLine,
)
from billing.rating.model import (
    BillingPeriod,
    FlatPrice,
    GraduatedPrice,
    MinimumCommitment,
    OneOffCharge,
    PlatformFee,
    RateCard,
    Segment,
    SegmentUsage,
    SlaAttainment,
    SlaCreditRule,
    Tier,
    Usage,
    UsageCharge,
    VolumePrice,
)
from billing.rating.money import (
    Money,
    display_quantity,
    largest_remainder,
    minor_to_major,
    round_to_minor,
    total,
)

ONE_DAY = dt.timedelta(days=1)


def segments(period: BillingPeriod, versions: Sequence[RateCard]) -> tuple[Segment, ...]:
    """The stretches of the period and the card version in force in each: a version is in force from its
    effective date until the next version's. Days before the first version's date are in no segment (and
    are not billed). The caller measures usage per segment and passes it to `rate_segments`."""
    ordered = sorted(versions, key=lambda card: card.effective_from)
    for earlier, later in itertools.pairwise(ordered):
        if earlier.effective_from == later.effective_from:
            raise ValueError(f"versions {earlier.version} and {later.version} take effect on the same day")
    result: list[Segment] = []
    for index, card in enumerate(ordered):
        start = max(card.effective_from, period.start)
        end = period.end if index + 1 == len(ordered) else min(ordered[index + 1].effective_from, period.end)
        if start < end:
            result.append(Segment(start=start, end=end, card=card))
    return tuple(result)


def rate(
    card: RateCard, usage: Usage, period: BillingPeriod, *, attainment: Mapping[str, SlaAttainment] | None = None
) -> InvoiceDraft:
    """Rate a whole period under one card version. `attainment` maps SLA contract keys to the period's
    measured service level (for the card's credit rules)."""
    segment = Segment(start=period.start, end=period.end, card=card)
    return rate_segments(period, [SegmentUsage(segment=segment, usage=usage)], attainment=attainment)


@dataclass(slots=True)
class _Placed:
    """A charge line while rating: its place in the order, and the segment it belongs to."""

    order: tuple[int, int, int]  # segment, charge position in the card, tier
    segment: int
    line: InvoiceLine


def rate_segments(
    period: BillingPeriod,
    parts: Sequence[SegmentUsage],
    *,
    attainment: Mapping[str, SlaAttainment] | None = None,
) -> InvoiceDraft:
    """Rate a period whose card changes inside it: one `SegmentUsage` per segment (see `segments`), with
    the usage measured in that segment. Tier positions, volume tiers and minimum commitments run over the
    whole period (charges are matched across versions by id); fees are prorated by days; credit rules
    and tax rates of each version apply to the lines of its own segment."""
    ordered = _checked_parts(period, parts)
    currency = ordered[0].segment.card.currency
    placed = _charge_lines(period, ordered, currency)
    placed.sort(key=lambda item: item.order)
    charge_lines = [item.line for item in placed]
    line_segments = [item.segment for item in placed]
    credit_lines, credit_segments = _credit_lines(ordered, charge_lines, line_segments, attainment or {}, currency)
    lines = (*charge_lines, *credit_lines)
    taxes = _taxes(ordered, lines, (*line_segments, *credit_segments), currency)
    subtotal = total([line.amount for line in charge_lines], currency)
    credits = total([line.amount for line in credit_lines], currency)
    tax = total([tax_line.amount for tax_line in taxes], currency)
    grand_total = subtotal + credits + tax
    return InvoiceDraft(
        currency=currency,
        period=period,
        lines=lines,
        adjustments=(),
        subtotal=subtotal,
        credits=credits,
        adjustments_total=Money.zero(currency),
        taxes=taxes,
        tax=tax,
        total=grand_total,
        credit_note=grand_total.minor < 0,
    )


def _checked_parts(period: BillingPeriod, parts: Sequence[SegmentUsage]) -> list[SegmentUsage]:
    if not parts:
        raise ValueError("nothing to rate: no segment")
    ordered = sorted(parts, key=lambda part: part.segment.start)
    currencies = {part.segment.card.currency for part in ordered}
    if len(currencies) > 1:
        raise ValueError(f"the card versions of one period use one currency, not {', '.join(sorted(currencies))}")
    for part in ordered:
        if part.segment.start < period.start or part.segment.end > period.end:
            raise ValueError(f"segment {part.segment.start} to {part.segment.end} lies outside the period")
    for earlier, later in itertools.pairwise(ordered):
        if later.segment.start < earlier.segment.end:
            raise ValueError(f"segments overlap on {later.segment.start}")
    kinds: dict[str, type[object]] = {}
    for part in ordered:
        for charge in part.segment.card.charges:
            if kinds.setdefault(charge.id, type(charge)) is not type(charge):
                raise ValueError(f"charge {charge.id!r} changes kind between card versions")
    return ordered


def _charge_lines(period: BillingPeriod, parts: Sequence[SegmentUsage], currency: str) -> list[_Placed]:
    quantities = [
        {charge.id: charge.quantity(part.usage) for charge in part.segment.card.usage_charges()} for part in parts
    ]
    period_quantity: dict[str, Fraction] = {}
    for by_charge in quantities:
        for charge_id, quantity in by_charge.items():
            period_quantity[charge_id] = period_quantity.get(charge_id, Fraction(0)) + quantity
    position: dict[str, Fraction] = {}  # units of each charge rated so far in the period (tier position)
    placed: list[_Placed] = []
    for index, part in enumerate(parts):
        segment = part.segment
        for order, charge in enumerate(segment.card.charges):
            if isinstance(charge, UsageCharge):
                quantity = quantities[index][charge.id]
                before = position.get(charge.id, Fraction(0))
                position[charge.id] = before + quantity
                for tier, tier_quantity, unit_price in _priced(charge, before, quantity, period_quantity[charge.id]):
                    line = _usage_line(charge, segment, tier, tier_quantity, unit_price, currency)
                    placed.append(_Placed((index, order, tier or 0), index, line))
            elif isinstance(charge, PlatformFee):
                line = _fee_line(charge, segment, period, currency)
                placed.append(_Placed((index, order, 0), index, line))
            elif isinstance(charge, OneOffCharge) and segment.start <= charge.on < segment.end:
                line = _one_off_line(charge, currency)
                placed.append(_Placed((index, order, 0), index, line))
    placed.extend(_commitment_lines(period, parts, placed, currency))
    return placed


def _priced(
    charge: UsageCharge, before: Fraction, quantity: Fraction, period_quantity: Fraction
) -> list[tuple[int | None, Fraction, Decimal]]:
    """(tier, units, unit price) for `quantity` units of the charge, the period's earlier units being `before`."""
    pricing = charge.pricing
    if isinstance(pricing, FlatPrice):
        return [(None, quantity, pricing.unit_price)]
    if isinstance(pricing, VolumePrice):
        tier = _tier_reached(pricing.tiers, period_quantity)
        return [(tier, quantity, pricing.tiers[tier - 1].unit_price)]
    return _graduated(pricing, before, quantity)


def _tier_reached(tiers: Sequence[Tier], quantity: Fraction) -> int:
    """The 1-based tier whose bounds hold `quantity` (a bound belongs to the tier it closes)."""
    for index, tier in enumerate(tiers, 1):
        if tier.up_to is None or quantity <= Fraction(tier.up_to):
            return index
    raise AssertionError("the last tier is unbounded")  # checked by the card


def _graduated(
    pricing: GraduatedPrice, before: Fraction, quantity: Fraction
) -> list[tuple[int | None, Fraction, Decimal]]:
    after = before + quantity
    slices: list[tuple[int | None, Fraction, Decimal]] = []
    lower = Fraction(0)
    for index, tier in enumerate(pricing.tiers, 1):
        upper = None if tier.up_to is None else Fraction(tier.up_to)
        in_tier = (after if upper is None else min(after, upper)) - max(before, lower)
        if in_tier > 0:
            slices.append((index, in_tier, tier.unit_price))
        if upper is not None:
            lower = upper
    if slices:
        return slices
    # No units: one empty line at the tier the next unit would fall in.
    for index, tier in enumerate(pricing.tiers, 1):
        if tier.up_to is None or before < Fraction(tier.up_to):
            return [(index, Fraction(0), tier.unit_price)]
    raise AssertionError("the last tier is unbounded")


def _usage_line(
    charge: UsageCharge, segment: Segment, tier: int | None, quantity: Fraction, unit_price: Decimal, currency: str
) -> InvoiceLine:
    description = charge.title() if tier is None else f"{charge.title()}, tier {tier}"
    return InvoiceLine(
        kind=LineKind(_kind_of(charge)),
        charge_id=charge.id,
        description=description,
        start=segment.start,
        end=segment.end,
        quantity=display_quantity(quantity),
        unit=charge.unit,
        unit_price=unit_price,
        amount=Money(round_to_minor(quantity * Fraction(unit_price), currency), currency),
        tier=tier,
    )


def _kind_of(charge: UsageCharge) -> str:
    tag = type(charge).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def _fee_line(fee: PlatformFee, segment: Segment, period: BillingPeriod, currency: str) -> InvoiceLine:
    share = Fraction(segment.days, period.days)
    description = fee.title() if share == 1 else f"{fee.title()} ({segment.days} of {period.days} days)"
    return InvoiceLine(
        kind=LineKind.PLATFORM_FEE,
        charge_id=fee.id,
        description=description,
        start=segment.start,
        end=segment.end,
        quantity=display_quantity(share),
        unit="month",
        unit_price=minor_to_major(fee.amount_minor, currency),
        amount=Money(round(fee.amount_minor * share), currency),
    )


def _one_off_line(charge: OneOffCharge, currency: str) -> InvoiceLine:
    amount = Money(charge.amount_minor, currency)
    return InvoiceLine(
        kind=LineKind.ONE_OFF,
        charge_id=charge.id,
        description=charge.title(),
        start=charge.on,
        end=charge.on + ONE_DAY,
        quantity=Decimal(1),
        unit="item",
        unit_price=amount.major,
        amount=amount,
    )


def _commitment_lines(
    period: BillingPeriod, parts: Sequence[SegmentUsage], placed: Sequence[_Placed], currency: str
) -> list[_Placed]:
    """A top-up line per minimum commitment whose usage charges fall short of it over the period.

    The commitment is prorated by days over the segments whose card has it, and compared with the usage
    lines those segments' versions name. The top-up line belongs to the last such segment."""
    committed: dict[str, Fraction] = {}
    used: dict[str, int] = {}
    last: dict[str, tuple[int, int, MinimumCommitment]] = {}
    first_start: dict[str, dt.date] = {}
    for index, part in enumerate(parts):
        for order, charge in enumerate(part.segment.card.charges):
            if not isinstance(charge, MinimumCommitment):
                continue
            committed[charge.id] = committed.get(charge.id, Fraction(0)) + Fraction(
                charge.amount_minor * part.segment.days, period.days
            )
            used[charge.id] = used.get(charge.id, 0) + sum(
                item.line.amount.minor
                for item in placed
                if item.segment == index
                and item.line.kind in USAGE_KINDS
                and (charge.applies_to is None or item.line.charge_id in charge.applies_to)
            )
            last[charge.id] = (index, order, charge)
            first_start.setdefault(charge.id, part.segment.start)
    lines: list[_Placed] = []
    for charge_id, (index, order, charge) in last.items():
        commitment = round(committed[charge_id])
        top_up = commitment - used[charge_id]
        if top_up <= 0:
            continue
        amount = Money(top_up, currency)
        line = InvoiceLine(
            kind=LineKind.MINIMUM_COMMITMENT,
            charge_id=charge_id,
            description=f"{charge.title()}: {Money(commitment, currency)} committed, {Money(used[charge_id], currency)} used",
            start=first_start[charge_id],
            end=parts[index].segment.end,
            quantity=Decimal(1),
            unit="top-up",
            unit_price=amount.major,
            amount=amount,
        )
        lines.append(_Placed((index, order, 0), index, line))
    return lines


def _in_base(rule: SlaCreditRule, line: InvoiceLine) -> bool:
    if rule.base is None:
        return line.kind is not LineKind.ONE_OFF
    return line.charge_id in rule.base


def _credit_lines(
    parts: Sequence[SegmentUsage],
    charge_lines: Sequence[InvoiceLine],
    line_segments: Sequence[int],
    attainment: Mapping[str, SlaAttainment],
    currency: str,
) -> tuple[list[InvoiceLine], list[int]]:
    """The SLA credits of each segment's rules, in segment then rule order.

    A credit is its band's percent of the base's billed amount, rounded half to even, and never more than
    what earlier credits left of the base lines; it is spread over those lines in proportion to what is
    left of each (largest remainder), so no line is ever credited beyond its amount."""
    creditable = [line.amount.minor for line in charge_lines]
    lines: list[InvoiceLine] = []
    segments_of: list[int] = []
    for index, part in enumerate(parts):
        for rule in part.segment.card.sla_credits:
            measured = attainment.get(rule.sla)
            band = None if measured is None else rule.band_for(measured)
            if measured is None or band is None:
                continue
            base = [i for i, line in enumerate(charge_lines) if line_segments[i] == index and _in_base(rule, line)]
            base_amount = sum(charge_lines[i].amount.minor for i in base)
            wanted = round(Fraction(base_amount) * Fraction(band.percent) / 100)
            credit = min(wanted, sum(creditable[i] for i in base))
            if credit <= 0:
                continue
            shares = largest_remainder(credit, [creditable[i] for i in base])
            for i, share in zip(base, shares, strict=True):
                creditable[i] -= share
            amount = Money(-credit, currency)
            lines.append(
                InvoiceLine(
                    kind=LineKind.SLA_CREDIT,
                    charge_id=rule.id,
                    description=(
                        f"{rule.title()}: service level {_percent(measured.measured)} against "
                        f"{_percent(measured.target)}, {band.percent.normalize():f}% of {Money(base_amount, currency)}"
                    ),
                    start=part.segment.start,
                    end=part.segment.end,
                    quantity=Decimal(1),
                    unit="credit",
                    unit_price=amount.major,
                    amount=amount,
                    credited=tuple(
                        CreditShare(line=i, amount=Money(share, currency))
                        for i, share in zip(base, shares, strict=True)
                        if share
                    ),
                )
            )
            segments_of.append(index)
    return lines, segments_of


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


def _taxes(
    parts: Sequence[SegmentUsage], lines: Sequence[InvoiceLine], line_segments: Sequence[int], currency: str
) -> tuple[TaxLine, ...]:
    """Tax per rate, on the net (charges less credits) of the segments billed at that rate, rounded half to even."""
    net: dict[Decimal, int] = {}
    for part in parts:
        net.setdefault(part.segment.card.tax_rate_percent, 0)
    for line, index in zip(lines, line_segments, strict=True):
        rate_percent = parts[index].segment.card.tax_rate_percent
        net[rate_percent] += line.amount.minor
    return tuple(
        TaxLine(
            rate_percent=rate_percent,
            net=Money(amount, currency),
            amount=Money(round(Fraction(amount) * Fraction(rate_percent) / 100), currency),
        )
        for rate_percent, amount in sorted(net.items())
    )


# ---------------------------------------------------------------------------------------------------------
# Adjustments


def adjustment(billed: InvoiceDraft, rerated: InvoiceDraft) -> Adjustment:
    """What to add to the next invoice so that `billed` becomes `rerated` (both drafts of one period).

    Lines are matched by kind, charge, dates and tier; each adjustment line is the re-rated line less the
    billed one (a line billed but no longer due comes back negated). Tax is the difference of the two
    drafts' taxes per rate, so billed.total + adjustment.total == rerated.total exactly."""
    if billed.currency != rerated.currency or billed.period != rerated.period:
        raise ValueError("an adjustment compares two drafts of the same period and currency")
    currency = billed.currency
    before = {_line_key(line): line for line in billed.lines}
    after = {_line_key(line): line for line in rerated.lines}
    lines: list[InvoiceLine] = []
    for key in [*after, *(key for key in before if key not in after)]:
        line = _line_difference(before.get(key), after.get(key), billed.period, currency)
        if line is not None:
            lines.append(line)
    old_taxes = {tax_line.rate_percent: tax_line for tax_line in billed.taxes}
    new_taxes = {tax_line.rate_percent: tax_line for tax_line in rerated.taxes}
    zero = Money.zero(currency)
    taxes = tuple(
        TaxLine(
            rate_percent=rate_percent,
            net=_tax_net(new_taxes.get(rate_percent), zero) - _tax_net(old_taxes.get(rate_percent), zero),
            amount=_tax_amount(new_taxes.get(rate_percent), zero) - _tax_amount(old_taxes.get(rate_percent), zero),
        )
        for rate_percent in sorted(old_taxes.keys() | new_taxes.keys())
    )
    net = total([line.amount for line in lines], currency)
    tax = total([tax_line.amount for tax_line in taxes], currency)
    return Adjustment(
        currency=currency,
        period=billed.period,
        lines=tuple(lines),
        net=net,
        taxes=taxes,
        tax=tax,
        total=net + tax,
        credit_note=(net + tax).minor < 0,
    )


def late_usage_adjustment(
    period: BillingPeriod,
    billed: Sequence[SegmentUsage],
    late: Sequence[SegmentUsage],
    *,
    attainment: Mapping[str, SlaAttainment] | None = None,
) -> Adjustment:
    """The adjustment for usage of a closed period that arrived after it closed: the period is rated again
    from the same inputs (rating is deterministic, so this is the invoice as billed) and with the late
    usage added to its segments, and the difference is the adjustment. Late usage can lower the total
    (a cheaper volume tier, a commitment top-up it fills), so the adjustment can be a credit note."""
    combined = list(billed)
    for part in late:
        matches = [index for index, known in enumerate(combined) if known.segment == part.segment]
        if not matches:
            raise ValueError(f"late usage for {part.segment.start} to {part.segment.end} matches no billed segment")
        index = matches[0]
        combined[index] = SegmentUsage(segment=part.segment, usage=combined[index].usage.plus(part.usage))
    return adjustment(
        rate_segments(period, billed, attainment=attainment), rate_segments(period, combined, attainment=attainment)
    )


def with_adjustments(draft: InvoiceDraft, adjustments: Sequence[Adjustment]) -> InvoiceDraft:
    """The draft carrying adjustments to closed periods: their lines are appended, their net and tax added
    per rate. The total can turn negative; the draft is then a credit note."""
    currency = draft.currency
    if any(item.currency != currency for item in adjustments):
        raise ValueError("adjustments must be in the draft's currency")
    taxes: dict[Decimal, tuple[Money, Money]] = {line.rate_percent: (line.net, line.amount) for line in draft.taxes}
    for item in adjustments:
        for line in item.taxes:
            net, amount = taxes.get(line.rate_percent, (Money.zero(currency), Money.zero(currency)))
            taxes[line.rate_percent] = (net + line.net, amount + line.amount)
    merged = tuple(
        TaxLine(rate_percent=rate_percent, net=net, amount=amount)
        for rate_percent, (net, amount) in sorted(taxes.items())
    )
    adjustment_lines = tuple(line for item in adjustments for line in item.lines)
    adjustments_total = draft.adjustments_total + total([item.net for item in adjustments], currency)
    tax = total([line.amount for line in merged], currency)
    grand_total = draft.subtotal + draft.credits + adjustments_total + tax
    return msgspec.structs.replace(
        draft,
        adjustments=draft.adjustments + adjustment_lines,
        adjustments_total=adjustments_total,
        taxes=merged,
        tax=tax,
        total=grand_total,
        credit_note=grand_total.minor < 0,
    )


def _line_key(line: InvoiceLine) -> tuple[str, str, dt.date, dt.date, int]:
    return (line.kind.value, line.charge_id, line.start, line.end, line.tier or 0)


def _tax_net(line: TaxLine | None, zero: Money) -> Money:
    return zero if line is None else line.net


def _tax_amount(line: TaxLine | None, zero: Money) -> Money:
    return zero if line is None else line.amount


def _line_difference(
    old: InvoiceLine | None, new: InvoiceLine | None, period: BillingPeriod, currency: str
) -> InvoiceLine | None:
    """The re-rated line less the billed one; None when they are the same."""
    shown = new or old
    assert shown is not None
    zero = Money.zero(currency)
    amount = (new.amount if new else zero) - (old.amount if old else zero)
    if old is not None and new is not None and old.unit_price != new.unit_price:
        # A credit or a top-up of another size: one unit of the difference.
        quantity, unit_price = Decimal(1), amount.major
    else:
        quantity = (new.quantity if new else Decimal(0)) - (old.quantity if old else Decimal(0))
        unit_price = shown.unit_price
    if not quantity and not amount.minor:
        return None
    return msgspec.structs.replace(
        shown,
        description=f"Adjustment to {period.start} – {period.end - ONE_DAY}: {shown.description}",
        quantity=quantity,
        unit_price=unit_price,
        amount=amount,
        credited=(),
    )
