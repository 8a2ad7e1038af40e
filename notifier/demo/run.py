"""``notifier demo``: the whole chain on one machine, against the 8 a.m. release replay.

A provider simulator on 127.0.0.1 serves real PrepMod pages and a SMART feed; the real
scrapers poll it, the real diff writes alerts and their outbox to SQLite, and the real
dispatchers deliver through the console channel and, through their loopback stubs, SMS and
email when those channels are installed. At the end it reports alerts, deliveries per channel
and detection latency, measured from the simulator's publish time to the channel hand-off.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from notifier.channel import channel_registry
from notifier.config import (
    ChannelConfig,
    Config,
    DatabaseConfig,
    OperatorConfig,
    ProviderConfig,
    RateLimitConfig,
    WebConfig,
)
from notifier.db import subscribers
from notifier.db.fanout import delivery_counts
from notifier.db.reports import alert_places
from notifier.demo.resident import (
    RESIDENT_EMAIL,
    RESIDENT_PHONE,
    DemoResident,
    post_texts,
)
from notifier.demo.summary import DemoReport, print_summary, report_as_dict
from notifier.pipeline.metrics import HandOff
from notifier.pipeline.poll import PollSummary, Runtime, poll_provider
from notifier.pipeline.service import Service
from notifier.policies import AlertPolicy, HttpSettings
from notifier.testing.simulator import ProviderSimulator
from notifier.testing.subscribers import synthetic_subscribers
from notifier.testing.webhook_stub import WebhookStub
from notifier.testing.x_stub import XStub
from notifier.web.app import create_app
from notifier.web.public.routes import start_publisher
from notifier.web.serve import start_web

__all__ = ["DemoReport", "report_as_dict", "run_demo"]

#: seconds between polls in the demo; the simulator is ours, so we may poll it briskly
DEMO_POLL_SECONDS = 1.0
#: SMS and email waves: this many nearest subscribers per open appointment
WAVE_MULTIPLE = 2.0
#: messages a second the demo's stubs accept (a real account's limit is far lower)
DEMO_SEND_RATE = 2000
#: share of the demo the simulated morning takes; the rest is start-up and draining
STORY_SHARE = 0.75
#: the public URL in the demo's messages (links are rewritten to the local server)
DEMO_PUBLIC_URL = "https://notifier.example.org"
DEMO_EMAIL_SECRET = "demo-signing-secret-0123456789"
DEMO_WEB_SECRET = "demo-web-secret-0123456789abcdef"


class _HeldClock:
    """Reads 0 until started, then seconds since: the morning waits until the pipeline is up."""

    def __init__(self) -> None:
        self._started: float | None = None
        #: wall-clock time of story second 0, to place the simulator's events in real time
        self.wall_origin = dt.datetime.now(dt.UTC)

    def start(self) -> None:
        self._started = time.monotonic()
        self.wall_origin = dt.datetime.now(dt.UTC)

    def __call__(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started


@contextmanager
def _stub_process(module: str, *args: str) -> Iterator[list[str]]:
    """Run a loopback stub in its own process (so it does not share our CPU and GIL) and
    yield the words of its ``READY ...`` line."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"{module} did not start")
        yield line[1:]
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class _Stubs:
    """The channels' loopback stubs and where the resident's messages land."""

    channels: dict[str, ChannelConfig]
    sms_inbox: Path | None = None
    email_inbox: Path | None = None
    x: XStub | None = None
    apprise: WebhookStub | None = None

    def posts(self) -> list[tuple[str, str]]:
        found = [("x", p.text) for p in self.x.posts] if self.x else []
        if self.apprise is not None:
            found += [("apprise", t) for t in post_texts(list(self.apprise.requests))]
        return found


@contextmanager
def _channel_stubs(workdir: Path) -> Iterator[_Stubs]:
    """Console always; SMS, email, X and Apprise through their loopback stubs when installed."""
    channels = {"console": ChannelConfig(settings={"path": str(workdir / "console.jsonl")})}
    stubs = _Stubs(channels)
    known = channel_registry()
    with ExitStack() as stack:
        if "sms" in known:
            from notifier.testing.twilio_stub import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

            stubs.sms_inbox = workdir / "resident-sms.jsonl"
            watch = ["--watch", RESIDENT_PHONE, "--watch-file", str(stubs.sms_inbox)]
            [url] = stack.enter_context(_stub_process("notifier.testing.twilio_stub", *watch))
            channels["sms"] = ChannelConfig(
                wave_multiple=WAVE_MULTIPLE,
                settings={
                    "account_sid": DEFAULT_ACCOUNT_SID,
                    "auth_token": DEFAULT_AUTH_TOKEN,
                    "from_number": "+16175550000",
                    "base_url": DEMO_PUBLIC_URL,
                    "api_base_url": url,
                    "messages_per_second": DEMO_SEND_RATE,
                },
            )
        if "email" in known:
            stubs.email_inbox = workdir / "resident-email.jsonl"
            watch = ["--watch", RESIDENT_EMAIL, "--watch-file", str(stubs.email_inbox)]
            host, port, *_ = stack.enter_context(
                _stub_process("notifier.testing.smtp_server", *watch)
            )
            channels["email"] = ChannelConfig(
                wave_multiple=WAVE_MULTIPLE,
                settings={
                    "host": host,
                    "port": int(port),
                    "security": "none",
                    "from_address": "alerts@notifier.example.org",
                    "base_url": DEMO_PUBLIC_URL,
                    "secret": DEMO_EMAIL_SECRET,
                    "messages_per_second": DEMO_SEND_RATE,
                },
            )
        if "x" in known:  # posts are few (one per alert): the stub runs in a thread here
            stubs.x = stack.enter_context(XStub(consumer_key="demo-consumer-key"))
            channels["x"] = ChannelConfig(
                rate_limit=RateLimitConfig(count=50, per_seconds=1.0),
                settings={
                    "consumer_key": "demo-consumer-key",
                    "consumer_secret": "demo-consumer-secret",
                    "access_token": "demo-access-token",
                    "access_token_secret": "demo-access-secret",
                    "api_base_url": stubs.x.url,
                },
            )
        if "apprise" in known:
            stubs.apprise = stack.enter_context(WebhookStub())
            channels["apprise"] = ChannelConfig(
                rate_limit=RateLimitConfig(count=50, per_seconds=1.0),
                settings={"targets": [f"json://127.0.0.1:{stubs.apprise.port}/community"]},
            )
        yield stubs


def _config(
    sim: ProviderSimulator, db_url: str, channels: dict[str, ChannelConfig], web_port: int
) -> Config:
    return Config(
        operator=OperatorConfig(name="Demo", contact="mailto:demo@example.org"),
        database=DatabaseConfig(url=db_url),
        http=HttpSettings(contact="mailto:demo@example.org", timeout_seconds=5, max_retries=1),
        alerts=AlertPolicy(min_increase=50, cooldown_minutes=0.25, ttl_minutes=10),
        providers=[
            ProviderConfig(id="ma-prepmod", scraper="prepmod", settings={"base_url": sim.base_url}),
            ProviderConfig(
                id="ma-smart",
                scraper="smart-scheduling-links",
                settings={"manifest_url": sim.smart_manifest_url},
            ),
        ],
        channels=channels,
        web=WebConfig(
            host="127.0.0.1",
            port=web_port,
            public_url=f"http://127.0.0.1:{web_port}",
            secret_key=DEMO_WEB_SECRET,
        ),
    )


def _seed_subscribers(runtime: Runtime, count: int, channels: set[str]) -> int:
    rows = [r for r in synthetic_subscribers(count, seed=2021) if r["channel"] in channels]
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        row["confirmed_at"] = now
    with runtime.engine.begin() as conn:
        subscribers.bulk_insert_subscribers(conn, rows, now=now)
    return len(rows)


def _live_view(sim: ProviderSimulator, runtime: Runtime, report: DemoReport, left: float) -> Group:
    sites = Table(title=f"Simulated morning: {sim.story_time():%H:%M}  ({left:.0f}s left)")
    for column in ("site", "source", "open now", "dates"):
        sites.add_column(column)
    for truth in sim.truth().values():
        open_days = sum(1 for n in truth.by_date.values() if n)
        sites.add_row(truth.site.name, truth.site.source, f"{truth.appointments:,}", str(open_days))
    channels = Table(title="Pipeline")
    for column in ("polls", "alerts", *runtime.dispatchers):
        channels.add_column(column)
    summary = runtime.metrics.channel_summary()
    channels.add_row(
        ", ".join(f"{k} {v}" for k, v in sorted(report.polls.items())),
        str(report.alerts),
        *(f"{summary.get(c, {}).get('sent', 0):,} sent" for c in runtime.dispatchers),
    )
    return Group(sites, channels)


def _latencies(
    sim: ProviderSimulator, clock: _HeldClock, runtime: Runtime, report: DemoReport
) -> None:
    """Per alert and channel, the first hand-off: how fast news leaves the pipeline.

    A wave of thousands of SMS takes as long as the account's rate limit says; that is the
    queue, not the pipeline, so the figures here time the first message of each alert on each
    channel, from the poll that detected it and from the simulator's publish time.
    """
    with runtime.engine.connect() as conn:
        facts = alert_places(conn)
    first: dict[tuple[int, str], HandOff] = {}
    last: dict[tuple[int, str], HandOff] = {}
    for hand_off in runtime.metrics.hand_offs:
        for alert_id in hand_off.alert_ids:
            key = (alert_id, hand_off.channel)
            if key not in first or hand_off.handed_off_at < first[key].handed_off_at:
                first[key] = hand_off
            if key not in last or hand_off.handed_off_at > last[key].handed_off_at:
                last[key] = hand_off
    report.detection_to_last_hand_off_s = [
        (h.handed_off_at - h.detected_at).total_seconds() for h in last.values()
    ]
    for (alert_id, channel), hand_off in first.items():
        seconds = (hand_off.handed_off_at - hand_off.detected_at).total_seconds()
        report.detection_to_hand_off_s.append(seconds)
        report.per_channel_s.setdefault(channel, []).append(seconds)
        row = facts.get(alert_id)
        site = sim.site_for_postal_code(row.postal_code) if row else None
        if row is None or site is None or row.appointments is None:
            continue
        event = sim.match_event(site.id, row.appointments)
        if event is not None:
            published = clock.wall_origin + dt.timedelta(seconds=event.elapsed)
            report.publish_to_hand_off_s.append(
                (hand_off.handed_off_at - published).total_seconds()
            )


async def run_demo(
    duration: float = 60.0,
    *,
    subscriber_count: int = 3000,
    database: Path | None = None,
    console: Console | None = None,
) -> DemoReport:
    console = console or Console()
    started = time.monotonic()
    report = DemoReport(duration_s=duration)
    story = max(8.0, duration * STORY_SHARE)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="notifier-demo-")))
        db_path = database or workdir / "subscribers.db"
        clock = _HeldClock()
        sim = stack.enter_context(ProviderSimulator(duration=story, clock=clock))
        stubs = stack.enter_context(_channel_stubs(workdir))
        channels = stubs.channels
        web_port = _free_port()
        runtime = Runtime.build(_config(sim, f"sqlite:///{db_path}", channels, web_port))
        for coordinator in runtime.coordinators.values():
            coordinator.interval, coordinator.jitter = DEMO_POLL_SECONDS, 0.2
        report.subscribers = _seed_subscribers(runtime, subscriber_count, set(channels))

        def on_poll(summary: PollSummary) -> None:
            report.polls[summary.outcome] += 1
            report.alerts += len(summary.alerts)

        runtime.on_poll.append(on_poll)
        # The quiet morning is the baseline: poll every provider once before the clock runs.
        for provider_id in runtime.coordinators:
            await poll_provider(runtime, provider_id)
        service = Service(runtime)
        await service.start()
        app = create_app(runtime.config, engine=runtime.engine)
        web, web_task = await start_web(app, "127.0.0.1", web_port)
        stop_publishing = asyncio.Event()
        publishing = start_publisher(app, runtime.on_poll, stop_publishing)
        report.web_url = f"http://127.0.0.1:{web_port}"
        console.print(
            f"While the demo runs: openings at {report.web_url}/ (also /de/, /es/), "
            f"sign-up at {report.web_url}/signup"
        )
        resident = _resident(report.web_url, stubs)
        # The resident signs up and confirms before the morning starts, as a real one would
        # have done the evening before.
        await resident.sign_up_and_confirm()
        clock.start()
        # The story takes ``story`` seconds from now; stop when it ends or the budget does.
        deadline = min(started + duration, time.monotonic() + story) - 2.0
        try:
            with Live(console=console, refresh_per_second=4, transient=False) as live:
                while time.monotonic() < deadline:
                    left = deadline - time.monotonic()
                    live.update(_live_view(sim, runtime, report, left))
                    await asyncio.sleep(0.25)
            console.print()
        finally:
            await service.stop()
            stop_publishing.set()
            await publishing
            web.should_exit = True
            await web_task
            report.resident = resident.collect(stubs.posts())
            with runtime.engine.connect() as conn:
                counts = delivery_counts(conn)
            for (channel, state), n in counts.items():
                report.deliveries.setdefault(channel, {})[state] = n
            _latencies(sim, clock, runtime, report)
            report.released_appointments = (
                sum(r.appointments for r in sim.scenario.releases) if sim.scenario else 0
            )
            await runtime.aclose()
    print_summary(console, report)
    return report


def _resident(web_url: str, stubs: _Stubs) -> DemoResident:
    from notifier.testing.twilio_stub import DEFAULT_AUTH_TOKEN

    return DemoResident(
        web_url=web_url,
        sms_inbox=stubs.sms_inbox,
        email_inbox=stubs.email_inbox,
        twilio_auth_token=DEFAULT_AUTH_TOKEN,
        sms_public_url=DEMO_PUBLIC_URL,
        email_public_url=DEMO_PUBLIC_URL,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
