"""The baseline of the API benchmark: a bare Litestar app answering one small JSON document.

Served exactly like Tenline (uvicorn, one process, same options), so the ratio between the two is
what Tenline's authentication, tenant context, database round trips and middleware cost.
"""

from __future__ import annotations

from litestar import Litestar, get

PATH = "/hello"


@get(PATH, sync_to_thread=False)
def hello() -> dict[str, str]:
    return {"message": "hello, world"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[hello])
