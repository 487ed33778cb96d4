"""OIDC single sign-on for a tenant's staff: the relying party's two browser routes.

``GET /sso/start?tenant=<slug>`` (the login page's "Sign in with SSO" form) looks the tenant up by slug
(an operator-level table, so no tenant data is read before the tenant is known), loads its enabled
connection acting for that tenant, and redirects to the provider with state, nonce and PKCE (S256),
which wait in the server-side session. An optional ``email`` is passed on as ``login_hint``; it never
selects the tenant (the email domains are tenant data).

``GET /sso/callback`` checks the state, exchanges the code with the client secret, validates the ID
token (``tenants.oidc``), finds or provisions the member (``service.sso_account``), audits the sign-in
and starts a fresh session acting for the tenant. Every failure redirects to ``/login?error=<code>``
(codes: ``oidc.SignInError``) with one structured log line; these routes never answer 500.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import structlog
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from litestar import Request, get
from litestar.response import Redirect

from app.core import crypto
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.tenancy import Principal, acting_as
from tenants import oidc, service, sessions
from tenants.auth import SESSION_SSO_TENANT
from tenants.models import SsoConnection, Tenant
from tenants.oidc import SignInError, SignInRefused

SESSION_PENDING = "sso_pending"
# Set on a session an SSO sign-in started: the tenant whose provider vouched for the person.
PENDING_TTL_SECONDS = 600
MAX_LOGIN_HINT = 254

log = structlog.get_logger("tenline.sso")


class PendingSignIn(msgspec.Struct, kw_only=True):
    """What the callback must find in the session: one sign-in at a time per browser."""

    tenant_id: str
    state: str
    nonce: str
    code_verifier: str
    started_at: float


def _session_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    data = request.scope.get("session")
    return dict(data) if isinstance(data, dict) else {}


def _system_for(tenant_id: uuid.UUID, request: Request[Any, Any, Any]) -> Principal:
    return Principal(kind="system", tenant_id=tenant_id, display_name="sso", ip=sessions.address_of(request))


def _to_login(code: SignInError) -> Redirect:
    return Redirect(f"{oidc.LOGIN_PATH}?{urlencode({'error': code.value})}", status_code=303)


async def _tenant_and_connection(
    request: Request[Any, Any, Any], *, slug: str | None = None, tenant_id: uuid.UUID | None = None
) -> tuple[Tenant, SsoConnection]:
    async with get_database().session() as session:
        tenant = await service.tenant_for_sign_in(session, slug=slug, tenant_id=tenant_id)
        if tenant is None:
            raise SignInRefused(SignInError.UNAVAILABLE, f"no active tenant {slug or tenant_id}")
        with acting_as(_system_for(tenant.id, request)):
            connection = await service.enabled_sso_connection(session)
    if connection is None:
        raise SignInRefused(SignInError.UNAVAILABLE, "the tenant has no enabled SSO connection")
    return tenant, connection


async def _provider(connection: SsoConnection) -> oidc.ProviderMetadata:
    try:
        return await oidc.discover(connection.issuer)
    except oidc.ProviderError as exc:
        raise SignInRefused(SignInError.PROVIDER_ERROR, str(exc)) from exc


def _oauth_client(connection: SsoConnection, metadata: oidc.ProviderMetadata, secret: str | None) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=connection.client_id,
        client_secret=secret,
        token_endpoint_auth_method=metadata.client_auth_method,
        scope=oidc.SCOPE,
        redirect_uri=oidc.callback_url(),
        code_challenge_method="S256",
        timeout=oidc.HTTP_TIMEOUT,
    )


async def _begin(request: Request[Any, Any, Any]) -> str:
    slug = (request.query_params.get("tenant") or "").strip().lower()
    if not slug:
        raise SignInRefused(SignInError.TENANT_REQUIRED, "no tenant given")
    tenant, connection = await _tenant_and_connection(request, slug=slug)
    metadata = await _provider(connection)
    pending = PendingSignIn(
        tenant_id=str(tenant.id),
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
        started_at=utcnow().timestamp(),
    )
    extra: dict[str, str] = {}
    hint = (request.query_params.get("email") or "").strip()
    if hint and len(hint) <= MAX_LOGIN_HINT:
        extra["login_hint"] = hint
    async with _oauth_client(connection, metadata, None) as client:
        url, _ = client.create_authorization_url(
            metadata.authorization_endpoint,
            state=pending.state,
            code_verifier=pending.code_verifier,
            nonce=pending.nonce,
            **extra,
        )
    request.set_session({**_session_data(request), SESSION_PENDING: msgspec.to_builtins(pending)})
    log.info("sso sign-in started", tenant_id=str(tenant.id), issuer=connection.issuer)
    return str(url)


def _take_pending(request: Request[Any, Any, Any]) -> PendingSignIn:
    """Removes the pending sign-in from the session (one use only) and checks the state against it."""
    data = _session_data(request)
    raw = data.pop(SESSION_PENDING, None)
    if raw is not None:
        request.set_session(data)
    try:
        pending = msgspec.convert(raw, PendingSignIn)
    except msgspec.ValidationError:
        raise SignInRefused(SignInError.STATE_MISMATCH, "no sign-in pending in this session") from None
    state = request.query_params.get("state") or ""
    if not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise SignInRefused(SignInError.STATE_MISMATCH, "the state differs from the pending sign-in's")
    if utcnow().timestamp() - pending.started_at > PENDING_TTL_SECONDS:
        raise SignInRefused(SignInError.EXPIRED, "the sign-in was started too long ago")
    return pending


async def _exchange(
    connection: SsoConnection, metadata: oidc.ProviderMetadata, code: str, pending: PendingSignIn
) -> str:
    """The ID token the provider gives for the code."""
    try:
        secret = service.sso_client_secret(connection)
    except crypto.DecryptionError as exc:
        raise SignInRefused(
            SignInError.UNAVAILABLE, "the client secret does not decrypt (secret key changed?)"
        ) from exc
    try:
        async with _oauth_client(connection, metadata, secret) as client:
            token = await client.fetch_token(
                metadata.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
            )
    except (AuthlibBaseError, httpx.HTTPError, ValueError) as exc:
        raise SignInRefused(SignInError.TOKEN_FAILED, f"token request failed: {exc}") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SignInRefused(SignInError.INVALID_TOKEN, "the token response has no ID token")
    return id_token


def _vouched_email(claims: dict[str, Any], connection: SsoConnection) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SignInRefused(SignInError.EMAIL_MISSING, "the ID token has no email claim")
    # Some providers send the flag as a string; only an explicit "false" counts against it.
    if claims.get("email_verified") in (False, "false"):
        raise SignInRefused(SignInError.EMAIL_UNVERIFIED, f"{email} is not verified by the provider")
    email = email.strip().lower()
    domain = email.rsplit("@", 1)[1]
    if connection.allowed_email_domains and domain not in connection.allowed_email_domains:
        raise SignInRefused(SignInError.DOMAIN_NOT_ALLOWED, f"{domain} is not an allowed email domain")
    return email


async def _audit_refusal(
    request: Request[Any, Any, Any], tenant_id: uuid.UUID, refusal: SignInRefused, email: object
) -> None:
    """A refusal after the provider vouched for someone is the tenant's business: its audit log shows it.

    Only the code and the email its own provider sent: the reason may say more than the tenant should know.
    """
    detail = {"code": refusal.code.value, "email": email if isinstance(email, str) else None}
    with acting_as(_system_for(tenant_id, request)):
        async with get_database().session() as session:
            await service.audit(session, "user.sso_refused", object_type="user", detail=detail)


async def _complete(request: Request[Any, Any, Any]) -> tuple[uuid.UUID, uuid.UUID]:
    """Signs the person in; returns (user id, tenant id)."""
    pending = _take_pending(request)
    error = request.query_params.get("error")
    if error:
        description = request.query_params.get("error_description") or ""
        raise SignInRefused(SignInError.DENIED, f"the provider answered {error}: {description}"[:300])
    code = request.query_params.get("code")
    if not code:
        raise SignInRefused(SignInError.TOKEN_FAILED, "the callback carries no code")
    tenant, connection = await _tenant_and_connection(request, tenant_id=uuid.UUID(pending.tenant_id))
    metadata = await _provider(connection)
    id_token = await _exchange(connection, metadata, code, pending)
    try:
        claims = await oidc.verified_claims(id_token, metadata, client_id=connection.client_id, nonce=pending.nonce)
    except oidc.IdTokenError as exc:
        raise SignInRefused(SignInError.INVALID_TOKEN, str(exc)) from exc
    except oidc.ProviderError as exc:
        raise SignInRefused(SignInError.PROVIDER_ERROR, str(exc)) from exc
    try:
        email = _vouched_email(claims, connection)
        name = claims.get("name")
        with acting_as(_system_for(tenant.id, request)):
            async with get_database().session() as session:
                user, role, provisioned = await service.sso_account(
                    session, connection, email=email, display_name=name if isinstance(name, str) else ""
                )
                user.last_login_at = utcnow()
                signed_in = Principal(
                    kind="user",
                    subject_id=user.id,
                    tenant_id=tenant.id,
                    display_name=user.display_name,
                    ip=sessions.address_of(request),
                )
                with acting_as(signed_in):
                    await service.audit(
                        session,
                        "user.sso_login",
                        object_type="user",
                        object_id=user.id,
                        detail={"issuer": connection.issuer, "subject": claims["sub"], "role": role},
                    )
    except SignInRefused as refusal:
        await _audit_refusal(request, tenant.id, refusal, claims.get("email"))
        raise
    log.info("sso sign-in", tenant_id=str(tenant.id), user_id=str(user.id), provisioned=provisioned)
    return user.id, tenant.id


def _refused(refusal: SignInRefused, stage: str) -> Redirect:
    log.warning("sso sign-in refused", stage=stage, code=refusal.code.value, reason=refusal.reason)
    return _to_login(refusal.code)


@get(oidc.SSO_START_PATH, include_in_schema=False, name="sso:start")
async def sso_start(request: Request[Any, Any, Any]) -> Redirect:
    """Redirects to the tenant's identity provider (or back to the login page with an error code)."""
    try:
        return Redirect(await _begin(request), status_code=303)
    except SignInRefused as refusal:
        return _refused(refusal, "start")
    except Exception:
        log.exception("sso start failed")
        return _to_login(SignInError.FAILED)


@get(oidc.SSO_CALLBACK_PATH, include_in_schema=False, name="sso:callback")
async def sso_callback(request: Request[Any, Any, Any]) -> Redirect:
    """Where the provider sends the browser back; signs the person in and goes to the home page."""
    try:
        user_id, tenant_id = await _complete(request)
    except SignInRefused as refusal:
        return _refused(refusal, "callback")
    except Exception:
        log.exception("sso callback failed")
        return _to_login(SignInError.FAILED)
    sessions.start_session(request, user_id, tenant_id)
    request.set_session({**_session_data(request), SESSION_SSO_TENANT: str(tenant_id)})
    return Redirect("/", status_code=303)


route_handlers = [sso_start, sso_callback]
