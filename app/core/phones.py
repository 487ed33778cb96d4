"""Phone numbers in E.164, from what people and CRMs type: pure, no I/O.

A number written without its country code is read in the tenant's country (the region of its locale,
``nb-NO`` -> NO); a tenant whose locale names no country gets only numbers that start with ``+``. The
refusals say what is wrong in words a person can act on, since they end up next to a form field.
"""

from __future__ import annotations

import phonenumbers

# Why phonenumbers refused to parse, in words (NumberParseException.error_type).
_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short to be a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short to be a phone number",
    phonenumbers.NumberParseException.TOO_LONG: "too long to be a phone number",
}
# Why a parsed number cannot be one (ValidationResult of is_possible_number_with_reason).
_LENGTH_ERRORS = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short for a number in {country}",
    phonenumbers.ValidationResult.TOO_LONG: "too long for a number in {country}",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong number of digits for a number in {country}",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}
NEEDS_COUNTRY_CODE = "must start with + and the country code, e.g. +47 22 12 34 56"
OTHER_COUNTRY_HINT = "; a number of another country starts with + and its country code"


class InvalidPhoneNumber(ValueError):
    """The text is not a phone number that can be stored; ``str()`` says why, to the person who typed it."""


def region_of_locale(locale: str) -> str | None:
    """The country of a BCP 47 locale (``nb-NO`` -> ``NO``, ``zh-Hant-TW`` -> ``TW``), or None when it names
    none that has phone numbers (``en``, ``es-419``)."""
    for subtag in locale.replace("_", "-").split("-")[1:]:
        if len(subtag) == 1:  # an extension (-u-ca-...) or private use (-x-...) follows: no region before it
            return None
        if len(subtag) == 2 and subtag.isalpha():
            region = subtag.upper()
            return region if region in phonenumbers.SUPPORTED_REGIONS else None
    return None


def _country(number: phonenumbers.PhoneNumber) -> str:
    """The number's country as people can check it: ``+47 (NO)``."""
    code = number.country_code or 0  # parse() always sets it; the type allows None
    region = phonenumbers.region_code_for_country_code(code)
    return f"+{code} ({region})" if region != phonenumbers.UNKNOWN_REGION else f"+{code}"


def normalise(text: str, default_region: str | None) -> str:
    """``text`` as an E.164 number (``+4722123456``); raises InvalidPhoneNumber saying why it is not one.

    ``default_region`` (ISO 3166 alpha-2) is the country of numbers written without ``+`` and a country code;
    None: such numbers are refused.
    """
    text = text.strip()
    if not text:
        raise InvalidPhoneNumber("enter a phone number")
    if default_region is None and not text.startswith("+"):
        raise InvalidPhoneNumber(NEEDS_COUNTRY_CODE)
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(_PARSE_ERRORS.get(exc.error_type, "not a phone number")) from None
    if number.extension:
        raise InvalidPhoneNumber(f"extension {number.extension} cannot be stored: give the number alone")
    # A national number read in the tenant's country may well have been meant for another one.
    hint = OTHER_COUNTRY_HINT if not text.startswith("+") else ""
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason in _LENGTH_ERRORS:
        raise InvalidPhoneNumber(_LENGTH_ERRORS[reason].format(country=_country(number)) + hint)
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"not a valid number in {_country(number)}{hint}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
