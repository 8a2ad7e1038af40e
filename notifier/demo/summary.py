"""The demo's summary: alerts, deliveries, latency per channel, and what the resident saw."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from notifier.demo.resident import ResidentStory
from notifier.pipeline.metrics import percentile

__all__ = ["DemoReport", "print_summary", "report_as_dict"]


@dataclass
class DemoReport:
    """What a demo run measured; ``print_summary`` shows it, ``report_as_dict`` keeps it."""

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
    #: channel -> detection to hand-off of each alert's first message there (seconds)
    per_channel_s: dict[str, list[float]] = field(default_factory=dict)
    web_url: str = ""
    resident: ResidentStory = field(default_factory=ResidentStory)

    def latency(self, values: list[float], pct: float) -> float | None:
        return percentile(values, pct)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


def print_summary(console: Console, report: DemoReport) -> None:
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
    for channel, values in sorted(report.per_channel_s.items()):
        sent = report.deliveries.get(channel, {}).get("sent", 0)
        table.add_row(
            f"{channel}: sent, detection → first hand-off p50 / p95",
            f"{sent:,}, {_fmt(percentile(values, 50))} / {_fmt(percentile(values, 95))}",
        )
    drain = report.detection_to_last_hand_off_s
    table.add_row(
        "detection → last hand-off of a wave p50 / max",
        f"{_fmt(percentile(drain, 50))} / {_fmt(max(drain, default=None))}",
    )
    console.print(table)
    _print_resident(console, report.resident)


def _print_resident(console: Console, story: ResidentStory) -> None:
    table = Table(title="What the resident saw (last messages; addresses masked)")
    table.add_column("channel")
    table.add_column("to")
    table.add_column("message")
    for channel, who, text in _last_per_channel(story.received, 3):
        table.add_row(channel, who, text if len(text) <= 160 else text[:157] + "...")
    signed = ", ".join(f"{c} {s}" for c, s in story.signed_up.items())
    confirmed = ", ".join(f"{c} {'yes' if ok else 'NO'}" for c, ok in story.confirmed.items())
    table.caption = f"web sign-up (HTTP status): {signed}; confirmed: {confirmed}"
    console.print(table)


def _last_per_channel(
    received: list[tuple[str, str, str]], count: int
) -> list[tuple[str, str, str]]:
    kept: list[tuple[str, str, str]] = []
    for channel in dict.fromkeys(c for c, _, _ in received):
        kept += [m for m in received if m[0] == channel][-count:]
    return kept


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
        "per_channel_p50_s": {
            c: percentile(v, 50) for c, v in sorted(report.per_channel_s.items())
        },
        "resident": {
            "signed_up": report.resident.signed_up,
            "confirmed": report.resident.confirmed,
            "received": len(report.resident.received),
        },
    }
