"""The README's example script for the typed client, run as is against the live server: the docs stay true."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from tests.conftest import ROOT, LiveServer
from tests.factories import OPERATOR, make_api_client, make_tenant
from tests.webhook_receiver import Receiver

SCOPES = ["customers:write", "callbacks:write", "webhooks:write", "queues:read", "interactions:read"]


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Tenant API client") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


async def test_the_readme_example_runs_against_the_api(live_server: LiveServer, receiver: Receiver) -> None:
    tenant = await make_tenant("client-example")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            await routing.create_queue(session, routing_schemas.QueueCreate(name="Cards"))
            await session.commit()
    client, secret = await make_api_client(tenant.id, SCOPES)
    env = {
        **os.environ,
        "TENLINE_URL": live_server.url,
        "TENLINE_CLIENT_ID": client.client_id,
        "TENLINE_CLIENT_SECRET": secret,
        "CRM_WEBHOOK_URL": receiver.url,
    }
    run = subprocess.run(
        [sys.executable, "-c", _readme_example()], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert re.fullmatch(r"customer [0-9a-f-]{36} \['\+4722123456'\]", lines[0]), lines
    assert re.fullmatch(r"callback [0-9a-f-]{36} scheduled", lines[1]), lines
    assert lines[2].startswith("webhook secret (store it now, it is shown once): whsec_"), lines
    assert "queue Cards waiting 0" in lines
    assert lines[-1] == "refused: 422 ['phone_numbers[0]']"

    # Run again: the upsert replaces the same customer (no second one), as a CRM's resend must.
    again = subprocess.run(
        [sys.executable, "-c", _readme_example()], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == lines[0]
