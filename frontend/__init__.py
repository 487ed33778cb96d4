"""The web UI: page controllers, Jinja templates and static assets.

The composition root calls three hooks: ``route_handlers()`` for the pages, ``configure_templates`` as
the Jinja engine callback, and ``exception_handlers(api_handlers)`` so that errors on pages render as
pages while API paths keep their problem details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def route_handlers() -> list[Any]:
    from frontend.controllers import route_handlers as handlers

    return list(handlers)


def configure_templates(engine: Any) -> None:
    from frontend.templating import configure

    configure(engine)


def exception_handlers(api_handlers: Mapping[Any, Any]) -> dict[Any, Any]:
    from frontend.errors import page_exception_handlers

    return page_exception_handlers(api_handlers)
