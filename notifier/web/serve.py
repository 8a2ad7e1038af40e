"""Serve the web app: inside the service's own event loop, or as a process of its own.

``start_web`` (``notifier run``, the demo): the service owns SIGINT/SIGTERM (it must finish
in-flight polls and sends first), so uvicorn's own signal capture is switched off and the
server is stopped by the service instead. ``serve_web`` (``notifier web``): uvicorn owns the
signals and the process, and the start-up heap is frozen once the app has started
(``notifier.heap``).

Both configure uvicorn alike. It does not configure logging (``log_config=None``): its records
go through the service's handlers and the masking filter (``notifier.logs.mask_server_loggers``),
so not even its tracebacks can write a phone number. The access log stays off: paths carry the
tokens of unsubscribe and confirmation links. When the app serves published public files
(``notifier.web.public``), uvicorn's HTTP protocol gets a fast path that answers plain GETs for
them straight from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from notifier.heap import freeze_startup_heap
from notifier.logs import mask_server_loggers

__all__ = ["EmbeddedServer", "serve_web", "server_config", "start_web"]


def server_config(app: FastAPI, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's settings as this service runs it; ``options`` go to ``uvicorn.Config``."""
    mask_server_loggers()
    site = getattr(app.state, "public_site", None)
    if site is not None:
        from notifier.web.public.fast_http import protocol_for

        options.setdefault("http", protocol_for(site.files))
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        **options,
    )


def serve_web(app: FastAPI, host: str, port: int, **options: Any) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, as a process of its own (``notifier web``)."""
    # Registered last, so it runs after every start-up handler of the app has loaded its data.
    app.router.add_event_handler("startup", freeze_startup_heap)
    uvicorn.Server(server_config(app, host, port, **options)).run()


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_web(
    app: FastAPI, host: str, port: int
) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Start serving; stop with ``server.should_exit = True`` and await the task."""
    server = EmbeddedServer(server_config(app, host, port))
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # re-raise a failure to bind, with uvicorn's own message
    return server, task
