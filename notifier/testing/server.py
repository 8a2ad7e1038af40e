"""Serve an ASGI app with uvicorn on a background thread, for sync and async callers alike.

A thread (not a task on the caller's loop) keeps the simulated provider answering while a test
blocks, and lets a handler hang for a "timeout" fault without stalling the code under test.
``closing`` is set at shutdown so such hanging handlers return at once and stop is quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """uvicorn on 127.0.0.1 (a free port unless one is given), started and stopped on demand."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._failure: BaseException | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def wait_closing(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds in a handler; True if the server is shutting down."""
        if self._closing is None:
            await asyncio.sleep(timeout)
            return False
        try:
            await asyncio.wait_for(self._closing.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def start(self, timeout: float = 5.0) -> None:
        if self.running:
            raise RuntimeError("the server is already running")
        # proto must be IPPROTO_TCP (not 0): asyncio only disables Nagle on sockets that say
        # so, and with Nagle on, the separate header and body writes wait ~40 ms for an ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._failure = None
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"simulator:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start: {self._failure!r}")
            time.sleep(0.005)

    def _run(self, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._closing = asyncio.Event()
            assert self._server is not None
            await self._server.serve(sockets=[sock])

        try:
            asyncio.run(serve())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._failure = exc
        finally:
            sock.close()

    def stop(self, timeout: float = 5.0) -> None:
        if self._loop is not None and self._closing is not None and not self._loop.is_closed():
            # The loop may close between the check and the call: then nothing is left to wake.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._closing.set)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the server thread did not stop")
        self._thread = None
        self._loop = None
        self._closing = None
