"""Benchmark: parse a national SMART feed and diff it against the previous poll.

The feed is generated in memory at about 100 times the Rite Aid New Jersey count API capture
(108 stores, availability over ~19 days): 10,800 locations in 50 states, one COVID schedule
each (plus a flu schedule at every tenth store), and 150,000 whole-day slots, split into one
Slot file per state as Kroger publishes. Then it measures, with the ZIP index already loaded
(it is loaded once per process):

* ``parse_all`` of one poll (manifest + 52 files, ~60 MB of NDJSON);
* the diff of that poll against the previous one (``notifier.pipeline.diff.diff_provider``);
* peak memory of parse + diff (tracemalloc, in a second run), and the process's max RSS.

Budget: parse + diff <= 5 s, peak <= 500 MB. Run: ``python bench/bench_smart.py``.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from notifier.geo import lookup_postal_code
from notifier.model import LocationAvailability
from notifier.pipeline.diff import KnownState, diff_provider
from notifier.policies import AlertPolicy
from notifier.scraping import Response
from scrapers.smart_scheduling_links import SmartSchedulingLinks

T = TypeVar("T")

RITE_AID_NJ_STORES = 108  # shared/fixtures/riteaid-api/nj-2021-04.json, asserted
DAYS = 19  # store #116 lists 19 days, 2021-04-23 .. 05-11
SCALE = 100
LOCATIONS = RITE_AID_NJ_STORES * SCALE
SLOTS = 150_000
FIRST_DAY = dt.date(2021, 4, 23)
BASE = "https://bench.invalid/fhir/"
MANIFEST_URL = BASE + "$bulk-publish"
EXT = "http://fhir-registry.smarthealthit.org/StructureDefinition/"
COVID_SERVICE = [
    {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/service-type", "code": "57"},
            {
                "system": "http://fhir-registry.smarthealthit.org/CodeSystem/service-type",
                "code": "covid19-immunization",
            },
        ]
    }
]
BUDGET_SECONDS = 5.0
BUDGET_BYTES = 500 * 1024 * 1024


def _zip_codes(count: int, rng: random.Random) -> list[tuple[str, str]]:
    import zipcodes  # the offline ZIP table geo uses; not a shared fixture

    rows = [r for r in zipcodes.list_all() if r["zip_code_type"] == "STANDARD" and r["timezone"]]
    return [(r["zip_code"], r["state"]) for r in rng.sample(rows, count)]


def _line(resource: dict[str, Any]) -> str:
    return json.dumps(resource, separators=(",", ":")) + "\n"


def _dumps(resources: Sequence[dict[str, Any]]) -> bytes:
    return "".join(map(_line, resources)).encode()


def generate_feed(seed: int) -> dict[str, bytes]:
    """URL -> body of one poll of the synthetic national publisher."""
    rng = random.Random(seed)
    places = _zip_codes(LOCATIONS, random.Random(1))  # the same stores in every poll
    locations, schedules = [], []
    # Slots are serialised as they are made: holding 150,000 dicts would dwarf the parse in
    # the process's peak RSS.
    slots_by_state: dict[str, list[str]] = {}
    per_store, extra = divmod(SLOTS, LOCATIONS)
    for index, (zip_code, state) in enumerate(places):
        store = f"{index + 1:05d}"
        postal: str | int = zip_code
        if zip_code.startswith("0") and index % 3 == 0:
            postal = int(zip_code)  # the lost-leading-zero quirk, repaired by the parser
        locations.append(
            {
                "resourceType": "Location",
                "id": store,
                "name": f"Pharmacy #{store}",
                "telecom": [
                    {"system": "phone", "value": "800-555-0100"},
                    {"system": "url", "value": f"https://bench.invalid/store/{store}"},
                ],
                "address": {"line": [f"{index} Main St"], "city": "Town", "state": state,
                            "postalCode": postal},
                "identifier": [{"system": "https://cdc.gov/vaccines/programs/vtrcks",
                                "value": f"RA{store}"}],
            }
        )  # fmt: skip
        schedules.append(
            {
                "resourceType": "Schedule",
                "id": f"c{store}",
                "serviceType": COVID_SERVICE,
                "actor": [{"reference": f"Location/{store}"}],
                "extension": [
                    {
                        "url": EXT + "vaccine-product",
                        "valueCoding": {"system": "http://hl7.org/fhir/sid/cvx", "code": "208"},
                    }
                ],
            }
        )
        if index % 10 == 0:
            schedules.append(
                {
                    "resourceType": "Schedule",
                    "id": f"f{store}",
                    "serviceType": COVID_SERVICE,  # PrepMod-style: products decide
                    "actor": [{"reference": f"Location/{store}"}],
                    "extension": [
                        {
                            "url": EXT + "vaccine-product",
                            "valueCoding": {"code": None, "display": "Influenza, quadrivalent"},
                        }
                    ],
                }
            )
        count = per_store + (1 if index < extra else 0)
        days = sorted(rng.sample(range(DAYS), min(DAYS, count)))
        for n, offset in enumerate(days):
            day = FIRST_DAY + dt.timedelta(days=offset)
            available = rng.choice((0, 0, rng.randint(1, 200)))
            slots_by_state.setdefault(state, []).append(
                _line({
                    "resourceType": "Slot",
                    "id": f"{store}-{n}",
                    "schedule": {"reference": f"Schedule/c{store}"},
                    "status": "free" if available else "busy",
                    "start": f"{day.isoformat()}T13:00:00Z",
                    "end": f"{day.isoformat()}T23:00:00Z",
                    "extension": [
                        {"url": EXT + "booking-deep-link",
                         "valueUrl": f"https://bench.invalid/book?store={store}&day={offset}"},
                        {"url": EXT + "slot-capacity",
                         "valueInteger": str(available) if n % 2 else available},
                    ],
                })
            )  # fmt: skip
    output = [
        {"type": "Location", "url": BASE + "locations.ndjson"},
        {"type": "Schedule", "url": BASE + "schedules.ndjson"},
    ]
    bodies = {BASE + "locations.ndjson": _dumps(locations)}
    bodies[BASE + "schedules.ndjson"] = _dumps(schedules)
    for state, slots in sorted(slots_by_state.items()):
        url = f"{BASE}slots_{state}.ndjson"
        output.append({"type": "Slot", "url": url, "extension": {"state": [state]}})
        bodies[url] = "".join(slots).encode()
    manifest = {"transactionTime": "2021-04-23T12:00:00Z", "request": MANIFEST_URL,
                "output": output, "error": []}  # fmt: skip
    bodies[MANIFEST_URL] = json.dumps(manifest).encode()
    return bodies


def responses_for(scraper: SmartSchedulingLinks, bodies: dict[str, bytes]) -> list[Response]:
    """The responses one poll gives the scraper, in fetch order (what the core would do)."""
    now = dt.datetime.now(dt.UTC)
    (request,) = scraper.requests()
    manifest = Response(request, request.url, 200, {}, bodies[request.url], now)
    files = [Response(r, r.url, 200, {}, bodies[r.url], now) for r in scraper.follow(manifest)]
    return [manifest, *files]


def known_states(results: Sequence[LocationAvailability]) -> dict[str, KnownState]:
    return {r.location.id: KnownState(r.status, r.appointments) for r in results}


def timed(work: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def main() -> int:
    scraper = SmartSchedulingLinks({"manifest_url": MANIFEST_URL})
    started = time.perf_counter()
    previous_feed, current_feed = generate_feed(seed=1), generate_feed(seed=2)
    generated = time.perf_counter() - started
    size = sum(len(b) for b in current_feed.values())
    _, geo_seconds = timed(lambda: lookup_postal_code("02114"))  # the ZIP index, once a process
    previous = known_states(scraper.parse_all(responses_for(scraper, previous_feed)))
    responses = responses_for(scraper, current_feed)
    now = dt.datetime(2021, 4, 23, 12, 5, tzinfo=dt.UTC)

    gc.collect()
    results, parse_seconds = timed(lambda: scraper.parse_all(responses))
    pairs = [(r.location.id, r) for r in results]
    began = time.perf_counter()
    diff = diff_provider(previous, pairs, AlertPolicy(), now, first_poll=False)
    diff_seconds = time.perf_counter() - began

    del results, pairs
    gc.collect()
    tracemalloc.start()
    again = scraper.parse_all(responses)
    diff_provider(
        previous, [(r.location.id, r) for r in again], AlertPolicy(), now, first_poll=False
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    total = parse_seconds + diff_seconds
    slots = sum(r.slots or 0 for r in again)
    print(f"feed: {len(again)} locations, {SLOTS} slots ({slots} open), {len(current_feed)} files,"
          f" {size / 1e6:.1f} MB NDJSON; generated in {generated:.1f} s")  # fmt: skip
    print(f"ZIP index load (once per process, not counted): {geo_seconds:.2f} s")
    print(f"parse_all: {parse_seconds:.2f} s   diff: {diff_seconds:.3f} s "
          f"({len(diff.changes)} changes, held={diff.held!r})   total: {total:.2f} s")  # fmt: skip
    print(f"peak traced memory (parse + diff, bodies excluded): {peak / 2**20:.0f} MiB; "
          f"process max RSS incl. the in-memory feeds: {max_rss / 2**20:.0f} MiB")  # fmt: skip
    ok = total <= BUDGET_SECONDS and peak <= BUDGET_BYTES
    print("within budget (<= 5 s, <= 500 MB)" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
