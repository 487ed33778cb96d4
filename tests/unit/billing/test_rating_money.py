"""Money, and the shared-pool cost allocation, against figures worked out by hand."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from billing.rating import Money, allocate_pool_cost, minor_unit_digits


def test_money_adds_and_subtracts_in_one_currency_only() -> None:
    assert Money(1050, "EUR") + Money(-50, "EUR") == Money(1000, "EUR")
    assert Money(1050, "EUR") - Money(2000, "EUR") == Money(-950, "EUR")
    assert -Money(5, "EUR") == Money(-5, "EUR")
    with pytest.raises(ValueError, match="cannot combine EUR with USD"):
        Money(1, "EUR") + Money(1, "USD")


@pytest.mark.parametrize(
    ("major", "currency", "minor", "shown"),
    [
        ("1234.5", "EUR", 123450, "1,234.50 EUR"),
        ("-0.01", "EUR", -1, "-0.01 EUR"),
        ("1500", "JPY", 1500, "1,500 JPY"),
        ("2.125", "KWD", 2125, "2.125 KWD"),
    ],
)
def test_money_from_major_units_and_back(major: str, currency: str, minor: int, shown: str) -> None:
    money = Money.of(major, currency)
    assert (money.minor, money.major, str(money)) == (minor, Decimal(minor).scaleb(-minor_unit_digits(currency)), shown)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Money.of("0.001", "EUR"), "finer than the currency's minor unit"),
        (lambda: Money.of("1.5", "JPY"), "finer than the currency's minor unit"),
        (lambda: Money(1.5, "EUR"), "whole number of minor units"),  # never a float
        (lambda: Money.of(0.1, "EUR"), "a Decimal or a text"),
        (lambda: Money(True, "EUR"), "whole number of minor units"),
        (lambda: Money(1, "euro"), "ISO 4217"),
    ],
)
def test_money_refuses_what_is_not_money(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        build()


def test_minor_units_follow_iso_4217() -> None:
    assert [minor_unit_digits(code) for code in ("EUR", "USD", "JPY", "KRW", "BHD", "TND", "CLF")] == [
        2,
        2,
        0,
        0,
        3,
        3,
        4,
    ]


def test_pool_cost_is_split_by_agent_time_to_the_cent() -> None:
    # 100 cents over 1 : 2 : 3 is 16.67, 33.33, 50.00: floors 16 + 33 + 50 = 99, and the one cent left goes
    # to the largest remainder (0.67).
    shares = allocate_pool_cost(Money(100, "EUR"), {"cobalt": 2 * 3600, "fjord": 1 * 3600, "lumen": 3 * 3600})
    assert {tenant: share.minor for tenant, share in shares.items()} == {"fjord": 17, "cobalt": 33, "lumen": 50}
    assert list(shares) == ["cobalt", "fjord", "lumen"]  # in the keys' text order


def test_pool_cost_ties_go_to_the_key_that_sorts_first() -> None:
    shares = allocate_pool_cost(Money(10000, "EUR"), {"b": 60, "a": 60, "c": 60})
    assert {tenant: share.minor for tenant, share in shares.items()} == {"a": 3334, "b": 3333, "c": 3333}


def test_pool_cost_gives_nothing_to_a_tenant_without_agent_time() -> None:
    first, second = uuid.UUID(int=1), uuid.UUID(int=2)
    shares = allocate_pool_cost(Money(999, "EUR"), {first: 0, second: 3600})
    assert shares == {first: Money(0, "EUR"), second: Money(999, "EUR")}


def test_pool_cost_without_agent_time() -> None:
    assert allocate_pool_cost(Money(0, "EUR"), {"a": 0, "b": 0}) == {"a": Money(0, "EUR"), "b": Money(0, "EUR")}
    assert allocate_pool_cost(Money(0, "EUR"), {}) == {}
    with pytest.raises(ValueError, match="no agent time"):
        allocate_pool_cost(Money(1, "EUR"), {"a": 0})
    with pytest.raises(ValueError, match=">= 0"):
        allocate_pool_cost(Money(-1, "EUR"), {"a": 1})
    with pytest.raises(ValueError, match="agent seconds"):
        allocate_pool_cost(Money(1, "EUR"), {"a": -5})
