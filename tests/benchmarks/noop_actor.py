"""The baseline of the webhooks benchmark: an actor that does nothing, declared like Tenline's own.

Not production code: the benchmark's Dramatiq worker imports this module after ``app.server.actors:setup``
(an extra module on the ``dramatiq`` command line), so the worker setup is the one ``tenline worker`` runs
and a message costs what the broker, the worker and Tenline's middleware (tenant context, typed payload,
the asyncio loop) cost, with no work of its own.
"""

from __future__ import annotations

import uuid

from app.core.broker import actor
from app.core.structs import Job

QUEUE = "bench_noop"


class Ping(Job, frozen=True):
    """As small as a delivery's message (``DeliveryDue``): one id."""

    id: uuid.UUID


# Like ``deliver``: a tenant's message (the principal travels with it), no Dramatiq retries.
@actor(queue_name=QUEUE, max_retries=0)
async def noop(job: Ping) -> None:
    return None
