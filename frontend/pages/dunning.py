"""Dunning policies for operator admins: the operator's default (a form), every tenant's policy in force and whose
it is, and one tenant's own policy (a form, and "use the operator's default").

Saving goes through the shared flow of versioned forms (``frontend.editing``): a refused value is shown next to
its field with everything typed kept, and a stale save shows what was saved meanwhile. A policy that was never
saved is version 0 (the settings' default; a tenant without its own), so every save is an update under the
version the form was loaded at. A tenant's policy is read and changed as that tenant, as the API does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.tenancy import Principal, acting_as
from billing import dunning
from billing.dunning_schemas import DunningPolicyIn, DunningPolicyOut, DunningTerms, OperatorDunningPolicyOut
from frontend.editing import FormPage, VersionedForm, no_rows, saved_differences
from frontend.forms import Form, parse_list, text_fields
from frontend.pages.billing import OPERATOR_BILLING_ADMINS, SHOWN
from frontend.web import render
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tenants.service import cross_tenant_read

DUNNING_PATH = "/operator/dunning"
FIELDS = ("payment_terms_days", "reminder_days", "suspend_after_days")
REMINDER_DAYS_HINT = "whole days after the due date, separated by commas, e.g. 7, 14"


def policy_values(policy: DunningTerms, version: int) -> dict[str, str]:
    """A policy as its form shows it (no suspension: an empty field)."""
    return {
        "payment_terms_days": str(policy.payment_terms_days),
        "reminder_days": ", ".join(str(day) for day in policy.reminder_days),
        "suspend_after_days": "" if policy.suspend_after_days is None else str(policy.suspend_after_days),
        "version": str(version),
    }


def read_form(form: FormMultiDict) -> dict[str, Any]:
    return text_fields(form, (*FIELDS, "version"))


def _body(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    data = {name: values[name] for name in FIELDS}
    try:
        data["reminder_days"] = [int(day) for day in parse_list(values["reminder_days"])]
    except ValueError:
        data["reminder_days"] = []  # not checked further: the error says how to write them
        return data, {"reminder_days": f"write {REMINDER_DAYS_HINT}"}
    return data, {}


def _readable(values: Mapping[str, Any], name: str) -> str:
    if name == "suspend_after_days":
        return str(values[name]) or "never"
    return str(values[name]) or "none"


def _shown(values: Mapping[str, Any]) -> set[str]:
    return set(FIELDS)


async def _saved_meanwhile(
    session: AsyncSession, typed: Mapping[str, Any], saved: OperatorDunningPolicyOut | DunningPolicyOut
) -> dict[str, str]:
    return saved_differences(typed, policy_values(saved, saved.version), FIELDS, _readable)


# --- the operator's default, and every tenant's policy in force -------------------------------------------------


async def _overview_page(
    request: Request[Any, Any, Any], session: AsyncSession, page: FormPage, default: OperatorDunningPolicyOut | None
) -> Response[Any]:
    async with cross_tenant_read("dunning page: every tenant's dunning policy in force") as reader:
        policies = await dunning.policies_of_every_tenant(reader)
    return render(
        request,
        "billing/dunning.html",
        status=page.code,
        form=page.form,
        saved=page.saved,
        default=default,
        policies=policies,
        **SHOWN,
    )


async def _update_default(
    session: AsyncSession, default: OperatorDunningPolicyOut, body: DunningPolicyIn, version: int | None
) -> OperatorDunningPolicyOut:
    return await dunning.set_operator_default(session, body, if_match=version)


def _policy_form(noun: str, update: Any, show: Any) -> VersionedForm[DunningPolicyIn, Any]:
    """A policy's edit form: the operator's default and a tenant's own differ only in what they save and show."""
    return VersionedForm(
        noun=noun,
        path=DUNNING_PATH,
        struct=DunningPolicyIn,
        require=(),
        read=read_form,
        edit_rows=no_rows,
        body=_body,
        shown=_shown,
        update=update,
        differences=_saved_meanwhile,
        show=show,
        label=lambda values: "",
    )


DEFAULT_FORM = _policy_form("operator's default dunning policy", _update_default, _overview_page)


# --- one tenant's own policy ----------------------------------------------------------------------------------


def _tenant_form(tenant: tenant_schemas.TenantOut) -> VersionedForm[DunningPolicyIn, DunningPolicyOut]:
    """The form of the tenant's policy; used acting as the tenant (its policy in force is what it edits)."""

    async def show(
        request: Request[Any, Any, Any], session: AsyncSession, page: FormPage, policy: DunningPolicyOut | None
    ) -> Response[Any]:
        return render(
            request,
            "billing/dunning_tenant.html",
            status=page.code,
            form=page.form,
            saved=page.saved,
            tenant=tenant,
            policy=policy,
            default=await dunning.operator_default(session),
            **SHOWN,
        )

    async def update(
        session: AsyncSession, policy: DunningPolicyOut, body: DunningPolicyIn, version: int | None
    ) -> DunningPolicyOut:
        saved, _ = await dunning.set_tenant_policy(session, body, if_match=version)
        return saved

    return _policy_form(f"dunning policy of {tenant.name}", update, show)


async def _as_tenant(
    request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
) -> tuple[tenant_schemas.TenantOut, Principal]:
    """The tenant the path names (404 when there is none, or it is deleted) and the operator acting as it."""
    tenant = tenants.tenant_out(await tenants.get_tenant(session, tenant_id, request.user))
    return tenant, request.user.acting_for(tenant.id)


class DunningPolicyPages(Controller):
    path = DUNNING_PATH
    guards = OPERATOR_BILLING_ADMINS

    @get("/")
    async def overview(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        default = await dunning.operator_default(session)
        return await _overview_page(
            request, session, FormPage(Form(values=policy_values(default, default.version))), default
        )

    @post("/")
    async def save_default(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await DEFAULT_FORM.save(request, session, await dunning.operator_default(session))

    @get("/{tenant_id:uuid}")
    async def tenant_policy(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[Any]:
        tenant, acting = await _as_tenant(request, session, tenant_id)
        with acting_as(acting):
            policy = await dunning.policy_in_force(session)
            page = FormPage(Form(values=policy_values(policy, policy.version)))
            return await _tenant_form(tenant).show(request, session, page, policy)

    @post("/{tenant_id:uuid}")
    async def save_tenant_policy(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[Any]:
        tenant, acting = await _as_tenant(request, session, tenant_id)
        with acting_as(acting):
            return await _tenant_form(tenant).save(request, session, await dunning.policy_in_force(session))

    @post("/{tenant_id:uuid}/use-default")
    async def use_default(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[Any]:
        tenant, acting = await _as_tenant(request, session, tenant_id)
        with acting_as(acting):
            return await _tenant_form(tenant).delete(
                request,
                session,
                "",
                lambda version: dunning.remove_tenant_policy(session, if_match=version),
                back=f"{DUNNING_PATH}/{tenant_id}",
            )
