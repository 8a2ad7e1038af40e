"""ZocDoc: the state search describes locations, the availability answer counts their slots."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from notifier.model import LocationAvailability, Status
from notifier.scraping import Unparseable, UpstreamError
from scrapers.zocdoc import ZocdocScraper
from tests.scrapers.page_scraper_support import (
    DATE_HEADER,
    cli_parse,
    damaged,
    days,
    fixture_path,
    parse_fixtures,
    raises_only_scrape_errors,
    response,
)

TUFTS = "pr_fSHH-Tyvm0SZvoK3pfH8tx|lo_EMLPse6C60qr6_M2rJmilx"
SPRINGFIELD = "pr_CUmBnwtlz0C16bif5EU0IR|lo_X6zHHncQnkqyLp-rvpi1_R"
BOTH = ("locations.json", "availability.json")


def by_id(results: list[LocationAvailability]) -> dict[str, LocationAvailability]:
    return {r.location.id: r for r in results}


def test_only_tufts_of_eight_providers_has_slots() -> None:
    results = by_id(parse_fixtures(ZocdocScraper, *BOTH))
    assert len(results) == 8
    tufts = results.pop(TUFTS)
    assert days(tufts) == {"2021-03-30": 2, "2021-03-31": 3, "2021-04-02": 4}
    assert (tufts.status, tufts.appointments, tufts.slots) == (Status.AVAILABLE, 9, 9)
    assert tufts.location.name == "Tufts MC Vaccine Site - Boston Location"
    assert all(r.status is Status.NONE and r.appointments == 0 for r in results.values())


def test_search_supplies_the_metadata_of_its_seven_locations() -> None:
    listed = json.loads(fixture_path(ZocdocScraper, "locations.json").read_bytes())
    found = listed["data"]["search"]["searchResponse"]["providerLocations"]
    assert len(found) == 7 and TUFTS not in {f["id"] for f in found}
    springfield = by_id(parse_fixtures(ZocdocScraper, *BOTH))[SPRINGFIELD].location
    assert (springfield.name, springfield.address, springfield.city, springfield.postal_code) == (
        "AFC Urgent Care Springfield",
        "415 Cooley St, Unit 3",
        "Springfield",
        "01128",
    )
    assert (springfield.lat, springfield.lon) == (42.09149439999999, -72.49848279999999)
    assert springfield.booking_url == "https://www.zocdoc.com/doctor/afc-springfield-312604"
    assert springfield.time_zone == "America/New_York"


def test_every_location_has_full_metadata_when_both_answers_are_there() -> None:
    for result in parse_fixtures(ZocdocScraper, *BOTH):
        loc = result.location
        assert loc.postal_code and loc.lat and loc.lon and loc.time_zone and loc.booking_url


def test_availability_alone_still_counts_but_with_less_metadata() -> None:
    results = by_id(parse_fixtures(ZocdocScraper, "availability.json"))
    assert days(results[TUFTS]) == {"2021-03-30": 2, "2021-03-31": 3, "2021-04-02": 4}
    springfield = results[SPRINGFIELD]
    assert springfield.status is Status.NONE
    assert springfield.location.postal_code is None  # nothing said where it is
    assert springfield.location.state == "MA"
    assert springfield.location.booking_url == "https://www.zocdoc.com/vaccine/screener?state=MA"


def test_a_search_alone_raises() -> None:
    with pytest.raises(Unparseable, match="no availability"):
        parse_fixtures(ZocdocScraper, "locations.json")


def test_parse_command() -> None:
    paths = [fixture_path(ZocdocScraper, n) for n in BOTH]
    code, document, _ = cli_parse("zocdoc", *paths)
    assert code == 0
    locations = {loc["id"]: loc for loc in document["locations"]}
    assert len(locations) == 8
    assert locations[TUFTS]["by_date"] == {"2021-03-30": 2, "2021-03-31": 3, "2021-04-02": 4}
    assert sum(loc["status"] == "none" for loc in locations.values()) == 7
    code, _, stderr = cli_parse("zocdoc", fixture_path(ZocdocScraper, "error-synthetic.json"))
    assert (code, stderr.split(":")[0]) == (2, "upstream_error")


def test_search_then_availability_for_configured_and_found_ids() -> None:
    scraper = ZocdocScraper({"provider_location_ids": [TUFTS]})
    [search] = scraper.requests()
    assert (search.method, search.url) == ("POST", "https://api.zocdoc.com/directory/v2/gql")
    assert search.json["variables"]["state"] == "MA"
    body = fixture_path(ZocdocScraper, "locations.json").read_bytes()
    [availability] = scraper.follow(response(body, request=search))
    ids = availability.json["variables"]["providerLocationIds"]
    assert ids[0] == TUFTS and len(ids) == 8 and SPRINGFIELD in ids
    assert availability.json["operationName"] == "providerLocationsAvailability"
    answer = fixture_path(ZocdocScraper, "availability.json").read_bytes()
    assert scraper.follow(response(answer, request=availability)) == []


def test_without_search_one_availability_request() -> None:
    [only] = ZocdocScraper({"search": False}).requests()
    assert len(only.json["variables"]["providerLocationIds"]) == 8


def test_provider_without_availability_is_unknown_not_none() -> None:
    answer = {"data": {"providerLocations": [{"id": TUFTS, "availability": None}]}}
    [result] = ZocdocScraper().parse(response(json.dumps(answer)))
    assert result.status is Status.UNKNOWN
    assert result.location.postal_code == "02116"  # from the settings


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"errors": [{"message": "Too many requests"}], "data": None}, UpstreamError),
        ({"data": None}, Unparseable),
        ({"data": {"providerLocations": None}}, Unparseable),
        ({"data": {"providerLocations": [{"id": TUFTS, "availability": {}}]}}, Unparseable),
        ({"data": {"providerLocations": [{"availability": {"times": []}}]}}, Unparseable),
        ({"data": {"search": {"searchResponse": {}}}}, Unparseable),
        ([], Unparseable),
    ],
)
def test_answers_that_must_raise(body: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        ZocdocScraper().parse(response(json.dumps(body)))


def test_valid_at_is_the_aware_date_header() -> None:
    header, instant = DATE_HEADER
    answer = fixture_path(ZocdocScraper, "availability.json").read_bytes()
    results = ZocdocScraper().parse(response(answer, headers={"Date": header}))
    assert {r.valid_at for r in results} == {instant}


BODIES = [fixture_path(ZocdocScraper, n).read_bytes() for n in BOTH]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(BODIES))
def test_damaged_answers_parse_or_raise_scrape_errors(case: tuple[int, bytes]) -> None:
    which, body = case
    scraper = ZocdocScraper()
    pair = [response(b) for b in BODIES]
    pair[which] = response(body)

    def attempt() -> None:
        scraper.follow(pair[which])
        assert all(isinstance(r, LocationAvailability) for r in scraper.parse_all(pair))

    raises_only_scrape_errors(attempt)
