"""HTTP API for the acting tenant's webhook endpoints and their deliveries under /api/v1/webhook-endpoints."""

from __future__ import annotations

import uuid

from litestar import delete, get, patch, post
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import API_PREFIX, DEFAULT_PAGE_SIZE, Cursor, Limit, TransactionController
from app.core.pagination import Page
from app.integrations import schemas, service
from tenants.auth import requires
from tenants.permissions import Permission

VIEW = [requires(Permission.VIEW_WEBHOOKS)]
MANAGE = [requires(Permission.MANAGE_WEBHOOKS)]


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
    async def create_endpoint(self, session: AsyncSession, data: schemas.EndpointCreate) -> schemas.EndpointWithSecret:
        return await service.create_endpoint(session, data)

    @get("/{endpoint_id:uuid}", guards=VIEW, summary="Get a webhook endpoint")
    async def get_endpoint(self, session: AsyncSession, endpoint_id: uuid.UUID) -> schemas.EndpointOut:
        return service.endpoint_out(await service.get_endpoint(session, endpoint_id))

    @patch(
        "/{endpoint_id:uuid}",
        guards=MANAGE,
        summary="Change a webhook endpoint",
        description="Enabling an endpoint Tenline disabled after sustained failure starts it afresh.",
    )
    async def update_endpoint(
        self, session: AsyncSession, endpoint_id: uuid.UUID, data: schemas.EndpointUpdate
    ) -> schemas.EndpointOut:
        return service.endpoint_out(await service.update_endpoint(session, endpoint_id, data))

    @delete("/{endpoint_id:uuid}", guards=MANAGE, status_code=HTTP_204_NO_CONTENT, summary="Delete a webhook endpoint")
    async def delete_endpoint(self, session: AsyncSession, endpoint_id: uuid.UUID) -> None:
        await service.delete_endpoint(session, endpoint_id)

    @post(
        "/{endpoint_id:uuid}/rotate-secret",
        guards=MANAGE,
        status_code=HTTP_201_CREATED,
        summary="Make a new signing secret",
        description="The previous secret also signs every delivery for overlap_seconds, then stops.",
    )
    async def rotate_secret(
        self, session: AsyncSession, endpoint_id: uuid.UUID, data: schemas.SecretRotate
    ) -> schemas.EndpointWithSecret:
        return await service.rotate_secret(session, endpoint_id, data)

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


route_handlers = [WebhookEndpointController]
