"""Damaged or strange SMART feeds parse or raise ``ScrapeError``; nothing else escapes."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.kit.fuzz import fuzz_scraper
from notifier.model import LocationAvailability, Status
from notifier.scraping import Response, ScrapeError, fixture_dir
from scrapers.smart_scheduling_links import SmartSchedulingLinks
from tests.scrapers.smart_support import (
    BASE,
    MANIFEST_URL,
    location,
    manifest,
    ndjson,
    poll,
    schedule,
)

FIXTURES = fixture_dir(SmartSchedulingLinks)
FILES = {"l": "Location", "s": "Schedule", "a": "Slot"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=5,
)
timestamps = st.sampled_from(
    ["2021-04-02T14:00:00Z", "2021-04-02", "2021-04-02T14:00:00", "0001-01-01T00:00:00+14:00",
     "9999-12-31T23:59:59-12:00", "not a date", "2021-13-40T99:00:00Z", ""]
)  # fmt: skip
capacities = st.sampled_from([0, 1, 5, "5", "0", "1", -3, 2.5, "x", None, True, [1], {"a": 1}])


_IDS = st.sampled_from(["1", "2", "x", 3, "", None])
_ADDRESS = st.fixed_dictionaries(
    {},
    optional={
        "state": st.sampled_from(["MA", "ak", "", None, 5]),
        "postalCode": st.sampled_from(["2114", 2114, "99503-1", "abc", None]),
        "line": json_values,
    },
)
_PRODUCT = st.fixed_dictionaries(
    {
        "url": st.just("http://x/vaccine-product"),
        "valueCoding": st.fixed_dictionaries(
            {
                "code": st.sampled_from([None, "207", 187, "999"]),
                "display": st.sampled_from(["Pfizer", "Shingrix", None, 7]),
            }
        ),
    }
)
_LOCATIONS = st.fixed_dictionaries(
    {
        "resourceType": st.just("Location"),
        "id": _IDS,
        "address": _ADDRESS,
        "position": json_values,
        "telecom": json_values,
    }
)
_SCHEDULES = st.fixed_dictionaries(
    {
        "resourceType": st.just("Schedule"),
        "id": _IDS,
        "actor": st.sampled_from([[{"reference": "Location/1"}], "Location/x", None]),
        "serviceType": json_values,
        "extension": st.lists(_PRODUCT, max_size=3),
    }
)
_SLOTS = st.fixed_dictionaries(
    {
        "resourceType": st.just("Slot"),
        "id": _IDS,
        "schedule": st.sampled_from([{"reference": "Schedule/1"}, "Schedule/x", 1]),
        "status": st.sampled_from(["free", "busy", "busy-tentative", "odd", None]),
        "start": timestamps,
        "end": timestamps | json_values,
        "extension": st.tuples(capacities, json_values).map(
            lambda pair: [
                {"url": "http://x/slot-capacity", "valueInteger": pair[0]},
                {"url": "http://x/booking-deep-link", "valueUrl": pair[1]},
            ]
        ),
    },
    optional={"meta": st.just({"extension": [{"url": "lastSourceSync", "valueDateTime": "x"}]})},
)
_OTHER = st.fixed_dictionaries({"resourceType": st.just("Practitioner"), "id": _IDS})
_EXTRA = st.dictionaries(st.sampled_from(["name", "extension", "meta"]), json_values, max_size=2)
resource_strategy = st.tuples(st.one_of(_LOCATIONS, _SCHEDULES, _SLOTS, _OTHER), _EXTRA).map(
    lambda pair: {**pair[0], **pair[1]}
)


def _check(results: object) -> None:
    assert isinstance(results, list)
    for item in results:
        assert isinstance(item, LocationAvailability)
        assert item.status in (Status.AVAILABLE, Status.NONE, Status.UNKNOWN)
        assert all(n is None or n >= 0 for n in item.by_date.values())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(resource_strategy, max_size=8), st.lists(resource_strategy, max_size=8))
def test_strange_resources_parse_or_raise_scrape_error(
    things: list[dict[str, Any]], slots: list[dict[str, Any]]
) -> None:
    scraper = SmartSchedulingLinks({"manifest_url": MANIFEST_URL, "states": ["MA", "AK"]})
    bodies = {
        MANIFEST_URL: manifest(FILES),
        BASE + "l": ndjson([location("1"), *things]),
        BASE + "s": ndjson([schedule("1", "1")]),
        BASE + "a": ndjson(slots),
    }
    with contextlib.suppress(ScrapeError):
        _check(scraper.parse_all(poll(scraper, bodies)))


@settings(max_examples=200, deadline=None)
@given(json_values, st.sampled_from(["file:///feed", MANIFEST_URL]))
def test_any_json_manifest_parses_or_raises_scrape_error(document: object, url: str) -> None:
    scraper = SmartSchedulingLinks()
    response = Response.from_body(json.dumps(document), url=url)
    try:
        scraper.follow(response)
        scraper.next_poll_delay([response])
        scraper.transaction_time([response])
        _check(scraper.parse_all([response]))
    except ScrapeError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_recorded_files_parse_or_raise_scrape_error(data: st.DataObject) -> None:
    folder = FIXTURES / "prepmod-wa-2021-09-01"
    names = [
        "locations.ndjson",
        "schedules.ndjson",
        "slots-a23fd81af085c8a37c707b7ba929a78f.ndjson",
    ]
    which = data.draw(st.sampled_from(names))
    body = bytearray((folder / which).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body)))
        action = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if action == "flip" and at < len(body):
            body[at] = data.draw(st.integers(0, 255))
        elif action == "delete":
            del body[at : at + data.draw(st.integers(1, 200))]
        elif action == "insert":
            body[at:at] = data.draw(st.sampled_from([b"\n", b"{", b'"', b"\xff", b"null\n"]))
        else:
            del body[at:]
    manifest_body = (folder / "$bulk-publish.json").read_bytes()
    bodies = {MANIFEST_URL: manifest_body}
    for entry in json.loads(manifest_body)["output"]:
        name = entry["url"].split("?")[0].rsplit("/", 1)[1]
        bodies[entry["url"]] = bytes(body) if name == which else (folder / name).read_bytes()
    scraper = SmartSchedulingLinks({"manifest_url": MANIFEST_URL})
    with contextlib.suppress(ScrapeError):
        _check(scraper.parse_all(poll(scraper, bodies)))


def test_project_fuzzer_finds_nothing() -> None:
    assert fuzz_scraper(SmartSchedulingLinks) == []
