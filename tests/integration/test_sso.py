"""OIDC single sign-on against a real provider: oidc-provider-mock on a loopback port in this process.

The browser is played by httpx: it follows the redirects by hand, keeps Tenline's cookies, and fills in
the provider's authorization form (choosing the subject whose claims the test stored at the provider).
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import oidc_provider_mock
import pytest
import werkzeug.serving
from sqlmodel import select

from app.core import crypto
from app.core.db import get_database
from app.core.tenancy import acting_as
from tenants import oidc, schemas, service
from tenants.models import SsoConnection, TenantMembership
from tests.conftest import LiveServer
from tests.factories import OPERATOR, PASSWORD, make_staff, make_tenant, make_tenant_user, sign_in

CLIENT_SECRET = "provider-issued-secret-0123456789"

# The provider (in this process) uses an Authlib API that Authlib itself deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real OpenID provider; ``require_nonce`` so it refuses an authorization request without one."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(require_nonce=True), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


def _hex() -> str:
    return uuid.uuid4().hex[:8]


async def set_person(provider: str, **claims: Any) -> str:
    """Stores a person at the provider; returns the subject to pick on its authorization form."""
    subject = f"person-{_hex()}"
    async with httpx.AsyncClient() as client:
        (await client.put(f"{provider}/users/{subject}", json=claims)).raise_for_status()
    return subject


async def connect(
    tenant_id: uuid.UUID,
    provider: str,
    *,
    client_id: str | None = None,
    domains: list[str] | None = None,
    provision_role: str | None = None,
    enabled: bool = True,
) -> schemas.SsoConnectionOut:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            connection, _ = await service.put_sso_connection(
                session,
                schemas.SsoConnectionIn(
                    issuer=provider,
                    client_id=client_id or f"tenline-{_hex()}",
                    client_secret=CLIENT_SECRET,
                    allowed_email_domains=domains or [],
                    provision_role=provision_role,  # type: ignore[arg-type]
                    enabled=enabled,
                ),
            )
            return connection


async def stored_connection(tenant_id: uuid.UUID) -> SsoConnection | None:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            return (await session.exec(select(SsoConnection))).first()


async def audit_actions(tenant_id: uuid.UUID, action: str) -> list[schemas.AuditEntryOut]:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            return (await service.list_tenant_audit(session, cursor=None, limit=50, action=action)).items


def login_error(response: httpx.Response) -> str | None:
    """The error code of a redirect to the login page (None for any other redirect)."""
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    if location.path != oidc.LOGIN_PATH:
        return None
    return parse_qs(location.query)["error"][0]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


class Browser:
    """One browser: Tenline's cookies in its own jar, the provider visited like any other site."""

    def __init__(self, live_server: LiveServer, provider: str) -> None:
        self.base_url = live_server.url
        self.provider = provider
        self.app = httpx.AsyncClient(base_url=live_server.url, timeout=30)

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.aclose()

    async def start(self, tenant: str) -> httpx.Response:
        """Submits the login page's "Sign in with SSO" form (GET /sso/start with a tenant field)."""
        return await self.app.get("/sso/start", params={"tenant": tenant})

    async def authorize(self, authorize_url: str, subject: str) -> str:
        """At the provider: open the form, submit the subject; returns the URL it sends the browser back to."""
        assert authorize_url.startswith(f"{self.provider}/oauth2/authorize?"), authorize_url
        async with httpx.AsyncClient(timeout=30) as idp:
            form = await idp.get(authorize_url)
            assert form.status_code == 200 and 'name="sub"' in form.text, form.text
            approved = await idp.post(authorize_url, data={"sub": subject})
        assert approved.status_code == 302, approved.text
        callback = approved.headers["location"]
        assert callback.startswith(f"{self.base_url}/sso/callback?"), callback
        return callback

    async def sign_in(self, tenant: str, subject: str, *, tamper: Callable[[str], str] | None = None) -> httpx.Response:
        started = await self.start(tenant)
        assert login_error(started) is None, started.headers["location"]
        authorize_url = started.headers["location"]
        callback = await self.authorize(tamper(authorize_url) if tamper else authorize_url, subject)
        return await self.app.get(callback)

    async def me(self) -> httpx.Response:
        return await self.app.get("/api/v1/me")


# --- sign-in ---------------------------------------------------------------------------------------


async def test_member_signs_in_and_acts_for_the_tenant(live_server: LiveServer, provider: str) -> None:
    tenant = await make_tenant("bank")
    admin = await make_tenant_user(tenant.id, "tenant_admin", email=f"ada-{_hex()}@bank.example")
    connection = await connect(tenant.id, provider, domains=["bank.example"])
    subject = await set_person(provider, email=admin.email.upper(), email_verified=True, name="Ada Admin")

    async with Browser(live_server, provider) as browser:
        # The login form's text field, typed carelessly; an email, if given, is only a hint for the provider.
        started = await browser.app.get(
            "/sso/start", params={"tenant": f"  {tenant.slug.upper()} ", "email": admin.email}
        )
        authorize_url = started.headers["location"]
        request = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        assert request["response_type"] == "code"
        assert request["client_id"] == connection.client_id
        assert request["scope"] == "openid email profile"
        assert request["redirect_uri"] == f"{live_server.url}/sso/callback"
        assert request["code_challenge_method"] == "S256" and len(request["code_challenge"]) >= 43
        assert len(request["state"]) >= 32 and len(request["nonce"]) >= 32
        assert request["login_hint"] == admin.email
        pre_login_cookie = browser.app.cookies["tenline_session"]

        done = await browser.app.get(await browser.authorize(authorize_url, subject))
        assert done.headers["location"] == "/"
        assert browser.app.cookies["tenline_session"] != pre_login_cookie  # new session id at sign-in
        me = (await browser.me()).json()
        assert me["subject_id"] == str(admin.id)
        assert me["tenant_id"] == str(tenant.id)
        assert me["roles"] == ["tenant_admin"]

        # The signed-in admin reads the sign-in in the tenant's own audit log.
        entries = (await browser.app.get("/api/v1/audit-log", params={"action": "user.sso_login"})).json()["items"]
        assert len(entries) == 1
        assert entries[0]["actor_id"] == str(admin.id)
        assert entries[0]["detail"] == {"issuer": provider, "subject": subject, "role": "tenant_admin"}

        # The callback URL is single-use: replayed, it finds no pending sign-in.
        replay = await browser.app.get(done.request.url)
        assert login_error(replay) == "sso_state_mismatch"


async def test_state_mismatch_is_refused(live_server: LiveServer, provider: str) -> None:
    tenant = await make_tenant("bank")
    member = await make_tenant_user(tenant.id, "supervisor")
    await connect(tenant.id, provider)
    subject = await set_person(provider, email=member.email)

    async with Browser(live_server, provider) as browser:
        started = await browser.start(tenant.slug)
        callback = await browser.authorize(started.headers["location"], subject)
        forged = await browser.app.get(with_query(callback, state="forged-" + _hex()))
        assert login_error(forged) == "sso_state_mismatch"
        # The forged attempt used up the pending sign-in: the genuine callback is refused too.
        assert login_error(await browser.app.get(callback)) == "sso_state_mismatch"
        assert (await browser.me()).status_code == 401

    # A callback in a browser that never started a sign-in (login CSRF) is refused.
    async with Browser(live_server, provider) as victim, Browser(live_server, provider) as attacker:
        started = await attacker.start(tenant.slug)
        callback = await attacker.authorize(started.headers["location"], subject)
        assert login_error(await victim.app.get(callback)) == "sso_state_mismatch"
        assert (await victim.me()).status_code == 401


async def test_id_token_with_another_nonce_is_refused(live_server: LiveServer, provider: str) -> None:
    tenant = await make_tenant("bank")
    member = await make_tenant_user(tenant.id, "supervisor")
    await connect(tenant.id, provider)
    subject = await set_person(provider, email=member.email)

    async with Browser(live_server, provider) as browser:
        # The provider puts whatever nonce the request carried into the ID token.
        done = await browser.sign_in(tenant.slug, subject, tamper=lambda url: with_query(url, nonce="replayed-nonce"))
        assert login_error(done) == "sso_invalid_token"
        assert (await browser.me()).status_code == 401


async def _id_token_for_another_client(provider: str, redirect_uri: str, subject: str) -> tuple[str, str]:
    """Registers a second client at the provider and runs its code flow; returns (client id, ID token)."""
    async with httpx.AsyncClient(base_url=provider, timeout=30) as idp:
        registered = await idp.post("/oauth2/clients", json={"redirect_uris": [redirect_uri]})
        registered.raise_for_status()
        other = registered.json()
        params = {
            "client_id": other["client_id"],
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": "openid email",
            "state": "s",
            "nonce": "other-nonce",
        }
        approved = await idp.post("/oauth2/authorize", params=params, data={"sub": subject})
        code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
        token = await idp.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            auth=(other["client_id"], other["client_secret"]),
        )
        token.raise_for_status()
        return other["client_id"], token.json()["id_token"]


async def test_token_for_another_audience_is_refused(live_server: LiveServer, provider: str) -> None:
    tenant = await make_tenant("bank")
    member = await make_tenant_user(tenant.id, "supervisor")
    connection = await connect(tenant.id, provider)
    subject = await set_person(provider, email=member.email)
    callback_uri = f"{live_server.url}/sso/callback"
    other_client, other_token = await _id_token_for_another_client(provider, callback_uri, subject)

    # A genuine, well-signed ID token issued to another client is not accepted for ours.
    metadata = await oidc.discover(provider)
    with pytest.raises(oidc.IdTokenError, match="aud"):
        await oidc.verified_claims(other_token, metadata, client_id=connection.client_id, nonce="other-nonce")
    claims = await oidc.verified_claims(other_token, metadata, client_id=other_client, nonce="other-nonce")
    assert claims["aud"] == [other_client] and claims["email"] == member.email

    # Through the browser: a code the provider issued to the other client does not redeem for ours.
    async with Browser(live_server, provider) as browser:
        done = await browser.sign_in(tenant.slug, subject, tamper=lambda url: with_query(url, client_id=other_client))
        assert login_error(done) == "sso_token_failed"
        assert (await browser.me()).status_code == 401


async def test_email_checks(live_server: LiveServer, provider: str) -> None:
    tenant = await make_tenant("bank")
    outsider = await make_tenant_user(tenant.id, "supervisor", email=f"eve-{_hex()}@other.example")
    unverified = await make_tenant_user(tenant.id, "supervisor", email=f"uma-{_hex()}@bank.example")
    await connect(tenant.id, provider, domains=["bank.example"])
    cases = [
        (await set_person(provider, email=outsider.email, email_verified=True), "sso_domain_not_allowed"),
        (await set_person(provider, email=unverified.email, email_verified=False), "sso_email_unverified"),
        (await set_person(provider, name="No Email"), "sso_email_missing"),
    ]
    for subject, expected in cases:
        async with Browser(live_server, provider) as browser:
            assert login_error(await browser.sign_in(tenant.slug, subject)) == expected
            assert (await browser.me()).status_code == 401
    refusals = await audit_actions(tenant.id, "user.sso_refused")
    assert sorted(e.detail["code"] for e in refusals) == sorted(code for _, code in cases)


async def test_unknown_person_is_refused_unless_provisioning_is_on(live_server: LiveServer, provider: str) -> None:
    tenant = await make_tenant("bank")
    email = f"newcomer-{_hex()}@bank.example"
    subject = await set_person(provider, email=email, email_verified=True, name="New Comer")

    await connect(tenant.id, provider)
    async with Browser(live_server, provider) as browser:
        assert login_error(await browser.sign_in(tenant.slug, subject)) == "sso_no_account"
    async with get_database().session() as session:
        assert await service.find_login(session, email) is None

    await connect(tenant.id, provider, provision_role="supervisor")
    async with Browser(live_server, provider) as browser:
        assert login_error(await browser.sign_in(tenant.slug, subject)) is None
        me = (await browser.me()).json()
        assert me["tenant_id"] == str(tenant.id) and me["roles"] == ["supervisor"]
        assert me["display_name"] == "New Comer"
    async with get_database().session() as session:
        user = await service.find_login(session, email)
    assert user is not None and user.password_hash is None
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            membership = (await session.exec(select(TenantMembership).where(TenantMembership.user_id == user.id))).one()
    assert membership.role == "supervisor"
    provisioned = await audit_actions(tenant.id, "user.provisioned")
    assert [(e.object_id, e.detail["role"], e.detail["via"]) for e in provisioned] == [
        (str(user.id), "supervisor", "sso")
    ]
    assert [e.actor_id for e in await audit_actions(tenant.id, "user.sso_login")] == [user.id]


async def test_people_the_tenant_does_not_own_are_refused(live_server: LiveServer, provider: str) -> None:
    """Even with provisioning on and no domain list, a tenant's provider cannot speak for these people."""
    tenant = await make_tenant("bank")
    elsewhere = await make_tenant("retail")
    other_tenants_member = await make_tenant_user(elsewhere.id, "tenant_admin")
    operator_admin = await make_staff("operator_admin")
    await connect(tenant.id, provider, provision_role="tenant_admin")
    for email in (other_tenants_member.email, operator_admin.email):
        subject = await set_person(provider, email=email, email_verified=True)
        async with Browser(live_server, provider) as browser:
            assert login_error(await browser.sign_in(tenant.slug, subject)) == "sso_no_account"
            assert (await browser.me()).status_code == 401
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            assert (await session.exec(select(TenantMembership))).all() == []


async def test_unavailable_connections(live_server: LiveServer, provider: str) -> None:
    tenant = await make_tenant("bank")
    member = await make_tenant_user(tenant.id, "supervisor")
    subject = await set_person(provider, email=member.email)
    async with Browser(live_server, provider) as browser:
        assert login_error(await browser.start("")) == "sso_tenant_required"
        assert login_error(await browser.start(f"no-such-tenant-{_hex()}")) == "sso_unavailable"
        assert login_error(await browser.start(tenant.slug)) == "sso_unavailable"  # no connection yet

        await connect(tenant.id, provider, enabled=False)
        assert login_error(await browser.start(tenant.slug)) == "sso_unavailable"

        # Disabled while the person is at the provider: the callback refuses too.
        await connect(tenant.id, provider)
        started = await browser.start(tenant.slug)
        callback = await browser.authorize(started.headers["location"], subject)
        await connect(tenant.id, provider, enabled=False)
        assert login_error(await browser.app.get(callback)) == "sso_unavailable"
        assert (await browser.me()).status_code == 401


async def test_the_client_secret_is_stored_encrypted(provider: str) -> None:
    tenant = await make_tenant("bank")
    await connect(tenant.id, provider)
    row = await stored_connection(tenant.id)
    assert row is not None
    assert CLIENT_SECRET not in row.client_secret_encrypted
    assert service.sso_client_secret(row) == CLIENT_SECRET
    # Bound to its tenant: the same ciphertext in another tenant's row does not decrypt.
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(row.client_secret_encrypted, purpose=f"sso-client-secret:{uuid.uuid4()}")


# --- administration --------------------------------------------------------------------------------


async def test_browser_routes_stay_out_of_the_api_schema(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/schema/openapi.json")).json()["paths"]
    assert "/api/v1/sso" in paths
    assert not [path for path in paths if path.startswith("/sso")]


def _field_errors(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return [error["field"] for error in response.json().get("errors", [])]


async def test_tenant_admin_manages_the_connection(live_server: LiveServer, provider: str) -> None:
    tenant = await make_tenant("bank")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    body = {
        "issuer": provider,
        "client_id": "tenline-bank",
        "client_secret": CLIENT_SECRET,
        "allowed_email_domains": ["Bank.example", "bank.example", "staff.bank.example"],
        "provision_role": "report_viewer",
    }
    async with await sign_in(live_server.url, admin.email, PASSWORD) as client:
        assert (await client.get("/api/v1/sso")).status_code == 404

        for issuer in ("http://idp.example.com", f"{provider}/missing", "https://idp.invalid", "not a url"):
            refused = await client.put("/api/v1/sso", json={**body, "issuer": issuer})
            assert refused.status_code == 422, (issuer, refused.text)
            assert _field_errors(refused) == ["issuer"]
        no_secret = await client.put("/api/v1/sso", json={k: v for k, v in body.items() if k != "client_secret"})
        assert no_secret.status_code == 422 and _field_errors(no_secret) == ["client_secret"]
        bad_role = await client.put("/api/v1/sso", json={**body, "provision_role": "operator_admin"})
        assert bad_role.status_code == 400 and "provision_role" in bad_role.text
        assert (await client.get("/api/v1/sso")).status_code == 404

        created = await client.put("/api/v1/sso", json=body)
        assert created.status_code == 201, created.text
        out = created.json()
        assert "client_secret" not in out and CLIENT_SECRET not in created.text
        assert out["allowed_email_domains"] == ["bank.example", "staff.bank.example"]
        assert out["redirect_uri"] == f"{live_server.url}/sso/callback"
        assert out["login_url"] == f"{live_server.url}/sso/start?tenant={tenant.slug}"
        assert (await client.get("/api/v1/sso")).json() == out
        row = await stored_connection(tenant.id)
        assert row is not None and service.sso_client_secret(row) == CLIENT_SECRET
        first_ciphertext = row.client_secret_encrypted

        # Omitting the secret on update keeps it...
        kept = await client.put("/api/v1/sso", json={**body, "client_secret": None, "enabled": False})
        assert kept.status_code == 200 and kept.json()["enabled"] is False
        row = await stored_connection(tenant.id)
        assert row is not None and row.client_secret_encrypted == first_ciphertext
        # ...unless the client changes: a kept secret would belong to the old registration.
        moved = await client.put("/api/v1/sso", json={**body, "client_id": "another", "client_secret": None})
        assert moved.status_code == 422 and _field_errors(moved) == ["client_secret"]
        rotated = await client.put("/api/v1/sso", json={**body, "client_secret": "rotated-secret"})
        assert rotated.status_code == 200
        row = await stored_connection(tenant.id)
        assert row is not None and service.sso_client_secret(row) == "rotated-secret"

        assert (await client.delete("/api/v1/sso")).status_code == 204
        assert (await client.get("/api/v1/sso")).status_code == 404
        assert (await client.delete("/api/v1/sso")).status_code == 404
        audit = (await client.get("/api/v1/audit-log")).json()["items"]
        sso_audit = [(e["action"], e["detail"].get("fields")) for e in audit if e["action"].startswith("sso.")]
        assert sso_audit == [
            ("sso.connection_deleted", None),
            ("sso.connection_updated", ["enabled", "client_secret"]),  # PUT replaces: enabled is back to true
            ("sso.connection_updated", ["enabled"]),
            (
                "sso.connection_created",
                ["allowed_email_domains", "client_id", "enabled", "issuer", "provision_role", "client_secret"],
            ),
        ]
        assert all(e["actor_id"] == str(admin.id) for e in audit if e["action"].startswith("sso."))


async def test_only_tenant_admins_manage_sso(live_server: LiveServer, provider: str) -> None:
    tenant = await make_tenant("bank")
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    await connect(tenant.id, provider)
    async with await sign_in(live_server.url, supervisor.email, PASSWORD) as client:
        assert (await client.get("/api/v1/sso")).status_code == 403
        assert (await client.delete("/api/v1/sso")).status_code == 403
    assert await stored_connection(tenant.id) is not None


async def test_another_tenants_admin_sees_only_their_own(live_server: LiveServer, provider: str) -> None:
    bank = await make_tenant("bank")
    retail = await make_tenant("retail")
    bank_connection = await connect(bank.id, provider, client_id="tenline-bank")
    retail_admin = await make_tenant_user(retail.id, "tenant_admin")
    async with await sign_in(live_server.url, retail_admin.email, PASSWORD) as client:
        assert (await client.get("/api/v1/sso")).status_code == 404
        assert (await client.delete("/api/v1/sso")).status_code == 404
        own = await client.put(
            "/api/v1/sso", json={"issuer": provider, "client_id": "tenline-retail", "client_secret": "retail-secret"}
        )
        assert own.status_code == 201, own.text
        assert own.json()["id"] != str(bank_connection.id)
        assert (await client.get("/api/v1/sso")).json()["client_id"] == "tenline-retail"
        assert (await client.delete("/api/v1/sso")).status_code == 204

    bank_row = await stored_connection(bank.id)
    assert bank_row is not None and bank_row.id == bank_connection.id
    assert bank_row.client_id == "tenline-bank" and service.sso_client_secret(bank_row) == CLIENT_SECRET


async def test_an_sso_session_stays_in_the_tenant_that_vouched_for_it(live_server: LiveServer, provider: str) -> None:
    bank, other = await make_tenant("bank"), await make_tenant("other")
    email = f"both-{_hex()}@bank.example"
    await make_tenant_user(bank.id, "tenant_admin", email=email)
    await make_tenant_user(other.id, "tenant_admin", email=email)
    await connect(bank.id, provider, domains=["bank.example"])
    subject = await set_person(provider, email=email, email_verified=True, name="Both")
    async with Browser(live_server, provider) as browser:
        done = await browser.sign_in(bank.slug, subject)
        assert done.headers["location"] == "/"
        home = await browser.app.get("/")
        csrf = re.search(r'name="_csrf" value="([^"]+)"', home.text)
        assert csrf is not None
        switched = await browser.app.post("/switch-tenant", data={"tenant_id": str(other.id), "_csrf": csrf.group(1)})
        assert switched.status_code == 403
        assert "SSO" in switched.text, switched.text[:500]
        assert (await browser.me()).json()["tenant_id"] == str(bank.id)
