"""Ops notices: one message per outage, failure rates judged on what finished since the last
judgement, an hourly cap, no personal data; sent through Apprise's JSON plugin to a stub on
127.0.0.1."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from notifier.channel import channel_registry
from notifier.config import Config
from notifier.db.ops_watch import ChannelWatch
from notifier.pipeline.ops_ledger import HOUR_MS, hourly_step
from notifier.pipeline.ops_notices import (
    FailureRateVerdict,
    OpsNoticeSettings,
    OpsNotifier,
    judge_failure_rates,
)
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


async def test_provider_notices_word_what_the_stored_health_decided(
    ops: WebhookStub, clock: FakeClock
) -> None:
    # The poll that changed the provider's stored health calls these, once per outage
    # (pipeline.poll): the notifier words and sends them every time.
    ops_notifier = notifier(ops, clock)
    assert await ops_notifier.provider_down("ma-prepmod", "unreachable", "connect timeout")
    assert await ops_notifier.provider_recovered("ma-prepmod", dt.timedelta(minutes=25, seconds=40))
    assert await ops_notifier.provider_recovered("cvs-ma")  # how long: unknown
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
        ("[MA Notifier] Provider cvs-ma recovered", "Polling cvs-ma works again."),
    ]
    assert await ops_notifier.open_incidents() == []


async def test_scraper_broken_and_fixed(ops: WebhookStub, clock: FakeClock) -> None:
    ops_notifier = notifier(ops, clock)
    assert await ops_notifier.scraper_broken("prepmod", "layout changed: no clinic blocks found")
    assert not await ops_notifier.scraper_broken("prepmod", "layout changed again")
    assert await ops_notifier.open_incidents() == ["scraper:prepmod"]
    clock.now += 90 * 60
    assert await ops_notifier.scraper_recovered("prepmod")
    assert not await ops_notifier.scraper_recovered("prepmod")  # nothing open any more
    assert not await ops_notifier.scraper_recovered("smart-scheduling-links")  # never broken
    titles = [title for title, _ in sent(ops)]
    assert titles == [
        "[MA Notifier] Scraper prepmod is broken",
        "[MA Notifier] Scraper prepmod works again",
    ]
    assert sent(ops)[-1][1] == "Scraper prepmod parses pages again after 90 min."


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
    await ops_notifier.failure_rate(FailureRateVerdict("sms", 0.5, 40, failing=True))
    (title1, _), (title2, body2) = sent(ops)
    assert title1 == "[MA Notifier] Anbieter ma-prepmod ist ausgefallen"
    assert title2 == "[MA Notifier] Kanal sms: 50 % der Zustellungen scheitern"
    assert body2.startswith("50 % der letzten 40 Zustellungen über sms sind endgültig gescheitert")


# ---------------------------------------------------------------------- failure rates


T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


class Watch:
    """The failure-rate watch over time: cumulative (sent, failed) per channel in, the
    verdicts of each judgement out, the state carried over as the database would."""

    def __init__(self, channels: tuple[str, ...] = ("x",), **settings: object) -> None:
        self.channels = channels
        self.settings = OpsNoticeSettings.model_validate(settings)
        self.state: dict[str, ChannelWatch] = {}
        self.totals: dict[str, tuple[int, int]] = {}
        self.minute = 0

    def finish(self, channel: str, sent: int = 0, failed: int = 0) -> None:
        before = self.totals.get(channel, (0, 0))
        self.totals[channel] = (before[0] + sent, before[1] + failed)

    def judge(self) -> tuple[dict[str, float], list[FailureRateVerdict]]:
        self.minute += 1
        now = T0 + dt.timedelta(minutes=self.minute)
        judged = judge_failure_rates(self.totals, self.state, self.channels, self.settings, now)
        self.state.update(judged.watch)
        return judged.rates, judged.verdicts


def test_a_channel_is_watched_from_the_first_judgement_on() -> None:
    watch = Watch()
    watch.finish("x", sent=10, failed=90)  # history from before the watch: not judged
    assert watch.judge() == ({}, [])
    assert watch.state["x"].sent == 10 and watch.state["x"].failed == 90
    watch.finish("x", sent=25)
    assert watch.judge() == ({"x": 0.0}, [])


def test_failure_rate_alarm_has_hysteresis() -> None:
    watch = Watch(failure_rate_threshold=0.2, failure_rate_min_deliveries=20)
    watch.judge()
    verdicts = []
    for sent, failed in ((35, 15), (1, 9 * 20), (17, 3), (95, 5), (100, 0)):
        # 30 %: the alarm; 90 %: the same incident; 15 %: below the line but not clearly back;
        # 5 %: back; 0 %: nothing more to say
        watch.finish("x", sent=sent, failed=failed)
        verdicts.append(watch.judge()[1])
    assert verdicts == [
        [FailureRateVerdict("x", 0.3, 50, failing=True)],
        [],
        [],
        [FailureRateVerdict("x", 0.05, 100, failing=False)],
        [],
    ]
    assert watch.state["x"].failing_since is None


def test_failure_rates_are_judged_on_what_finished_since_the_last_judgement() -> None:
    watch = Watch(channels=("sms", "x", "quiet"), failure_rate_min_deliveries=20)
    watch.judge()
    watch.finish("sms", sent=15, failed=1)
    assert watch.judge() == ({}, [])  # 16 finished: too few to judge, they add up
    watch.finish("sms", sent=4)
    watch.finish("x", sent=2, failed=18)
    rates, verdicts = watch.judge()
    assert rates == {"sms": 1 / 20, "x": 18 / 20}
    assert verdicts == [FailureRateVerdict("x", 0.9, 20, failing=True)]
    assert watch.state["x"].failing_since == T0 + dt.timedelta(minutes=3)
    # The next judgement only counts what finished since: x recovered.
    watch.finish("x", sent=30)
    assert watch.judge() == ({"x": 0.0}, [FailureRateVerdict("x", 0.0, 30, failing=False)])
    assert set(watch.state) == {"sms", "x", "quiet"}


def test_deleted_deliveries_start_a_fresh_window_without_forgetting_the_incident() -> None:
    watch = Watch(failure_rate_min_deliveries=20)
    watch.judge()
    watch.finish("x", failed=30)
    assert watch.judge()[1] == [FailureRateVerdict("x", 1.0, 30, failing=True)]
    watch.totals["x"] = (0, 25)  # a subscriber erased: their deliveries went with them
    assert watch.judge() == ({}, [])  # no negative counts, nothing judged
    assert watch.state["x"].failing_since is not None
    watch.finish("x", failed=20)
    assert watch.judge() == ({"x": 1.0}, [])  # still the same incident


async def test_verdicts_are_worded_and_sent(ops: WebhookStub, clock: FakeClock) -> None:
    ops_notifier = notifier(ops, clock, failure_rate_threshold=0.2)
    assert await ops_notifier.failure_rate(FailureRateVerdict("x", 0.3, 50, failing=True))
    assert await ops_notifier.failure_rate(FailureRateVerdict("x", 0.05, 100, failing=False))
    assert [title for title, _ in sent(ops)] == [
        "[MA Notifier] Channel x: 30% of deliveries fail",
        "[MA Notifier] Channel x delivers again",
    ]
    assert sent(ops)[0][1].startswith(
        "30% of the last 50 x deliveries failed for good (threshold 20%)."
    )


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
    with pytest.raises(ValidationError, match="7 does not divide a minute"):
        OpsNotifier({"failure_check_seconds": 7})
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


def test_the_hourly_cap_is_a_sliding_hour() -> None:
    state, held = hourly_step(None, 0, 2)
    assert held == 0
    state, held = hourly_step(state, 1_000, 2)
    assert held == 0
    state, held = hourly_step(state, 2_000, 2)
    assert held is None  # two in the last hour
    state, held = hourly_step(state, HOUR_MS - 1, 2)
    assert held is None and state[0] == 2  # counted as held back
    state, held = hourly_step(state, HOUR_MS, 2)  # the first one left the window
    assert held == 2 and state == (0.0, 1_000.0, float(HOUR_MS))
