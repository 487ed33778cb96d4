"""msgspec base structs for every request, response and job payload."""

from __future__ import annotations

import msgspec


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies: an unknown field is an error naming it, never silently dropped."""


class Output(msgspec.Struct, kw_only=True):
    """Response bodies."""


class Job(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Background job payloads."""
