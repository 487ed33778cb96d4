"""What every API operation shares, added to the OpenAPI document the routes produce: the OAuth2 scope each
operation needs (read from its ``requires`` guard), the RFC 9457 problems it may answer with, Idempotency-Key
on POST and the rate limits. Run once at start-up, so a new route is documented the day it is added."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import Litestar
from litestar.openapi.spec import (
    Components,
    OAuthFlow,
    OAuthFlows,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.routes import HTTPRoute

from app.core.api_rate_limit import document_rate_limits
from app.core.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from app.core.http import API_PREFIX
from app.core.idempotency import document_idempotency
from tenants.auth import requires
from tenants.oauth2 import TOKEN_PATH
from tenants.permissions import SCOPES

OAUTH2 = "oauth2"
SESSION = "session"

_FIELD_ERROR = Schema(
    type=OpenAPIType.OBJECT,
    required=["field", "message"],
    properties={
        "field": Schema(type=OpenAPIType.STRING, description="the field, e.g. `phone_numbers[1]` or `If-Match`"),
        "message": Schema(type=OpenAPIType.STRING),
        "source": Schema(type=OpenAPIType.STRING, description="body, query, header or path"),
    },
)
_PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details.",
    required=["title", "status"],  # type is left out when it is about:blank (RFC 9457 3.1.1)
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="a URI naming the kind of problem"),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING, description="what went wrong, for a person"),
        "instance": Schema(type=OpenAPIType.STRING),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Reference(ref="#/components/schemas/FieldError")),
        "request_id": Schema(type=OpenAPIType.STRING, description="quote it when asking for support"),
    },
)

# Which problems an operation may answer with, and an example of each.
_PROBLEMS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("The request is malformed: not JSON, or a value of the wrong type.", {"detail": "body.limit: expected int"}),
    401: ("No valid bearer token (or session).", {"detail": "sign in or send a bearer token"}),
    403: ("The token lacks the scope (or the user the role) the operation needs.", {"detail": "requires a scope"}),
    404: (
        "No such object for this tenant (another tenant's objects are not found either), whether named in the path "
        "or in a parameter, or nothing in force (no SLA contract yet).",
        {"detail": "no such queue"},
    ),
    409: (
        "A conflict: a unique value is taken, the object is in use, or a request with the same Idempotency-Key is "
        "still in progress.",
        {"detail": "external_id CRM-1 is already customer 0193…"},
    ),
    412: ("If-Match names an older version: read the object again.", {"detail": "queue changed since version 3"}),
    413: ("The request body is too large.", {}),
    422: (
        "A value is not acceptable; `errors` names each field.",
        {"detail": "phone_numbers[1]: not a phone number", "errors": [{"field": "phone_numbers[1]", "message": "…"}]},
    ),
    429: ("Too many requests for this tenant: wait `Retry-After` seconds.", {"detail": "rate limit exceeded"}),
}


def document_api(app: Litestar) -> None:
    """Completes the OpenAPI document of ``app`` (an on_startup hook)."""
    openapi = app.openapi_schema
    document_idempotency(openapi)
    document_rate_limits(openapi)
    _document_security_schemes(openapi)
    _document_problems(openapi)
    guards = _guards_by_operation(app)
    for path, item in (openapi.paths or {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method in ("get", "post", "put", "patch", "delete"):
            operation: Operation | None = getattr(item, method)
            if operation is not None:
                _document_operation(operation, method, guards.get((path, method.upper())))
    _document_examples(openapi)


def _guards_by_operation(app: Litestar) -> dict[tuple[str, str], requires | None]:
    found: dict[tuple[str, str], requires | None] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            # Litestar wraps each guard (AsyncCallable); ``func`` is the guard as written.
            guards = [getattr(g, "func", g) for g in handler.resolve_guards()]
            permission = next((g for g in guards if isinstance(g, requires)), None)
            for method in handler.http_methods:
                found[(route.path_format, method)] = permission
    return found


def _document_security_schemes(openapi: OpenAPI) -> None:
    components = openapi.components or Components()
    scopes = {scope: _scope_description(scope) for scope in sorted(set(SCOPES.values()))}
    components.security_schemes = {
        OAUTH2: SecurityScheme(
            type="oauth2",
            description="A tenant's program: client credentials at POST /oauth/token, then `Authorization: Bearer`.",
            flows=OAuthFlows(client_credentials=OAuthFlow(token_url=TOKEN_PATH, scopes=scopes)),
        ),
        SESSION: SecurityScheme(
            type="apiKey",
            name="tenline_session",
            security_scheme_in="cookie",
            description="A signed-in user's session (the web app); writes also need the `X-CSRF-Token` header.",
        ),
    }
    openapi.components = components


def _scope_description(scope: str) -> str:
    resource, _, access = scope.partition(":")
    return f"{'Read' if access == 'read' else 'Create, change and delete'} {resource.replace('-', ' ')}"


def _document_problems(openapi: OpenAPI) -> None:
    components = openapi.components or Components()
    components.schemas = {**components.schemas, "Problem": _PROBLEM, "FieldError": _FIELD_ERROR}
    responses = dict(components.responses or {})
    for status, (description, example) in _PROBLEMS.items():
        phrase = HTTPStatus(status).phrase
        retry_after: dict[str, OpenAPIHeader | Reference] = {
            "Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER), description="seconds to wait")
        }
        headers = retry_after if status == 429 else None
        responses[_problem_name(status)] = OpenAPIResponse(
            description=description,
            headers=headers,
            content={
                PROBLEM_MEDIA_TYPE: OpenAPIMediaType(
                    schema=Reference(ref="#/components/schemas/Problem"),
                    example={
                        "type": f"{PROBLEM_TYPE_BASE}{phrase.lower().replace(' ', '-')}",
                        "title": phrase,
                        "status": status,
                        **example,
                    },
                )
            },
        )
    components.responses = responses
    openapi.components = components


def _problem_name(status: int) -> str:
    return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")


def _document_operation(operation: Operation, method: str, guard: requires | None) -> None:
    scope = SCOPES.get(guard.permission) if guard is not None else None
    if scope is not None:
        operation.security = [{OAUTH2: [scope]}, {SESSION: []}]
        operation.description = f"{operation.description or ''}\n\nScope: `{scope}`.".strip()
    else:  # a user's operation only (operator work, or no permission beyond being signed in)
        operation.security = [{SESSION: []}] if guard is not None else [{OAUTH2: []}, {SESSION: []}]
    parameters = [getattr(p, "name", "") for p in operation.parameters or []]
    writes = method != "get"
    statuses = {400, 401, 404, 429}
    if guard is not None:
        statuses.add(403)
    if writes:
        statuses |= {409, 422}
    if operation.request_body is not None:
        statuses.add(413)
    if parameters:
        statuses.add(422)  # a cursor, a filter or a sort this API cannot take
    if "If-Match" in parameters:
        statuses.add(412)
    responses = dict(operation.responses or {})
    for status in sorted(statuses):
        responses[str(status)] = Reference(ref=f"#/components/responses/{_problem_name(status)}")
    operation.responses = responses


# --- examples ------------------------------------------------------------------------------------
# Every operation gets a request and a response example made from its schema: field names pick a realistic
# value, constraints (bounds, lengths, enums) are respected, so the examples validate against the document
# (tests/integration/test_openapi.py checks they do).

EXAMPLE_ID = "0193a8f2-5c1e-7a6b-9d4e-2f1a3b4c5d6e"
_BY_NAME: dict[str, Any] = {
    "name": "Cards",
    "display_name": "Fjord Bank CRM",
    "alias": "Anna",
    "tenant_name": "Fjord Bank",
    "description": "Our CRM's event inbox",
    "url": "https://crm.example.com/tenline/events",
    "login_url": "https://idp.example.com/authorize",
    "redirect_uri": "https://app.tenline.example/sso/callback",
    "issuer": "https://idp.example.com",
    "email": "anna.berg@example.com",
    "caller": "+4722123456",
    "phone": "+4722123456",
    "number": "+4722123456",
    "phone_numbers": ["+4722123456", "+4791234567"],
    "external_id": "CRM-104233",
    "language": "nb",
    "locale": "nb-NO",
    "timezone": "Europe/Oslo",
    "slug": "fjord-bank",
    "skill": "cards",
    "value": "nb",
    "kind": "language",
    "digit": "1",
    "time_of_day": "09:00",
    "employee_code": "EMP-0042",
    "provider": "okta",
    "code": "resolved",
    "label": "Resolved",
    "note": "Wants to discuss the card limit",
    "greeting": "Welcome to Fjord Bank.",
    "prompt": "For cards, press 1",
    "closed_message": "We are closed at the moment. Please call again during our opening hours.",
    "script": "Greet the caller by name and confirm their date of birth.",
    "site": "Oslo",
    "title": "Anna Berg (Gold customer)",
    "detail": "no such queue",
    "message": "not a phone number",
    "error": "",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "client_secret": "s3cr3t-shown-once",
    "client_id": "tl_0193a8f25c1e_fjord-crm",
    "scope": "customers:read customers:write",
    "scopes": ["customers:read", "customers:write"],
    "event_type": "interaction.answered",
    "event_types": ["interaction.answered", "sla.breached"],
    "disabled_reason": "",
    "disposition": "resolved",
    "ip": "203.0.113.7",
    "request_body": '{"type":"interaction.answered"}',
    "response_body": "",
    "currency": "EUR",
    "exchange_rates": {"SEK": "0.0874", "NOK": "0.0851"},
    "exchange_rate": "0.0874",
    "payment_terms_days": 14,
    "reminder_days": [7, 14],
    "suspend_after_days": 30,
}


def _example(schema: Any, schemas: dict[str, Any], name: str | None = None, depth: int = 0) -> Any:
    if not isinstance(schema, dict) or depth > 30:
        return None
    if "$ref" in schema:
        return _example(schemas.get(schema["$ref"].rsplit("/", 1)[-1]), schemas, name, depth + 1)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            # Constraints may sit beside the oneOf (Litestar puts a field's bounds there).
            beside = {k: v for k, v in schema.items() if k != key}
            return _example({**options[0], **beside}, schemas, name, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if name in _BY_NAME and isinstance(_BY_NAME[name], dict):
            return _BY_NAME[name]
        properties = schema.get("properties", {})
        if properties:
            return {key: _example(value, schemas, key, depth + 1) for key, value in properties.items()}
        extra = schema.get("additionalProperties")
        return {"key": _example(extra, schemas, None, depth + 1)} if isinstance(extra, dict) else {}
    if kind == "array":
        if name in _BY_NAME and isinstance(_BY_NAME[name], list):
            return _BY_NAME[name]
        if "prefixItems" in schema:
            return [_example(item, schemas, None, depth + 1) for item in schema["prefixItems"]]
        item = _example(schema.get("items", {}), schemas, None, depth + 1)
        return [item] * max(1, schema.get("minItems", 1))
    if kind == "string":
        return _string_example(schema, name)
    if kind in ("integer", "number"):
        return _number_example(schema, name, integer=kind == "integer")
    if kind == "boolean":
        return True
    return None


def _string_example(schema: dict[str, Any], name: str | None) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        return EXAMPLE_ID
    if fmt == "date-time":
        return "2026-11-26T09:30:00Z"
    if fmt == "date":
        return "2026-11-26"
    known = _BY_NAME.get(name or "")
    text = known if isinstance(known, str) else "CRM-104233" if schema.get("pattern") else "Example"
    if len(text) < schema.get("minLength", 0):
        text = text.ljust(schema["minLength"], "x")
    return text[: schema.get("maxLength", len(text))]


def _number_example(schema: dict[str, Any], name: str | None, *, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    known = _BY_NAME.get(name or "")
    if isinstance(known, int):
        value: float = known
    elif name and ("seconds" in name or name.endswith("_ms")):
        value = 30
    elif high is not None and high <= 1:
        value = 0.8
    else:
        value = 3
    if low is not None:
        value = max(value, low + (1 if "exclusiveMinimum" in schema else 0))
    if high is not None:
        value = min(value, high - (1 if "exclusiveMaximum" in schema else 0))
    return int(value) if integer else float(value)


def _document_examples(openapi: OpenAPI) -> None:
    document = openapi.to_schema()
    schemas = document.get("components", {}).get("schemas", {})
    for path, item in (openapi.paths or {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method in ("get", "post", "put", "patch", "delete"):
            operation: Operation | None = getattr(item, method)
            if operation is None:
                continue
            written = document["paths"][path][method]
            body = written.get("requestBody", {}).get("content", {})
            if isinstance(operation.request_body, RequestBody):
                for media, content in (operation.request_body.content or {}).items():
                    content.example = _example(body.get(media, {}).get("schema"), schemas)
            for status, response in (operation.responses or {}).items():
                if not isinstance(response, OpenAPIResponse) or not status.startswith("2"):
                    continue
                for media, content in (response.content or {}).items():
                    schema = written["responses"][status]["content"][media].get("schema")
                    content.example = _example(schema, schemas)
