"""A restart keeps the backoff: the stored next_poll_at and down_since are read on start, and an
outage that began before the restart is neither announced again nor forgotten."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from notifier.db import poll as db_poll
from notifier.pipeline.poll import Runtime, poll_provider
from notifier.pipeline.service import Service
from notifier.testing.simulator import Fault, ManualClock, ProviderSimulator
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE, simulator_config


async def test_a_restart_neither_polls_a_backed_off_provider_nor_announces_it_down_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="notifier.pipeline.poll")
    clock = ManualClock()
    async with ProviderSimulator(
        quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE
    ) as sim:
        sim.release(500, fill_seconds=10_000)
        clock.advance(1)
        config = simulator_config(sim, tmp_path)
        first = Runtime.build(config)
        assert (await poll_provider(first, "ma-prepmod")).outcome == "ok"
        sim.inject(Fault.FORBIDDEN, count=2, target="prepmod")
        down = await poll_provider(first, "ma-prepmod")
        assert down.outcome == "blocked" and down.transition == "down"
        await first.aclose()
        with first.engine.connect() as conn:
            stored = db_poll.load_health(conn, "ma-prepmod")
        assert stored is not None and stored.down_since is not None
        assert stored.next_poll_at is not None

        restarted = Runtime.build(config)
        service = Service(restarted)
        sim.clear_requests()
        await service.start()
        try:
            job = service.scheduler.get_job("ma-prepmod")
            assert job is not None and job.next_run_time == stored.next_poll_at
            coordinator = restarted.coordinators["ma-prepmod"]
            assert coordinator.down_since == stored.down_since
            # The provider is still down; the next failure is not a new "down".
            after = await poll_provider(restarted, "ma-prepmod")
            assert after.outcome == "blocked" and after.transition is None
            assert after.down_since == stored.down_since
            back = await poll_provider(restarted, "ma-prepmod")
            assert back.outcome == "ok" and back.transition == "recovered"
            assert back.down_for is not None and back.down_for.total_seconds() >= 0
        finally:
            await service.stop()
            await restarted.aclose()
    events = [n.event for n in restarted.ops_notices.history]
    assert "provider_down" not in events and events.count("provider_recovered") == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "notifier.pipeline.poll"]
    assert sum("ma-prepmod is down" in m for m in messages) == 1
    assert sum("ma-prepmod recovered after" in m for m in messages) == 1
