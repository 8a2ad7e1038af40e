"""``schedule.scheduled_start``: where a poll handed out at a tick falls in its provider's
schedule. Pure, on a fake clock (tick times are plain datetimes): a late or skipped tick
delays one poll and never the ones after it, and no due time is ever polled twice. With a
jitter (``schedule.jitter_offset``) each due time moves by its own offset within the jitter,
and polls are never closer than the interval."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from notifier.db.schedule import LATEST_KEPT, jitter_offset, scheduled_start

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def start(
    now: float,
    last: float | None,
    interval: float = 60,
    held: float | None = None,
    offset: float = 0.0,
) -> float | None:
    found = scheduled_start(
        interval=interval,
        last_started=None if last is None else at(last),
        held_until=None if held is None else at(held),
        now=at(now),
        offset=offset,
    )
    return None if found is None else (found - T0).total_seconds()


def test_a_provider_never_polled_starts_its_schedule_now() -> None:
    assert start(now=7, last=None) == 7


def test_not_due_before_one_interval() -> None:
    assert start(now=59, last=0) is None
    assert start(now=60, last=0) == 60


def test_a_late_poll_keeps_its_due_time() -> None:
    # The tick of second 60 was skipped (or ran late, or the previous poll was still queued):
    # the poll handed out at 63 is the one due at 60, and the next is due at 120, not 123.
    assert start(now=63, last=0) == 60
    assert start(now=119, last=60) is None
    assert start(now=120, last=60) == 120


def test_due_times_missed_in_an_outage_are_not_made_up() -> None:
    # Nothing ran from 60 to 185: one poll, for the latest due time (180), then 240.
    assert start(now=185, last=0) == 180
    assert start(now=239, last=180) is None


def test_a_poll_more_than_half_an_interval_late_restarts_the_schedule() -> None:
    assert start(now=60 + 60 * LATEST_KEPT, last=0) == 60
    assert start(now=91, last=0) == 91  # the next poll a whole interval later, at 151
    assert start(now=215, last=0) == 215


def test_a_wait_the_provider_asked_for_moves_the_schedule() -> None:
    # Retry-After until 100.4: polled at the first tick after it, then every interval from it.
    assert start(now=100, last=0, held=100.4) is None
    assert start(now=101, last=0, held=100.4) == 100.4
    assert start(now=160, last=100.4, held=None) is None
    assert start(now=161, last=100.4, held=None) == 160.4
    # a wait that ends before the interval does changes nothing
    assert start(now=60, last=0, held=30) == 60


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        start(now=1, last=0, interval=0)


def hand_outs(
    interval: float, ticks: list[int], jitter: float = 0.0, provider: str = "ma-prepmod"
) -> list[tuple[int, float]]:
    """(tick, scheduled start) of every poll handed out by these ticks, in order."""
    last: float | None = None
    handed = []
    for tick in ticks:
        offset = jitter_offset(provider, None if last is None else at(last), jitter)
        found = start(now=tick, last=last, interval=interval, offset=offset)
        if found is not None:
            handed.append((tick, found))
            last = found
    return handed


def test_polls_stay_on_schedule_when_ticks_run_late_or_are_skipped() -> None:
    # A fake clock of one tick per second, one in five lost (skipped, failed, or the poll it
    # would hand out refused), never more than three in a row: the provider (every 7 s) is
    # still polled once for each due time 0, 7, 14, ..., however late the poll went out.
    rng = random.Random(9)
    ticks, lost_in_a_row = [], 0
    for second in range(0, 3_000):
        if second > 0 and lost_in_a_row < 3 and rng.random() < 0.2:
            lost_in_a_row += 1
            continue
        lost_in_a_row = 0
        ticks.append(second)
    handed = hand_outs(7, ticks)
    starts = [s for _tick, s in handed]
    assert starts == [7.0 * k for k in range(len(starts))]
    assert starts[-1] >= 2_990 - 7
    assert any(tick > s for tick, s in handed), "no poll went out late: the test proves nothing"


def test_no_due_time_is_polled_twice_and_polls_never_bunch() -> None:
    # Any pattern of lost ticks, outages included, in any order of magnitude.
    rng = random.Random(31)
    ticks = [s for s in range(0, 20_000) if rng.random() < (0.97 if s % 500 < 450 else 0.02)]
    for interval in (2, 5, 7, 60, 61.5):
        handed = hand_outs(interval, ticks)
        starts = [s for _tick, s in handed]
        assert len(set(starts)) == len(starts)
        assert starts == sorted(starts)
        for tick, s in handed:
            assert s <= tick <= s + LATEST_KEPT * interval  # one due time per poll, on time
        for (tick, _s), (next_tick, _next) in itertools.pairwise(handed):
            assert next_tick - tick >= LATEST_KEPT * interval  # never a burst


# ---------------------------------------------------------------------- jitter


def test_a_jitter_offset_delays_the_due_time_by_that_much() -> None:
    assert start(now=64, last=0, offset=4.5) is None
    assert start(now=65, last=0, offset=4.5) == 64.5
    # late by more than an interval: the schedule goes on from the jittered due time
    assert start(now=190, last=0, offset=4.5) == 184.5
    with pytest.raises(ValueError):
        start(now=65, last=0, offset=-1)


def test_each_due_time_has_one_offset_within_the_jitter() -> None:
    offsets = [jitter_offset("ma-prepmod", at(60.0 * k), 15.0) for k in range(2_000)]
    assert all(0 <= o < 15 for o in offsets)
    # the same provider and start always give the same offset (every worker agrees) ...
    assert offsets[:50] == [jitter_offset("ma-prepmod", at(60.0 * k), 15.0) for k in range(50)]
    # ... another provider gets others, and there is none without a jitter or a last start
    assert jitter_offset("nh-prepmod", at(0), 15.0) != offsets[0]
    assert jitter_offset("ma-prepmod", at(0), 0.0) == 0.0
    assert jitter_offset("ma-prepmod", None, 15.0) == 0.0
    # uniform over the jitter: each tenth of it gets about a tenth of the due times
    tenths = [sum(1 for o in offsets if k * 1.5 <= o < (k + 1) * 1.5) for k in range(10)]
    assert all(140 <= n <= 260 for n in tenths), tenths


def test_jitter_spreads_polls_never_closer_than_the_interval() -> None:
    # Every second a tick: polls every 7 s plus up to 5 s of jitter.
    handed = hand_outs(7, list(range(0, 5_000)), jitter=5.0)
    starts = [s for _tick, s in handed]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(7 <= gap < 12 for gap in gaps)
    assert len({round(gap, 1) for gap in gaps}) > 20, "the jitter spreads nothing"
    assert 9 < sum(gaps) / len(gaps) < 10  # interval + jitter / 2 on average, as APScheduler
    for tick, s in handed:
        assert s <= tick < s + 1  # handed out at the first tick after its due time
    ticks = [tick for tick, _s in handed]
    assert all(b - a >= 7 for a, b in itertools.pairwise(ticks))


def test_jitter_with_lost_ticks_never_polls_a_due_time_twice() -> None:
    rng = random.Random(5)
    ticks = [s for s in range(0, 20_000) if rng.random() < (0.9 if s % 600 < 500 else 0.05)]
    for interval, jitter in ((2, 1.5), (7, 5.0), (60, 15.0), (60, 120.0)):
        handed = hand_outs(interval, ticks, jitter=jitter)
        starts = [s for _tick, s in handed]
        assert len(set(starts)) == len(starts)
        assert all(b - a >= interval for a, b in itertools.pairwise(starts))
        for tick, s in handed:
            assert s <= tick <= s + LATEST_KEPT * interval
        for (tick, _s), (next_tick, _next) in itertools.pairwise(handed):
            assert next_tick - tick >= LATEST_KEPT * interval
