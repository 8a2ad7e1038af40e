"""The procrastinate adapter's pieces on the real PostgreSQL server: the queue schema from
our migrations, send jobs committed (or rolled back) with the outbox, the tick's hand-out and
the shared rate limit."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import procrastinate
import pytest
from pyrate_limiter import Limiter
from sqlalchemy import Engine, func, inspect, select, text

from notifier.channel import RateLimit
from notifier.config import DatabaseConfig, WorkersConfig
from notifier.db.engine import make_engine, upgrade, write_transaction
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.queue_schema import apply_queue_schema
from notifier.db.tables import delivery_table
from notifier.pipeline.dispatch import DispatchSettings, make_limiter
from notifier.pipeline.engine_procrastinate import (
    POLL_QUEUE,
    POLL_TASK,
    RECOVER_TASK,
    SEND_QUEUE,
    SEND_TASK,
    TICK_TASK,
    WATCH_TASK,
    WorkerSettings,
    conninfo,
    defer_sends_with_outbox,
    hand_out,
    make_app,
    run_worker,
)
from notifier.pipeline.runtime import Runtime
from notifier.pipeline.shared_limit import DatabaseStateStore
from notifier.testing.cluster import ClusterSpec
from tests.db.conftest import pg_engine, pg_engine_session, pg_server_url  # noqa: F401
from tests.db.db_support import NOW, add_sub, make_alert

pytestmark = pytest.mark.postgres


def jobs(engine: Engine, task: str) -> list[dict[str, object]]:
    query = text(
        "SELECT args, queue_name, lock, queueing_lock, status FROM procrastinate_jobs"
        " WHERE task_name = :task ORDER BY id"
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query, {"task": task})]


@pytest.fixture
def queue(pg_engine: Engine) -> Iterator[Engine]:  # noqa: F811
    with pg_engine.begin() as conn:
        conn.execute(text("DELETE FROM procrastinate_periodic_defers"))
        conn.execute(text("DELETE FROM procrastinate_jobs"))
    yield pg_engine


@pytest.fixture
def deferrer(pg_server_url: str) -> procrastinate.App:  # noqa: F811
    return procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo(pg_server_url))
    )


def test_upgrade_brings_the_queue_schema_once(queue: Engine) -> None:
    assert "procrastinate_jobs" in inspect(queue).get_table_names()
    upgrade(queue)  # again: nothing to do
    with queue.begin() as conn:
        assert apply_queue_schema(conn) is False


def test_sqlite_has_no_job_queue(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine)
    names = inspect(engine).get_table_names()
    assert "poll_schedule" in names and "rate_bucket" in names
    assert not [n for n in names if n.startswith("procrastinate")]
    engine.dispose()


def _write_alert_with_sends(
    engine: Engine, deferrer: procrastinate.App, subscribers: int, fail: bool
) -> None:
    remove = defer_sends_with_outbox(engine, deferrer, ["sms"], batch=3)
    try:
        with write_transaction(engine) as conn:
            for n in range(subscribers):
                add_sub(conn, address=f"+1617666{n:04d}")
            write_alert(conn, make_alert(), channels=[ChannelPlan("sms", "recipient")], now=NOW)
            if fail:
                raise RuntimeError("the poll's transaction fails after the fan-out")
    finally:
        remove()


def test_send_jobs_commit_with_the_outbox(queue: Engine, deferrer: procrastinate.App) -> None:
    _write_alert_with_sends(queue, deferrer, subscribers=7, fail=False)
    with queue.connect() as conn:
        assert conn.execute(select(func.count()).select_from(delivery_table)).scalar() == 7
    sends = jobs(queue, SEND_TASK)
    assert [j["args"] for j in sends] == [
        {"channel": "sms", "recipients": 3},
        {"channel": "sms", "recipients": 3},
        {"channel": "sms", "recipients": 1},
    ]
    assert {j["queue_name"] for j in sends} == {SEND_QUEUE}


def test_a_rollback_removes_outbox_rows_and_send_jobs(
    queue: Engine, deferrer: procrastinate.App
) -> None:
    with pytest.raises(RuntimeError):
        _write_alert_with_sends(queue, deferrer, subscribers=7, fail=True)
    with queue.connect() as conn:
        assert conn.execute(select(func.count()).select_from(delivery_table)).scalar() == 0
    assert jobs(queue, SEND_TASK) == []


@pytest.fixture
def runtime(queue: Engine, pg_server_url: str, tmp_path: Path) -> Iterator[Runtime]:  # noqa: F811
    spec = ClusterSpec(
        database_url=pg_server_url,
        providers={"ma-prepmod": "http://127.0.0.1:9", "nh-prepmod": "http://127.0.0.1:9"},
        twilio_url="http://127.0.0.1:9",
        workdir=str(tmp_path),
    )
    built = Runtime.build(spec.config(), engine=queue, migrate=False, shared_limits=True)
    from notifier.db import schedule

    with queue.begin() as conn:
        schedule.sync_schedule(conn, {"ma-prepmod": 2, "nh-prepmod": 4})
    yield built


def test_a_tick_hands_out_each_due_provider_once(
    runtime: Runtime, queue: Engine, deferrer: procrastinate.App
) -> None:
    t = 1_800_000_000
    assert hand_out(runtime, deferrer, t) == ["ma-prepmod", "nh-prepmod"]
    assert hand_out(runtime, deferrer, t) == []  # the same second again: nothing due
    assert hand_out(runtime, deferrer, t + 1) == []
    polls = jobs(queue, POLL_TASK)
    assert [(j["args"], j["lock"], j["queueing_lock"]) for j in polls] == [
        ({"provider_id": "ma-prepmod", "tick": t}, "poll:ma-prepmod", "poll:ma-prepmod"),
        ({"provider_id": "nh-prepmod", "tick": t}, "poll:nh-prepmod", "poll:nh-prepmod"),
    ]
    assert {j["queue_name"] for j in polls} == {POLL_QUEUE}


def test_a_provider_whose_poll_still_waits_is_not_queued_twice(
    runtime: Runtime, queue: Engine, deferrer: procrastinate.App
) -> None:
    t = 1_800_000_000
    hand_out(runtime, deferrer, t)
    # Both polls are still "todo" (no worker runs here): ma is due again but stays queued once,
    # and stays due, so the first tick after its poll leaves the queue hands it out.
    assert hand_out(runtime, deferrer, t + 2) == []
    with queue.begin() as conn:
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'succeeded'"))
    assert hand_out(runtime, deferrer, t + 3) == ["ma-prepmod"]
    assert len(jobs(queue, POLL_TASK)) == 3


def finish_polls(engine: Engine) -> None:
    """Every poll job handed out so far has run (no worker runs in these tests)."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'succeeded'"))


def started_at(engine: Engine) -> dict[str, int]:
    """Each provider's scheduled start of its last poll, in seconds since the epoch."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT provider_id, last_started_at FROM poll_schedule"))
        return {p: int(at.timestamp()) for p, at in rows}


def test_a_skipped_tick_delays_one_poll_not_the_ones_after_it(
    runtime: Runtime, queue: Engine, deferrer: procrastinate.App
) -> None:
    t = 1_800_000_000  # ma-prepmod every 2 s, nh-prepmod every 4 s
    assert hand_out(runtime, deferrer, t) == ["ma-prepmod", "nh-prepmod"]
    finish_polls(queue)
    # The tick of t + 2 never ran (its worker died, it failed, its deferrer lagged): the next
    # one polls ma late, as the poll due at t + 2, so ma's next poll is still due at t + 4.
    assert hand_out(runtime, deferrer, t + 3) == ["ma-prepmod"]
    assert started_at(queue)["ma-prepmod"] == t + 2
    finish_polls(queue)
    assert hand_out(runtime, deferrer, t + 4) == ["ma-prepmod", "nh-prepmod"]
    finish_polls(queue)
    assert hand_out(runtime, deferrer, t + 5) == []
    assert hand_out(runtime, deferrer, t + 6) == ["ma-prepmod"]


def test_a_poll_held_back_by_the_queue_keeps_the_schedule(
    runtime: Runtime, queue: Engine, deferrer: procrastinate.App
) -> None:
    t = 1_800_000_000
    hand_out(runtime, deferrer, t)
    # Late ticks run in a burst behind busy workers: at t + 2 ma's previous poll is still
    # queued, so its next one goes out a second late, and the one after is on time again.
    assert hand_out(runtime, deferrer, t + 2) == []
    finish_polls(queue)
    assert hand_out(runtime, deferrer, t + 3) == ["ma-prepmod"]
    finish_polls(queue)
    assert hand_out(runtime, deferrer, t + 4) == ["ma-prepmod", "nh-prepmod"]
    # ...and a second that procrastinate defers again after later ones finds nothing due
    finish_polls(queue)
    assert hand_out(runtime, deferrer, t + 3) == []
    assert [j["args"]["tick"] for j in jobs(queue, POLL_TASK)] == [t, t, t + 3, t + 4, t + 4]


def test_jitter_spreads_the_polls_within_its_bounds_and_never_doubles_one(
    runtime: Runtime, queue: Engine, deferrer: procrastinate.App
) -> None:
    from notifier.db import schedule

    with queue.begin() as conn:  # ma every 2 s plus up to 3 s of jitter; nh every 4 s, none
        schedule.sync_schedule(conn, {"ma-prepmod": 2, "nh-prepmod": 4}, {"ma-prepmod": 3})
    t = 1_800_000_000
    handed: dict[str, list[int]] = {"ma-prepmod": [], "nh-prepmod": []}
    for second in range(t, t + 400):
        for provider in hand_out(runtime, deferrer, second):
            handed[provider].append(second)
        assert hand_out(runtime, deferrer, second) == []  # a repeated tick: nothing again
        finish_polls(queue)
    ma_gaps = [b - a for a, b in itertools.pairwise(handed["ma-prepmod"])]
    # due 2 s + [0, 3) s after the previous due time, handed out at the first tick after it
    assert all(2 <= gap <= 6 for gap in ma_gaps), ma_gaps
    assert set(ma_gaps) >= {2, 3, 4, 5}, "the jitter spreads nothing"
    assert 3.2 < statistics.fmean(ma_gaps) < 4.2  # 2 + 3/2 on average, plus the tick's rounding
    assert {b - a for a, b in itertools.pairwise(handed["nh-prepmod"])} == {4}
    # one job per poll handed out, one poll per tick at most
    polls = [j["args"] for j in jobs(queue, POLL_TASK)]
    assert len(polls) == sum(len(ticks) for ticks in handed.values())
    assert len({(p["provider_id"], p["tick"]) for p in polls}) == len(polls)  # type: ignore[index]


async def test_the_rate_limit_is_shared_between_processes(
    queue: Engine,
    pg_server_url: str,  # noqa: F811
) -> None:
    rate = RateLimit(5, 60.0)  # five tokens, then one every 12 s: nothing refills mid-test
    other = make_engine(pg_server_url)  # a second "process": its own engine and limiter
    try:
        limiters: list[Limiter] = [
            make_limiter(rate, store=DatabaseStateStore(queue, "channel:sms")),
            make_limiter(rate, store=DatabaseStateStore(other, "channel:sms")),
        ]
        admitted = [
            await limiters[n % 2].try_acquire_async("sms", blocking=False) for n in range(8)
        ]
        assert admitted == [True] * 5 + [False] * 3
        # another channel has its own bucket
        email = make_limiter(rate, store=DatabaseStateStore(other, "channel:email"))
        assert await email.try_acquire_async("email", blocking=False) is True
    finally:
        other.dispose()


def test_the_periodic_tasks_run_at_the_configured_cadences(pg_server_url: str) -> None:  # noqa: F811
    app = make_app(
        pg_server_url, WorkersConfig(tick_seconds=5, recover_seconds=10), watch_seconds=15
    )
    crons = {key[0]: task.cron for key, task in app.periodic_registry.periodic_tasks.items()}
    assert crons[TICK_TASK] == "* * * * * */5"
    assert crons[RECOVER_TASK] == "* * * * * */10"
    assert crons[WATCH_TASK] == "* * * * * */15"  # ops_notices.failure_check_seconds
    every_second = make_app(pg_server_url, WorkersConfig(tick_seconds=1, recover_seconds=60))
    crons = {k[0]: t.cron for k, t in every_second.periodic_registry.periodic_tasks.items()}
    assert crons[TICK_TASK] == "* * * * * *" and crons[RECOVER_TASK] == "* * * * * 0"
    assert crons[WATCH_TASK] == "* * * * * 0"  # once a minute by default


async def test_a_worker_runs_with_the_settings_of_the_config(
    queue: Engine,
    pg_server_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    spec = ClusterSpec(
        database_url=pg_server_url,
        providers={"ma-prepmod": "http://127.0.0.1:9"},
        twilio_url="http://127.0.0.1:9",
        workdir=str(tmp_path),
    )
    workers = WorkersConfig(
        tick_seconds=2, heartbeat_seconds=1, stalled_seconds=5, concurrency=3, shutdown_seconds=5
    )
    config = spec.config().model_copy(update={"workers": workers})
    runtime = Runtime.build(config, engine=queue, migrate=False, shared_limits=True)
    worker = asyncio.create_task(run_worker(runtime, WorkerSettings(name="configured")))

    def finished_ticks() -> list[int]:
        return [
            int(j["args"]["timestamp"])  # type: ignore[index]
            for j in jobs(queue, TICK_TASK)
            if j["status"] == "succeeded"
        ]

    try:
        deadline = time.monotonic() + 60
        while len(finished_ticks()) < 3:
            assert not worker.done(), worker
            assert time.monotonic() < deadline, "the worker ran no ticks"
            await asyncio.sleep(0.2)
        with queue.connect() as conn:
            beats = conn.execute(
                text("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat IS NOT NULL")
            ).scalar()
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await runtime.aclose()
    ticks = sorted(finished_ticks())
    assert all(t % 2 == 0 for t in ticks), ticks  # every other second, on the even ones
    assert ticks == list(range(ticks[0], ticks[-1] + 1, 2))
    assert beats == 1


async def test_the_pool_and_the_delivery_settings_come_from_the_config(
    pg_server_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from notifier.web.app import create_app

    spec = ClusterSpec(
        database_url=pg_server_url,
        providers={"ma-prepmod": "http://127.0.0.1:9"},
        twilio_url="http://127.0.0.1:9",
        workdir=str(tmp_path),
    )
    base = spec.config()
    config = base.model_copy(
        update={
            "database": DatabaseConfig(url=pg_server_url, pool_size=3, max_overflow=2),
            "delivery": DispatchSettings(lease_seconds=300, batch_size=40),
        }
    )
    runtime = Runtime.build(config, migrate=False, shared_limits=True)
    web = create_app(config)
    try:
        for engine in (runtime.engine, web.state.engine):
            assert engine.pool.size() == 3
            assert engine.pool._max_overflow == 2  # type: ignore[attr-defined]
        settings = runtime.dispatchers["sms"].settings
        assert (settings.lease_seconds, settings.batch_size) == (300, 40)
    finally:
        await runtime.aclose()
        web.state.engine.dispose()
