"""Multi-node mode end to end: three real worker processes on one PostgreSQL, one SIGKILLed in
the middle of a fan-out.

Checked against the real components (PrepMod simulators, the Twilio stub, procrastinate):
every delivery is made, only deliveries the dead worker had claimed can repeat, the SMS rate
limit holds across the processes, and every provider is polled exactly once per tick.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from notifier.db.bulk import bulk_insert_subscribers
from notifier.db.engine import make_engine, upgrade
from notifier.db.tables import DeliveryState, delivery_table, provider_state_table
from notifier.pipeline.engine_procrastinate import POLL_TASK, TICK_TASK
from notifier.testing.cluster import (
    ClusterSpec,
    NoServer,
    start_worker,
    stop_workers,
    throwaway_database,
)
from notifier.testing.simulator import ProviderSimulator, RequestRecord
from notifier.testing.twilio_stub import TwilioStub
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE

pytestmark = pytest.mark.postgres

SUBSCRIBERS = 400
WORKERS = ("w1", "w2", "w3")
#: seconds to wait for each stage; generous because the test machine is shared
STAGE_TIMEOUT = 90.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = STAGE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def database_url() -> Iterator[str]:
    database = throwaway_database()
    try:
        url = database.__enter__()
    except NoServer as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL required in CI: {error}")
        pytest.skip(f"PostgreSQL server not reachable at 127.0.0.1:5432 ({error})")
    try:
        yield url
    finally:
        database.__exit__(None, None, None)


def add_statewide_subscribers(engine: Engine, count: int) -> set[str]:
    numbers = [f"+1617{n:07d}" for n in range(2_000_000, 2_000_000 + count)]
    signed_up = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    rows = [
        {
            "channel": "sms",
            "address": number,
            "region": "MA",
            "lat": 42.35,
            "lon": -71.06,
            "radius_miles": None,
            "time_zone": "America/New_York",
            "confirmed_at": signed_up,
        }
        for number in numbers
    ]
    with engine.begin() as conn:
        bulk_insert_subscribers(conn, rows, now=signed_up)
    return set(numbers)


#: a job with the event ids (insertion order) of its deferral and its first start
_JOBS = text(
    "SELECT j.args->>'provider_id' AS provider,"
    " COALESCE((j.args->>'tick')::bigint, (j.args->>'timestamp')::bigint) AS tick, j.status,"
    " min(e.id) FILTER (WHERE e.type = 'deferred') AS deferred,"
    " min(e.id) FILTER (WHERE e.type = 'started') AS started"
    " FROM procrastinate_jobs j LEFT JOIN procrastinate_events e ON e.job_id = j.id"
    " WHERE j.task_name = :task GROUP BY j.id ORDER BY j.id"
)


def poll_jobs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(_JOBS, {"task": POLL_TASK})]


def tick_jobs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(_JOBS, {"task": TICK_TASK})]


def succeeded_polls(engine: Engine, provider: str) -> int:
    return sum(
        1 for j in poll_jobs(engine) if j["provider"] == provider and j["status"] == "succeeded"
    )


def baselines(engine: Engine) -> set[str]:
    t = provider_state_table
    with engine.connect() as conn:
        query = select(t.c.provider_id).where(t.c.baseline_at.is_not(None))
        return set(conn.execute(query).scalars())


def sms_states(engine: Engine) -> Counter[str]:
    d = delivery_table
    with engine.connect() as conn:
        rows = conn.execute(select(d.c.state, func.count()).group_by(d.c.state)).all()
    return Counter({state: n for state, n in rows})


def first_pages(sim: ProviderSimulator) -> list[RequestRecord]:
    """One per poll: the first page of the clinic search (later pages carry page=N)."""
    return [r for r in sim.requests("prepmod") if "page=" not in r.query]


def test_three_workers_one_killed_mid_fanout(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    numbers = add_statewide_subscribers(engine, SUBSCRIBERS)
    ma = ProviderSimulator(quiet=True, first_clinic_date=FIRST_CLINIC_DATE)
    nh = ProviderSimulator(quiet=True, first_clinic_date=FIRST_CLINIC_DATE)
    with ma, nh, TwilioStub() as stub:
        for sim in (ma, nh):  # a page with clinics on it: the first poll sets the baseline
            sim.release(40, sites=("gillette-stadium",), fill_seconds=10_000)
        spec = ClusterSpec(
            database_url=database_url,
            providers={"ma-prepmod": ma.base_url, "nh-prepmod": nh.base_url},
            twilio_url=stub.url,
            workdir=str(tmp_path),
        )
        spec_path = spec.save(tmp_path / "spec.json")
        workers = {name: start_worker(spec_path, name, tmp_path) for name in WORKERS}
        try:
            # The baseline (the first good poll of a provider never alerts), then a few polls.
            wait_for(lambda: baselines(engine) == set(spec.providers), "the baseline polls")
            wait_for(
                lambda: min(succeeded_polls(engine, p) for p in spec.providers) >= 3,
                "the first polls",
            )
            ma.release(5_000, sites=("fenway-park",), fill_seconds=10_000)
            wait_for(lambda: len(stub.requests) >= SUBSCRIBERS // 4, "a quarter of the fan-out")
            busy = [n for n in WORKERS if (tmp_path / f"sent-by-{n}").exists()]
            assert busy, "no worker has sent yet"
            victim = busy[0]
            workers[victim].kill()  # SIGKILL: no cleanup, no commit
            workers[victim].wait()
            sent_at_kill = len(stub.requests)
            assert sent_at_kill < SUBSCRIBERS, "the fan-out finished before the kill"

            wait_for(
                lambda: sms_states(engine)[DeliveryState.SENT.value] == SUBSCRIBERS,
                "every delivery to be sent",
            )
            polls_at_end = {p: succeeded_polls(engine, p) for p in spec.providers}
            wait_for(
                lambda: all(
                    succeeded_polls(engine, p) >= polls_at_end[p] + 3 for p in spec.providers
                ),
                "polls to go on after the kill",
            )
        finally:
            stop_workers(list(workers.values()))
        sent = [r for r in stub.requests if r.status == 201]
        ma_pages, nh_pages = first_pages(ma), first_pages(nh)

    # -- every delivery made; only what the dead worker had claimed may repeat
    assert sms_states(engine) == Counter({DeliveryState.SENT.value: SUBSCRIBERS})
    received = Counter(r.to for r in sent)
    assert set(received) == numbers
    repeated = {number for number, n in received.items() if n > 1}
    d = delivery_table
    with engine.connect() as conn:
        reclaimed = set(conn.execute(select(d.c.recipient).where(d.c.attempts > 1)).scalars())
    assert repeated <= reclaimed
    # A worker sends one batch of a channel at a time: the dead one held one batch at most.
    assert len(reclaimed) <= spec.dispatch_batch
    senders = [n for n in WORKERS if (tmp_path / f"sent-by-{n}").exists()]
    assert len(senders) >= 2, "the fan-out was not shared between workers"

    # -- the shared limit: a token bucket of `sms_per_window` per `sms_window_seconds`
    rate = spec.sms_per_window / spec.sms_window_seconds
    burst = spec.sms_per_window
    times = sorted(r.at for r in sent)
    # Arrival at the stub lags admission by a variable HTTP/event-loop delay; on a loaded
    # 2-core machine it reaches a few hundred ms, so every window is allowed that much more.
    lag = 0.3
    worst = max(
        (j - i + 1) - (burst + rate * (times[j] - times[i] + lag))
        for i in range(len(times))
        for j in range(i, len(times))
    )
    assert worst <= 1, f"rate limit exceeded by {worst:.1f} messages"

    # -- a tick ran for every second. (procrastinate may defer a second twice when a worker's
    #    deferrer lags behind another's; the schedule makes a repeated tick hand out nothing.)
    ticks = tick_jobs(engine)
    stamps = sorted({t["tick"] for t in ticks})
    assert stamps == list(range(stamps[0], stamps[-1] + 1)), "a second had no tick"
    # The first start event of each second's tick that completed its hand-out. A tick the
    # killed worker was running died with it: its transaction rolled back (no poll handed out)
    # and recovery closed the job as failed, so that second is like one whose tick never ran.
    tick_started: dict[int, int | None] = {}
    for t in ticks:
        done = t["started"] if t["status"] == "succeeded" else None
        starts = [x for x in (tick_started.get(t["tick"]), done) if x is not None]
        tick_started[t["tick"]] = min(starts) if starts else None

    # -- each tick handed out one poll per due provider. A provider was skipped only while its
    #    previous poll was still waiting in the queue (never queued twice), or when the tick
    #    ran after a later second's tick (two workers' deferrers racing), which had polled it.
    jobs = poll_jobs(engine)
    for provider, pages in (("ma-prepmod", ma_pages), ("nh-prepmod", nh_pages)):
        mine = [j for j in jobs if j["provider"] == provider]
        per_tick = Counter(j["tick"] for j in mine)
        assert max(per_tick.values()) == 1, f"{provider}: a tick handed out two polls"
        polled = sorted(per_tick)
        for missed in set(range(polled[0], polled[-1] + 1)) - set(polled):
            began = tick_started[missed]
            if began is None:
                continue  # never ran to the end: the workers stopped first, or it was killed
            waiting = [
                j for j in mine if j["deferred"] < began and (j["started"] or began + 1) > began
            ]
            overtaken = [
                t
                for t, at in tick_started.items()
                if t > missed and at is not None and at < began and t in per_tick
            ]
            assert waiting or overtaken, (
                f"{provider}: no poll for tick {missed}; ticks {sorted(tick_started.items())};"
                f" its polls {mine}"
            )
        done = sum(1 for j in mine if j["status"] == "succeeded")
        closed = sum(1 for j in mine if j["status"] == "failed")
        # Every finished poll fetched the first page once; a poll the dead worker held may
        # or may not have got that far; one still queued when the workers stopped did not.
        assert done <= len(pages) <= done + closed
        assert done >= 6
    engine.dispose()
