"""The pipeline against the provider simulator on a manual clock: a module that needs another
simulator (other sites, another hang) defines its own ``sim``, and ``runtime`` follows it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from notifier.pipeline.runtime import Runtime
from notifier.testing.simulator import ManualClock, ProviderSimulator
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE, simulator_config


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[ProviderSimulator]:
    async with ProviderSimulator(
        quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE, hang_seconds=3.0
    ) as simulator:
        yield simulator


@pytest.fixture
async def runtime(sim: ProviderSimulator, tmp_path: Path) -> AsyncIterator[Runtime]:
    built = Runtime.build(simulator_config(sim, tmp_path))
    try:
        yield built
    finally:
        await built.aclose()
