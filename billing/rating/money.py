"""Money in integer minor units of an ISO 4217 currency, and the package's rounding rules."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Final

import msgspec

_CURRENCY_CODE: Final = re.compile(r"[A-Z]{3}")

# ISO 4217 currencies whose minor unit is not two decimal places; every other code has two.
_MINOR_UNIT_DIGITS: Final[Mapping[str, int]] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV"),
        0,
    ),
    **dict.fromkeys(("XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}

# The currencies of ISO 4217 (list one, 2025), without the precious metals, the SDR, the bond-market units and
# the testing codes: the codes an exchange rate may be entered for.
# fmt: off
ISO_4217: Final = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF",
    "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR",
    "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS",
    "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG",
    "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
})
# fmt: on

# Quantities shown on invoice lines (minutes, seat-hours, fractions of a month) are rounded to this many
# places for display only; amounts are computed from the exact quantity.
QUANTITY_PLACES: Final = 4


def check_currency(code: str) -> str:
    if not isinstance(code, str) or not _CURRENCY_CODE.fullmatch(code):
        raise ValueError(f"currency must be an ISO 4217 code of three capital letters, not {code!r}")
    return code


def minor_unit_digits(currency: str) -> int:
    """Decimal places of the currency's minor unit (EUR 2, JPY 0, BHD 3)."""
    return _MINOR_UNIT_DIGITS.get(check_currency(currency), 2)


def check_decimal(
    value: object, name: str, *, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Decimal:
    """A finite Decimal within bounds; floats are refused (never money or rates as binary floats)."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name} must be a finite Decimal, not {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, not {value}")
    return value


def check_count(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
    return value


def round_to_minor(major: Fraction, currency: str) -> int:
    """An exact amount in major units, rounded half to even to whole minor units."""
    scale: int = 10 ** minor_unit_digits(currency)
    return round(major * scale)


def minor_to_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_unit_digits(currency))


def display_quantity(quantity: Fraction) -> Decimal:
    """The quantity shown on a line: exact when it has at most QUANTITY_PLACES decimals, else rounded half
    to even to that many; no trailing zeros (and never an exponent)."""
    scale: int = 10**QUANTITY_PLACES
    scaled = round(quantity * scale)
    shown = Decimal(scaled).scaleb(-QUANTITY_PLACES)
    if shown == shown.to_integral_value():
        return shown.quantize(Decimal(1))
    return shown.normalize()


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` whole units in proportion to `weights`, so that the parts sum to `total` exactly.

    Each part is the floor of its exact share, and the units left over go one each to the largest
    fractional remainders; ties go to the larger weight, then to the earlier position. So a larger weight
    never gets a smaller part, every part is within one unit of its exact share, and a zero weight gets
    nothing.
    """
    if total < 0:
        raise ValueError("the total to split must be >= 0")
    if any(weight < 0 for weight in weights):
        raise ValueError("weights must be >= 0")
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total:
            raise ValueError("cannot split a non-zero total by weights that are all zero")
        return [0] * len(weights)
    parts = [total * weight // weight_sum for weight in weights]
    remainders = [total * weight % weight_sum for weight in weights]
    left_over = total - sum(parts)
    by_claim = sorted(range(len(weights)), key=lambda i: (-remainders[i], -weights[i], i))
    for index in by_claim[:left_over]:
        parts[index] += 1
    return parts


class Money(msgspec.Struct, frozen=True):
    """An amount in integer minor units (cents for EUR) of an ISO 4217 currency."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise ValueError(f"a money amount is a whole number of minor units, not {self.minor!r}")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def of(cls, major: Decimal | str, currency: str) -> Money:
        """Money from a major-unit amount ("12.34" EUR); refuses amounts finer than the minor unit."""
        if not isinstance(major, Decimal | str):
            raise ValueError(f"an amount is a Decimal or a text, not {major!r}")
        amount = check_decimal(Decimal(major), "amount")
        scaled = amount.scaleb(minor_unit_digits(currency))
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{major} {currency} is finer than the currency's minor unit")
        return cls(int(scaled), currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    @property
    def major(self) -> Decimal:
        """The amount in major units, exactly (Decimal("12.34") for 1234 EUR cents)."""
        return minor_to_major(self.minor, self.currency)

    def __str__(self) -> str:
        return f"{self.major:,} {self.currency}"


def total(amounts: Sequence[Money], currency: str) -> Money:
    """The sum of amounts in one currency (zero for none)."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
