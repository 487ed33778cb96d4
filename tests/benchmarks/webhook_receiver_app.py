"""The webhooks benchmark's receiver: a bare ASGI app answering 204 to every POST, as fast as uvicorn allows.

It verifies every ``SAMPLE_EVERY``-th delivery with the official ``standardwebhooks`` library (the endpoint's
secret in ``BENCH_WEBHOOK_SECRET``) and counts the rest; ``GET /stats`` answers the counts as JSON. Served by
uvicorn in its own process: ``uvicorn tests.benchmarks.webhook_receiver_app:create_app --factory``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

SAMPLE_EVERY = 10
STATS_PATH = "/stats"
SECRET_VARIABLE = "BENCH_WEBHOOK_SECRET"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes = b"", content_type: bytes = b"application/json") -> None:
    headers = [(b"content-type", content_type)] if body else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app() -> App:
    webhook = Webhook(os.environ[SECRET_VARIABLE])
    counts = {"received": 0, "verified": 0, "refused": 0}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _body(receive)
        if scope["method"] == "GET" and scope["path"] == STATS_PATH:
            await _answer(send, 200, json.dumps(counts).encode())
            return
        if scope["method"] != "POST":
            await _answer(send, 405)
            return
        counts["received"] += 1
        if counts["received"] % SAMPLE_EVERY == 1:
            headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
            try:
                webhook.verify(body, headers)
                counts["verified"] += 1
            except WebhookVerificationError:
                counts["refused"] += 1
        await _answer(send, 204)

    return app
