"""Scheduled reports: set up over the API and the pages, mailed through a real SMTP server (aiosmtpd, in this
process) exactly once per due time, also when the job runs concurrently; a failed send stays due."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import datetime as dt
import email
import email.policy
import io
import os
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from standardwebhooks import Webhook

from app.core.broker import Tick
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.settings import get_settings
from app.core.tenancy import acting_as, system_principal
from app.integrations import service as webhooks
from app.reporting.actors import deliver_scheduled_reports
from tests.conftest import LiveServer, free_port
from tests.factories import make_tenant_user, sign_in
from tests.reporting_traffic import Center, fold_all, generate, make_center
from tests.webhook_receiver import Receiver

ZONE = "Europe/Oslo"


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"


@contextlib.contextmanager
def smtp_settings(port: int) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in ("TENLINE_SMTP_HOST", "TENLINE_SMTP_PORT")}
    os.environ.update({"TENLINE_SMTP_HOST": "127.0.0.1", "TENLINE_SMTP_PORT": str(port)})
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    received = Inbox()
    port = free_port()
    server = Controller(received, hostname="127.0.0.1", port=port)
    server.start()
    try:
        yield received, port
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def center() -> Center:
    made = await make_center("scheduled", ZONE)
    await generate(made, 2)
    await fold_all(made.tenant_id)
    return made


async def _run_job(tenant_id: uuid.UUID, at: dt.datetime) -> None:
    with acting_as(system_principal(tenant_id)):
        await deliver_scheduled_reports(Tick(scheduled_at=at))


async def _count(tenant_id: uuid.UUID, sql: str, **params: Any) -> int:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return int((await session.execute(sa.text(sql), {"t": tenant_id, **params})).scalar_one())


async def _schedule(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    now = dt.datetime.now(ZoneInfo(ZONE))
    body = {
        "name": f"Daily volumes {uuid.uuid4().hex[:6]}",
        "report": "volumes",
        "recipients": ["ops@fjord.example", "cfo@fjord.example"],
        # A minute ago, local time: due next tomorrow (or later today just after midnight).
        "time_of_day": (now - dt.timedelta(minutes=1)).strftime("%H:%M"),
        **fields,
    }
    response = await client.post("/api/v1/report-schedules", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_due_report_is_mailed_once_per_due_time(
    center: Center, inbox: tuple[Inbox, int], live_server: LiveServer
) -> None:
    received, port = inbox
    admin = await make_tenant_user(center.tenant_id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        schedule = await _schedule(client)
        due = dt.datetime.fromisoformat(schedule["next_due_at"])
        local_due = due.astimezone(ZoneInfo(ZONE))
        assert local_due.strftime("%H:%M") == schedule["time_of_day"] and due > dt.datetime.now(dt.UTC)
        day = local_due.date() - dt.timedelta(days=1)  # "yesterday", seen from the due time
        expected = await client.get(
            "/api/v1/reports/export", params={"report": "volumes", "format": "csv", "start": str(day)}
        )
        assert expected.status_code == 200

    with smtp_settings(port):
        await _run_job(center.tenant_id, due - dt.timedelta(seconds=1))
        assert received.messages == []
        # Three workers at once, then a late retry: one mail for this due time.
        await asyncio.gather(*(_run_job(center.tenant_id, due + dt.timedelta(seconds=1)) for _ in range(3)))
        await _run_job(center.tenant_id, due + dt.timedelta(seconds=5))
    assert len(received.messages) == 1
    message = received.messages[0]
    assert sorted(received.recipients[0]) == ["cfo@fjord.example", "ops@fjord.example"]
    assert message["Subject"] == f"Volumes and handling: Scheduled Inc, {day} to {day}"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_filename() == f"{center.slug}-volumes-{day}-to-{day}.csv"
    # The attached file is the report of that day, as the API exports it.
    assert list(csv.reader(io.StringIO(attachment.get_content()))) == list(csv.reader(io.StringIO(expected.text)))
    sql = "SELECT count(*) FROM report_deliveries WHERE tenant_id = :t AND schedule_id = :s"
    assert await _count(center.tenant_id, sql, s=uuid.UUID(schedule["id"])) == 1
    events = "SELECT count(*) FROM outbox WHERE tenant_id = :t AND topic = 'report.delivered' AND payload->>'schedule_id' = :s"
    assert await _count(center.tenant_id, events, s=schedule["id"]) == 1

    async with await sign_in(live_server.url, admin.email) as client:
        after = (await client.get(f"/api/v1/report-schedules/{schedule['id']}")).json()
    following = dt.datetime.fromisoformat(after["next_due_at"])
    assert following.astimezone(ZoneInfo(ZONE)).date() == local_due.date() + dt.timedelta(days=1)
    assert after["last_delivered_at"] is not None

    # The next due time is the next mail, for the next day.
    with smtp_settings(port):
        await _run_job(center.tenant_id, following + dt.timedelta(seconds=1))
    assert len(received.messages) == 2
    assert received.messages[1]["Subject"].endswith(f"{local_due.date()} to {local_due.date()}")


async def test_a_failed_send_stays_due_and_goes_out_later(
    center: Center, inbox: tuple[Inbox, int], live_server: LiveServer
) -> None:
    received, port = inbox
    admin = await make_tenant_user(center.tenant_id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        schedule = await _schedule(client, report="dispositions", format="xlsx", recipients=["team@fjord.example"])
    due = dt.datetime.fromisoformat(schedule["next_due_at"])
    with smtp_settings(free_port()):  # nobody listens there
        await _run_job(center.tenant_id, due + dt.timedelta(seconds=1))
    sql = "SELECT count(*) FROM report_deliveries WHERE tenant_id = :t AND schedule_id = :s"
    assert await _count(center.tenant_id, sql, s=uuid.UUID(schedule["id"])) == 0
    with smtp_settings(port):
        await _run_job(center.tenant_id, due + dt.timedelta(seconds=2))
    mine = [m for m in received.messages if "Dispositions" in m["Subject"]]
    assert len(mine) == 1
    (attachment,) = list(mine[0].iter_attachments())
    assert attachment.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert attachment.get_filename().endswith(".xlsx")
    assert await _count(center.tenant_id, sql, s=uuid.UUID(schedule["id"])) == 1


async def test_schedules_are_the_tenant_admins_and_checked(center: Center, live_server: LiveServer) -> None:
    admin = await make_tenant_user(center.tenant_id, "tenant_admin")
    viewer = await make_tenant_user(center.tenant_id, "report_viewer")
    other = await make_center("other-schedules")
    other_admin = await make_tenant_user(other.tenant_id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        schedule = await _schedule(
            client, frequency="weekly", weekday=0, granularity="interval", queue_ids=[str(center.support)]
        )
        assert schedule["weekday"] == 0
        assert dt.datetime.fromisoformat(schedule["next_due_at"]).astimezone(ZoneInfo(ZONE)).weekday() == 0
        refused = await client.post(
            "/api/v1/report-schedules",
            json={"name": "No day", "report": "volumes", "recipients": ["a@b.example"], "frequency": "weekly"},
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "weekday"
        foreign = await client.post(
            "/api/v1/report-schedules",
            json={
                "name": "Foreign",
                "report": "volumes",
                "recipients": ["a@b.example"],
                "queue_ids": [str(other.support)],
            },
        )
        assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "queue_id"
        bad_mail = await client.post(
            "/api/v1/report-schedules", json={"name": "Bad", "report": "volumes", "recipients": ["not-an-address"]}
        )
        assert bad_mail.status_code == 400 and "recipients" in bad_mail.text
        url = f"/api/v1/report-schedules/{schedule['id']}"
        stale = await client.patch(url, json={"time_of_day": "05:00"}, headers={"If-Match": '"0"'})
        assert stale.status_code == 412
        changed = await client.patch(
            url, json={"time_of_day": "05:00"}, headers={"If-Match": f'"{schedule["version"]}"'}
        )
        assert changed.status_code == 200 and changed.headers["etag"] == f'"{schedule["version"] + 1}"'
        assert (
            dt.datetime.fromisoformat(changed.json()["next_due_at"]).astimezone(ZoneInfo(ZONE)).strftime("%H:%M")
            == "05:00"
        )
        # The page lists it; the form makes one more.
        page = await client.get("/reports/schedules")
        assert page.status_code == 200 and schedule["name"] in page.text
        made = await client.post(
            "/reports/schedules",
            data={
                "name": "From the page",
                "report": "agents",
                "granularity": "day",
                "period": "last_week",
                "frequency": "daily",
                "time_of_day": "08:15",
                "format": "xlsx",
                "recipients": "a@fjord.example\nb@fjord.example",
                "enabled": "on",
            },
            follow_redirects=False,
        )
        assert made.status_code == 303
        listed = (await client.get("/api/v1/report-schedules")).json()["items"]
        from_page = next(item for item in listed if item["name"] == "From the page")
        assert from_page["recipients"] == ["a@fjord.example", "b@fjord.example"] and from_page["time_of_day"] == "08:15"
        edit = await client.get(f"/reports/schedules/{from_page['id']}")
        assert edit.status_code == 200 and "a@fjord.example\nb@fjord.example" in edit.text
        fields = {
            "name": "From the page",
            "report": "agents",
            "granularity": "day",
            "period": "last_week",
            "format": "csv",
            "frequency": "weekly",
            "weekday": "4",
            "time_of_day": "08:15",
            "recipients": "a@fjord.example",
            "version": str(from_page["version"]),
        }
        saved = await client.post(f"/reports/schedules/{from_page['id']}", data=fields, follow_redirects=False)
        assert saved.status_code == 303
        again = (await client.get(f"/api/v1/report-schedules/{from_page['id']}")).json()
        assert (again["frequency"], again["weekday"], again["format"], again["enabled"]) == ("weekly", 4, "csv", False)
        stale = await client.post(f"/reports/schedules/{from_page['id']}", data=fields, follow_redirects=False)
        assert stale.status_code == 422 and "changed since version" in stale.text
    async with await sign_in(live_server.url, viewer.email) as client:
        assert (await client.get("/api/v1/report-schedules")).status_code == 403
    async with await sign_in(live_server.url, other_admin.email) as client:
        assert (await client.get(f"/api/v1/report-schedules/{schedule['id']}")).status_code == 404
        assert (await client.delete(f"/api/v1/report-schedules/{schedule['id']}")).status_code == 404
    async with await sign_in(live_server.url, admin.email) as client:
        assert (await client.delete(f"/api/v1/report-schedules/{schedule['id']}")).status_code == 204
        assert (await client.get(f"/api/v1/report-schedules/{schedule['id']}")).status_code == 404


async def test_a_webhook_only_schedule_delivers_the_file_to_the_tenants_signed_endpoint(
    center: Center, live_server: LiveServer, receiver: Receiver
) -> None:
    admin = await make_tenant_user(center.tenant_id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        endpoint = (
            await client.post(
                "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["report.delivered"]}
            )
        ).json()
        schedule = await _schedule(client, recipients=[])
        due = dt.datetime.fromisoformat(schedule["next_due_at"])
        day = due.astimezone(ZoneInfo(ZONE)).date() - dt.timedelta(days=1)
        expected = await client.get(
            "/api/v1/reports/export", params={"report": "volumes", "format": "csv", "start": str(day)}
        )
    await _run_job(center.tenant_id, due + dt.timedelta(seconds=1))  # no mail server needed: nobody to mail
    # The outbox event becomes a delivery to the subscribed endpoint, sent signed.
    with acting_as(system_principal(center.tenant_id)):
        async with get_database().session() as session:
            pending = (
                await session.execute(
                    sa.text(
                        "SELECT id, payload FROM outbox WHERE topic = 'report.delivered' AND payload->>'schedule_id' = :s"
                    ),
                    {"s": schedule["id"]},
                )
            ).one()
            (delivery_id,) = await webhooks.create_deliveries(
                session, pending.id, "report.delivered", utcnow(), pending.payload
            )
    with acting_as(system_principal(center.tenant_id)):
        async with get_database().session() as session:
            await webhooks.attempt(session, delivery_id)
    ((headers, body),) = receiver.received
    event = Webhook(endpoint["secret"]).verify(body, headers)
    assert event["type"] == "report.delivered" and event["data"]["filename"].endswith(f"{day}-to-{day}.csv")
    delivered = base64.b64decode(event["data"]["content_base64"]).decode()
    assert list(csv.reader(io.StringIO(delivered))) == list(csv.reader(io.StringIO(expected.text)))
