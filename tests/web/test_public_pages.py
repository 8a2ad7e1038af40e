"""The published pages and the dynamic search, as a resident's browser sees them."""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import string
from pathlib import Path

import feedparser
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from notifier.db import store
from notifier.geo import EARTH_RADIUS_MILES, lookup_postal_code
from notifier.messaging.render import KM_PER_MILE, distance_unit
from notifier.model import Location, LocationAvailability
from notifier.web.app import create_app
from notifier.web.public.pages import strings
from notifier.web.public.snapshot import LOCALES
from tests.web.public_fixtures import BASE_URL, PublicApp, public_app, public_config, seeded_engine
from tests.web.public_support import DAY1, NOW

__all__ = ["public_app", "seeded_engine"]  # fixtures, used by name


def test_the_front_door_lists_openings_by_region(public_app: PublicApp) -> None:
    response = public_app.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<meta name="viewport"' in html
    assert html.index("DE-BY") < html.index("US-MA")  # regions in order
    assert "Fenway Park" in html and "<strong>150</strong> open appointments" in html
    assert "Thu Feb 25 (120), Fri Feb 26 (30)" in html
    assert "Moderna" in html
    assert "Checked Feb 25, 07:59 EST" in html
    assert 'href="https://clinics.example.org/fenway"' in html
    assert "Eastfield Mall" not in html  # no openings: not on the front page
    assert 'action="/search"' in html and 'id="signup"' in html
    assert '<svg class="chart"' in html


def test_a_down_provider_shows_unknown_never_zero(public_app: PublicApp) -> None:
    html = public_app.client.get("/").text
    start = html.index("Impfzentrum Messe")
    entry = html[start : html.index("</li>", start)]
    assert "Status unknown since Feb 25, 13:40 CET" in entry
    assert "open appointments" not in entry and "(0)" not in entry
    assert "Checked" not in entry


def test_every_language_links_its_siblings(public_app: PublicApp) -> None:
    for path, lang, word in (
        ("/", "en", "Openings"),
        ("/de/", "de", "Freie"),
        ("/es/", "es", "Citas"),
    ):
        html = public_app.client.get(path).text
        assert f'<html lang="{lang}">' in html
        assert word in html
        for code, href in (("en", "/"), ("de", "/de/"), ("es", "/es/")):
            assert f'<link rel="alternate" hreflang="{code}" href="{BASE_URL}{href}">' in html
    assert "Stand unbekannt seit 25.02. 13:40 CET" in public_app.client.get("/de/").text


def test_every_page_links_the_feeds_of_its_own_language(public_app: PublicApp) -> None:
    for home, lang in (("/", "en"), ("/de/", "de"), ("/es/", "es")):
        page = BeautifulSoup(public_app.client.get(home).text, "html.parser")
        discovered = {
            link["href"]: link
            for link in page.head.find_all("link", rel="alternate", type="application/atom+xml")
        }
        wanted = {f"{home}feeds/{name}.xml" for name in ("atom", "de-by", "us-ma")}
        assert set(discovered) == wanted, home
        assert {link["hreflang"] for link in discovered.values()} == {lang}
        visible = {
            a["href"]: a
            for a in page.body.find_all("a", type="application/atom+xml", hreflang=lang)
        }
        assert set(visible) == wanted, home
        # the open region's section links its own feed
        section = page.find("section", attrs={"aria-labelledby": "region-us-ma"})
        assert section.find("a", href=f"{home}feeds/us-ma.xml") is not None
        for href, link in discovered.items():
            response = public_app.client.get(href)
            assert response.status_code == 200, href
            feed = feedparser.parse(response.content)
            assert not feed.bozo and feed.feed.language == lang, href
            assert feed.feed.title == link["title"], href
    search = public_app.client.get("/search", params={"postal_code": "02215", "lang": "es"})
    assert 'href="/es/feeds/atom.xml"' in search.text


def test_every_language_has_every_page_string() -> None:
    english = set(strings("en"))
    assert set(strings("de")) == english and set(strings("es")) == english

    def placeholders(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for key, text in strings("en").items():
        for locale in ("de", "es"):
            assert placeholders(strings(locale)[key]) == placeholders(text), (locale, key)


def test_each_language_shows_distances_in_the_unit_its_texts_use() -> None:
    # The messaging layer decides the unit for every text (SMS, sign-up, manage pages).
    for locale in LOCALES:
        km = distance_unit(locale) == "km"
        t = strings(locale)
        assert (t["distance_unit"] == "km") is km, locale
        assert ("km" in t["radius"]) is km and ("km" in t["error_radius_range"]) is km, locale
    assert strings("de")["radius"] == "Umkreis (km)"
    assert not any("Meilen" in text for text in strings("de").values())


def test_search_renders_nearby_places_nearest_first(public_app: PublicApp) -> None:
    response = public_app.client.get("/search", params={"postal_code": "02215", "radius": "30"})
    assert response.status_code == 200
    html = response.text
    assert html.index("Fenway Park") < html.index("Gillette Stadium")
    assert "Eastfield Mall" not in html  # 80 miles away
    assert "miles" in html and "ETag".lower() in {k.lower() for k in response.headers}
    german = public_app.client.get(
        "/search", params={"postal_code": "81829", "radius": "5", "country": "DE", "lang": "de"}
    )
    assert german.status_code == 200 and "Impfzentrum Messe" in german.text
    assert "Stand unbekannt seit" in german.text


def test_a_postal_code_is_read_in_the_country_of_the_page_first(public_app: PublicApp) -> None:
    # Seen: in a mostly-US deployment (three places in MA, one in München) the German page read
    # every PLZ as a ZIP: 81829 was unknown (404), and 85622 (Feldkirchen) was Green Valley, AZ.
    def search(**params: str) -> tuple[int, str]:
        response = public_app.client.get("/search", params=params)
        return response.status_code, response.text

    for code in ("81829", "85622"):
        status, german = search(postal_code=code, lang="de")
        assert status == 200 and "Impfzentrum Messe" in german, code
    # the English page keeps US first: 85622 is a ZIP in Arizona, with nothing near it
    status, english = search(postal_code="85622", lang="en")
    assert status == 200 and "Impfzentrum Messe" not in english
    assert "No clinics within this distance." in english
    # ... and falls back to Germany for a code no US ZIP has
    status, english = search(postal_code="81829", lang="en")
    assert status == 200 and "Impfzentrum Messe" in english
    # a country given wins on either page
    assert "Impfzentrum Messe" in search(postal_code="85622", lang="en", country="DE")[1]
    status, german = search(postal_code="85622", lang="de", country="US")
    assert status == 200 and "Impfzentrum Messe" not in german
    status, german = search(postal_code="02215", lang="de", country="US", radius="50")
    assert status == 200 and "Fenway Park" in german
    # a US ZIP that is no PLZ still finds its places from the German page
    status, german = search(postal_code="02215", lang="de", radius="50")
    assert status == 200 and "Fenway Park" in german
    # a code neither country knows is still a 404, in the page's language
    status, german = search(postal_code="00000", lang="de")
    assert status == 404 and "00000" in german
    # the API (no language) starts with the deployment's country, then tries the others
    api = public_app.client.get("/api/v1/availability", params={"postal_code": "85622"})
    assert api.status_code == 200 and api.json()["country"] == "US"
    assert api.json()["locations"] == []  # Green Valley, AZ: the deployment is mostly US
    api = public_app.client.get("/api/v1/availability", params={"postal_code": "81829"})
    assert api.status_code == 200 and api.json()["country"] == "DE"
    assert [p["name"] for p in api.json()["locations"]] == ["Impfzentrum Messe"]


def test_search_explains_bad_input(public_app: PublicApp) -> None:
    cases = [
        ({"postal_code": ""}, 400, "Please enter a postal code"),
        ({"postal_code": "abc"}, 400, "not a postal code we can read"),
        ({"postal_code": "1" * 11}, 400, "at most 10 characters"),
        ({"postal_code": "02215", "radius": "many"}, 400, "whole number of miles"),
        ({"postal_code": "02215", "radius": "500"}, 400, "from 1 to 100 miles"),
        ({"postal_code": "02215", "country": "FR"}, 400, "Country must be one of"),
        ({"postal_code": "00000"}, 404, "do not know the postal code"),
    ]
    for params, status, message in cases:
        response = public_app.client.get("/search", params=params)
        assert response.status_code == status, params
        assert message in response.text, params
        assert 'role="alert"' in response.text
    hostile = public_app.client.get("/search", params={"postal_code": "<script>x</script>"})
    assert hostile.status_code == 400 and "<script>x" not in hostile.text


def test_locations_json_is_published_with_every_place(public_app: PublicApp) -> None:
    response = public_app.client.get("/api/v1/locations")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    places = {p["id"]: p for p in response.json()["locations"]}
    assert set(places) == {"ma:fenway", "ma:gillette", "ma:eastfield", "de:messe"}
    assert places["ma:fenway"]["appointments"] == 150
    assert places["ma:fenway"]["by_date"] == {"2021-02-25": 120, "2021-02-26": 30}
    assert places["ma:eastfield"]["status"] == "none"
    assert places["de:messe"]["status"] == "unknown"
    assert places["de:messe"]["status_unknown_since"].startswith("2021-02-25T12:40")
    assert (public_app.root / "api/v1/locations.json").read_bytes() == response.content


def test_availability_api_answers_a_radius_search(public_app: PublicApp) -> None:
    response = public_app.client.get(
        "/api/v1/availability", params={"postal_code": "02139", "radius": "10"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["postal_code"] == "02139" and body["radius_miles"] == 10
    assert [p["id"] for p in body["locations"]] == ["ma:fenway"]
    assert 0 < body["locations"][0]["distance_miles"] < 10
    wide = public_app.client.get(
        "/api/v1/availability", params={"postal_code": "02139", "radius": "100"}
    )
    assert [p["id"] for p in wide.json()["locations"]] == [
        "ma:fenway",
        "ma:gillette",
        "ma:eastfield",
    ]


def test_availability_api_rejects_bad_input_readably(public_app: PublicApp) -> None:
    for params, status in (
        ({}, 400),
        ({"postal_code": "02139", "radius": "0"}, 400),
        ({"postal_code": "02139", "radius": "-3"}, 400),
        ({"postal_code": "02139", "radius": "1e9"}, 400),
        ({"postal_code": "zzzzz"}, 400),
        ({"postal_code": "99999"}, 404),
        ({"postal_code": "x" * 100}, 422),  # over the declared maxLength: FastAPI's own check
    ):
        response = public_app.client.get("/api/v1/availability", params=params)
        assert response.status_code == status, params
        body = response.json()
        assert body.get("error") or body.get("detail"), params


def _validators(response_headers: object) -> tuple[str, str]:
    headers = dict(response_headers)  # type: ignore[call-overload]
    return headers["etag"], headers["last-modified"]


def test_everything_public_carries_validators_and_answers_304(public_app: PublicApp) -> None:
    client = public_app.client
    paths = [
        "/",
        "/de/",
        "/api/v1/locations",
        "/smart/$bulk-publish",
        "/smart/slots.ndjson",
        "/feeds/atom.xml",
        "/feeds/us-ma.xml",
        "/de/feeds/atom.xml",
        "/es/feeds/de-by.xml",
        "/static/site.css",
        "/search?postal_code=02215&radius=20",
        "/api/v1/availability?postal_code=02215&radius=20",
    ]
    for path in paths:
        first = client.get(path)
        assert first.status_code == 200, path
        etag, modified = _validators(first.headers)
        assert "max-age" in first.headers["cache-control"], path
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == etag
        by_date = client.get(path, headers={"If-Modified-Since": modified})
        assert by_date.status_code == 304, path
        older = email.utils.format_datetime(
            email.utils.parsedate_to_datetime(modified) - dt.timedelta(hours=1), usegmt=True
        )
        assert client.get(path, headers={"If-Modified-Since": older}).status_code == 200, path
        other = client.get(
            path, headers={"If-None-Match": '"someone-else"', "If-Modified-Since": modified}
        )
        assert other.status_code == 200, path  # If-None-Match wins over the date
    head = client.head("/")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(client.get("/").content)


def test_a_new_publication_changes_the_etag(public_app: PublicApp) -> None:
    before = public_app.client.get("/api/v1/locations").headers["etag"]
    public_app.site.clock = lambda: NOW + dt.timedelta(minutes=5)
    public_app.site.publisher().publish_now()
    after = public_app.client.get("/api/v1/locations")
    assert after.headers["etag"] != before
    assert after.json()["generated_at"].startswith("2021-02-25T13:05")
    assert (
        public_app.client.get("/api/v1/locations", headers={"If-None-Match": before}).status_code
        == 200
    )


def test_before_the_first_publication_pages_render_from_the_database(
    seeded_engine: Engine, tmp_path: Path
) -> None:
    app = create_app(public_config(tmp_path / "empty"), engine=seeded_engine, clock=lambda: NOW)
    with TestClient(app) as client:
        assert "Fenway Park" in client.get("/").text
        assert "Freie" in client.get("/de/").text
        assert len(client.get("/api/v1/locations").json()["locations"]) == 4
        assert client.get("/feeds/atom.xml").status_code == 404  # feeds exist once published
        assert client.get("/de/feeds/atom.xml").status_code == 404


# ---------------------------------------------------------------------- km on German pages

KOELN = "50667"
#: places due north of Köln's centre, at these great-circle distances (km)
NORTH_OF_KOELN_KM = {"de:nah": 9.5, "de:knapp": 10.5, "de:weiter": 14.0}


def seed_north_of_koeln(engine: Engine) -> None:
    centre = lookup_postal_code(KOELN, "DE")
    assert centre is not None
    earth_km = EARTH_RADIUS_MILES * KM_PER_MILE
    places = []
    for place_id, km in NORTH_OF_KOELN_KM.items():
        location = Location(
            id=place_id,
            name=f"Impfstelle {place_id.removeprefix('de:').title()}",
            city="Köln",
            state="NW",
            postal_code=KOELN,
            country="DE",
            lat=centre.lat + math.degrees(km / earth_km),
            lon=centre.lon,
            time_zone="Europe/Berlin",
        )
        places.append((place_id, LocationAvailability.from_counts(location, {DAY1: 10})))
    run = store.PollRunRecord(started_at=NOW - dt.timedelta(minutes=5), outcome="ok")
    with engine.begin() as conn:
        store.save_poll(conn, "nrw", "smart", run, places, NOW - dt.timedelta(minutes=5))


def found(html: str) -> set[str]:
    page = BeautifulSoup(html, "html.parser")
    names = {h.get_text() for h in page.select("ul.places li h2")}
    return {i for i in NORTH_OF_KOELN_KM if f"Impfstelle {i[3:].title()}" in names}


def test_the_german_search_reads_and_shows_km(seeded_engine: Engine, tmp_path: Path) -> None:
    seed_north_of_koeln(seeded_engine)
    app = create_app(public_config(tmp_path / "public"), engine=seeded_engine, clock=lambda: NOW)
    app.state.public_site.publisher().publish_now()
    with TestClient(app) as client:

        def search(lang: str, radius: str | None) -> str:
            params = {"postal_code": KOELN, "country": "DE", "lang": lang}
            if radius is not None:
                params["radius"] = radius
            response = client.get("/search", params=params)
            assert response.status_code == 200, response.text
            return response.text

        # 10 km holds the place 9.5 km away, not those 10.5 and 14 km away (10 miles would)
        german = search("de", "10")
        assert found(german) == {"de:nah"}
        assert "9,5 km" in german and "Meilen" not in german
        assert found(search("de", "11")) == {"de:nah", "de:knapp"}
        assert found(search("de", None)) == set(NORTH_OF_KOELN_KM)  # the default: 15 km
        form = BeautifulSoup(german, "html.parser").find("input", id="radius")
        assert (form["value"], form["max"]) == ("10", "160")
        label = BeautifulSoup(german, "html.parser").find("label", attrs={"for": "radius"})
        assert label.get_text() == "Umkreis (km)"
        # English and Spanish pages, and the API, keep miles: 10 miles is 16.1 km
        english = search("en", "10")
        assert found(english) == set(NORTH_OF_KOELN_KM) and "5.9 miles" in english
        assert "5,9 millas" in search("es", "10")  # Spanish writes a decimal comma
        api = client.get(
            "/api/v1/availability", params={"postal_code": KOELN, "radius": "10", "country": "DE"}
        )
        body = api.json()
        assert body["radius_miles"] == 10
        assert [p["id"] for p in body["locations"]] == ["de:nah", "de:knapp", "de:weiter"]
        assert [p["distance_miles"] for p in body["locations"]] == [5.9, 6.5, 8.7]
        # the bounds are the unit's: 160 km on the German page, 100 miles elsewhere
        assert found(search("de", "160")) == set(NORTH_OF_KOELN_KM)
        for lang, radius, message in (
            ("de", "161", "Der Umkreis muss 1 bis 160 km betragen."),
            ("de", "viel", "ganze Zahl von Kilometern sein, von 1 bis 160."),
            ("en", "101", "The distance must be from 1 to 100 miles."),
            ("es", "101", "La distancia debe ser de 1 a 100 millas."),
        ):
            params = {"postal_code": KOELN, "country": "DE", "lang": lang, "radius": radius}
            response = client.get("/search", params=params)
            assert response.status_code == 400 and message in response.text, (lang, radius)
        # the published German front page offers the km form too
        front = BeautifulSoup(client.get("/de/").text, "html.parser")
        assert front.find("label", attrs={"for": "radius"}).get_text() == "Umkreis (km)"
        assert front.find("input", id="radius")["value"] == "15"
        assert front.find("input", id="radius")["max"] == "160"


def test_search_errors_are_in_the_page_language(public_app: PublicApp) -> None:
    for lang, message in (
        ("de", "Bitte geben Sie eine Postleitzahl ein"),
        ("es", "Escriba un código postal"),
        ("en", "Please enter a postal code"),
    ):
        response = public_app.client.get("/search", params={"postal_code": "", "lang": lang})
        assert response.status_code == 400 and message in response.text, lang
    unknown = public_app.client.get("/search", params={"postal_code": "00000", "lang": "de"})
    assert unknown.status_code == 404 and "Die Postleitzahl 00000 kennen wir nicht." in unknown.text
    # the API answers in English whatever the page language
    api = public_app.client.get(
        "/api/v1/availability", params={"postal_code": "02139", "radius": "500"}
    )
    assert api.json() == {"error": "The distance must be from 1 to 100 miles."}
