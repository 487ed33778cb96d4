"""Stripe's webhooks over HTTP: ``POST /billing/stripe/webhooks``, the endpoint to register at Stripe.

Not under /api/v1 and with no session or token: the request proves it comes from Stripe by ``Stripe-Signature``
(checked by the ``stripe`` library against TENLINE_STRIPE_WEBHOOK_SECRET and the tolerance) before anything is
read from it. Answers problem details when refused (400 for a bad or stale signature, 503 when no secret is
set); Stripe retries anything but a 2xx.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import exception_handlers
from app.core.http import provide_db_session
from app.core.settings import get_settings
from billing.stripe import service
from billing.stripe.schemas import StripeWebhookAck

PATH = "/billing/stripe/webhooks"
SIGNATURE_HEADER = "Stripe-Signature"


class StripeWebhookController(Controller):
    path = PATH
    include_in_schema = False
    opt = {"csrf_exempt": True}  # signed by Stripe; no session, no cookies
    dependencies = {"session": Provide(provide_db_session)}
    # Stripe calls this: problem details, not the web UI's error pages.
    exception_handlers = exception_handlers

    @post("/", status_code=HTTP_200_OK, summary="Receive a Stripe event")
    async def receive(self, request: Request[Any, Any, Any], session: AsyncSession) -> StripeWebhookAck:
        # The exact bytes Stripe signed: the body is read raw, never decoded and re-encoded before the check.
        payload = await request.body()
        event = service.verified_event(payload, request.headers.get(SIGNATURE_HEADER), get_settings())
        return await service.receive_event(session, event)


route_handlers = [StripeWebhookController]
