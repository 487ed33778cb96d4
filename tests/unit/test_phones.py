"""Customers' phone numbers to E.164 (the pure normalisation, no database): formats, regions, refusals."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.core.phones import NEEDS_COUNTRY_CODE, InvalidPhoneNumber, normalise, region_of_locale

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
KINDS = (
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
)


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("+47 22 12 34 56", None, "+4722123456"),
        ("+47 22 12 34 56", "US", "+4722123456"),
        ("22 12 34 56", "NO", "+4722123456"),
        ("0047 22 12 34 56", "NO", "+4722123456"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("415.555.0100", "US", "+14155550100"),
        ("1-415-555-0100", "US", "+14155550100"),
        ("+1 (415) 555-0100", "NO", "+14155550100"),
        ("020 7183 8750", "GB", "+442071838750"),
        ("+44 (0)20 7183 8750", None, "+442071838750"),
        ("  +46 8 123 456 78 ", None, "+46812345678"),
    ],
)
def test_formats_people_type_become_e164(typed: str, region: str | None, e164: str) -> None:
    assert normalise(typed, region) == e164


@pytest.mark.parametrize(
    ("typed", "region", "message"),
    [
        ("", "NO", "enter a phone number"),
        ("22 12 34 56", None, NEEDS_COUNTRY_CODE),
        ("abc", "NO", "not a phone number"),
        ("+999 1234", None, "unknown country code"),
        ("+47 1234", None, "too short for a number in +47 (NO)"),
        ("+47 22 12 34 56 78", None, "too long for a number in +47 (NO)"),
        ("12345678901234567890", "NO", "too long to be a phone number"),
        # Read as Norwegian, a US number is too long: the message says how to write another country's number.
        (
            "(415) 555-0100",
            "NO",
            "too long for a number in +47 (NO); a number of another country starts with + and its country code",
        ),
        ("+1 555 123 4567", None, "not a valid number in +1 (US)"),
        ("+47 22 12 34 56 ext. 12", None, "extension 12 cannot be stored: give the number alone"),
    ],
)
def test_refusals_say_why(typed: str, region: str | None, message: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as refused:
        normalise(typed, region)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("locale", "region"),
    [
        ("nb-NO", "NO"),
        ("en-US", "US"),
        ("en_GB", "GB"),
        ("zh-Hant-TW", "TW"),
        ("de-DE-1996", "DE"),
        ("en", None),
        ("es-419", None),  # Latin America: no country, no numbering plan
        ("sr-Latn", None),
        ("en-XX", None),
        ("en-u-ca-gregory", None),  # "ca" is a calendar here, not Canada
    ],
)
def test_the_region_of_a_locale(locale: str, region: str | None) -> None:
    assert region_of_locale(locale) == region


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A valid number in E.164 and its region: a region's example number with its last digits drawn anew."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(KINDS)))
    assume(example is not None)
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    candidate = e164[:-3] + f"{draw(st.integers(0, 999)):03d}"
    assume(phonenumbers.is_valid_number(phonenumbers.parse(candidate)))
    return candidate, region


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


@SETTINGS
@given(number=valid_numbers(), default_region=st.none() | st.sampled_from(REGIONS))
def test_normalising_a_normalised_number_is_the_identity(number: tuple[str, str], default_region: str | None) -> None:
    e164, _ = number
    assert normalise(e164, default_region) == e164
    assert normalise(normalise(e164, default_region), None) == e164


@SETTINGS
@given(number=valid_numbers(), data=st.data())
def test_every_way_of_writing_a_number_gives_the_same_e164(number: tuple[str, str], data: st.DataObject) -> None:
    e164, region = number
    parsed = phonenumbers.parse(e164)
    international = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    assert normalise(international, None) == e164
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert normalise(national, region) == e164
    # Separators anywhere between the digits change nothing.
    separators = data.draw(st.lists(st.sampled_from(["", " ", "-", "."]), min_size=len(e164), max_size=len(e164)))
    spaced = "".join(char + sep for char, sep in zip(e164, separators, strict=True))
    assert normalise(spaced, None) == e164
