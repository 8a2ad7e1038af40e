"""``parse``: scraper speed on real page formats.

* PrepMod: pages per second parsing the captured ``maimmunizations-2021-05.html`` clinic
  search (goal >= 1,200 pages/s; best of three timed runs, wall clock).
* SMART Scheduling Links: one poll of a national feed at 100 times Rite Aid New Jersey's
  (10,800 locations, 150,000 slots, ~60 MB NDJSON): ``parse_all`` plus the diff against the
  previous poll (goal <= 5 s) and the peak memory traced meanwhile (goal <= 500 MB).

The feed generator and timers are those of ``bench/bench_prepmod.py`` and
``bench/bench_smart.py``.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
import tracemalloc
from collections.abc import Iterator

from notifier.bench._scripts import load_script
from notifier.bench.registry import Result, benchmark
from notifier.geo import complete_location
from notifier.model import Location
from notifier.pipeline.diff import AlertPolicy, diff_provider
from notifier.scraping import Response, fixture_dir

NAME = "parse"


@benchmark(NAME, "PrepMod pages/s; SMART feed at 100x Rite Aid: time and memory")
def run(quick: bool) -> Iterator[Result]:
    yield from _prepmod(seconds=1.5 if quick else 6.0)
    yield from _smart()


def _prepmod(seconds: float) -> Iterator[Result]:
    from scrapers.prepmod import PrepModScraper

    script = load_script("bench_prepmod")
    scraper = PrepModScraper()
    complete_location(Location(id="warm-up", name="warm-up", postal_code="01830"))
    page = script.PAGES[0]
    response = Response.from_body(
        (fixture_dir(PrepModScraper) / page).read_bytes(), url="file:///" + page
    )

    def parse() -> object:
        return scraper.parse(response)

    parse()  # warm the regexes and the ZIP table
    rate, cpu_rate = script.pages_per_second(parse, seconds)
    goal = script.REQUIRED_PAGES_PER_SECOND
    note = f"{page}; {cpu_rate:,.0f} pages per CPU second"
    yield Result(
        NAME, "prepmod_pages_per_second", rate, "pages/s", f">= {goal}", rate >= goal, note
    )


def _smart() -> Iterator[Result]:
    from scrapers.smart_scheduling_links import SmartSchedulingLinks

    script = load_script("bench_smart")
    scraper = SmartSchedulingLinks({"manifest_url": script.MANIFEST_URL})
    previous_feed, current_feed = script.generate_feed(seed=1), script.generate_feed(seed=2)
    size_mb = sum(len(b) for b in current_feed.values()) / 1e6
    complete_location(Location(id="warm-up", name="warm-up", postal_code="02114"))
    previous = script.known_states(scraper.parse_all(script.responses_for(scraper, previous_feed)))
    responses = script.responses_for(scraper, current_feed)
    now = dt.datetime(2021, 4, 23, 12, 5, tzinfo=dt.UTC)

    def poll() -> int:
        results = scraper.parse_all(responses)
        pairs = [(r.location.id, r) for r in results]
        diff_provider(previous, pairs, AlertPolicy(), now, first_poll=False)
        return len(pairs)

    gc.collect()
    started = time.perf_counter()
    locations = poll()
    seconds = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    poll()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    note = f"{locations:,} locations, {size_mb:.0f} MB NDJSON, parse_all + diff"
    yield Result(NAME, "smart_100x_seconds", seconds, "s", "<= 5 s", seconds <= 5.0, note)
    peak_mb = peak / 1e6
    yield Result(
        NAME, "smart_100x_peak_memory", peak_mb, "MB", "<= 500 MB", peak_mb <= 500, "tracemalloc"
    )
