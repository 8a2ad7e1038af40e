"""``fanout``: one alert matching 100,000 of 1,000,000 subscribers, then its SMS.

* planning: ``write_alert`` (matching, ranking and the INSERT ... SELECT of every delivery, one
  transaction, committed) on SQLite (goal <= 1 s) and, when the server on 127.0.0.1:5432
  answers, on PostgreSQL (goal <= 2 s), in a throwaway database; SMS waves of three
  subscribers per open appointment (50), so 150 are due at once and the rest are written held;
* then a second alert, all in one wave (not timed), gives the dispatcher a due outbox: the
  first SMS handed to the real twilio client (pointed at the loopback stub, in its own process)
  by the real ``Dispatcher`` from its start (goal <= 1 s);
* the hand-off rate with the rate limit off, and the deviation from a 100/s limit when on.

The subscriber layout (uniform square, radii 10/25/40 miles, 10 % wanting another product, 2 %
unconfirmed, 1 % opted out) is ``bench/bench_fanout.py``'s. ``--quick``: 100,000 subscribers,
10,000 matching, shorter send windows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from notifier.bench._scripts import load_script
from notifier.bench.registry import Result, benchmark
from notifier.channel import RateLimit
from notifier.db.engine import make_engine, upgrade
from notifier.db.fanout import ChannelPlan, write_alert
from notifier.db.scratch import analyze, scratch_postgres_database
from notifier.db.subscribers import bulk_insert_subscribers
from notifier.pipeline.dispatch import Dispatcher, DispatchSettings
from notifier.pipeline.metrics import Metrics

NAME = "fanout"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LIMITED_RATE = 100.0


@benchmark(NAME, "1M subscribers, alert matching 100k: planning, first SMS, hand-off rates")
def run(quick: bool) -> Iterator[Result]:
    subscribers = 100_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as workdir:
        engine = make_engine(f"sqlite:///{Path(workdir) / 'fanout.db'}")
        try:
            yield from _plan(engine, "sqlite", subscribers, goal=1.0)
            _due_outbox(engine)
            yield from asyncio.run(_dispatch(engine, seconds=3.0 if quick else 10.0))
        finally:
            engine.dispose()
    postgres = scratch_postgres_database(PG_ADMIN_URL, "bench_fanout")
    if postgres is None:
        note = "PostgreSQL on 127.0.0.1:5432 not reachable"
        yield Result(NAME, "postgresql_planning_seconds", None, "s", "<= 2 s", False, note)
        return
    url, drop = postgres
    engine = make_engine(url)
    try:
        yield from _plan(engine, "postgresql", subscribers, goal=2.0)
    finally:
        engine.dispose()
        drop()


def _rows(subscribers: int) -> Iterator[dict[str, Any]]:
    script = load_script("bench_fanout")
    for i, row in enumerate(script.subscriber_rows(subscribers, script.side_for(0.1))):
        # Numbers the SMS stub accepts (the script's are fine for planning only).
        yield {**row, "address": f"+1617{i:07d}"}


def _alert(appointments: int) -> Any:
    script = load_script("bench_fanout")
    now = dt.datetime.now(dt.UTC)
    alert = script.make_alert(appointments)
    return dataclasses.replace(alert, detected_at=now, expires_at=now + dt.timedelta(hours=1))


def _plan(engine: Engine, dialect: str, subscribers: int, goal: float) -> Iterator[Result]:
    upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        bulk_insert_subscribers(conn, _rows(subscribers), now=now)
    analyze(engine)
    # Waves of three subscribers per open appointment, as configured for SMS: the first wave
    # is due at once, the other ~99,500 deliveries are written held.
    waves = ChannelPlan("sms", "recipient", wave_multiple=3.0)
    started, cpu = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        written = write_alert(conn, _alert(50), channels=[waves, ChannelPlan("x", "broadcast")])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    matched = written.channels["sms"].matched
    note = f"{matched:,} of {subscribers:,} subscribers matched, committed"
    ok = seconds <= goal
    yield Result(NAME, f"{dialect}_planning_seconds", seconds, "s", f"<= {goal:g} s", ok, note)
    if dialect == "sqlite":
        # SQLite works in this process: its CPU time is the work, whatever the machine's load.
        note = "this process's CPU time for the same planning (SQLite runs in-process)"
        yield Result(NAME, "sqlite_planning_cpu_seconds", cpu, "s", None, True, note)


def _due_outbox(engine: Engine) -> int:
    """A second alert, all in one wave (not timed): a whole outbox due for the dispatcher.

    It is for another place beside the first: an alert for the same place would join the first
    one's wave episode, whose next wave waits until the first has been handed off.
    """
    alert = _alert(50)
    alert = dataclasses.replace(
        alert, location=dataclasses.replace(alert.location, id="bench-clinic-next-door")
    )
    with engine.begin() as conn:
        plan = ChannelPlan("sms", "recipient", wave_multiple=None)
        return write_alert(conn, alert, channels=[plan]).channels["sms"].matched


async def _dispatch(engine: Engine, seconds: float) -> list[Result]:
    from channels.sms import SmsChannel

    sms = load_script("bench_sms")
    stub, url = sms.start_stub()
    try:
        results = []
        # Limit off: the stub and the account allow far more than we can send.
        free = sms.channel_for(url, 100_000, 32)
        metrics = Metrics()
        dispatcher = Dispatcher(
            engine,
            free,
            rate_limit=RateLimit(1_000_000, 1),
            settings=DispatchSettings(concurrency=32),
            metrics=metrics,
        )
        committed = dt.datetime.now(dt.UTC)
        sent, elapsed = await _send_for(dispatcher, seconds)
        first = metrics.hand_offs[0].handed_off_at if metrics.hand_offs else None
        if first is None:
            results.append(Result(NAME, "first_sms_seconds", None, "s", "<= 1 s", False, "none"))
        else:
            wait = (first - committed).total_seconds()
            note = "from the dispatcher's start, the whole outbox committed and due"
            results.append(Result(NAME, "first_sms_seconds", wait, "s", "<= 1 s", wait <= 1, note))
        rate = sent / elapsed
        note = f"{sent:,} SMS in {elapsed:.1f} s through the twilio client to the stub"
        results.append(Result(NAME, "hand_off_rate_unlimited", rate, "SMS/s", None, sent > 0, note))
        await free.aclose()
        # Limit on: 100 a second, as a typical long-code account.
        limited: SmsChannel = sms.channel_for(url, 100_000, 32)
        dispatcher = Dispatcher(
            engine,
            limited,
            rate_limit=RateLimit(int(LIMITED_RATE), 1),
            settings=DispatchSettings(concurrency=32),
            metrics=Metrics(),
        )
        sent, elapsed = await _send_for(dispatcher, seconds * 2 + 1)
        # The bucket starts full: a token bucket of capacity C at rate r lets through at most
        # C + r * t messages in t seconds, so the rate it kept is (sent - C) / t.
        times = [h.handed_off_at for h in dispatcher.metrics.hand_offs]
        window = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
        rate = (len(times) - LIMITED_RATE) / window if window > 0 else 0.0
        deviation = abs(rate - LIMITED_RATE) / LIMITED_RATE * 100
        note = (
            f"{rate:.1f} SMS/s against a limit of {LIMITED_RATE:g}/s over {window:.0f} s, "
            "the initial full bucket taken off"
        )
        results.append(
            Result(NAME, "rate_limit_deviation", deviation, "%", "<= 2 %", deviation <= 2, note)
        )
        await limited.aclose()
        return results
    finally:
        stub.terminate()
        stub.wait(timeout=5)


async def _send_for(dispatcher: Dispatcher, seconds: float) -> tuple[int, float]:
    """Run ``dispatcher`` for ``seconds``; (messages handed to the channel, seconds it ran)."""
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(dispatcher.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    elapsed = time.perf_counter() - started
    return len(dispatcher.metrics.hand_offs), elapsed  # messages (a digest is one)
