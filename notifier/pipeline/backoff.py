"""When to poll a provider next: one backoff per provider, fed by every kind of failure.

A pure function from (the provider's health so far, this poll's outcome, now) to its new
health, so the rules can be property-tested and the state can live in the database, where a
restart does not reset it and several nodes share it. The rules, each a promise to providers:

* Every failure kind counts: unreachable, blocked, unparseable (a waiting room or a changed
  layout served with 200) and upstream errors all push the next poll out exponentially, with
  jitter, up to ``cap_factor`` times the interval. Success resets the count.
* Blocked pages (403, 429, a captcha) start harder: at twice the interval.
* Retries inside a poll are paid for: a poll that needed three requests for one page waits
  three intervals, so our request rate never exceeds the normal rate, outage or not.
* ``Retry-After`` replaces the exponential guess and is obeyed to the second, never
  multiplied; it never makes us poll sooner than the normal interval.
* A source's own freshness (``max-age``) postpones the next poll after a success.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from notifier.db.poll import ProviderHealth

__all__ = [
    "FAILURE_KINDS",
    "BackoffPolicy",
    "ProviderHealth",
    "delay_factor",
    "next_health",
]

#: outcomes that count as a failed poll; everything else ("ok", "unchanged", "held") is an answer
FAILURE_KINDS = frozenset({"unreachable", "blocked", "unparseable", "upstream_error"})


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    interval: float
    #: the longest wait, in intervals: a provider that recovers is seen within one cap
    cap_factor: float = 4.0
    #: how many intervals the first failed poll waits, per kind of failure
    blocked_start: float = 2.0
    error_start: float = 1.0
    #: the upward spread of a wait (0.5: up to 50% longer, never past the cap)
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("interval must be positive")
        if self.cap_factor < 1:
            raise ValueError("cap_factor must be at least 1 (never faster than the interval)")


def delay_factor(policy: BackoffPolicy, failures: int, kind: str, rand: float) -> float:
    """How many intervals to wait after ``failures`` failed polls in a row (``rand`` in [0, 1))."""
    if failures <= 0:
        return 1.0
    start = policy.blocked_start if kind == "blocked" else policy.error_start
    # Bounded exponent: a provider down for a week must not overflow a float.
    exponential = start * 2.0 ** min(failures - 1, 32)
    spread = exponential * (1.0 + policy.jitter * min(max(rand, 0.0), 1.0))
    return max(1.0, min(policy.cap_factor, spread))


def next_health(
    previous: ProviderHealth,
    *,
    outcome: str,
    now: dt.datetime,
    policy: BackoffPolicy,
    retry_after: float | None = None,
    source_delay: float | None = None,
    requests: int = 1,
    attempts: int = 1,
    rand: float = 0.0,
) -> ProviderHealth:
    """The provider's health after a poll with ``outcome`` that ended at ``now``.

    ``requests`` is how many pages the poll asked for, ``attempts`` how many HTTP requests it
    really sent (retries included); the difference is paid for by a longer wait.
    """
    budget = max(1.0, attempts / max(1, requests))
    normal = dt.timedelta(seconds=policy.interval * budget)
    if outcome not in FAILURE_KINDS:
        not_before = None
        if source_delay is not None and source_delay > 0:
            not_before = now + dt.timedelta(seconds=source_delay)
        next_at = max(now + normal, not_before) if not_before else now + normal
        return ProviderHealth(0, next_at, not_before, None, previous.last_failure_kind)

    failures = previous.consecutive_failures + 1
    down_since = previous.down_since or now
    if retry_after is not None:
        # The source said when: exactly then, unless that is sooner than a normal poll.
        not_before = now + dt.timedelta(seconds=max(0.0, retry_after))
        return ProviderHealth(
            failures, max(not_before, now + normal), not_before, down_since, outcome
        )
    factor = delay_factor(policy, failures, outcome, rand)
    wait = dt.timedelta(seconds=policy.interval * max(budget, factor))
    return ProviderHealth(failures, now + wait, None, down_since, outcome)
