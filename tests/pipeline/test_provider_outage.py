"""A provider's outage and recovery are announced once, by the poll that stored them.

Against the provider simulator, with ops notices going to a webhook stub on 127.0.0.1:

- one process on SQLite (``notifier run``): one log line and one notice when the provider goes
  down, one of each when it recovers;
- on the real PostgreSQL, two runtimes polling one provider in turn, and two polls recorded at
  the same moment: each transition is announced by one of them, once for the cluster;
- two multi-node workers (procrastinate) polling a provider that goes down and recovers;
- the hourly cap of ops notices and the "scraper broken" notice hold once for the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from notifier.config import Config, DatabaseConfig, WorkersConfig
from notifier.db import ops_once, rate_buckets
from notifier.db import poll as db_poll
from notifier.db.engine import make_engine, write_transaction
from notifier.pipeline.coordinator import PollOutcome
from notifier.pipeline.engine_procrastinate import WorkerSettings, announce_scrapers, run_worker
from notifier.pipeline.ops_ledger import HOUR_MS, DatabaseLedger
from notifier.pipeline.ops_notices import OpsNotifier
from notifier.pipeline.poll import Runtime, poll_provider, record_poll
from notifier.pipeline.summary import PollSummary
from notifier.policies import OpsNoticeSettings
from notifier.scraping import get_scraper
from notifier.testing.simulator import Fault, ManualClock, ProviderSimulator
from notifier.testing.waiting import eventually
from notifier.testing.webhook_stub import WebhookStub
from tests.db.conftest import pg_engine, pg_engine_session, pg_server_url  # noqa: F401
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE, simulator_config

PROVIDER = "ma-prepmod"
DOWN = f"[tests] Provider {PROVIDER} is down"
BACK = f"[tests] Provider {PROVIDER} recovered"
POLL_LOGGER = "notifier.pipeline.poll"
#: a poll that answered (a page the source says has not changed is an answer too)
ANSWERS = ("ok", "unchanged")


@pytest.fixture
def ops() -> Iterator[WebhookStub]:
    with WebhookStub() as stub:
        yield stub


@pytest.fixture
async def sim() -> AsyncIterator[ProviderSimulator]:
    """A simulator whose PrepMod pages show open clinics (its clock stands still)."""
    clock = ManualClock()
    async with ProviderSimulator(
        quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE
    ) as simulator:
        simulator.release(500, fill_seconds=10_000)
        clock.advance(1)
        yield simulator


def outage_config(
    sim: ProviderSimulator, tmp_path: Path, ops: WebhookStub, url: str | None = None, **notices: Any
) -> Config:
    """The simulator's PrepMod provider only, ops notices to ``ops``; SQLite unless ``url``."""
    config = simulator_config(sim, tmp_path)
    update: dict[str, Any] = {
        "providers": [p for p in config.providers if p.id == PROVIDER],
        "ops_notices": OpsNoticeSettings.model_validate(
            {"targets": [f"json://127.0.0.1:{ops.port}/ops"], **notices}
        ),
    }
    if url is not None:
        update["database"] = DatabaseConfig(url=url)
    return config.model_copy(update=update)


def titles(ops: WebhookStub) -> list[str]:
    return [str(r.json["title"]) for r in ops.requests]


def transition_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The poll recorder's log lines about the provider going down or coming back."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == POLL_LOGGER and ("is down" in r.getMessage() or "recovered" in r.getMessage())
    ]


def assert_announced_once(ops: WebhookStub, caplog: pytest.LogCaptureFixture) -> None:
    assert titles(ops) == [DOWN, BACK]
    lines = transition_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"provider {PROVIDER} is down: blocked")
    assert lines[1].startswith(f"provider {PROVIDER} recovered after ")


# ---------------------------------------------------------------------- one process (SQLite)


async def test_one_process_announces_an_outage_once_and_its_end_once(
    sim: ProviderSimulator,
    tmp_path: Path,
    ops: WebhookStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=POLL_LOGGER)
    runtime = Runtime.build(outage_config(sim, tmp_path, ops))
    try:
        polls = [await poll_provider(runtime, PROVIDER)]
        sim.inject(Fault.FORBIDDEN, count=3, target="prepmod")
        polls += [await poll_provider(runtime, PROVIDER) for _ in range(4)]
    finally:
        await runtime.aclose()
    assert [p.outcome for p in polls[:4]] == ["ok", "blocked", "blocked", "blocked"]
    assert polls[4].outcome in ANSWERS
    assert [p.transition for p in polls] == [None, "down", None, None, "recovered"]
    assert polls[1].down_since is not None and polls[4].down_since is None
    assert_announced_once(ops, caplog)


# ---------------------------------------------------------------------- the cluster (PostgreSQL)


@contextlib.asynccontextmanager
async def runtimes(config: Config, count: int) -> AsyncIterator[list[Runtime]]:
    """``count`` runtimes as ``notifier worker`` builds them: each its own engine and ledger."""
    built = [Runtime.build(config, migrate=False, shared_limits=True) for _ in range(count)]
    try:
        yield built
    finally:
        for runtime in built:
            await runtime.aclose()


def events(runtime: Runtime) -> list[str]:
    return [n.event for n in runtime.ops_notices.history]


@pytest.mark.postgres
async def test_two_runtimes_polling_in_turn_announce_each_transition_once(
    pg_engine: Engine,  # noqa: F811
    pg_server_url: str,  # noqa: F811
    sim: ProviderSimulator,
    tmp_path: Path,
    ops: WebhookStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=POLL_LOGGER)
    async with runtimes(outage_config(sim, tmp_path, ops, pg_server_url), 2) as (a, b):
        assert (await poll_provider(a, PROVIDER)).outcome in ANSWERS
        assert (await poll_provider(b, PROVIDER)).outcome in ANSWERS
        sim.inject(Fault.FORBIDDEN, count=4, target="prepmod")
        # Each saw the provider fail while it was up in its own memory: only the first poll
        # to store the failure announces it.
        outage = [await poll_provider(r, PROVIDER) for r in (a, b, a, b)]
        back = [await poll_provider(r, PROVIDER) for r in (b, a, b)]
        assert [p.outcome for p in outage] == ["blocked"] * 4
        assert [p.transition for p in outage] == ["down", None, None, None]
        assert all(p.outcome in ANSWERS for p in back)
        assert [p.transition for p in back] == ["recovered", None, None]
        # Both know it is up again: a later outage is announced again, by whoever sees it.
        assert a.coordinators[PROVIDER].down_since is None
        assert b.coordinators[PROVIDER].down_since is None
    assert events(a) == ["provider_down"] and events(b) == ["provider_recovered"]
    assert_announced_once(ops, caplog)


@pytest.mark.postgres
async def test_polls_recorded_at_the_same_moment_see_each_other(
    pg_engine: Engine,  # noqa: F811
    pg_server_url: str,  # noqa: F811
    sim: ProviderSimulator,
    tmp_path: Path,
    ops: WebhookStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two polls of one provider recorded at once (the queue keeps them apart; a stalled
    worker's late poll would not be): the second waits for the first and sees its outage."""
    both_read: list[threading.Barrier] = []
    read = db_poll.load_poll_context

    def load_then_wait(conn: Any, provider_id: str) -> db_poll.PollContext:
        context = read(conn, provider_id)
        # Wait until the other recording has read too: without the lock on the provider
        # both would read the same "before" and both announce the change. With it, the
        # other is still waiting for the lock: this one gives up waiting and commits first.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read[-1].wait()
        return context

    monkeypatch.setattr(db_poll, "load_poll_context", load_then_wait)
    async with runtimes(outage_config(sim, tmp_path, ops, pg_server_url), 2) as pair:
        for kind, results in (("unreachable", None), ("ok", []), ("blocked", None)):
            both_read.append(threading.Barrier(2, timeout=1.0))
            failed = PollOutcome(PROVIDER, dt.datetime.now(dt.UTC), 5, results, kind, 403)
            summaries: list[PollSummary] = await asyncio.gather(
                *(asyncio.to_thread(record_poll, r, r.coordinators[PROVIDER], failed) for r in pair)
            )
            changed = [s.transition for s in summaries if s.transition is not None]
            assert changed == ["recovered" if kind == "ok" else "down"], summaries


@pytest.mark.postgres
async def test_the_hourly_cap_is_one_cap_for_the_cluster(
    pg_engine: Engine,  # noqa: F811
    pg_server_url: str,  # noqa: F811
    ops: WebhookStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = {"targets": [f"json://127.0.0.1:{ops.port}/ops"], "max_notices_per_hour": 3}
    engines = [make_engine(pg_server_url) for _ in range(2)]
    try:
        a, b = (OpsNotifier(settings, service_name="T", ledger=DatabaseLedger(e)) for e in engines)
        with caplog.at_level(logging.INFO, logger="notifier.pipeline.ops_notices"):
            for notifier, provider in ((a, "p1"), (b, "p2"), (a, "p3"), (b, "p4"), (a, "p5")):
                assert await notifier.provider_down(provider, "unreachable", "timeout")
        assert titles(ops) == [f"[T] Provider {p} is down" for p in ("p1", "p2", "p3")]
        held = [r for r in caplog.records if "hourly limit reached" in r.getMessage()]
        assert len(held) == 2

        # An hour later (the bucket's times moved back an hour), the next one goes out and
        # says what the cluster held back, whichever process held it.
        def an_hour_earlier(
            state: tuple[float, ...] | None, _now_ms: int
        ) -> tuple[tuple[float, ...], None]:
            assert state is not None and state[0] == 2  # held back: 2
            return (state[0], *(t - HOUR_MS for t in state[1:])), None

        with write_transaction(pg_engine) as conn:
            rate_buckets.step_bucket(conn, ops_once.NOTICE_BUCKET, an_hour_earlier)
        assert await b.provider_recovered("p1")
        body = ops.requests[-1].json["message"]
        assert body.endswith(
            "(2 earlier notice(s) went to the log only: the hourly limit was reached.)"
        )
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.postgres
async def test_a_broken_scraper_is_reported_by_one_worker_and_its_fix_by_one(
    pg_engine: Engine,  # noqa: F811
    pg_server_url: str,  # noqa: F811
    sim: ProviderSimulator,
    tmp_path: Path,
    ops: WebhookStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = outage_config(sim, tmp_path, ops, pg_server_url)
    with monkeypatch.context() as broken:
        broken.setattr(get_scraper("prepmod"), "broken", "layout changed")
        async with runtimes(config, 3) as started:
            for runtime in started:  # every worker announces when it starts
                await announce_scrapers(runtime)
            assert await started[0].ops_notices.open_incidents() == ["scraper:prepmod"]
    assert titles(ops) == ["[tests] Scraper prepmod is broken"]
    async with runtimes(config, 2) as fixed:  # the next release works again
        for runtime in fixed:
            await announce_scrapers(runtime)
        assert await fixed[1].ops_notices.open_incidents() == []
    assert titles(ops) == [
        "[tests] Scraper prepmod is broken",
        "[tests] Scraper prepmod works again",
    ]


# ---------------------------------------------------------------------- procrastinate workers


FAST_WORKERS = WorkersConfig(heartbeat_seconds=1, stalled_seconds=5, job_poll_seconds=0.5)


@contextlib.asynccontextmanager
async def workers(config: Config, count: int) -> AsyncIterator[list[list[PollSummary]]]:
    """``count`` workers in this process polling every second; yields the polls each made."""
    polls: list[list[PollSummary]] = [[] for _ in range(count)]
    async with runtimes(config, count) as built:
        for runtime, made in zip(built, polls, strict=True):
            runtime.on_poll.append(made.append)
            for coordinator in runtime.coordinators.values():
                coordinator.interval, coordinator.jitter = 1.0, 0.0
        tasks = [
            asyncio.create_task(run_worker(r, WorkerSettings(name=f"w{n}")))
            for n, r in enumerate(built)
        ]
        try:
            yield polls
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@pytest.mark.postgres
async def test_two_workers_announce_an_outage_and_its_end_once(
    pg_engine: Engine,  # noqa: F811
    pg_server_url: str,  # noqa: F811
    sim: ProviderSimulator,
    tmp_path: Path,
    ops: WebhookStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=POLL_LOGGER)
    with pg_engine.begin() as conn:
        conn.execute(text("DELETE FROM procrastinate_periodic_defers"))
        conn.execute(text("DELETE FROM procrastinate_jobs"))
    config = outage_config(sim, tmp_path, ops, pg_server_url).model_copy(
        update={"engine": "procrastinate", "workers": FAST_WORKERS}
    )

    def outcomes(polls: list[list[PollSummary]], *kinds: str) -> list[int]:
        return [sum(p.outcome in kinds for p in made) for made in polls]

    async with workers(config, 2) as polls:
        await eventually(lambda: sum(outcomes(polls, *ANSWERS)) >= 2, timeout=60)
        rule = sim.inject(Fault.FORBIDDEN, count=1_000, target="prepmod")
        # The outage lasts until each worker has polled the failing provider at least once.
        await eventually(lambda: min(outcomes(polls, "blocked")) >= 1, timeout=90)
        ok_before = outcomes(polls, *ANSWERS)
        sim.clear_faults()
        await eventually(
            lambda: all(n > m for n, m in zip(outcomes(polls, *ANSWERS), ok_before, strict=True)),
            timeout=90,
        )
    assert rule.served >= 2
    assert_announced_once(ops, caplog)
    transitions = [p.transition for made in polls for p in made if p.transition]
    assert sorted(transitions) == ["down", "recovered"]
