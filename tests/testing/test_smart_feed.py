"""The simulator's SMART Scheduling Links feed: real format, and equal to its truth."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

import httpx
import pytest

from notifier.scraping import Request, Response
from notifier.testing.simulator import ProviderSimulator
from notifier.testing.timeline import ManualClock

REGISTRY = "http://fhir-registry.smarthealthit.org/StructureDefinition/"


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines() if line]


def extension(resource: dict[str, Any], name: str) -> Any:
    for ext in resource.get("extension", []):
        if ext["url"] == REGISTRY + name:
            return next(v for k, v in ext.items() if k.startswith("value"))
    return None


def test_manifest_lists_locations_schedules_and_one_slot_file_per_site(
    sim: ProviderSimulator, client: httpx.Client
) -> None:
    response = client.get(sim.smart_manifest_url)
    assert response.status_code == 200
    manifest = response.json()
    assert set(manifest) == {"transactionTime", "request", "output", "error"}
    when = dt.datetime.fromisoformat(manifest["transactionTime"].replace("Z", "+00:00"))
    assert when.tzinfo is not None
    types = [entry["type"] for entry in manifest["output"]]
    smart_sites = [t.site for t in sim.truth().values() if t.site.source == "smart"]
    assert types == ["Location", "Schedule"] + ["Slot"] * len(smart_sites)
    for entry in manifest["output"][2:]:
        assert entry["extension"] == {"state": ["MA"]}
    for entry in manifest["output"]:
        assert entry["url"].startswith(sim.base_url + "/smart/")


def test_slots_add_up_to_the_truth_per_site_and_day(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client
) -> None:
    clock.advance(9.0)
    truth = sim.truth()
    manifest = client.get(sim.smart_manifest_url).json()
    files: dict[str, list[str]] = defaultdict(list)
    for entry in manifest["output"]:
        files[entry["type"]].append(entry["url"])
    locations = {r["id"]: r for url in files["Location"] for r in ndjson(client.get(url))}
    schedules = {r["id"]: r for url in files["Schedule"] for r in ndjson(client.get(url))}
    capacity: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    free_slots: dict[str, int] = defaultdict(int)
    for url in files["Slot"]:
        for slot in ndjson(client.get(url)):
            assert slot["resourceType"] == "Slot"
            schedule = schedules[slot["schedule"]["reference"].removeprefix("Schedule/")]
            location = schedule["actor"][0]["reference"].removeprefix("Location/")
            start = dt.datetime.fromisoformat(slot["start"])
            assert start.utcoffset() is not None
            if slot["status"] == "free":
                assert extension(slot, "booking-deep-link").startswith(sim.base_url)
                capacity[location][start.date()] += extension(slot, "slot-capacity")
                free_slots[location] += 1
            else:
                assert slot["status"] == "busy"
                assert extension(slot, "slot-capacity") is None
    for site_id, site_truth in truth.items():
        if site_truth.site.source != "smart":
            continue
        assert locations[site_id]["address"]["postalCode"] == site_truth.site.postal_code
        assert {d: n for d, n in capacity[site_id].items() if n} == {
            d: n for d, n in site_truth.by_date.items() if n
        }
        assert free_slots[site_id] == site_truth.slots
        product = extension(schedules[site_id], "vaccine-product")
        assert product["display"] == site_truth.site.vaccine


def test_since_lists_only_slot_files_that_changed(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client
) -> None:
    before = client.get(sim.smart_manifest_url).json()["transactionTime"]
    unchanged = client.get(sim.smart_manifest_url, params={"_since": before}).json()
    assert unchanged["output"] == []
    clock.advance(6.0)
    changed = client.get(sim.smart_manifest_url, params={"_since": before}).json()
    assert [e["type"] for e in changed["output"]] == ["Slot", "Slot"]
    bad = client.get(sim.smart_manifest_url, params={"_since": "yesterday"})
    assert bad.status_code == 400


def test_unknown_file_is_404(sim: ProviderSimulator, client: httpx.Client) -> None:
    assert client.get(f"{sim.base_url}/smart/slots-nowhere.ndjson").status_code == 404
    assert client.get(f"{sim.base_url}/elsewhere").status_code == 404


def _poll(scraper: Any, client: httpx.Client) -> list[Response]:
    pending: list[Request] = list(scraper.requests())
    responses: list[Response] = []
    while pending:
        request = pending.pop(0)
        raw = client.get(request.url)
        response = Response(
            request=request,
            url=str(raw.url),
            status=raw.status_code,
            headers={k.lower(): v for k, v in raw.headers.items()},
            body=raw.content,
            fetched_at=dt.datetime.now(dt.UTC),
        )
        responses.append(response)
        pending.extend(scraper.follow(response))
    return responses


def test_smart_scraper_reads_the_same_totals_as_the_truth(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client, warm_geo: None
) -> None:
    module = pytest.importorskip(
        "scrapers.smart_scheduling_links",
        reason="the smart-scheduling-links scraper is run against the simulator once written",
    )
    from notifier.scraping import registry

    scraper_cls = next(c for c in registry().values() if c.__module__ == module.__name__)
    clock.advance(9.0)
    scraper = scraper_cls({"manifest_url": sim.smart_manifest_url})
    results = scraper.parse_all(_poll(scraper, client))
    truth = {t.site.id: t for t in sim.truth().values() if t.site.source == "smart"}
    assert {r.location.id for r in results} == set(truth)
    for result in results:
        expected = truth[result.location.id]
        assert result.appointments == expected.appointments
        assert result.slots == expected.slots
        assert {d: n for d, n in result.by_date.items() if n} == {
            d: n for d, n in expected.by_date.items() if n
        }
