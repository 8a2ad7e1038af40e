"""A minimal HTTP/1.1 server protocol for stub servers that must be cheap on CPU.

Enough of HTTP for aiohttp and httpx clients: one request at a time per connection,
``Content-Length`` bodies (chunked uploads get 411), keep-alive unless the client says close.
The handler answers ``(status, headers, body)``, or ``None`` to leave the client hanging
(for timeout tests): the connection then stays open and silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["REASONS", "Answer", "Handler", "HttpProtocol"]

Answer = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, str, dict[str, str], bytes], Answer | None]

REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with Content-Length bodies and keep-alive; one request at a time."""

    def __init__(self, handler: Handler, transports: set[asyncio.Transport]) -> None:
        self.handler = handler
        self.transports = transports  # open connections, so the owner can close them all
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.hung = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.hung:
            return
        self.buffer += data
        while self.transport is not None and not self.hung:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            try:
                method, target, _version = lines[0].split(" ", 2)
            except ValueError:
                self._write(400, {"Content-Type": "text/plain"}, b"bad request line", True)
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", ""):
                self._write(411, {"Content-Type": "text/plain"}, b"send Content-Length", True)
                return
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                self._write(400, {"Content-Type": "text/plain"}, b"bad Content-Length", True)
                return
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            answer = self.handler(method, target, headers, body)
            if answer is None:
                self.hung = True  # keep the connection open and silent
                return
            close = headers.get("connection", "").lower() == "close"
            self._write(*answer, close)

    def _write(self, status: int, headers: dict[str, str], body: bytes, close: bool) -> None:
        assert self.transport is not None
        head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        head.append("Connection: close" if close else "Connection: keep-alive")
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        if close:
            self.transport.close()
