"""``poll-scale``: 10,000 locations over 100 providers, each polled once a "minute".

The fleet (``notifier.bench._fleet``, its own process) serves 100 providers of 100 locations
each, a third each as PrepMod HTML (10 pages a poll), H-E-B style JSON (one file) and SMART
feeds (manifest + 3 files). The real pipeline polls them: ``poll_provider`` with the real
``PoliteClient``, scrapers, diff and SQLite store, one process, one event loop.

**Time is compressed.** A real minute becomes one *cycle* of ``CYCLE_SECONDS`` (12 s: five
times the real rate; 8.3 polls a second instead of 1.7). Within a cycle, provider ``i`` starts
at ``i / 100`` of 90 % of the cycle, as a jittered scheduler spreads them. A cycle is on time
when all its polls have finished before the next cycle begins. The CPU figure (this process:
the event loop and the recording threads, not the fleet server) is for the compressed rate,
so at the real rate it is five times lower; both are reported.

Phases: one baseline cycle (first poll of each provider, not counted), then cycles with
conditional requests (ETag: the unchanged content comes back as bodiless 304s), then cycles
with the client's cache off (every body fetched and parsed). Bytes are counted by the fleet
(status line, headers, body) and scaled to an hour of real time (60 cycles).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from notifier.bench._fleet import provider_kind
from notifier.bench.registry import Result, benchmark
from notifier.config import ChannelConfig, Config, DatabaseConfig, OperatorConfig, ProviderConfig
from notifier.db.engine import make_engine, upgrade
from notifier.pipeline.fetch import HttpSettings
from notifier.pipeline.poll import Runtime, poll_provider

NAME = "poll-scale"
PROVIDERS = 100
LOCATIONS = 100  # per provider
CYCLE_SECONDS = 12.0
COMPRESSION = 60.0 / CYCLE_SECONDS


@dataclass
class Cycle:
    seconds: float
    cpu: float
    polls: int
    bytes: int
    outcomes: dict[str, int]

    @property
    def on_time(self) -> bool:
        return self.seconds <= CYCLE_SECONDS


@benchmark(NAME, "100 providers x 100 locations polled once a (compressed) minute")
def run(quick: bool) -> Iterator[Result]:
    cycles = 1 if quick else 3
    fleet, url = _start_fleet()
    try:
        with tempfile.TemporaryDirectory(prefix="notifier-bench-") as workdir:
            conditional, full = asyncio.run(_measure(url, Path(workdir), cycles))
    finally:
        fleet.terminate()
        fleet.wait(timeout=10)
    yield from _results(conditional, "conditional")
    yield from _results(full, "full")
    per_hour_cond = sum(c.bytes for c in conditional) / len(conditional) * 60
    per_hour_full = sum(c.bytes for c in full) / len(full) * 60
    share = per_hour_cond / per_hour_full * 100
    yield Result(NAME, "bytes_per_hour_conditional", per_hour_cond / 1e6, "MB/h", None, True)
    yield Result(NAME, "bytes_per_hour_full", per_hour_full / 1e6, "MB/h", None, True)
    note = "nothing changed; conditional requests against full fetches"
    yield Result(NAME, "conditional_share_of_bytes", share, "%", "<= 10 %", share <= 10, note)


def _results(cycles: list[Cycle], label: str) -> Iterator[Result]:
    polls = sum(c.polls for c in cycles)
    cpu = sum(c.cpu for c in cycles)
    wall = sum(c.seconds for c in cycles)
    late = sum(not c.on_time for c in cycles)
    outcomes: dict[str, int] = {}
    for c in cycles:
        for k, v in c.outcomes.items():
            outcomes[k] = outcomes.get(k, 0) + v
    worst = max(c.seconds for c in cycles)
    note = f"{len(cycles)} cycles of {CYCLE_SECONDS:g} s, slowest {worst:.1f} s; {outcomes}"
    yield Result(NAME, f"{label}_cycles_late", float(late), "cycles", "0", late == 0, note)
    cores = cpu / max(wall, CYCLE_SECONDS * len(cycles))
    note = (
        f"at {COMPRESSION:g}x the real rate; {cores / COMPRESSION:.3f} cores at one poll a minute"
    )
    yield Result(NAME, f"{label}_cores_used", cores, "cores", "< 1", cores < 1, note)
    per_thousand = cpu / polls * 1000
    yield Result(NAME, f"{label}_cpu_per_1000_polls", per_thousand, "s", None, polls > 0)


def _start_fleet() -> tuple[subprocess.Popen[str], str]:
    args = ["--providers", str(PROVIDERS), "--locations", str(LOCATIONS)]
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier.bench._fleet", *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if not line or line[0] != "READY":
        process.kill()
        raise RuntimeError("the provider fleet did not start")
    return process, line[1]


def _config(url: str, workdir: Path, *, cache: bool) -> Config:
    providers = []
    for n in range(PROVIDERS):
        base = f"{url}/p{n}"
        kind = provider_kind(n)
        if kind == "html":
            settings = {"base_url": url, "search_path": f"/p{n}/clinic/search"}
            providers.append(ProviderConfig(id=f"p{n}", scraper="prepmod", settings=settings))
        elif kind == "json":
            settings = {"file_url": f"{base}/vaccine_locations.json"}
            providers.append(ProviderConfig(id=f"p{n}", scraper="heb", settings=settings))
        else:
            settings = {"manifest_url": f"{base}/smart/$bulk-publish"}
            providers.append(
                ProviderConfig(id=f"p{n}", scraper="smart-scheduling-links", settings=settings)
            )
    return Config(
        operator=OperatorConfig(name="bench", contact="mailto:ops@example.org"),
        database=DatabaseConfig(url=f"sqlite:///{workdir / 'poll-scale.db'}"),
        # Every simulated provider shares the loopback host: lift the per-host limit that
        # real, separate hosts would each have.
        http=HttpSettings(
            contact="mailto:ops@example.org",
            per_host_concurrency=16,
            max_retries=0,
            cache_entries=4096 if cache else 0,
        ),
        providers=providers,
        channels={"console": ChannelConfig(settings={"path": str(workdir / "console.jsonl")})},
    )


def _served_bytes(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_stats", timeout=5) as response:
        return int(json.load(response)["bytes"])


async def _cycle(runtime: Runtime, url: str) -> Cycle:
    before_bytes = _served_bytes(url)
    outcomes: dict[str, int] = {}
    started, cpu = time.perf_counter(), time.process_time()

    async def poll(i: int, provider_id: str) -> None:
        await asyncio.sleep(i / PROVIDERS * CYCLE_SECONDS * 0.9 - (time.perf_counter() - started))
        summary = await poll_provider(runtime, provider_id)
        outcomes[summary.outcome] = outcomes.get(summary.outcome, 0) + 1

    await asyncio.gather(*(poll(i, p) for i, p in enumerate(runtime.coordinators)))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return Cycle(
        seconds, cpu, len(runtime.coordinators), _served_bytes(url) - before_bytes, outcomes
    )


async def _measure(url: str, workdir: Path, cycles: int) -> tuple[list[Cycle], list[Cycle]]:
    engine = make_engine(f"sqlite:///{workdir / 'poll-scale.db'}")
    upgrade(engine)
    cached = Runtime.build(_config(url, workdir, cache=True), engine=engine, migrate=False)
    uncached = Runtime.build(_config(url, workdir, cache=False), engine=engine, migrate=False)
    try:
        baseline = await _cycle(cached, url)
        if baseline.outcomes.get("ok", 0) != PROVIDERS:
            raise RuntimeError(f"baseline polls did not all succeed: {baseline.outcomes}")
        conditional = await _cycles(cached, url, cycles, after=baseline)
        full = await _cycles(uncached, url, cycles, after=conditional[-1])
        return conditional, full
    finally:
        await cached.aclose()
        await uncached.client.aclose()
        engine.dispose()


async def _cycles(runtime: Runtime, url: str, count: int, after: Cycle) -> list[Cycle]:
    """``count`` cycles on the beat: each starts when the previous one's time is up."""
    done: list[Cycle] = []
    previous = after
    for _ in range(count):
        await asyncio.sleep(max(0.0, CYCLE_SECONDS - previous.seconds))
        previous = await _cycle(runtime, url)
        done.append(previous)
    return done
