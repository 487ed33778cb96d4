"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import sqlalchemy as sa
from litestar import Response, get
from litestar.plugins.prometheus import PrometheusController

from app.core.db import get_database
from app.core.redis import get_redis
from app.core.structs import Output


class Health(Output):
    status: str
    checks: dict[str, str] = {}


@get("/healthz", tags=["ops"], summary="The process is alive", opt={"public": True}, sync_to_thread=False)
def healthz() -> Health:
    return Health(status="ok")


@get("/readyz", tags=["ops"], summary="PostgreSQL and Redis answer", opt={"public": True})
async def readyz() -> Response[Health]:
    checks: dict[str, str] = {}
    try:
        async with get_database().engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception as exc:  # readiness reports every failure, it never raises
        checks["postgres"] = f"error: {type(exc).__name__}"
    try:
        await get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return Response(Health(status="ok" if ready else "unavailable", checks=checks), status_code=200 if ready else 503)


class MetricsController(PrometheusController):
    path = "/metrics"
    openmetrics_format = False
