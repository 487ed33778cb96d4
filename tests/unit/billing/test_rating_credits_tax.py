"""SLA service credits (bands, bases, caps) and tax, against figures worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.rating import (
    HandledContacts,
    HandledMinutes,
    LineKind,
    MinimumCommitment,
    OneOffCharge,
    PlatformFee,
    SlaAttainment,
    rate,
)
from tests.unit.billing.rating_helpers import (
    NOVEMBER,
    attained,
    card,
    credit_amounts,
    credit_rule,
    flat,
    usage,
    voice,
)

FEE_1000 = PlatformFee(id="platform", amount_minor=100000)
FIVE_THEN_TEN = credit_rule(("0", "5"), ("5", "10"))  # 5% below target, 10% more than 5 points below


@pytest.mark.parametrize(
    ("measured", "credit"),
    [
        ("0.95", None),  # above target
        ("0.80", None),  # exactly on target: not below it
        ("0.7999", -5000),  # the least shortfall: 5% of 1,000.00
        ("0.78", -5000),  # 2 points below
        ("0.75", -5000),  # exactly 5 points below: the 10% band needs more than 5
        ("0.7499", -10000),  # 5.01 points below: 10%
        ("0.10", -10000),  # the highest matching band only, not 5% + 10%
        ("0", -10000),
    ],
)
def test_credit_bands_at_their_exact_thresholds(measured: str, credit: int | None) -> None:
    draft = rate(card(FEE_1000, credits=(FIVE_THEN_TEN,)), usage(), NOVEMBER, attainment=attained(measured))
    assert credit_amounts(draft) == ([] if credit is None else [("sla", credit)])
    assert draft.total.minor == 100000 + (credit or 0)


def test_credit_line_says_what_was_measured_and_what_it_takes_back() -> None:
    draft = rate(card(FEE_1000, credits=(FIVE_THEN_TEN,)), usage(), NOVEMBER, attainment=attained("0.78"))
    credit = draft.lines[-1]
    assert credit.is_credit
    assert (credit.kind, credit.quantity, credit.unit, credit.unit_price) == (
        LineKind.SLA_CREDIT,
        Decimal(1),
        "credit",
        Decimal("-50.00"),
    )
    assert credit.description == "SLA service credit (voice): service level 78% against 80%, 5% of 1,000.00 EUR"
    assert [(share.line, share.amount.minor) for share in credit.credited] == [(0, 5000)]


def test_thresholds_work_on_target_other_than_round_figures() -> None:
    # Target 0.85, 3-point band: 0.82 is exactly 3 points below (no 3-point credit), 0.8199 is past it.
    rule = credit_rule(("0", "2"), ("3", "7.5"))
    at_three = rate(card(FEE_1000, credits=(rule,)), usage(), NOVEMBER, attainment=attained("0.82", "0.85"))
    past_three = rate(card(FEE_1000, credits=(rule,)), usage(), NOVEMBER, attainment=attained("0.8199", "0.85"))
    assert credit_amounts(at_three) == [("sla", -2000)]  # 2% of 1,000.00
    assert credit_amounts(past_three) == [("sla", -7500)]  # 7.5%


def test_default_base_is_the_recurring_charges_not_one_offs() -> None:
    priced = card(
        FEE_1000,
        HandledContacts(id="contacts", pricing=flat("1")),
        OneOffCharge(id="setup", on=dt.date(2026, 11, 5), amount_minor=50000),
        credits=(credit_rule(("0", "10")),),
    )
    draft = rate(priced, usage(voice(handled_contacts=500)), NOVEMBER, attainment=attained("0.70"))
    # 10% of (1,000.00 + 500.00); the 500.00 set-up is not credited.
    assert credit_amounts(draft) == [("sla", -15000)]
    assert {share.line for share in draft.lines[-1].credited} == {0, 1}


def test_named_base_credits_only_those_charges() -> None:
    priced = card(
        FEE_1000,
        HandledMinutes(id="minutes", pricing=flat("1")),
        HandledContacts(id="contacts", pricing=flat("1")),
        credits=(credit_rule(("0", "10"), base=frozenset({"contacts"})),),
    )
    draft = rate(priced, usage(voice(talk_seconds=60_000, handled_contacts=300)), NOVEMBER, attainment=attained("0.5"))
    assert credit_amounts(draft) == [("sla", -3000)]  # 10% of 300.00 contacts only
    assert [(share.line, share.amount.minor) for share in draft.lines[-1].credited] == [(2, 3000)]


def test_commitment_top_up_is_part_of_the_monthly_charge_credited() -> None:
    priced = card(
        HandledContacts(id="contacts", pricing=flat("1")),
        MinimumCommitment(id="minimum", amount_minor=500000),
        credits=(credit_rule(("0", "5")),),
    )
    draft = rate(priced, usage(voice(handled_contacts=3200)), NOVEMBER, attainment=attained("0.79"))
    # The tenant pays the 5,000.00 commitment (3,200.00 usage + 1,800.00 top-up); 5% of it is 250.00.
    assert credit_amounts(draft) == [("sla", -25000)]


def test_credits_never_take_back_more_than_the_lines_they_reduce() -> None:
    # Two rules of 60% each on the same 1,000.00: the second can only take the 400.00 left.
    twice = card(
        FEE_1000,
        credits=(
            credit_rule(("0", "60"), rule_id="voice-sla"),
            credit_rule(("0", "60"), rule_id="chat-sla", sla="chat"),
        ),
        tax="21",
    )
    attainment = attained("0.5") | attained("0.5", sla="chat")
    draft = rate(twice, usage(), NOVEMBER, attainment=attainment)
    assert credit_amounts(draft) == [("voice-sla", -60000), ("chat-sla", -40000)]
    assert (draft.subtotal.minor, draft.credits.minor, draft.tax.minor, draft.total.minor) == (100000, -100000, 0, 0)
    assert draft.credit_note is False


def test_a_full_credit_makes_the_draft_zero_not_negative() -> None:
    draft = rate(
        card(FEE_1000, credits=(credit_rule(("0", "100")),), tax="21"), usage(), NOVEMBER, attainment=attained("0.7")
    )
    assert (draft.credits.minor, draft.total.minor) == (-100000, 0)


def test_credit_is_spread_over_its_lines_in_proportion_to_what_is_left() -> None:
    priced = card(
        HandledMinutes(id="minutes", pricing=flat("1")),  # 3.00
        HandledContacts(id="contacts", pricing=flat("1")),  # 1.00
        credits=(credit_rule(("0", "10")),),
    )
    draft = rate(priced, usage(voice(talk_seconds=180, handled_contacts=1)), NOVEMBER, attainment=attained("0.5"))
    # 10% of 4.00 = 0.40: 0.30 of the minutes, 0.10 of the contacts.
    assert [(share.line, share.amount.minor) for share in draft.lines[-1].credited] == [(0, 30), (1, 10)]


@pytest.mark.parametrize(("fee", "credit"), [(50, -2), (150, -8), (250, -12), (30, -2)])
def test_credit_rounds_half_to_even(fee: int, credit: int) -> None:
    # 5% of 0.50 = 2.5 cents -> 2; of 1.50 = 7.5 -> 8; of 2.50 = 12.5 -> 12; of 0.30 = 1.5 -> 2.
    priced = card(PlatformFee(id="platform", amount_minor=fee), credits=(credit_rule(("0", "5")),))
    assert credit_amounts(rate(priced, usage(), NOVEMBER, attainment=attained("0.7"))) == [("sla", credit)]


def test_rule_without_an_attainment_credits_nothing() -> None:
    priced = card(FEE_1000, credits=(credit_rule(("0", "5"), sla="chat"),))
    draft = rate(priced, usage(), NOVEMBER, attainment=attained("0.1", sla="voice"))
    assert credit_amounts(draft) == []
    assert credit_amounts(rate(priced, usage(), NOVEMBER)) == []


def test_each_rule_judges_its_own_sla() -> None:
    priced = card(
        FEE_1000,
        credits=(credit_rule(("0", "5"), rule_id="voice-sla"), credit_rule(("0", "3"), rule_id="chat-sla", sla="chat")),
    )
    attainment = attained("0.78") | {"chat": SlaAttainment(measured=Decimal("0.95"), target=Decimal("0.90"))}
    assert credit_amounts(rate(priced, usage(), NOVEMBER, attainment=attainment)) == [("voice-sla", -5000)]


@pytest.mark.parametrize(
    ("net", "tax_rate", "tax"),
    [
        (1005, "21", 211),  # 10.05 x 21% = 2.1105 -> 2.11
        (50, "1", 0),  # 0.005 -> 0.00 (half to even)
        (150, "1", 2),  # 0.015 -> 0.02
        (250, "1", 2),  # 0.025 -> 0.02
        (350, "1", 4),  # 0.035 -> 0.04
        (999, "19.5", 195),  # 9.99 x 19.5% = 1.94805 -> 1.95
        (100000, "0", 0),
        (12345, "7.75", 957),  # 123.45 x 7.75% = 9.567375 -> 9.57
    ],
)
def test_tax_is_rounded_half_to_even_once_on_the_net(net: int, tax_rate: str, tax: int) -> None:
    draft = rate(card(PlatformFee(id="platform", amount_minor=net), tax=tax_rate), usage(), NOVEMBER)
    ((tax_line),) = draft.taxes
    assert (tax_line.rate_percent, tax_line.net.minor, tax_line.amount.minor) == (Decimal(tax_rate), net, tax)
    assert (draft.tax.minor, draft.total.minor) == (tax, net + tax)


def test_tax_is_on_the_net_after_credits_not_on_each_line() -> None:
    # Three lines of 0.05 at 10%: per line 0.005 -> 0 each; on the net of 0.15, 0.015 -> 0.02.
    priced = card(
        HandledContacts(id="a", pricing=flat("0.05")),
        HandledContacts(id="b", pricing=flat("0.05")),
        HandledContacts(id="c", pricing=flat("0.05")),
        tax="10",
    )
    assert rate(priced, usage(voice(handled_contacts=1)), NOVEMBER).tax.minor == 2
    # With a 10% credit on 1,000.00: tax 21% of 900.00 = 189.00.
    credited = rate(
        card(FEE_1000, credits=(credit_rule(("0", "10")),), tax="21"), usage(), NOVEMBER, attainment=attained("0.1")
    )
    assert (credited.taxes[0].net.minor, credited.tax.minor, credited.total.minor) == (90000, 18900, 108900)
