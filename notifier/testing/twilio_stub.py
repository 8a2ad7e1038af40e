"""A stand-in for Twilio's REST API on 127.0.0.1, fast enough for the SMS benchmark.

It serves ``POST /2010-04-01/Accounts/{sid}/Messages.json`` the way Twilio does (form body,
Basic auth, JSON answers and error documents), records every request, and answers what a test
scripts: success with a message SID, an error code (21610, 21211, 21614, 20429, ...), a bare
HTTP status (429, 500, 503), or no answer at all (a hang, for timeouts). Scripts apply per
recipient number or to the next N requests; anything unscripted succeeds. An optional token
bucket answers 429/20429 above a given rate, like a real account's limit.

In a test::

    with TwilioStub() as stub:
        stub.script_number("+16175550100", Reply.error(21610))
        settings = {..., "api_base_url": stub.url, "account_sid": stub.account_sid}

For a benchmark run it in its own process (``python -m notifier.testing.twilio_stub``); it
prints ``READY <url>`` and serves ``GET /_stub/stats`` (JSON counts).

The server is ``notifier.testing.mini_http`` (a bare ``asyncio.Protocol``): a web framework
would cost more CPU than the client under test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import email.utils
import itertools
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from notifier.testing.inbox import WatchedInbox
from notifier.testing.lifecycle import BackgroundService
from notifier.testing.mini_http import REASONS, HttpProtocol

__all__ = ["ERROR_MESSAGES", "RecordedRequest", "Reply", "TwilioStub", "main"]

DEFAULT_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEFAULT_AUTH_TOKEN = "stub-auth-token-0000000000000000"

ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number {to} is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """What the stub answers to one request."""

    kind: str  # "ok" | "error" | "status" | "hang"
    status: int = 201
    code: int | None = None
    retry_after: float | None = None

    @classmethod
    def ok(cls) -> Reply:
        return cls("ok", 201)

    @classmethod
    def error(cls, code: int, status: int | None = None) -> Reply:
        """A Twilio error document; 20429 defaults to HTTP 429, anything else to 400."""
        return cls("error", status or (429 if code == 20429 else 400), code)

    @classmethod
    def http(cls, status: int, *, retry_after: float | None = None) -> Reply:
        """A bare status with a non-Twilio body (a load balancer's 429 or 503)."""
        return cls("status", status, retry_after=retry_after)

    @classmethod
    def hang(cls) -> Reply:
        """Never answer: the client's timeout must fire."""
        return cls("hang", 0)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One Messages request as the stub saw it (``to`` is a test number, not a real one)."""

    at: float
    to: str | None
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    status_callback: str | None
    status: int
    sid: str | None
    form: dict[str, str] = field(repr=False)


class _TokenBucket:
    def __init__(self, per_second: float, burst: int) -> None:
        self.rate, self.capacity = per_second, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class TwilioStub(BackgroundService):
    """The stub server. Use as a context manager (runs in a thread) or ``await serve()``."""

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str | None = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        max_per_second: float | None = None,
        burst: int = 1,
        record: bool = True,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host, self.port = host, port
        self.record = record
        self.requests: list[RecordedRequest] = []
        #: messages to watched numbers go to a file (``--watch``), for the demo's resident
        self.inbox: WatchedInbox | None = None
        self.status_counts: collections.Counter[int] = collections.Counter()
        self.total = 0
        self._bucket = _TokenBucket(max_per_second, burst) if max_per_second else None
        self._by_number: dict[str, collections.deque[Reply]] = {}
        self._next: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = self._expected_auth()
        prefix = uuid.uuid4().hex[:16]  # unique per stub run, then a counter: cheap and sortable
        self._sids = (f"SM{prefix}{n:016x}" for n in itertools.count(1))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._transports: set[asyncio.Transport] = set()

    # ------------------------------------------------------------------ scripting

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def script_number(self, number: str, *replies: Reply) -> None:
        """Answer requests to ``number`` with ``replies`` in turn; the last one repeats."""
        if not replies:
            raise ValueError("script_number needs at least one Reply")
        with self._lock:
            self._by_number[number] = collections.deque(replies)

    def script_next(self, reply: Reply, count: int = 1) -> None:
        """Answer the next ``count`` requests (any number) with ``reply``; before number scripts."""
        with self._lock:
            self._next.extend([reply] * count)

    def reset(self) -> None:
        with self._lock:
            self._by_number.clear()
            self._next.clear()
            self.requests.clear()
            self.status_counts.clear()
            self.total = 0

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.total,
            "by_status": dict(self.status_counts),
            "cpu_seconds": round(time.process_time(), 3),  # whole process: meant for --serve
        }

    def _choose(self, to: str | None) -> Reply:
        with self._lock:
            if self._next:
                return self._next.popleft()
            queue = self._by_number.get(to or "")
            if queue:
                return queue.popleft() if len(queue) > 1 else queue[0]
        if self._bucket is not None and not self._bucket.take():
            return Reply("error", 429, 20429, retry_after=1.0)
        return Reply.ok()

    # ------------------------------------------------------------------ HTTP handling

    def _expected_auth(self) -> str | None:
        if self.auth_token is None:
            return None
        token = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return f"Basic {token}"

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        """Answer one request: ``(status, headers, body)``, or ``None`` to hang."""
        path = urlsplit(target).path
        if path == "/_stub/stats":
            return _json(200, self.stats())
        if path != self._path:
            return _twilio_error(404, 20404, ERROR_MESSAGES[20404])
        if method != "POST":
            return _twilio_error(405, 20004, "Method not allowed")
        if self._auth is not None and headers.get("authorization") != self._auth:
            return _twilio_error(401, 20003, ERROR_MESSAGES[20003])
        form = _parse_form(body)
        to = form.get("To")
        if not to:
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        reply = self._choose(to)
        sid = next(self._sids) if reply.kind == "ok" else None
        self.total += 1
        self.status_counts[reply.status] += 1
        if self.inbox is not None and reply.kind == "ok" and self.inbox.watches(to):
            self.inbox.record(to, body=form.get("Body") or "")
        if self.record:
            self.requests.append(
                RecordedRequest(
                    at=time.monotonic(),
                    to=to,
                    from_=form.get("From"),
                    messaging_service_sid=form.get("MessagingServiceSid"),
                    body=form.get("Body"),
                    status_callback=form.get("StatusCallback"),
                    status=reply.status,
                    sid=sid,
                    form=form,
                )
            )
        if reply.kind == "hang":
            return None
        if reply.kind == "status":
            extra = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after else {}
            text = f"{reply.status} {REASONS.get(reply.status, 'Error')}".encode()
            return reply.status, {"Content-Type": "text/plain", **extra}, text
        if reply.kind == "error":
            assert reply.code is not None
            message = ERROR_MESSAGES.get(reply.code, f"Error {reply.code}").format(to=to)
            status, hdrs, payload = _twilio_error(reply.status, reply.code, message)
            if reply.retry_after:
                hdrs["Retry-After"] = f"{reply.retry_after:g}"
            return status, hdrs, payload
        return _json(201, self._message(sid or "", form))

    def _message(self, sid: str, form: dict[str, str]) -> dict[str, Any]:
        now = _http_date()
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "uri": f"{self._path[:-5]}/{sid}.json",
            "subresource_uris": {"media": f"{self._path[:-5]}/{sid}/Media.json"},
        }

    # ------------------------------------------------------------------ serving

    async def serve(self) -> asyncio.Server:
        """Start listening on the running loop (sets ``port`` when it was 0)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._server = await loop.create_server(
            lambda: HttpProtocol(self.handle, self._transports),
            self.host,
            self.port,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self._server

    def start(self) -> TwilioStub:
        """Serve from a background thread with its own event loop."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.serve())
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="twilio-stub", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        def shutdown() -> None:
            server.close()
            for transport in list(self._transports):
                transport.close()
            loop.stop()

        if self._thread is not None:
            loop.call_soon_threadsafe(shutdown)
            self._thread.join(10)
            self._thread = None
        else:
            server.close()
            for transport in list(self._transports):
                transport.close()
        self._server = self._loop = None


_DATE_CACHE: list[object] = [0, ""]


def _http_date() -> str:
    """The RFC 2822 date Twilio uses, formatted at most once a second."""
    second = int(time.time())
    if _DATE_CACHE[0] != second:
        _DATE_CACHE[:] = [second, email.utils.formatdate(second, usegmt=True)]
    return str(_DATE_CACHE[1])


def _parse_form(body: bytes) -> dict[str, str]:
    """A form body; the first value of a repeated field wins (Twilio's fields are single).

    Hand-rolled because ``urllib.parse.parse_qs`` (str unquoting) was most of the stub's CPU.
    """
    form: dict[str, str] = {}
    for pair in body.split(b"&"):
        key, _, value = pair.partition(b"=")
        name = unquote_to_bytes(key.replace(b"+", b" ")).decode("utf-8", "replace")
        if name and name not in form:
            form[name] = unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8", "replace")
    return form


def _json(status: int, document: Any) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"Content-Type": "application/json; charset=utf-8"},
        json.dumps(document).encode(),
    )


def _twilio_error(status: int, code: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return _json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def main(argv: Iterable[str] | None = None) -> None:
    """``python -m notifier.testing.twilio_stub [--port N] [--max-per-second R]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--max-per-second", type=float, default=None)
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--watch", action="append", default=[], help="a number to record")
    parser.add_argument("--watch-file", help="where messages to watched numbers go")
    args = parser.parse_args(list(argv) if argv is not None else None)
    stub = TwilioStub(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        host=args.host,
        port=args.port,
        max_per_second=args.max_per_second,
        burst=args.burst,
        record=False,
    )
    if args.watch and args.watch_file:
        stub.inbox = WatchedInbox(args.watch_file, args.watch)

    async def run() -> None:
        await stub.serve()
        print(f"READY {stub.url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
