"""The polite client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import pytest

from notifier.pipeline.fetch import PoliteClient, parse_retry_after
from notifier.policies import HttpSettings
from notifier.scraping import Blocked, Request, Unparseable, Unreachable, UpstreamError
from notifier.testing.scripted import Reply, ScriptedServer


async def no_sleep(_: float) -> None:
    return None


def client(**overrides: object) -> PoliteClient:
    values: dict[str, object] = {"contact": "mailto:ops@example.org", "timeout_seconds": 0.5}
    settings = HttpSettings.model_validate(values | overrides)
    return PoliteClient(settings, sleep=no_sleep)


async def test_user_agent_names_the_operator_contact() -> None:
    async with ScriptedServer() as server, client() as http:
        await http.fetch(Request(server.url + "/page"), "p")
    ua = server.seen[0].headers["User-Agent"]
    assert ua.startswith("AppointmentNotifier/") and "mailto:ops@example.org" in ua


async def test_conditional_request_returns_cached_copy_on_304() -> None:
    page = Reply(
        200, b"<html>v1</html>", {"ETag": '"v1"', "Last-Modified": "Thu, 18 Feb 2021 13:00:00 GMT"}
    )
    async with ScriptedServer(default=page) as server, client() as http:
        first = await http.fetch(Request(server.url + "/page"), "p")
        second = await http.fetch(Request(server.url + "/page"), "p")
    assert not first.not_modified and second.not_modified
    assert second.body == b"<html>v1</html>"
    assert server.seen[1].headers["If-None-Match"] == '"v1"'
    assert server.seen[1].headers["If-Modified-Since"] == "Thu, 18 Feb 2021 13:00:00 GMT"


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, Blocked), (404, Unparseable), (418, UpstreamError), (500, Unreachable)],
)
async def test_status_codes_are_typed_failures(status: int, error: type) -> None:
    async with ScriptedServer(default=Reply(status, b"no")) as server, client() as http:
        with pytest.raises(error):
            await http.fetch(Request(server.url + "/"), "p")


async def test_the_client_applies_the_one_status_rule_to_listed_addresses() -> None:
    # Same mapping as Response.raise_for_status: a 404 on a document the provider listed is
    # the provider's error, and a 304 we did not ask for has nothing to read.
    async with ScriptedServer(default=Reply(404, b"gone")) as server, client() as http:
        with pytest.raises(UpstreamError):
            await http.fetch(Request(server.url + "/slots.ndjson", listed=True), "p")
    async with ScriptedServer(default=Reply(304, b"")) as server, client() as http:
        with pytest.raises(Unparseable, match="304"):
            await http.fetch(Request(server.url + "/page"), "p")


async def test_retry_after_is_honoured_not_retried_early() -> None:
    busy = Reply(503, b"busy", {"Retry-After": "120"})
    async with ScriptedServer(default=busy) as server, client() as http:
        with pytest.raises(Unreachable) as caught:
            await http.fetch(Request(server.url + "/"), "p")
    assert caught.value.retry_after == 120
    assert len(server.seen) == 1  # told to wait: we did not ask again in the same poll


async def test_429_is_blocked_with_retry_after() -> None:
    slow_down = Reply(429, b"slow down", {"Retry-After": "30"})
    async with ScriptedServer(default=slow_down) as server, client() as http:
        with pytest.raises(Blocked) as caught:
            await http.fetch(Request(server.url + "/"), "p")
    assert caught.value.retry_after == 30


async def test_transient_errors_are_retried_with_backoff() -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    async with ScriptedServer() as server:
        server.queue(Reply(502), Reply(500))
        http = PoliteClient(HttpSettings(max_retries=2, backoff_base_seconds=1.0), sleep=record)
        async with http:
            response = await http.fetch(Request(server.url + "/"), "p")
    assert response.status == 200 and len(server.seen) == 3
    assert len(delays) == 2 and 0 <= delays[0] <= 1.0 and 0 <= delays[1] <= 2.0


async def test_timeout_is_unreachable() -> None:
    late = Reply(200, b"late", delay=2.0)
    async with ScriptedServer(default=late) as server, client(max_retries=0) as http:
        with pytest.raises(Unreachable, match="timed out"):
            await http.fetch(Request(server.url + "/"), "p")


async def test_circuit_breaker_stops_asking_then_half_opens() -> None:
    now = [0.0]
    async with ScriptedServer(default=Reply(500)) as server:
        http = PoliteClient(
            HttpSettings(max_retries=0, breaker_failures=2, breaker_reset_seconds=60),
            sleep=no_sleep,
            clock=lambda: now[0],
        )
        async with http:
            for _ in range(2):
                with pytest.raises(Unreachable):
                    await http.fetch(Request(server.url + "/"), "p")
            with pytest.raises(Unreachable, match="circuit open"):
                await http.fetch(Request(server.url + "/"), "p")
            assert len(server.seen) == 2  # the open breaker spared the provider
            assert http.breaker_open("p")
            now[0] = 61.0
            server.default = Reply(200, b"back")
            assert (await http.fetch(Request(server.url + "/"), "p")).body == b"back"
            assert not http.breaker_open("p")


async def test_per_host_concurrency_limit() -> None:
    import asyncio

    slow = Reply(200, b"x", delay=0.2)
    one_at_a_time = client(per_host_concurrency=1, timeout_seconds=5)
    async with ScriptedServer(default=slow) as server, one_at_a_time as http:
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(http.fetch(Request(f"{server.url}/{i}"), "p") for i in range(3)))
        elapsed = asyncio.get_running_loop().time() - started
    assert elapsed >= 0.55  # one at a time: three requests of 0.2 s each


def test_parse_retry_after_http_date() -> None:
    import datetime as dt

    now = dt.datetime(2021, 2, 18, 13, 0, tzinfo=dt.UTC)
    assert parse_retry_after("Thu, 18 Feb 2021 13:01:00 GMT", now) == 60
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None) is None
