"""Property tests of the rating core: random cards, usage and attainment against what must always hold."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.rating import (
    BillingPeriod,
    Charge,
    CreditBand,
    FlatPrice,
    GraduatedPrice,
    HandledContacts,
    HandledMinutes,
    InvoiceDraft,
    LineKind,
    MinimumCommitment,
    Money,
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
    allocate_pool_cost,
    late_usage_adjustment,
    rate,
    rate_segments,
    with_adjustments,
)

PERIOD = BillingPeriod(start=dt.date(2026, 12, 1), end=dt.date(2027, 1, 1))
CHANNELS = ("voice", "chat", "email")
QUEUES = (None, "billing", "sales")
SLAS = ("voice", "chat")
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

prices = st.decimals(min_value=0, max_value=25, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def tier_ladders(draw: st.DrawFn) -> tuple[Tier, ...]:
    bounds = sorted(draw(st.sets(st.decimals(min_value="0.5", max_value=20000, places=1), max_size=3)))
    ladder = [Tier(up_to=bound, unit_price=draw(prices)) for bound in bounds]
    return (*ladder, Tier(up_to=None, unit_price=draw(prices)))


pricings: st.SearchStrategy[Pricing] = st.one_of(
    prices.map(lambda price: FlatPrice(unit_price=price)),
    tier_ladders().map(lambda ladder: GraduatedPrice(tiers=ladder)),
    tier_ladders().map(lambda ladder: VolumePrice(tiers=ladder)),
)
filters = st.none() | st.frozensets(st.sampled_from(CHANNELS), min_size=1)
queue_filters = st.none() | st.frozensets(st.sampled_from(("billing", "sales")), min_size=1)


@st.composite
def usage_charges(draw: st.DrawFn, charge_id: str) -> UsageCharge:
    kind = draw(st.sampled_from((HandledMinutes, HandledContacts, SeatHours, OutboundAttempts)))
    common = {"id": charge_id, "pricing": draw(pricings), "channels": draw(filters), "queues": draw(queue_filters)}
    if kind is SeatHours:  # seat time has no channel or queue to filter by
        return SeatHours(id=charge_id, pricing=common["pricing"])
    if kind is HandledMinutes:
        return HandledMinutes(include_wrap_up=draw(st.booleans()), **common)
    charge: UsageCharge = kind(**common)
    return charge


# Large credits often, so that several rules on one base run into the cap.
percents = st.decimals(min_value=0, max_value=100, places=2) | st.sampled_from([Decimal(50), Decimal(75), Decimal(100)])


@st.composite
def credit_rules(draw: st.DrawFn, rule_id: str, charge_ids: list[str]) -> SlaCreditRule:
    thresholds = sorted(draw(st.sets(st.decimals(min_value=0, max_value=30, places=2), min_size=1, max_size=3)))
    bands = tuple(CreditBand(points_below=points, percent=draw(percents)) for points in thresholds)
    base = draw(st.none() | st.frozensets(st.sampled_from(charge_ids), min_size=1))
    return SlaCreditRule(id=rule_id, sla=draw(st.sampled_from(SLAS)), bands=bands, base=base)


@st.composite
def rate_cards(draw: st.DrawFn, *, with_credits: bool = True) -> RateCard:
    usage_ids = [f"usage-{n}" for n in range(draw(st.integers(1, 4)))]
    charges: list[Charge] = [draw(usage_charges(charge_id)) for charge_id in usage_ids]
    if draw(st.booleans()):
        charges.append(PlatformFee(id="platform", amount_minor=draw(st.integers(0, 500_000))))
    if draw(st.booleans()):
        applies_to = draw(st.none() | st.frozensets(st.sampled_from(usage_ids), min_size=1))
        charges.append(
            MinimumCommitment(id="minimum", amount_minor=draw(st.integers(0, 2_000_000)), applies_to=applies_to)
        )
    if draw(st.booleans()):
        on = PERIOD.start + dt.timedelta(days=draw(st.integers(-3, PERIOD.days + 3)))
        charges.append(OneOffCharge(id="one-off", on=on, amount_minor=draw(st.integers(0, 100_000))))
    charges = draw(st.permutations(charges))
    rules = (
        [draw(credit_rules(f"credit-{n}", [c.id for c in charges])) for n in range(draw(st.integers(0, 3)))]
        if with_credits
        else []
    )
    return RateCard(
        version=1,
        currency=draw(st.sampled_from(("EUR", "JPY", "BHD"))),
        tax_rate_percent=draw(st.decimals(min_value=0, max_value=30, places=2)),
        effective_from=dt.date(2026, 1, 1),
        charges=tuple(charges),
        sla_credits=tuple(rules),
    )


counts = st.integers(0, 400_000)
usage_rows = st.builds(
    UsageRow,
    channel=st.sampled_from((*CHANNELS, None)),
    queue=st.sampled_from(QUEUES),
    talk_seconds=counts,
    hold_seconds=counts,
    wrap_up_seconds=counts,
    handled_contacts=st.integers(0, 30_000),
    dedicated_seat_seconds=st.integers(0, 3_000_000),
    outbound_attempts=st.integers(0, 30_000),
)
usages = st.lists(usage_rows, max_size=6).map(lambda rows: Usage(rows=tuple(rows)))
levels = st.decimals(min_value=0, max_value=1, places=4)
# A missed SLA often, so that credits are due.
missed = st.builds(
    SlaAttainment, measured=st.decimals(min_value=0, max_value="0.6", places=4), target=st.just(Decimal("0.8"))
)
attainments = st.dictionaries(
    st.sampled_from(SLAS), st.builds(SlaAttainment, measured=levels, target=levels) | missed, max_size=len(SLAS)
)


def check_sums(draft: InvoiceDraft) -> None:
    charges = [line.amount.minor for line in draft.lines if not line.is_credit]
    credits = [line.amount.minor for line in draft.lines if line.is_credit]
    assert draft.subtotal.minor == sum(charges)
    assert draft.credits.minor == sum(credits)
    assert draft.tax.minor == sum(tax.amount.minor for tax in draft.taxes)
    assert draft.adjustments_total.minor == sum(line.amount.minor for line in draft.adjustments)
    net = draft.subtotal.minor + draft.credits.minor + draft.adjustments_total.minor
    assert sum(tax.net.minor for tax in draft.taxes) == net
    assert draft.total.minor == sum(line.amount.minor for line in (*draft.lines, *draft.adjustments)) + draft.tax.minor
    assert {line.amount.currency for line in draft.lines} <= {draft.currency}


@PROPERTY_SETTINGS
@given(rate_cards(), usages, attainments)
def test_total_is_the_sum_of_the_lines_and_the_tax(
    card: RateCard, usage: Usage, attainment: dict[str, SlaAttainment]
) -> None:
    draft = rate(card, usage, PERIOD, attainment=attainment)
    check_sums(draft)
    # Tax per rate: the net at that rate, times the rate, rounded half to even, never more than half off.
    for tax in draft.taxes:
        exact = Fraction(tax.net.minor) * Fraction(tax.rate_percent) / 100
        assert abs(tax.amount.minor - exact) <= Fraction(1, 2)


@PROPERTY_SETTINGS
@given(rate_cards(), usages, attainments)
def test_credits_never_exceed_the_charges_they_reduce(
    card: RateCard, usage: Usage, attainment: dict[str, SlaAttainment]
) -> None:
    draft = rate(card, usage, PERIOD, attainment=attainment)
    taken: defaultdict[int, int] = defaultdict(int)
    for line in draft.lines:
        if not line.is_credit:
            assert line.amount.minor >= 0
            continue
        assert line.amount.minor < 0
        assert sum(share.amount.minor for share in line.credited) == -line.amount.minor
        for share in line.credited:
            assert share.amount.minor > 0
            assert not draft.lines[share.line].is_credit
            taken[share.line] += share.amount.minor
        rule = next(rule for rule in card.sla_credits if rule.id == line.charge_id)
        band = rule.band_for(attainment[rule.sla])
        assert band is not None
        base = sum(draft.lines[i].amount.minor for i in range(len(draft.lines)) if _in_rule_base(rule, draft, i))
        assert -line.amount.minor <= round(Fraction(base) * Fraction(band.percent) / 100)
    for index, amount in taken.items():
        assert amount <= draft.lines[index].amount.minor
    assert -draft.credits.minor <= draft.subtotal.minor
    assert draft.total.minor >= 0
    assert draft.credit_note is False


def _in_rule_base(rule: SlaCreditRule, draft: InvoiceDraft, index: int) -> bool:
    line = draft.lines[index]
    if line.is_credit:
        return False
    return line.kind is not LineKind.ONE_OFF if rule.base is None else line.charge_id in rule.base


@PROPERTY_SETTINGS
@given(rate_cards(), usages, attainments, st.randoms(use_true_random=False))
def test_rating_is_deterministic(
    card: RateCard, usage: Usage, attainment: dict[str, SlaAttainment], shuffler: random.Random
) -> None:
    draft = rate(card, usage, PERIOD, attainment=attainment)
    assert rate(card, usage, PERIOD, attainment=attainment) == draft
    rows = list(usage.rows)
    shuffler.shuffle(rows)
    reordered = rate(card, Usage(rows=tuple(rows)), PERIOD, attainment=dict(reversed(attainment.items())))
    assert msgspec.json.encode(reordered) == msgspec.json.encode(draft)


@st.composite
def split_usages(draw: st.DrawFn, usage: Usage) -> tuple[Usage, Usage]:
    """The usage cut in two: each figure of each row shared out between the two halves."""
    first: list[UsageRow] = []
    second: list[UsageRow] = []
    for row in usage.rows:
        figures = msgspec.structs.asdict(row)
        part = {name: draw(st.integers(0, value)) for name, value in figures.items() if isinstance(value, int)}
        first.append(msgspec.structs.replace(row, **part))
        second.append(msgspec.structs.replace(row, **{name: figures[name] - value for name, value in part.items()}))
    return Usage(rows=tuple(first)), Usage(rows=tuple(second))


ROUNDED_PER_LINE = frozenset(
    {
        LineKind.HANDLED_MINUTES,
        LineKind.HANDLED_CONTACTS,
        LineKind.SEAT_HOURS,
        LineKind.OUTBOUND_ATTEMPTS,
        LineKind.PLATFORM_FEE,
    }
)


@PROPERTY_SETTINGS
@given(rate_cards(), usages, attainments, st.integers(1, PERIOD.days - 1), st.data())
def test_splitting_at_a_change_to_the_same_card_is_rating_once(
    card: RateCard, usage: Usage, attainment: dict[str, SlaAttainment], day: int, data: st.DataObject
) -> None:
    before, after = data.draw(split_usages(usage))
    change = PERIOD.start + dt.timedelta(days=day)
    once = rate(card, usage, PERIOD, attainment=attainment)
    split = rate_segments(
        PERIOD,
        [
            SegmentUsage(segment=Segment(start=PERIOD.start, end=change, card=card), usage=before),
            SegmentUsage(segment=Segment(start=change, end=PERIOD.end, card=card), usage=after),
        ],
        attainment=attainment,
    )
    check_sums(split)
    # Each usage charge and fee: the exact amounts agree, so the billed ones differ by at most half a minor
    # unit per rounded line of that charge in the two drafts.
    for charge in card.charges:
        if isinstance(charge, MinimumCommitment):
            continue  # its top-up absorbs its usage's rounding: checked through the subtotal below
        lines = [
            line
            for line in (*once.lines, *split.lines)
            if line.charge_id == charge.id and line.kind in ROUNDED_PER_LINE
        ]
        difference = _charged(split, charge.id) - _charged(once, charge.id)
        assert 2 * abs(difference) <= len(lines)
    # One-off charges are not rounded at all; the subtotal moves only by the per-line rounding (a commitment
    # top-up absorbs its usage's rounding rather than adding to it).
    rounded = [line for line in (*once.lines, *split.lines) if line.kind in ROUNDED_PER_LINE]
    subtotal_difference = split.subtotal.minor - once.subtotal.minor
    assert 2 * abs(subtotal_difference) <= len(rounded)
    if not card.sla_credits:
        # Tax on a net that moved by d moves by at most d x rate, plus half a unit of rounding on each side.
        bound = abs(subtotal_difference) * (1 + Fraction(card.tax_rate_percent) / 100) + 1
        assert abs(split.total.minor - once.total.minor) <= bound


def _charged(draft: InvoiceDraft, charge_id: str) -> int:
    return sum(line.amount.minor for line in draft.lines if line.charge_id == charge_id and not line.is_credit)


@PROPERTY_SETTINGS
@given(rate_cards(), usages, usages, attainments, rate_cards())
def test_late_usage_adjustment_reconciles_with_rating_everything(
    card: RateCard, billed: Usage, late: Usage, attainment: dict[str, SlaAttainment], next_card: RateCard
) -> None:
    segment = Segment(start=PERIOD.start, end=PERIOD.end, card=card)
    adjustment = late_usage_adjustment(
        PERIOD,
        [SegmentUsage(segment=segment, usage=billed)],
        [SegmentUsage(segment=segment, usage=late)],
        attainment=attainment,
    )
    first = rate(card, billed, PERIOD, attainment=attainment)
    everything = rate(card, billed.plus(late), PERIOD, attainment=attainment)
    assert first.total + adjustment.total == everything.total
    assert adjustment.net.minor == sum(line.amount.minor for line in adjustment.lines)
    assert adjustment.total == adjustment.net + adjustment.tax
    assert adjustment.credit_note == (adjustment.total.minor < 0)
    # Carried on the next period's invoice: sums still hold, and only a negative total is a credit note.
    following = BillingPeriod(start=PERIOD.end, end=dt.date(2027, 2, 1))
    next_card = msgspec.structs.replace(next_card, currency=card.currency)
    carried = with_adjustments(rate(next_card, Usage(), following), [adjustment])
    check_sums(carried)
    assert carried.credit_note == (carried.total.minor < 0)


tenant_times = st.dictionaries(st.text(min_size=1, max_size=4), st.integers(0, 10**7), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**9), tenant_times)
def test_pool_allocation_sums_to_the_cost_and_follows_agent_time(cost: int, times: dict[str, int]) -> None:
    if cost and not sum(times.values()):
        times = {**times, next(iter(times)): 1}
    shares = {tenant: share.minor for tenant, share in allocate_pool_cost(Money(cost, "EUR"), times).items()}
    assert sum(shares.values()) == cost
    total_time = sum(times.values())
    for tenant, share in shares.items():
        exact = Fraction(cost * times[tenant], total_time) if total_time else Fraction(0)
        assert abs(share - exact) < 1
        for other, other_share in shares.items():
            if times[tenant] > times[other]:
                assert share >= other_share
            elif times[tenant] == times[other]:
                assert abs(share - other_share) <= 1


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**9), tenant_times, st.data())
def test_more_agent_time_never_lowers_a_tenants_share(cost: int, times: dict[str, int], data: st.DataObject) -> None:
    tenant = data.draw(st.sampled_from(sorted(times)))
    if not sum(times.values()):
        times = {**times, tenant: 1}
    more = {**times, tenant: times[tenant] + data.draw(st.integers(1, 10**6))}
    cost_of = Money(cost, "EUR")
    assert allocate_pool_cost(cost_of, more)[tenant].minor >= allocate_pool_cost(cost_of, times)[tenant].minor
