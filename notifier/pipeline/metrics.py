"""Counters and latency samples, per channel and per provider, in memory and for Prometheus.

``Metrics`` keeps what the CLI, the demo, the operator notices and the tests read (counts and
recent hand-offs of this runtime). Every update also goes to process-wide prometheus-client
metrics, which ``notifier.pipeline.prometheus`` exposes on ``/metrics``. Those are counters and
histograms only: they add up correctly across processes (prometheus-client's multiprocess mode)
and across machines (Prometheus sums the instances). Anything that is database state (backlog,
deliveries per state, a provider's last good poll) is read from the database at scrape time
instead, so every process reports the same truth.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram

__all__ = [
    "ALERTS_WRITTEN",
    "DELIVERIES_HANDLED",
    "DETECTION_LATENCY",
    "POLLS",
    "HandOff",
    "Metrics",
    "PollLike",
    "percentile",
]

MAX_SAMPLES = 100_000

# Names end up as notifier_polls_total etc.; docs/prometheus/alerts.yml refers to them.
POLLS = PromCounter(
    "notifier_polls",
    "Polls finished by this process, by provider and outcome",
    ["provider", "outcome"],
)
ALERTS_WRITTEN = PromCounter(
    "notifier_alerts", "Alerts written (each with its whole outbox), by provider", ["provider"]
)
DELIVERIES_HANDLED = PromCounter(
    "notifier_deliveries_handled",
    "Deliveries handled by this process's dispatchers, by channel and outcome "
    "(sent, failed, retried, expired, deferred)",
    ["channel", "outcome"],
)
#: the issue's goal is p99 <= 1 s, so the buckets are dense below a few seconds
DETECTION_LATENCY = Histogram(
    "notifier_detection_latency_seconds",
    "From the poll that detected a change to the first hand-off of each message to its channel",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)


class PollLike(Protocol):
    """What ``Metrics.observe_poll`` reads of a poll (``notifier.pipeline.poll.PollSummary``)."""

    @property
    def provider_id(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def alerts(self) -> tuple[int, ...]: ...


def percentile(values: list[float], pct: float) -> float | None:
    """The ``pct`` percentile (0-100) by the nearest-rank method; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class HandOff:
    """One message handed to a channel's service: what the latency figures are made of."""

    channel: str
    alert_ids: tuple[int, ...]
    detected_at: dt.datetime
    handed_off_at: dt.datetime


@dataclass
class Metrics:
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    latency: dict[str, deque[float]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=MAX_SAMPLES))
    )
    hand_offs: deque[HandOff] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    polls: Counter[tuple[str, str]] = field(default_factory=Counter)

    def count(self, channel: str, what: str, n: int = 1) -> None:
        """``what`` is one of sent, failed, retried, expired, deferred."""
        self.counts[(channel, what)] += n
        DELIVERIES_HANDLED.labels(channel, what).inc(n)

    def record_hand_off(self, hand_off: HandOff) -> None:
        self.hand_offs.append(hand_off)
        seconds = (hand_off.handed_off_at - hand_off.detected_at).total_seconds()
        self.latency[hand_off.channel].append(seconds)
        DETECTION_LATENCY.labels(hand_off.channel).observe(max(0.0, seconds))

    def observe_poll(self, poll: PollLike) -> None:
        """Count one finished poll and the alerts it wrote (a ``Runtime.on_poll`` listener)."""
        self.polls[(poll.provider_id, poll.outcome)] += 1
        POLLS.labels(poll.provider_id, poll.outcome).inc()
        if poll.alerts:
            ALERTS_WRITTEN.labels(poll.provider_id).inc(len(poll.alerts))

    def channel_summary(self) -> dict[str, dict[str, float | int | None]]:
        channels = {c for c, _ in self.counts} | set(self.latency)
        summary: dict[str, dict[str, float | int | None]] = {}
        for channel in sorted(channels):
            samples = list(self.latency.get(channel, ()))
            summary[channel] = {
                "sent": self.counts[(channel, "sent")],
                "failed": self.counts[(channel, "failed")],
                "retried": self.counts[(channel, "retried")],
                "expired": self.counts[(channel, "expired")],
                "latency_p50_s": percentile(samples, 50),
                "latency_p95_s": percentile(samples, 95),
                "latency_mean_s": statistics.fmean(samples) if samples else None,
            }
        return summary
