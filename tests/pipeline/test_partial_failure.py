"""A partial failure stays partial, in the live path: simulator -> coordinator -> decide -> db.

The simulator's SMART feed lists one Slot file per site; here the two SMART sites are in two
states (MA and RI), so each state's Slot file is its own scope. When RI's file answers 500,
404 or times out, MA still updates, RI keeps its last state (no alert, no zero, no "gone"),
and the run is recorded as partial naming RI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from notifier.db import poll as db_poll
from notifier.db import store
from notifier.db.engine import write_transaction
from notifier.db.tables import event_table, poll_run_table
from notifier.model import Status
from notifier.pipeline.poll import Runtime
from notifier.testing.simulator import Fault, ManualClock, ProviderSimulator
from notifier.testing.sites import MASS_VACCINATION_SITES
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE, poll_and_deliver

RI_SITE = "dartmouth-circuit-city"
MA_SITE = "eastfield-mall"
SITES = tuple(
    dataclasses.replace(s, state="RI") if s.id == RI_SITE else s for s in MASS_VACCINATION_SITES
)


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[ProviderSimulator]:
    async with ProviderSimulator(
        quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE, hang_seconds=3.0, sites=SITES
    ) as simulator:
        yield simulator


def current(runtime: Runtime) -> dict[str, store.StoredAvailability]:
    with runtime.engine.connect() as conn:
        found = store.load_current(conn, "ma-smart")
    return {key.split(":", 1)[1]: value for key, value in found.items()}


@pytest.mark.parametrize("fault", [Fault.ERROR_PAGE, Fault.NOT_FOUND, Fault.TIMEOUT])
async def test_one_failed_state_file_leaves_the_other_states_updating(
    runtime: Runtime, sim: ProviderSimulator, clock: ManualClock, fault: Fault
) -> None:
    sim.release(2_000, sites=(RI_SITE,), fill_seconds=10_000)
    clock.advance(1)
    await poll_and_deliver(runtime, "ma-smart")
    before = current(runtime)
    assert before[RI_SITE].status is Status.AVAILABLE
    assert before[MA_SITE].status is Status.NONE

    # MA opens while RI's file fails.
    sim.release(1_500, sites=(MA_SITE,), fill_seconds=10_000)
    clock.advance(1)
    rule = sim.inject(fault, count=1, target=f"/smart/slots-{RI_SITE}", hang_seconds=2.0)
    summary = await poll_and_deliver(runtime, "ma-smart")

    assert rule.served == 1
    assert summary.outcome == "partial"
    assert len(summary.alerts) == 1  # MA opened; RI is neither news nor gone
    after = current(runtime)
    assert after[MA_SITE].status is Status.AVAILABLE
    assert after[MA_SITE].appointments == sim.truth()[MA_SITE].appointments
    assert after[RI_SITE].status is Status.AVAILABLE
    assert after[RI_SITE].appointments == before[RI_SITE].appointments
    with runtime.engine.connect() as conn:
        run = conn.execute(
            select(poll_run_table).order_by(poll_run_table.c.id.desc()).limit(1)
        ).one()
        kinds = {
            (row.location_id.split(":", 1)[1], row.kind)
            for row in conn.execute(select(event_table))
        }
        health = db_poll.load_health(conn, "ma-smart")
    assert run.outcome == "partial"
    assert run.error is not None and run.error.startswith("unknown scopes: RI")
    assert (RI_SITE, "gone") not in kinds
    # A partial poll is an answer: no failure counted, the provider is not down.
    assert health is not None and health.consecutive_failures == 0 and health.down_since is None

    # The next poll reads RI again, in full.
    summary = await poll_and_deliver(runtime, "ma-smart")
    assert summary.outcome == "ok"
    assert current(runtime)[RI_SITE].appointments == sim.truth()[RI_SITE].appointments


async def test_a_failed_file_of_no_state_makes_the_whole_feed_unknown(
    runtime: Runtime, sim: ProviderSimulator, clock: ManualClock
) -> None:
    sim.release(2_000, sites=(RI_SITE,), fill_seconds=10_000)
    clock.advance(1)
    await poll_and_deliver(runtime, "ma-smart")
    sim.inject(Fault.ERROR_PAGE, count=1, target="/smart/locations")
    summary = await poll_and_deliver(runtime, "ma-smart")
    assert summary.outcome == "unreachable"
    assert current(runtime)[RI_SITE].status is Status.AVAILABLE
    with write_transaction(runtime.engine) as conn:
        health = db_poll.load_health(conn, "ma-smart")
    assert health is not None and health.consecutive_failures == 1


async def test_being_turned_away_on_one_state_file_stops_the_whole_poll(
    runtime: Runtime, sim: ProviderSimulator, clock: ManualClock
) -> None:
    sim.release(2_000, sites=(RI_SITE,), fill_seconds=10_000)
    clock.advance(1)
    await poll_and_deliver(runtime, "ma-smart")
    sim.inject(Fault.RATE_LIMITED, count=1, target=f"/smart/slots-{RI_SITE}")
    summary = await poll_and_deliver(runtime, "ma-smart")
    # A 429 is about us, not about one file: we stop asking and back off as a whole.
    assert summary.outcome == "blocked"
    assert current(runtime)[RI_SITE].status is Status.AVAILABLE
