"""One multi-node worker for the tests and the benchmark: ``notifier worker`` with short
intervals, as a real process that a test can SIGKILL.

python -m notifier.testing.cluster_worker SPEC.json NAME

It runs exactly what ``notifier worker`` runs (``run_worker`` with a shared-limit runtime and
the spec's ``workers:`` settings); only the provider interval (the scrapers' minimum is a
minute) and the leases of deliveries and notices are shortened below what a config file
allows. The first
message this worker sends creates ``WORKDIR/sent-by-NAME``, so a test knows which workers are
in the middle of the fan-out.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from notifier.channel import Message, SendResult
from notifier.logs import setup_logging
from notifier.pipeline.dispatch import DispatchSettings
from notifier.pipeline.engine_procrastinate import WorkerSettings, run_worker
from notifier.pipeline.runtime import Runtime
from notifier.testing.cluster import ClusterSpec


async def main(spec: ClusterSpec, name: str) -> None:
    runtime = Runtime.build(
        spec.config(),
        migrate=False,
        shared_limits=True,
        dispatch=DispatchSettings(batch_size=spec.dispatch_batch, lease_seconds=spec.lease_seconds),
    )
    for coordinator in runtime.coordinators.values():
        coordinator.interval = float(spec.poll_interval)
        coordinator.jitter = 0.0
    if runtime.notices is not None:
        runtime.notices.lease_seconds = spec.lease_seconds
    marker = Path(spec.workdir) / f"sent-by-{name}"
    channel = runtime.dispatchers["sms"].channel
    send = channel.send

    async def marking_send(message: Message) -> SendResult:
        if not marker.exists():
            marker.touch()
        return await send(message)

    channel.send = marking_send  # type: ignore[method-assign]
    try:
        await run_worker(runtime, WorkerSettings(name=name))
    finally:
        await runtime.aclose()


if __name__ == "__main__":
    setup_logging()
    asyncio.run(main(ClusterSpec.load(Path(sys.argv[1])), sys.argv[2]))
