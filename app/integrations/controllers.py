"""HTTP API for the acting tenant's webhook endpoints and their deliveries (/api/v1/webhook-endpoints) and its CRM
lookup (/api/v1/crm-lookup)."""

from __future__ import annotations

import uuid

from litestar import delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import (
    API_PREFIX,
    DEFAULT_PAGE_SIZE,
    Cursor,
    IfMatch,
    Limit,
    TransactionController,
    if_match_version,
    with_etag,
)
from app.core.pagination import Page
from app.integrations import crm, schemas, service
from app.integrations.models import WebhookEndpoint
from tenants.auth import requires
from tenants.permissions import Permission

VIEW = [requires(Permission.VIEW_WEBHOOKS)]
MANAGE = [requires(Permission.MANAGE_WEBHOOKS)]


def _with_etag(endpoint: WebhookEndpoint) -> Response[schemas.EndpointOut]:
    return with_etag(service.endpoint_out(endpoint), endpoint.version)


class WebhookEndpointController(TransactionController):
    path = f"{API_PREFIX}/webhook-endpoints"
    tags = ["webhooks"]

    @get("/", guards=VIEW, summary="List the tenant's webhook endpoints")
    async def list_endpoints(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.EndpointOut]:
        return await service.list_endpoints(session, cursor=cursor, limit=limit)

    @post(
        "/",
        guards=MANAGE,
        status_code=HTTP_201_CREATED,
        summary="Register a webhook endpoint",
        description="The signing secret is in this answer only. The URL must resolve to public addresses.",
    )
    async def create_endpoint(
        self, session: AsyncSession, data: schemas.EndpointCreate
    ) -> Response[schemas.EndpointWithSecret]:
        created = await service.create_endpoint(session, data)
        return with_etag(created, created.version, HTTP_201_CREATED)

    @get("/{endpoint_id:uuid}", guards=VIEW, summary="Get a webhook endpoint")
    async def get_endpoint(self, session: AsyncSession, endpoint_id: uuid.UUID) -> Response[schemas.EndpointOut]:
        return _with_etag(await service.get_endpoint(session, endpoint_id))

    @patch(
        "/{endpoint_id:uuid}",
        guards=MANAGE,
        summary="Change a webhook endpoint",
        description="Enabling an endpoint Tenline disabled after sustained failure starts it afresh.",
    )
    async def update_endpoint(
        self, session: AsyncSession, endpoint_id: uuid.UUID, data: schemas.EndpointUpdate, if_match: IfMatch = None
    ) -> Response[schemas.EndpointOut]:
        return _with_etag(
            await service.update_endpoint(session, endpoint_id, data, if_match=if_match_version(if_match))
        )

    @delete("/{endpoint_id:uuid}", guards=MANAGE, status_code=HTTP_204_NO_CONTENT, summary="Delete a webhook endpoint")
    async def delete_endpoint(self, session: AsyncSession, endpoint_id: uuid.UUID, if_match: IfMatch = None) -> None:
        await service.delete_endpoint(session, endpoint_id, if_match=if_match_version(if_match))

    @post(
        "/{endpoint_id:uuid}/rotate-secret",
        guards=MANAGE,
        status_code=HTTP_201_CREATED,
        summary="Make a new signing secret",
        description="The previous secret also signs every delivery for overlap_seconds, then stops.",
    )
    async def rotate_secret(
        self, session: AsyncSession, endpoint_id: uuid.UUID, data: schemas.SecretRotate, if_match: IfMatch = None
    ) -> Response[schemas.EndpointWithSecret]:
        rotated = await service.rotate_secret(session, endpoint_id, data, if_match=if_match_version(if_match))
        return with_etag(rotated, rotated.version, HTTP_201_CREATED)

    @get("/{endpoint_id:uuid}/deliveries", guards=VIEW, summary="The endpoint's deliveries, with request and response")
    async def list_deliveries(
        self, session: AsyncSession, endpoint_id: uuid.UUID, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.DeliveryOut]:
        return await service.list_deliveries(session, endpoint_id, cursor=cursor, limit=limit)

    @get("/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}", guards=VIEW, summary="Get a delivery")
    async def get_delivery(
        self, session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> schemas.DeliveryOut:
        return service.delivery_out(await service.get_delivery(session, endpoint_id, delivery_id))

    @post(
        "/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/replay",
        guards=MANAGE,
        status_code=HTTP_202_ACCEPTED,
        summary="Send a delivery again (same webhook-id)",
    )
    async def replay_delivery(
        self, session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> schemas.DeliveryOut:
        return service.delivery_out(await service.replay_delivery(session, endpoint_id, delivery_id))


class CrmLookupController(TransactionController):
    """The tenant's CRM lookup (screen pop); the webhooks:read and webhooks:write scopes cover it."""

    path = f"{API_PREFIX}/crm-lookup"
    tags = ["crm lookup"]

    @get(
        "/",
        guards=VIEW,
        summary="Get the CRM lookup",
        description="Where the agent desktop looks the caller up when a contact is offered. 404 until set up.",
    )
    async def get_crm_lookup(self, session: AsyncSession) -> Response[schemas.CrmLookupOut]:
        row = await crm.get_setting(session)
        return with_etag(crm.settings_out(row), row.version)

    @put(
        "/",
        guards=MANAGE,
        summary="Set up or change the CRM lookup",
        description=(
            "Setting it up answers 201 with the signing secret (a whsec_ key, shown this once); a change answers "
            "200 with secret null. The URL must resolve to public addresses. Tenline POSTs "
            '{"type": "crm.lookup", "timestamp", "data": {"interaction_id", "caller", "queue_id", "queue_name", '
            '"ivr"}} signed with the Standard Webhooks headers, and shows the JSON object answered (at most 16 KiB): '
            '"title", "url" (http or https) and up to 20 "fields" (label to text, number or true/false).'
        ),
        responses={
            HTTP_201_CREATED: ResponseSpec(
                data_container=schemas.CrmLookupSaved, description="Set up: the answer carries the signing secret"
            )
        },
    )
    async def put_crm_lookup(
        self, session: AsyncSession, data: schemas.CrmLookupPut, if_match: IfMatch = None
    ) -> Response[schemas.CrmLookupSaved]:
        saved = await crm.put_setting(session, data, if_match=if_match_version(if_match))
        return with_etag(saved, saved.version, HTTP_201_CREATED if saved.secret else HTTP_200_OK)

    @post(
        "/rotate-secret",
        guards=MANAGE,
        status_code=HTTP_201_CREATED,
        summary="Make a new signing secret for the CRM lookup",
        description="The previous secret also signs every lookup for overlap_seconds, then stops.",
    )
    async def rotate_crm_lookup_secret(
        self, session: AsyncSession, data: schemas.SecretRotate, if_match: IfMatch = None
    ) -> Response[schemas.CrmLookupWithSecret]:
        rotated = await crm.rotate_secret(session, data, if_match=if_match_version(if_match))
        return with_etag(rotated, rotated.version, HTTP_201_CREATED)

    @delete("/", guards=MANAGE, status_code=HTTP_204_NO_CONTENT, summary="Remove the CRM lookup")
    async def delete_crm_lookup(self, session: AsyncSession, if_match: IfMatch = None) -> None:
        await crm.delete_setting(session, if_match=if_match_version(if_match))


route_handlers = [WebhookEndpointController, CrmLookupController]
