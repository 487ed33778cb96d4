"""Outgoing mail over SMTP (stdlib ``smtplib``, in a thread so the event loop keeps running)."""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

from app.core.settings import Settings


class MailNotConfigured(RuntimeError):
    """TENLINE_SMTP_HOST is not set."""


@dataclasses.dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str  # e.g. "text/csv"


def message(
    settings: Settings, *, to: Sequence[str], subject: str, body: str, attachments: Sequence[Attachment] = ()
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail.set_content(body)
    for attachment in attachments:
        maintype, _, subtype = attachment.media_type.partition(";")[0].strip().partition("/")
        mail.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return mail


def _send(settings: Settings, mail: EmailMessage) -> None:
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as server:
        server.ehlo()
        if server.has_extn("starttls"):
            server.starttls()
            server.ehlo()
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            server.login(settings.smtp_user, password)
        server.send_message(mail)


async def send(settings: Settings, mail: EmailMessage) -> None:
    """Hand the message to the SMTP server; raises ``MailNotConfigured`` or the server's refusal."""
    if not settings.smtp_host:
        raise MailNotConfigured("TENLINE_SMTP_HOST is not set: no mail can be sent")
    await asyncio.to_thread(_send, settings, mail)
