"""Per-key rate limits for sign-ups (client IP address, phone number prefix).

A token bucket per key, in memory: ``count`` attempts, refilled over ``per_seconds``. One
process serves the embedded deployment; several web workers each keep their own buckets,
which multiplies the limit by the worker count (documented; a shared store is not needed for
the abuse this stops). The table of buckets is bounded: when it is full, the buckets that
are full again (idle keys) are dropped first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["KeyedLimiter"]


class KeyedLimiter:
    def __init__(
        self,
        count: int,
        per_seconds: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(count)
        self.rate = count / per_seconds  # tokens per second
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, stamp)

    def _tokens(self, key: str, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - stamp) * self.rate)

    def take(self, key: str) -> float:
        """Spend one attempt of ``key``: 0.0 if allowed, else the seconds until it would be."""
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.capacity]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


def minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60.0))
