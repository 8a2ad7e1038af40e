"""Request bodies have a size limit and a deadline, enforced before any route sees them.

A caller that announces a body and never sends it would otherwise hold a connection (and a
task) open for as long as it likes; one that sends megabytes would be buffered whole. This
ASGI middleware reads the body first, within ``max_bytes`` and ``timeout`` seconds, and
answers 413 or 408 itself (and closes the connection) when either is exceeded. Routes then
read the body from memory. Nothing here raises, so nothing logs a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["DEFAULT_BODY_TIMEOUT", "DEFAULT_MAX_BODY_BYTES", "BodyLimitMiddleware"]

log = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 64 * 1024  # the largest body a route takes is Twilio's 64 KiB form
DEFAULT_BODY_TIMEOUT = 10.0  # seconds for the whole body, from the end of the headers


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(send, 400, "Content-Length is not a number of bytes.")
            return
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, 413, f"Request body larger than {self.max_bytes} bytes.")
            return
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._read_body(receive)
        except TimeoutError:
            log.info("request body not received within %g s: answered 408", self.timeout)
            await _refuse(send, 408, f"Request body not received within {self.timeout:g} s.")
            return
        if body is None:  # the client went away
            return
        if len(body) > self.max_bytes:
            await _refuse(send, 413, f"Request body larger than {self.max_bytes} bytes.")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or as much as exceeds the limit; None on a disconnect."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_bytes or not message.get("more_body", False):
                return b"".join(chunks)


def _content_length(scope: MutableMapping[str, Any]) -> int | None:
    """The declared length; None when absent, -1 when it is not ASCII digits."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.strip()
            if not (0 < len(text) <= 18 and text.isdigit()):  # bytes.isdigit is ASCII-only
                return -1
            return int(text)
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the buffered body, then waits on the real one
    (which reports the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send, status: int, text: str) -> None:
    # Connection: close, because the rest of the body (if it ever comes) is not read.
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
