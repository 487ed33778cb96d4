"""Sign-in, sessions, login throttling and CSRF over real HTTP."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer
from tests.factories import PASSWORD, make_tenant, make_tenant_user, sign_in


async def test_wrong_password_is_401_problem_without_saying_which(http: httpx.AsyncClient) -> None:
    tenant = await make_tenant("auth")
    user = await make_tenant_user(tenant.id, "tenant_admin")
    for email in (user.email, "nobody-here@example.com"):
        response = await http.post("/api/v1/auth/session", json={"email": email, "password": "not-the-password"})
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["detail"] == "wrong email or password"


async def test_login_is_throttled_per_account_and_recovers_with_retry_after(http: httpx.AsyncClient) -> None:
    tenant = await make_tenant("throttle")
    user = await make_tenant_user(tenant.id, "supervisor")
    statuses = []
    for _ in range(6):
        response = await http.post("/api/v1/auth/session", json={"email": user.email, "password": "wrong-password!"})
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["status"] == 429
    # Even the right password waits until the window passes: the guesser learns nothing.
    blocked = await http.post("/api/v1/auth/session", json={"email": user.email, "password": PASSWORD})
    assert blocked.status_code == 429


async def test_session_id_changes_at_sign_in_and_sign_out_ends_it(live_server: LiveServer) -> None:
    tenant = await make_tenant("fixation")
    user = await make_tenant_user(tenant.id, "tenant_admin")
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        await client.get("/login")  # an anonymous session may exist before sign-in
        planted = client.cookies.get("tenline_session")
        response = await client.post("/api/v1/auth/session", json={"email": user.email, "password": PASSWORD})
        assert response.status_code == 200
        assert client.cookies.get("tenline_session") not in (None, planted)
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        assert (await client.get("/api/v1/me")).status_code == 200
        assert (await client.delete("/api/v1/auth/session")).status_code == 204
        assert (await client.get("/api/v1/me")).status_code == 401


async def test_csrf_token_required_for_cookie_authenticated_writes(live_server: LiveServer) -> None:
    tenant = await make_tenant("csrf")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    signed = await sign_in(live_server.url, admin.email)
    async with signed as client:
        body = {"email": "new-person@example.com", "display_name": "New Person", "role": "supervisor"}
        missing = await client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": ""})
        assert missing.status_code == 403
        assert "CSRF" in missing.json()["detail"]
        wrong = await client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403
        ok = await client.post("/api/v1/users", json=body)
        assert ok.status_code == 201, ok.text
        # A cross-site form post carries the cookie but cannot know the token.
        form = await client.post(
            "/api/v1/users",
            data={"email": "x@example.com"},
            headers={"X-CSRF-Token": "", "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 403


async def test_deactivated_user_loses_the_session_at_once(live_server: LiveServer) -> None:
    tenant = await make_tenant("deact")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    person = await make_tenant_user(tenant.id, "supervisor")
    signed_person = await sign_in(live_server.url, person.email)
    signed_admin = await sign_in(live_server.url, admin.email)
    async with signed_person as client, signed_admin as admin_client:
        assert (await client.get("/api/v1/me")).status_code == 200
        response = await admin_client.patch(f"/api/v1/users/{person.id}", json={"is_active": False})
        assert response.status_code == 200, response.text
        assert (await client.get("/api/v1/me")).status_code == 401
