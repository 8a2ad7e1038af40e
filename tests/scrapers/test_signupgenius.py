"""SignUpGenius sheets: open = N, or y - x of "x of y slots filled"; a full sheet is 0."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from notifier.model import LocationAvailability, Status
from notifier.scraping import Blocked, Request, Unparseable, UpstreamError
from scrapers.signupgenius import SignUpGeniusScraper
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

INDEX = "https://www.whittierhealth.com/covid-vaccine-clinics/"


def only(results: list[LocationAvailability]) -> LocationAvailability:
    assert len(results) == 1
    return results[0]


def sheet(rows: str, date: str = "04/30/2021") -> str:
    """A minimal sheet in the real markup: the date header and one table of time rows."""
    return (
        f'<div class="SUGmain"><strong>Date: </strong>{date} (Fri.)<p></p></div>'
        f'<table><tr><td class="SUGtable">9:00am</td><td class="SUGtable">{rows}</td></tr></table>'
    )


def row(capacity: int, state: str) -> str:
    return (
        f'<table><tr><td><p class="SUGbigbold hrow">Vaccine Appointment ({capacity})</p></td>'
        f"<td>{state}</td></tr></table>"
    )


SIGN_UP = '<span class="SUGbutton rounded"><input name="siid" type="checkbox" value="1"></span>'


def test_sheet_of_04_29_has_49_open() -> None:
    result = only(parse_fixtures(SignUpGeniusScraper, "whittier-2021-04-29.html"))
    assert days(result) == {"2021-04-29": 49}
    assert (result.appointments, result.status) == (49, Status.AVAILABLE)
    # 10 rows wholly open (4 each) and 4 partly filled rows (1+3+2+1 of 4 filled: 9 open).
    assert result.slots == 14


def test_full_sheet_of_04_13_is_zero() -> None:
    result = only(parse_fixtures(SignUpGeniusScraper, "whittier-2021-04-13.html"))
    assert days(result) == {"2021-04-13": 0}
    assert (result.appointments, result.status) == (0, Status.NONE)


def test_two_sheets_of_one_clinic_merge_by_date() -> None:
    names = ("whittier-2021-04-13.html", "whittier-2021-04-29.html")
    result = only(parse_fixtures(SignUpGeniusScraper, *names))
    assert days(result) == {"2021-04-13": 0, "2021-04-29": 49}
    loc = result.location
    assert (loc.id, loc.postal_code, loc.time_zone) == (
        "whittier-bradford",
        "01835",
        "America/New_York",
    )
    assert loc.lat is not None and loc.lon is not None


@pytest.mark.parametrize(
    ("name", "total", "by_date"),
    [
        ("whittier-2021-04-29.html", 49, {"2021-04-29": 49}),
        ("whittier-2021-04-13.html", 0, {"2021-04-13": 0}),
    ],
)
def test_parse_command_json(name: str, total: int, by_date: dict[str, int]) -> None:
    code, document, _ = cli_parse("signupgenius", fixture_path(SignUpGeniusScraper, name))
    assert code == 0
    [location] = document["locations"]
    assert (location["appointments"], location["by_date"]) == (total, by_date)


def test_parse_command_exits_2_on_a_missing_sheet() -> None:
    path = fixture_path(SignUpGeniusScraper, "not-found-synthetic.html")
    code, _, stderr = cli_parse("signupgenius", path)
    assert code == 2
    assert stderr.startswith("upstream_error:")


@pytest.mark.parametrize(
    ("state", "open_"),
    [
        (SIGN_UP, 4),
        ('<span class="SUGbigbold">3 of 4 slots filled</span>' + SIGN_UP, 1),
        ('<span class="SUGsignups">Already filled</span>', 0),
    ],
)
def test_row_states(state: str, open_: int) -> None:
    result = only(SignUpGeniusScraper().parse(response(sheet(row(4, state)))))
    assert days(result) == {"2021-04-30": open_}


def test_rows_of_other_items_are_not_counted() -> None:
    body = sheet(row(4, SIGN_UP) + row(2, SIGN_UP).replace("Vaccine Appointment", "Volunteer"))
    assert days(only(SignUpGeniusScraper().parse(response(body)))) == {"2021-04-30": 4}
    every_item = SignUpGeniusScraper({"item_label": None}).parse(response(body))
    assert days(only(every_item)) == {"2021-04-30": 6}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (sheet(row(4, "<span>Sign Up is Locked</span>")), Unparseable),  # state unreadable
        (sheet(row(4, SIGN_UP), date="sometime soon"), Unparseable),  # no date
        (sheet(""), Unparseable),  # a sheet with no appointment rows
        ("<html><body>Welcome</body></html>", Unparseable),
        ("<html><script src='https://static.queue-it.net/q.js'></script></html>", Blocked),
        ("<html><body>The sign up has been deleted by its creator.</body></html>", UpstreamError),
    ],
)
def test_pages_that_must_raise(body: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        SignUpGeniusScraper().parse(response(body))


def test_index_page_leads_to_its_sheets_and_counts_nothing_itself() -> None:
    scraper = SignUpGeniusScraper()
    [first] = scraper.requests()
    assert (first.method, first.url) == ("GET", INDEX)
    index = response(
        '<a href="https://www.signupgenius.com/go/409054CA9AB2CA2FA7-429">Thursday April 29</a>'
        '<a href="https://www.signupgenius.com/go/409054CA9AB2CA2FA7-429">again</a>'
        '<a href="/contact">Contact us</a>',
        url=INDEX,
        request=first,
    )
    assert [r.url for r in scraper.follow(index)] == [
        "https://www.signupgenius.com/go/409054CA9AB2CA2FA7-429"
    ]
    sheet_page = response(
        fixture_path(SignUpGeniusScraper, "whittier-2021-04-29.html").read_bytes(),
        url="https://www.signupgenius.com/go/409054CA9AB2CA2FA7-429",
        request=Request(url="https://www.signupgenius.com/go/409054CA9AB2CA2FA7-429"),
    )
    assert days(only(scraper.parse_all([index, sheet_page]))) == {"2021-04-29": 49}


def test_index_page_without_sheet_links_raises() -> None:
    scraper = SignUpGeniusScraper()
    [first] = scraper.requests()
    with pytest.raises(Unparseable):
        scraper.parse(response("<html><body>No clinics</body></html>", url=INDEX, request=first))


def test_sheet_url_is_the_booking_link_when_no_clinic_page_is_set() -> None:
    scraper = SignUpGeniusScraper({"index_url": None, "booking_url": None})
    assert scraper.requests() == []
    result = only(
        parse_fixtures(
            SignUpGeniusScraper,
            "whittier-2021-04-29.html",
            settings={"index_url": None, "booking_url": None},
        )
    )
    assert result.location.booking_url == "https://www.signupgenius.com/go/409054CA9AB2CA2FA7-429"


def test_valid_at_is_the_aware_date_header() -> None:
    header, instant = DATE_HEADER
    page = fixture_path(SignUpGeniusScraper, "whittier-2021-04-29.html").read_bytes()
    result = only(SignUpGeniusScraper().parse(response(page, headers={"Date": header})))
    assert result.valid_at == instant


BODIES = [
    fixture_path(SignUpGeniusScraper, n).read_bytes()
    for n in ("whittier-2021-04-29.html", "whittier-2021-04-13.html")
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(BODIES))
def test_damaged_sheets_parse_or_raise_scrape_errors(case: tuple[int, bytes]) -> None:
    scraper = SignUpGeniusScraper()
    page = response(case[1])

    def attempt() -> None:
        scraper.follow(page)
        assert all(isinstance(r, LocationAvailability) for r in scraper.parse_all([page]))

    raises_only_scrape_errors(attempt)
