"""A fast path for published files inside uvicorn's own HTTP/1.1 protocol.

At 8 a.m. nearly every request is a plain ``GET /`` for a file that is the same for everyone.
uvicorn's pure-Python h11 parser and the ASGI call chain cost far more than the answer itself,
so this protocol (uvicorn's ``H11Protocol``, subclassed) recognises the simplest case in the
raw bytes: one complete ``GET``/``HEAD`` HTTP/1.1 request without a body, for a URL that
``PublicFiles`` holds, on an idle connection. It answers with the pre-built response (200 or
304) and keeps the connection alive. Anything else (other methods, a body, pipelining,
percent-encoded paths, HTTP/1.0, a request split over several packets, an unknown URL) goes
to h11 and the ASGI app unchanged, so behaviour is the same, only faster.
"""

from __future__ import annotations

import email.utils
import time
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from notifier.web.public.static import CachedFile, PublicFiles, is_fresh

__all__ = ["PublicFilesProtocol", "protocol_for"]

_END = b"\r\n\r\n"
_METHODS = (b"GET ", b"HEAD ")
_date_cache: tuple[int, bytes] = (0, b"")


def _date_header() -> bytes:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, b"date: " + email.utils.formatdate(now, usegmt=True).encode() + b"\r\n")
    return _date_cache[1]


def _encode(status: bytes, headers: tuple[tuple[bytes, bytes], ...], body: bytes) -> bytes:
    lines = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return b"HTTP/1.1 " + status + b"\r\n" + _date_header() + lines + b"\r\n" + body


class PublicFilesProtocol(H11Protocol):
    public_files: ClassVar[PublicFiles | None] = None

    def data_received(self, data: bytes) -> None:
        if not self._answer_directly(data):
            super().data_received(data)

    def _answer_directly(self, data: bytes) -> bool:
        files = self.public_files
        if (
            files is None
            or not data.startswith(_METHODS)
            or not data.endswith(_END)
            or data.count(_END) != 1
            or (self.cycle is not None and not self.cycle.response_complete)
            or self.conn.our_state is not h11.IDLE
            or self.conn.their_state is not h11.IDLE
            or self.conn.trailing_data[0]
        ):
            return False
        request_line, _, rest = data.partition(b"\r\n")
        parts = request_line.split(b" ")
        if len(parts) != 3 or parts[2] != b"HTTP/1.1" or b"%" in parts[1]:
            return False
        try:
            path = parts[1].split(b"?", 1)[0].decode("ascii")
        except UnicodeDecodeError:
            return False
        entry = files.lookup(path)
        if entry is None:
            return False
        headers: dict[bytes, bytes] = {}
        for line in rest[:-4].split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                return False  # malformed: let h11 answer 400
            headers[name.lower()] = value.strip()
        if (
            b"content-length" in headers
            or b"transfer-encoding" in headers
            or b"host" not in headers
        ):
            return False
        self._unset_keepalive_if_required()
        self.transport.write(self._response(entry, headers, head=parts[0] == b"HEAD"))
        self.server_state.total_requests += 1
        if headers.get(b"connection", b"").lower() == b"close":
            self.transport.close()
        else:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
        return True

    @staticmethod
    def _response(entry: CachedFile, headers: dict[bytes, bytes], *, head: bool) -> bytes:
        inm = headers.get(b"if-none-match")
        ims = headers.get(b"if-modified-since")
        fresh = is_fresh(
            inm.decode("latin-1") if inm is not None else None,
            ims.decode("latin-1") if ims is not None else None,
            entry.etag,
            entry.modified,
        )
        if fresh:
            return _encode(b"304 Not Modified", entry.not_modified_headers, b"")
        start = b"HTTP/1.1 200 OK\r\n" + _date_header() + entry.raw_headers
        return start if head else start + entry.body


def protocol_for(files: PublicFiles) -> type[PublicFilesProtocol]:
    """A protocol class bound to ``files`` (uvicorn instantiates it per connection)."""
    return type("BoundPublicFilesProtocol", (PublicFilesProtocol,), {"public_files": files})
