"""A typed Python client of the Tenline API v1, for tenants' programs (CRM connectors, scripts).

- Signs in with OAuth2 client credentials through Authlib, which fetches a new token when one runs out.
- Answers are the API's own msgspec structs (the ones the server encodes), so a program sees exactly the
  documented fields, typed; lists are async iterators that follow the cursors.
- Every write carries an ``Idempotency-Key``, kept across its retries: a write retried after a lost answer is
  applied once. 429 and 502/503/504 answers and connection errors are retried with backoff (stamina),
  honouring ``Retry-After``.
- Problems (RFC 9457) raise ``ProblemError`` with the status, the detail and the field errors.

See the README's "Tenant API" section for an example script.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
import msgspec
import stamina
from authlib.integrations.httpx_client import AsyncOAuth2Client

from app.core.pagination import Page
from app.customers.schemas import CustomerCreate, CustomerOut, CustomerReplace, CustomerUpdate
from app.integrations.schemas import DeliveryOut, EndpointCreate, EndpointOut, EndpointWithSecret
from app.routing.callbacks.schemas import CallbackCreate, CallbackOut
from app.routing.schemas import DispositionCodeOut, InteractionOut, InteractionSummary, QueueLiveList, QueueOut

T = TypeVar("T")
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
WRITES = frozenset({"POST", "PUT", "PATCH"})
Params = Mapping[str, str | int | bool | dt.datetime | uuid.UUID | None]


class ProblemError(Exception):
    """The API refused: an RFC 9457 problem (``status``, ``detail``, ``errors`` naming fields)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.detail: str = problem.get("detail") or problem.get("title") or f"HTTP {status}"
        self.errors: list[dict[str, Any]] = problem.get("errors") or []
        super().__init__(f"{status}: {self.detail}")


class _RetryableAnswer(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        super().__init__(f"HTTP {response.status_code}")


def _retry_wait(exc: Exception) -> bool | float:
    """stamina's hook: whether to retry, and how long to wait when the server said (Retry-After)."""
    if isinstance(exc, _RetryableAnswer):
        retry_after = exc.response.headers.get("retry-after", "")
        return float(retry_after) if retry_after.isdigit() else True
    return isinstance(exc, httpx.TransportError)


class TenlineClient:
    """``async with TenlineClient(url, client_id, secret) as tenline: ...``"""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        timeout: float = 10.0,
        attempts: int = 4,
    ) -> None:
        self.attempts = attempts
        self._oauth = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
            token_endpoint=f"{base_url.rstrip('/')}/oauth/token",
            grant_type="client_credentials",
            base_url=base_url,
            timeout=timeout,
        )

    async def __aenter__(self) -> Self:
        await self._oauth.fetch_token()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._oauth.aclose()

    # --- the one request path -------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: msgspec.Struct | None = None,
        params: Params | None = None,
        if_match: int | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if method in WRITES:
            headers["Idempotency-Key"] = str(uuid.uuid4())  # the same for every retry of this write
        if body is not None:
            headers["Content-Type"] = "application/json"
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        query = {
            k: str(v) if not isinstance(v, bool) else str(v).lower() for k, v in (params or {}).items() if v is not None
        }
        content = msgspec.json.encode(body) if body is not None else None
        async for attempt in stamina.retry_context(on=_retry_wait, attempts=self.attempts, wait_max=30.0):
            with attempt:
                response = await self._oauth.request(method, path, content=content, params=query, headers=headers)
                if response.status_code in RETRIED_STATUSES:
                    raise _RetryableAnswer(response)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:500]}
            raise ProblemError(response.status_code, problem if isinstance(problem, dict) else {})
        return response

    async def _call(self, answer: type[T], method: str, path: str, **options: Any) -> T:
        response = await self._send(method, path, **options)
        return msgspec.json.decode(response.content, type=answer)

    async def _pages(self, item: type[T], path: str, params: Params) -> AsyncIterator[T]:
        cursor: str | None = None
        while True:
            page = await self._call(Page[item], "GET", path, params={**params, "cursor": cursor})  # type: ignore[valid-type]
            for found in page.items:
                yield found
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # --- customers ------------------------------------------------------------------------------

    async def upsert_customer(self, external_id: str, customer: CustomerReplace) -> CustomerOut:
        """Creates or replaces the customer the CRM knows as ``external_id``."""
        path = f"/api/v1/customers/by-external-id/{quote(external_id, safe='')}"
        return await self._call(CustomerOut, "PUT", path, body=customer)

    async def create_customer(self, customer: CustomerCreate) -> CustomerOut:
        return await self._call(CustomerOut, "POST", "/api/v1/customers", body=customer)

    async def get_customer(self, customer_id: uuid.UUID) -> CustomerOut:
        return await self._call(CustomerOut, "GET", f"/api/v1/customers/{customer_id}")

    async def update_customer(
        self, customer_id: uuid.UUID, change: CustomerUpdate, *, if_match: int | None = None
    ) -> CustomerOut:
        return await self._call(
            CustomerOut, "PATCH", f"/api/v1/customers/{customer_id}", body=change, if_match=if_match
        )

    async def delete_customer(self, customer_id: uuid.UUID, *, if_match: int | None = None) -> None:
        await self._send("DELETE", f"/api/v1/customers/{customer_id}", if_match=if_match)

    def customers(self, **filters: str | dt.datetime | None) -> AsyncIterator[CustomerOut]:
        """Filters: external_id, phone, q, updated_since, sort."""
        return self._pages(CustomerOut, "/api/v1/customers", filters)

    # --- interactions, queues, dispositions --------------------------------------------------------

    def interactions(self, **filters: str | uuid.UUID | dt.datetime | None) -> AsyncIterator[InteractionSummary]:
        """Filters: state, channel, queue_id, agent_id, caller, disposition, arrived_from, arrived_to, sort."""
        return self._pages(InteractionSummary, "/api/v1/interactions", filters)

    async def get_interaction(self, interaction_id: uuid.UUID) -> InteractionOut:
        """The interaction with its events in order and its disposition."""
        return await self._call(InteractionOut, "GET", f"/api/v1/interactions/{interaction_id}")

    def queues(self) -> AsyncIterator[QueueOut]:
        return self._pages(QueueOut, "/api/v1/queues", {})

    async def queues_live(self) -> QueueLiveList:
        """Waiting contacts, longest wait, agents by state and today's service level, per queue."""
        return await self._call(QueueLiveList, "GET", "/api/v1/queues/live")

    def disposition_codes(self) -> AsyncIterator[DispositionCodeOut]:
        return self._pages(DispositionCodeOut, "/api/v1/disposition-codes", {})

    # --- callbacks ------------------------------------------------------------------------------

    async def schedule_callback(self, callback: CallbackCreate) -> CallbackOut:
        return await self._call(CallbackOut, "POST", "/api/v1/callbacks", body=callback)

    async def cancel_callback(self, callback_id: uuid.UUID, *, if_match: int | None = None) -> CallbackOut:
        return await self._call(CallbackOut, "POST", f"/api/v1/callbacks/{callback_id}/cancel", if_match=if_match)

    def callbacks(self, **filters: str | uuid.UUID | dt.datetime | None) -> AsyncIterator[CallbackOut]:
        return self._pages(CallbackOut, "/api/v1/callbacks", filters)

    # --- webhooks -------------------------------------------------------------------------------

    async def create_webhook_endpoint(self, endpoint: EndpointCreate) -> EndpointWithSecret:
        """The answer holds the signing secret, this once."""
        return await self._call(EndpointWithSecret, "POST", "/api/v1/webhook-endpoints", body=endpoint)

    def webhook_endpoints(self) -> AsyncIterator[EndpointOut]:
        return self._pages(EndpointOut, "/api/v1/webhook-endpoints", {})

    def webhook_deliveries(self, endpoint_id: uuid.UUID) -> AsyncIterator[DeliveryOut]:
        return self._pages(DeliveryOut, f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries", {})

    async def replay_delivery(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryOut:
        path = f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay"
        return await self._call(DeliveryOut, "POST", path)
