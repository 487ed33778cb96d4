"""Webhooks of the acting tenant: its endpoints, their delivery log with replay, and the CRM lookup.

Endpoints and the CRM lookup are versioned forms (``frontend.editing``): a stale save keeps what was typed
and shows the saved values. A signing secret is shown once, on the page that answers its creation or
rotation (never stored by the browser). Everything goes through the services the API uses
(``app.integrations.service`` and ``app.integrations.crm``), so the pages refuse what the API refuses, an
address the SSRF guard will not reach included, next to the field it is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.tenancy import Principal
from app.integrations import crm, schemas, service
from frontend.editing import FormPage, VersionedForm, no_rows, saved_differences
from frontend.forms import Form, refused, submit, text_fields, validate_and_submit
from frontend.listing import Window
from frontend.templating import sentence
from frontend.web import flash, redirect, render
from tenants.auth import requires
from tenants.permissions import Permission, allowed

PATH = "/webhooks"
CRM_PATH = f"{PATH}/crm-lookup"
# Each event type of the catalogue as a tenant admin reads it (tests check that none is missing).
EVENT_LABELS: dict[str, str] = {
    "interaction.offered": "A contact is offered to an agent",
    "interaction.answered": "An agent answers a contact",
    "interaction.ended": "A contact ends",
    "interaction.abandoned": "A caller hangs up before being answered",
    "callback.due": "A scheduled callback is due",
    "sla.at_risk": "An SLA target is at risk",
    "sla.breached": "An SLA target is breached",
    "report.delivered": "A scheduled report is ready (the file comes with it)",
    "billing.invoice_overdue": "An invoice is overdue (a payment reminder)",
}
EVENT_CHOICES = tuple((name, EVENT_LABELS.get(name, name)) for name in schemas.EVENT_TYPES)
OVERLAPS = ((0, "stop at once"), (3600, "1 hour"), (86_400, "1 day"), (604_800, "1 week"))
DELIVERY_STATUSES = {"pending": "pending", "succeeded": "delivered", "failed": "failed"}
# A page showing a secret must not be kept by the browser or any cache.
NO_STORE = {"Cache-Control": "no-store"}
VIEW = [requires(Permission.VIEW_WEBHOOKS)]
MANAGE = [requires(Permission.MANAGE_WEBHOOKS)]


def _manage(request: Request[Principal, Any, Any]) -> bool:
    return allowed(request.user, Permission.MANAGE_WEBHOOKS)


def _checkbox(form: FormMultiDict, name: str) -> str:
    return "true" if form.get(name) else "false"


# --- endpoints ---------------------------------------------------------------------------------------

ENDPOINT_FIELDS = ("url", "description", "event_types", "enabled")


def endpoint_values(endpoint: schemas.EndpointOut) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": "true" if endpoint.enabled else "false",
        "version": str(endpoint.version),
    }


def _blank_endpoint() -> dict[str, Any]:
    return {"url": "", "description": "", "event_types": [], "enabled": "true", "version": ""}


def _read_endpoint(form: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = text_fields(form, ("url", "description", "version"))
    values["event_types"] = [str(name) for name in form.getall("event_types", [])]
    values["enabled"] = _checkbox(form, "enabled")
    return values


def _endpoint_body(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    data = {name: values[name] for name in ("url", "description", "event_types")}
    return data | {"enabled": values["enabled"] == "true"}, {}


def _readable_endpoint(values: Mapping[str, Any], name: str) -> str:
    value = values[name]
    if name == "event_types":
        return ", ".join(EVENT_LABELS.get(item, item) for item in sorted(value)) or "none"
    if name == "enabled":
        return "enabled" if value == "true" else "disabled"
    return str(value) or "none"


async def _endpoint_saved_meanwhile(
    session: AsyncSession, typed: Mapping[str, Any], endpoint: schemas.EndpointOut
) -> dict[str, str]:
    return saved_differences(typed, endpoint_values(endpoint), ENDPOINT_FIELDS, _readable_endpoint)


async def _endpoint_page(
    request: Request[Principal, Any, Any],
    session: AsyncSession,
    page: FormPage,
    endpoint: schemas.EndpointOut | None,
    *,
    secret: tuple[str, str] | None = None,
) -> Response[Any]:
    """The form of a new endpoint or of ``endpoint``; ``secret``: (its new secret, "created" or "rotated")."""
    return render(
        request,
        "webhooks/endpoint.html",
        status=page.code,
        headers=NO_STORE if secret else None,
        form=page.form,
        saved=page.saved,
        endpoint=endpoint,
        secret=secret,
        manage=_manage(request),
        event_choices=EVENT_CHOICES,
        overlaps=OVERLAPS,
    )


async def _show_new_endpoint(
    request: Request[Principal, Any, Any], session: AsyncSession, created: schemas.EndpointWithSecret
) -> Response[Any]:
    form = Form(values=endpoint_values(created))
    return await _endpoint_page(request, session, FormPage(form, code=201), created, secret=(created.secret, "created"))


async def _update_endpoint(
    session: AsyncSession, endpoint: schemas.EndpointOut, body: schemas.EndpointCreate, version: int | None
) -> Any:
    changes = schemas.EndpointUpdate(**msgspec.structs.asdict(body))
    return await service.update_endpoint(session, endpoint.id, changes, if_match=version)


ENDPOINT_FORM = VersionedForm(
    noun="webhook endpoint",
    path=PATH,
    struct=schemas.EndpointCreate,
    require=("url", "event_types"),
    read=_read_endpoint,
    edit_rows=no_rows,
    body=_endpoint_body,
    shown=lambda values: set(ENDPOINT_FIELDS),
    create=service.create_endpoint,
    update=_update_endpoint,
    differences=_endpoint_saved_meanwhile,
    show=_endpoint_page,
    label=lambda values: str(values["url"]),
    created=_show_new_endpoint,
)


async def _endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> schemas.EndpointOut:
    """The endpoint as it is saved (someone else's: 404), a snapshot a refused save cannot roll back."""
    return service.endpoint_out(await service.get_endpoint(session, endpoint_id))


class WebhookPages(Controller):
    path = PATH

    @get("/", guards=VIEW)
    async def list_endpoints(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        page = await service.list_endpoints(session, cursor=window.cursor, limit=window.limit)
        latest = await service.latest_deliveries(session, [endpoint.id for endpoint in page.items])
        return render(
            request,
            "webhooks/list.html",
            page=page,
            latest={endpoint_id: service.delivery_out(row) for endpoint_id, row in latest.items()},
            event_labels=EVENT_LABELS,
            statuses=DELIVERY_STATUSES,
            manage=_manage(request),
        )

    @get("/new", guards=MANAGE)
    async def new(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _endpoint_page(request, session, FormPage(Form(values=_blank_endpoint())), None)

    @post("/", guards=MANAGE)
    async def create(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await ENDPOINT_FORM.save(request, session, None)

    @get("/{endpoint_id:uuid}", guards=VIEW)
    async def edit(
        self, request: Request[Principal, Any, Any], session: AsyncSession, endpoint_id: uuid.UUID
    ) -> Response[Any]:
        endpoint = await _endpoint(session, endpoint_id)
        return await _endpoint_page(request, session, FormPage(Form(values=endpoint_values(endpoint))), endpoint)

    @post("/{endpoint_id:uuid}", guards=MANAGE)
    async def update(
        self, request: Request[Principal, Any, Any], session: AsyncSession, endpoint_id: uuid.UUID
    ) -> Response[Any]:
        return await ENDPOINT_FORM.save(request, session, await _endpoint(session, endpoint_id))

    @post("/{endpoint_id:uuid}/enabled", guards=MANAGE)
    async def set_enabled(
        self, request: Request[Principal, Any, Any], session: AsyncSession, endpoint_id: uuid.UUID
    ) -> Response[Any]:
        """Enables or disables the endpoint as it is now (a switch, not an edit: no version to match)."""
        endpoint = await _endpoint(session, endpoint_id)
        enabled = (await request.form()).get("enabled") == "true"
        await service.update_endpoint(session, endpoint_id, schemas.EndpointUpdate(enabled=enabled))
        flash(request, f"{endpoint.url} is {'enabled' if enabled else 'disabled'}.")
        return redirect(request, f"{PATH}/{endpoint_id}")

    @post("/{endpoint_id:uuid}/rotate", guards=MANAGE)
    async def rotate(
        self, request: Request[Principal, Any, Any], session: AsyncSession, endpoint_id: uuid.UUID
    ) -> Response[Any]:
        await _endpoint(session, endpoint_id)  # someone else's endpoint: 404 before the form is read
        rotated, errors = await validate_and_submit(
            session,
            schemas.SecretRotate,
            text_fields(await request.form(), ("overlap_seconds",)),
            lambda data: service.rotate_secret(session, endpoint_id, data),
        )
        if rotated is None:
            raise refused(errors)
        page = FormPage(Form(values=endpoint_values(rotated)))
        return await _endpoint_page(request, session, page, rotated, secret=(rotated.secret, "rotated"))

    @post("/{endpoint_id:uuid}/delete", guards=MANAGE)
    async def delete(
        self, request: Request[Principal, Any, Any], session: AsyncSession, endpoint_id: uuid.UUID
    ) -> Response[Any]:
        endpoint = await _endpoint(session, endpoint_id)
        return await ENDPOINT_FORM.delete(
            request,
            session,
            endpoint.url,
            lambda version: service.delete_endpoint(session, endpoint_id, if_match=version),
            back=f"{PATH}/{endpoint_id}",
        )

    @get("/{endpoint_id:uuid}/deliveries", guards=VIEW)
    async def deliveries(
        self, request: Request[Principal, Any, Any], session: AsyncSession, endpoint_id: uuid.UUID, window: Window
    ) -> Response[Any]:
        endpoint = await _endpoint(session, endpoint_id)
        page = await service.list_deliveries(session, endpoint_id, cursor=window.cursor, limit=window.limit)
        return render(request, "webhooks/deliveries.html", endpoint=endpoint, page=page, statuses=DELIVERY_STATUSES)

    @get("/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}", guards=VIEW)
    async def delivery(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        endpoint_id: uuid.UUID,
        delivery_id: uuid.UUID,
    ) -> Response[Any]:
        endpoint = await _endpoint(session, endpoint_id)
        delivery = service.delivery_out(await service.get_delivery(session, endpoint_id, delivery_id))
        return render(
            request,
            "webhooks/delivery.html",
            endpoint=endpoint,
            delivery=delivery,
            statuses=DELIVERY_STATUSES,
            manage=_manage(request),
        )

    @post("/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/replay", guards=MANAGE)
    async def replay(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        endpoint_id: uuid.UUID,
        delivery_id: uuid.UUID,
    ) -> Response[Any]:
        back = f"{PATH}/{endpoint_id}/deliveries/{delivery_id}"
        await service.get_delivery(session, endpoint_id, delivery_id)  # someone else's: 404, not a message
        _, errors = await submit(session, lambda: service.replay_delivery(session, endpoint_id, delivery_id))
        if errors:
            flash(request, f"Not replayed. {sentence(next(iter(errors.values())))}", "error")
        else:
            flash(request, "Replay queued: the delivery goes out again with the same webhook-id.")
        return redirect(request, back)


# --- the CRM lookup ----------------------------------------------------------------------------------

CRM_FIELDS = ("url", "timeout_ms", "cache_ttl_seconds", "enabled")


def crm_values(setting: schemas.CrmLookupOut) -> dict[str, Any]:
    return {
        "url": setting.url,
        "timeout_ms": str(setting.timeout_ms),
        "cache_ttl_seconds": str(setting.cache_ttl_seconds),
        "enabled": "true" if setting.enabled else "false",
        "version": str(setting.version),
    }


def _blank_crm() -> dict[str, Any]:
    """The form before the lookup is set up: the API's defaults. Its version 0 matches no saved setting, so a
    setting someone else made meanwhile is a stale save (shown), never silently replaced."""
    defaults = {info.name: info.default for info in msgspec.structs.fields(schemas.CrmLookupPut) if not info.required}
    return {
        "url": "",
        "timeout_ms": str(defaults["timeout_ms"]),
        "cache_ttl_seconds": str(defaults["cache_ttl_seconds"]),
        "enabled": "true",
        "version": "0",
    }


def _read_crm(form: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = text_fields(form, ("url", "timeout_ms", "cache_ttl_seconds", "version"))
    values["enabled"] = _checkbox(form, "enabled")
    return values


def _crm_body(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    data = {name: values[name] for name in ("url", "timeout_ms", "cache_ttl_seconds")}
    return data | {"enabled": values["enabled"] == "true"}, {}


def _readable_crm(values: Mapping[str, Any], name: str) -> str:
    if name == "enabled":
        return "on" if values[name] == "true" else "off"
    return str(values[name]) or "none"


async def _crm_saved_meanwhile(
    session: AsyncSession, typed: Mapping[str, Any], setting: schemas.CrmLookupOut
) -> dict[str, str]:
    return saved_differences(typed, crm_values(setting), CRM_FIELDS, _readable_crm)


async def _crm_page(
    request: Request[Principal, Any, Any],
    session: AsyncSession,
    page: FormPage,
    setting: schemas.CrmLookupOut | None,
    *,
    secret: tuple[str, str] | None = None,
) -> Response[Any]:
    return render(
        request,
        "webhooks/crm_lookup.html",
        status=page.code,
        headers=NO_STORE if secret else None,
        form=page.form,
        saved=page.saved,
        setting=setting,
        secret=secret,
        manage=_manage(request),
        overlaps=OVERLAPS,
    )


async def _show_new_crm(
    request: Request[Principal, Any, Any], session: AsyncSession, created: schemas.CrmLookupSaved
) -> Response[Any]:
    page = FormPage(Form(values=crm_values(created)), code=201)
    return await _crm_page(request, session, page, created, secret=(created.secret or "", "created"))


async def _update_crm(
    session: AsyncSession, setting: schemas.CrmLookupOut, body: schemas.CrmLookupPut, version: int | None
) -> Any:
    return await crm.update_setting(session, body, if_match=version)


CRM_FORM = VersionedForm(
    noun="CRM lookup",
    path=CRM_PATH,
    struct=schemas.CrmLookupPut,
    require=("url", "timeout_ms", "cache_ttl_seconds"),
    read=_read_crm,
    edit_rows=no_rows,
    body=_crm_body,
    shown=lambda values: set(CRM_FIELDS),
    create=crm.create_setting,
    update=_update_crm,
    differences=_crm_saved_meanwhile,
    show=_crm_page,
    label=lambda values: "",
    created=_show_new_crm,
)


async def _crm_setting(session: AsyncSession) -> schemas.CrmLookupOut | None:
    row = await crm.find_setting(session)
    return crm.settings_out(row) if row is not None else None


class CrmLookupPage(Controller):
    path = CRM_PATH

    @get("/", guards=VIEW)
    async def show(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        setting = await _crm_setting(session)
        values = crm_values(setting) if setting is not None else _blank_crm()
        return await _crm_page(request, session, FormPage(Form(values=values)), setting)

    @post("/", guards=MANAGE)
    async def save(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await CRM_FORM.save(request, session, await _crm_setting(session))

    @post("/rotate", guards=MANAGE)
    async def rotate(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        rotated, errors = await validate_and_submit(
            session,
            schemas.SecretRotate,
            text_fields(await request.form(), ("overlap_seconds",)),
            lambda data: crm.rotate_secret(session, data),
        )
        if rotated is None:
            raise refused(errors)
        page = FormPage(Form(values=crm_values(rotated)))
        return await _crm_page(request, session, page, rotated, secret=(rotated.secret, "rotated"))

    @post("/delete", guards=MANAGE)
    async def delete(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        await crm.get_setting(session)  # none set up: 404
        return await CRM_FORM.delete(
            request, session, "", lambda version: crm.delete_setting(session, if_match=version), back=CRM_PATH
        )
