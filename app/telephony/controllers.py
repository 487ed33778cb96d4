"""HTTP for telephony: entry points and the number registry under /api/v1, and Twilio's signed webhooks.

The webhooks are not under /api/v1 and take no session or token: each request proves it comes from
Twilio by its signature (``app.telephony.twilio``), checked before a handler acts on it. They answer
TwiML, and problem details (not pages) when refused.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import DomainError, InvalidInputError, PermissionDeniedError, exception_handlers
from app.core.http import (
    API_PREFIX,
    DEFAULT_PAGE_SIZE,
    Cursor,
    IfMatch,
    Limit,
    TransactionController,
    if_match_version,
    provide_db_session,
    with_etag,
)
from app.core.pagination import Page
from app.core.redis import get_redis
from app.core.settings import Settings, get_settings
from app.core.tenancy import Principal
from app.telephony import schemas, service, twilio, twiml
from app.telephony.models import EntryPoint
from tenants.auth import requires
from tenants.permissions import Permission

VIEW_QUEUES = [requires(Permission.VIEW_QUEUES)]
MANAGE_QUEUES = [requires(Permission.MANAGE_QUEUES)]
VIEW_PROVISIONED_NUMBERS = [requires(Permission.VIEW_PROVISIONED_NUMBERS)]
PROVISION_NUMBERS = [requires(Permission.PROVISION_NUMBERS)]


def _with_etag(entry_point: EntryPoint, status_code: int = HTTP_200_OK) -> Response[schemas.EntryPointOut]:
    return with_etag(service.entry_point_out(entry_point), entry_point.version, status_code)


class EntryPointController(TransactionController):
    """The tenant's inbound programs: greeting, language choice, menu, default queue, closed behaviour."""

    path = f"{API_PREFIX}/entry-points"
    tags = ["telephony"]

    @get("/", guards=VIEW_QUEUES, summary="List the tenant's entry points")
    async def list_entry_points(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.EntryPointOut]:
        return await service.list_entry_points(session, cursor=cursor, limit=limit)

    @post("/", guards=MANAGE_QUEUES, summary="Create an entry point")
    async def create_entry_point(
        self, session: AsyncSession, data: schemas.EntryPointCreate
    ) -> Response[schemas.EntryPointOut]:
        return _with_etag(await service.create_entry_point(session, data), HTTP_201_CREATED)

    @get("/{entry_point_id:uuid}", guards=VIEW_QUEUES, summary="Get an entry point (its ETag is its version)")
    async def get_entry_point(
        self, session: AsyncSession, entry_point_id: uuid.UUID
    ) -> Response[schemas.EntryPointOut]:
        return _with_etag(await service.get_entry_point(session, entry_point_id))

    @patch("/{entry_point_id:uuid}", guards=MANAGE_QUEUES, summary="Change an entry point (If-Match: that version)")
    async def update_entry_point(
        self,
        session: AsyncSession,
        entry_point_id: uuid.UUID,
        data: schemas.EntryPointUpdate,
        if_match: IfMatch = None,
    ) -> Response[schemas.EntryPointOut]:
        entry_point = await service.update_entry_point(
            session, entry_point_id, data, if_match=if_match_version(if_match)
        )
        return _with_etag(entry_point)

    @delete(
        "/{entry_point_id:uuid}",
        guards=MANAGE_QUEUES,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an entry point no phone number sends calls to",
    )
    async def delete_entry_point(
        self, session: AsyncSession, entry_point_id: uuid.UUID, if_match: IfMatch = None
    ) -> None:
        await service.delete_entry_point(session, entry_point_id, if_match=if_match_version(if_match))


class ProvisionedNumberController(TransactionController):
    """The operator's carrier numbers and the tenant each is provisioned to (tenants read their own)."""

    path = f"{API_PREFIX}/provisioned-numbers"
    tags = ["telephony"]

    @get("/", guards=VIEW_PROVISIONED_NUMBERS, summary="List provisioned numbers (a tenant: its own)")
    async def list_provisioned_numbers(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        tenant_id: uuid.UUID | None = None,
    ) -> Page[schemas.ProvisionedNumberOut]:
        return await service.list_provisioned_numbers(
            session, request.user, cursor=cursor, limit=limit, tenant_id=tenant_id
        )

    @post("/", guards=PROVISION_NUMBERS, summary="Provision a carrier number to a tenant")
    async def provision_number(
        self, session: AsyncSession, data: schemas.ProvisionedNumberCreate
    ) -> schemas.ProvisionedNumberOut:
        return await service.provision_number(session, data)

    @get("/{provisioned_number_id:uuid}", guards=VIEW_PROVISIONED_NUMBERS, summary="Get a provisioned number")
    async def get_provisioned_number(
        self, request: Request[Principal, Any, Any], session: AsyncSession, provisioned_number_id: uuid.UUID
    ) -> schemas.ProvisionedNumberOut:
        return await service.get_provisioned_number(session, request.user, provisioned_number_id)

    @delete(
        "/{provisioned_number_id:uuid}",
        guards=PROVISION_NUMBERS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Release a number from its tenant (its mapping there goes too)",
    )
    async def release_number(
        self, request: Request[Principal, Any, Any], session: AsyncSession, provisioned_number_id: uuid.UUID
    ) -> None:
        await service.release_number(session, request.user, provisioned_number_id)


# --- Twilio's webhooks ---------------------------------------------------------------------------


class TelephonyNotConfigured(DomainError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    slug = "telephony-not-configured"


def _public_url(settings: Settings) -> str:
    """Where Twilio reaches this server (what it signs and what TwiML links to), without a trailing slash."""
    return (settings.public_url or settings.base_url).rstrip("/")


async def verified_call(request: Request[Any, Any, Any]) -> twilio.CallParams:
    """The webhook's parameters, once its signature checks out against the public URL Twilio called."""
    settings = get_settings()
    if settings.twilio_auth_token is None:
        raise TelephonyNotConfigured("Twilio is not configured here: set TENLINE_TWILIO_AUTH_TOKEN")
    form = await request.form()
    params = [(name, str(value)) for name, value in form.multi_items()]
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = _public_url(settings) + request.url.path + (f"?{query}" if query else "")
    signature = request.headers.get(twilio.SIGNATURE_HEADER)
    if not signature or not twilio.signature_valid(
        settings.twilio_auth_token.get_secret_value(), url, params, signature
    ):
        raise PermissionDeniedError(f"{twilio.SIGNATURE_HEADER} missing or not valid for this request")
    try:
        return msgspec.convert(dict(params), twilio.CallParams)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"not a Twilio voice webhook: {exc}") from None


def _voice(session: AsyncSession) -> twilio.TwilioVoice:
    settings = get_settings()
    return twilio.TwilioVoice(
        session,
        get_redis(),
        public_url=_public_url(settings),
        pool=settings.router_pool,
        hold_music_url=settings.twilio_hold_music_url,
    )


def _twiml(document: bytes) -> Response[bytes]:
    return Response(document, media_type=twiml.CONTENT_TYPE)


Digits = Annotated[str, Parameter(pattern=r"^[0-9]{0,20}$")]


class TwilioWebhookController(Controller):
    path = twilio.PATH
    include_in_schema = False
    opt = {"csrf_exempt": True}  # signed by Twilio; no session, no cookies
    dependencies = {"session": Provide(provide_db_session), "call": Provide(verified_call)}
    # Programs call these: problem details, not the web UI's error pages.
    exception_handlers = exception_handlers

    @post("/voice", status_code=HTTP_200_OK)
    async def voice(self, session: AsyncSession, call: twilio.CallParams) -> Response[bytes]:
        return _twiml(await _voice(session).inbound(call))

    @post("/gather", status_code=HTTP_200_OK)
    async def gather(
        self,
        session: AsyncSession,
        call: twilio.CallParams,
        step: twilio.Step,
        attempt: Annotated[int, Parameter(ge=1, le=10)],
        language: str | None = None,
        pressed: Digits = "",
    ) -> Response[bytes]:
        voice = _voice(session)
        return _twiml(await voice.gathered(call, step=step, attempt=attempt, language=language, pressed=pressed))

    @post("/callback", status_code=HTTP_200_OK)
    async def callback(self, session: AsyncSession, call: twilio.CallParams) -> Response[bytes]:
        return _twiml(await _voice(session).callback_choice(call))

    @post("/wait", status_code=HTTP_200_OK)
    async def wait(self, session: AsyncSession, call: twilio.CallParams) -> Response[bytes]:
        return _twiml(await _voice(session).wait(call))

    @post("/dequeued", status_code=HTTP_200_OK)
    async def dequeued(self, session: AsyncSession, call: twilio.CallParams) -> Response[bytes]:
        return _twiml(await _voice(session).dequeued(call))

    @post("/status", status_code=HTTP_200_OK)
    async def status(self, session: AsyncSession, call: twilio.CallParams) -> Response[bytes]:
        return _twiml(await _voice(session).status(call))


route_handlers = [EntryPointController, ProvisionedNumberController, TwilioWebhookController]
