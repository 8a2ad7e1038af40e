"""Ops notices: one message per outage, failure rates from the metrics, an hourly cap,
no personal data; sent through Apprise's JSON plugin to a stub on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from notifier.channel import channel_registry
from notifier.config import Config
from notifier.pipeline.metrics import Metrics
from notifier.pipeline.ops_notices import OpsNotifier
from notifier.testing.webhook_stub import StubReply, WebhookStub


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def ops_server() -> Iterator[WebhookStub]:
    with WebhookStub() as stub:
        yield stub


@pytest.fixture
def ops(ops_server: WebhookStub) -> WebhookStub:
    ops_server.reset()
    return ops_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def notifier(stub: WebhookStub, clock: FakeClock, **settings: object) -> OpsNotifier:
    target = f"json://127.0.0.1:{stub.port}/ops"
    return OpsNotifier({"targets": [target], **settings}, service_name="MA Notifier", clock=clock)


def sent(stub: WebhookStub) -> list[tuple[str, str]]:
    return [(r.json["title"], r.json["message"]) for r in stub.requests]


# ---------------------------------------------------------------------- incidents


async def test_one_outage_is_one_message_and_one_recovery(
    ops: WebhookStub, clock: FakeClock
) -> None:
    ops_notifier = notifier(ops, clock)
    assert await ops_notifier.provider_down("ma-prepmod", "unreachable", "connect timeout")
    clock.now += 60
    assert not await ops_notifier.provider_down("ma-prepmod", "blocked", "HTTP 403")
    assert ops_notifier.open_incidents() == ["provider:ma-prepmod"]
    clock.now += 25 * 60
    assert await ops_notifier.provider_recovered("ma-prepmod")
    assert not await ops_notifier.provider_recovered("ma-prepmod")  # nothing open any more
    assert not await ops_notifier.provider_recovered("cvs-ma")  # never reported down
    assert sent(ops) == [
        (
            "[MA Notifier] Provider ma-prepmod is down",
            "Polling ma-prepmod fails (unreachable): connect timeout\n"
            "Its locations keep their last known state; nobody is alerted about it until it "
            "recovers. You hear once more when it does.",
        ),
        (
            "[MA Notifier] Provider ma-prepmod recovered",
            "Polling ma-prepmod works again after 26 min.",
        ),
    ]
    assert ops_notifier.open_incidents() == []


async def test_scraper_broken_and_fixed(ops: WebhookStub, clock: FakeClock) -> None:
    ops_notifier = notifier(ops, clock)
    assert await ops_notifier.scraper_broken("prepmod", "layout changed: no clinic blocks found")
    assert not await ops_notifier.scraper_broken("prepmod", "layout changed again")
    assert await ops_notifier.scraper_recovered("prepmod")
    titles = [title for title, _ in sent(ops)]
    assert titles == [
        "[MA Notifier] Scraper prepmod is broken",
        "[MA Notifier] Scraper prepmod works again",
    ]


async def test_service_start_and_stop(ops: WebhookStub, clock: FakeClock) -> None:
    ops_notifier = notifier(ops, clock)
    assert await ops_notifier.service_started(
        providers=["ma-prepmod", "cvs-ma"], channels=["sms", "x"]
    )
    assert await ops_notifier.service_stopped("SIGTERM")
    assert sent(ops) == [
        (
            "[MA Notifier] Service started",
            "Polling 2 provider(s): ma-prepmod and cvs-ma. Channels: sms and x.",
        ),
        (
            "[MA Notifier] Service stopped",
            "The service stopped: SIGTERM. No provider is polled and no alert is sent until it "
            "runs again.",
        ),
    ]


async def test_notices_in_german(ops: WebhookStub, clock: FakeClock) -> None:
    ops_notifier = notifier(ops, clock, locale="de")
    await ops_notifier.provider_down("ma-prepmod", "unreachable", "Zeitüberschreitung")
    await ops_notifier.failure_rate("sms", 0.5, deliveries=40)
    (title1, _), (title2, body2) = sent(ops)
    assert title1 == "[MA Notifier] Anbieter ma-prepmod ist ausgefallen"
    assert title2 == "[MA Notifier] Kanal sms: 50 % der Zustellungen scheitern"
    assert body2.startswith("50 % der letzten 40 Zustellungen über sms sind endgültig gescheitert")


# ---------------------------------------------------------------------- failure rates


async def test_failure_rate_alarm_has_hysteresis(ops: WebhookStub, clock: FakeClock) -> None:
    ops_notifier = notifier(ops, clock, failure_rate_threshold=0.2)
    assert await ops_notifier.failure_rate("x", 0.3, deliveries=50)
    assert not await ops_notifier.failure_rate("x", 0.9)  # still the same incident
    assert not await ops_notifier.failure_rate("x", 0.15)  # below the line, not clearly back
    assert await ops_notifier.failure_rate("x", 0.05)
    assert not await ops_notifier.failure_rate("x", 0.0)
    assert [title for title, _ in sent(ops)] == [
        "[MA Notifier] Channel x: 30% of deliveries fail",
        "[MA Notifier] Channel x delivers again",
    ]
    assert sent(ops)[0][1].startswith(
        "30% of the last 50 x deliveries failed for good (threshold 20%)."
    )


async def test_failure_rates_come_from_the_dispatcher_metrics(
    ops: WebhookStub, clock: FakeClock
) -> None:
    ops_notifier = notifier(ops, clock, failure_rate_min_deliveries=20)
    metrics = Metrics()
    metrics.count("sms", "sent", 15)
    metrics.count("sms", "failed", 1)
    metrics.count("sms", "retried", 40)  # retries are not outcomes
    assert await ops_notifier.check_failure_rates(metrics) == {}  # 16 finished: too few to judge
    metrics.count("sms", "sent", 4)
    metrics.count("x", "failed", 18)
    metrics.count("x", "sent", 2)
    rates = await ops_notifier.check_failure_rates(metrics)
    assert rates == {"sms": 1 / 20, "x": 18 / 20}
    assert [title for title, _ in sent(ops)] == ["[MA Notifier] Channel x: 90% of deliveries fail"]
    # The next judgement only counts what finished since: x recovered.
    metrics.count("x", "sent", 30)
    assert await ops_notifier.check_failure_rates(metrics) == {"x": 0.0}
    assert sent(ops)[-1][0] == "[MA Notifier] Channel x delivers again"
    # Fresh counters (a restart) start a fresh window instead of going negative.
    fresh = Metrics()
    fresh.count("x", "failed", 25)
    assert await ops_notifier.check_failure_rates(fresh) == {"x": 1.0}


# ---------------------------------------------------------------------- limits and privacy


async def test_hourly_cap_logs_the_rest_and_says_so_later(
    ops: WebhookStub, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ops_notifier = notifier(ops, clock, max_notices_per_hour=2)
    with caplog.at_level(logging.INFO, logger="notifier.pipeline.ops_notices"):
        for provider in ("a", "b", "c", "d"):
            assert await ops_notifier.provider_down(provider, "unreachable", "timeout")
    assert len(ops.requests) == 2
    assert sum("hourly limit reached" in r.getMessage() for r in caplog.records) == 2
    clock.now += 3601
    await ops_notifier.provider_recovered("a")
    title, body = sent(ops)[-1]
    assert title == "[MA Notifier] Provider a recovered"
    assert body.endswith(
        "(2 earlier notice(s) went to the log only: the hourly limit was reached.)"
    )
    assert [n.event for n in ops_notifier.history] == ["provider_down"] * 4 + ["provider_recovered"]


async def test_personal_data_never_leaves(
    ops: WebhookStub, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ops_notifier = notifier(ops, clock)
    error = "Twilio said: 'To' number +16175550123 is invalid; reply sent to jane.doe@example.org"
    with caplog.at_level(logging.INFO, logger="notifier.pipeline.ops_notices"):
        await ops_notifier.scraper_broken("prepmod", error)
    ((_, body),) = sent(ops)
    logged = " ".join(r.getMessage() for r in caplog.records)
    for text in (body, logged):
        assert "+16175550123" not in text and "jane.doe" not in text
        assert "+1617***0123" in text and "j***@example.org" in text


async def test_a_failed_target_is_logged_not_raised(
    ops: WebhookStub, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ops.route("/ops", StubReply(500))
    ops_notifier = notifier(ops, clock)
    with caplog.at_level(logging.WARNING, logger="notifier.pipeline.ops_notices"):
        assert await ops_notifier.service_started()
    assert any("could not be sent to JSON #1" in r.getMessage() for r in caplog.records)


async def test_without_targets_notices_go_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    ops_notifier = OpsNotifier()
    with caplog.at_level(logging.INFO, logger="notifier.pipeline.ops_notices"):
        assert await ops_notifier.provider_down("cvs-ma", "blocked", "HTTP 403 waiting room")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        "ops notice: [Appointment Notifier] Provider cvs-ma is down: Polling cvs-ma fails"
    )


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="failure_rate_threshold"):
        OpsNotifier({"failure_rate_threshold": 0})
    with pytest.raises(ValidationError, match="Apprise cannot use this"):
        OpsNotifier({"targets": ["nosuchservice://token"]})


# ---------------------------------------------------------------------- config and channel


def test_from_config(ops: WebhookStub) -> None:
    data: dict[str, object] = {
        "operator": {"name": "MA Notifier", "contact": "mailto:ops@example.org"},
        "ops_notices": {"targets": [f"json://127.0.0.1:{ops.port}/ops"]},
    }
    ops_notifier = OpsNotifier.from_config(Config.model_validate(data))
    assert ops_notifier.service_name == "MA Notifier" and len(ops_notifier.plugins) == 1
    del data["ops_notices"]
    assert OpsNotifier.from_config(Config.model_validate(data)).plugins == []


def test_ops_notices_are_not_a_channel() -> None:
    # Nothing for the runtime to skip: alerts can only reach real channels.
    assert "operator" not in channel_registry() and "ops" not in channel_registry()


async def test_a_test_notice_reaches_every_target(ops: WebhookStub) -> None:
    ops_notifier = OpsNotifier({"targets": [f"json://127.0.0.1:{ops.port}/ops"]})
    assert await ops_notifier.send_test() == []
    assert sent(ops) == [
        ("[Appointment Notifier] Test notice (please ignore)", "Ops notices reach this target.")
    ]
    ops.route("/ops", StubReply(500))
    assert await ops_notifier.send_test() == ["JSON #1"]


EVENTS = {
    "provider_down": {"provider": "ma-prepmod", "kind": "unreachable", "error": "timeout"},
    "provider_recovered": {"provider": "ma-prepmod", "minutes": 12},
    "scraper_broken": {"scraper": "prepmod", "reason": "layout changed"},
    "scraper_recovered": {"scraper": "prepmod", "minutes": None},
    "failure_rate": {"channel_name": "sms", "percent": 40, "threshold": 20, "deliveries": 50},
    "failure_rate_recovered": {"channel_name": "sms", "percent": 2},
    "service_started": {"providers": ["ma-prepmod"], "channels": []},
    "service_stopped": {"reason": ""},
    "test": {},
}


@pytest.mark.parametrize("locale", ["en", "de", "es"])
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_notice_renders_in_every_language(locale: str, event: str) -> None:
    ops_notifier = OpsNotifier({"locale": locale}, service_name="MA Notifier")
    title, body = ops_notifier.render(event, **EVENTS[event])
    assert title.startswith("[MA Notifier] ") and len(title) > len("[MA Notifier] ") + 5
    assert body and "{" not in body and "\n\n" not in body
    english = OpsNotifier(service_name="MA Notifier").render(event, **EVENTS[event])
    assert (locale == "en") == ((title, body) == english)
