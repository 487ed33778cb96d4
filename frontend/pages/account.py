"""Signing in and out, choosing the tenant to act for, and each role's home page."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import NotFoundError, TooManyRequestsError
from app.core.tenancy import Principal, Role
from frontend.forms import WEEKDAYS, text_fields
from frontend.layout import TENANT_PAGES, layout_of
from frontend.web import person_of, principal_of, redirect, render, safe_next, with_query
from tenants import service, sessions
from tenants.auth import (
    CSRF_FORM_FIELD,
    SESSION_CSRF,
    authenticated,
    principal_for_user,
    session_data,
)
from tenants.models import TenantStatus
from tenants.oidc import SignInError

SSO_MESSAGES: dict[str, str] = {
    SignInError.TENANT_REQUIRED: "Enter your organisation's short name to sign in with SSO.",
    SignInError.UNAVAILABLE: "Single sign-on is not available for that organisation. Check its short name, "
    "or sign in with your password.",
    SignInError.PROVIDER_ERROR: "Your organisation's identity provider could not be reached. Try again later.",
    SignInError.STATE_MISMATCH: "That sign-in was not started in this browser, or was already used. Start again.",
    SignInError.EXPIRED: "The sign-in took too long. Start again.",
    SignInError.DENIED: "The identity provider did not sign you in (it may have been cancelled).",
    SignInError.TOKEN_FAILED: "The identity provider's answer could not be used. Start again.",
    SignInError.INVALID_TOKEN: "The identity provider's answer could not be verified. Start again.",
    SignInError.EMAIL_MISSING: "The identity provider did not share your email address, so you cannot be signed in.",
    SignInError.EMAIL_UNVERIFIED: "Your email address is not verified at the identity provider.",
    SignInError.DOMAIN_NOT_ALLOWED: "Your email address is not in a domain this organisation allows.",
    SignInError.NO_ACCOUNT: "You have no account in this organisation yet. Ask its administrator to add you.",
    SignInError.ACCOUNT_DISABLED: "Your account is deactivated. Ask your administrator.",
    SignInError.FAILED: "Single sign-on failed unexpectedly. Try again, or sign in with your password.",
}
NextPath = Annotated[str | None, QueryParameter(name="next", max_length=2000)]
UNKNOWN_SSO_ERROR = "Single sign-on did not complete. Try again, or sign in with your password."


def _login_page(
    request: Request[Any, Any, Any],
    *,
    next_path: str | None = None,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response[Any]:
    return render(
        request,
        "login.html",
        status=status,
        next=next_path if next_path and next_path != "/" else "",
        email=email,
        error=error,
        notice=notice,
    )


def _csrf_ok(request: Request[Any, Any, Any], sent: Any) -> bool:
    expected = session_data(request.scope).get(SESSION_CSRF)
    return bool(expected and sent) and hmac.compare_digest(str(expected), str(sent))


class AccountController(Controller):
    path = "/"

    @get("/login")
    async def login_page(
        self,
        request: Request[Any, Any, Any],
        next_path: NextPath = None,
        error: str | None = None,
        signed_out: bool = False,
    ) -> Response[Any]:
        if principal_of(request) is not None:
            return redirect(request, safe_next(next_path))
        return _login_page(
            request,
            next_path=safe_next(next_path, ""),
            error=SSO_MESSAGES.get(error, UNKNOWN_SSO_ERROR) if error else None,
            notice="You are signed out." if signed_out else None,
        )

    # The form's token is checked here rather than by the global hook, to answer with the form again.
    @post("/login", opt={"csrf_exempt": True})
    async def login(self, request: Request[Any, Any, Any]) -> Response[Any]:
        form = await request.form()
        values = text_fields(form, ("email", "password", "next"))
        next_path = safe_next(values["next"])

        def again(error: str, status: int) -> Response[Any]:
            return _login_page(request, next_path=next_path, email=values["email"], error=error, status=status)

        if not _csrf_ok(request, form.get(CSRF_FORM_FIELD)):
            return again("This sign-in form had expired. Please sign in again.", 403)
        if not values["email"] or not values["password"]:
            return again("Enter your email address and password.", 422)
        try:
            user, memberships = await sessions.sign_in(
                values["email"], values["password"], sessions.address_of(request)
            )
        except sessions.InvalidCredentials:
            return again("Wrong email or password.", 401)
        except TooManyRequestsError as exc:
            return again(
                f"Too many failed sign-in attempts. Try again in {exc.retry_after_seconds} seconds.",
                429,
            )
        if user.platform_role is None:
            if not memberships:
                return again("Your account has no access to any organisation yet. Ask your administrator.", 403)
            if len(memberships) > 1:
                sessions.start_session(request, user.id, None)
                return redirect(request, with_query("/choose-tenant", next=next_path if next_path != "/" else None))
            tenant_id = memberships[0][0]
            if await principal_for_user(user.id, tenant_id, sessions.address_of(request)) is None:
                return again("Your organisation's account is not active. Contact your administrator.", 403)
            sessions.start_session(request, user.id, tenant_id)
        else:
            sessions.start_session(request, user.id, None)
        return redirect(request, next_path)

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Response[Any]:
        sessions.end_session(request)
        return redirect(request, "/login?signed_out=true")

    @get("/choose-tenant", guards=[authenticated])
    async def choose_tenant(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        next_path: NextPath = None,
    ) -> Response[Any]:
        principal = request.user
        if principal.is_operator:
            return redirect(request, "/")
        memberships = await service.memberships_of(session, person_of(principal))
        names = await service.tenant_names(session, [tenant_id for tenant_id, _ in memberships])
        choices = sorted(((names.get(t, ""), t, role) for t, role in memberships), key=lambda c: c[0].lower())
        return render(request, "choose_tenant.html", choices=choices, next=safe_next(next_path, ""))

    @post("/switch-tenant", guards=[authenticated])
    async def switch_tenant(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        values = text_fields(form, ("tenant_id", "next"))
        principal = request.user
        try:
            tenant_id = uuid.UUID(values["tenant_id"]) if values["tenant_id"] else None
        except ValueError:
            raise NotFoundError("no such tenant") from None
        next_path = safe_next(values["next"])
        if principal.is_operator:
            if tenant_id is not None:
                tenant = await service.get_tenant(session, tenant_id, principal)
                if tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
                    raise NotFoundError("no such tenant")
            # Stay on the same kind of page for the newly chosen tenant; otherwise start from its home.
            target = next_path if tenant_id is not None and next_path in TENANT_PAGES else "/"
        else:
            person = person_of(principal)
            mine = {t for t, _ in await service.memberships_of(session, person)}
            if tenant_id is None or tenant_id not in mine:
                raise NotFoundError("no such tenant")
            if await principal_for_user(person, tenant_id, principal.ip) is None:
                raise NotFoundError("that organisation's account is not active")
            target = next_path
        # Refused (403) for a session an organisation's SSO started: that provider vouched for one tenant only.
        sessions.switch_tenant(request, tenant_id)
        return redirect(request, target)

    @get("/", guards=[authenticated])
    async def home(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        principal = request.user
        if Role.AGENT in principal.roles:
            return redirect(request, "/agent")
        if principal.tenant_id is None:
            if not principal.is_operator:
                return redirect(request, "/choose-tenant")
            newest = await service.list_tenants(session, cursor=None, limit=5)
            return render(request, "home_operator.html", newest=newest.items)
        tenant = layout_of(request.scope).tenant
        if tenant is None:
            tenant = service.tenant_out(await service.get_tenant(session, principal.tenant_id, principal))
        return render(request, "home_tenant.html", tenant=tenant, weekdays=WEEKDAYS)
