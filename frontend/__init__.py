"""The web UI: page controllers, Jinja templates and static assets."""

from __future__ import annotations

from typing import Any


def route_handlers() -> list[Any]:
    from frontend.controllers import route_handlers as handlers

    return list(handlers)
