"""The feeds others build on: Atom in every language of the pages (feedparser), and SMART
Scheduling Links (FHIR R4 models, and our own SMART scraper reading our feed back to the same
counts)."""

from __future__ import annotations

import datetime as dt
import json

import feedparser
import pytest
from fhir.resources.R4B.location import Location as FhirLocation
from fhir.resources.R4B.schedule import Schedule as FhirSchedule
from fhir.resources.R4B.slot import Slot as FhirSlot

from notifier.model import Status
from notifier.scraping import Response
from scrapers.smart_scheduling_links import SmartSchedulingLinks
from tests.web.public_fixtures import BASE_URL, PublicApp, public_app, seeded_engine
from tests.web.public_support import NOW

__all__ = ["public_app", "seeded_engine"]  # fixtures, used by name


#: what each language's feeds say about the seeded alerts (Fenway Park: 120 + 30 on two days)
LANGUAGES = {
    "en": {
        "prefix": "/",
        "title": "Appointment openings",
        "region_title": "Appointment openings in US-MA",
        "entries": [
            "150 appointments at Fenway Park, Boston",
            "5 appointments at Gillette Stadium, Foxborough",
        ],
        "summary": [
            "Fenway Park: 150 open appointments.",
            "4 Jersey Street, Boston, MA, 02215.",
            "Dates: Thu Feb 25 (120), Fri Feb 26 (30).",
            "Vaccines: Moderna.",
            "Book at Fenway Park: https://clinics.example.org/fenway",
        ],
    },
    "de": {
        "prefix": "/de/",
        "title": "Freie Termine",
        "region_title": "Freie Termine in US-MA",
        "entries": [
            "150 Termine bei Fenway Park, Boston",
            "5 Termine bei Gillette Stadium, Foxborough",
        ],
        "summary": [
            "Fenway Park: 150 freie Termine.",
            "4 Jersey Street, Boston, MA, 02215.",
            "Tage: Do 25.02. (120), Fr 26.02. (30).",
            "Impfstoffe: Moderna.",
            "Buchen bei Fenway Park: https://clinics.example.org/fenway",
        ],
    },
    "es": {
        "prefix": "/es/",
        "title": "Citas libres",
        "region_title": "Citas libres en US-MA",
        "entries": [
            "150 citas en Fenway Park, Boston",
            "5 citas en Gillette Stadium, Foxborough",
        ],
        "summary": [
            "Fenway Park: 150 citas libres.",
            "4 Jersey Street, Boston, MA, 02215.",
            "Fechas: jue 25/02 (120), vie 26/02 (30).",
            "Vacunas: Moderna.",
            "Reservar en Fenway Park: https://clinics.example.org/fenway",
        ],
    },
}


def _feed(app: PublicApp, path: str) -> feedparser.FeedParserDict:
    response = app.client.get(path)
    assert response.status_code == 200, path
    assert response.headers["content-type"].startswith("application/atom+xml"), path
    assert response.headers["access-control-allow-origin"] == "*", path
    feed = feedparser.parse(response.content)
    assert not feed.bozo, (path, feed.get("bozo_exception"))
    return feed


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_language_has_its_feed_of_all_alerts(public_app: PublicApp, lang: str) -> None:
    expected = LANGUAGES[lang]
    path = f"{expected['prefix']}feeds/atom.xml"
    feed = _feed(public_app, path)
    assert feed.feed.language == lang
    assert feed.feed.title == expected["title"]
    assert feed.feed.id == f"{BASE_URL}{path}"
    assert feed.feed.link == f"{BASE_URL}{expected['prefix']}"  # the pages of its language
    translations = {
        link.hreflang: link.href
        for link in feed.feed.links
        if link.rel == "alternate" and link.type == "application/atom+xml"
    }
    assert translations == {
        other: f"{BASE_URL}{LANGUAGES[other]['prefix']}feeds/atom.xml"
        for other in LANGUAGES
        if other != lang
    }
    assert sorted(e.title for e in feed.entries) == expected["entries"]
    for entry in feed.entries:
        assert entry.title_detail.language == entry.summary_detail.language == lang
        assert entry.tags[0].term == "US-MA"
    fenway = next(e for e in feed.entries if "Fenway" in e.title)
    assert fenway.summary.splitlines() == expected["summary"]
    assert fenway.link == "https://clinics.example.org/fenway"
    assert fenway.updated_parsed[:5] == (2021, 2, 25, 12, 30)
    assert feed.feed.updated_parsed[:5] == (2021, 2, 25, 12, 30)


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_language_has_a_feed_per_region(public_app: PublicApp, lang: str) -> None:
    expected = LANGUAGES[lang]
    ma = _feed(public_app, f"{expected['prefix']}feeds/us-ma.xml")
    assert ma.feed.language == lang and ma.feed.title == expected["region_title"]
    assert sorted(e.title for e in ma.entries) == expected["entries"]
    everything = _feed(public_app, f"{expected['prefix']}feeds/atom.xml")
    # one entry, two feeds: the same id, so a reader of both sees it once
    assert {e.id for e in ma.entries} == {e.id for e in everything.entries}
    bavaria = _feed(public_app, f"{expected['prefix']}feeds/de-by.xml")
    assert bavaria.feed.language == lang and bavaria.entries == []  # no alerts: still a feed
    assert public_app.client.get(f"{expected['prefix']}feeds/us-zz.xml").status_code == 404


def test_entry_ids_are_per_language_and_the_english_ones_never_changed(
    public_app: PublicApp,
) -> None:
    ids = {
        lang: {e.id for e in _feed(public_app, f"{v['prefix']}feeds/atom.xml").entries}
        for lang, v in LANGUAGES.items()
    }
    assert ids["en"] == {f"{BASE_URL}/alerts/1", f"{BASE_URL}/alerts/2"}  # as before issue 8
    assert ids["de"] == {f"{BASE_URL}/de/alerts/1", f"{BASE_URL}/de/alerts/2"}
    assert not (ids["en"] & ids["de"]) and not (ids["en"] & ids["es"])
    assert not (ids["de"] & ids["es"])


def test_a_feed_without_entries_keeps_its_bytes_between_publications(
    public_app: PublicApp,
) -> None:
    before = {p: public_app.client.get(p) for p in ("/de/feeds/de-by.xml", "/feeds/us-ma.xml")}
    public_app.site.clock = lambda: NOW + dt.timedelta(minutes=5)
    public_app.site.publisher().publish_now()
    for path, first in before.items():
        again = public_app.client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304, path


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
