"""Dunning policies over HTTP: operator admins change the operator's default (the settings until saved) and give a
tenant a policy of its own or take it away, each under If-Match and audited; tenants and their programs read the
policy in force and whose it is; bad policies are refused naming the field; the dunning job follows whatever is
in force at each run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import LiveServer, Services
from tests.factories import make_api_client, make_staff, make_tenant, make_tenant_user, sign_in, token_client
from tests.integration.test_billing_dunning import DAY, issued, run, steps

DEFAULT = "/api/v1/billing/dunning-policy/default"
IN_FORCE = "/api/v1/billing/dunning-policy"
SETTINGS_DEFAULT = {"payment_terms_days": 14, "reminder_days": [7, 14], "suspend_after_days": 30}


def own(tenant_id: uuid.UUID) -> str:
    return f"/api/v1/tenants/{tenant_id}/dunning-policy"


def terms(body: dict[str, Any]) -> dict[str, Any]:
    return {name: body[name] for name in SETTINGS_DEFAULT}


@pytest.fixture
def settings_default_after(services: Services) -> Iterator[None]:
    """The operator's default back to the settings after the test: other tests' dunning runs count on them."""
    yield
    with psycopg.connect(services.owner_url) as conn:
        conn.execute("DELETE FROM operator_dunning_policies")


@dataclass
class People:
    tenant_id: uuid.UUID
    operator: httpx.AsyncClient  # an operator admin acting for no tenant
    operator_id: uuid.UUID
    operator_name: str
    ops: httpx.AsyncClient  # an ops manager acting for the tenant
    admin: httpx.AsyncClient  # the tenant's admin
    supervisor: httpx.AsyncClient


@pytest.fixture
async def people(live_server: LiveServer) -> AsyncIterator[People]:
    tenant = await make_tenant("dunning-policy")
    operator = await make_staff("operator_admin")
    signed = {
        "operator": await sign_in(live_server.url, operator.email),
        "ops": await sign_in(live_server.url, (await make_staff("ops_manager")).email),
        "admin": await sign_in(live_server.url, (await make_tenant_user(tenant.id, "tenant_admin")).email),
        "supervisor": await sign_in(live_server.url, (await make_tenant_user(tenant.id, "supervisor")).email),
    }
    signed["ops"].client.headers["Tenline-Tenant"] = str(tenant.id)
    clients = {name: one.client for name, one in signed.items()}
    yield People(tenant_id=tenant.id, operator_id=operator.id, operator_name=operator.display_name, **clients)
    for client in clients.values():
        await client.aclose()


async def test_the_operator_default_is_the_settings_until_an_operator_admin_saves_one(
    people: People, settings_default_after: None
) -> None:
    settings = await people.operator.get(DEFAULT)
    assert settings.status_code == 200, settings.text
    assert settings.headers["ETag"] == '"0"'
    assert terms(settings.json()) == SETTINGS_DEFAULT
    assert (settings.json()["version"], settings.json()["updated_at"]) == (0, None)
    in_force = (await people.admin.get(IN_FORCE)).json()
    assert (terms(in_force), in_force["source"]) == (SETTINGS_DEFAULT, "operator")

    changed = {"payment_terms_days": 10, "reminder_days": [20, 5], "suspend_after_days": 25}
    saved = await people.operator.put(DEFAULT, json=changed, headers={"If-Match": '"0"'})
    assert saved.status_code == 200, saved.text
    assert saved.headers["ETag"] == '"1"'
    assert terms(saved.json()) == {**changed, "reminder_days": [5, 20]}  # kept sorted
    assert saved.json()["updated_by"] == people.operator_name and saved.json()["updated_at"]
    # Someone who read the settings' default saves over it: refused, nothing changed.
    stale = await people.operator.put(DEFAULT, json=SETTINGS_DEFAULT, headers={"If-Match": '"0"'})
    assert stale.status_code == 412, stale.text
    assert (await people.operator.get(DEFAULT)).headers["ETag"] == '"1"'

    # Every tenant without its own policy is under it at once, the acting tenant of an ops manager too.
    for reader in (people.admin, people.ops):
        in_force = (await reader.get(IN_FORCE)).json()
        assert (terms(in_force), in_force["source"], in_force["version"]) == (
            {**changed, "reminder_days": [5, 20]},
            "operator",
            0,
        )
    # Saved while acting for a tenant, it is still the operator's change, audited in no tenant's log.
    acting = {"If-Match": '"1"', "Tenline-Tenant": str(people.tenant_id)}
    again = await people.operator.put(DEFAULT, json={**changed, "suspend_after_days": None}, headers=acting)
    assert (again.status_code, again.json()["suspend_after_days"], again.headers["ETag"]) == (200, None, '"2"')

    # Audited in the operator's log (no tenant's), each change with what it set.
    log = await people.operator.get("/api/v1/operator/audit-log", params={"action": "dunning_policy.default_saved"})
    entries = [e for e in log.json()["items"] if e["actor_id"] == str(people.operator_id)]  # newest first
    assert [(e["tenant_id"], e["detail"]["version"], e["detail"]["suspend_after_days"]) for e in entries] == [
        (None, 2, None),
        (None, 1, 25),
    ]


async def test_a_tenants_own_policy_is_set_replaced_and_removed_under_if_match(people: People) -> None:
    url = own(people.tenant_id)
    none = await people.operator.get(url)
    assert none.status_code == 200, none.text
    assert none.headers["ETag"] == '"0"'
    assert (none.json()["source"], none.json()["version"]) == ("operator", 0)

    mine = {"payment_terms_days": 30, "reminder_days": [3, 10], "suspend_after_days": 45}
    created = await people.operator.put(url, json=mine, headers={"If-Match": '"0"'})
    assert created.status_code == 201, created.text
    assert (created.headers["ETag"], created.headers["Location"]) == ('"1"', url)
    assert (terms(created.json()), created.json()["source"]) == (mine, "tenant")
    assert (await people.operator.put(url, json=mine, headers={"If-Match": '"0"'})).status_code == 412
    replaced = await people.operator.put(url, json={**mine, "reminder_days": [3]}, headers={"If-Match": '"1"'})
    assert (replaced.status_code, replaced.headers["ETag"], replaced.json()["reminder_days"]) == (200, '"2"', [3])

    # The tenant and its programs read it as the policy in force, and see the changes in its audit log.
    in_force = (await people.admin.get(IN_FORCE)).json()
    assert (in_force["source"], in_force["version"], in_force["reminder_days"]) == ("tenant", 2, [3])
    async with token_client(str(people.admin.base_url), people.tenant_id, ["billing:read"]) as program:
        assert (await program.get(IN_FORCE)).json()["source"] == "tenant"
    log = (await people.admin.get("/api/v1/audit-log", params={"action": "dunning_policy.set"})).json()["items"]
    assert sorted(e["detail"]["version"] for e in log) == [1, 2]

    assert (await people.operator.delete(url, headers={"If-Match": '"1"'})).status_code == 412
    assert (await people.operator.delete(url, headers={"If-Match": '"2"'})).status_code == 204
    assert (await people.operator.delete(url)).status_code == 404  # none left to remove
    back = (await people.admin.get(IN_FORCE)).json()
    assert (terms(back), back["source"]) == (SETTINGS_DEFAULT, "operator")
    assert [e["action"] for e in (await people.admin.get("/api/v1/audit-log")).json()["items"]].count(
        "dunning_policy.removed"
    ) == 1

    # No such tenant: not found.
    assert (await people.operator.get(own(uuid.uuid4()))).status_code == 404
    assert (await people.operator.put(own(uuid.uuid4()), json=mine)).status_code == 404


# (what is changed in a good policy, status, the field the problem names)
BAD_POLICIES: list[tuple[dict[str, Any], int, str]] = [
    ({"payment_terms_days": 366}, 400, "payment_terms_days"),
    ({"payment_terms_days": -1}, 400, "payment_terms_days"),
    ({"reminder_days": [0]}, 400, "reminder_days"),
    ({"reminder_days": [366]}, 400, "reminder_days"),
    ({"reminder_days": list(range(1, 12)), "suspend_after_days": 20}, 400, "reminder_days"),  # 11 reminders
    ({"reminder_days": [14, 7, 14]}, 422, "reminder_days"),
    ({"suspend_after_days": 0}, 400, "suspend_after_days"),
    ({"suspend_after_days": 3651}, 400, "suspend_after_days"),
    ({"suspend_after_days": 10}, 422, "suspend_after_days"),  # before the last reminder (14)
]


async def test_bad_policies_are_refused_naming_the_field(people: People) -> None:
    for change, status, field in BAD_POLICIES:
        for url in (DEFAULT, own(people.tenant_id)):
            refused = await people.operator.put(url, json={**SETTINGS_DEFAULT, **change})
            assert refused.status_code == status, (url, change, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            problem = refused.json()
            assert field in problem["detail"], problem
            assert any(error["field"].startswith(field) for error in problem["errors"]), problem
    assert (await people.operator.get(DEFAULT)).json()["version"] == 0  # nothing saved
    assert (await people.operator.get(own(people.tenant_id))).json()["source"] == "operator"


async def test_only_operator_admins_change_policies_and_tenants_read_theirs(
    people: People, live_server: LiveServer
) -> None:
    body = SETTINGS_DEFAULT
    url = own(people.tenant_id)
    # Ops managers read the policy in force of the tenant they act for, and change nothing.
    assert (await people.ops.get(IN_FORCE)).status_code == 200
    assert (await people.ops.get(DEFAULT)).status_code == 403
    assert (await people.ops.put(DEFAULT, json=body)).status_code == 403
    for method in ("GET", "PUT", "DELETE"):
        assert (await people.ops.request(method, url, json=body)).status_code == 403
    # The tenant's admin reads its policy in force, never the operator's routes, its own tenant's included.
    assert (await people.admin.get(IN_FORCE)).status_code == 200
    assert (await people.admin.get(DEFAULT)).status_code == 403
    assert (await people.admin.put(DEFAULT, json=body)).status_code == 403
    for method in ("GET", "PUT", "DELETE"):
        assert (await people.admin.request(method, url, json=body)).status_code == 403
    assert (await people.supervisor.get(IN_FORCE)).status_code == 403
    # Programs read with billing:read; no scope reaches the operator's routes.
    async with token_client(live_server.url, people.tenant_id, ["billing:read"]) as program:
        assert (await program.get(IN_FORCE)).status_code == 200
        assert (await program.get(DEFAULT)).status_code == 403
        assert (await program.put(url, json=body)).status_code == 403
    async with token_client(live_server.url, people.tenant_id, ["reports:read"]) as program:
        assert (await program.get(IN_FORCE)).status_code == 403
    # An operator admin reads a tenant's policy in force acting for it, like any tenant's billing.
    assert (await people.operator.get(IN_FORCE)).status_code == 403
    acting = await people.operator.get(IN_FORCE, headers={"Tenline-Tenant": str(people.tenant_id)})
    assert acting.json()["source"] == "operator"


async def test_the_job_follows_the_operator_default_a_tenants_own_policy_and_its_removal(
    people: People, live_server: LiveServer, settings_default_after: None
) -> None:
    billed, invoice = await issued("dunning-policy-job")
    client, _ = await make_api_client(billed.tenant_id, ["agents:read"])
    assert invoice.issued_at is not None
    issued_at = invoice.issued_at
    # The operator's default, saved: due at once, reminded after 2 days, API clients suspended after 4.
    default = {"payment_terms_days": 0, "reminder_days": [2], "suspend_after_days": 4}
    assert (await people.operator.put(DEFAULT, json=default)).status_code == 200
    assert (await run(billed.tenant_id, issued_at + DAY)).reminders == 0
    assert (await run(billed.tenant_id, issued_at + 2 * DAY)).reminders == 1
    assert (await run(billed.tenant_id, issued_at + 4 * DAY)).suspended == 1

    # The tenant's own policy: a later reminder, never suspended: the next run lifts the suspension.
    url = own(billed.tenant_id)
    mine = {"payment_terms_days": 0, "reminder_days": [2, 6], "suspend_after_days": None}
    assert (await people.operator.put(url, json=mine)).status_code == 201
    later = await run(billed.tenant_id, issued_at + 6 * DAY)
    assert (later.reminders, later.suspended, later.resumed) == (1, 0, 1)

    # Taken away: the operator's default again, so the API clients are suspended again.
    assert (await people.operator.delete(url)).status_code == 204
    assert (await run(billed.tenant_id, issued_at + 7 * DAY)).suspended == 1
    assert await steps(billed.tenant_id) == [("reminder:2", True, 0), ("suspension", False, 0), ("reminder:6", True, 0)]
    async with await sign_in(
        live_server.url, (await make_tenant_user(billed.tenant_id, "tenant_admin")).email
    ) as admin:
        listed = (await admin.get(f"/api/v1/api-clients/{client.id}")).json()
    assert listed["suspended_by"] == "billing"


# --- pages ------------------------------------------------------------------------------------------------------

DUNNING_PAGE = "/operator/dunning"


def form(terms_days: str, reminders: str, suspend: str, version: str) -> dict[str, str]:
    return {
        "payment_terms_days": terms_days,
        "reminder_days": reminders,
        "suspend_after_days": suspend,
        "version": version,
    }


async def test_operator_admins_edit_policies_on_pages_with_readable_errors_and_stale_edits(
    people: People, settings_default_after: None
) -> None:
    overview = await people.operator.get(DUNNING_PAGE)
    assert overview.status_code == 200, overview.text
    assert "Not saved yet" in overview.text and "the policy's only sanction" in overview.text
    assert f'<tr id="policy-{people.tenant_id}">' in overview.text

    typo = await people.operator.post(DUNNING_PAGE, data=form("14", "7, x", "30", "0"))
    assert typo.status_code == 422
    assert 'id="default-reminder_days-error"' in typo.text
    assert "Write whole days after the due date, separated by commas, e.g. 7, 14." in typo.text
    assert 'class="alert alert-error"' not in typo.text  # nothing about the form as a whole
    clash = await people.operator.post(DUNNING_PAGE, data=form("400", "14, 7, 14", "10", "0"))
    assert clash.status_code == 422
    assert "Must be at most 365." in clash.text and 'value="14, 7, 14"' in clash.text  # what was typed is kept
    clash = await people.operator.post(DUNNING_PAGE, data=form("14", "14, 7, 14", "10", "0"))
    assert "Each day once: 14 given twice." in clash.text
    assert "Must be on or after the last reminder (day 14), so the suspension is announced." in clash.text

    saved = await people.operator.post(DUNNING_PAGE, data=form("21", "10, 3", "", "0"), follow_redirects=True)
    assert "Operator&#39;s default dunning policy saved." in saved.text
    assert 'value="3, 10"' in saved.text and "Version 1, saved by" in saved.text
    stale = await people.operator.post(DUNNING_PAGE, data=form("21", "5", "", "0"))
    assert stale.status_code == 422
    assert "Someone else saved this operator&#39;s default dunning policy while you were editing it" in stale.text
    assert "Saved meanwhile: 3, 10" in stale.text and 'name="version" value="1"' in stale.text

    tenant_page = f"{DUNNING_PAGE}/{people.tenant_id}"
    assert "is on the operator's default" in (await people.operator.get(tenant_page)).text
    own_saved = await people.operator.post(tenant_page, data=form("30", "5", "40", "0"), follow_redirects=True)
    assert "Dunning policy of Dunning-Policy Inc saved." in own_saved.text
    row = (await people.operator.get(DUNNING_PAGE)).text.split(f'<tr id="policy-{people.tenant_id}">')[1]
    assert "Own policy (version 1)" in row.split("</tr>")[0]
    billing = (await people.admin.get("/billing")).text
    assert "30 days after the invoice is issued" in billing and "Agreed with" in billing
    assert "No invoice is overdue." in billing

    back = await people.operator.post(f"{tenant_page}/use-default", data={"version": "1"}, follow_redirects=True)
    assert "Dunning policy of Dunning-Policy Inc deleted." in back.text
    billing = (await people.admin.get("/billing")).text
    assert "21 days after the invoice is issued" in billing and "The operator's standard terms" in billing

    for refused in (people.admin, people.ops):
        assert (await refused.get(DUNNING_PAGE)).status_code == 403
        assert (await refused.post(tenant_page, data=form("30", "5", "40", "0"))).status_code == 403
