"""The sanity guard through the real pipeline: a broken-looking poll is held, not believed."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from notifier.db import store
from notifier.model import Location, LocationAvailability
from notifier.pipeline.coordinator import PollOutcome
from notifier.pipeline.poll import Runtime, record_poll
from notifier.testing.simulator import ProviderSimulator
from tests.pipeline.pipeline_support import simulator_config

DAY = dt.date(2021, 2, 25)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with ProviderSimulator(quiet=True) as sim:
        built = Runtime.build(simulator_config(sim, tmp_path))
        try:
            yield built
        finally:
            await built.aclose()


def outcome(counts: list[int]) -> PollOutcome:
    results = [
        LocationAvailability.from_counts(Location(id=f"site-{i}", name=f"Site {i}"), {DAY: n})
        for i, n in enumerate(counts)
    ]
    return PollOutcome("ma-prepmod", dt.datetime.now(dt.UTC), 10, results, "ok", 200)


def open_counts(runtime: Runtime) -> dict[str, int | None]:
    with runtime.engine.connect() as conn:
        current = store.load_current(conn, "ma-prepmod")
    return {k: v.appointments for k, v in sorted(current.items())}


async def test_zero_everywhere_is_held_once_then_believed(runtime: Runtime) -> None:
    coordinator = runtime.coordinators["ma-prepmod"]
    assert record_poll(runtime, coordinator, outcome([40, 50, 60])).baseline
    before = open_counts(runtime)

    held = record_poll(runtime, coordinator, outcome([0, 0, 0]))
    assert held.outcome == "held" and held.held and "zero" in held.held
    assert open_counts(runtime) == before  # the last good state stands

    confirmed = record_poll(runtime, coordinator, outcome([0, 0, 0]))
    assert confirmed.outcome == "ok" and confirmed.alerts == ()
    assert sorted(c.kind for c in confirmed.changes) == ["gone", "gone", "gone"]
    assert set(open_counts(runtime).values()) == {0}


async def test_a_real_opening_after_a_hold_alerts_once(runtime: Runtime) -> None:
    coordinator = runtime.coordinators["ma-prepmod"]
    record_poll(runtime, coordinator, outcome([0, 0, 0]))
    opened = record_poll(runtime, coordinator, outcome([0, 25, 0]))
    assert len(opened.alerts) == 1
    assert record_poll(runtime, coordinator, outcome([0, 25, 0])).alerts == ()
    assert {c.kind for c in opened.changes} == {"opened"}
