"""Authentication for every HTTP request: who is calling, for which tenant, and is the form genuine.

Browsers hold a server-side session in Redis (cookie ``tenline_session``) carrying the user id, the
acting tenant and a CSRF token. Programs send ``Authorization: Bearer <JWT>`` from the OAuth2
client-credentials flow. The middleware resolves either into a ``Principal`` and puts it in the tenant
context for the rest of the request; guards then check permissions.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import get_database
from app.core.errors import NotFoundError
from app.core.http import request_session
from app.core.tenancy import Principal, Role, acting_as, set_principal
from tenants.models import Tenant, TenantMembership, TenantStatus, User
from tenants.permissions import TENANT_PERMISSIONS, Permission, allowed

SESSION_COOKIE = "tenline_session"
SESSION_USER = "user_id"
SESSION_TENANT = "acting_tenant_id"
SESSION_CSRF = "csrf"
# Set when the person signed in through a tenant's identity provider: the session stays in that tenant.
SESSION_SSO_TENANT = "sso_tenant_id"
ACTING_TENANT_HEADER = "tenline-tenant"
CSRF_HEADER = "x-csrf-token"
CSRF_FORM_FIELD = "_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_hasher = PasswordHasher()
log = structlog.get_logger("tenline.auth")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Same cost as a real check, so timing does not tell which emails exist.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


async def principal_for_user(
    user_id: uuid.UUID, acting_tenant_id: uuid.UUID | None, ip: str | None, *, session: AsyncSession | None = None
) -> Principal | None:
    """The principal a signed-in user acts as: platform role, or the membership in the acting tenant.

    Returns None when the user is gone or inactive, or the acting tenant is not theirs (session ends).
    Runs in ``session`` (the request's transaction) when given.
    """
    with acting_as(Principal(kind="user", subject_id=user_id, tenant_id=acting_tenant_id)):
        if session is not None:
            return await _resolve_user(session, user_id, acting_tenant_id, ip)
        async with get_database().session() as own:
            return await _resolve_user(own, user_id, acting_tenant_id, ip)


async def _resolve_user(
    session: AsyncSession, user_id: uuid.UUID, acting_tenant_id: uuid.UUID | None, ip: str | None
) -> Principal | None:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    roles: set[Role] = set()
    if user.platform_role:
        roles.add(Role(user.platform_role))
    if acting_tenant_id is not None:
        tenant = await session.get(Tenant, acting_tenant_id)
        if tenant is None or tenant.status in (
            TenantStatus.DELETING,
            TenantStatus.DELETED,
        ):
            return None
        membership = (await session.exec(select(TenantMembership).where(TenantMembership.user_id == user_id))).first()
        if membership is not None:
            roles.add(Role(membership.role))
        elif not (roles & {Role.OPERATOR_ADMIN, Role.OPS_MANAGER}):
            return None
        if tenant.status == TenantStatus.SUSPENDED and not (roles & {Role.OPERATOR_ADMIN, Role.OPS_MANAGER}):
            return None
    return Principal(
        kind="user",
        subject_id=user.id,
        tenant_id=acting_tenant_id,
        roles=frozenset(roles),
        display_name=user.display_name,
        ip=ip,
    )


def session_data(scope: Scope) -> dict[str, Any]:
    """The server-side session of the request as a dict (empty when there is none)."""
    session = scope.get("session")
    return session if isinstance(session, dict) else {}


def _parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def authentication_middleware(app: ASGIApp) -> ASGIApp:
    """Resolves the caller into a Principal (or none) and sets the tenant context for the request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        principal = await _authenticate(scope, request_session(scope))
        scope["user"] = principal
        scope["auth"] = "bearer" if principal and principal.kind == "api_client" else "session"
        set_principal(principal)
        try:
            await app(scope, receive, send)
        finally:
            set_principal(None)

    return middleware


async def _authenticate(scope: Scope, db: AsyncSession | None) -> Principal | None:
    headers = dict(scope["headers"])
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization[:7].lower() == "bearer ":
        from tenants.oauth2 import principal_from_access_token

        return await principal_from_access_token(authorization[7:].strip(), ip=client_ip(scope), session=db)
    session = session_data(scope)
    user_id = _parse_uuid(session.get(SESSION_USER))
    if user_id is None:
        return None
    acting = _parse_uuid(session.get(SESSION_TENANT))
    sso_tenant = _parse_uuid(session.get(SESSION_SSO_TENANT))
    if sso_tenant is not None and acting != sso_tenant:
        return None
    requested = headers.get(ACTING_TENANT_HEADER.encode())
    principal = await principal_for_user(user_id, acting, client_ip(scope), session=db)
    if principal is not None and requested and principal.is_operator:
        # An operator may act for any tenant per request; a bad or unknown id is 404.
        tenant_id = _parse_uuid(requested.decode("latin-1"))
        if tenant_id is None:
            raise NotFoundError("no such tenant")
        principal = await principal_for_user(user_id, tenant_id, client_ip(scope), session=db)
        if principal is None:
            raise NotFoundError("no such tenant")
    return principal


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The session's CSRF token, made on first use (the login form gets one before sign-in)."""
    token = request.session.get(SESSION_CSRF) if request.scope.get("session") is not None else None
    if not token:
        token = secrets.token_urlsafe(32)
        request.set_session({**session_data(request.scope), SESSION_CSRF: token})
    return str(token)


async def check_csrf(request: Request[Any, Any, Any]) -> None:
    """Before every unsafe request: a browser's session cookie must come with the session's token.

    Bearer-token calls carry no ambient authority and skip the check. A request with no signed-in
    session may only send JSON (a cross-site form cannot, without a CORS preflight we never grant).
    """
    if request.method in SAFE_METHODS or request.scope.get("auth") == "bearer":
        return
    if request.route_handler.opt.get("csrf_exempt"):
        return
    media_type = request.content_type[0]
    is_form = media_type in ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
    session = session_data(request.scope)
    if not session.get(SESSION_USER) and not is_form:
        return
    expected = session.get(SESSION_CSRF)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and is_form:
        form = await request.form()
        sent = form.get(CSRF_FORM_FIELD)
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        raise PermissionDeniedException("CSRF token missing or invalid; reload the page and try again")


@dataclass(frozen=True)
class requires:  # lower case: it reads as a guard factory, guards=[requires(Permission.X)]
    """Guard: the principal holds the permission; tenant permissions also need an acting tenant, unless
    ``acting_tenant`` is False: an operator's operation that names its tenant itself (in its path, or the object's
    tenant) or concerns no tenant. The OpenAPI document reads ``permission`` to name the scope an operation needs."""

    permission: Permission
    acting_tenant: bool = True

    def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal: Principal | None = connection.scope.get("user")
        if principal is None:
            raise NotAuthorizedException("sign in or send a bearer token")
        if not allowed(principal, self.permission):
            raise PermissionDeniedException(f"requires the {self.permission.value} permission")
        if self.acting_tenant and self.permission in TENANT_PERMISSIONS and principal.tenant_id is None:
            raise PermissionDeniedException("choose a tenant to act for (Tenline-Tenant header or the tenant switcher)")


def authenticated(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.scope.get("user") is None:
        raise NotAuthorizedException("sign in or send a bearer token")
