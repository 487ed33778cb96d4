"""Filters and globals the templates use."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import jinja2
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine

from frontend.layout import ROLE_LABELS
from tenants.permissions import Permission, allowed


def when(value: dt.datetime | None) -> str:
    """A timestamp people read: UTC, to the second (the audit log's clock)."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def at_time(epoch: float | None) -> str:
    """A moment of today's live state (epoch seconds, as the router publishes it): the time of day, UTC."""
    if not epoch:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S UTC")


def role_name(value: str | None) -> str:
    return ROLE_LABELS.get(value or "", value or "")


def sentence(value: str) -> str:
    """A service's message ("no such tenant") as a sentence ("No such tenant.")."""
    value = value.strip()
    if not value:
        return value
    value = value[0].upper() + value[1:]
    return value if value.endswith((".", "!", "?")) else value + "."


def page_url(request: Request[Any, Any, Any], **changes: Any) -> str:
    """This page's address with some query parameters changed (None drops one): for pagers and filters."""
    params = {key: value for key, value in request.query_params.items() if key not in changes}
    params |= {key: str(value) for key, value in changes.items() if value is not None and value != ""}
    return request.url.path + (f"?{urlencode(params)}" if params else "")


def configure(engine: Any) -> None:
    if not isinstance(engine, JinjaTemplateEngine):
        raise TypeError("the web UI's templates are Jinja templates")
    environment = engine.engine
    environment.filters["when"] = when
    environment.filters["at_time"] = at_time
    environment.filters["role_name"] = role_name
    environment.filters["sentence"] = sentence
    environment.globals["page_url"] = page_url
    environment.globals["allowed"] = allowed
    environment.globals["Permission"] = Permission
    # Undefined names in a template are bugs; fail loudly instead of rendering blanks.
    environment.undefined = jinja2.StrictUndefined
