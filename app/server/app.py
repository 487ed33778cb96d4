"""The composition root: builds the Litestar application from every domain's controllers."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.prometheus import PrometheusConfig
from litestar.static_files import create_static_files_router
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis

import frontend
from app.core.api_rate_limit import api_rate_limit_middleware, rate_limit_headers
from app.core.broker import configure_broker
from app.core.db import configure_database, get_database
from app.core.errors import exception_handlers
from app.core.http import request_transaction_middleware
from app.core.idempotency import idempotency_middleware
from app.core.logging import configure_logging, echo_request_id, request_id_middleware
from app.core.ratelimit import configure_rate_limits
from app.core.redis import configure_redis
from app.core.settings import Settings, get_settings
from app.customers import controllers as customers_controllers
from app.integrations import controllers as integrations_controllers
from app.reporting import controllers as reporting_controllers
from app.routing import controllers as routing_controllers
from app.routing.callbacks import controllers as callbacks_controllers
from app.server.health import MetricsController, healthz, readyz
from app.server.openapi import document_api
from app.sla import controllers as sla_controllers
from app.telephony import controllers as telephony_controllers
from app.workforce import controllers as workforce_controllers
from billing import controllers as billing_controllers
from billing import dunning_controllers, invoice_controllers, margin_controllers
from billing.stripe import controllers as stripe_controllers
from tenants import controllers as tenant_controllers
from tenants import oauth2, sso
from tenants.auth import SESSION_COOKIE, authentication_middleware, check_csrf
from tenants.sessions import SessionConfig

FRONTEND = Path(frontend.__file__).parent
VENDOR = FRONTEND / "node_modules"


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("TENLINE_DATABASE_URL and TENLINE_REDIS_URL must be set (`tenline up` sets them for you)")
    configure_logging(settings.log_level, json=settings.log_json)
    redis = Redis.from_url(settings.redis_url)

    async def startup() -> None:
        configure_database(settings.database_url or "", pool_size=settings.db_pool_size)
        configure_redis(settings.redis_url or "", redis)
        configure_rate_limits(settings.redis_url or "")
        # The web enqueues jobs (through the outbox mostly, directly for interactive work).
        configure_broker(settings)

    session_config = SessionConfig(
        key=SESSION_COOKIE,
        max_age=settings.session_ttl_seconds,
        secure=settings.base_url.startswith("https://"),
        samesite="lax",
        httponly=True,
        renew_on_access=True,
    )
    prometheus = PrometheusConfig(app_name="tenline", group_path=True, exclude=["/metrics", "/static"])

    async def shutdown() -> None:
        await get_database().dispose()
        await redis.aclose()

    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            MetricsController,
            *tenant_controllers.route_handlers,
            *routing_controllers.route_handlers,
            *callbacks_controllers.route_handlers,
            *reporting_controllers.route_handlers,
            *telephony_controllers.route_handlers,
            *workforce_controllers.route_handlers,
            *sla_controllers.route_handlers,
            *integrations_controllers.route_handlers,
            *customers_controllers.route_handlers,
            *billing_controllers.route_handlers,
            *dunning_controllers.route_handlers,
            *invoice_controllers.route_handlers,
            *margin_controllers.route_handlers,
            *stripe_controllers.route_handlers,
            *sso.route_handlers,
            *oauth2.route_handlers,
            *frontend.route_handlers(),
            create_static_files_router(
                path="/static", directories=[FRONTEND / "static"], opt={"public": True}, include_in_schema=False
            ),
            create_static_files_router(
                path="/vendor", directories=[VENDOR], opt={"public": True}, include_in_schema=False
            ),
        ],
        middleware=[
            request_id_middleware,
            prometheus.middleware,
            session_config.middleware,
            request_transaction_middleware,
            authentication_middleware,
            # Both need the caller; a replayed POST still counts against the limit, and a 429 keeps no key.
            # Idempotency sits inside the transaction, so what it keeps was committed.
            api_rate_limit_middleware,
            idempotency_middleware,
        ],
        before_request=check_csrf,
        before_send=[echo_request_id, rate_limit_headers],
        # Pages answer errors with HTML pages; API paths keep problem details.
        exception_handlers=frontend.exception_handlers(exception_handlers),
        stores={"sessions": RedisStore(redis, namespace="tenline-sessions")},
        template_config=TemplateConfig(
            directory=FRONTEND / "templates", engine=JinjaTemplateEngine, engine_callback=frontend.configure_templates
        ),
        openapi_config=OpenAPIConfig(
            title="Tenline API",
            version="1",
            path="/schema",
            description="The tenant API of Tenline. Programs authenticate with OAuth2 client credentials "
            "(POST /oauth/token) and send `Authorization: Bearer <token>`. Errors are RFC 9457 problem details.",
            render_plugins=[
                SwaggerRenderPlugin(
                    path="/",
                    js_url="/vendor/swagger-ui-dist/swagger-ui-bundle.js",
                    css_url="/vendor/swagger-ui-dist/swagger-ui.css",
                    standalone_preset_js_url="/vendor/swagger-ui-dist/swagger-ui-standalone-preset.js",
                )
            ],
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024),
        request_max_body_size=settings.max_request_body_bytes,
        on_startup=[startup, document_api],
        on_shutdown=[shutdown],
        debug=False,
    )
