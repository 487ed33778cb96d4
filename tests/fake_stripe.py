"""An in-process Stripe for tests: a real HTTP server speaking the subset of Stripe's REST API Tenline uses.

Stripe's servers cannot be reached from here, so the official ``stripe`` library's ``StripeClient`` is pointed at
this server (``TENLINE_STRIPE_API_BASE``). It takes what the library sends (form-encoded bodies with Stripe's
``a[b][0]=c`` nesting, ``Authorization: Bearer <key>``, ``Idempotency-Key``) and answers what Stripe answers:
JSON objects with ``id`` and ``object``, lists and search results, and errors as ``{"error": {...}}`` with
Stripe's status codes (400/404 invalid request, 401 bad key, 500 for a planned fault).

Idempotency as Stripe documents it: a POST whose key was seen with the same method, path and parameters gets the
first answer again (``Idempotent-Replayed: true``) and changes nothing; the same key with other parameters is an
``idempotency_error``. Only answers of requests that got past validation are kept, as at Stripe.

Faults are planned per request (``plan``): answer an error instead of acting, or act and then drop the connection
without answering (a lost response, which the client retries under the same key).

``sign_webhook`` and ``post_webhook`` sign event payloads exactly as Stripe does (``Stripe-Signature: t=...,v1=...``,
HMAC-SHA256 of ``"{t}.{payload}"`` with the endpoint's secret) and post them to Tenline.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx

FAKE_API_KEY = "sk_test_tenline_fake_0123456789"
API_VERSION = "2026-10-28.endive"

Params = dict[str, Any]


class StripeFault(Exception):
    """An error answered the way Stripe answers it: ``{"error": {"type", "message", "code", "param"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": {"type": type, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


@dataclass(frozen=True)
class Fault:
    """A planned fault for the next request matching ``method`` and ``path`` (a regular expression).

    ``kind="error"``: answer ``status`` with a Stripe error without acting. ``kind="lose_response"``: act (and keep
    the idempotent answer), then close the connection without answering. ``after``: let that many matching
    requests through first.
    """

    method: str
    path: str
    kind: Literal["error", "lose_response"] = "error"
    status: int = 500
    message: str = "An unknown error occurred"
    after: int = 0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    params: Params
    idempotency_key: str | None
    status: int
    replayed: bool


@dataclass
class _Kept:
    """The first answer to an idempotency key, with what it was for."""

    method: str
    path: str
    params: Params
    status: int
    body: bytes


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def decode_form(body: str) -> Params:
    """Stripe's form encoding back into nested values: ``a[b]=1`` a dict, ``a[0][b]=1`` a list of dicts."""
    root: Params = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {key: _lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _integer(params: Params, name: str, *, required: bool = False) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise StripeFault(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        return None
    try:
        return int(raw)
    except ValueError:
        raise StripeFault(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name) from None


def _boolean(params: Params, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise StripeFault(400, f"Invalid boolean: {raw}", code="parameter_invalid_boolean", param=name)
    return bool(raw == "true")


def _metadata(params: Params) -> dict[str, str]:
    raw = params.get("metadata") or {}
    if not isinstance(raw, dict):
        raise StripeFault(400, "Invalid object", param="metadata")
    return {str(key): str(value) for key, value in raw.items()}


_CLAUSE = re.compile(r"^(?:metadata\['(?P<key>[^']+)'\]|(?P<field>[a-z_]+)):'(?P<value>[^']*)'$")


def _search_filter(query: str, fields: frozenset[str]) -> Callable[[dict[str, Any]], bool]:
    """Stripe's search language, the part Tenline uses: exact ``field:'value'`` clauses joined by AND."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for clause in query.split(" AND "):
        match = _CLAUSE.match(clause.strip())
        if match is None or (match["field"] and match["field"] not in fields):
            raise StripeFault(400, f"Invalid search query: {query}", code="search_query_invalid", param="query")
        key, name, value = match["key"], match["field"], match["value"]
        if key is not None:
            checks.append(lambda obj, key=key, value=value: (obj.get("metadata") or {}).get(key) == value)
        else:
            checks.append(lambda obj, name=name, value=value: obj.get(name) == value)
    return lambda obj: all(check(obj) for check in checks)


class FakeStripe:
    """The server and its store. Objects are plain dicts shaped like Stripe's; tests read them directly."""

    def __init__(self, api_key: str = FAKE_API_KEY) -> None:
        self.api_key = api_key
        self.customers: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.invoice_items: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self._passed: dict[int, int] = {}  # per planned fault (by id): matching requests let through so far
        self._kept: dict[str, _Kept] = {}
        self._numbers = 0
        self._clock = 0
        self._lock = threading.Lock()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, dict[str, Any]]]]] = [
            ("POST", re.compile(r"^/v1/customers$"), self._create_customer),
            ("GET", re.compile(r"^/v1/customers/search$"), self._search_customers),
            ("GET", re.compile(r"^/v1/customers/(?P<id>[^/]+)$"), self._retrieve_customer),
            ("POST", re.compile(r"^/v1/invoices$"), self._create_invoice),
            ("GET", re.compile(r"^/v1/invoices/search$"), self._search_invoices),
            ("GET", re.compile(r"^/v1/invoices/(?P<id>[^/]+)$"), self._retrieve_invoice),
            ("POST", re.compile(r"^/v1/invoices/(?P<id>[^/]+)/finalize$"), self._finalize_invoice),
            ("POST", re.compile(r"^/v1/invoiceitems$"), self._create_invoice_item),
            ("GET", re.compile(r"^/v1/invoiceitems$"), self._list_invoice_items),
        ]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    # --- for tests --------------------------------------------------------------------------------

    def plan(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def calls(self, method: str, path: str) -> list[Recorded]:
        """The requests made to one endpoint (``path`` a regular expression), replays included."""
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.path)]

    def items_of(self, invoice_id: str) -> list[dict[str, Any]]:
        return [item for item in self.invoice_items.values() if item["invoice"] == invoice_id]

    def transition(self, invoice_id: str, status: Literal["paid", "void", "uncollectible"]) -> dict[str, Any]:
        """What the customer's payment (or the operator in Stripe's dashboard) does to an open invoice."""
        with self._lock:
            invoice = self.invoices[invoice_id]
            if invoice["status"] != "open":
                raise ValueError(f"{invoice_id} is {invoice['status']}, not open")
            invoice["status"] = status
            stamp = {"paid": "paid_at", "void": "voided_at", "uncollectible": "marked_uncollectible_at"}[status]
            invoice["status_transitions"][stamp] = self._now()
            if status == "paid":
                invoice["amount_paid"], invoice["amount_remaining"] = invoice["amount_due"], 0
            return json.loads(json.dumps(invoice))

    def event(self, event_type: str, data_object: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """An event as Stripe sends it to a webhook endpoint (a snapshot of the object)."""
        return {
            "id": event_id or _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": data_object},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }

    # --- HTTP --------------------------------------------------------------------------------------

    def _now(self) -> int:
        # Strictly increasing, so "newest first" lists have one order.
        self._clock = max(self._clock + 1, int(time.time()))
        return self._clock

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        params = decode_form(body if method == "POST" else url.query)
        key = handler.headers.get("idempotency-key") if method == "POST" else None
        with self._lock:
            status, payload, replayed, lose = self._answer(handler, method, url.path, params, key)
            self.requests.append(Recorded(method, url.path, params, key, status, replayed))
        if lose:
            handler.close_connection = True
            return
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("request-id", _new_id("req"))
        handler.send_header("stripe-version", API_VERSION)
        if replayed:
            handler.send_header("idempotent-replayed", "true")
        if key:
            handler.send_header("idempotency-key", key)
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _answer(
        self, handler: BaseHTTPRequestHandler, method: str, path: str, params: Params, key: str | None
    ) -> tuple[int, bytes, bool, bool]:
        """(status, body, replayed, lose the response)."""
        if handler.headers.get("authorization") != f"Bearer {self.api_key}":
            sent = (handler.headers.get("authorization") or "").removeprefix("Bearer ")
            fault = StripeFault(401, f"Invalid API Key provided: {sent[:8]}{'*' * max(0, len(sent) - 8)}")
            return fault.status, json.dumps(fault.body).encode(), False, False
        fault_plan = self._due_fault(method, path)
        if fault_plan is not None and fault_plan.kind == "error":
            error = StripeFault(fault_plan.status, fault_plan.message, type="api_error")
            return error.status, json.dumps(error.body).encode(), False, False
        if key is not None and key in self._kept:
            kept = self._kept[key]
            if (kept.method, kept.path, kept.params) != (method, path, params):
                error = StripeFault(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                    type="idempotency_error",
                )
                return error.status, json.dumps(error.body).encode(), False, False
            return kept.status, kept.body, True, fault_plan is not None
        status, body = self._dispatch(method, path, params)
        encoded = json.dumps(body).encode()
        if key is not None and status < 400:
            self._kept[key] = _Kept(method, path, params, status, encoded)
        return status, encoded, False, fault_plan is not None

    def _due_fault(self, method: str, path: str) -> Fault | None:
        """The first planned fault for this request whose ``after`` has run out (then it is spent)."""
        for planned in self.faults:
            if planned.method != method or not re.fullmatch(planned.path, path):
                continue
            passed = self._passed.get(id(planned), 0)
            if passed < planned.after:
                self._passed[id(planned)] = passed + 1
                return None
            self.faults.remove(planned)
            self._passed.pop(id(planned), None)
            return planned
        return None

    def _dispatch(self, method: str, path: str, params: Params) -> tuple[int, dict[str, Any]]:
        for route_method, pattern, action in self._routes:
            match = pattern.match(path)
            if route_method == method and match:
                try:
                    return action(params, **match.groupdict())
                except StripeFault as fault:
                    return fault.status, fault.body
        fault = StripeFault(404, f"Unrecognized request URL ({method}: {path}).")
        return fault.status, fault.body

    # --- customers ---------------------------------------------------------------------------------

    def _create_customer(self, params: Params) -> tuple[int, dict[str, Any]]:
        customer = {
            "id": _new_id("cus"),
            "object": "customer",
            "created": self._now(),
            "livemode": False,
            "name": params.get("name"),
            "email": params.get("email"),
            "description": params.get("description"),
            "metadata": _metadata(params),
        }
        self.customers[customer["id"]] = customer
        return 200, customer

    def _retrieve_customer(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        if id not in self.customers:
            raise StripeFault(404, f"No such customer: '{id}'", code="resource_missing", param="id")
        return 200, self.customers[id]

    def _search_customers(self, params: Params) -> tuple[int, dict[str, Any]]:
        return self._search("/v1/customers/search", self.customers, params, frozenset({"email", "name"}))

    def _search(
        self, path: str, store: dict[str, dict[str, Any]], params: Params, fields: frozenset[str]
    ) -> tuple[int, dict[str, Any]]:
        query = params.get("query")
        if not query:
            raise StripeFault(400, "Missing required param: query.", code="parameter_missing", param="query")
        wanted = _search_filter(query, fields)
        found = sorted((obj for obj in store.values() if wanted(obj)), key=lambda o: o["created"], reverse=True)
        limit = _integer(params, "limit") or 10
        return 200, {
            "object": "search_result",
            "url": path,
            "data": found[:limit],
            "has_more": len(found) > limit,
            "next_page": None,
        }

    # --- invoices ----------------------------------------------------------------------------------

    def _create_invoice(self, params: Params) -> tuple[int, dict[str, Any]]:
        customer_id = params.get("customer")
        if not customer_id:
            raise StripeFault(400, "Missing required param: customer.", code="parameter_missing", param="customer")
        if customer_id not in self.customers:
            raise StripeFault(400, f"No such customer: '{customer_id}'", code="resource_missing", param="customer")
        collection = params.get("collection_method", "charge_automatically")
        days_until_due = _integer(params, "days_until_due")
        if collection == "send_invoice" and days_until_due is None and params.get("due_date") is None:
            raise StripeFault(
                400,
                "Invoices with `collection_method=send_invoice` need `days_until_due` or `due_date`.",
                param="days_until_due",
            )
        number = params.get("number")
        if number and any(inv["number"] == number for inv in self.invoices.values()):
            raise StripeFault(400, f"Invoice number {number} is already in use.", code="invoice_number_in_use")
        now = self._now()
        invoice = {
            "id": _new_id("in"),
            "object": "invoice",
            "livemode": False,
            "created": now,
            "customer": customer_id,
            "currency": (params.get("currency") or "usd").lower(),
            "status": "draft",
            "collection_method": collection,
            "days_until_due": days_until_due,
            "due_date": None,
            "auto_advance": _boolean(params, "auto_advance", False),
            "number": number or None,
            "description": params.get("description"),
            "custom_fields": params.get("custom_fields") or None,
            "metadata": _metadata(params),
            "lines": {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": ""},
            "subtotal": 0,
            "total": 0,
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "status_transitions": {
                "finalized_at": None,
                "paid_at": None,
                "voided_at": None,
                "marked_uncollectible_at": None,
            },
            "hosted_invoice_url": None,
            "invoice_pdf": None,
        }
        invoice["lines"]["url"] = f"/v1/invoices/{invoice['id']}/lines"
        self.invoices[invoice["id"]] = invoice
        return 200, invoice

    def _invoice(self, id: str, param: str = "id") -> dict[str, Any]:
        if id not in self.invoices:
            raise StripeFault(404, f"No such invoice: '{id}'", code="resource_missing", param=param)
        return self.invoices[id]

    def _retrieve_invoice(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        return 200, self._invoice(id)

    def _search_invoices(self, params: Params) -> tuple[int, dict[str, Any]]:
        fields = frozenset({"customer", "status", "number", "currency"})
        return self._search("/v1/invoices/search", self.invoices, params, fields)

    def _finalize_invoice(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        invoice = self._invoice(id)
        if invoice["status"] != "draft":
            raise StripeFault(
                400,
                "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_unexpected_state",
            )
        self._numbers += 1
        invoice["number"] = invoice["number"] or f"FAKE-{self._numbers:04d}"
        invoice["auto_advance"] = _boolean(params, "auto_advance", invoice["auto_advance"])
        invoice["status_transitions"]["finalized_at"] = self._now()
        invoice["hosted_invoice_url"] = f"{self.url}/i/{id}"
        invoice["invoice_pdf"] = f"{self.url}/i/{id}/pdf"
        if invoice["days_until_due"] is not None:
            invoice["due_date"] = invoice["status_transitions"]["finalized_at"] + invoice["days_until_due"] * 86_400
        # As at Stripe, an invoice with nothing to pay is paid the moment it is finalised.
        invoice["status"] = "open" if invoice["amount_due"] > 0 else "paid"
        return 200, invoice

    # --- invoice items -----------------------------------------------------------------------------

    def _create_invoice_item(self, params: Params) -> tuple[int, dict[str, Any]]:
        customer_id = params.get("customer")
        if not customer_id or customer_id not in self.customers:
            raise StripeFault(400, f"No such customer: '{customer_id}'", code="resource_missing", param="customer")
        amount = _integer(params, "amount", required=True)
        invoice_id = params.get("invoice")
        invoice = self._invoice(invoice_id, "invoice") if invoice_id else None
        currency = (params.get("currency") or (invoice["currency"] if invoice else "")).lower()
        if not currency:
            raise StripeFault(400, "Missing required param: currency.", code="parameter_missing", param="currency")
        if invoice is not None:
            if invoice["customer"] != customer_id:
                raise StripeFault(400, "The invoice belongs to another customer.", param="invoice")
            if invoice["status"] != "draft":
                raise StripeFault(
                    400,
                    f"Invoice {invoice_id} is not a draft: items cannot be added.",
                    code="invoice_not_editable",
                    param="invoice",
                )
            if currency != invoice["currency"]:
                raise StripeFault(
                    400, f"The invoice's currency is {invoice['currency']}, the item's {currency}.", param="currency"
                )
        item = {
            "id": _new_id("ii"),
            "object": "invoiceitem",
            "livemode": False,
            "date": self._now(),
            "customer": customer_id,
            "invoice": invoice_id,
            "amount": amount,
            "currency": currency,
            "description": params.get("description"),
            "metadata": _metadata(params),
            "quantity": 1,
        }
        self.invoice_items[item["id"]] = item
        if invoice is not None:
            invoice["lines"]["data"].append(
                {
                    "id": _new_id("il"),
                    "object": "line_item",
                    "amount": amount,
                    "currency": currency,
                    "description": item["description"],
                    "metadata": item["metadata"],
                    "invoice": invoice_id,
                    "parent": {"type": "invoice_item_details", "invoice_item_details": {"invoice_item": item["id"]}},
                }
            )
            invoice["lines"]["total_count"] = len(invoice["lines"]["data"])
            total = sum(line["amount"] for line in invoice["lines"]["data"])
            invoice["subtotal"] = invoice["total"] = total
            invoice["amount_due"] = invoice["amount_remaining"] = max(total, 0)
        return 200, item

    def _list_invoice_items(self, params: Params) -> tuple[int, dict[str, Any]]:
        items = sorted(self.invoice_items.values(), key=lambda i: i["date"], reverse=True)
        if params.get("invoice"):
            items = [item for item in items if item["invoice"] == params["invoice"]]
        after = params.get("starting_after")
        if after:
            position = next((n for n, item in enumerate(items) if item["id"] == after), None)
            if position is None:
                raise StripeFault(400, f"No such invoiceitem: '{after}'", param="starting_after")
            items = items[position + 1 :]
        limit = _integer(params, "limit") or 10
        return 200, {"object": "list", "url": "/v1/invoiceitems", "data": items[:limit], "has_more": len(items) > limit}


@contextlib.contextmanager
def running_fake_stripe(api_key: str = FAKE_API_KEY) -> Iterator[FakeStripe]:
    """A fake Stripe serving in a thread until the block ends."""
    fake = FakeStripe(api_key)
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


# --- webhooks --------------------------------------------------------------------------------------


def sign_webhook(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``: ``t=<unix time>,v1=<hex HMAC-SHA256>``."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={signed_at},v1={digest}"


@dataclass
class WebhookSender:
    """Posts events to Tenline's endpoint as Stripe does: the JSON body, signed with the endpoint's secret."""

    url: str
    secret: str
    sent: list[bytes] = field(default_factory=list)

    async def post(
        self,
        event: dict[str, Any],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
        payload: bytes | None = None,
    ) -> httpx.Response:
        """``secret``, ``signature`` or ``payload`` given: sign with another secret, send another header, or
        send other bytes than the ones signed (a tampered body)."""
        body = json.dumps(event, indent=2).encode()  # Stripe pretty-prints its payloads
        header = signature if signature is not None else sign_webhook(body, secret or self.secret, timestamp=timestamp)
        self.sent.append(body)
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                self.url,
                content=payload if payload is not None else body,
                headers={
                    "content-type": "application/json; charset=utf-8",
                    "stripe-signature": header,
                    "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                },
            )
