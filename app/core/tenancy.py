"""The acting principal and the tenant context it implies.

A ContextVar holds who is acting: an operator user, a tenant user, an API client, or a worker acting for
one tenant. HTTP authentication sets it, the Dramatiq middleware sets it from the message, and the
database session reads it at transaction begin. Tenant data without a tenant context is an error.
"""

from __future__ import annotations

import contextlib
import enum
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Literal

import msgspec


class Role(enum.StrEnum):
    OPERATOR_ADMIN = "operator_admin"
    OPS_MANAGER = "ops_manager"
    TENANT_ADMIN = "tenant_admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    REPORT_VIEWER = "report_viewer"


OPERATOR_ROLES = frozenset({Role.OPERATOR_ADMIN, Role.OPS_MANAGER})
TENANT_ROLES = frozenset({Role.TENANT_ADMIN, Role.SUPERVISOR, Role.REPORT_VIEWER})

PrincipalKind = Literal["user", "api_client", "system"]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is acting, and for which tenant (None: operator-level, no tenant data reachable)."""

    kind: PrincipalKind
    subject_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    roles: frozenset[Role] = frozenset()
    scopes: frozenset[str] = frozenset()
    display_name: str = ""
    ip: str | None = None

    @property
    def is_operator(self) -> bool:
        return bool(self.roles & OPERATOR_ROLES)

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    def acting_for(self, tenant_id: uuid.UUID | None) -> Principal:
        return msgspec.structs.replace(self, tenant_id=tenant_id)


class TenantContextMissing(RuntimeError):
    """Tenant data was touched with no tenant in context. Never answered as an empty result."""


_principal: ContextVar[Principal | None] = ContextVar("tenline_principal", default=None)


def current_principal() -> Principal | None:
    return _principal.get()


def current_tenant_id() -> uuid.UUID | None:
    principal = _principal.get()
    return principal.tenant_id if principal else None


def require_tenant_id() -> uuid.UUID:
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise TenantContextMissing("tenant data accessed without a tenant context")
    return tenant_id


@contextlib.contextmanager
def acting_as(principal: Principal | None) -> Iterator[Principal | None]:
    token = _principal.set(principal)
    try:
        yield principal
    finally:
        _principal.reset(token)


def set_principal(principal: Principal | None) -> None:
    """For middleware whose scope ends with the task (HTTP request, actor call)."""
    _principal.set(principal)


def system_principal(tenant_id: uuid.UUID | None) -> Principal:
    """A worker acting for one tenant (or for none: operator-level work)."""
    return Principal(kind="system", tenant_id=tenant_id, display_name="system")
