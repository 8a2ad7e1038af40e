"""``detection``: from the simulator publishing slots to the first hand-off to a channel.

Runs the demo (``notifier.demo.run.run_demo``: the simulator's 8 a.m. release, the real
scrapers, SQLite, console + SMS + email through loopback stubs, 3,000 subscribers) and takes,
per alert and channel, the first hand-off. "Publish to hand-off" includes waiting for the next
poll, so the figure against the goal subtracts the demo's poll interval (a change published
just after a poll waits one whole interval; that wait is the polling policy, not the pipeline).
Detection to hand-off (from the poll that saw the change), over every first hand-off, is
reported beside it with the same goal: publish times are known only for the alerts whose
count matches one of the simulator's publish events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from rich.console import Console

from notifier.bench.registry import Result, benchmark
from notifier.demo.run import DEMO_POLL_SECONDS, run_demo
from notifier.pipeline.metrics import percentile

NAME = "detection"
GOAL_SECONDS = 1.0


@benchmark(NAME, "simulator publish -> channel hand-off, p50/p99, minus the poll interval")
def run(quick: bool) -> Iterator[Result]:
    duration = 25.0 if quick else 60.0
    report = asyncio.run(run_demo(duration, console=Console(quiet=True)))
    published = report.publish_to_hand_off_s
    detected = report.detection_to_hand_off_s
    note = (
        f"{len(published)} first hand-offs matched to a publish event, "
        f"poll interval {DEMO_POLL_SECONDS:g} s"
    )
    if not published:
        yield Result(NAME, "publish_to_hand_off_p99", None, "s", "<= 1 s", False, "no hand-offs")
        return
    for pct in (50, 99):
        raw = percentile(published, pct)
        assert raw is not None
        value = raw - DEMO_POLL_SECONDS
        goal = f"<= {GOAL_SECONDS:g} s" if pct == 99 else None
        ok = value <= GOAL_SECONDS if pct == 99 else True
        yield Result(NAME, f"publish_to_hand_off_minus_interval_p{pct}", value, "s", goal, ok, note)
    # The README's target is on this one too: it has every first hand-off, while the publish
    # times are known only for alerts the simulator's events can be matched with.
    note = f"{len(detected)} first hand-offs (every alert x channel)"
    for pct in (50, 99):
        figure = percentile(detected, pct)
        goal = f"<= {GOAL_SECONDS:g} s" if pct == 99 else None
        ok = figure is not None and figure <= GOAL_SECONDS if pct == 99 else True
        yield Result(NAME, f"detection_to_hand_off_p{pct}", figure, "s", goal, ok, note)
    yield Result(NAME, "alerts", float(report.alerts), "alerts", None, report.alerts > 0)
