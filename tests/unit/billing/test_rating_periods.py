"""Card changes inside a period (segments, proration) and adjustments for late usage."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.rating import (
    BillingPeriod,
    GraduatedPrice,
    HandledContacts,
    HandledMinutes,
    LineKind,
    MinimumCommitment,
    OneOffCharge,
    PlatformFee,
    RateCard,
    Segment,
    SegmentUsage,
    Usage,
    VolumePrice,
    late_usage_adjustment,
    rate,
    rate_segments,
    segments,
    with_adjustments,
)
from tests.unit.billing.rating_helpers import (
    DECEMBER,
    NOVEMBER,
    attained,
    card,
    charge_lines,
    credit_amounts,
    credit_rule,
    figures,
    flat,
    tiers,
    usage,
    voice,
)

DEC_11 = dt.date(2026, 12, 11)  # December splits into 10 days and 21 days


def two_versions(first: RateCard, second: RateCard, change: dt.date = DEC_11) -> tuple[Segment, Segment]:
    found = segments(DECEMBER, [first, as_version(second, change)])
    assert len(found) == 2
    return found[0], found[1]


def as_version(template: RateCard, effective_from: dt.date) -> RateCard:
    return RateCard(
        version=template.version + 1,
        currency=template.currency,
        tax_rate_percent=template.tax_rate_percent,
        effective_from=effective_from,
        charges=template.charges,
        sla_credits=template.sla_credits,
    )


def parts(*pairs: tuple[Segment, Usage]) -> list[SegmentUsage]:
    return [SegmentUsage(segment=segment, usage=used) for segment, used in pairs]


def test_segments_cut_the_period_at_effective_dates() -> None:
    old = card(version=1, effective_from=dt.date(2026, 1, 1))
    new = card(version=2, effective_from=DEC_11)
    later = card(version=3, effective_from=dt.date(2027, 2, 1))
    found = segments(DECEMBER, [later, new, old])  # in any order
    assert [(s.start, s.end, s.card.version) for s in found] == [
        (dt.date(2026, 12, 1), DEC_11, 1),
        (DEC_11, dt.date(2027, 1, 1), 2),
    ]
    assert [s.days for s in found] == [10, 21]


def test_segments_start_with_the_first_version_in_force() -> None:
    onboarded = card(effective_from=dt.date(2026, 12, 15))
    assert [(s.start, s.end) for s in segments(DECEMBER, [onboarded])] == [(dt.date(2026, 12, 15), dt.date(2027, 1, 1))]
    # A version that took effect before the period covers it from its first day.
    assert [(s.start, s.end) for s in segments(DECEMBER, [card()])] == [(DECEMBER.start, DECEMBER.end)]
    assert segments(DECEMBER, [card(effective_from=dt.date(2027, 1, 1))]) == ()


def test_two_versions_on_one_day_are_ambiguous() -> None:
    with pytest.raises(ValueError, match="same day"):
        segments(DECEMBER, [card(version=1, effective_from=DEC_11), card(version=2, effective_from=DEC_11)])


def test_platform_fee_is_prorated_by_days_of_each_version() -> None:
    first, second = two_versions(
        card(PlatformFee(id="platform", amount_minor=100000)), card(PlatformFee(id="platform", amount_minor=120000))
    )
    draft = rate_segments(DECEMBER, parts((first, usage()), (second, usage())))
    # 1,000.00 x 10/31 = 322.5806 -> 322.58; 1,200.00 x 21/31 = 812.9032 -> 812.90.
    assert figures(draft) == [("platform", None, 32258), ("platform", None, 81290)]
    assert [(line.description, line.quantity, line.start, line.end) for line in draft.lines] == [
        ("Platform fee (10 of 31 days)", Decimal("0.3226"), DECEMBER.start, DEC_11),
        ("Platform fee (21 of 31 days)", Decimal("0.6774"), DEC_11, DECEMBER.end),
    ]


def test_each_version_prices_the_usage_of_its_own_segment() -> None:
    first, second = two_versions(
        card(HandledMinutes(id="minutes", pricing=flat("0.85"))),
        card(HandledMinutes(id="minutes", pricing=flat("0.90"))),
    )
    draft = rate_segments(
        DECEMBER, parts((first, usage(voice(talk_seconds=6000))), (second, usage(voice(talk_seconds=12000))))
    )
    assert figures(draft) == [("minutes", None, 8500), ("minutes", None, 18000)]  # 100 x 0.85, 200 x 0.90


def test_graduated_tiers_fill_up_over_the_whole_period() -> None:
    ladder = GraduatedPrice(tiers=tiers((1000, "0.90"), (None, "0.80")))
    first, second = two_versions(
        card(HandledContacts(id="contacts", pricing=ladder)),
        card(HandledContacts(id="contacts", pricing=GraduatedPrice(tiers=tiers((1000, "1.00"), (None, "0.70"))))),
    )
    draft = rate_segments(
        DECEMBER, parts((first, usage(voice(handled_contacts=800))), (second, usage(voice(handled_contacts=400))))
    )
    # Contacts 1-800 in version 1's tier 1 (x 0.90 = 720.00); 801-1000 in version 2's tier 1 (200 x 1.00),
    # 1001-1200 in its tier 2 (200 x 0.70).
    assert figures(draft) == [("contacts", 1, 72000), ("contacts", 1, 20000), ("contacts", 2, 14000)]


def test_volume_tier_is_reached_by_the_period_total() -> None:
    volume = VolumePrice(tiers=tiers((1000, "0.90"), (None, "0.80")))
    first, second = two_versions(
        card(HandledContacts(id="c", pricing=volume)), card(HandledContacts(id="c", pricing=volume))
    )
    draft = rate_segments(
        DECEMBER, parts((first, usage(voice(handled_contacts=800))), (second, usage(voice(handled_contacts=400))))
    )
    # 1,200 in the period: every contact at tier 2, 800 x 0.80 and 400 x 0.80.
    assert figures(draft) == [("c", 2, 64000), ("c", 2, 32000)]


def test_minimum_commitment_is_judged_over_the_period() -> None:
    commitment = (
        HandledContacts(id="contacts", pricing=flat("1")),
        MinimumCommitment(id="minimum", amount_minor=500000),
    )
    first, second = two_versions(card(*commitment), card(*commitment))
    # All the usage falls after the change: 4,000.00 against the whole 5,000.00 -> top-up 1,000.00, once.
    draft = rate_segments(DECEMBER, parts((first, usage()), (second, usage(voice(handled_contacts=4000)))))
    assert charge_lines(draft) == [("contacts", None, 0), ("contacts", None, 400000), ("minimum", None, 100000)]
    top_up = draft.lines[-1]
    assert (top_up.start, top_up.end) == (DECEMBER.start, DECEMBER.end)


def test_commitment_of_a_later_version_is_prorated_to_its_days() -> None:
    first, second = two_versions(
        card(HandledContacts(id="contacts", pricing=flat("1"))),
        card(HandledContacts(id="contacts", pricing=flat("1")), MinimumCommitment(id="minimum", amount_minor=500000)),
    )
    draft = rate_segments(
        DECEMBER, parts((first, usage(voice(handled_contacts=3000))), (second, usage(voice(handled_contacts=1000))))
    )
    # 5,000.00 x 21/31 = 3,387.0968 -> 3,387.10, against the 1,000.00 of the second segment only.
    assert charge_lines(draft)[-1] == ("minimum", None, 238710)
    assert (draft.lines[-1].start, draft.lines[-1].end) == (DEC_11, DECEMBER.end)


def test_one_off_is_billed_by_the_version_in_force_on_its_date() -> None:
    setup_early = OneOffCharge(id="setup", on=dt.date(2026, 12, 5), amount_minor=1000)
    setup_late = OneOffCharge(id="training", on=dt.date(2026, 12, 20), amount_minor=2000)
    first, second = two_versions(card(setup_early, setup_late), card(setup_late))
    draft = rate_segments(DECEMBER, parts((first, usage()), (second, usage())))
    assert figures(draft) == [("setup", None, 1000), ("training", None, 2000)]
    assert draft.lines[1].start == dt.date(2026, 12, 20)


def test_credits_and_tax_rates_apply_per_version() -> None:
    first, second = two_versions(
        card(PlatformFee(id="platform", amount_minor=31000), credits=(credit_rule(("0", "10")),), tax="20"),
        card(PlatformFee(id="platform", amount_minor=31000), tax="21"),
    )
    draft = rate_segments(DECEMBER, parts((first, usage()), (second, usage())), attainment=attained("0.5"))
    # Fee 310.00: 100.00 for 10 days, 210.00 for 21; the credit (version 1 only) is 10% of 100.00.
    assert figures(draft) == [("platform", None, 10000), ("platform", None, 21000), ("sla", None, -1000)]
    assert [(t.rate_percent, t.net.minor, t.amount.minor) for t in draft.taxes] == [
        (Decimal(20), 9000, 1800),
        (Decimal(21), 21000, 4410),
    ]
    assert draft.total.minor == 9000 + 1800 + 21000 + 4410


def test_one_card_rated_in_two_segments_matches_rating_it_once() -> None:
    priced = card(
        HandledMinutes(id="minutes", pricing=GraduatedPrice(tiers=tiers((100, "1.00"), (None, "0.50")))),
        PlatformFee(id="platform", amount_minor=100000),
        MinimumCommitment(id="minimum", amount_minor=200000),
    )
    first, second = two_versions(priced, priced)
    whole = rate(priced, usage(voice(talk_seconds=3000), voice(talk_seconds=9000)), DECEMBER)
    split = rate_segments(
        DECEMBER, parts((first, usage(voice(talk_seconds=3000))), (second, usage(voice(talk_seconds=9000))))
    )
    # Minutes: 50 at 1.00 | 50 at 1.00 + 100 at 0.50, as 100 at 1.00 + 100 at 0.50 at once. Fee 322.58 +
    # 677.42 = 1,000.00. Commitment 2,000.00 - 150.00 = 1,850.00 either way.
    assert whole.subtotal == split.subtotal
    assert figures(split) == [
        ("minutes", 1, 5000),
        ("platform", None, 32258),
        ("minutes", 1, 5000),
        ("minutes", 2, 5000),
        ("platform", None, 67742),
        ("minimum", None, 185000),
    ]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda s1, s2: [s1, s1], "overlap"),
        (lambda s1, s2: [], "no segment"),
        (
            lambda s1, s2: [
                SegmentUsage(segment=Segment(start=NOVEMBER.start, end=DEC_11, card=card()), usage=Usage())
            ],
            "outside the period",
        ),
        (
            lambda s1, s2: [
                s1,
                SegmentUsage(segment=Segment(start=DEC_11, end=DECEMBER.end, card=card(currency="USD")), usage=Usage()),
            ],
            "one currency",
        ),
        (
            lambda s1, s2: [
                s1,
                SegmentUsage(
                    segment=Segment(start=DEC_11, end=DECEMBER.end, card=card(PlatformFee(id="x", amount_minor=1))),
                    usage=Usage(),
                ),
            ],
            "changes kind",
        ),
    ],
)
def test_incoherent_segments_are_refused(build: object, message: str) -> None:
    first = SegmentUsage(
        segment=Segment(start=DECEMBER.start, end=DEC_11, card=card(HandledContacts(id="x", pricing=flat("1")))),
        usage=Usage(),
    )
    second = SegmentUsage(segment=Segment(start=DEC_11, end=DECEMBER.end, card=card()), usage=Usage())
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        rate_segments(DECEMBER, build(first, second))


def test_a_version_cannot_rate_days_before_it_takes_effect() -> None:
    with pytest.raises(ValueError, match="not in force before"):
        rate(card(effective_from=DEC_11), usage(), DECEMBER)


def test_period_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="ends after it starts"):
        BillingPeriod(start=DEC_11, end=DEC_11)


# ---------------------------------------------------------------------------------------------------------
# Late usage


def whole(period: BillingPeriod, priced: RateCard, used: Usage) -> list[SegmentUsage]:
    return [SegmentUsage(segment=Segment(start=period.start, end=period.end, card=priced), usage=used)]


def test_late_minutes_become_an_adjustment_that_reconciles_exactly() -> None:
    priced = card(
        HandledMinutes(id="minutes", pricing=flat("0.85")), PlatformFee(id="platform", amount_minor=1000), tax="21"
    )
    billed = whole(NOVEMBER, priced, usage(voice(talk_seconds=3600)))
    late = whole(NOVEMBER, priced, usage(voice(talk_seconds=1800)))

    adjustment = late_usage_adjustment(NOVEMBER, billed, late)

    # 30 late minutes x 0.85 = 25.50. Tax at 21% was 12.81 on 61.00; on 86.50 it is 18.165 -> 18.16 (half
    # to even), so +5.35.
    (line,) = adjustment.lines
    assert (line.kind, line.charge_id, line.quantity, line.unit_price, line.amount.minor) == (
        LineKind.HANDLED_MINUTES,
        "minutes",
        Decimal(30),
        Decimal("0.85"),
        2550,
    )
    assert (line.start, line.end) == (NOVEMBER.start, NOVEMBER.end)
    assert line.description == "Adjustment to 2026-11-01 – 2026-11-30: Handled minutes (talk + hold)"
    assert (adjustment.net.minor, adjustment.tax.minor, adjustment.total.minor) == (2550, 535, 3085)
    assert adjustment.credit_note is False
    everything = rate(priced, usage(voice(talk_seconds=5400)), NOVEMBER)
    assert rate(priced, usage(voice(talk_seconds=3600)), NOVEMBER).total + adjustment.total == everything.total


def test_late_usage_reaching_a_cheaper_volume_tier_is_a_credit_note() -> None:
    priced = card(HandledContacts(id="contacts", pricing=VolumePrice(tiers=tiers((1000, "0.90"), (None, "0.80")))))
    billed = whole(NOVEMBER, priced, usage(voice(handled_contacts=1000)))
    adjustment = late_usage_adjustment(NOVEMBER, billed, whole(NOVEMBER, priced, usage(voice(handled_contacts=10))))
    # Billed 1,000 x 0.90 = 900.00; now 1,010 x 0.80 = 808.00: the tier-1 line is reversed, tier 2 added.
    assert [(line.tier, line.quantity, line.unit_price, line.amount.minor) for line in adjustment.lines] == [
        (2, Decimal(1010), Decimal("0.80"), 80800),
        (1, Decimal(-1000), Decimal("0.90"), -90000),
    ]
    assert (adjustment.total.minor, adjustment.credit_note) == (-9200, True)

    # Carried on December's invoice: 50.00 of fee less 92.00 leaves the tenant owed 42.00.
    december = rate(card(PlatformFee(id="platform", amount_minor=5000)), usage(), DECEMBER)
    carried = with_adjustments(december, [adjustment])
    assert carried.lines == december.lines
    assert carried.adjustments == adjustment.lines
    assert (carried.adjustments_total.minor, carried.total.minor, carried.credit_note) == (-9200, -4200, True)


def test_late_usage_filling_the_commitment_changes_nothing_but_the_lines() -> None:
    priced = card(
        HandledContacts(id="contacts", pricing=flat("1")), MinimumCommitment(id="minimum", amount_minor=500000)
    )
    billed = whole(NOVEMBER, priced, usage(voice(handled_contacts=3000)))
    adjustment = late_usage_adjustment(NOVEMBER, billed, whole(NOVEMBER, priced, usage(voice(handled_contacts=500))))
    # +500.00 of contacts, and the top-up falls from 2,000.00 to 1,500.00: one unit of the difference.
    assert [(line.charge_id, line.quantity, line.unit_price, line.amount.minor) for line in adjustment.lines] == [
        ("contacts", Decimal(500), Decimal("1"), 50000),
        ("minimum", Decimal(1), Decimal("-500.00"), -50000),
    ]
    assert adjustment.total.minor == 0


def test_late_usage_raises_the_credit_of_a_missed_sla() -> None:
    priced = card(HandledContacts(id="contacts", pricing=flat("1")), credits=(credit_rule(("0", "10")),))
    billed = whole(NOVEMBER, priced, usage(voice(handled_contacts=100)))
    adjustment = late_usage_adjustment(
        NOVEMBER, billed, whole(NOVEMBER, priced, usage(voice(handled_contacts=50))), attainment=attained("0.7")
    )
    assert [(line.kind, line.amount.minor) for line in adjustment.lines] == [
        (LineKind.HANDLED_CONTACTS, 5000),
        (LineKind.SLA_CREDIT, -500),  # 10% of the 50.00 more
    ]
    assert adjustment.total.minor == 4500


def test_nothing_late_adjusts_nothing() -> None:
    priced = card(HandledContacts(id="contacts", pricing=flat("1")), tax="21")
    billed = whole(NOVEMBER, priced, usage(voice(handled_contacts=100)))
    adjustment = late_usage_adjustment(NOVEMBER, billed, whole(NOVEMBER, priced, usage()))
    assert (adjustment.lines, adjustment.total.minor, adjustment.credit_note) == ((), 0, False)


def test_late_usage_must_belong_to_a_billed_segment() -> None:
    priced = card(HandledContacts(id="contacts", pricing=flat("1")))
    billed = whole(NOVEMBER, priced, usage())
    stray = [SegmentUsage(segment=Segment(start=NOVEMBER.start, end=dt.date(2026, 11, 15), card=priced), usage=usage())]
    with pytest.raises(ValueError, match="matches no billed segment"):
        late_usage_adjustment(NOVEMBER, billed, stray)


def test_adjustments_merge_into_the_taxes_of_the_next_invoice() -> None:
    priced = card(HandledMinutes(id="minutes", pricing=flat("1")), tax="21")
    first = late_usage_adjustment(
        NOVEMBER, whole(NOVEMBER, priced, usage()), whole(NOVEMBER, priced, usage(voice(talk_seconds=6000)))
    )  # +100.00, tax +21.00
    other_rate = card(HandledMinutes(id="minutes", pricing=flat("1")), tax="10")
    second = late_usage_adjustment(
        NOVEMBER, whole(NOVEMBER, other_rate, usage()), whole(NOVEMBER, other_rate, usage(voice(talk_seconds=600)))
    )  # +10.00, tax +1.00
    december = rate(card(PlatformFee(id="platform", amount_minor=20000), tax="21"), usage(), DECEMBER)
    carried = with_adjustments(december, [first, second])
    assert [(t.rate_percent, t.net.minor, t.amount.minor) for t in carried.taxes] == [
        (Decimal(10), 1000, 100),
        (Decimal(21), 30000, 6300),
    ]
    assert (carried.subtotal.minor, carried.adjustments_total.minor, carried.tax.minor, carried.total.minor) == (
        20000,
        11000,
        6400,
        37400,
    )
    assert [line.amount.minor for line in carried.adjustments] == [10000, 1000]
    assert credit_amounts(carried) == []
