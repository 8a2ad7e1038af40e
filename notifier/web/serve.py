"""Serve the web app inside the service's own event loop.

The service owns SIGINT/SIGTERM (it must finish in-flight polls and sends first), so uvicorn's
own signal capture is switched off and the server is stopped by the service instead.

uvicorn does not configure logging here (``log_config=None``): its records go through the
service's handlers and the masking filter (``notifier.logs.mask_server_loggers``), so not even
its tracebacks can write a phone number. The access log stays off: paths carry the tokens of
unsubscribe and confirmation links.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from notifier.logs import mask_server_loggers

__all__ = ["EmbeddedServer", "start_web"]


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_web(
    app: FastAPI, host: str, port: int
) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Start serving; stop with ``server.should_exit = True`` and await the task.

    When the app serves published public files (``notifier.web.public``), uvicorn's HTTP
    protocol gets a fast path that answers plain GETs for them straight from memory.
    """
    mask_server_loggers()
    extra: dict[str, Any] = {}
    site = getattr(app.state, "public_site", None)
    if site is not None:
        from notifier.web.public.fast_http import protocol_for

        extra["http"] = protocol_for(site.files)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        **extra,
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # re-raise a failure to bind, with uvicorn's own message
    return server, task
