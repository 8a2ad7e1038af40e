"""Buckland wave simulation at full size: one 350-slot clinic, 1,000,000 subscribers statewide.

    python bench/bench_buckland.py                      # SQLite file in a temp dir
    python bench/bench_buckland.py --subscribers 200000 # proportionally smaller
    python bench/bench_buckland.py --quick --json       # 100,000; the suite's JSON lines

Runs ``notifier.testing.buckland`` (see its docstring for the scenario): a counted rural
clinic and a flag-only pharmacy, polled every minute (mostly "unchanged"), a sender at one
text a second, the clinic filling part-way through. Prints the share of texts inside each
place's first ring, texts after a poll saw the place full, people told twice, and the
distance distribution of the recipients. Smaller populations scale slots, waves and the send
rate in proportion, so the same geography plays out. Goals (issue): at least 80 % of the
texts inside the place's first ring, nobody texted after a poll saw the place full, nobody told
twice about one opening.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from notifier.bench._scripts import add_suite_options, print_json_lines
from notifier.bench.registry import Result
from notifier.db.engine import make_engine, upgrade
from notifier.testing import buckland

NAME = "buckland"
QUICK_SUBSCRIBERS = 100_000


def scenario_for(subscribers: int) -> buckland.Scenario:
    scale = subscribers / 1_000_000
    return buckland.Scenario(
        subscribers=subscribers,
        slots=max(1, round(350 * scale)),
        added_slots=max(1, round(150 * scale)),
        unknown_count_wave=max(1, round(60 * scale)),
        send_every_seconds=1.0 / scale,
    )


def report(result: buckland.SimulationResult) -> None:
    sc = result.scenario
    print(
        f"scenario: {sc.subscribers:,} subscribers, {sc.slots} slots (+{sc.added_slots} at "
        f"minute {sc.added_at_minute}), one text every {sc.send_every_seconds:g} s, "
        f"{sc.minutes} min"
    )
    print(f"polls: {dict(result.polls)}, alerts: {result.alerts}")
    filled = result.clinic_filled_at
    print(f"clinic filled at {filled:%H:%M:%S}" if filled else "clinic never filled")
    for loc, at in sorted(result.full_seen_at.items()):
        print(f"  {loc}: a poll saw it full at {at:%H:%M:%S}")
    for loc, ring in sorted(result.first_ring.items()):
        texts = [m for place, _, m, _ in result.sent if place == loc]
        inside = sum(1 for m in texts if m <= ring)
        print(f"  {loc}: {len(texts):,} texts, first ring {ring:.2f} mi, {inside:,} inside")
    print(f"texts sent: {len(result.sent):,}")
    print(f"inside the first ring: {result.within_first_ring():.1%}")
    print(f"texts after a poll saw the place full: {result.sent_after_full()}")
    print(f"people told twice about one opening: {result.told_twice()}")
    marks = buckland.percentiles(result.distances(), (10, 25, 50, 75, 90, 95, 99, 100))
    print("recipient distance, miles: " + ", ".join(f"p{p} {m:.2f}" for p, m in marks.items()))


def results(result: buckland.SimulationResult, load_s: float, run_s: float) -> Iterator[Result]:
    """The figures beside the goals, as ``notifier bench --json`` lines."""
    inside = 100 * result.within_first_ring()
    after_full, twice = result.sent_after_full(), result.told_twice()
    size = f"{result.scenario.subscribers:,} subscribers"
    yield Result(NAME, "inside_first_ring", inside, "%", ">= 80 %", inside >= 80, size)
    yield Result(NAME, "texts_after_full", float(after_full), "texts", "0", after_full == 0)
    yield Result(NAME, "told_twice", float(twice), "people", "0", twice == 0)
    yield Result(NAME, "texts_sent", float(len(result.sent)), "texts", None, len(result.sent) > 0)
    marks = buckland.percentiles(result.distances(), (50, 90, 100))
    for pct, miles in marks.items():
        yield Result(NAME, f"recipient_distance_p{pct}", miles, "mi", None, True)
    yield Result(NAME, "load_seconds", load_s, "s", None, True, "bulk insert of the subscribers")
    yield Result(NAME, "simulation_seconds", run_s, "s", None, True, "wall clock")


def run(url: str, subscribers: int, as_json: bool) -> None:
    upgrade(url)
    engine = make_engine(url)
    scenario = scenario_for(subscribers)
    started = time.perf_counter()
    buckland.load_subscribers(engine, scenario)
    loaded = time.perf_counter()
    result = buckland.run(engine, scenario)
    done = time.perf_counter()
    engine.dispose()
    if as_json:
        print_json_lines(results(result, loaded - started, done - loaded))
        return
    report(result)
    print(f"load {loaded - started:.1f} s, simulation {done - loaded:.1f} s (wall)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--subscribers", type=int, help="default 1,000,000")
    add_suite_options(parser, f"{QUICK_SUBSCRIBERS:,} subscribers unless --subscribers")
    args = parser.parse_args()
    subscribers = args.subscribers or (QUICK_SUBSCRIBERS if args.quick else 1_000_000)
    if args.url:
        run(args.url, subscribers, args.json)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'buckland.db'}", subscribers, args.json)


if __name__ == "__main__":
    main()
