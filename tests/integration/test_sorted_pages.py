"""Keyset pages in a chosen order: every row once, in order, across pages, with ties on the sort column."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import col, select

from app.core.db import get_database
from app.core.errors import InvalidInputError
from app.core.pagination import paginate_sorted, sort_orders, sorted_page_of
from app.core.tenancy import acting_as
from app.routing.models import Queue
from tests.factories import OPERATOR, make_tenant

ORDERS = sort_orders(priority=col(Queue.priority), created_at=col(Queue.created_at), name=col(Queue.name))
START = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


async def _pages(order_name: str, limit: int) -> list[str]:
    order = ORDERS[order_name]
    names: list[str] = []
    cursor: str | None = None
    while True:
        async with get_database().session() as session:
            statement = paginate_sorted(select(Queue), order, col(Queue.id), cursor, limit)
            rows = (await session.exec(statement)).all()
        items, cursor = sorted_page_of(rows, limit, order, lambda q: (getattr(q, order.name.lstrip("-")), q.id))
        names += [q.name for q in items]
        if cursor is None:
            return names


@pytest.fixture
async def queues() -> list[Queue]:
    tenant = await make_tenant("sorted")
    made = []
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            # Priorities repeat and creation times tie, so the id must break ties for paging to be exact.
            for n, priority in enumerate([3, 1, 2, 3, 1, 3, 2, 1, 3]):
                queue = Queue(name=f"q{n}", priority=priority, created_at=START + dt.timedelta(minutes=n // 2))
                session.add(queue)
                made.append(queue)
            await session.commit()
    return made


@pytest.mark.parametrize("order_name", ["priority", "-priority", "created_at", "-created_at", "name", "-name"])
@pytest.mark.parametrize("limit", [1, 2, 4, 20])
async def test_pages_give_every_row_once_in_order(queues: list[Queue], order_name: str, limit: int) -> None:
    order = ORDERS[order_name]
    column = order_name.lstrip("-")
    expected = sorted(queues, key=lambda q: (getattr(q, column), q.id), reverse=order.descending)
    with acting_as(OPERATOR.acting_for(queues[0].tenant_id)):
        assert await _pages(order_name, limit) == [q.name for q in expected]


async def test_a_cursor_of_another_order_or_forged_is_refused(queues: list[Queue]) -> None:
    with acting_as(OPERATOR.acting_for(queues[0].tenant_id)):
        async with get_database().session() as session:
            rows = (await session.exec(paginate_sorted(select(Queue), ORDERS["name"], col(Queue.id), None, 2))).all()
        _, cursor = sorted_page_of(rows, 2, ORDERS["name"], lambda q: (q.name, q.id))
        assert cursor is not None
        with pytest.raises(InvalidInputError, match="keep the sort while paging"):
            paginate_sorted(select(Queue), ORDERS["-priority"], col(Queue.id), cursor, 2)
        for forged in ("not-a-cursor", "WyJuYW1lIiwxXQ", cursor[:-3]):
            with pytest.raises(InvalidInputError, match="cursor"):
                paginate_sorted(select(Queue), ORDERS["name"], col(Queue.id), forged, 2)
