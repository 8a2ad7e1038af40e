"""End to end: the simulator on loopback, the real scrapers, diff, outbox and console channel."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from notifier.db.tables import alert_table, delivery_table, poll_run_table
from notifier.pipeline.poll import Runtime
from notifier.testing.simulator import Fault, ManualClock, ProviderSimulator
from tests.pipeline.pipeline_support import (
    console_records,
    poll_and_deliver,
)


def list_full_clinics(sim: ProviderSimulator, clock: ManualClock) -> None:
    """Every site lists clinics that are already full, as on the morning before a release."""
    sim.release(600, fill_seconds=1.0)
    clock.advance(5)


def alert_count(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(alert_table)).scalar_one())


async def test_exactly_one_alert_per_change_and_none_for_errors(
    runtime: Runtime, sim: ProviderSimulator, clock: ManualClock, tmp_path: Path
) -> None:
    console = tmp_path / "console.jsonl"
    list_full_clinics(sim, clock)
    first = await poll_and_deliver(runtime)
    assert first.baseline and first.alerts == ()

    sim.release(4_000, sites=("fenway-park",), fill_seconds=10_000)
    clock.advance(1)
    opened = await poll_and_deliver(runtime)
    assert len(opened.alerts) == 1
    [record] = console_records(console)
    assert "Fenway Park" in record["text"]

    # Error pages, waiting rooms, 503s, 429s and timeouts in between: unknown, never news.
    for fault in (
        Fault.ERROR_PAGE,
        Fault.WAITING_ROOM,
        Fault.MAINTENANCE,
        Fault.UNAVAILABLE,
        Fault.RATE_LIMITED,
        Fault.FORBIDDEN,
        Fault.LAYOUT_CHANGED,
        Fault.TIMEOUT,
    ):
        sim.inject(fault, count=1, target="prepmod", hang_seconds=2.0)
        summary = await poll_and_deliver(runtime)
        assert summary.outcome not in ("ok", "unchanged"), fault
        assert summary.alerts == ()
        sim.clear_faults()
        # The provider comes back with the same availability: still no news.
        assert (await poll_and_deliver(runtime)).alerts == ()
    assert len(console_records(console)) == 1

    sim.release(2_500, sites=("natick-mall",), fill_seconds=10_000)
    clock.advance(1)
    second = await poll_and_deliver(runtime)
    assert len(second.alerts) == 1
    records = console_records(console)
    assert len(records) == 2 and "Natick Mall" in records[1]["text"]
    keys = Counter(key for r in records for key in r["keys"])
    assert all(n == 1 for n in keys.values()) and len(keys) == alert_count(runtime) == 2

    with runtime.engine.connect() as conn:
        outcomes = Counter(conn.execute(select(poll_run_table.c.outcome)).scalars())
        states = Counter(conn.execute(select(delivery_table.c.state)).scalars())
    assert outcomes["blocked"] >= 2 and outcomes["unreachable"] >= 2
    assert outcomes["unparseable"] >= 1
    assert states == {"sent": 2}


async def test_smart_feed_release_alerts_once(
    runtime: Runtime, sim: ProviderSimulator, clock: ManualClock, tmp_path: Path
) -> None:
    list_full_clinics(sim, clock)
    await poll_and_deliver(runtime, "ma-smart")
    sim.release(3_000, sites=("eastfield-mall",), fill_seconds=10_000)
    clock.advance(1)
    summary = await poll_and_deliver(runtime, "ma-smart")
    assert len(summary.alerts) == 1
    sim.inject(Fault.UNAVAILABLE, count=1, target="smart")
    assert (await poll_and_deliver(runtime, "ma-smart")).alerts == ()
    assert (await poll_and_deliver(runtime, "ma-smart")).alerts == ()
    [record] = console_records(tmp_path / "console.jsonl")
    assert "Eastfield Mall" in record["text"]


async def test_unknown_keeps_the_last_good_state(
    runtime: Runtime, sim: ProviderSimulator, clock: ManualClock
) -> None:
    list_full_clinics(sim, clock)
    await poll_and_deliver(runtime)
    sim.release(1_000, sites=("gillette-stadium",), fill_seconds=10_000)
    clock.advance(1)
    await poll_and_deliver(runtime)
    sim.inject(Fault.ERROR_PAGE, count=1, target="prepmod")
    await poll_and_deliver(runtime)
    from notifier.db import store

    with runtime.engine.connect() as conn:
        current = store.load_current(conn, "ma-prepmod")
    gillette = [s for k, s in current.items() if "gillette" in k.lower()]
    assert gillette and gillette[0].status.value == "available"
    assert gillette[0].appointments == sim.truth()["gillette-stadium"].appointments
