"""Acuity Scheduling: the three templates, paging, and what must raise instead of reading 0."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings

from notifier.model import LocationAvailability, Status
from notifier.scraping import (
    Blocked,
    Request,
    Unparseable,
    Unreachable,
    UpstreamError,
)
from scrapers.acuity import AcuityScraper
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


def example_settings(first_file: str) -> dict[str, object]:
    """The clinic settings the module's own example for ``first_file`` uses."""
    found = next(e for e in AcuityScraper.examples if e.files[0] == first_file)
    return dict(found.settings or {})


GLFHC = example_settings("glfhc-2021-04-14.html")
TRINITY = example_settings("trinity-2021-02.html")


def only(results: list[LocationAvailability]) -> LocationAvailability:
    assert len(results) == 1
    return results[0]


def sent_fields(request: Request) -> dict[str, str]:
    return dict(parse_qsl((request.data or b"").decode()))


# --------------------------------------------------------------------------- README values


def test_weekly_glfhc_counts_every_time_slot_by_day() -> None:
    result = only(parse_fixtures(AcuityScraper, "glfhc-2021-04-14.html", settings=GLFHC))
    assert (result.appointments, result.slots, result.status) == (53, 53, Status.AVAILABLE)
    assert days(result) == {"2021-04-14": 17, "2021-04-15": 22, "2021-04-16": 14}
    assert result.location.id == "glfhc-essex-street"
    assert result.location.postal_code == "01841"


@pytest.mark.parametrize(
    "name",
    ["glfhc-none.html", "harrington-none.html", "heywood-page2-none.html", "trinity-none.html"],
)
def test_none_pages_are_status_none_with_zero(name: str) -> None:
    result = only(parse_fixtures(AcuityScraper, name))
    assert result.status is Status.NONE
    assert result.appointments == 0
    assert all(n == 0 for n in result.by_date.values())


def test_weekly_harrington_three_days_nine_slots() -> None:
    result = only(parse_fixtures(AcuityScraper, "harrington-2021-03.html"))
    assert days(result) == {"2021-03-29": 4, "2021-04-07": 2, "2021-04-08": 3}
    assert result.appointments == 9


def test_class_list_skips_the_hidden_desktop_copy_of_each_row() -> None:
    result = only(parse_fixtures(AcuityScraper, "heywood-page2.html"))
    assert days(result) == {"2021-04-14": 107}
    # Both copies are on the page: counting the hidden-xs ones as well would give 214.
    body = fixture_path(AcuityScraper, "heywood-page2.html").read_text()
    assert body.count('class="class-signup-container hidden-xs"') == 15


def test_class_list_page1_is_full_but_pages_on() -> None:
    page1 = fixture_response(AcuityScraper, "heywood-page1.html")
    result = only(AcuityScraper().parse(page1))
    assert (result.appointments, result.status) == (0, Status.NONE)
    assert days(result) == {"2021-04-14": 0}
    [more] = AcuityScraper().follow(page1)
    assert sent_fields(more)["options[offset]"] == "15"


def test_three_class_pages_add_up_to_116() -> None:
    names = ("heywood-page1.html", "heywood-page2.html", "heywood-page3-synthetic.html")
    result = only(parse_fixtures(AcuityScraper, *names))
    assert days(result) == {"2021-04-14": 116}
    assert result.appointments == 116


def test_month_calendar_active_days_have_no_count() -> None:
    february = only(parse_fixtures(AcuityScraper, "trinity-2021-02.html", settings=TRINITY))
    assert days(february) == {"2021-02-25": None, "2021-02-26": None}
    assert (february.status, february.appointments, february.slots) == (
        Status.AVAILABLE,
        None,
        None,
    )
    march = only(parse_fixtures(AcuityScraper, "trinity-2021-03.html", settings=TRINITY))
    assert sorted(days(march)) == [f"2021-03-{d}" for d in (17, 18, 22, 23, 24, 25, 26)]
    assert set(days(march).values()) == {None}


def test_every_location_is_complete_and_booking_link_absolute() -> None:
    for settings_ in (None, GLFHC, TRINITY):
        loc = only(parse_fixtures(AcuityScraper, "glfhc-none.html", settings=settings_)).location
        assert loc.postal_code and loc.lat and loc.lon and loc.time_zone == "America/New_York"
        assert loc.booking_url and loc.booking_url.startswith("https://")
    trinity = only(parse_fixtures(AcuityScraper, "trinity-none.html", settings=TRINITY)).location
    assert trinity.booking_url == (
        "https://app.acuityscheduling.com/schedule.php"
        "?owner=21713854&appointmentType=19620839&calendarID=5109380"
    )


# --------------------------------------------------------------------------- the parse command


def test_parse_command_reports_116_for_the_three_pages() -> None:
    paths = [
        fixture_path(AcuityScraper, n)
        for n in ("heywood-page1.html", "heywood-page2.html", "heywood-page3-synthetic.html")
    ]
    code, document, _ = cli_parse("acuity", *paths)
    assert code == 0
    [location] = document["locations"]
    assert location["appointments"] == 116
    assert location["by_date"] == {"2021-04-14": 116}


@pytest.mark.parametrize(
    ("name", "total", "by_date"),
    [
        ("glfhc-2021-04-14.html", 53, {"2021-04-14": 17, "2021-04-15": 22, "2021-04-16": 14}),
        ("harrington-2021-03.html", 9, {"2021-03-29": 4, "2021-04-07": 2, "2021-04-08": 3}),
        ("heywood-page1.html", 0, {"2021-04-14": 0}),
        ("heywood-page2.html", 107, {"2021-04-14": 107}),
        ("trinity-2021-02.html", None, {"2021-02-25": None, "2021-02-26": None}),
        ("glfhc-none.html", 0, {}),
    ],
)
def test_parse_command_json(name: str, total: int | None, by_date: dict[str, int | None]) -> None:
    code, document, _ = cli_parse("acuity", fixture_path(AcuityScraper, name))
    assert code == 0
    [location] = document["locations"]
    assert (location["appointments"], location["by_date"]) == (total, by_date)


def test_parse_command_exits_2_on_the_error_page() -> None:
    code, _, stderr = cli_parse("acuity", fixture_path(AcuityScraper, "error-synthetic.html"))
    assert code == 2
    assert stderr.startswith("upstream_error:")


# --------------------------------------------------------------------------- requests, paging


def test_first_request_is_the_calendar_post() -> None:
    [request] = AcuityScraper(GLFHC).requests()
    assert (request.method, request.url) == ("POST", "https://glfhccovid19iz.as.me/schedule.php")
    assert dict(request.params) == {
        "action": "showCalendar",
        "fulldate": "1",
        "owner": "21956779",
        "template": "weekly",
    }
    fields = sent_fields(request)
    assert fields["type"] == "20223228"
    assert fields["calendar"] == fields["calendarID"] == "5075244"
    assert fields["options[numDays]"] == "5"
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")


def test_class_paging_follows_offsets_and_stops_at_max_pages() -> None:
    scraper = AcuityScraper({"max_pages": 3})
    [first] = scraper.requests()
    page1 = fixture_response(AcuityScraper, "heywood-page1.html", first)
    [second] = scraper.follow(page1)
    assert sent_fields(second)["options[offset]"] == "15"
    page2 = fixture_response(AcuityScraper, "heywood-page2.html", second)
    [third] = scraper.follow(page2)
    assert sent_fields(third)["options[offset]"] == "30"
    # Page 3 is the last one max_pages allows, even if the page offered More Times.
    assert scraper.follow(fixture_response(AcuityScraper, "heywood-page2.html", third)) == []
    assert scraper.follow(fixture_response(AcuityScraper, "heywood-page3-synthetic.html")) == []


def test_weekly_paging_only_while_weeks_have_openings() -> None:
    scraper = AcuityScraper(GLFHC)
    [first] = scraper.requests()
    [later] = scraper.follow(fixture_response(AcuityScraper, "glfhc-2021-04-14.html", first))
    fields = sent_fields(later)
    assert fields["month"] == "2021-05-12"
    assert fields["options[nextprev][2021-05-12]"] == "2021-04-10"
    assert scraper.follow(fixture_response(AcuityScraper, "glfhc-none.html", first)) == []


def test_monthly_first_page_asks_for_the_later_months_once() -> None:
    scraper = AcuityScraper(TRINITY)
    [first] = scraper.requests()
    later = scraper.follow(fixture_response(AcuityScraper, "trinity-2021-02.html", first))
    assert [sent_fields(r)["month"] for r in later] == ["2021-03-01", "2021-04-01"]
    assert scraper.follow(fixture_response(AcuityScraper, "trinity-2021-03.html", later[0])) == []


# --------------------------------------------------------------------------- must raise


def test_error_flash_raises_even_beside_a_no_times_message() -> None:
    with pytest.raises(UpstreamError, match="no longer available"):
        parse_fixtures(AcuityScraper, "error-synthetic.html")


def test_hidden_error_flash_and_noscript_warning_are_not_errors() -> None:
    body = (
        '<noscript><p class="alert alert-danger">Javascript must be enabled</p></noscript>'
        '<div class="pane error-flash alert alert-danger hidden" style="display:none;"></div>'
        '<span id="no-times-available-message">No times are available</span>'
    )
    assert only(AcuityScraper().parse(response(body))).status is Status.NONE


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            "<html><head><script src='https://static.queue-it.net/script/queueclient.min.js'>"
            "</script></head><body>You are now in line.</body></html>",
            Blocked,
        ),
        (
            "<html><title>Just a moment...</title><form id='challenge-form' "
            "action='/?__cf_chl_jschl_tk__=x'></form></html>",
            Blocked,
        ),
        (
            "<html><body><div class='g-recaptcha'></div>Please verify you are human</body></html>",
            Blocked,
        ),
        ("<html><body><h1>Welcome to our clinic</h1></body></html>", Unparseable),
        ("", Unparseable),
    ],
)
def test_waiting_rooms_and_unknown_pages_raise(body: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        AcuityScraper().parse(response(body))


def test_error_statuses_raise_with_retry_after() -> None:
    page = fixture_path(AcuityScraper, "glfhc-none.html").read_bytes()
    with pytest.raises(Blocked) as blocked:
        AcuityScraper().parse(response(page, status=429, headers={"Retry-After": "120"}))
    assert blocked.value.retry_after == 120
    with pytest.raises(Unreachable):
        AcuityScraper().parse(response(page, status=503))


# --------------------------------------------------------------------------- optional fields


def test_weekly_slot_without_readable_date_falls_back_to_its_value() -> None:
    body = (
        "<input type='radio' class='time-selection' value='2021-04-14 09:45'>"
        "<input type='radio' class='time-selection' data-readable-date='2021-04-15'>"
    )
    assert days(only(AcuityScraper().parse(response(body)))) == {"2021-04-14": 1, "2021-04-15": 1}
    with pytest.raises(Unparseable):
        AcuityScraper().parse(response("<input type='radio' class='time-selection'>"))


def test_class_without_spot_count_is_open_with_unknown_count() -> None:
    body = (
        "<table class='class-list'><tr class='class-date-row'><td>Thursday, April 15, 2021"
        "</td></tr><tr><td class='class-signup-container'>"
        "<a class='btn-class-signup' data-readable-date='April 15, 2021'>Sign up</a>"
        "</td></tr></table>"
    )
    result = only(AcuityScraper().parse(response(body)))
    assert days(result) == {"2021-04-15": None}
    assert (result.status, result.appointments) == (Status.AVAILABLE, None)


def test_valid_at_comes_from_the_date_header_and_is_aware() -> None:
    header, instant = DATE_HEADER
    page = fixture_path(AcuityScraper, "heywood-page2.html").read_bytes()
    result = only(AcuityScraper().parse(response(page, headers={"Date": header})))
    assert result.valid_at == instant
    assert result.valid_at is not None and result.valid_at.utcoffset() is not None


# --------------------------------------------------------------------------- fuzz

BODIES = [
    fixture_path(AcuityScraper, n).read_bytes()
    for n in ("glfhc-2021-04-14.html", "heywood-page2.html", "trinity-2021-03.html")
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(BODIES))
def test_damaged_pages_parse_or_raise_scrape_errors(case: tuple[int, bytes]) -> None:
    _, body = case
    scraper = AcuityScraper()
    page = response(body)

    def attempt() -> None:
        scraper.follow(page)
        results = scraper.parse_all([page])
        assert all(isinstance(r, LocationAvailability) for r in results)

    raises_only_scrape_errors(attempt)
