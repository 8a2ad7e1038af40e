"""A scripted HTTP server on 127.0.0.1 for tests: it answers with what the test queues.

Useful to exercise the polite client (retries, Retry-After, conditional requests, breakers)
against a real socket without any provider-specific behaviour.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["Reply", "ScriptedServer", "SeenRequest"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: seconds to wait before answering (to provoke client timeouts)
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class SeenRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]


class ScriptedServer:
    """``async with ScriptedServer() as server: server.queue(Reply(...)); server.url``.

    When the queue is empty the ``default`` reply is served. Replies whose ``etag`` header
    matches the request's If-None-Match are turned into a 304, like a real server would.
    """

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply(200, b"ok")
        self.replies: deque[Reply] = deque()
        self.seen: list[SeenRequest] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            SeenRequest(request.method, request.path, request.query_string, dict(request.headers))
        )
        reply = self.replies.popleft() if self.replies else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        etag = reply.headers.get("ETag")
        if etag and request.headers.get("If-None-Match") == etag and reply.status == 200:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    async def __aenter__(self) -> ScriptedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
