"""HTTP plumbing every domain's controllers share: the per-request transaction and query parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from litestar.params import QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import get_database
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT

API_PREFIX = "/api/v1"


async def provide_db_session() -> AsyncIterator[AsyncSession]:
    """One transaction per request, in the caller's tenant context; committed when the handler returns."""
    async with get_database().session() as session:
        yield session


Cursor = Annotated[
    str | None, QueryParameter(name="cursor", description="from the previous page's next_cursor", max_length=64)
]
Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT, description="page size")]
DEFAULT_PAGE_SIZE = DEFAULT_LIMIT
