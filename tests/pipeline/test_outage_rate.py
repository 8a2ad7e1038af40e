"""Politeness during an outage, counted at the simulator: a fault timeline in virtual time.

Each step polls once through the real coordinator and records it with an injected ``now``;
the next step starts at the ``next_poll_at`` the shared backoff computed. So the schedule is
exactly what the service would follow, without waiting real minutes. The simulator counts
the requests it received per step; the rate of a step is its requests over its gap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from notifier.pipeline.poll import Runtime, record_poll
from notifier.testing.simulator import Fault, ManualClock, ProviderSimulator
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE

PROVIDER = "ma-prepmod"
START = dt.datetime(2021, 3, 1, 8, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Step:
    at: dt.datetime
    outcome: str
    requests: int
    gap: float  # seconds until the next poll may start

    @property
    def rate(self) -> float:
        return self.requests / self.gap


@pytest.fixture
async def sim() -> AsyncIterator[ProviderSimulator]:
    clock = ManualClock()
    async with ProviderSimulator(
        quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE, hang_seconds=1.5
    ) as simulator:
        simulator.release(500, fill_seconds=10_000)
        clock.advance(1)
        yield simulator


async def step(runtime: Runtime, sim: ProviderSimulator, at: dt.datetime) -> Step:
    coordinator = runtime.coordinators[PROVIDER]
    before = len(sim.requests(kind="prepmod"))
    outcome = await coordinator.poll()
    summary = record_poll(runtime, coordinator, outcome, now=at)
    assert summary.next_poll_at is not None
    gap = (summary.next_poll_at - at).total_seconds()
    return Step(at, outcome.outcome, len(sim.requests(kind="prepmod")) - before, gap)


OUTAGES = {
    Fault.ERROR_PAGE: "unreachable",
    Fault.WAITING_ROOM: "blocked",
    Fault.TIMEOUT: "unreachable",
    Fault.FORBIDDEN: "blocked",
}


@pytest.mark.parametrize("fault", list(OUTAGES), ids=str)
async def test_an_outage_never_raises_the_request_rate_and_recovery_is_seen_within_a_cap(
    runtime: Runtime, sim: ProviderSimulator, fault: Fault
) -> None:
    interval = runtime.coordinators[PROVIDER].interval
    cap = runtime.config.http.backoff_cap_factor
    at = START
    normal = [await step(runtime, sim, at)]
    at += dt.timedelta(seconds=normal[0].gap)
    normal.append(await step(runtime, sim, at))
    assert {s.outcome for s in normal} <= {"ok", "unchanged"}
    normal_rate = max(s.rate for s in normal)
    assert normal[-1].gap == pytest.approx(interval)

    sim.inject(fault, count=None, seconds=10**6, target="prepmod")
    outage: list[Step] = []
    for _ in range(6):
        at += dt.timedelta(seconds=(outage or normal)[-1].gap)
        outage.append(await step(runtime, sim, at))
    assert {s.outcome for s in outage} == {OUTAGES[fault]}
    for count, s in enumerate(outage, start=1):
        assert s.rate <= normal_rate, f"poll {count} of the outage"
        if count >= 3:
            assert s.rate <= normal_rate / 2, f"poll {count}: at most half after three failures"
            assert s.gap >= 2 * interval
        assert s.gap <= cap * interval + 1e-6  # never slower than the cap: recovery is seen
    assert outage[-1].rate <= normal_rate / 4 and outage[-1].gap >= cap * interval - 1e-6

    # The provider comes back just after a failed poll: the next one sees it, within a cap.
    sim.clear_faults()
    back_at = at
    at += dt.timedelta(seconds=outage[-1].gap)
    recovered = await step(runtime, sim, at)
    assert recovered.outcome in ("ok", "unchanged")
    assert (at - back_at).total_seconds() <= cap * interval + 1e-6
    assert recovered.gap == pytest.approx(interval)


async def test_retry_after_is_obeyed_exactly(runtime: Runtime, sim: ProviderSimulator) -> None:
    interval = runtime.coordinators[PROVIDER].interval
    first = await step(runtime, sim, START)
    asked = int(interval * 3)
    sim.inject(Fault.RATE_LIMITED, count=None, seconds=10**6, target="prepmod", retry_after=asked)
    at = START + dt.timedelta(seconds=first.gap)
    limited = await step(runtime, sim, at)
    assert limited.outcome == "blocked" and limited.requests == 1
    assert limited.gap == asked  # to the second: neither sooner nor multiplied
    at += dt.timedelta(seconds=limited.gap)
    again = await step(runtime, sim, at)
    assert again.gap == asked and again.rate <= first.rate
    sim.clear_faults()
    at += dt.timedelta(seconds=again.gap)
    assert (await step(runtime, sim, at)).outcome in ("ok", "unchanged")
