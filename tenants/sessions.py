"""Password sign-in for browser users: throttled, constant-time, and the start of a server-side session."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty
from litestar.utils.dataclass import extract_dataclass_items

from app.core import ratelimit
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.errors import PermissionDeniedError, TooManyRequestsError
from app.core.settings import get_settings
from app.core.tenancy import Principal, acting_as
from tenants import service
from tenants.auth import SESSION_CSRF, SESSION_SSO_TENANT, SESSION_TENANT, SESSION_USER, client_ip, verify_password
from tenants.models import User


class InvalidCredentials(Exception):
    """Wrong email or password; deliberately not saying which."""


# Failed attempts are limited per account and per address, so neither guessing one account's password
# from many addresses nor many accounts from one address gets far.
def _failure_limits() -> tuple[ratelimit.RateLimitItem, ratelimit.RateLimitItem]:
    per_account = ratelimit.rate(get_settings().login_rate_limit)
    per_address = ratelimit.rate(f"{per_account.amount * 10}/{per_account.GRANULARITY.name}")
    return per_account, per_address


async def sign_in(email: str, password: str, ip: str | None) -> tuple[User, list[tuple[uuid.UUID, str]]]:
    """Checks the password; returns the user and their tenant memberships (tenant id, role)."""
    email = email.strip().lower()
    per_account, per_address = _failure_limits()
    address = ip or "unknown"
    for item, key in ((per_account, ("login", email)), (per_address, ("login-ip", address))):
        if not await ratelimit.test_only(item, *key):
            stats = await ratelimit.get_limiter().get_window_stats(item, *key)
            wait = max(1, int(stats.reset_time - utcnow().timestamp()) + 1)
            raise TooManyRequestsError(
                f"too many failed sign-ins; try again in {wait} seconds", retry_after_seconds=wait
            )
    async with get_database().session() as session:
        user = await service.find_login(session, email)
        ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or not user.is_active:
            await ratelimit.hit(per_account, "login", email)
            await ratelimit.hit(per_address, "login-ip", address)
            raise InvalidCredentials
        user.last_login_at = utcnow()
    await ratelimit.clear(per_account, "login", email)
    with acting_as(Principal(kind="user", subject_id=user.id)):
        async with get_database().session() as session:
            memberships = await service.memberships_of(session, user.id)
    return user, memberships


def start_session(request: Request[Any, Any, Any], user_id: uuid.UUID, tenant_id: uuid.UUID | None) -> None:
    """A fresh session (new CSRF token) for the signed-in user, acting for ``tenant_id`` if given."""
    request.scope[ROTATE_SESSION] = True  # type: ignore[literal-required]
    request.set_session(
        {
            SESSION_USER: str(user_id),
            SESSION_TENANT: str(tenant_id) if tenant_id else None,
            SESSION_CSRF: secrets.token_urlsafe(32),
        }
    )


def switch_tenant(request: Request[Any, Any, Any], tenant_id: uuid.UUID | None) -> None:
    sso_tenant = request.session.get(SESSION_SSO_TENANT)
    if sso_tenant and sso_tenant != (str(tenant_id) if tenant_id else None):
        # The identity provider vouched for this person in one tenant only.
        raise PermissionDeniedError(
            "signed in through your organisation's SSO: sign in again to work for another tenant"
        )
    request.set_session({**request.session, SESSION_TENANT: str(tenant_id) if tenant_id else None})


def end_session(request: Request[Any, Any, Any]) -> None:
    request.clear_session()


def address_of(request: Request[Any, Any, Any]) -> str | None:
    return client_ip(request.scope)


ROTATE_SESSION = "tenline.rotate_session"


class RotatingSessionBackend(ServerSideSessionBackend):
    """Issues a new session id when a user signs in, so an id planted before sign-in is worthless."""

    async def store_in_message(
        self, scope_session: Any, message: Any, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        scope = connection.scope
        if not scope_session and not connection.cookies.get(self.config.key):
            # Nothing to keep for a caller without a session (API clients, health checks): no Redis write.
            return
        if scope.get(ROTATE_SESSION) and scope_session is not Empty:
            old_id = connection.cookies.get(self.config.key)
            if old_id:
                await self.delete(old_id, store=self.config.get_store_from_app(scope["app"]))
            new_id = self.generate_session_id()
            store = self.config.get_store_from_app(scope["app"])
            await self.set(session_id=new_id, data=self.serialize_data(scope_session, scope), store=store)
            cookie_params = dict(
                extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
            )
            MutableScopeHeaders.from_message(message).add(
                "Set-Cookie", Cookie(value=new_id, key=self.config.key, **cookie_params).to_header(header="")
            )
            return
        await super().store_in_message(scope_session, message, connection)


class SessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend
