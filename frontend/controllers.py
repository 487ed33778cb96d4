"""Page controllers of the web UI, mounted under one router that gives every page the same frame."""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.di import Provide

from app.core.http import provide_db_session
from frontend.layout import layout_middleware
from frontend.listing import provide_window
from frontend.pages.account import AccountController
from frontend.pages.agent_skills import AgentSkillPages
from frontend.pages.api_clients import ApiClientPages
from frontend.pages.audit import operator_audit, tenant_audit
from frontend.pages.billing import BillingPages, operator_billing, operator_finalise, operator_void
from frontend.pages.billing_archive import operator_archive, operator_archived_file
from frontend.pages.billing_margin import enter_pool_cost, operator_margin
from frontend.pages.callbacks import CallbackPages
from frontend.pages.customers import CustomerPages
from frontend.pages.desktop import DesktopPages
from frontend.pages.dispositions import DispositionCodePages
from frontend.pages.dunning import DunningPolicyPages
from frontend.pages.entry_points import EntryPointPages
from frontend.pages.live import LivePages, PoolLivePages
from frontend.pages.number_registry import NumberRegistryPages
from frontend.pages.people import AgentPoolPages, StaffPages, UserPages, tenant_agents
from frontend.pages.phone_numbers import PhoneNumberPages
from frontend.pages.queues import QueuePages
from frontend.pages.reports import OperatorReportPages, ReportPages, ReportSchedulePages
from frontend.pages.sla import SlaAlertPages, SlaAttainmentPages, SlaContractPages, operator_alerts
from frontend.pages.sso import SsoPages
from frontend.pages.tenants import SettingsPage, TenantPages
from frontend.pages.webhooks import CrmLookupPage, WebhookPages
from frontend.pages.wfm import PoolWorkforcePages, WorkforcePages
from frontend.web import people_only

pages = Router(
    path="/",
    route_handlers=[
        AccountController,
        TenantPages,
        SettingsPage,
        UserPages,
        StaffPages,
        AgentPoolPages,
        tenant_agents,
        tenant_audit,
        operator_audit,
        ApiClientPages,
        WebhookPages,
        CrmLookupPage,
        SsoPages,
        QueuePages,
        EntryPointPages,
        CustomerPages,
        PhoneNumberPages,
        DispositionCodePages,
        CallbackPages,
        NumberRegistryPages,
        AgentSkillPages,
        DesktopPages,
        LivePages,
        PoolLivePages,
        ReportPages,
        OperatorReportPages,
        ReportSchedulePages,
        SlaContractPages,
        SlaAttainmentPages,
        SlaAlertPages,
        operator_alerts,
        WorkforcePages,
        PoolWorkforcePages,
        BillingPages,
        operator_billing,
        operator_finalise,
        operator_void,
        operator_archive,
        operator_archived_file,
        operator_margin,
        enter_pool_cost,
        DunningPolicyPages,
    ],
    dependencies={"session": Provide(provide_db_session), "window": Provide(provide_window, sync_to_thread=False)},
    middleware=[layout_middleware],
    guards=[people_only],
    include_in_schema=False,
)

route_handlers: list[Any] = [pages]
