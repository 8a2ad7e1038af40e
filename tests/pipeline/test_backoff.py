"""Property tests of the per-provider backoff (a pure function)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from notifier.db.poll import ProviderHealth
from notifier.pipeline.backoff import FAILURE_KINDS, BackoffPolicy, next_health

NOW = dt.datetime(2021, 2, 18, 8, 0, tzinfo=dt.UTC)
failure_kinds = st.sampled_from(sorted(FAILURE_KINDS))
outcomes = st.sampled_from([*sorted(FAILURE_KINDS), "ok", "unchanged", "held"])
rands = st.floats(min_value=0.0, max_value=0.999)
intervals = st.floats(min_value=1.0, max_value=3600.0)
caps = st.floats(min_value=1.0, max_value=16.0)


def wait(health: ProviderHealth, now: dt.datetime = NOW) -> float:
    assert health.next_poll_at is not None
    return (health.next_poll_at - now).total_seconds()


@given(
    st.lists(st.tuples(outcomes, st.integers(1, 5), st.integers(0, 3), rands), max_size=12),
    intervals,
    caps,
)
def test_the_request_rate_never_exceeds_the_normal_rate(
    polls: list[tuple[str, int, int, float]], interval: float, cap: float
) -> None:
    policy = BackoffPolicy(interval=interval, cap_factor=cap)
    health = ProviderHealth()
    for outcome, pages, retries, rand in polls:
        health = next_health(
            health,
            outcome=outcome,
            now=NOW,
            policy=policy,
            requests=pages,
            attempts=pages + retries,
            rand=rand,
        )
        # requests sent / time until the next poll <= pages / interval
        assert wait(health) * pages >= interval * (pages + retries) - 1e-5 * pages  # µs rounding


@given(st.lists(failure_kinds, min_size=1, max_size=12), rands, intervals)
def test_an_outage_slows_down_to_half_after_three_polls_and_a_quarter_at_the_cap(
    kinds: list[str], rand: float, interval: float
) -> None:
    policy = BackoffPolicy(interval=interval)  # default cap: 4 intervals
    health = ProviderHealth()
    for n, kind in enumerate(kinds, start=1):
        health = next_health(health, outcome=kind, now=NOW, policy=policy, rand=rand)
        assert health.consecutive_failures == n and health.down_since == NOW
        assert interval - 1e-6 <= wait(health) <= 4 * interval + 1e-6  # recovery within one cap
        if n >= 3:
            assert wait(health) >= 4 * interval - 1e-6  # at the cap: a quarter of the rate
        if kind == "blocked":
            assert wait(health) >= 2 * interval - 1e-6  # blocked starts harder


@given(failure_kinds, st.integers(0, 20), st.integers(min_value=1, max_value=86_400), rands)
def test_retry_after_is_obeyed_exactly_never_multiplied(
    kind: str, failures: int, retry_after: int, rand: float
) -> None:
    policy = BackoffPolicy(interval=1.0)
    before = ProviderHealth(consecutive_failures=failures)
    after = next_health(
        before, outcome=kind, now=NOW, policy=policy, retry_after=retry_after, rand=rand
    )
    assert wait(after) == retry_after
    assert after.not_before == NOW + dt.timedelta(seconds=retry_after)
    assert after.consecutive_failures == failures + 1


def test_a_short_retry_after_does_not_speed_us_up() -> None:
    policy = BackoffPolicy(interval=60.0)
    after = next_health(ProviderHealth(), outcome="blocked", now=NOW, policy=policy, retry_after=5)
    assert wait(after) == 60.0


@given(st.integers(1, 50), failure_kinds, intervals)
def test_success_resets_to_the_interval(failures: int, kind: str, interval: float) -> None:
    policy = BackoffPolicy(interval=interval)
    down = ProviderHealth(failures, NOW, None, NOW - dt.timedelta(hours=1), kind)
    healthy = next_health(down, outcome="ok", now=NOW, policy=policy)
    assert healthy.consecutive_failures == 0 and healthy.down_since is None
    assert abs(wait(healthy) - interval) < 1e-6


def test_max_age_postpones_the_next_poll_after_a_success() -> None:
    policy = BackoffPolicy(interval=60.0)
    healthy = next_health(ProviderHealth(), outcome="ok", now=NOW, policy=policy, source_delay=900)
    assert wait(healthy) == 900
