"""The OpenAPI document is complete: every API operation names its scope (or that it is a user's operation),
documents the problems it can answer with, and carries request and response examples that are valid against
its own schemas."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema_rs
import pytest

from tenants.permissions import SCOPES

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
async def document(live_server: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        response = await http.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_operation_names_its_scope_or_that_it_needs_a_user(document: dict[str, Any]) -> None:
    flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == set(SCOPES.values())
    for method, path, operation in _operations(document):
        assert operation.get("summary"), (method, path)
        security = operation["security"]
        assert {"session": []} in security, (method, path)
        scopes = [scope for requirement in security for scope in requirement.get("oauth2", [])]
        assert set(scopes) <= set(flow["scopes"]), (method, path)
        if scopes:
            assert f"Scope: `{scopes[0]}`" in operation["description"]
    by_path = {(m, p): o for m, p, o in _operations(document)}
    assert by_path[("get", "/api/v1/webhook-endpoints")]["security"][0] == {"oauth2": ["webhooks:read"]}
    assert by_path[("post", "/api/v1/webhook-endpoints")]["security"][0] == {"oauth2": ["webhooks:write"]}
    assert by_path[("post", "/api/v1/tenants")]["security"] == [{"session": []}]  # operator work


def test_every_operation_documents_its_problems(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    assert document["components"]["schemas"]["Problem"]["required"] == ["title", "status"]
    for status, name in {"404": "NotFound", "412": "PreconditionFailed", "429": "TooManyRequests"}.items():
        example = responses[name]["content"]["application/problem+json"]["example"]
        assert example["status"] == int(status) and example["title"]
    for method, path, operation in _operations(document):
        documented = set(operation["responses"])
        assert {"400", "401", "404", "429"} <= documented, (method, path)
        if method != "get":
            assert {"409", "422"} <= documented, (method, path)
        if any(p["name"] == "If-Match" for p in operation.get("parameters", [])):
            assert "412" in documented, (method, path)
        for status in documented - {"200", "201", "202", "204"}:
            assert operation["responses"][status]["$ref"].startswith("#/components/responses/"), (method, path)


def test_every_request_and_response_has_a_valid_example(document: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in _operations(document):
        contents = list(operation.get("requestBody", {}).get("content", {}).values())
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                contents += list(response.get("content", {}).values())
        for content in contents:
            assert "example" in content, (method, path)
            schema = {**content["schema"], "components": document["components"]}
            errors = [str(e) for e in jsonschema_rs.validator_for(schema).iter_errors(content["example"])]
            assert errors == [], (method, path, errors[:2])
            checked += 1
    assert checked > 60
