"""Southcoast Health: a session token, then one slot search per site."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from notifier.model import LocationAvailability, Status
from notifier.scraping import Blocked, Unparseable, UpstreamError
from scrapers.southcoast import SouthcoastScraper
from tests.scrapers.page_scraper_support import (
    DATE_HEADER,
    cli_parse,
    damaged,
    days,
    fixture_path,
    fixture_response,
    parse_fixtures,
    raises_only_scrape_errors,
    response,
)

API = "https://southcoastapps.southcoast.org/OnlineAppointmentSchedulingApi/api"
THREE_SITES = {
    "sites": [
        {
            "location": "Fall River",
            "name": "Fall River site",
            "city": "Fall River",
            "postal_code": "02724",
        },
        {
            "location": "North Dartmouth",
            "name": "North Dartmouth site",
            "city": "North Dartmouth",
            "postal_code": "02747",
        },
        {"location": "Wareham", "name": "Wareham site", "city": "Wareham", "postal_code": "02571"},
    ]
}


def only(results: list[LocationAvailability]) -> LocationAvailability:
    assert len(results) == 1
    return results[0]


def test_fall_river_three_dates_95_slots() -> None:
    result = only(parse_fixtures(SouthcoastScraper, "fall-river.json"))
    assert days(result) == {"2021-05-10": 47, "2021-05-11": 24, "2021-05-12": 24}
    assert (result.appointments, result.slots, result.status) == (95, 95, Status.AVAILABLE)
    loc = result.location
    assert (loc.id, loc.address, loc.city, loc.state, loc.postal_code) == (
        "fall-river",
        "20 Star Street",
        "Fall River",
        "MA",
        "02724",
    )
    assert loc.lat is not None and loc.time_zone == "America/New_York"


def test_empty_answer_is_none_with_the_configured_address() -> None:
    result = only(parse_fixtures(SouthcoastScraper, "none.json"))
    assert (result.status, result.appointments, days(result)) == (Status.NONE, 0, {})
    assert result.location.address == "20 Star St"  # the settings: the answer has no address


def test_parse_command() -> None:
    code, document, _ = cli_parse("southcoast", fixture_path(SouthcoastScraper, "fall-river.json"))
    assert code == 0
    [location] = document["locations"]
    assert location["appointments"] == 95
    assert location["by_date"] == {"2021-05-10": 47, "2021-05-11": 24, "2021-05-12": 24}
    code, document, _ = cli_parse("southcoast", fixture_path(SouthcoastScraper, "none.json"))
    assert code == 0 and document["locations"][0]["status"] == "none"
    code, _, stderr = cli_parse(
        "southcoast", fixture_path(SouthcoastScraper, "error-synthetic.json")
    )
    assert (code, stderr.split(":")[0]) == (2, "upstream_error")


def test_token_then_one_search_per_site_from_the_poll_time() -> None:
    scraper = SouthcoastScraper(THREE_SITES)
    [first] = scraper.requests()
    assert (first.method, first.url) == ("GET", f"{API}/sessions")
    token = replace(
        response(b'"5d886340-71e9-4bd2-9449-80d5eb3263e9"', url=first.url, request=first),
        fetched_at=dt.datetime(2021, 5, 8, 2, 34, 12, tzinfo=dt.UTC),
    )
    searches = scraper.follow(token)
    assert [s.json["Location"] for s in searches] == ["Fall River", "North Dartmouth", "Wareham"]
    search = searches[0]
    assert (search.method, search.url) == ("POST", f"{API}/resourceTypes/slots/search")
    assert search.headers["SessionToken"] == "5d886340-71e9-4bd2-9449-80d5eb3263e9"
    assert search.json["StartDate"] == "2021-05-08T02:34:12.000Z"
    assert search.json["EndDate"] == "2021-05-22T02:34:12.000Z"
    assert search.json["ResourceTypeId"] == "98C5A8BE-25D1-4125-9AD5-1EE64AD164D2"
    # The token itself says nothing; with the three answers the poll has three sites.
    empty = fixture_path(SouthcoastScraper, "none.json").read_bytes()
    answers = [response(empty, request=s) for s in searches]
    results = scraper.parse_all([token, *answers])
    assert [r.location.id for r in results] == ["fall-river", "north-dartmouth", "wareham"]
    assert {r.location.postal_code for r in results} == {"02724", "02747", "02571"}


def test_a_poll_with_only_the_token_raises() -> None:
    with pytest.raises(Unparseable):
        SouthcoastScraper().parse_all([response(b'"token"')])


def test_replayed_answer_is_matched_to_its_site_by_city() -> None:
    results = parse_fixtures(SouthcoastScraper, "fall-river.json", settings=THREE_SITES)
    assert only(results).location.id == "fall-river"
    with pytest.raises(Unparseable):  # empty and no request: no way to tell which site
        parse_fixtures(SouthcoastScraper, "none.json", settings=THREE_SITES)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"Message": "Authorization has been denied for this request."}, UpstreamError),
        ({"dateToSlots": []}, Unparseable),
        ({"dateToSlots": {"2021-05-10": {"x": {"slots": None}}}}, Unparseable),
        ({"dateToSlots": {"not a date": {}}}, Unparseable),
        ([], Unparseable),
    ],
)
def test_answers_that_must_raise(body: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        SouthcoastScraper().parse(response(json.dumps(body)))


def test_html_instead_of_json_raises() -> None:
    with pytest.raises(Blocked):
        SouthcoastScraper().parse(response("<html><body>Access Denied</body></html>"))
    with pytest.raises(Unparseable):
        SouthcoastScraper().parse(response("<html><body>Maintenance</body></html>"))


def test_valid_at_is_the_aware_date_header() -> None:
    header, instant = DATE_HEADER
    body = fixture_path(SouthcoastScraper, "fall-river.json").read_bytes()
    assert only(SouthcoastScraper().parse(response(body, headers={"Date": header}))).valid_at == (
        instant
    )


BODIES = [fixture_response(SouthcoastScraper, "fall-river.json").body]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(BODIES))
def test_damaged_answers_parse_or_raise_scrape_errors(case: tuple[int, bytes]) -> None:
    scraper = SouthcoastScraper()
    answer = response(case[1])

    def attempt() -> None:
        scraper.follow(answer)
        assert all(isinstance(r, LocationAvailability) for r in scraper.parse_all([answer]))

    raises_only_scrape_errors(attempt)
