"""Multi-node mode sends the notice outbox and watches the failure rates, on the real
PostgreSQL with workers in this process (and, for an eligibility opening, real worker
processes): a web sign-up's confirmation email goes out from a worker, an opened group is told
once, a dead sender's notices are sent after their lease, notices draw on the channel's shared
rate limit, and a failing channel is reported once however many workers judge it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from notifier.channel import RateLimit
from notifier.config import Config, DatabaseConfig, RateLimitConfig, SignupConfig, WorkersConfig
from notifier.db import notices, ops_watch, subscribers
from notifier.db.bulk import bulk_insert_subscribers
from notifier.db.engine import make_engine, upgrade, write_transaction
from notifier.db.tables import notice_table, subscriber_table
from notifier.pipeline.dispatch import make_limiter
from notifier.pipeline.eligibility import open_eligibility
from notifier.pipeline.engine_procrastinate import (
    NOTICES_TASK,
    WATCH_TASK,
    WorkerSettings,
    notice_deferral,
    run_worker,
)
from notifier.pipeline.runtime import Runtime
from notifier.pipeline.shared_limit import DatabaseStateStore
from notifier.testing.cluster import ClusterSpec, start_worker, stop_workers
from notifier.testing.smtp_server import SmtpTestServer
from notifier.testing.twilio_stub import TwilioStub
from notifier.testing.waiting import eventually
from notifier.testing.webhook_stub import WebhookStub
from notifier.web.app import create_app
from tests.db.conftest import pg_engine, pg_engine_session, pg_server_url  # noqa: F401
from tests.pipeline.test_multi_node import database_url, wait_for  # noqa: F401
from tests.pipeline.watch_support import BACK, FAILING, failure_notices, finish_deliveries
from tests.pipeline.watch_support import watched_config as watched
from tests.web.signup_support import sign_up, signup_config
from tests.web.sms_web_support import PUBLIC_BASE

pytestmark = pytest.mark.postgres

HTTPS = "https://testserver"
#: short enough for a test, and 3 heartbeats per stall as the config requires
FAST_WORKERS = WorkersConfig(heartbeat_seconds=1, stalled_seconds=5, job_poll_seconds=0.5)


@pytest.fixture
def queue(pg_engine: Engine) -> Iterator[Engine]:  # noqa: F811
    with pg_engine.begin() as conn:
        conn.execute(text("DELETE FROM procrastinate_periodic_defers"))
        conn.execute(text("DELETE FROM procrastinate_jobs"))
    yield pg_engine


def multi_node(config: Config, url: str) -> Config:
    return config.model_copy(
        update={
            "engine": "procrastinate",
            "database": DatabaseConfig(url=url),
            "workers": FAST_WORKERS,
        }
    )


def jobs(engine: Engine, task: str) -> list[dict[str, Any]]:
    query = text(
        "SELECT id, status, args FROM procrastinate_jobs WHERE task_name = :task ORDER BY id"
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query, {"task": task})]


def notice_states(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(conn.execute(select(notice_table.c.state)).scalars())


@contextlib.asynccontextmanager
async def workers(config: Config, count: int) -> AsyncIterator[list[Runtime]]:
    """``count`` workers in this process, each with its own engine and runtime, as
    ``notifier worker`` builds them."""
    runtimes = [Runtime.build(config, migrate=False, shared_limits=True) for _ in range(count)]
    tasks = [
        asyncio.create_task(run_worker(r, WorkerSettings(name=f"w{n}")))
        for n, r in enumerate(runtimes)
    ]
    try:
        yield runtimes
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for runtime in runtimes:
            await runtime.aclose()


# ---------------------------------------------------------------------- sign-up confirmation


async def test_an_email_sign_up_on_the_web_is_confirmed_by_email_from_a_worker(
    queue: Engine,
    pg_server_url: str,  # noqa: F811
) -> None:
    with SmtpTestServer() as smtp:
        config = multi_node(
            signup_config(
                sms={"api_base_url": "http://127.0.0.1:9"},
                email={"port": smtp.port},
            ),
            pg_server_url,
        )
        app = create_app(config)  # as `notifier web` builds it: its own engine
        with TestClient(app, base_url=HTTPS) as client:
            for email in ("jane@example.org", "joe@example.org"):
                assert sign_up(client, channel="email", email=email).status_code == 200
            # The sign-up deferred the notices job in its own transaction; the second found
            # it still waiting (the queueing lock): no worker has run yet, nor any tick.
            assert [j["status"] for j in jobs(queue, NOTICES_TASK)] == ["todo"]
            assert notice_states(queue) == Counter({"pending": 2})

            async with workers(config, 1):
                await eventually(lambda: len(smtp.emails()) == 2, timeout=60)
                await eventually(lambda: notice_states(queue)["sent"] == 2, timeout=30)
            assert {m["To"] for m in smtp.emails()} == {"jane@example.org", "joe@example.org"}
            assert jobs(queue, NOTICES_TASK)[0]["status"] == "succeeded"

            for mail in smtp.emails():
                body = mail.get_body(("plain",)).get_content()
                link = re.search(rf"{re.escape(PUBLIC_BASE)}(/confirm/\S+)", body)
                assert link is not None
                assert client.post(link.group(1)).status_code == 200
        app.state.engine.dispose()
    with queue.connect() as conn:
        confirmed = conn.execute(
            select(subscriber_table.c.address).where(subscriber_table.c.confirmed_at.is_not(None))
        ).scalars()
        assert set(confirmed) == {"jane@example.org", "joe@example.org"}


# ---------------------------------------------------------------------- leases, sweep, limit


def _twilio_config(stub: TwilioStub, url: str, workdir: Path, *, tokens: int) -> Config:
    spec = ClusterSpec(database_url=url, providers={}, twilio_url=stub.url, workdir=str(workdir))
    config = spec.config()
    sms = config.channels["sms"].model_copy(
        update={"rate_limit": RateLimitConfig(count=tokens, per_seconds=600.0)}
    )
    return config.model_copy(update={"workers": FAST_WORKERS, "channels": {"sms": sms}})


def _sign_up_by_text(engine: Engine, numbers: list[str]) -> None:
    """Unconfirmed SMS subscribers with a queued confirmation each, written by a process that
    defers no job (as an older web process, or a restore, could): only the sweep finds them."""
    now = dt.datetime.now(dt.UTC)
    with write_transaction(engine) as conn:
        for number in numbers:
            subscriber_id, token = subscribers.add_subscriber(
                conn, channel="sms", address=number, postal_code="02115", radius_miles=10, now=now
            )
            notices.enqueue_confirm(conn, subscriber_id, "sms", token, now)


async def test_a_dead_senders_notices_go_out_after_their_lease_within_the_shared_limit(
    queue: Engine,
    pg_server_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    numbers = [f"+1617555{n:04d}" for n in range(1, 6)]
    with TwilioStub() as stub:
        config = _twilio_config(stub, pg_server_url, tmp_path, tokens=len(numbers))
        _sign_up_by_text(queue, numbers)
        # A worker claimed two of them and died: "sending", their lease already over.
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=notices.LEASE_SECONDS + 5)
        with write_transaction(queue) as conn:
            dead = notices.claim_notices(conn, "sms", limit=2, now=dt.datetime.now(dt.UTC))
            claimed = notice_table.c.id.in_([d.id for d in dead])
            conn.execute(notice_table.update().where(claimed).values(claimed_at=long_ago))
        assert len(dead) == 2 and jobs(queue, NOTICES_TASK) == []

        async with workers(config, 1):
            await eventually(lambda: notice_states(queue)["sent"] == len(numbers), timeout=60)
        texts = Counter(r.to for r in stub.requests if r.status == 201)

    assert texts == Counter(numbers)  # each exactly once
    with queue.connect() as conn:
        attempts = dict(conn.execute(select(notice_table.c.id, notice_table.c.attempts)).all())
    assert {attempts[d.id] for d in dead} == {2}
    # Found by a tick's sweep (nobody deferred a job with the rows), sent by one job.
    assert [j["status"] for j in jobs(queue, NOTICES_TASK)] == ["succeeded"]
    # The confirmations took their tokens from the channel's shared bucket: none is left for
    # an alert, whichever process asks.
    other = make_engine(pg_server_url)
    try:
        bucket = make_limiter(
            RateLimit(len(numbers), 600.0), store=DatabaseStateStore(other, "channel:sms")
        )
        assert await bucket.try_acquire_async("sms", blocking=False) is False
    finally:
        other.dispose()


# ---------------------------------------------------------------------- failure-rate watch


async def test_two_workers_report_a_failing_channel_once(
    queue: Engine,
    pg_server_url: str,  # noqa: F811
) -> None:
    with WebhookStub() as ops:
        config = multi_node(watched(pg_server_url, ops), pg_server_url)

        def watches() -> int:
            return sum(1 for j in jobs(queue, WATCH_TASK) if j["status"] == "succeeded")

        def watching() -> bool:
            with queue.connect() as conn:
                return "sms" in ops_watch.load_watch(conn)

        async with workers(config, 2):
            await eventually(watching, timeout=60)  # the first judgement: watched from now on
            finish_deliveries(queue, sent=10, failed=30)
            await eventually(lambda: bool(failure_notices(ops)), timeout=30)
            seen = watches()
            await eventually(lambda: watches() >= seen + 3, timeout=30)
            finish_deliveries(queue, sent=10, failed=10)  # 50 %: still the same incident
            seen = watches()
            await eventually(lambda: watches() >= seen + 3, timeout=30)
            assert failure_notices(ops) == [f"{FAILING}75% of deliveries fail"]
            finish_deliveries(queue, sent=40)
            await eventually(lambda: len(failure_notices(ops)) == 2, timeout=30)
            seen = watches()
            await eventually(lambda: watches() >= seen + 3, timeout=30)
        assert failure_notices(ops) == [f"{FAILING}75% of deliveries fail", BACK]
    # One judgement a second for the cluster, not one per worker: a second is judged twice
    # only when a lagging worker's deferrer repeats it (and the repeat finds nothing new).
    stamps = [int(j["args"]["timestamp"]) for j in jobs(queue, WATCH_TASK)]
    assert len(stamps) - len(set(stamps)) <= len(set(stamps)) // 4, stamps


# ---------------------------------------------------------------------- real worker processes


def test_an_opened_group_is_told_once_by_two_worker_processes(
    database_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    members = [f"+1978{n:07d}" for n in range(3_000_000, 3_000_120)]
    upgrade(database_url)
    engine = make_engine(database_url)
    joined = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    rows = [
        {
            "channel": "sms",
            "address": number,
            "region": "MA",
            "lat": 42.52,
            "lon": -70.90,
            "radius_miles": 30,
            "eligibility_group": "65plus",
            "confirmed_at": joined,
        }
        for number in members
    ]
    with engine.begin() as conn:
        bulk_insert_subscribers(conn, rows, now=joined)
    with TwilioStub() as stub:
        spec = ClusterSpec(
            database_url=database_url,
            providers={},
            twilio_url=stub.url,
            workdir=str(tmp_path),
        )
        processes = [start_worker(spec.save(tmp_path / "spec.json"), n, tmp_path) for n in "ab"]
        try:
            stop_deferring = notice_deferral(engine)  # as `notifier eligibility open` does
            opening = open_eligibility(
                engine,
                "65plus",
                settings=SignupConfig(notice_wave_size=1_000),
                postal_code="01923",
            )
            stop_deferring()
            assert opening.notices == len(members)
            wait_for(lambda: notice_states(engine)["sent"] == len(members), "every notice")
            time.sleep(2)  # anything sent twice would arrive now
        finally:
            stop_workers(processes)
        sent = [r for r in stub.requests if r.status == 201]

    assert Counter(r.to for r in sent) == Counter(members)  # everyone once
    assert all("65 and older" in (r.body or "") for r in sent)
    # the channel's shared limit (10 per 0.5 s) held across both processes
    times = sorted(r.at for r in sent)
    rate, burst, lag = spec.sms_per_window / spec.sms_window_seconds, spec.sms_per_window, 0.3
    worst = max(
        (j - i + 1) - (burst + rate * (times[j] - times[i] + lag))
        for i in range(len(times))
        for j in range(i, len(times))
    )
    assert worst <= 1, f"rate limit exceeded by {worst:.1f} messages"
    # one notices job at a time: none started while another was running
    _assert_one_at_a_time(engine)
    engine.dispose()


_RUNS = text(
    "SELECT j.id, min(e.id) FILTER (WHERE e.type = 'started') AS started,"
    " max(e.id) FILTER (WHERE e.type IN ('succeeded', 'failed')) AS ended"
    " FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id"
    " WHERE j.task_name = :task GROUP BY j.id ORDER BY started"
)


def _assert_one_at_a_time(engine: Engine) -> None:
    with engine.connect() as conn:
        runs = [(r.started, r.ended) for r in conn.execute(_RUNS, {"task": NOTICES_TASK})]
    ran = [(s, e) for s, e in runs if s is not None]
    assert ran, "no notices job ran"
    for (_s, ended), (next_started, _e) in itertools.pairwise(ran):
        assert ended is not None and ended < next_started, runs
