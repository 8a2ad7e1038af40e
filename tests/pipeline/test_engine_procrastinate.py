"""The procrastinate adapter's pieces on the real PostgreSQL server: the queue schema from
our migrations, send jobs committed (or rolled back) with the outbox, the tick's hand-out and
the shared rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import procrastinate
import pytest
from pyrate_limiter import Limiter
from sqlalchemy import Engine, func, inspect, select, text

from notifier.channel import RateLimit
from notifier.db.engine import make_engine, upgrade, write_transaction
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.queue_schema import apply_queue_schema
from notifier.db.tables import delivery_table
from notifier.pipeline.dispatch import make_limiter
from notifier.pipeline.engine_procrastinate import (
    POLL_QUEUE,
    POLL_TASK,
    SEND_QUEUE,
    SEND_TASK,
    conninfo,
    defer_sends_with_outbox,
    hand_out,
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
