"""Cursor pagination: opaque cursors over time-ordered UUIDv7 ids, stable under inserts; and keyset pages in a
chosen order (``sort=-updated_at``), whose cursors carry the last row's sort value and id."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SortOrder:
    """A list's order as the API names it ("name", "-updated_at"): one column, ties broken by id the same way."""

    name: str
    column: Any
    descending: bool

    def order_by(self, id_column: Any) -> tuple[Any, Any]:
        if self.descending:
            return self.column.desc(), id_column.desc()
        return self.column.asc(), id_column.asc()

    def after(self, id_column: Any, value: Any, last_id: uuid.UUID) -> Any:
        """Rows past (value, last_id) in this order: one row comparison, so an index on (column, id) serves it."""
        key = sa.tuple_(self.column, id_column)
        bound = sa.tuple_(sa.literal(value, self.column.type), sa.literal(last_id, id_column.type))
        return key < bound if self.descending else key > bound


def sort_orders(**columns: Any) -> dict[str, SortOrder]:
    """Both directions of each sortable column (NOT NULL columns only: keyset paging cannot order NULLs)."""
    orders: dict[str, SortOrder] = {}
    for name, column in columns.items():
        orders[name] = SortOrder(name, column, descending=False)
        orders[f"-{name}"] = SortOrder(f"-{name}", column, descending=True)
    return orders


def paginate_sorted(statement: S, order: SortOrder, id_column: Any, cursor: str | None, limit: int) -> S:
    """``statement`` in ``order``, from where ``cursor`` left off; one extra row tells whether more follow."""
    statement = statement.order_by(*order.order_by(id_column)).limit(check_limit(limit) + 1)
    if cursor:
        value, last_id = _decode_sorted_cursor(cursor, order)
        statement = statement.where(order.after(id_column, value, last_id))
    return statement


def sorted_page_of(
    rows: Sequence[T], limit: int, order: SortOrder, key_of: Callable[[T], tuple[Any, uuid.UUID]]
) -> tuple[list[T], str | None]:
    """The page and the cursor after its last row; ``key_of`` gives a row's (sort value, id)."""
    items = list(rows[:limit])
    if len(rows) <= limit or not items:
        return items, None
    value, last_id = key_of(items[-1])
    return items, _encode_sorted_cursor(order, value, last_id)


def _encode_sorted_cursor(order: SortOrder, value: Any, last_id: uuid.UUID) -> str:
    raw = msgspec.json.encode([order.name, value, str(last_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_sorted_cursor(cursor: str, order: SortOrder) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, value, last_id = msgspec.json.decode(raw, type=tuple[str, Any, str])
        if name != order.name:
            raise query_error("cursor", f"was issued for sort={name}; keep the sort while paging")
        return msgspec.convert(value, order.column.type.python_type, strict=False), uuid.UUID(last_id)
    except (ValueError, TypeError, msgspec.DecodeError, msgspec.ValidationError, NotImplementedError):
        raise query_error("cursor", "not a cursor this API issued") from None
