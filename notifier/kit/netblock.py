"""Prove code is offline: while ``block_network()`` is active, opening a connection fails.

Scrapers must parse stored bytes without touching the network. Running their examples inside
this block turns a hidden fetch (a geocoder call, a lazy download) into a loud failure instead
of a test that passes on a developer's laptop and hangs in CI. Every attempt is also recorded,
so code that swallows the exception is still caught.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NetworkBlocked", "NetworkLog", "block_network"]


class NetworkBlocked(RuntimeError):
    """Raised when blocked code tries to connect or resolve a name.

    Not an ``OSError``: code that retries on network errors must not mistake it for a blip.
    """


@dataclass
class NetworkLog:
    """What the blocked code tried to reach, in order (``host:port`` or a host name)."""

    attempts: list[str] = field(default_factory=list)


_lock = threading.Lock()


def _describe(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


@contextmanager
def block_network() -> Iterator[NetworkLog]:
    """Refuse every outgoing connection and name lookup in this process until the block ends.

    Local Unix sockets stay allowed (they are not the network). Blocks do not nest across
    threads: the lock keeps two blocks from restoring each other's patches out of order.
    """
    log = NetworkLog()

    def refuse(what: str) -> NetworkBlocked:
        log.attempts.append(what)
        return NetworkBlocked(f"network access is blocked here (tried {what})")

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_create_connection = socket.create_connection
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family == getattr(socket, "AF_UNIX", None):
            original_connect(self, address)
            return
        raise refuse(_describe(address))

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family == getattr(socket, "AF_UNIX", None):
            return original_connect_ex(self, address)
        raise refuse(_describe(address))

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        raise refuse(_describe(address))

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        raise refuse(f"{host}:{port}")

    with _lock:
        socket.socket.connect = connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
        socket.create_connection = create_connection
        socket.getaddrinfo = getaddrinfo
        try:
            yield log
        finally:
            socket.socket.connect = original_connect  # type: ignore[method-assign]
            socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
            socket.create_connection = original_create_connection
            socket.getaddrinfo = original_getaddrinfo
