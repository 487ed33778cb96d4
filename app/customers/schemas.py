"""Requests and responses of /api/v1/customers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

from app.core.structs import Input, Output

ATTRIBUTES_MAX_BYTES = 8 * 1024
# It travels in a path (PUT /by-external-id/{external_id}), so no slash, space or percent sign.
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9._:@+=~-]{1,255}$"
EXTERNAL_ID_DESCRIPTION = "the CRM's id of the customer: 1 to 255 of A-Z a-z 0-9 . _ : @ + = ~ -"

ExternalId = Annotated[
    str,
    msgspec.Meta(pattern=EXTERNAL_ID_PATTERN, description=EXTERNAL_ID_DESCRIPTION, examples=["0015g00000XyZAbC"]),
]
CustomerName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Kari Nordmann"])]
# Loosely: something, an @, a domain with a dot; the CRM is the authority on its customers' addresses.
Email = Annotated[
    str,
    msgspec.Meta(
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="an email address, e.g. kari@example.no",
    ),
]
PhoneText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=40,
        description=(
            "a phone number, stored in E.164: +47 22 12 34 56, or (415) 555-0100 read in the country of the "
            "tenant's locale when it names one"
        ),
        examples=["+47 22 12 34 56"],
    ),
]
PhoneNumbers = Annotated[list[PhoneText], msgspec.Meta(max_length=10, description="at most 10 numbers")]
LanguageTag = Annotated[
    str,
    msgspec.Meta(
        max_length=35,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$",
        description="a BCP 47 language tag, e.g. nb, en-GB or zh-Hant-TW",
    ),
]
AttributeKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Attributes = Annotated[
    dict[AttributeKey, Any],
    msgspec.Meta(
        max_length=50,
        description=f"the CRM's extra fields: at most 50 keys and {ATTRIBUTES_MAX_BYTES // 1024} KiB as JSON",
        examples=[{"segment": "premium", "customer_since": 2019}],
    ),
]
CustomerSort = Literal["name", "-name", "updated_at", "-updated_at", "created_at", "-created_at"]


class CustomerReplace(Input):
    """A whole customer, as a CRM sends it to ``PUT /by-external-id/{external_id}``: what it omits is cleared."""

    name: CustomerName
    email: Email | None = None
    phone_numbers: PhoneNumbers = msgspec.field(default_factory=list)
    language: LanguageTag | None = None
    attributes: Attributes = msgspec.field(default_factory=dict)


class CustomerCreate(CustomerReplace):
    """A new customer; ``external_id`` (the CRM's id) is optional for customers entered in Tenline."""

    external_id: ExternalId | None = None


class CustomerUpdate(Input):
    """Only the fields given change; null clears an optional one."""

    external_id: ExternalId | msgspec.UnsetType | None = msgspec.UNSET
    name: CustomerName | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    phone_numbers: PhoneNumbers | msgspec.UnsetType = msgspec.UNSET
    language: LanguageTag | msgspec.UnsetType | None = msgspec.UNSET
    attributes: Attributes | msgspec.UnsetType = msgspec.UNSET


class CustomerOut(Output):
    id: uuid.UUID
    external_id: str | None
    name: str
    email: str | None
    phone_numbers: Annotated[list[str], msgspec.Meta(description="E.164, e.g. +4722123456")]
    language: str | None
    attributes: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerInteractionOut(Output):
    """One of the customer's contacts: a call from one of their numbers, as the router recorded it."""

    id: uuid.UUID
    queue_id: uuid.UUID
    channel: str
    state: str
    caller: str
    agent_id: uuid.UUID | None
    arrived_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    hold_seconds: float
    transfers: int
    disposition: str | None
