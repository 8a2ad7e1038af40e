"""The PrepMod clinic-search scraper against real and edited pages, offline."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from prepmod_pages import (
    FIXTURES,
    HAVERHILL,
    MARCH,
    MAY,
    REGGIE,
    SEARCH_URL,
    page,
    parse,
    with_nav,
)
from pydantic import ValidationError
from typer.testing import CliRunner

from notifier.cli import app
from notifier.model import Status
from notifier.offline import run_example
from notifier.scraping import Example
from scrapers._prepmod_html import read_search_page
from scrapers.prepmod import PrepModScraper

# --------------------------------------------------------------------------- real pages


def test_may_2021_layout_gives_one_site_with_three_clinic_dates() -> None:
    [site] = parse(MAY)
    assert site.location.id == HAVERHILL
    assert site.location.name == "Citizen Center"
    assert (site.location.address, site.location.city, site.location.state) == (
        "10 Welcome Street",
        "Haverhill",
        "MA",
    )
    assert site.location.postal_code == "01830"
    assert site.location.time_zone == "America/New_York"
    assert site.location.lat is not None and site.location.lon is not None
    assert site.by_date == {
        dt.date(2021, 5, 13): 124,
        dt.date(2021, 5, 20): 23,
        dt.date(2021, 5, 27): 79,
    }
    assert site.appointments == 226
    assert site.slots is None
    assert site.status is Status.AVAILABLE
    assert site.products == ("Moderna", "Janssen")
    assert site.age_groups == ("Adults",)
    assert site.location.booking_url == (
        "https://clinics.maimmunizations.org/appointment/en/client/registration?clinic_id=4470"
    )


def test_march_2021_layout_merges_eight_blocks_into_seven_clinics() -> None:
    blocks = read_search_page(MARCH)
    assert len(blocks) == 8
    assert len({b.title for b in blocks}) == 7
    [site] = parse(MARCH)
    assert site.location.id == REGGIE
    assert site.location.name == "Reggie Lewis State Track Athletic Ctr"
    assert (site.location.city, site.location.state, site.location.postal_code) == (
        "Boston",
        "MA",
        "02120",
    )
    assert {d.isoformat(): n for d, n in site.by_date.items()} == {
        "2021-03-01": 100,
        "2021-03-02": 0,
        "2021-03-03": 0,
        "2021-03-04": 0,
        "2021-03-05": 0,
        "2021-03-06": 2,
        "2021-03-07": 0,
    }
    assert site.appointments == 102
    assert site.products == ("Pfizer",)
    assert site.age_groups == ("Children", "Adults", "Seniors")
    # Blocks showing 0 have no link; the open ones do.
    assert [b.booking_href is not None for b in blocks] == [(b.available or 0) > 0 for b in blocks]
    assert site.location.booking_url == (
        "https://www.maimmunizations.org/client/registration?clinic_id=2530"
    )


@pytest.mark.parametrize("example", PrepModScraper.examples, ids=lambda e: e.files[0])
def test_examples_pass(example: Example) -> None:
    assert run_example(PrepModScraper, example) == []


def test_parse_command_json_shows_per_site_dates() -> None:
    result = CliRunner().invoke(
        app,
        ["scraper", "parse", "prepmod", str(FIXTURES / "maimmunizations-2021-05.html"), "--json"],
    )
    assert result.exit_code == 0, result.output
    [loc] = json.loads(result.stdout)["locations"]
    assert loc["by_date"] == {"2021-05-13": 124, "2021-05-20": 23, "2021-05-27": 79}
    assert loc["appointments"] == 226
    assert loc["products"] == ["Moderna", "Janssen"]


def test_parse_command_exits_2_on_a_waiting_room() -> None:
    result = CliRunner().invoke(
        app, ["scraper", "parse", "prepmod", str(FIXTURES / "waiting-room.html")]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("blocked:")


def test_by_date_keys_are_the_printed_local_dates() -> None:
    [site] = parse(MAY)
    assert all(type(day) is dt.date for day in site.by_date)
    assert site.location.time_zone == "America/New_York"


# --------------------------------------------------------------------------- consolidation


def test_blocks_with_the_same_title_add_up() -> None:
    first_block = re.search(
        r'<div class="md:flex justify-between.*?<div class="map-image.*?</div>\s*</div>', MAY, re.S
    )
    assert first_block is not None
    twin = first_block.group(0).replace(
        "<strong>Available Appointments:</strong>\n        124",
        "<strong>Available Appointments:</strong> 10",
    )
    assert twin != first_block.group(0)
    [site] = parse(MAY.replace(first_block.group(0), first_block.group(0) + twin))
    assert site.by_date[dt.date(2021, 5, 13)] == 134
    assert site.appointments == 236


def test_pages_of_one_poll_merge_into_one_site() -> None:
    scraper = PrepModScraper()
    page1 = page(with_nav(MAY, "/clinic/search?page=2"), SEARCH_URL)
    june = MAY.replace("on 05/", "on 06/").replace("clinic_id=4470", "clinic_id=5001")
    page2 = page(june, SEARCH_URL + "&page=2")
    [site] = scraper.parse_all([page1, page2])
    assert [d.isoformat() for d in site.by_date] == [
        "2021-05-13", "2021-05-20", "2021-05-27", "2021-06-13", "2021-06-20", "2021-06-27",
    ]  # fmt: skip
    assert site.appointments == 452
    assert site.location.booking_url is not None
    assert site.location.booking_url.endswith("clinic_id=4470")  # the earliest open clinic


# --------------------------------------------------------------------------- pagination


def test_follow_returns_the_next_page_when_next_is_a_link() -> None:
    scraper = PrepModScraper()
    body = with_nav(MAY, "/clinic/search?page=2&amp;search_radius=All")
    [request] = scraper.follow(page(body, SEARCH_URL))
    assert (
        request.url == "https://clinics.maimmunizations.org/clinic/search?page=2&search_radius=All"
    )
    # A stored page resolves the link against the configured host.
    [stored] = PrepModScraper({"base_url": "https://prepmod.doh.wa.gov/"}).follow(page(body))
    assert stored.url.startswith("https://prepmod.doh.wa.gov/clinic/search?page=2")


def test_follow_stops_on_the_last_page() -> None:
    scraper = PrepModScraper()
    assert scraper.follow(page(MAY, SEARCH_URL)) == []  # real page: "Next" is disabled
    assert scraper.follow(page(with_nav(MAY, None), SEARCH_URL)) == []
    assert scraper.follow(page((FIXTURES / "waiting-room.html").read_text(), SEARCH_URL)) == []


def test_follow_is_bounded_and_stays_on_the_provider() -> None:
    capped = PrepModScraper({"max_pages": 2})
    assert capped.follow(page(with_nav(MAY, "/clinic/search?page=3"), SEARCH_URL)) == []
    elsewhere = with_nav(MAY, "https://evil.example/clinic/search?page=2")
    assert PrepModScraper().follow(page(elsewhere, SEARCH_URL)) == []


def test_requests_builds_the_real_search_query() -> None:
    scraper = PrepModScraper(
        {
            "zip_code": "1830",
            "search_radius": "25 miles",
            "vaccine": "Pfizer",
            "age_groups": ["Adults"],
        }
    )
    [request] = scraper.requests()
    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "clinics.maimmunizations.org",
        "/clinic/search",
    )
    query = parse_qs(parts.query, keep_blank_values=True)
    assert query["q[services_name_in][]"] == ["Vaccination"]
    assert query["q[age_groups_name_in][]"] == ["Adults"]
    assert query["location"] == ["01830"]
    assert query["search_radius"] == ["25 miles"]
    assert query["q[vaccinations_name_i_cont]"] == ["Pfizer"]
    assert query["q[venue_search_name_or_venue_name_i_cont]"] == [""]
    assert query["commit"] == ["Search"]


@pytest.mark.parametrize(
    "settings", [{"base_url": "ftp://x"}, {"zip_code": "abc"}, {"max_pages": 0}, {"typo": 1}]
)
def test_bad_settings_are_refused(settings: dict) -> None:
    with pytest.raises(ValidationError):
        PrepModScraper(settings)


# --------------------------------------------------------------------------- links


def test_relative_link_uses_base_url_for_stored_pages_and_the_page_url_otherwise() -> None:
    relative = MAY.replace("https://clinics.maimmunizations.org/appointment", "/appointment")
    [stored] = parse(relative, base_url="https://www.example-prepmod.org")
    assert stored.location.booking_url == (
        "https://www.example-prepmod.org/appointment/en/client/registration?clinic_id=4470"
    )
    [fetched] = parse(relative, url="https://prepmod.doh.wa.gov/clinic/search?page=1")
    assert fetched.location.booking_url == (
        "https://prepmod.doh.wa.gov/appointment/en/client/registration?clinic_id=4470"
    )


def test_unusable_links_count_as_no_link() -> None:
    for href in ("javascript:void(0)", "http://[broken/registration", "mailto:x@y.z"):
        body = MAY.replace(
            "https://clinics.maimmunizations.org/appointment/en/client/registration?clinic_id=4470",
            href,
        )
        [site] = parse(body, url=SEARCH_URL)
        assert site.by_date[dt.date(2021, 5, 13)] == 0, href
        assert site.location.booking_url is not None
        assert site.location.booking_url.endswith("clinic_id=4696")


def test_full_site_has_no_link_and_a_count_without_a_link_is_not_bookable() -> None:
    [full] = parse((FIXTURES / "all-full-2021-03.html").read_text())
    assert full.status is Status.NONE
    assert full.location.booking_url is None
    no_links = re.sub(r'<p class="my-3 flex">.*?</p>', "", MAY, flags=re.S)
    [site] = parse(no_links)
    assert site.status is Status.NONE
    assert site.by_date == dict.fromkeys(site.by_date, 0)
    assert site.location.booking_url is None


def test_link_without_a_count_is_open_with_unknown_count() -> None:
    body = re.sub(r"<p>\s*<strong>Available Appointments:</strong>\s*\d+\s*</p>", "", MAY)
    [site] = parse(body)
    assert site.status is Status.AVAILABLE
    assert site.appointments is None
    assert set(site.by_date.values()) == {None}


# --------------------------------------------------------------------------- products


def test_non_covid_clinics_are_left_out_unless_asked_for() -> None:
    flu = MAY.replace("Moderna COVID-19 Vaccine\n", "Influenza Vaccine\n")
    [site] = parse(flu)
    assert sorted(site.by_date) == [dt.date(2021, 5, 13)]  # the other two offered only flu
    assert len(next(iter(parse(flu, include_non_covid=True))).by_date) == 3


def test_products_come_from_open_clinics() -> None:
    # Close the 05/13 clinic (the only one offering Janssen): Janssen is no longer on offer.
    closed = MAY.replace(
        "Available Appointments:</strong>\n        124", "Available Appointments:</strong> 0"
    )
    [site] = parse(closed)
    assert site.products == ("Moderna",)


# --------------------------------------------------------------------------- optional fields


def test_optional_fields_missing_still_parse() -> None:
    body = MAY
    for label in ("Vaccinations offered", "Age groups served", "Services offered",
                  "Additional Information", "Clinic Hours"):  # fmt: skip
        body = re.sub(rf"<p>\s*<strong>{label}.*?</p>", "", body, flags=re.S)
    body = re.sub(r"<div><strong>Special Instructions:.*?</div>", "", body)
    assert "Vaccinations offered" not in body and "Age groups" not in body
    [site] = parse(body)
    assert site.appointments == 226
    assert len(site.by_date) == 3
    assert site.products == () and site.age_groups == ()


def test_missing_address_still_parses_with_a_stable_id() -> None:
    body = MAY.replace("10 Welcome Street, Haverhill MA, 01830", "")
    first, second = parse(body), parse(body)
    [site] = first
    assert site.location.id == second[0].location.id == "citizen-center"
    assert site.location.postal_code is None and site.appointments == 226
