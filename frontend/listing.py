"""Pages that list things a page at a time, most with a form beside them to add one more.

A refused form comes back on the same page (422) with what was typed and why it was refused, so one
``ListWithForm`` per page renders both the first visit and every refusal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import DEFAULT_PAGE_SIZE, Cursor, Limit
from app.core.pagination import MAX_LIMIT, Page
from frontend.forms import Form
from frontend.web import render


@dataclass(frozen=True)
class Window:
    """Which rows of a list to show: ``limit`` rows after ``cursor`` (the previous page's ``next_cursor``)."""

    cursor: str | None = None
    limit: int = DEFAULT_PAGE_SIZE


def provide_window(cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE) -> Window:
    """Dependency ``window``: the query parameters every list page takes."""
    return Window(cursor=cursor, limit=limit)


# A service's list call: ``(session, *, cursor, limit, **filters) -> Page``.
Lister = Callable[..., Awaitable[Page[Any]]]
# What a page shows besides its rows that depends on the rows (names of the tenants they mention, say).
PageContext = Callable[[Request[Any, Any, Any], AsyncSession, Page[Any]], Awaitable[Mapping[str, Any]]]


async def every_row(lister: Lister, session: AsyncSession, **filters: Any) -> list[Any]:
    """Every row of a list, a page at a time: for choices and summaries, which a page would cut short."""
    rows: list[Any] = []
    cursor = None
    while True:
        page = await lister(session, cursor=cursor, limit=MAX_LIMIT, **filters)
        rows += page.items
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor


def form_again(values: Mapping[str, Any], errors: Mapping[str, str], *, secrets: Iterable[str] = ("password",)) -> Form:
    """A refused form shown again: what was typed, except secrets (never sent back to the browser), and why."""
    hidden = set(secrets)
    return Form(values={key: value for key, value in values.items() if key not in hidden}, errors=dict(errors))


@dataclass(frozen=True)
class ListWithForm:
    """A list page: ``template`` gets ``page`` (from ``lister``), ``form`` (``blank()`` unless one is given) and
    ``context``; ``path`` is where the list lives, for redirects after a form is accepted."""

    path: str
    template: str
    lister: Lister
    blank: Callable[[], Form] = Form
    context: Mapping[str, Any] = field(default_factory=dict)
    page_context: PageContext | None = None

    async def render(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        window: Window | None = None,
        *,
        form: Form | None = None,
        code: int = 200,
        headers: dict[str, str] | None = None,
        filters: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> Response[Any]:
        window = window or Window()
        page = await self.lister(session, cursor=window.cursor, limit=window.limit, **(filters or {}))
        derived = await self.page_context(request, session, page) if self.page_context else {}
        return render(
            request,
            self.template,
            status=code,
            headers=headers,
            page=page,
            form=form or self.blank(),
            **{**self.context, **derived, **context},
        )

    async def refused(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        values: Mapping[str, Any],
        errors: Mapping[str, str],
        *,
        secrets: Iterable[str] = ("password",),
    ) -> Response[Any]:
        """The first page of the list again, with the refused form (422)."""
        return await self.render(request, session, form=form_again(values, errors, secrets=secrets), code=422)
