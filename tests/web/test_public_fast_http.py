"""The served app answers published files through the fast path exactly as the ASGI path does,
and everything else still reaches FastAPI (a real uvicorn on a loopback port)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from notifier.web.app import create_app
from notifier.web.serve import start_web
from tests.web.public_fixtures import public_config
from tests.web.public_support import NOW, seed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def served(sqlite_engine: Engine, tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    seed(sqlite_engine)
    app = create_app(public_config(tmp_path / "public"), engine=sqlite_engine, clock=lambda: NOW)
    app.state.public_site.publisher().publish_now()
    port = free_port()
    server, task = await start_web(app, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        await task


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=10)  # the server closes: read to EOF
    writer.close()
    return data


async def test_fast_and_slow_paths_agree(served: tuple[str, int]) -> None:
    base, _port = served
    async with httpx.AsyncClient(base_url=base) as client:
        page = await client.get("/")
        assert page.status_code == 200 and "Fenway Park" in page.text
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"].startswith("public, max-age=")
        assert "date" in page.headers
        etag = page.headers["etag"]
        again = await client.get("/", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        since = await client.get("/", headers={"If-Modified-Since": page.headers["last-modified"]})
        assert since.status_code == 304
        head = await client.head("/api/v1/locations")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(
            (await client.get("/api/v1/locations")).content
        )
        # the same connection goes on to dynamic routes through h11 and FastAPI
        search = await client.get("/search", params={"postal_code": "02215", "radius": "30"})
        assert search.status_code == 200 and "Gillette Stadium" in search.text
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/")).status_code == 200  # and back to the fast path


async def test_unusual_requests_fall_back_to_h11(served: tuple[str, int]) -> None:
    _base, port = served
    pipelined = (
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /api/v1/locations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = await _raw(port, pipelined)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    closing = await _raw(
        port, b"GET /feeds/atom.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert closing.startswith(b"HTTP/1.1 200 OK") and b"<feed" in closing
    old = await _raw(port, b"GET / HTTP/1.0\r\n\r\n")
    assert old.startswith(b"HTTP/1.1 200") and b"Fenway Park" in old
    broken = await _raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    assert broken.startswith(b"HTTP/1.1 400")
    encoded = await _raw(
        port, b"GET /de/%69ndex.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert encoded.startswith(b"HTTP/1.1 200") and b'lang="de"' in encoded
