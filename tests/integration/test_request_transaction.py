"""One transaction per request: committed before a success response starts, rolled back on an error response."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from litestar import Litestar, Request, post
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.testing import AsyncTestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import get_database
from app.core.errors import exception_handlers
from app.core.http import provide_db_session, request_transaction_middleware
from app.core.outbox import emit
from app.core.tenancy import Principal, acting_as, set_principal
from tests.factories import make_tenant


def _app() -> Litestar:
    def as_tenant(app: Any) -> Any:
        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            set_principal(Principal(kind="system", tenant_id=uuid.UUID(dict(scope["headers"])[b"x-tenant"].decode())))
            await app(scope, receive, send)

        return middleware

    @post("/write/{status:int}", dependencies={"session": Provide(provide_db_session)})
    async def write(request: Request[Any, Any, Any], session: AsyncSession, status: int) -> dict[str, str]:
        event_id = await emit(session, "test.request_transaction", {"status": status})
        if status >= 400:
            raise HTTPException(status_code=status, detail=str(event_id))
        return {"event_id": str(event_id)}

    return Litestar(
        [write], middleware=[request_transaction_middleware, as_tenant], exception_handlers=exception_handlers
    )


async def _outbox_count(tenant_id: uuid.UUID) -> int:
    with acting_as(Principal(kind="system", tenant_id=tenant_id)):
        async with get_database().session() as session:
            result = await session.execute(
                sa.text("SELECT count(*) FROM outbox WHERE topic = 'test.request_transaction'")
            )
            return int(result.scalar_one())


async def test_success_commits_and_error_rolls_back() -> None:
    tenant = await make_tenant("reqtx")
    async with AsyncTestClient(_app()) as client:
        ok = await client.post("/write/201", headers={"x-tenant": str(tenant.id)})
        assert ok.status_code == 201
        assert await _outbox_count(tenant.id) == 1
        refused = await client.post("/write/409", headers={"x-tenant": str(tenant.id)})
        assert refused.status_code == 409
        assert await _outbox_count(tenant.id) == 1
