"""Mercy Medical Center's booking app: one day per answer, one button per open slot."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings

from notifier.model import LocationAvailability, Status
from notifier.scraping import Blocked, Unparseable, Unreachable, UpstreamError
from scrapers.mercy import MercyScraper
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


def only(results: list[LocationAvailability]) -> LocationAvailability:
    assert len(results) == 1
    return results[0]


def test_booking_page_has_one_slot_on_03_12() -> None:
    result = only(parse_fixtures(MercyScraper, "booking-page.html"))
    assert days(result) == {"2021-03-12": 1}
    assert (result.appointments, result.slots, result.status) == (1, 1, Status.AVAILABLE)
    loc = result.location
    assert (loc.name, loc.address, loc.city, loc.state, loc.postal_code) == (
        "Mercy Medical Center",
        "299 Carew St",
        "Springfield",
        "MA",
        "01104",
    )
    assert loc.lat is not None and loc.time_zone == "America/New_York"
    assert loc.booking_url == "https://apps.sphp.com/THofNECOVIDVaccinations/index.php"


def test_day_with_nothing_open_is_none() -> None:
    result = only(parse_fixtures(MercyScraper, "none-synthetic.html"))
    assert days(result) == {"2021-03-13": 0}
    assert result.status is Status.NONE


def test_parse_command() -> None:
    code, document, _ = cli_parse("mercy", fixture_path(MercyScraper, "booking-page.html"))
    assert code == 0
    [location] = document["locations"]
    assert (location["appointments"], location["by_date"]) == (1, {"2021-03-12": 1})
    code, _, stderr = cli_parse("mercy", fixture_path(MercyScraper, "php-error-synthetic.html"))
    assert (code, stderr.split(":")[0]) == (2, "upstream_error")


def test_requests_post_each_day_with_the_site_cookie() -> None:
    requests = MercyScraper({"start_date": "2021-03-12", "days": 3}).requests()
    assert [dict(parse_qsl(r.data.decode()))["ScheduleDay"] for r in requests if r.data] == [
        "03/12/2021",
        "03/13/2021",
        "03/14/2021",
    ]
    first = requests[0]
    assert (first.method, first.url) == (
        "POST",
        "https://apps.sphp.com/THofNECOVIDVaccinations/livesearch.php",
    )
    assert first.headers["Cookie"] == "SiteName=THOfNE Mercy Medical Center"


def test_requests_start_today_in_the_clinic_time_zone() -> None:
    [request] = MercyScraper({"days": 1}).requests()
    sent = dict(parse_qsl((request.data or b"").decode()))["ScheduleDay"]
    today = dt.datetime.strptime(sent, "%m/%d/%Y").date()
    assert abs((today - dt.datetime.now(dt.UTC).date()).days) <= 1


def test_fragment_without_its_day_uses_the_day_asked_for() -> None:
    [request] = MercyScraper({"start_date": "2021-03-20", "days": 1}).requests()
    body = "<div><h4>There are no open appointments on this day. Please try another day.</h4></div>"
    result = only(MercyScraper().parse(response(body, request=request)))
    assert days(result) == {"2021-03-20": 0}
    with pytest.raises(Unparseable):  # replayed without its request, the day is unknown
        MercyScraper().parse(response(body))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('<h3 id="CurrentDay" data-date="03/12/2021"></h3><p>Loading...</p>', Unparseable),
        ("<html><body>Choose a site</body></html>", Unparseable),
        ("<html><body>Access denied</body></html>", Blocked),
        ("<br />\n<b>Warning</b>:  mysqli_connect(): (HY000/2002)", UpstreamError),
    ],
)
def test_pages_that_must_raise(body: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        MercyScraper().parse(response(body))


def test_a_503_is_unreachable_not_empty() -> None:
    page = fixture_path(MercyScraper, "booking-page.html").read_bytes()
    with pytest.raises(Unreachable):
        MercyScraper().parse(response(page, status=503))


def test_valid_at_is_the_aware_date_header() -> None:
    header, instant = DATE_HEADER
    page = fixture_path(MercyScraper, "booking-page.html").read_bytes()
    assert only(MercyScraper().parse(response(page, headers={"Date": header}))).valid_at == instant


BODIES = [fixture_path(MercyScraper, n).read_bytes() for n in ("booking-page.html",)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(BODIES))
def test_damaged_pages_parse_or_raise_scrape_errors(case: tuple[int, bytes]) -> None:
    scraper = MercyScraper()
    page = response(case[1])

    def attempt() -> None:
        scraper.follow(page)
        assert all(isinstance(r, LocationAvailability) for r in scraper.parse_all([page]))

    raises_only_scrape_errors(attempt)
