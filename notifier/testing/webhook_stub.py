"""A recording HTTP server on 127.0.0.1 that runs in its own thread.

Blocking clients (``requests`` inside tweepy and Apprise) and synchronous tests (typer's
``CliRunner``) need a server that keeps answering while the caller's thread waits, which an
in-loop aiohttp server cannot do. This one records every request with its body and answers what
the test queued, else ``default``::

    with WebhookStub() as stub:
        stub.queue(StubReply(500))
        url = f"json://127.0.0.1:{stub.port}/hook"   # Apprise's JSON plugin
        ...
        assert stub.requests[0].json["message"] == "..."

Subclasses (``notifier.testing.x_stub``) override ``respond`` to imitate one service.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from notifier.testing.lifecycle import BackgroundService

__all__ = ["RecordedRequest", "StubReply", "WebhookStub"]


@dataclass(frozen=True, slots=True)
class StubReply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    #: seconds to wait before answering (to provoke client timeouts)
    delay: float = 0.0

    @classmethod
    def json(cls, status: int, document: Any, headers: dict[str, str] | None = None) -> StubReply:
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, json.dumps(document).encode(), merged)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` if it is not JSON)."""
        return json.loads(self.body)


class WebhookStub(BackgroundService):
    """A threaded HTTP/1.1 server on an ephemeral loopback port; a context manager."""

    def __init__(self, default: StubReply | None = None) -> None:
        self.default = default or StubReply()
        self.replies: deque[StubReply] = deque()
        #: path prefix -> reply, for every request to it (checked after the queue)
        self.routes: dict[str, StubReply] = {}
        self.requests: list[RecordedRequest] = []
        #: requests whose reply has been written (or abandoned by the client)
        self.answered = 0
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ scripting

    def queue(self, *replies: StubReply) -> None:
        """Answer the next requests with ``replies``, in order."""
        with self._lock:
            self.replies.extend(replies)

    def route(self, path_prefix: str, reply: StubReply) -> None:
        """Answer every request whose path starts with ``path_prefix`` with ``reply``."""
        with self._lock:
            self.routes[path_prefix] = reply

    def reset(self) -> None:
        with self._lock:
            self.replies.clear()
            self.routes.clear()
            self.requests.clear()
            self.answered = 0

    def wait_until_answered(self, timeout: float = 10.0) -> None:
        """Block until every request received so far has been answered.

        Tests wait on this instead of sleeping "long enough" for a slow reply to finish.
        """
        with self._answered:
            done = self._answered.wait_for(lambda: self.answered >= len(self.requests), timeout)
        if not done:
            raise TimeoutError(f"the stub still owes {len(self.requests) - self.answered} reply")

    def respond(self, request: RecordedRequest) -> StubReply:
        """The reply to ``request``: the next queued one, else its route's, else the default."""
        with self._lock:
            if self.replies:
                return self.replies.popleft()
            for prefix, reply in sorted(self.routes.items(), key=lambda item: -len(item[0])):
                if request.path.startswith(prefix):
                    return reply
            return self.default

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stub is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebhookStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = RecordedRequest(self.command, self.path, dict(self.headers), body)
                with stub._lock:
                    stub.requests.append(request)
                reply = stub.respond(request)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting (a timeout test)
                finally:
                    with stub._answered:
                        stub.answered += 1
                        stub._answered.notify_all()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: request lines would clutter test output."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
