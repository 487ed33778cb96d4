"""OAuth2 client credentials for tenants' programs: Authlib's authorization server on Litestar.

Authlib is synchronous. Each OAuth request reads its form on the event loop, then runs Authlib in a
worker thread (``anyio.to_thread``); the hooks that need the database or Redis (client lookup, token
revocation) hop back to the event loop with ``anyio.from_thread.run``. A client id names its tenant
(``tenants.credentials``), so the lookup runs in that tenant's context under row-level security and
never searches across tenants.

Access tokens are self-contained JWTs. Every use still checks that the client is active (one indexed
lookup), so revoking a client stops its issued tokens at once, and that the token's ``jti`` is not on
the RFC 7009 revocation list kept in Redis for the token's remaining lifetime.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import anyio.to_thread
import structlog
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientCredentialsGrant,
    ClientMixin,
    InsecureTransportError,
    InvalidClientError,
    InvalidScopeError,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from litestar import Request, Response, post
from litestar.datastructures import Headers
from litestar.enums import MediaType
from litestar.exceptions import NotAuthorizedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, Reference, RequestBody, Schema
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import Principal, acting_as
from tenants import credentials, schemas, service
from tenants.auth import client_ip
from tenants.models import ApiClient

log = structlog.get_logger("tenline.oauth2")

TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path, not a secret)
REVOCATION_PATH = "/oauth/revoke"
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
_REVOKED_KEY = "tenline:revoked-access-token:"


def issuer() -> str:
    return get_settings().base_url.rstrip("/")


def mint_access_token(client: ApiClient, scopes: list[str]) -> tuple[str, int]:
    """A signed access token for the client with these scopes, and its lifetime in seconds."""
    settings = get_settings()
    token = credentials.issue_access_token(
        secret_key=settings.secret_key,
        issuer=issuer(),
        client_id=client.client_id,
        tenant_id=client.tenant_id,  # type: ignore[arg-type]
        scopes=scopes,
        now=utcnow(),
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    return token, settings.access_token_ttl_seconds


def _decode(token: str) -> credentials.AccessTokenClaims:
    return credentials.decode_access_token(token, secret_key=get_settings().secret_key, issuer=issuer(), now=utcnow())


def _client_principal(client: ApiClient, scopes: frozenset[str], ip: str | None) -> Principal:
    return Principal(
        kind="api_client",
        subject_id=client.id,
        tenant_id=client.tenant_id,
        # A token never carries more than its client holds now.
        scopes=scopes & frozenset(client.scopes),
        display_name=client.name,
        ip=ip,
    )


# --- Authlib's view of requests and clients ------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    """What Authlib needs of a Litestar request, read on the event loop before Authlib runs in a thread."""

    method: str
    uri: str
    headers: Headers
    form: dict[str, list[str]]
    ip: str | None


class _FormPayload(OAuth2Payload):
    def __init__(self, form: dict[str, list[str]]) -> None:
        self._form = form

    @property
    def data(self) -> dict[str, str]:
        return {name: values[0] for name, values in self._form.items()}

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return defaultdict(list, self._form)


class _OAuth2Request(OAuth2Request):
    def __init__(self, http: HttpRequest) -> None:
        super().__init__(http.method, http.uri, headers=http.headers)
        self.payload = _FormPayload(http.form)
        self.ip = http.ip

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data

    @property
    def args(self) -> dict[str, str]:
        return {}


class ApiClientAdapter(ClientMixin):
    """Authlib's view of an ApiClient row: confidential, client credentials only, secret checked by digest."""

    def __init__(self, row: ApiClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes the client holds; all of its scopes when none are requested."""
        held = set(self.row.scopes)
        requested = scope_to_list(scope)
        return credentials.scope_string(held.intersection(requested) if requested else held)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return credentials.client_secret_valid(
            client_secret,
            secret_hash=self.row.secret_hash,
            previous_secret_hash=self.row.previous_secret_hash,
            previous_secret_expires_at=self.row.previous_secret_expires_at,
            now=utcnow(),
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in CLIENT_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == ClientCredentialsGrant.GRANT_TYPE


@dataclass(frozen=True)
class _IssuedToken(TokenMixin):
    claims: credentials.AccessTokenClaims

    def check_client(self, client: ApiClientAdapter) -> bool:
        return client.get_client_id() == self.claims.client_id


async def _load_client(client_id: str) -> ApiClient | None:
    tenant_id = credentials.tenant_of_client_id(client_id)
    if tenant_id is None:
        return None
    # The client's own tenant context, so row-level security holds for this lookup too.
    with acting_as(Principal(kind="api_client", tenant_id=tenant_id, display_name=client_id)):
        async with get_database().session() as session:
            return await service.api_client_for_authentication(session, client_id)


async def _revoke_access_token(claims: credentials.AccessTokenClaims, client: ApiClient, ip: str | None) -> None:
    remaining = claims.expires_at + credentials.CLOCK_SKEW_SECONDS - int(utcnow().timestamp())
    if remaining > 0:
        await get_redis().set(_REVOKED_KEY + claims.jti, b"1", ex=remaining)
    with acting_as(_client_principal(client, claims.scopes, ip)):
        async with get_database().session() as session:
            await service.record_access_token_revoked(session, client, claims.jti)


# --- the authorization server --------------------------------------------------------------------


class _ClientCredentialsGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        requested = set(scope_to_list(self.request.payload.scope) or [])
        missing = requested - set(self.client.row.scopes)
        if missing:
            raise InvalidScopeError(f"The client may not request: {credentials.scope_string(missing)}")


class _RevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> _IssuedToken | None:
        # RFC 7009 section 2.2: an invalid or expired token is answered 200 all the same.
        try:
            return _IssuedToken(_decode(token_string))
        except credentials.InvalidAccessToken:
            return None

    def revoke_token(self, token: _IssuedToken, request: _OAuth2Request) -> None:
        anyio.from_thread.run(_revoke_access_token, token.claims, request.client.row, request.ip)


class TenlineAuthorizationServer(AuthorizationServer):
    """Authlib's framework-agnostic server, adapted to Litestar; call its methods in a worker thread."""

    def __init__(self) -> None:
        super().__init__()
        self.register_token_generator("default", self._generate_token)
        self.register_grant(_ClientCredentialsGrant)
        self.register_endpoint(_RevocationEndpoint)

    def query_client(self, client_id: str) -> ApiClientAdapter | None:
        row = anyio.from_thread.run(_load_client, client_id)
        return ApiClientAdapter(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: _OAuth2Request) -> None:
        """Nothing to store: access tokens are self-contained, and revocation lists them by jti."""

    def authenticate_client(self, request: _OAuth2Request, methods: list[str], endpoint: str = "token") -> Any:
        try:
            return super().authenticate_client(request, methods, endpoint)
        except (InvalidClientError, UnicodeDecodeError):
            # One answer for an unknown client, a wrong secret and a garbled header, whatever the method.
            raise InvalidClientError(status_code=401, description="Client authentication failed.") from None

    def _generate_token(
        self,
        grant_type: str,
        client: ApiClientAdapter,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        scopes = scope_to_list(client.get_allowed_scope(scope)) or []
        token, ttl = mint_access_token(client.row, scopes)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": credentials.scope_string(scopes),
        }

    def create_oauth2_request(self, request: HttpRequest) -> _OAuth2Request:
        return _OAuth2Request(request)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response[Any]:
        extra = {name: value for name, value in headers if name.lower() != "content-type"}
        return Response(body, status_code=status, headers=extra, media_type=MediaType.JSON)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        client = kwargs.get("client")
        log.info(f"oauth2.{name}", client_id=client.get_client_id() if client is not None else None)

    def respond(self, call: Callable[[HttpRequest], Response[Any]], request: HttpRequest) -> Response[Any]:
        try:
            return call(request)
        except InsecureTransportError as error:
            # TENLINE_BASE_URL is plain http on a non-loopback host: OAuth must not run there.
            return self.handle_error_response(request, error)

    def token_response(self, request: HttpRequest) -> Response[Any]:
        return self.respond(self.create_token_response, request)

    def revocation_response(self, request: HttpRequest) -> Response[Any]:
        return self.respond(
            lambda http: self.create_endpoint_response(_RevocationEndpoint.ENDPOINT_NAME, http), request
        )


authorization_server = TenlineAuthorizationServer()


# --- HTTP ----------------------------------------------------------------------------------------


async def _run(request: Request[Any, Any, Any], respond: Callable[[HttpRequest], Response[Any]]) -> Response[Any]:
    form = await request.form()
    http = HttpRequest(
        method=request.method,
        # The public address: behind a TLS-terminating proxy the request itself says http.
        uri=issuer() + request.url.path,
        headers=request.headers,
        form={name: values for name in form if (values := [v for v in form.getall(name) if isinstance(v, str)])},
        ip=client_ip(request.scope),
    )
    return await anyio.to_thread.run_sync(respond, http)


def _form_body(properties: dict[str, Schema | Reference], required: list[str]) -> type[Operation]:
    """OpenAPI for a form body that the handler reads itself (so Authlib, not Litestar, answers errors)."""

    @dataclass
    class FormOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                required=True,
                content={
                    "application/x-www-form-urlencoded": OpenAPIMediaType(
                        schema=Schema(type=OpenAPIType.OBJECT, properties=properties, required=required)
                    )
                },
            )

    return FormOperation


_STRING = Schema(type=OpenAPIType.STRING)
_CLIENT_FIELDS = {
    "client_id": Schema(type=OpenAPIType.STRING, description="client_secret_post only (else HTTP Basic)"),
    "client_secret": Schema(type=OpenAPIType.STRING, description="client_secret_post only (else HTTP Basic)"),
}
_OAUTH_ERRORS = {
    400: ResponseSpec(
        schemas.OAuthErrorOut,
        description="invalid_request, invalid_scope, unsupported_grant_type, invalid_grant (RFC 6749 section 5.2)",
        generate_examples=False,
    ),
    401: ResponseSpec(
        schemas.OAuthErrorOut,
        description="invalid_client: unknown client, wrong secret or revoked client",
        generate_examples=False,
    ),
}


def _client_endpoint(
    path: str,
    *,
    summary: str,
    description: str,
    fields: dict[str, Schema | Reference],
    required: list[str],
    answer: ResponseSpec,
) -> post:
    """An endpoint a client authenticates to with its secret: a form body, answers and errors in the RFC 6749 format."""
    return post(
        path,
        opt={"csrf_exempt": True},
        status_code=200,
        tags=["oauth2"],
        summary=summary,
        description=description,
        operation_class=_form_body({**fields, **_CLIENT_FIELDS}, required),
        responses={200: answer, **_OAUTH_ERRORS},
    )


@_client_endpoint(
    TOKEN_PATH,
    summary="Get an access token (OAuth2 client credentials)",
    description="RFC 6749 section 4.4. Authenticate with HTTP Basic (client_secret_basic) or with client_id and "
    "client_secret in the form (client_secret_post). `scope` is a space-separated subset of the client's scopes; "
    "without it the token carries all of them. Errors use the RFC 6749 format, not problem details.",
    fields={"grant_type": Schema(type=OpenAPIType.STRING, const="client_credentials"), "scope": _STRING},
    required=["grant_type"],
    answer=ResponseSpec(schemas.AccessTokenOut, description="a JWT access token", generate_examples=False),
)
async def token_endpoint(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _run(request, authorization_server.token_response)


@_client_endpoint(
    REVOCATION_PATH,
    summary="Revoke an access token (RFC 7009)",
    description="The client that holds the token revokes it; it stops working at once. An unknown or expired "
    "token is answered 200 too, as RFC 7009 requires.",
    fields={"token": _STRING, "token_type_hint": Schema(type=OpenAPIType.STRING, enum=["access_token"])},
    required=["token"],
    answer=ResponseSpec(None, description="revoked (or nothing to revoke)"),
)
async def revocation_endpoint(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _run(request, authorization_server.revocation_response)


route_handlers = [token_endpoint, revocation_endpoint]


# --- resource side: bearer tokens on the API -----------------------------------------------------


async def _active_client(session: AsyncSession, client_id: str) -> ApiClient | None:
    client = await service.api_client_for_authentication(session, client_id)
    if client is not None:
        service.note_api_client_use(client)
    return client


def _invalid_token(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


async def principal_from_access_token(token: str, *, ip: str | None, session: AsyncSession | None = None) -> Principal:
    """The API client a bearer token speaks for; NotAuthorizedException (401) if it may not."""
    try:
        claims = _decode(token)
    except credentials.InvalidAccessToken as exc:
        log.info("access token refused", reason=str(exc), ip=ip)
        raise _invalid_token("the access token is invalid or expired") from None
    if await get_redis().exists(_REVOKED_KEY + claims.jti):
        raise _invalid_token("the access token has been revoked")
    # In the request's own transaction when there is one: the client check costs one query, no more.
    with acting_as(Principal(kind="api_client", tenant_id=claims.tenant_id)):
        if session is not None:
            client = await _active_client(session, claims.client_id)
        else:
            async with get_database().session() as own:
                client = await _active_client(own, claims.client_id)
    if client is None:
        raise _invalid_token("the API client has been revoked")
    return _client_principal(client, claims.scopes, ip)
