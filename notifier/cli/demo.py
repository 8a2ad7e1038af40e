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
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from notifier.channel import channel_registry
from notifier.config import ChannelConfig, Config, DatabaseConfig, OperatorConfig, ProviderConfig
from notifier.db import subscribers
from notifier.db.fanout import delivery_counts
from notifier.db.reports import alert_places
from notifier.pipeline.metrics import HandOff, percentile
from notifier.pipeline.poll import PollSummary, Runtime, poll_provider
from notifier.pipeline.service import Service
from notifier.policies import AlertPolicy, HttpSettings
from notifier.testing.simulator import ProviderSimulator
from notifier.testing.subscribers import synthetic_subscribers

__all__ = ["DemoReport", "run_demo"]

#: seconds between polls in the demo; the simulator is ours, so we may poll it briskly
DEMO_POLL_SECONDS = 1.0
#: SMS and email waves: this many nearest subscribers per open appointment
WAVE_MULTIPLE = 2.0
#: messages a second the demo's stubs accept (a real account's limit is far lower)
DEMO_SEND_RATE = 2000
#: share of the demo the simulated morning takes; the rest is start-up and draining
STORY_SHARE = 0.75


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


@dataclass
class DemoReport:
    duration_s: float
    polls: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    deliveries: dict[str, dict[str, int]] = field(default_factory=dict)
    publish_to_hand_off_s: list[float] = field(default_factory=list)
    detection_to_hand_off_s: list[float] = field(default_factory=list)
    #: per alert and channel, detection to the LAST hand-off (the whole wave handed over)
    detection_to_last_hand_off_s: list[float] = field(default_factory=list)
    released_appointments: int = 0
    subscribers: int = 0

    def latency(self, values: list[float], pct: float) -> float | None:
        return percentile(values, pct)


@contextmanager
def _stub_process(module: str) -> Iterator[list[str]]:
    """Run a loopback stub in its own process (so it does not share our CPU and GIL) and
    yield the words of its ``READY ...`` line."""
    process = subprocess.Popen(
        [sys.executable, "-m", module],
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


@contextmanager
def _channel_stubs(workdir: Path) -> Iterator[dict[str, ChannelConfig]]:
    """Console always; SMS and email through their loopback stubs when installed."""
    channels = {"console": ChannelConfig(settings={"path": str(workdir / "console.jsonl")})}
    known = channel_registry()
    with ExitStack() as stack:
        if "sms" in known:
            from notifier.testing.twilio_stub import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

            [url] = stack.enter_context(_stub_process("notifier.testing.twilio_stub"))
            channels["sms"] = ChannelConfig(
                wave_multiple=WAVE_MULTIPLE,
                settings={
                    "account_sid": DEFAULT_ACCOUNT_SID,
                    "auth_token": DEFAULT_AUTH_TOKEN,
                    "from_number": "+16175550000",
                    "base_url": "https://notifier.example.org",
                    "api_base_url": url,
                    "messages_per_second": DEMO_SEND_RATE,
                },
            )
        if "email" in known:
            host, port, *_ = stack.enter_context(_stub_process("notifier.testing.smtp_server"))
            channels["email"] = ChannelConfig(
                wave_multiple=WAVE_MULTIPLE,
                settings={
                    "host": host,
                    "port": int(port),
                    "security": "none",
                    "from_address": "alerts@notifier.example.org",
                    "base_url": "https://notifier.example.org",
                    "secret": "demo-signing-secret-0123456789",
                    "messages_per_second": DEMO_SEND_RATE,
                },
            )
        yield channels


def _config(sim: ProviderSimulator, db_url: str, channels: dict[str, ChannelConfig]) -> Config:
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
    for (alert_id, _channel), hand_off in first.items():
        report.detection_to_hand_off_s.append(
            (hand_off.handed_off_at - hand_off.detected_at).total_seconds()
        )
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
        channels = stack.enter_context(_channel_stubs(workdir))
        runtime = Runtime.build(_config(sim, f"sqlite:///{db_path}", channels))
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
            with runtime.engine.connect() as conn:
                counts = delivery_counts(conn)
            for (channel, state), n in counts.items():
                report.deliveries.setdefault(channel, {})[state] = n
            _latencies(sim, clock, runtime, report)
            report.released_appointments = (
                sum(r.appointments for r in sim.scenario.releases) if sim.scenario else 0
            )
            await runtime.aclose()
    _print_summary(console, report)
    return report


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


def _print_summary(console: Console, report: DemoReport) -> None:
    table = Table(title="Demo summary")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("appointments released", f"{report.released_appointments:,}")
    table.add_row("subscribers", f"{report.subscribers:,}")
    table.add_row("polls", ", ".join(f"{k} {v}" for k, v in sorted(report.polls.items())))
    table.add_row("alerts", str(report.alerts))
    for channel, states in sorted(report.deliveries.items()):
        table.add_row(
            f"deliveries: {channel}", ", ".join(f"{s} {n:,}" for s, n in sorted(states.items()))
        )
    pub, det = report.publish_to_hand_off_s, report.detection_to_hand_off_s
    table.add_row(
        "publish → first hand-off p50 / p95",
        f"{_fmt(percentile(pub, 50))} / {_fmt(percentile(pub, 95))}",
    )
    table.add_row(
        "detection → first hand-off p50 / p99",
        f"{_fmt(percentile(det, 50))} / {_fmt(percentile(det, 99))}",
    )
    drain = report.detection_to_last_hand_off_s
    table.add_row(
        "detection → last hand-off of a wave p50 / max",
        f"{_fmt(percentile(drain, 50))} / {_fmt(max(drain, default=None))}",
    )
    console.print(table)


def report_as_dict(report: DemoReport) -> dict[str, Any]:
    return {
        "alerts": report.alerts,
        "deliveries": report.deliveries,
        "polls": dict(report.polls),
        "publish_to_hand_off_p50_s": percentile(report.publish_to_hand_off_s, 50),
        "publish_to_hand_off_p95_s": percentile(report.publish_to_hand_off_s, 95),
        "detection_to_hand_off_p50_s": percentile(report.detection_to_hand_off_s, 50),
        "detection_to_hand_off_p99_s": percentile(report.detection_to_hand_off_s, 99),
        "detection_to_last_hand_off_max_s": max(report.detection_to_last_hand_off_s, default=None),
    }
