"""What every page handler shares: rendering inside the layout, redirects, flash messages, htmx detection."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect, Template

from app.core.tenancy import Principal
from frontend.layout import layout_of
from tenants.auth import csrf_token, session_data

FLASH = "flash"


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def principal_of(request: Request[Any, Any, Any]) -> Principal | None:
    """The signed-in principal, or None (also on the not-found page of a path no handler matched)."""
    principal = request.scope.get("user")
    return principal if isinstance(principal, Principal) else None


def people_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of every page: pages are for people; a program's bearer token is for the API."""
    principal = connection.scope.get("user")
    if isinstance(principal, Principal) and principal.kind != "user":
        raise PermissionDeniedException("pages are for people; programs use the API under /api/v1")


def person_of(principal: Principal) -> uuid.UUID:
    """The signed-in person's user id (pages are for people; programs have no pages)."""
    if principal.kind != "user" or principal.subject_id is None:
        raise NotAuthorizedException("sign in")
    return principal.subject_id


def acting_tenant(principal: Principal) -> uuid.UUID:
    """The tenant a tenant page is about (the guards already refused pages without one)."""
    if principal.tenant_id is None:
        raise PermissionDeniedException("choose a tenant to act for")
    return principal.tenant_id


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to after sign-in; anything else (another site) is ignored."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def with_query(path: str, **params: str | None) -> str:
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{path}?{query}" if query else path


def flash(request: Request[Any, Any, Any], message: str, kind: str = "success") -> None:
    """A message for the next page this browser shows (after a redirect)."""
    session = session_data(request.scope)
    request.set_session({**session, FLASH: [*session.get(FLASH, []), [kind, message]]})


def _take_flashes(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    session = session_data(request.scope)
    messages = session.get(FLASH)
    if not messages:
        return []
    request.set_session({key: value for key, value in session.items() if key != FLASH})
    return [(str(kind), str(message)) for kind, message in messages]


def render(request: Request[Any, Any, Any], template: str, **options: Any) -> Template:
    """A whole page: ``fragment`` (same ``status``, ``headers`` and context) with the pending flash messages."""
    return fragment(request, template, flashes=_take_flashes(request), **options)


def fragment(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """A template inside the layout: the frame and the CSRF token for its forms.

    On its own it is part of a page, for htmx to swap in (flash messages stay for the next full page).
    """
    return Template(
        template_name=template,
        context={"layout": layout_of(request.scope), "csrf": csrf_token(request), "path": request.url.path, **context},
        status_code=status,
        headers=headers,
    )


def redirect(request: Request[Any, Any, Any], path: str) -> Response[Any]:
    """See-other after a form post; htmx gets told to navigate instead of swapping the next page in."""
    if is_htmx(request):
        return Response(content=None, status_code=204, headers={"HX-Redirect": path})
    return Redirect(path=path, status_code=303)
