"""Cursor pagination: opaque cursors over time-ordered UUIDv7 ids, stable under inserts."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec
import sqlalchemy as sa

from app.core.errors import FieldError, InvalidInputError

T = TypeVar("T")
# Any select, whatever its columns: paginate() hands back the type it was given (SQLModel's exec() needs it).
S = TypeVar("S", bound=sa.Select[*tuple[Any, ...]])

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (ValueError, TypeError):
        raise query_error("cursor", "not a cursor this API issued") from None


def query_error(field: str, message: str) -> InvalidInputError:
    return InvalidInputError(
        f"{field}: {message}",
        errors=[FieldError(field=field, message=message, source="query")],
    )


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise query_error("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def paginate(statement: S, id_column: Any, cursor: str | None, limit: int) -> S:
    """Newest first; fetches one extra row to know whether another page exists."""
    statement = statement.order_by(id_column.desc()).limit(check_limit(limit) + 1)
    if cursor:
        statement = statement.where(id_column < decode_cursor(cursor))
    return statement


def page_of(rows: Sequence[T], limit: int, id_of: Any) -> tuple[list[T], str | None]:
    items = list(rows[:limit])
    next_cursor = encode_cursor(id_of(items[-1])) if len(rows) > limit and items else None
    return items, next_cursor
