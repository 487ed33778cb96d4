"""schemathesis against the live server's OpenAPI document, on a seeded tenant with a token holding every scope:
generated requests (valid and invalid) to every /api/v1 operation never get a 5xx, and every answer matches
the document (status codes documented, content types, bodies against their schemas)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.schemas import APIOperation

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from tenants.permissions import KNOWN_SCOPES
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_agent, make_api_client, make_tenant

pytestmark = pytest.mark.contract


class Seeded:
    def __init__(self, url: str, token: str, document: dict[str, Any]) -> None:
        self.url, self.token, self.document = url, token, document


@pytest.fixture(scope="module")
async def seeded(live_server: LiveServer) -> Seeded:
    """A tenant with an agent, queues and an API client holding every scope; its token and the document."""
    tenant = await make_tenant("contract")
    await make_agent(tenant.id)
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            for name in ("Cards", "Loans"):
                await routing.create_queue(session, routing_schemas.QueueCreate(name=name))
            await session.commit()
    client, secret = await make_api_client(tenant.id, sorted(KNOWN_SCOPES))
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        token = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret)
        )
        assert token.status_code == 200, token.text
        document = (await http.get("/schema/openapi.json")).json()
    return Seeded(live_server.url, token.json()["access_token"], document)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _operations(seeded: Seeded) -> list[APIOperation]:
    schema = schemathesis.openapi.from_dict(seeded.document)
    # The tenant API; the user-only operations (operator work, identity) are covered by their own tests.
    schema = schema.include(path_regex=r"^/api/v1/").exclude(path_regex=r"^/api/v1/(tenants|users|operator|sso)")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_contract(seeded: Seeded, mode: GenerationMode) -> None:
    headers = {"Authorization": f"Bearer {seeded.token}"}
    failures: dict[str, str] = {}
    operations = _operations(seeded)
    assert len(operations) > 40
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def call(case: Case) -> None:
            case.call_and_validate(
                base_url=seeded.url,
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                checks=CHECKS,
                timeout=15,
            )

        try:
            call()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to make invalid: no input at all
        except Exception as failure:
            failures[operation.label] = str(failure)[:1500]
    assert failures == {}
