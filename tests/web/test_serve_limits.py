"""The served app over real sockets: a body that never arrives is answered 408 within the
configured deadline and the connection closed; an oversized one 413 at once; and nothing of
it, nor uvicorn's own tracebacks, writes a traceback or a phone number to the log."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from notifier.config import WebConfig
from notifier.web.app import create_app
from notifier.web.serve import EmbeddedServer, start_web
from tests.web.conftest import sms_config

BODY_TIMEOUT = 1.0
# A ceiling for reading an answer: far above BODY_TIMEOUT, so a slow machine cannot fail the
# test, while a server that holds the connection open (the bug) still does.
READ_CEILING = BODY_TIMEOUT + 30


async def serve(app: FastAPI) -> AsyncIterator[tuple[EmbeddedServer, int]]:
    server, task = await start_web(app, "127.0.0.1", 0)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield server, port
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def sms_site(sqlite_engine: Engine) -> AsyncIterator[int]:
    config = sms_config()
    config = config.model_copy(update={"web": WebConfig(body_timeout=BODY_TIMEOUT)})
    async for _, port in serve(create_app(config, engine=sqlite_engine)):
        yield port


async def exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` and read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(READ_CEILING):
            return await reader.read()  # to EOF: returns only once the server closes
    finally:
        writer.close()


def headers_only(length: str) -> bytes:
    return (
        "POST /sms/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.exc_text]
    assert "Traceback" not in caplog.text


async def test_a_body_that_never_arrives_is_answered_408_and_closed(
    sms_site: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    loop = asyncio.get_running_loop()
    started = loop.time()
    answers = await asyncio.gather(*(exchange(sms_site, headers_only("100")) for _ in range(50)))
    waited = loop.time() - started
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert b"connection: close" in answer.lower()
        assert b"not received within 1 s" in answer
    # Answered because of the deadline, not because the client gave up.
    assert waited >= BODY_TIMEOUT
    assert_no_traceback(caplog)


async def test_an_oversized_body_is_refused_before_it_is_read(
    sms_site: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await exchange(sms_site, headers_only(str(10**9)))
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"larger than 65536 bytes" in answer
    assert_no_traceback(caplog)


async def test_a_chunked_body_beyond_the_limit_is_413(
    sms_site: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chunk = b"a" * 40_000
    request = (
        b"POST /sms/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2
        + b"0\r\n\r\n"
    )
    answer = await exchange(sms_site, request)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert_no_traceback(caplog)


async def test_uvicorn_tracebacks_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("could not text +16175554567 or jane@example.org")

    async for _, port in serve(app):
        answer = await exchange(
            port, b"GET /boom HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
    assert answer.startswith(b"HTTP/1.1 500 ")
    server_records = [r for r in caplog.records if r.name.startswith("uvicorn")]
    assert any(r.exc_text for r in server_records), "uvicorn logged the exception"
    assert "RuntimeError: could not text +1617***4567 or j***@example.org" in caplog.text
    assert "5554567" not in caplog.text and "jane@" not in caplog.text


async def test_uvicorn_access_records_are_masked_when_switched_on() -> None:
    # The access log is off (paths carry link tokens), but an operator may switch it on:
    # its records then pass the same filter, whatever handler writes them.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    async for _, _port in serve(FastAPI()):
        access = logging.getLogger("uvicorn.access")
        access.addHandler(handler)
        try:
            access.warning(
                '%s - "%s %s HTTP/%s" %d',
                "127.0.0.1:50000",
                "GET",
                "/b/1?From=%2B16175554567&email=jane@example.org",
                "1.1",
                200,
            )
        finally:
            access.removeHandler(handler)
    written = stream.getvalue()
    assert "/b/1?From=+1617***4567&email=j***@example.org" in written
    assert "16175554567" not in written
