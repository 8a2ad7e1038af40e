"""The PrepMod clinic-search scraper against real and edited pages, offline."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.kit.replay import run_example
from notifier.model import Status
from notifier.scraping import Example
from scrapers._prepmod.html import read_search_page
from scrapers.prepmod import PrepModScraper
from tests.scrapers.prepmod_pages import (
    FIXTURES,
    HAVERHILL,
    MARCH,
    MAY,
    REGGIE,
    SEARCH_URL,
    clinic_id,
    page,
    parse,
    with_nav,
)

# --------------------------------------------------------------------------- real pages

MAY_LINK = "https://clinics.maimmunizations.org/appointment/en/client/registration?clinic_id="
MARCH_LINK = "https://www.maimmunizations.org/client/registration?clinic_id="


def test_may_2021_layout_gives_three_clinics_each_its_own_location() -> None:
    clinics = parse(MAY)
    assert [c.location.id for c in clinics] == [
        clinic_id(HAVERHILL, day) for day in ("2021-05-13", "2021-05-20", "2021-05-27")
    ]
    for clinic in clinics:
        loc = clinic.location
        assert loc.name == "Citizen Center"
        assert (loc.address, loc.city, loc.state, loc.postal_code) == (
            "10 Welcome Street", "Haverhill", "MA", "01830",
        )  # fmt: skip
        assert loc.time_zone == "America/New_York"
        assert loc.lat is not None and loc.lon is not None
        assert clinic.slots is None
        assert clinic.status is Status.AVAILABLE
        assert clinic.age_groups == ("Adults",)
    assert [c.by_date for c in clinics] == [
        {dt.date(2021, 5, 13): 124},
        {dt.date(2021, 5, 20): 23},
        {dt.date(2021, 5, 27): 79},
    ]
    assert [c.appointments for c in clinics] == [124, 23, 79]
    assert [c.products for c in clinics] == [("Moderna", "Janssen"), ("Moderna",), ("Moderna",)]
    assert [c.location.booking_url for c in clinics] == [
        f"{MAY_LINK}4470", f"{MAY_LINK}4696", f"{MAY_LINK}4920",
    ]  # fmt: skip


def test_march_2021_layout_merges_eight_blocks_into_seven_clinics() -> None:
    blocks = read_search_page(MARCH)
    assert len(blocks) == 8
    assert len({b.title for b in blocks}) == 7
    clinics = parse(MARCH)
    assert len(clinics) == 7
    assert {c.location.name for c in clinics} == {"Reggie Lewis State Track Athletic Ctr"}
    assert {(c.location.city, c.location.state, c.location.postal_code) for c in clinics} == {
        ("Boston", "MA", "02120")
    }
    by_id = {c.location.id: c for c in clinics}
    expected = {
        "2021-03-01": (100, f"{MARCH_LINK}2530"),
        "2021-03-02": (0, None),
        "2021-03-03": (0, None),
        "2021-03-04": (0, None),
        "2021-03-05": (0, None),
        "2021-03-06": (2, f"{MARCH_LINK}2535"),
        "2021-03-07": (0, None),
    }
    assert list(by_id) == [clinic_id(REGGIE, day) for day in expected]
    for day, (count, link) in expected.items():
        clinic = by_id[clinic_id(REGGIE, day)]
        assert clinic.by_date == {dt.date.fromisoformat(day): count}, day
        assert clinic.appointments == count, day
        assert clinic.status is (Status.AVAILABLE if count else Status.NONE), day
        # Blocks showing 0 have no link; the open ones do.
        assert clinic.location.booking_url == link, day
        assert clinic.products == ("Pfizer",)
        assert clinic.age_groups == ("Children", "Adults", "Seniors")
    assert [b.booking_href is not None for b in blocks] == [(b.available or 0) > 0 for b in blocks]


@pytest.mark.parametrize("example", PrepModScraper.examples, ids=lambda e: e.files[0])
def test_examples_pass(example: Example) -> None:
    assert run_example(PrepModScraper, example) == []


def _parse_json(name: str) -> list[dict]:
    result = CliRunner().invoke(
        app, ["scraper", "parse", "prepmod", str(FIXTURES / name), "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["locations"]


def test_parse_command_json_shows_one_location_per_clinic() -> None:
    locations = _parse_json("maimmunizations-2021-05.html")
    assert [loc["by_date"] for loc in locations] == [
        {"2021-05-13": 124}, {"2021-05-20": 23}, {"2021-05-27": 79},
    ]  # fmt: skip
    assert [loc["appointments"] for loc in locations] == [124, 23, 79]
    assert [loc["products"] for loc in locations] == [
        ["Moderna", "Janssen"], ["Moderna"], ["Moderna"],
    ]  # fmt: skip
    assert {loc["postal_code"] for loc in locations} == {"01830"}


def test_parse_command_json_gives_full_clinics_no_link() -> None:
    locations = _parse_json("maimmunizations-2021-03.html")
    assert len(locations) == 7
    assert [loc["booking_url"] is None for loc in locations] == [
        loc["appointments"] == 0 for loc in locations
    ]
    assert sum(loc["booking_url"] is None for loc in locations) == 5


def test_parse_command_exits_2_on_a_waiting_room() -> None:
    result = CliRunner().invoke(
        app, ["scraper", "parse", "prepmod", str(FIXTURES / "waiting-room.html")]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("blocked:")


def test_by_date_keys_are_the_printed_local_dates() -> None:
    for clinic in parse(MAY):
        [day] = clinic.by_date
        assert type(day) is dt.date
        assert clinic.location.id.endswith("@" + day.isoformat())
        assert clinic.location.time_zone == "America/New_York"


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
    stored = parse(relative, base_url="https://www.example-prepmod.org")
    assert stored[0].location.booking_url == (
        "https://www.example-prepmod.org/appointment/en/client/registration?clinic_id=4470"
    )
    fetched = parse(relative, url="https://prepmod.doh.wa.gov/clinic/search?page=1")
    assert [c.location.booking_url for c in fetched] == [
        f"https://prepmod.doh.wa.gov/appointment/en/client/registration?clinic_id={n}"
        for n in (4470, 4696, 4920)
    ]


def test_unusable_links_count_as_no_link() -> None:
    for href in ("javascript:void(0)", "http://[broken/registration", "mailto:x@y.z"):
        body = MAY.replace(f"{MAY_LINK}4470", href)
        first, second, third = parse(body, url=SEARCH_URL)
        assert first.by_date == {dt.date(2021, 5, 13): 0}, href
        assert first.location.booking_url is None and first.status is Status.NONE
        assert second.location.booking_url == f"{MAY_LINK}4696"
        assert third.location.booking_url == f"{MAY_LINK}4920"


def test_full_clinics_have_no_link_and_a_count_without_a_link_is_not_bookable() -> None:
    full = parse((FIXTURES / "all-full-2021-03.html").read_text())
    assert len(full) == 7
    assert {c.status for c in full} == {Status.NONE}
    assert {c.location.booking_url for c in full} == {None}
    no_links = re.sub(r'<p class="my-3 flex">.*?</p>', "", MAY, flags=re.S)
    clinics = parse(no_links)
    assert len(clinics) == 3
    assert {c.status for c in clinics} == {Status.NONE}
    assert [list(c.by_date.values()) for c in clinics] == [[0], [0], [0]]
    assert {c.location.booking_url for c in clinics} == {None}


CLOSED_0513 = MAY.replace(
    "Available Appointments:</strong>\n        124", "Available Appointments:</strong> 0"
)


def test_a_link_on_a_clinic_counting_zero_is_not_offered() -> None:
    assert CLOSED_0513 != MAY
    first, second, _ = parse(CLOSED_0513)
    assert first.appointments == 0 and first.status is Status.NONE
    assert first.location.booking_url is None
    assert second.location.booking_url == f"{MAY_LINK}4696"


def test_link_without_a_count_is_open_with_unknown_count() -> None:
    body = re.sub(r"<p>\s*<strong>Available Appointments:</strong>\s*\d+\s*</p>", "", MAY)
    clinics = parse(body)
    assert len(clinics) == 3
    for clinic in clinics:
        assert clinic.status is Status.AVAILABLE
        assert clinic.appointments is None
        assert list(clinic.by_date.values()) == [None]
        assert clinic.location.booking_url is not None


# --------------------------------------------------------------------------- products


def test_non_covid_clinics_are_left_out_unless_asked_for() -> None:
    flu = MAY.replace("Moderna COVID-19 Vaccine\n", "Influenza Vaccine\n")
    [clinic] = parse(flu)  # the other two offered only flu
    assert clinic.location.id == clinic_id(HAVERHILL, "2021-05-13")
    assert len(parse(flu, include_non_covid=True)) == 3


def test_each_clinic_has_its_own_products() -> None:
    # Closing the 05/13 clinic (the only one offering Janssen) does not change what the
    # others offer, and the closed clinic still says what it offers.
    first, *others = parse(CLOSED_0513)
    assert first.products == ("Moderna", "Janssen") and first.status is Status.NONE
    assert [c.products for c in others] == [("Moderna",), ("Moderna",)]
    assert all(c.status is Status.AVAILABLE for c in others)


# --------------------------------------------------------------------------- optional fields


def test_optional_fields_missing_still_parse() -> None:
    body = MAY
    for label in ("Vaccinations offered", "Age groups served", "Services offered",
                  "Additional Information", "Clinic Hours"):  # fmt: skip
        body = re.sub(rf"<p>\s*<strong>{label}.*?</p>", "", body, flags=re.S)
    body = re.sub(r"<div><strong>Special Instructions:.*?</div>", "", body)
    assert "Vaccinations offered" not in body and "Age groups" not in body
    clinics = parse(body)
    assert [c.appointments for c in clinics] == [124, 23, 79]
    assert all(c.products == () and c.age_groups == () for c in clinics)


def test_missing_address_still_parses_with_stable_ids() -> None:
    body = MAY.replace("10 Welcome Street, Haverhill MA, 01830", "")
    first, second = parse(body), parse(body)
    assert [c.location.id for c in first] == [c.location.id for c in second] == [
        "citizen-center@2021-05-13", "citizen-center@2021-05-20", "citizen-center@2021-05-27",
    ]  # fmt: skip
    assert {c.location.postal_code for c in first} == {None}
    assert sum(c.appointments or 0 for c in first) == 226
