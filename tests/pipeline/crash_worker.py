"""A pipeline process that a test kills on purpose (see test_crash_recovery.py).

python -m tests.pipeline.crash_worker write WORKDIR        poll, write alerts + outbox, die
python -m tests.pipeline.crash_worker crash-send WORKDIR   send one, die while sending the next
python -m tests.pipeline.crash_worker send WORKDIR         deliver everything that is due
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from channels.console import ConsoleChannel
from notifier.channel import Message, SendResult
from notifier.pipeline.dispatch import Dispatcher, DispatchSettings
from notifier.pipeline.poll import Runtime, poll_provider
from notifier.testing.simulator import ManualClock, ProviderSimulator
from tests.pipeline.pipeline_support import FIRST_CLINIC_DATE, simulator_config

LEASE_SECONDS = 1.0
CRASH_EXIT = 17


class CrashingConsole(ConsoleChannel):
    """Writes the line, then the process dies before the outbox hears it was sent."""

    max_batch = 1

    def __init__(self, path: Path, die_on: int) -> None:
        super().__init__({"path": str(path)})
        self.sends = 0
        self.die_on = die_on

    async def send(self, message: Message) -> SendResult:
        result = await super().send(message)
        self.sends += 1
        if self.sends == self.die_on:
            os._exit(CRASH_EXIT)  # no cleanup, no commit: as abrupt as a power cut
        return result


async def write(workdir: Path) -> None:
    clock = ManualClock()
    with ProviderSimulator(quiet=True, clock=clock, first_clinic_date=FIRST_CLINIC_DATE) as sim:
        runtime = Runtime.build(simulator_config(sim, workdir))
        sim.release(600, fill_seconds=1.0)
        clock.advance(5)
        await poll_provider(runtime, "ma-prepmod")
        sim.release(
            9_000, sites=("fenway-park", "natick-mall", "gillette-stadium"), fill_seconds=10_000
        )
        clock.advance(1)
        summary = await poll_provider(runtime, "ma-prepmod")
        (workdir / "alerts.json").write_text(json.dumps(list(summary.alerts)))
        os._exit(CRASH_EXIT)  # after the outbox write, before any send


async def send(workdir: Path, die_on: int | None) -> None:
    with ProviderSimulator(quiet=True) as sim:  # only for a valid config; nothing is polled
        runtime = Runtime.build(simulator_config(sim, workdir))
        channel = CrashingConsole(workdir / "console.jsonl", die_on or 0)
        dispatcher = Dispatcher(
            runtime.engine,
            channel,
            settings=DispatchSettings(batch_size=1, concurrency=1, lease_seconds=LEASE_SECONDS),
        )
        if die_on is None:
            await asyncio.sleep(LEASE_SECONDS + 0.2)  # let a dead worker's lease run out
        while await dispatcher.run_once():
            pass
        await runtime.aclose()


def main() -> None:
    phase, workdir = sys.argv[1], Path(sys.argv[2])
    if phase == "write":
        asyncio.run(write(workdir))
    elif phase == "crash-send":
        asyncio.run(send(workdir, die_on=2))
    else:
        asyncio.run(send(workdir, die_on=None))


if __name__ == "__main__":
    main()
