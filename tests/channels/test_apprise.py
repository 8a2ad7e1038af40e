"""The Apprise channel: regional targets, per-service limits, and real sends through Apprise's
JSON plugin (``json://``) to a recording stub on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select

from channels.apprise import AppriseChannel, AppriseMessage, region_matches
from notifier.channel import Audience, Message, get_channel
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.tables import delivery_table
from notifier.model import Location
from notifier.pipeline.dispatch import Dispatcher, DispatchSettings
from notifier.testing.webhook_stub import StubReply, WebhookStub
from tests.channels.channels_support import NOW, batch, make_alert

TELEGRAM = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567890"
MASTODON = "mastodon://s3cr3t-access-token@mastodon.example"
BLUESKY = "bluesky://alerts.bsky.social@abcd-efgh-ijkl-mnop"


@pytest.fixture(scope="module")
def hook_server() -> Iterator[WebhookStub]:
    with WebhookStub() as stub:
        yield stub


@pytest.fixture
def hook(hook_server: WebhookStub) -> WebhookStub:
    hook_server.reset()
    return hook_server


def json_url(stub: WebhookStub, path: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"json://127.0.0.1:{stub.port}/{path}" + (f"?{query}" if query else "")


def regional(stub: WebhookStub, **extra: Any) -> AppriseChannel:
    """Three targets: everything, Massachusetts by state, New Hampshire by ZIP prefix."""
    return AppriseChannel(
        {
            "targets": [
                json_url(stub, "all"),
                {"url": json_url(stub, "ma"), "regions": ["ma"], "label": "telegram-ma"},
                {"url": json_url(stub, "nh"), "regions": ["030", "031", "038"]},
            ],
            **extra,
        }
    )


def by_path(stub: WebhookStub) -> dict[str, list[dict[str, Any]]]:
    seen: dict[str, list[dict[str, Any]]] = {}
    for request in stub.requests:
        seen.setdefault(request.path, []).append(request.json)
    return seen


# ---------------------------------------------------------------------- settings


def test_registered_as_a_broadcast_channel() -> None:
    assert get_channel("apprise") is AppriseChannel
    assert AppriseChannel.audience is Audience.BROADCAST


def test_bare_urls_and_mappings_are_both_targets() -> None:
    channel = AppriseChannel({"targets": [TELEGRAM, {"url": MASTODON, "regions": ["MA"]}]})
    assert [p.service_name for p in channel.plugins] == ["Telegram", "Mastodon"]
    assert channel.targets[1].regions == ("MA",)


def test_a_bad_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as info:
        AppriseChannel({"targets": ["nosuchservice://s3cr3t-token@host"]})
    assert "Apprise cannot use this nosuchservice:// URL" in str(info.value)
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(ValidationError, match="needs a scheme"):
        AppriseChannel({"targets": ["just-a-token"]})


def test_at_least_one_target_and_valid_regions() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        AppriseChannel({"targets": []})
    with pytest.raises(ValidationError, match="two-letter state code"):
        AppriseChannel({"targets": [{"url": TELEGRAM, "regions": ["Massachusetts"]}]})


def test_urls_are_secret() -> None:
    channel = AppriseChannel({"targets": [MASTODON]})
    shown = repr(channel.settings) + str(channel.settings.model_dump())
    assert "s3cr3t" not in shown
    assert all("s3cr3t" not in line for line in channel.describe_targets())
    assert channel.describe_targets() == ["Mastodon #1: mastodon://****@mastodon.example/"]


@pytest.mark.parametrize(
    ("regions", "state", "postal", "expected"),
    [
        ((), None, None, True),
        (("MA",), "MA", "02215", True),
        (("MA",), "ma ", None, True),
        (("MA",), "NH", "03060", False),
        (("021",), None, "02115", True),
        (("021",), "MA", "01608", False),
        (("030", "NH"), "NH", None, True),
        (("81",), None, "81829", True),  # a German postal region
        (("MA",), None, None, False),
    ],
)
def test_region_matching(
    regions: tuple[str, ...], state: str | None, postal: str | None, expected: bool
) -> None:
    location = Location(id="x", name="X", state=state, postal_code=postal)
    assert region_matches(regions, location) is expected


# ---------------------------------------------------------------------- compose


def test_each_target_gets_its_regions_alerts(hook: WebhookStub) -> None:
    channel = regional(hook)
    alerts = [make_alert(0, alert_id=1), make_alert(11, alert_id=2), make_alert(14, alert_id=3)]
    message = channel.compose(alerts, None)
    assert isinstance(message, AppriseMessage)
    posts = {p.target: p for p in message.posts}
    assert set(posts) == {0, 1, 2}
    assert posts[0].title == "New appointments at 3 locations"
    assert posts[0].body.splitlines() == [
        "• 2,340 appointments (Moderna; 65+) at Fenway Park, Boston, 2/25–2/27. "
        f"Book: {alerts[0].location.booking_url}",
        "• 1,900 appointments (Moderna; 65+) at Dunkin' Donuts Center, Providence, 2/25–2/27. "
        f"Book: {alerts[2].location.booking_url}",
        "• 75 appointments (Moderna; 65+) at Nashua Clinic, 2/25–2/27. "
        f"Book: {alerts[1].location.booking_url}",
    ]
    assert posts[1].title == "New appointments at Fenway Park, Boston"
    assert "Fenway Park" in posts[1].body and "Nashua" not in posts[1].body
    assert "Nashua Clinic" in posts[2].body and "Fenway" not in posts[2].body
    assert message.idempotency_key == "apprise:1,2,3"


def test_services_limits_are_respected() -> None:
    channel = AppriseChannel({"targets": [MASTODON, BLUESKY, TELEGRAM]})
    message = channel.compose(batch(10), None)
    assert isinstance(message, AppriseMessage)
    mastodon, bluesky, telegram = message.posts
    # Services without a title field get none: Apprise would glue it onto the body.
    assert mastodon.title == bluesky.title == telegram.title == ""
    assert len(mastodon.body) <= 500 and len(bluesky.body) <= 280
    assert len(telegram.body) <= 1000  # max_chars caps Telegram's 4096
    assert bluesky.body.endswith("more locations") and bluesky.body.startswith("• 5,120 ")
    assert len(mastodon.body.splitlines()) > len(bluesky.body.splitlines())


def test_links_go_through_the_web_app_when_configured(hook: WebhookStub) -> None:
    channel = regional(hook, base_url="https://alerts.example.org", locale="de")
    (post, *_) = channel.compose([make_alert(0, alert_id=9)], None).posts  # type: ignore[attr-defined]
    assert post.body == (
        "• 2.340 Termine (Moderna; 65+) bei Fenway Park, Boston, 25.–27.2. "
        "Buchen: https://alerts.example.org/b/9"
    )
    assert post.title == "Neue Termine bei Fenway Park, Boston"


def test_a_place_alerted_twice_is_listed_once(hook: WebhookStub) -> None:
    channel = AppriseChannel({"targets": [json_url(hook, "all")]})
    first = make_alert(0, alert_id=1, appointments=100)
    later = dataclasses.replace(make_alert(0, alert_id=2, appointments=300))
    (post,) = channel.compose([first, later], None).posts  # type: ignore[attr-defined]
    assert post.body.count("Fenway Park") == 1 and post.body.startswith("• 300 appointments")


# ---------------------------------------------------------------------- send


async def test_each_target_receives_its_post(hook: WebhookStub) -> None:
    channel = regional(hook)
    alerts = [make_alert(0, alert_id=1), make_alert(11, alert_id=2)]
    message = channel.compose(alerts, None)
    result = await channel.send(message)
    assert result.ok
    seen = by_path(hook)
    assert set(seen) == {"/all", "/ma", "/nh"}
    assert seen["/ma"] == [
        {
            "version": "1.0",
            "title": "New appointments at Fenway Park, Boston",
            "message": message.posts[1].body,  # type: ignore[attr-defined]
            "attachments": [],
            "type": "info",
        }
    ]
    assert "Nashua Clinic" in seen["/nh"][0]["message"]


async def test_no_target_for_the_region_sends_nothing(hook: WebhookStub) -> None:
    channel = AppriseChannel({"targets": [{"url": json_url(hook, "ma"), "regions": ["MA"]}]})
    message = channel.compose([make_alert(14)], None)  # Rhode Island
    result = await channel.send(message)
    assert result.ok and hook.requests == []


async def test_a_failed_target_is_retried_alone(hook: WebhookStub) -> None:
    channel = regional(hook)
    message = channel.compose([make_alert(0, alert_id=1), make_alert(11, alert_id=2)], None)
    hook.route("/ma", StubReply(500, b'{"error": "down"}'))
    first = await channel.send(message)
    assert not first.ok and first.transient
    assert first.error == "apprise: 1 of 3 target(s) failed: telegram-ma"
    hook.routes.clear()
    before = len(hook.requests)
    second = await channel.send(message)
    assert second.ok
    assert [r.path for r in hook.requests[before:]] == ["/ma"]  # /all and /nh are not repeated


async def test_a_slow_target_times_out_and_is_retried(hook: WebhookStub) -> None:
    channel = AppriseChannel({"targets": [json_url(hook, "slow", rto="0.3", cto="0.3")]})
    hook.route("/slow", StubReply(200, b"{}", delay=1.0))
    result = await channel.send(channel.compose([make_alert(0)], None))
    assert result.transient and "JSON #1" in (result.error or "")


async def test_a_plain_message_goes_to_every_target(hook: WebhookStub) -> None:
    channel = regional(hook)
    result = await channel.send(Message(text="hello", subject="Test", idempotency_key="t"))
    assert result.ok
    assert sorted(r.path for r in hook.requests) == ["/all", "/ma", "/nh"]
    assert {r.json["message"] for r in hook.requests} == {"hello"}


def test_compose_test_ignores_regions(hook: WebhookStub) -> None:
    channel = regional(hook)
    message = channel.compose_test([make_alert(17)], None)  # Vermont: no regional target
    assert [p.target for p in message.posts] == [0, 1, 2]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- with the dispatcher


async def test_dispatcher_delivers_by_region(hook: WebhookStub, sqlite_engine: Engine) -> None:
    channel = regional(hook)
    with sqlite_engine.begin() as conn:
        for alert in (make_alert(0), make_alert(11), make_alert(3)):
            write_alert(conn, alert, channels=[ChannelPlan("apprise", "broadcast")], now=NOW)
    dispatcher = Dispatcher(sqlite_engine, channel, clock=lambda: NOW)
    assert await dispatcher.run_once() == 3
    seen = by_path(hook)
    assert len(seen["/all"]) == 1 and seen["/all"][0]["message"].count("•") == 3
    assert seen["/ma"][0]["message"].count("•") == 2  # Fenway Park and Hynes
    assert seen["/nh"][0]["message"].count("•") == 1
    with sqlite_engine.connect() as conn:
        states = {r.state for r in conn.execute(select(delivery_table))}
    assert states == {"sent"}


async def test_dispatcher_fails_after_its_attempts(
    hook: WebhookStub, sqlite_engine: Engine
) -> None:
    channel = AppriseChannel({"targets": [json_url(hook, "down")]})
    hook.route("/down", StubReply(503))
    with sqlite_engine.begin() as conn:
        write_alert(conn, make_alert(0), channels=[ChannelPlan("apprise", "broadcast")], now=NOW)
    dispatcher = Dispatcher(
        sqlite_engine, channel, settings=DispatchSettings(max_attempts=1), clock=lambda: NOW
    )
    await dispatcher.run_once()
    with sqlite_engine.connect() as conn:
        (row,) = conn.execute(select(delivery_table)).all()
    assert row.state == "failed" and "JSON #1" in row.last_error
    assert dispatcher.metrics.counts[("apprise", "failed")] == 1
