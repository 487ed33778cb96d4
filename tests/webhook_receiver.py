"""A real HTTP server that records the webhooks it receives (the ``receiver`` fixture in tests/conftest.py)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One planned answer: after ``delay`` seconds (a slow or hanging CRM), ``status`` with ``body``."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


class Receiver:
    """A real HTTP server answering each request with the next planned reply (a ``Reply``, or a (status,
    headers) pair), then with ``default`` (204 with no body unless changed). It listens on ``port``, by default
    a free one (a given port lets a test bring a receiver back where a stopped one was)."""

    def __init__(self, port: int = 0) -> None:
        self.planned: list[tuple[int, dict[str, str]] | Reply] = []
        self.default = Reply()
        self.received: list[tuple[dict[str, str], bytes]] = []
        # Set when the fixture stops the server: a reply still waiting out its delay gives up.
        self.closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                reply = receiver.planned.pop(0) if receiver.planned else receiver.default
                if not isinstance(reply, Reply):
                    reply = Reply(*reply)
                if reply.delay and receiver.closing.wait(reply.delay):
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


@contextlib.contextmanager
def running_receiver(port: int = 0) -> Iterator[Receiver]:
    """A receiver serving in a thread until the block ends; then it is down (its port closed)."""
    made = Receiver(port)
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        made.closing.set()
        made.server.shutdown()
        made.server.server_close()
