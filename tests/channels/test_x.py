"""The X channel: real tweepy ``Client.create_tweet`` against the X stub on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select

from channels._x_posts import weighted_length
from channels.x import XChannel, classify_x_error, retry_after_seconds
from notifier.channel import Audience, Message, RateLimit, get_channel
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.tables import delivery_table
from notifier.pipeline.dispatch import Dispatcher, DispatchSettings
from notifier.testing.webhook_stub import StubReply
from notifier.testing.x_stub import DUPLICATE_DETAIL, XStub
from tests.channels.channels_support import NOW, batch, make_alert

KEYS = {
    "consumer_key": "stub-consumer-key",
    "consumer_secret": "stub-consumer-secret",
    "access_token": "stub-access-token",
    "access_token_secret": "stub-access-secret",
}


@pytest.fixture(scope="module")
def x_stub_server() -> Iterator[XStub]:
    with XStub(consumer_key=KEYS["consumer_key"], bearer_token="stub-user-token") as stub:
        yield stub


@pytest.fixture
def x_stub(x_stub_server: XStub) -> XStub:
    x_stub_server.reset()
    return x_stub_server


def x_settings(stub: XStub, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {**KEYS, "api_base_url": stub.url, "timeout": 2.0}
    settings.update(overrides)
    return settings


@pytest.fixture
async def x(x_stub: XStub) -> AsyncIterator[XChannel]:
    channel = XChannel(x_settings(x_stub))
    yield channel
    await channel.aclose()


# ---------------------------------------------------------------------- settings


def test_registered_as_a_broadcast_channel() -> None:
    cls = get_channel("x")
    assert cls is XChannel and cls.audience is Audience.BROADCAST
    assert cls.max_length == 280 and cls.max_batch == 25


def test_credentials_are_required_unless_dry_run() -> None:
    with pytest.raises(ValidationError, match="set consumer_key, consumer_secret"):
        XChannel({})
    with pytest.raises(ValidationError, match="missing: access_token, access_token_secret"):
        XChannel({"consumer_key": "a", "consumer_secret": "b"})
    assert XChannel({"dry_run": True}).client is None
    assert XChannel({"bearer_token": "t"}).client is not None


def test_secrets_never_show_in_the_settings_repr() -> None:
    channel = XChannel(KEYS)
    shown = repr(channel.settings) + str(channel.settings.model_dump())
    assert not any(secret in shown for secret in KEYS.values())


def test_unknown_locale_is_refused() -> None:
    with pytest.raises(ValidationError, match="use one of en, de, es"):
        XChannel({**KEYS, "locale": "fr"})


@pytest.mark.parametrize(
    ("posts_per_24h", "max_thread_posts", "expected"),
    [
        (17, 4, RateLimit(4, 86_400)),
        (17, 1, RateLimit(17, 86_400)),
        (100, 4, RateLimit(25, 86_400)),
    ],
)
def test_rate_limit_keeps_threads_within_the_tier(
    posts_per_24h: int, max_thread_posts: int, expected: RateLimit
) -> None:
    channel = XChannel(
        {**KEYS, "posts_per_24h": posts_per_24h, "max_thread_posts": max_thread_posts}
    )
    assert channel.rate_limit == expected
    assert expected.count * max_thread_posts <= posts_per_24h


# ---------------------------------------------------------------------- compose


def test_compose_links_through_the_web_app_when_configured() -> None:
    channel = XChannel({**KEYS, "base_url": "https://alerts.example.org"})
    message = channel.compose([make_alert(0, alert_id=42)], None)
    assert message.text == (
        "Fenway Park, Boston: 2,340 new appointments for 2/25–2/27 (Moderna, 65+). "
        "Book: https://alerts.example.org/b/42"
    )
    assert message.parts == (message.text,) and message.idempotency_key == "x:42"


def test_compose_in_the_configured_language() -> None:
    message = XChannel({**KEYS, "locale": "es"}).compose([make_alert(0)], None)
    assert message.text.startswith("Fenway Park, Boston: 2.340 citas nuevas para 25/2–27/2")


def test_compose_caps_the_thread() -> None:
    channel = XChannel({**KEYS, "max_thread_posts": 2})
    message = channel.compose(batch(25), None)
    assert 1 <= len(message.parts) <= 2
    assert all(weighted_length(p) <= 280 for p in message.parts)


# ---------------------------------------------------------------------- send


async def test_one_post_is_created_with_oauth1(x: XChannel, x_stub: XStub) -> None:
    message = x.compose([make_alert(0)], None)
    result = await x.send(message)
    assert result.ok and result.provider_message_id == x_stub.posts[0].id
    (request,) = x_stub.requests
    assert request.method == "POST" and request.path == "/2/tweets"
    assert request.json == {"text": message.text}
    assert request.headers["Authorization"].startswith("OAuth ")


async def test_bearer_token_posts_as_the_user(x_stub: XStub) -> None:
    channel = XChannel({"bearer_token": "stub-user-token", "api_base_url": x_stub.url})
    result = await channel.send(channel.compose([make_alert(1)], None))
    await channel.aclose()
    assert result.ok
    assert x_stub.requests[0].headers["Authorization"] == "Bearer stub-user-token"


async def test_a_thread_is_a_reply_chain(x: XChannel, x_stub: XStub) -> None:
    message = x.compose(batch(8), None)
    assert len(message.parts) >= 2
    result = await x.send(message)
    assert result.ok
    ids = [p.id for p in x_stub.posts]
    assert result.provider_message_id == ",".join(ids)
    assert [p.text for p in x_stub.posts] == list(message.parts)
    assert [p.in_reply_to for p in x_stub.posts] == [None, *ids[:-1]]


async def test_rate_limit_is_retried_at_the_reset_time(x: XChannel, x_stub: XStub) -> None:
    reset = int(time.time()) + 600
    x_stub.queue(XStub.rate_limited(reset_at=reset))
    result = await x.send(x.compose([make_alert(0)], None))
    assert not result.ok and result.transient and "429" in (result.error or "")
    assert result.retry_after is not None and 590 <= result.retry_after <= 601
    assert x_stub.posts == []


def test_exhausted_24_hour_limit_counts_too() -> None:
    now = 1_700_000_000.0
    headers = {
        "x-rate-limit-reset": str(int(now) + 60),
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(int(now) + 7200),
        "x-app-limit-24hour-remaining": "1200",
        "x-app-limit-24hour-reset": str(int(now) + 86000),
    }
    assert retry_after_seconds(headers, now) == 7200
    assert retry_after_seconds({"Retry-After": "30"}, now) == 30
    assert retry_after_seconds({}, now) is None


async def test_duplicate_content_counts_as_delivered(x: XChannel, x_stub: XStub) -> None:
    message = x.compose([make_alert(0)], None)
    first = await x.send(message)
    again = await x.send(message)  # the stub, like X, refuses the same text
    assert first.ok and again.ok and again.provider_message_id is None
    assert len(x_stub.posts) == 1
    assert DUPLICATE_DETAIL in x_stub.duplicate().body.decode()


async def test_wrong_credentials_fail_for_good_and_are_logged_as_errors(
    x_stub: XStub, caplog: pytest.LogCaptureFixture
) -> None:
    channel = XChannel(x_settings(x_stub, consumer_key="someone-else"))
    with caplog.at_level(logging.ERROR, logger="channels.x"):
        result = await channel.send(channel.compose([make_alert(0)], None))
    await channel.aclose()
    assert not result.ok and not result.transient
    assert result.error == "X HTTP 401: Unauthorized"
    assert any(r.levelno == logging.ERROR and "401" in r.getMessage() for r in caplog.records)
    assert x_stub.posts == []


async def test_forbidden_other_than_duplicate_fails_for_good(
    x: XChannel, x_stub: XStub, caplog: pytest.LogCaptureFixture
) -> None:
    x_stub.queue(XStub.forbidden())
    with caplog.at_level(logging.ERROR, logger="channels.x"):
        result = await x.send(x.compose([make_alert(0)], None))
    assert not result.ok and not result.transient
    assert result.error == "X HTTP 403: You are not permitted to perform this action."
    assert any(r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(x: XChannel, x_stub: XStub, status: int) -> None:
    x_stub.queue(XStub.server_error(status))
    message = x.compose([make_alert(0)], None)
    result = await x.send(message)
    assert not result.ok and result.transient and f"HTTP {status}" in (result.error or "")
    assert (await x.send(message)).ok
    assert len(x_stub.posts) == 1


async def test_a_broken_thread_resumes_where_it_stopped(x: XChannel, x_stub: XStub) -> None:
    message = x.compose(batch(8), None)
    assert len(message.parts) >= 2
    x_stub.queue(XStub.passthrough(), XStub.server_error())
    first = await x.send(message)
    assert first.transient and len(x_stub.posts) == 1
    second = await x.send(message)
    assert second.ok
    ids = [p.id for p in x_stub.posts]
    assert [p.text for p in x_stub.posts] == list(message.parts)  # the head was not re-posted
    assert [p.in_reply_to for p in x_stub.posts] == [None, *ids[:-1]]
    assert second.provider_message_id == ",".join(ids)


async def test_a_thread_refused_half_way_keeps_its_head(x: XChannel, x_stub: XStub) -> None:
    x_stub.queue(XStub.passthrough(), XStub.forbidden())
    result = await x.send(x.compose(batch(8), None))
    assert result.ok and result.provider_message_id == x_stub.posts[0].id
    assert len(x_stub.posts) == 1


async def test_a_hang_times_out_and_is_retried(x_stub: XStub) -> None:
    channel = XChannel(x_settings(x_stub, timeout=0.3))
    x_stub.queue(StubReply(201, b"{}", delay=1.0))
    result = await channel.send(channel.compose([make_alert(0)], None))
    await channel.aclose()
    assert result.transient and result.error == "X did not answer within 0.3s"


async def test_unreachable_api_is_retried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = XChannel({**KEYS, "api_base_url": f"http://127.0.0.1:{port}", "timeout": 1.0})
    result = await channel.send(channel.compose([make_alert(0)], None))
    await channel.aclose()
    assert result.transient and result.error == "cannot reach X: ConnectionError"


async def test_dry_run_posts_nothing(x_stub: XStub, caplog: pytest.LogCaptureFixture) -> None:
    channel = XChannel({"dry_run": True, "api_base_url": x_stub.url})
    message = channel.compose(batch(3, first_id=7), None)
    with caplog.at_level(logging.INFO, logger="channels.x"):
        result = await channel.send(message)
    assert result.ok and (result.provider_message_id or "").startswith("dry-run-")
    assert x_stub.requests == []
    assert any(message.parts[0] in r.getMessage() for r in caplog.records)


def test_classify_maps_statuses() -> None:
    assert classify_x_error(403, f'{{"detail": "{DUPLICATE_DETAIL}"}}', {}, 0).ok
    assert not classify_x_error(400, '{"errors": [{"message": "bad"}]}', {}, 0).transient
    assert classify_x_error(400, '{"errors": [{"message": "bad"}]}', {}, 0).error == (
        "X HTTP 400: bad"
    )
    assert classify_x_error(504, "<html>Gateway Timeout</html>", {}, 0).transient
    assert not classify_x_error(404, "", {}, 0).transient


async def test_empty_message_is_refused(x: XChannel) -> None:
    result = await x.send(Message(text="  "))
    assert not result.ok and not result.transient


# ---------------------------------------------------------------------- with the dispatcher


async def test_dispatcher_posts_a_batch_and_records_the_ids(
    x_stub: XStub, sqlite_engine: Engine
) -> None:
    channel = XChannel(x_settings(x_stub, base_url="https://alerts.example.org"))
    ids = []
    with sqlite_engine.begin() as conn:
        for alert in batch(3):
            written = write_alert(conn, alert, channels=[ChannelPlan("x", "broadcast")], now=NOW)
            ids.append(written.alert_id)
    dispatcher = Dispatcher(sqlite_engine, channel, clock=lambda: NOW)
    assert await dispatcher.run_once() == 3
    await channel.aclose()
    (post,) = x_stub.posts  # three places fit one post: no slot-by-slot posting
    assert post.text.startswith("New appointments at 3 locations (8,340 in all):\n")
    assert all(f"https://alerts.example.org/b/{i}" in post.text for i in ids)
    with sqlite_engine.connect() as conn:
        rows = conn.execute(select(delivery_table)).all()
    assert {r.state for r in rows} == {"sent"}
    assert {r.provider_message_id for r in rows} == {post.id}


async def test_dispatcher_waits_for_the_rate_limit_reset(
    x_stub: XStub, sqlite_engine: Engine
) -> None:
    channel = XChannel(x_settings(x_stub))
    with sqlite_engine.begin() as conn:
        write_alert(conn, make_alert(0), channels=[ChannelPlan("x", "broadcast")], now=NOW)
    x_stub.queue(XStub.rate_limited(reset_in=1200))
    dispatcher = Dispatcher(
        sqlite_engine, channel, settings=DispatchSettings(max_attempts=3), clock=lambda: NOW
    )
    assert await dispatcher.run_once() == 1
    await channel.aclose()
    with sqlite_engine.connect() as conn:
        (row,) = conn.execute(select(delivery_table)).all()
    assert row.state == "pending" and "429" in row.last_error
    wait = (row.next_attempt_at - NOW).total_seconds()
    assert 1190 <= wait <= 1201


async def test_a_thread_cut_by_the_dispatcher_timeout_resumes(x_stub: XStub) -> None:
    channel = XChannel(x_settings(x_stub, timeout=5.0))
    message = channel.compose(batch(8), None)
    x_stub.queue(XStub.passthrough(), StubReply(503, b"{}", delay=1.0))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(channel.send(message), 0.5)  # what Dispatcher does
    # the abandoned request still finishes (503) in its thread before the thread resumes
    await asyncio.to_thread(x_stub.wait_until_answered)
    result = await channel.send(message)
    await channel.aclose()
    assert result.ok
    ids = [p.id for p in x_stub.posts]
    assert [p.text for p in x_stub.posts] == list(message.parts)
    assert [p.in_reply_to for p in x_stub.posts] == [None, *ids[:-1]]
