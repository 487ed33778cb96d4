"""Page controllers of the web UI."""

from __future__ import annotations

from typing import Any

route_handlers: list[Any] = []
