"""The feeds others build on: Atom (feedparser) and SMART Scheduling Links (FHIR R4 models,
and our own SMART scraper reading our feed back to the same counts)."""

from __future__ import annotations

import json

import feedparser
from fhir.resources.R4B.location import Location as FhirLocation
from fhir.resources.R4B.schedule import Schedule as FhirSchedule
from fhir.resources.R4B.slot import Slot as FhirSlot

from notifier.model import Status
from notifier.scraping import Response
from scrapers.smart_scheduling_links import SmartSchedulingLinks
from tests.web.public_fixtures import BASE_URL, PublicApp, public_app, seeded_engine

__all__ = ["public_app", "seeded_engine"]  # fixtures, used by name


def test_atom_feed_of_alerts(public_app: PublicApp) -> None:
    response = public_app.client.get("/feeds/atom.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "Appointment openings"
    titles = sorted(entry.title for entry in feed.entries)
    assert titles == [
        "Fenway Park: 150 open appointments (opened)",
        "Gillette Stadium: 5 open appointments (opened)",
    ]
    fenway = next(e for e in feed.entries if e.title.startswith("Fenway"))
    assert fenway.link == "https://clinics.example.org/fenway"
    assert "2021-02-25 (120)" in fenway.summary
    assert fenway.updated_parsed[:5] == (2021, 2, 25, 12, 30)
    assert len({e.id for e in feed.entries}) == 2


def test_one_atom_feed_per_region(public_app: PublicApp) -> None:
    ma = feedparser.parse(public_app.client.get("/feeds/us-ma.xml").content)
    assert not ma.bozo and len(ma.entries) == 2
    assert ma.feed.title == "Appointment openings in US-MA"
    bavaria = feedparser.parse(public_app.client.get("/feeds/de-by.xml").content)
    assert not bavaria.bozo and bavaria.entries == []  # a region without alerts still has a feed
    assert public_app.client.get("/feeds/us-zz.xml").status_code == 404


def _smart_files(app: PublicApp) -> dict[str, bytes]:
    manifest = app.client.get("/smart/$bulk-publish")
    assert manifest.status_code == 200
    files = {f"{BASE_URL}/smart/$bulk-publish": manifest.content}
    for item in manifest.json()["output"]:
        path = item["url"].removeprefix(BASE_URL)
        body = app.client.get(path)
        assert body.status_code == 200 and body.headers["content-type"] == "application/fhir+ndjson"
        files[item["url"]] = body.content
    return files


def test_smart_feed_parses_as_fhir_r4(public_app: PublicApp) -> None:
    files = _smart_files(public_app)
    manifest = json.loads(files[f"{BASE_URL}/smart/$bulk-publish"])
    assert manifest["request"] == f"{BASE_URL}/smart/$bulk-publish"
    assert {o["type"] for o in manifest["output"]} == {"Location", "Schedule", "Slot"}
    models = {"Location": FhirLocation, "Schedule": FhirSchedule, "Slot": FhirSlot}
    parsed: dict[str, list[object]] = {name: [] for name in models}
    for item in manifest["output"]:
        for line in files[item["url"]].decode().splitlines():
            resource = json.loads(line)
            assert resource["resourceType"] == item["type"]
            parsed[item["type"]].append(models[item["type"]].model_validate(resource))
    # The down provider's centre is left out: SMART cannot say "unknown".
    assert len(parsed["Location"]) == 3 and len(parsed["Schedule"]) == 3
    slots = [s for s in parsed["Slot"] if isinstance(s, FhirSlot)]
    assert len(slots) == 4  # Fenway 2 days, Gillette 2 days (one with an unknown count)
    assert {s.status for s in slots} == {"free"}


def test_our_smart_scraper_reads_our_feed_back(public_app: PublicApp) -> None:
    files = _smart_files(public_app)
    scraper = SmartSchedulingLinks({"manifest_url": f"{BASE_URL}/smart/$bulk-publish"})
    (manifest_request,) = scraper.requests()
    manifest = Response.from_body(files[manifest_request.url], url=manifest_request.url)
    responses = [manifest]
    for request in scraper.follow(manifest):
        responses.append(Response.from_body(files[request.url], url=request.url))
    assert len(responses) == 4
    results = {r.location.name: r for r in scraper.parse_all(responses)}
    assert set(results) == {"Fenway Park", "Gillette Stadium", "Eastfield Mall"}
    fenway = results["Fenway Park"]
    assert fenway.status is Status.AVAILABLE and fenway.appointments == 150
    assert {d.isoformat(): n for d, n in fenway.by_date.items()} == {
        "2021-02-25": 120,
        "2021-02-26": 30,
    }
    assert fenway.location.booking_url == "https://clinics.example.org/fenway"
    gillette = results["Gillette Stadium"]
    assert gillette.status is Status.AVAILABLE
    assert {d.isoformat(): n for d, n in gillette.by_date.items()} == {
        "2021-02-25": 5,
        "2021-02-26": None,
    }
    assert results["Eastfield Mall"].status is Status.NONE
    ours = public_app.client.get("/api/v1/locations").json()["locations"]
    open_here = sum(1 for p in ours if p["status"] == "available")
    open_there = sum(1 for r in results.values() if r.status is Status.AVAILABLE)
    assert open_here == open_there == 2
