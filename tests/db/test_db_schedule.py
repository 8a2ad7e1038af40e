"""The shared poll schedule and rate buckets, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from notifier.db import rate_buckets, schedule
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.tables import poll_schedule_table
from tests.db.db_support import NOW, add_sub, make_alert

SECOND = dt.timedelta(seconds=1)


def test_never_polled_providers_are_due(engine: Engine) -> None:
    with engine.begin() as conn:
        schedule.sync_schedule(conn, {"b": 60, "a": 30})
        assert list(schedule.due_providers(conn, NOW)) == ["a", "b"]


def test_due_again_one_interval_after_the_last_start(engine: Engine) -> None:
    with engine.begin() as conn:
        schedule.sync_schedule(conn, {"a": 30, "b": 60})
        schedule.mark_started(conn, {"a": NOW, "b": NOW})
        assert list(schedule.due_providers(conn, NOW + 29 * SECOND)) == []
        assert list(schedule.due_providers(conn, NOW + 30 * SECOND)) == ["a"]
        assert list(schedule.due_providers(conn, NOW + 60 * SECOND)) == ["a", "b"]


def test_not_before_holds_a_provider_back_until_it_passes(engine: Engine) -> None:
    with engine.begin() as conn:
        schedule.sync_schedule(conn, {"a": 30})
        schedule.mark_started(conn, {"a": NOW})
        schedule.postpone(conn, "a", NOW + 300 * SECOND)  # Retry-After: 300
        assert list(schedule.due_providers(conn, NOW + 299 * SECOND)) == []
        assert list(schedule.due_providers(conn, NOW + 300 * SECOND)) == ["a"]
        schedule.postpone(conn, "a", None)
        assert list(schedule.due_providers(conn, NOW + 30 * SECOND)) == ["a"]


def test_a_late_hand_out_keeps_the_due_time_and_a_wait_moves_it(engine: Engine) -> None:
    with engine.begin() as conn:
        schedule.sync_schedule(conn, {"a": 30, "b": 30})
        schedule.mark_started(conn, {"a": NOW, "b": NOW})
        # handed out three seconds late: recorded at its due time, so due again at NOW + 60
        late = schedule.due_providers(conn, NOW + 33 * SECOND)
        assert late == {"a": NOW + 30 * SECOND, "b": NOW + 30 * SECOND}
        schedule.mark_started(conn, {"a": late["a"]})
        assert list(schedule.due_providers(conn, NOW + 59 * SECOND)) == ["b"]
        assert list(schedule.due_providers(conn, NOW + 60 * SECOND)) == ["a", "b"]
        # b asked to wait until NOW + 100.5 s: its schedule goes on from there
        schedule.postpone(conn, "b", NOW + dt.timedelta(seconds=100.5))
        assert "b" not in schedule.due_providers(conn, NOW + 100 * SECOND)
        held = schedule.due_providers(conn, NOW + 101 * SECOND)["b"]
        assert held == NOW + dt.timedelta(seconds=100.5)
        schedule.mark_started(conn, {"b": held})
        schedule.postpone(conn, "b", None)
        assert "b" not in schedule.due_providers(conn, NOW + 130 * SECOND)
        assert "b" in schedule.due_providers(conn, NOW + 131 * SECOND)


def test_sync_keeps_history_updates_intervals_and_drops_removed(engine: Engine) -> None:
    with engine.begin() as conn:
        schedule.sync_schedule(conn, {"a": 30, "gone": 30})
        schedule.mark_started(conn, {"a": NOW})
        schedule.sync_schedule(conn, {"a": 10, "new": 5})
        t = poll_schedule_table
        rows = {r.provider_id: r for r in conn.execute(select(t))}
        assert set(rows) == {"a", "new"}
        assert rows["a"].interval_seconds == 10
        assert rows["a"].last_started_at is not None
        assert list(schedule.due_providers(conn, NOW + 10 * SECOND)) == ["a", "new"]


def test_a_jittered_provider_is_due_at_its_offset_and_sync_keeps_the_jitter(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        schedule.sync_schedule(conn, {"a": 30, "b": 30}, {"a": 20})
        schedule.mark_started(conn, {"a": NOW, "b": NOW})
        offset = schedule.jitter_offset("a", NOW, 20)
        assert 0 < offset < 20
        due = NOW + dt.timedelta(seconds=30 + offset)
        assert "a" not in schedule.due_providers(conn, due - dt.timedelta(microseconds=1))
        assert schedule.due_providers(conn, NOW + 30 * SECOND) == {"b": NOW + 30 * SECOND}
        found = schedule.due_providers(conn, due)
        assert found["a"] == due
        # the next due time has an offset of its own, from that start
        schedule.mark_started(conn, {"a": found["a"]})
        later = found["a"] + dt.timedelta(seconds=30 + schedule.jitter_offset("a", due, 20))
        assert "a" not in schedule.due_providers(conn, later - dt.timedelta(microseconds=1))
        assert schedule.due_providers(conn, later)["a"] == later
        schedule.sync_schedule(conn, {"a": 30, "b": 30})  # the jitter was taken off
        rows = {r.provider_id: r for r in conn.execute(select(poll_schedule_table))}
        assert rows["a"].jitter_seconds == 0 and rows["b"].jitter_seconds == 0


def test_channels_with_due_deliveries(engine: Engine) -> None:
    with engine.begin() as conn:
        add_sub(conn, channel="sms")
        write_alert(conn, make_alert(), channels=[ChannelPlan("sms", "recipient")], now=NOW)
        lease = {"sms": 60.0, "email": 60.0}
        assert schedule.channels_with_due_deliveries(conn, lease, NOW) == ["sms"]
        # an expired alert is never claimed, so it needs no send job
        later = NOW + dt.timedelta(hours=2)
        assert schedule.channels_with_due_deliveries(conn, lease, later) == []


def test_rate_bucket_steps_atomically_and_keeps_state(engine: Engine) -> None:
    seen: list[tuple[tuple[float, ...] | None, int]] = []

    def count(state: tuple[float, ...] | None, now_ms: int) -> tuple[tuple[float, ...], object]:
        seen.append((state, now_ms))
        n = (state or (0.0,))[0]
        return (n + 1,), n + 1

    with engine.begin() as conn:
        assert rate_buckets.step_bucket(conn, "sms", count) == 1
        assert rate_buckets.step_bucket(conn, "sms", count) == 2
        assert rate_buckets.step_bucket(conn, "email", count) == 1
    assert seen[0][0] is None and seen[1][0] == (1.0,)
    # the database clock, in milliseconds since the epoch
    wall = dt.datetime.now(dt.UTC).timestamp() * 1000
    assert abs(seen[0][1] - wall) < 60_000
