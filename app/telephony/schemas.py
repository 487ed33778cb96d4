"""Request and response structs for entry points and the operator's number registry."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from app.core.structs import Input, Output
from app.routing.schemas import AttributeValue
from app.telephony.models import DEFAULT_CLOSED_MESSAGE

Digit = Annotated[str, msgspec.Meta(pattern=r"^[0-9]$", description="a key of the phone's keypad, 0-9")]
EntryPointName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Spoken = Annotated[str, msgspec.Meta(max_length=1000, description="read to the caller by text-to-speech")]
ClosedMessage = Annotated[str, msgspec.Meta(min_length=1, max_length=1000, description="read to the caller")]
Attempts = Annotated[int, msgspec.Meta(ge=1, le=5, description="prompts before the call goes to the default queue")]
ClosedActionName = Literal["message", "callback"]


Prompt = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="what the caller hears for this option")]


class LanguageOption(Input):
    """Press ``digit`` for ``language``: the contact then needs an agent with that language (never relaxed).

    The prompt is said in that language, e.g. "Pour le français, tapez 2".
    """

    digit: Digit
    language: AttributeValue
    prompt: Prompt


class MenuOption(Input):
    """Press ``digit`` to reach ``queue_id`` (a voice queue of the tenant), e.g. "For billing, press 1"."""

    digit: Digit
    queue_id: uuid.UUID
    prompt: Prompt


LanguageOptions = Annotated[list[LanguageOption], msgspec.Meta(max_length=10)]
MenuOptions = Annotated[list[MenuOption], msgspec.Meta(max_length=10)]


class EntryPointCreate(Input):
    name: EntryPointName
    default_queue_id: uuid.UUID
    greeting: Spoken = ""
    language_options: LanguageOptions = msgspec.field(default_factory=list)
    menu_options: MenuOptions = msgspec.field(default_factory=list)
    max_attempts: Attempts = 3
    closed_action: ClosedActionName = "message"
    closed_message: ClosedMessage = DEFAULT_CLOSED_MESSAGE


class EntryPointUpdate(Input):
    """Only the fields given change."""

    name: EntryPointName | msgspec.UnsetType = msgspec.UNSET
    default_queue_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    greeting: Spoken | msgspec.UnsetType = msgspec.UNSET
    language_options: LanguageOptions | msgspec.UnsetType = msgspec.UNSET
    menu_options: MenuOptions | msgspec.UnsetType = msgspec.UNSET
    max_attempts: Attempts | msgspec.UnsetType = msgspec.UNSET
    closed_action: ClosedActionName | msgspec.UnsetType = msgspec.UNSET
    closed_message: ClosedMessage | msgspec.UnsetType = msgspec.UNSET


class LanguageOptionOut(Output):
    digit: str
    language: str
    prompt: str


class MenuOptionOut(Output):
    digit: str
    queue_id: uuid.UUID
    prompt: str


class EntryPointOut(Output):
    id: uuid.UUID
    name: str
    greeting: str
    language_options: list[LanguageOptionOut]
    menu_options: list[MenuOptionOut]
    default_queue_id: uuid.UUID
    max_attempts: int
    closed_action: str
    closed_message: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


Provider = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$", description="the carrier account, e.g. twilio")
]


class ProvisionedNumberCreate(Input):
    """The operator provisions one of its carrier numbers to a tenant, which may then map it."""

    number: Annotated[
        str,
        msgspec.Meta(
            min_length=3, max_length=40, description="E.164 (+442071838750); spaces, dashes and dots are allowed"
        ),
    ]
    tenant_id: uuid.UUID
    provider: Provider = "twilio"


class ProvisionedNumberOut(Output):
    id: uuid.UUID
    number: str
    tenant_id: uuid.UUID
    provider: str
    created_at: dt.datetime
