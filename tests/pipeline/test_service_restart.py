"""A restart keeps the backoff: the stored next_poll_at and down_since are read on start."""

from __future__ import annotations

from pathlib import Path

from notifier.db import poll as db_poll
from notifier.pipeline.poll import Runtime, poll_provider
from notifier.pipeline.service import Service
from notifier.testing.simulator import Fault, ManualClock, ProviderSimulator
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE, simulator_config


async def test_a_restart_neither_polls_a_backed_off_provider_nor_announces_it_down_again(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with ProviderSimulator(
        quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE
    ) as sim:
        config = simulator_config(sim, tmp_path)
        first = Runtime.build(config)
        await poll_provider(first, "ma-prepmod")
        sim.inject(Fault.FORBIDDEN, count=2, target="prepmod")
        down = await poll_provider(first, "ma-prepmod")
        assert down.outcome == "blocked"
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
            after = await coordinator.poll()
            assert after.outcome == "blocked" and after.transition is None
        finally:
            await service.stop()
            await restarted.aclose()
