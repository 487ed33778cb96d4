"""OAuth2 client credentials for tenants' programs (filled in by the API-clients work)."""

from __future__ import annotations

from litestar.exceptions import NotAuthorizedException

from app.core.tenancy import Principal


async def principal_from_access_token(token: str, *, ip: str | None) -> Principal:
    raise NotAuthorizedException("invalid access token")
