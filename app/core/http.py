"""HTTP plumbing every domain's controllers share: the per-request transaction and query parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from litestar import Controller, Request, Response
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import HeaderParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import get_database
from app.core.errors import InvalidInputError
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT

T = TypeVar("T")

API_PREFIX = "/api/v1"


REQUEST_SESSION = "tenline.db_session"


def request_session(scope: Scope) -> AsyncSession | None:
    session = scope.get("state", {}).get(REQUEST_SESSION)
    return session if isinstance(session, AsyncSession) else None


def request_transaction_middleware(app: ASGIApp) -> ASGIApp:
    """One database transaction per HTTP request, shared by authentication and the handler.

    The session connects on its first query (a request that needs no data costs nothing). It commits
    just before the response starts when the status is below 400, and rolls back otherwise, so a client
    never sees success for a change that was not committed.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        async with get_database().sessionmaker() as session:
            scope.setdefault("state", {})[REQUEST_SESSION] = session

            async def send_after_commit(message: Message) -> None:
                if message["type"] == "http.response.start" and session.in_transaction():
                    if message["status"] < 400:
                        await session.commit()
                    else:
                        await session.rollback()
                await send(message)

            await app(scope, receive, send_after_commit)

    return middleware


async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """The request's transaction, in the caller's tenant context (see ``request_transaction_middleware``)."""
    session = request_session(request.scope)
    if session is not None:
        yield session
        return
    async with get_database().session() as own:
        yield own


# A sorted page's cursor carries the last row's sort value (a timestamp, a name), not only its id.
Cursor = Annotated[
    str | None, QueryParameter(name="cursor", description="from the previous page's next_cursor", max_length=2048)
]
Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT, description="page size")]
DEFAULT_PAGE_SIZE = DEFAULT_LIMIT

# Optimistic concurrency: a resource's version travels as its ETag and comes back in If-Match.
IfMatch = Annotated[
    str | None, HeaderParameter(name="If-Match", description="the object's version, as its ETag gives it")
]


def etag(version: int) -> str:
    return f'"{version}"'


def with_etag(body: T, version: int, status_code: int = HTTP_200_OK, *, location: str | None = None) -> Response[T]:
    """A versioned resource's response: its body with its version as the ETag; a created one (201) also says
    where it lives (``location``)."""
    headers = {"ETag": etag(version)}
    if location is not None and status_code == HTTP_201_CREATED:
        headers["Location"] = location
    return Response(body, status_code=status_code, headers=headers)


class TransactionController(Controller):
    """Controllers whose handlers take the request's database transaction as ``session``."""

    dependencies = {"session": Provide(provide_db_session)}


def if_match_version(value: str | None) -> int | None:
    """The version an If-Match header names (None: no header, the change is unconditional)."""
    if value is None:
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise InvalidInputError.for_field("If-Match", 'must be an ETag this API issued, e.g. "3"') from None


def attachment(content: bytes, media_type: str, filename: str) -> Response[bytes]:
    """A file to download, named in Content-Disposition."""
    return Response(
        content=content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def file_operation(*media_types: str, description: str = "the file, as an attachment") -> type[Operation]:
    """OpenAPI for an operation answering with a file (``attachment``) in one of ``media_types``, not JSON."""

    @dataclass
    class FileOperation(Operation):
        def __post_init__(self) -> None:
            binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
            self.responses = {
                **(self.responses or {}),
                "200": OpenAPIResponse(
                    description=description, content={media: OpenAPIMediaType(schema=binary) for media in media_types}
                ),
            }

    return FileOperation
