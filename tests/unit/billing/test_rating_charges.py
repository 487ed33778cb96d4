"""Every charge kind of the rating core, against figures worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from billing.rating import (
    GraduatedPrice,
    HandledContacts,
    HandledMinutes,
    LineKind,
    MinimumCommitment,
    OneOffCharge,
    OutboundAttempts,
    PlatformFee,
    RateCard,
    SeatHours,
    Tier,
    UsageRow,
    VolumePrice,
    rate,
)
from tests.unit.billing.rating_helpers import (
    NOVEMBER,
    attained,
    card,
    charge_lines,
    chat,
    credit_rule,
    figures,
    flat,
    tiers,
    usage,
    voice,
)

# 3000 s talk + 600 s hold = 60 minutes; with 1200 s wrap-up, 80 minutes.
CALLS = usage(voice(talk_seconds=3000, hold_seconds=600, wrap_up_seconds=1200))


def test_handled_minutes_are_talk_and_hold_without_wrap_up_by_default() -> None:
    draft = rate(card(HandledMinutes(id="minutes", pricing=flat("0.85"))), CALLS, NOVEMBER)

    (line,) = draft.lines
    assert line.kind is LineKind.HANDLED_MINUTES
    assert (line.quantity, line.unit, line.unit_price) == (Decimal(60), "minute", Decimal("0.85"))
    assert line.amount.minor == 5100  # 60 x 0.85 = 51.00
    assert line.description == "Handled minutes (talk + hold)"
    assert (line.start, line.end) == (NOVEMBER.start, NOVEMBER.end)
    assert draft.subtotal.minor == draft.total.minor == 5100


def test_wrap_up_flag_adds_wrap_up_time() -> None:
    draft = rate(card(HandledMinutes(id="minutes", pricing=flat("0.85"), include_wrap_up=True)), CALLS, NOVEMBER)

    (line,) = draft.lines
    assert (line.quantity, line.amount.minor) == (Decimal(80), 6800)  # 80 x 0.85 = 68.00
    assert line.description == "Handled minutes (talk + hold + wrap-up)"


def test_minutes_are_billed_per_second_and_each_line_is_rounded_once() -> None:
    minutes = card(HandledMinutes(id="minutes", pricing=flat("0.85")))
    # 61 s = 61/60 min; x 85 cents = 86.4166... cents -> 86. The shown quantity is rounded to 4 places.
    (line,) = rate(minutes, usage(voice(talk_seconds=61)), NOVEMBER).lines
    assert (line.quantity, line.amount.minor) == (Decimal("1.0167"), 86)
    # The amount comes from the exact quantity, not the shown one: 7 s at 1,000.00 EUR/min is
    # 7/60 x 100,000 = 11,666.67 cents -> 11,667, where the shown 0.1167 min would make 11,670.
    thousand = card(HandledMinutes(id="m", pricing=flat("1000")))
    (line,) = rate(thousand, usage(voice(talk_seconds=7)), NOVEMBER).lines
    assert (line.quantity, line.amount.minor) == (Decimal("0.1167"), 11667)


@pytest.mark.parametrize(
    ("seconds", "cents"),
    [
        (60, 0),  # 1 min x 0.5 cent = 0.5 -> 0 (half to even)
        (180, 2),  # 1.5 -> 2
        (300, 2),  # 2.5 -> 2
        (420, 4),  # 3.5 -> 4
        (30, 0),  # 0.25 -> 0
        (90, 1),  # 0.75 -> 1
    ],
)
def test_line_amounts_round_half_to_even(seconds: int, cents: int) -> None:
    half_cent_a_minute = card(HandledMinutes(id="minutes", pricing=flat("0.005")))
    draft = rate(half_cent_a_minute, usage(voice(talk_seconds=seconds)), NOVEMBER)
    assert draft.lines[0].amount.minor == cents


def test_channel_filter_counts_only_the_named_channels() -> None:
    traffic = usage(voice(talk_seconds=600), chat(talk_seconds=1200), voice(hold_seconds=60))
    draft = rate(
        card(
            HandledMinutes(id="voice-minutes", pricing=flat("1.00"), channels=frozenset({"voice"})),
            HandledMinutes(id="chat-minutes", pricing=flat("0.50"), channels=frozenset({"chat"})),
            HandledMinutes(id="all-minutes", pricing=flat("0.01")),
        ),
        traffic,
        NOVEMBER,
    )
    # voice 11 min x 1.00 = 11.00; chat 20 min x 0.50 = 10.00; all 31 min x 0.01 = 0.31
    assert figures(draft) == [("voice-minutes", None, 1100), ("chat-minutes", None, 1000), ("all-minutes", None, 31)]
    assert draft.lines[0].description == "Handled minutes (talk + hold), voice"


def test_queue_filter_counts_only_rows_of_the_named_queues() -> None:
    traffic = usage(
        UsageRow(channel="voice", queue="billing", handled_contacts=10),
        UsageRow(channel="voice", queue="sales", handled_contacts=20),
        UsageRow(channel="voice", handled_contacts=40),  # not attributed to a queue
    )
    draft = rate(
        card(
            HandledContacts(id="billing", pricing=flat("1"), queues=frozenset({"billing"})),
            HandledContacts(id="both", pricing=flat("1"), queues=frozenset({"billing", "sales"})),
            HandledContacts(id="any", pricing=flat("1")),
        ),
        traffic,
        NOVEMBER,
    )
    assert figures(draft) == [("billing", None, 1000), ("both", None, 3000), ("any", None, 7000)]


def test_handled_contacts() -> None:
    draft = rate(
        card(HandledContacts(id="contacts", pricing=flat("1.20"))),
        usage(voice(handled_contacts=1000), chat(handled_contacts=234)),
        NOVEMBER,
    )
    (line,) = draft.lines
    assert (line.quantity, line.unit, line.amount.minor) == (Decimal(1234), "contact", 148080)  # 1234 x 1.20


def test_dedicated_seat_hours() -> None:
    # Two dedicated agents for 160 hours: 1,152,000 seat-seconds = 320 seat-hours x 18.50 = 5,920.00.
    seats = card(SeatHours(id="seats", pricing=flat("18.50")))
    (line,) = rate(seats, usage(voice(dedicated_seat_seconds=1_152_000)), NOVEMBER).lines
    assert (line.quantity, line.unit, line.amount.minor) == (Decimal(320), "seat-hour", 592000)
    # 90 s = 0.025 h x 18.50 = 0.4625 EUR = 46.25 cents -> 46.
    (line,) = rate(seats, usage(voice(dedicated_seat_seconds=90)), NOVEMBER).lines
    assert (line.quantity, line.amount.minor) == (Decimal("0.025"), 46)


def test_seat_time_has_no_channel_and_only_unfiltered_charges_count_it() -> None:
    # Metering writes seat time as rows of no channel or queue: 7,200 s = 2 seat-hours x 18.50 = 37.00.
    traffic = usage(UsageRow(channel=None, dedicated_seat_seconds=7200), voice(talk_seconds=600, handled_contacts=3))
    draft = rate(
        card(
            SeatHours(id="seats", pricing=flat("18.50")),
            HandledContacts(id="voice-contacts", pricing=flat("1"), channels=frozenset({"voice"})),
            HandledContacts(id="billing-contacts", pricing=flat("1"), queues=frozenset({"billing"})),
        ),
        traffic,
        NOVEMBER,
    )
    assert figures(draft) == [("seats", None, 3700), ("voice-contacts", None, 300), ("billing-contacts", None, 0)]


def test_outbound_attempts() -> None:
    attempts = card(OutboundAttempts(id="dials", pricing=flat("0.04")))
    (line,) = rate(attempts, usage(voice(outbound_attempts=5000)), NOVEMBER).lines
    assert (line.quantity, line.unit, line.amount.minor) == (Decimal(5000), "attempt", 20000)  # 200.00


LADDER = tiers((1000, "0.90"), (5000, "0.80"), (None, "0.70"))


@pytest.mark.parametrize(
    ("contacts", "expected"),
    [
        (0, [(1, 0)]),
        (999, [(1, 89910)]),  # 999 x 0.90
        (1000, [(1, 90000)]),  # the bound belongs to tier 1
        (1001, [(1, 90000), (2, 80)]),  # + 1 x 0.80
        (5000, [(1, 90000), (2, 320000)]),  # + 4000 x 0.80
        (5001, [(1, 90000), (2, 320000), (3, 70)]),  # + 1 x 0.70
        (12000, [(1, 90000), (2, 320000), (3, 490000)]),  # + 7000 x 0.70
    ],
)
def test_graduated_pricing_bills_each_tier_at_its_price(contacts: int, expected: list[tuple[int, int]]) -> None:
    draft = rate(
        card(HandledContacts(id="c", pricing=GraduatedPrice(tiers=LADDER))),
        usage(voice(handled_contacts=contacts)),
        NOVEMBER,
    )
    assert [(line.tier, line.amount.minor) for line in draft.lines] == expected
    assert draft.subtotal.minor == sum(amount for _, amount in expected)


@pytest.mark.parametrize(
    ("contacts", "tier", "cents"),
    [
        (0, 1, 0),
        (999, 1, 89910),  # 999 x 0.90
        (1000, 1, 90000),  # the bound belongs to tier 1: 1000 x 0.90
        (1001, 2, 80080),  # every unit at tier 2: 1001 x 0.80
        (5000, 2, 400000),  # 5000 x 0.80
        (5001, 3, 350070),  # 5001 x 0.70: cheaper than 5000 contacts
    ],
)
def test_volume_pricing_bills_all_units_at_the_tier_reached(contacts: int, tier: int, cents: int) -> None:
    draft = rate(
        card(HandledContacts(id="c", pricing=VolumePrice(tiers=LADDER))),
        usage(voice(handled_contacts=contacts)),
        NOVEMBER,
    )
    (line,) = draft.lines
    assert (line.tier, line.quantity, line.unit_price, line.amount.minor) == (
        tier,
        Decimal(contacts),
        LADDER[tier - 1].unit_price,
        cents,
    )
    assert line.description == f"Handled contacts, tier {tier}"


def test_tiers_apply_to_fractional_minutes() -> None:
    # 60,030 s = 1000.5 minutes: 1000 x 0.90 = 900.00 and 0.5 x 0.80 = 0.40 (graduated); all at 0.80 = 800.40 (volume).
    minutes = usage(voice(talk_seconds=60_030))
    graduated = rate(card(HandledMinutes(id="m", pricing=GraduatedPrice(tiers=LADDER))), minutes, NOVEMBER)
    volume = rate(card(HandledMinutes(id="m", pricing=VolumePrice(tiers=LADDER))), minutes, NOVEMBER)
    assert [(line.tier, line.quantity, line.amount.minor) for line in graduated.lines] == [
        (1, Decimal(1000), 90000),
        (2, Decimal("0.5"), 40),
    ]
    assert [(line.tier, line.amount.minor) for line in volume.lines] == [(2, 80040)]


def test_platform_fee_for_a_whole_month() -> None:
    (line,) = rate(card(PlatformFee(id="platform", amount_minor=150000)), usage(), NOVEMBER).lines
    assert (line.kind, line.quantity, line.unit, line.unit_price, line.amount.minor) == (
        LineKind.PLATFORM_FEE,
        Decimal(1),
        "month",
        Decimal("1500.00"),
        150000,
    )
    assert line.description == "Platform fee"


CONTACTS_AT_ONE_EURO = HandledContacts(id="contacts", pricing=flat("1.00"))


@pytest.mark.parametrize(
    ("contacts", "top_up"),
    [
        (3200, 180000),  # 5,000.00 committed - 3,200.00 used
        (0, 500000),
        (4999, 100),
        (5000, None),  # exactly the commitment: no top-up line
        (6000, None),
    ],
)
def test_minimum_commitment_tops_usage_up(contacts: int, top_up: int | None) -> None:
    committed = card(
        CONTACTS_AT_ONE_EURO,
        PlatformFee(id="platform", amount_minor=10000),
        MinimumCommitment(id="minimum", amount_minor=500000),
    )
    draft = rate(committed, usage(voice(handled_contacts=contacts)), NOVEMBER)
    lines = [line for line in draft.lines if line.kind is LineKind.MINIMUM_COMMITMENT]
    if top_up is None:
        assert lines == []
        assert draft.subtotal.minor == contacts * 100 + 10000
    else:
        (line,) = lines
        assert (line.charge_id, line.quantity, line.unit_price, line.amount.minor) == (
            "minimum",
            Decimal(1),
            Decimal(top_up).scaleb(-2),
            top_up,
        )
        # The platform fee is not usage: it does not count towards the commitment.
        assert draft.subtotal.minor == 500000 + 10000


def test_minimum_commitment_counts_only_the_usage_charges_it_names() -> None:
    committed = card(
        CONTACTS_AT_ONE_EURO,
        HandledMinutes(id="minutes", pricing=flat("1.00")),
        MinimumCommitment(id="minimum", amount_minor=500000, applies_to=frozenset({"contacts"})),
    )
    # 3,200.00 of contacts and 3,000.00 of minutes: only the contacts count, so the top-up is 1,800.00.
    draft = rate(committed, usage(voice(handled_contacts=3200, talk_seconds=180_000)), NOVEMBER)
    assert charge_lines(draft) == [("contacts", None, 320000), ("minutes", None, 300000), ("minimum", None, 180000)]
    assert draft.lines[2].description == (
        "Minimum monthly commitment (top-up): 5,000.00 EUR committed, 3,200.00 EUR used"
    )


@pytest.mark.parametrize(
    ("on", "billed"),
    [
        (dt.date(2026, 11, 1), True),  # the first day of the period
        (dt.date(2026, 11, 17), True),
        (dt.date(2026, 11, 30), True),  # the last day
        (dt.date(2026, 12, 1), False),  # the period's end is excluded
        (dt.date(2026, 10, 31), False),
    ],
)
def test_one_off_charges_are_billed_in_the_period_of_their_date(on: dt.date, billed: bool) -> None:
    setup = OneOffCharge(id="setup", on=on, amount_minor=75000, description="Agent training, 5 days")
    draft = rate(card(setup), usage(), NOVEMBER)
    if billed:
        (line,) = draft.lines
        assert (line.kind, line.description, line.start, line.end, line.amount.minor) == (
            LineKind.ONE_OFF,
            "Agent training, 5 days",
            on,
            on + dt.timedelta(days=1),
            75000,
        )
    else:
        assert draft.lines == ()
        assert draft.total.minor == 0


def test_charges_combine_in_card_order() -> None:
    combined = card(
        PlatformFee(id="platform", amount_minor=150000),
        HandledMinutes(
            id="minutes", pricing=GraduatedPrice(tiers=tiers((50, "1.00"), (None, "0.50"))), include_wrap_up=True
        ),
        OneOffCharge(id="setup", on=dt.date(2026, 11, 3), amount_minor=50000),
        SeatHours(id="seats", pricing=flat("20")),
        OutboundAttempts(id="dials", pricing=flat("0.05")),
        HandledContacts(id="contacts", pricing=flat("0.10")),
        credits=(credit_rule(("0", "10")),),
        tax="20",
    )
    traffic = usage(
        voice(talk_seconds=3000, hold_seconds=600, wrap_up_seconds=1200, handled_contacts=100, outbound_attempts=400),
        chat(dedicated_seat_seconds=36000, handled_contacts=50),
    )
    draft = rate(combined, traffic, NOVEMBER, attainment=attained("0.70"))
    # minutes: 80 = 50 x 1.00 + 30 x 0.50 = 65.00; seats 10 h x 20 = 200.00; dials 400 x 0.05 = 20.00;
    # contacts 150 x 0.10 = 15.00; recurring = 1500 + 65 + 200 + 20 + 15 = 1,800.00 -> 10% credit 180.00;
    # net = 1800 + 500 (set-up) - 180 = 2,120.00; tax 20% = 424.00; total 2,544.00.
    assert figures(draft) == [
        ("platform", None, 150000),
        ("minutes", 1, 5000),
        ("minutes", 2, 1500),
        ("setup", None, 50000),
        ("seats", None, 20000),
        ("dials", None, 2000),
        ("contacts", None, 1500),
        ("sla", None, -18000),
    ]
    assert (draft.subtotal.minor, draft.credits.minor, draft.tax.minor, draft.total.minor) == (
        230000,
        -18000,
        42400,
        254400,
    )
    assert draft.credit_note is False


def test_usage_without_matching_rows_still_shows_the_contracted_line() -> None:
    draft = rate(card(OutboundAttempts(id="dials", pricing=flat("0.04"))), usage(chat(handled_contacts=5)), NOVEMBER)
    assert [(line.quantity, line.amount.minor) for line in draft.lines] == [(Decimal(0), 0)]


def test_currencies_use_their_own_minor_unit() -> None:
    # JPY has no minor unit: 61 s at 10 JPY/min = 10.1666 -> 10 yen.
    yen = rate(
        card(HandledMinutes(id="m", pricing=flat("10")), currency="JPY"), usage(voice(talk_seconds=61)), NOVEMBER
    )
    assert (yen.total.minor, yen.total.currency, str(yen.total)) == (10, "JPY", "10 JPY")
    # BHD has three decimals: 3 contacts at 0.1255 BHD = 0.3765 BHD = 376.5 fils -> 376 (half to even).
    dinar = rate(
        card(HandledContacts(id="c", pricing=flat("0.1255")), currency="BHD"),
        usage(voice(handled_contacts=3)),
        NOVEMBER,
    )
    assert (dinar.total.minor, str(dinar.total)) == (376, "0.376 BHD")


def test_a_rate_card_survives_json_and_bad_cards_are_refused_on_decoding() -> None:
    original = card(
        HandledMinutes(
            id="m", pricing=GraduatedPrice(tiers=LADDER), include_wrap_up=True, channels=frozenset({"voice"})
        ),
        HandledContacts(id="c", pricing=VolumePrice(tiers=LADDER), queues=frozenset({"q1"})),
        PlatformFee(id="p", amount_minor=100),
        MinimumCommitment(id="min", amount_minor=1000, applies_to=frozenset({"m"})),
        OneOffCharge(id="o", on=dt.date(2026, 11, 2), amount_minor=5),
        credits=(credit_rule(("0", "5"), ("5", "10"), base=frozenset({"m", "p"})),),
        tax="21",
    )
    encoded = msgspec.json.encode(original)
    assert msgspec.json.decode(encoded, type=RateCard) == original
    assert b'"unit_price":"0.90"' in encoded  # Decimals travel as text, never as floats
    broken = encoded.replace(b'"up_to":"5000"', b'"up_to":"500"')  # tier bounds no longer rise
    with pytest.raises(msgspec.ValidationError, match="tier bounds must rise strictly"):
        msgspec.json.decode(broken, type=RateCard)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: card(PlatformFee(id="x", amount_minor=1), PlatformFee(id="x", amount_minor=2)),
            "charge ids must be unique",
        ),
        (lambda: card(currency="eur"), "ISO 4217"),
        (lambda: card(tax="100.01"), "tax_rate_percent must be at most 100"),
        (lambda: GraduatedPrice(tiers=tiers((10, "1"), (10, "2"), (None, "3"))), "rise strictly"),
        (lambda: GraduatedPrice(tiers=tiers((10, "1"))), "last tier is unbounded"),
        (lambda: GraduatedPrice(tiers=()), "at least one tier"),
        (lambda: Tier(up_to=Decimal(0), unit_price=Decimal(1)), "up_to must be > 0"),
        (lambda: Tier(up_to=None, unit_price=0.85), "finite Decimal"),  # a float price is refused
        (lambda: Tier(up_to=None, unit_price=Decimal("-1")), "at least 0"),
        (lambda: Tier(up_to=None, unit_price=Decimal("NaN")), "finite Decimal"),
        (lambda: HandledMinutes(id="m", pricing=flat("1"), channels=frozenset()), "empty filter"),
        (lambda: PlatformFee(id="p", amount_minor=-1), "whole number >= 0"),
        (lambda: PlatformFee(id="p", amount_minor=1.5), "whole number >= 0"),
        (lambda: PlatformFee(id="", amount_minor=1), "charge id"),
        (lambda: UsageRow(channel="voice", talk_seconds=-1), "talk_seconds"),
        (lambda: SeatHours(id="s", pricing=flat("1"), channels=frozenset({"voice"})), "no channel or queue"),
        (lambda: SeatHours(id="s", pricing=flat("1"), queues=frozenset({"billing"})), "no channel or queue"),
        (
            lambda: card(
                PlatformFee(id="p", amount_minor=1),
                MinimumCommitment(id="m", amount_minor=1, applies_to=frozenset({"p"})),
            ),
            "not usage charges of the card",
        ),
        (lambda: card(credits=(credit_rule(("0", "5"), base=frozenset({"nothing"})),)), "not charges of the card"),
        (lambda: credit_rule(("5", "5"), ("5", "10")), "strictly rising points_below"),
        (lambda: credit_rule(("0", "100.5")), "percent must be at most 100"),
        (lambda: credit_rule(), "at least one band"),
        (
            lambda: card(credits=(credit_rule(("0", "5")), credit_rule(("0", "10")))),
            "credit rule ids must be unique",
        ),
    ],
)
def test_incoherent_cards_are_refused(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        build()
