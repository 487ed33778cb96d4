"""From table rows to response structs, for every domain's services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec
from sqlmodel import SQLModel, select

StructT = TypeVar("StructT", bound=msgspec.Struct)


def to_struct(struct_type: type[StructT], row: object, **computed: Any) -> StructT:
    """The struct from the row's attributes of the same names; ``computed`` gives the fields it lacks."""
    if computed:
        row = {name: getattr(row, name) for name in struct_type.__struct_fields__ if name not in computed} | computed
    return msgspec.convert(row, struct_type, from_attributes=True)


def select_fields(struct_type: type[msgspec.Struct], model: type[SQLModel], **sources: str) -> Any:
    """A select of just the columns that fill ``struct_type`` (by name, or renamed in ``sources``).

    Lists read this way build no ORM objects, which is most of their cost; the session still scopes
    the select to the acting tenant like any other.
    """
    return select(*(getattr(model, sources.get(name, name)).label(name) for name in struct_type.__struct_fields__))


def structs_from_rows(struct_type: type[StructT], rows: Sequence[Any]) -> list[StructT]:
    """Structs from the rows of a ``select_fields`` query."""
    return [msgspec.convert(row._asdict(), struct_type) for row in rows]
