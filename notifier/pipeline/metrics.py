"""In-process counters and latency samples, per channel and per provider.

Kept deliberately small: the CLI, the demo and tests read them; an exporter can be added on
top without touching the pipeline.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

__all__ = ["HandOff", "Metrics", "percentile"]

MAX_SAMPLES = 100_000


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

    def count(self, channel: str, what: str, n: int = 1) -> None:
        """``what`` is one of sent, failed, retried, expired, deferred."""
        self.counts[(channel, what)] += n

    def record_hand_off(self, hand_off: HandOff) -> None:
        self.hand_offs.append(hand_off)
        seconds = (hand_off.handed_off_at - hand_off.detected_at).total_seconds()
        self.latency[hand_off.channel].append(seconds)

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
