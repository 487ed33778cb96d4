"""Errors on pages are pages: sign-in for the anonymous, readable 403/404/... for everyone else.

The API keeps its problem+json answers: each of the application's exception handlers is wrapped so
that it still answers for API paths, and pages get HTML instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException

from app.core.errors import DomainError, TooManyRequestsError
from frontend.web import fragment, is_htmx, redirect, render, with_query

log = structlog.get_logger("tenline.frontend")

# Paths that belong to programs, not people: they keep the API's problem details.
NON_PAGE_PREFIXES = (
    "/api/",
    "/oauth/",
    "/schema",
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known/",
    "/vendor/",
    "/static/",
)

TITLES = {
    400: "That request did not make sense",
    403: "You don't have access to this page",
    404: "Page not found",
    405: "That doesn't work here",
    409: "That conflicts with the current state",
    413: "That was too large",
    422: "Some values were not accepted",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
EXPLANATIONS = {
    403: "Your role does not include this page. If you think it should, ask an administrator.",
    404: "There is nothing here, or it is not yours to see. Check the address, or go back home.",
    500: "An unexpected error occurred and has been logged. Try again in a moment.",
}

Handler = Callable[[Request[Any, Any, Any], Exception], Response[Any]]


def is_page(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith(NON_PAGE_PREFIXES)


def _status_and_detail(exc: Exception) -> tuple[int, str | None]:
    if isinstance(exc, DomainError):
        return int(exc.status), exc.detail
    if isinstance(exc, HTTPException):
        phrase = HTTPStatus(exc.status_code).phrase
        return exc.status_code, exc.detail if exc.detail and exc.detail != phrase else None
    return 500, None


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status, detail = _status_and_detail(exc)
    if status == 401:
        # Not signed in (or the session ended): sign in, then come back here.
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(request, with_query("/login", next=back if request.method == "GET" and back != "/" else None))
    if status >= 500:
        log.exception("error on a page", path=request.url.path, exc_info=exc)
        detail = None
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequestsError):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    context = {
        "code": status,
        "title": TITLES.get(status, HTTPStatus(status).phrase),
        "detail": detail,
        "explanation": EXPLANATIONS.get(status),
    }
    if is_htmx(request):
        # An htmx action failed: show the message in the page's alert area instead of the action's target.
        headers |= {"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML", "HX-Reselect": "unset"}
        return fragment(request, "partials/error_alert.html", status=status, headers=headers, **context)
    return render(request, "error.html", status=status, headers=headers, **context)


def page_exception_handlers(api_handlers: Mapping[type[Exception] | int, Handler]) -> dict[type[Exception] | int, Any]:
    """The application's handlers, answering pages with HTML and everything else as before."""

    def wrap(handler: Handler) -> Handler:
        def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
            if is_page(request):
                return error_page(request, exc)
            return handler(request, exc)

        return handle

    return {key: wrap(handler) for key, handler in api_handlers.items()}
