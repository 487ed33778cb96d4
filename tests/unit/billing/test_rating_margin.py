"""The operator's margin per tenant: revenue converted once per tenant, the pool's cost split by agent time, and
totals over the tenants with a rate; worked examples and properties."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.rating import Money, PoolMonth, TenantMonth, convert, margins
from billing.rating.margin import percent, whole_weights


def test_a_month_worked_by_hand() -> None:
    # Pool: 10,000.00 EUR over 3600 + 1800 + 3600 agent seconds: 4000.00, 2000.00, 4000.00.
    pool = PoolMonth(currency="EUR", cost=Money(1_000_000, "EUR"), rates={"SEK": Decimal("0.0874")})
    tenants = [
        TenantMonth(tenant="cobalt", revenue=Money(620_000, "EUR"), busy_seconds=Decimal(3600)),
        TenantMonth(tenant="fjord", revenue=Money(150_000, "EUR"), busy_seconds=Decimal(1800)),
        # 48,750.50 SEK x 0.0874 = 4,260.79370 EUR: 426,079 cents.
        TenantMonth(tenant="lumen", revenue=Money(4_875_050, "SEK"), busy_seconds=Decimal(3600)),
    ]
    result = margins(pool, tenants)
    cobalt, fjord, lumen = result.tenants
    assert result.cost_status == "allocated"
    assert (cobalt.cost, fjord.cost, lumen.cost) == (
        Money(400_000, "EUR"),
        Money(200_000, "EUR"),
        Money(400_000, "EUR"),
    )
    assert (cobalt.rate, cobalt.converted, cobalt.margin) == (Decimal(1), Money(620_000, "EUR"), Money(220_000, "EUR"))
    assert cobalt.margin_percent == Decimal("35.48")  # 2200 / 6200 = 35.4838...
    assert fjord.margin == Money(-50_000, "EUR") and fjord.margin_percent == Decimal("-33.33")
    assert (lumen.rate, lumen.converted, lumen.margin) == (
        Decimal("0.0874"),
        Money(426_079, "EUR"),
        Money(26_079, "EUR"),
    )
    assert result.revenue == Money(1_196_079, "EUR") and result.cost == Money(1_000_000, "EUR")
    assert result.margin == Money(196_079, "EUR") and result.margin_percent == Decimal("16.39")


def test_a_tenant_without_a_rate_is_left_out_of_the_totals() -> None:
    pool = PoolMonth(currency="EUR", cost=Money(900, "EUR"), rates={})
    tenants = [
        TenantMonth(tenant="a", revenue=Money(1000, "EUR"), busy_seconds=Decimal(1)),
        TenantMonth(tenant="b", revenue=Money(50_000, "SEK"), busy_seconds=Decimal(2)),
    ]
    result = margins(pool, tenants)
    a, b = result.tenants
    assert (b.converted, b.missing_rate, b.cost, b.margin, b.in_totals) == (None, "SEK", Money(600, "EUR"), None, False)
    assert b.revenue == Money(50_000, "SEK")
    assert (result.revenue, result.cost, result.margin) == (Money(1000, "EUR"), Money(300, "EUR"), Money(700, "EUR"))
    assert a.margin == Money(700, "EUR")


def test_without_a_pool_cost_revenue_is_shown_and_cost_is_unknown() -> None:
    pool = PoolMonth(currency="EUR", cost=None, rates={})
    result = margins(pool, [TenantMonth(tenant="a", revenue=Money(1000, "EUR"), busy_seconds=Decimal(60))])
    assert result.cost_status == "no_pool_cost"
    (a,) = result.tenants
    assert (a.converted, a.cost, a.margin, a.margin_percent) == (Money(1000, "EUR"), None, None, None)
    assert (result.revenue, result.cost, result.margin) == (Money(1000, "EUR"), None, None)


def test_a_cost_with_no_agent_time_to_split_it_by() -> None:
    idle = [TenantMonth(tenant="a", revenue=None, busy_seconds=Decimal(0))]
    result = margins(PoolMonth(currency="EUR", cost=Money(500, "EUR"), rates={}), idle)
    assert result.cost_status == "no_agent_time" and result.tenants[0].cost is None and result.cost is None
    nothing = margins(PoolMonth(currency="EUR", cost=Money(0, "EUR"), rates={}), idle)
    assert nothing.cost_status == "allocated" and nothing.tenants[0].cost == Money(0, "EUR")
    assert nothing.margin == Money(0, "EUR")


def test_a_tenant_billed_nothing_still_bears_its_share_of_the_pool() -> None:
    pool = PoolMonth(currency="EUR", cost=Money(1000, "EUR"), rates={})
    tenants = [
        TenantMonth(tenant="unbilled", revenue=None, busy_seconds=Decimal("0.5")),
        TenantMonth(tenant="billed", revenue=Money(2000, "EUR"), busy_seconds=Decimal("1.5")),
    ]
    unbilled, billed = margins(pool, tenants).tenants
    assert (unbilled.rate, unbilled.converted, unbilled.cost, unbilled.margin) == (
        None,
        Money(0, "EUR"),
        Money(250, "EUR"),
        Money(-250, "EUR"),
    )
    assert unbilled.margin_percent is None and billed.margin == Money(1250, "EUR")


@pytest.mark.parametrize(
    ("amount", "rate", "currency", "expected"),
    [
        (Money(125, "SEK"), Decimal("0.1"), "EUR", Money(12, "EUR")),  # 12.5 cents: to even
        (Money(135, "SEK"), Decimal("0.1"), "EUR", Money(14, "EUR")),  # 13.5 cents: to even
        (Money(-135, "SEK"), Decimal("0.1"), "EUR", Money(-14, "EUR")),
        (Money(1000, "JPY"), Decimal("0.00612"), "EUR", Money(612, "EUR")),  # 1,000 yen, no minor unit
        (Money(1234, "EUR"), Decimal("0.3771"), "KWD", Money(4653, "KWD")),  # 12.34 x 0.3771 = 4.653414 KWD
    ],
)
def test_conversion_rounds_the_exact_product_half_to_even(
    amount: Money, rate: Decimal, currency: str, expected: Money
) -> None:
    assert convert(amount, rate, currency) == expected


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="> 0"):
        convert(Money(1, "SEK"), Decimal(0), "EUR")
    with pytest.raises(ValueError, match="Decimal"):
        convert(Money(1, "SEK"), 0.1, "EUR")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not the operator's EUR"):
        margins(PoolMonth(currency="EUR", cost=Money(1, "SEK"), rates={}), [])
    with pytest.raises(ValueError, match="once"):
        twice = TenantMonth(tenant="a", revenue=None, busy_seconds=Decimal(1))
        margins(PoolMonth(currency="EUR", cost=None, rates={}), [twice, twice])
    with pytest.raises(ValueError, match="at least 0"):
        whole_weights({"a": Decimal(-1)})


def test_agent_seconds_keep_their_exact_proportions() -> None:
    assert whole_weights({"a": Decimal("61.25"), "b": Decimal("0.125"), "c": Decimal("1E+2")}) == {
        "a": 61250,
        "b": 125,
        "c": 100000,
    }
    assert percent(Money(1, "EUR"), Money(0, "EUR")) is None
    assert percent(Money(1, "EUR"), Money(8, "EUR")) == Decimal("12.50")


# --- properties ---------------------------------------------------------------------------------------------

CURRENCIES = ("EUR", "SEK", "JPY", "KWD")
rates = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(5000), places=6)


@st.composite
def months(draw: st.DrawFn) -> tuple[PoolMonth, list[TenantMonth]]:
    operator = draw(st.sampled_from(CURRENCIES))
    cost = draw(st.none() | st.integers(min_value=0, max_value=10**12))
    tenants = [
        TenantMonth(
            tenant=f"t{index}",
            revenue=draw(
                st.none()
                | st.builds(Money, st.integers(min_value=-(10**10), max_value=10**12), st.sampled_from(CURRENCIES))
            ),
            busy_seconds=draw(st.decimals(min_value=0, max_value=10**7, places=6)),
        )
        for index in range(draw(st.integers(min_value=0, max_value=8)))
    ]
    given_rates = {code: draw(rates) for code in draw(st.sets(st.sampled_from(CURRENCIES))) if code != operator}
    return PoolMonth(
        currency=operator, cost=None if cost is None else Money(cost, operator), rates=given_rates
    ), tenants


def _half_even(amount: Money, rate: Decimal, currency: str) -> int:
    """The conversion computed here with decimals (enough precision to be exact), rounded once."""
    from billing.rating import minor_unit_digits

    with localcontext() as context:
        context.prec = 80
        major = Decimal(amount.minor).scaleb(-minor_unit_digits(amount.currency)) * rate
        return int(major.scaleb(minor_unit_digits(currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@given(months())
@settings(max_examples=300, deadline=None)
def test_margin_properties(month: tuple[PoolMonth, list[TenantMonth]]) -> None:
    pool, tenants = month
    result = margins(pool, tenants)
    assert [found.tenant for found in result.tenants] == [tenant.tenant for tenant in tenants]
    if result.cost_status == "allocated":
        assert pool.cost is not None
        assert sum(found.cost.minor for found in result.tenants if found.cost is not None) == pool.cost.minor
        assert all(found.cost is not None for found in result.tenants)
    else:
        assert all(found.cost is None for found in result.tenants) and result.cost is None
        assert result.cost_status == ("no_pool_cost" if pool.cost is None else "no_agent_time")
    for given_tenant, found in zip(tenants, result.tenants, strict=True):
        revenue = given_tenant.revenue
        if revenue is None:
            assert found.converted == Money(0, pool.currency)
        elif revenue.currency == pool.currency:
            assert found.converted == revenue
        elif revenue.currency in pool.rates:
            rate = pool.rates[revenue.currency]
            assert found.converted == Money(_half_even(revenue, rate, pool.currency), pool.currency)
        else:
            assert found.converted is None and found.missing_rate == revenue.currency and found.margin is None
        if found.converted is not None and found.cost is not None:
            assert found.margin == found.converted - found.cost
    counted = [found for found in result.tenants if found.in_totals]
    assert result.revenue.minor == sum(found.converted.minor for found in counted if found.converted is not None)
    if result.cost is not None:
        assert result.cost.minor == sum(found.cost.minor for found in counted if found.cost is not None)
        assert result.margin == result.revenue - result.cost
