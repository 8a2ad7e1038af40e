"""PrepMod clinics as locations: consolidation of blocks, ordering, and ``site_key``.

Each PrepMod clinic (one site on one date) is its own location; the core groups a site's
clinics back into one place through ``Scraper.site_key`` (``notifier.pipeline.poll.by_site``), so
these tests also run that real grouping on the scraper's output.
"""

from __future__ import annotations

import datetime as dt
import re

from notifier.model import Location, Status
from notifier.pipeline.poll import by_site
from notifier.scraping import Scraper
from scrapers.prepmod import PrepModScraper
from tests.scrapers.prepmod_pages import (
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

MAY_LINK = "https://clinics.maimmunizations.org/appointment/en/client/registration?clinic_id="
_FIRST_BLOCK = re.search(
    r'<div class="md:flex justify-between.*?<div class="map-image.*?</div>\s*</div>', MAY, re.S
)
assert _FIRST_BLOCK is not None
FIRST_BLOCK = _FIRST_BLOCK.group(0)  # the 05/13 clinic: 124, Moderna + Janssen, clinic_id=4470
SIGN_UP = re.compile(r'<p class="my-3 flex">.*?</p>', re.S)


def _with_blocks_before_first(*blocks: str) -> str:
    return MAY.replace(FIRST_BLOCK, "".join(blocks) + FIRST_BLOCK)


# --------------------------------------------------------------------------- consolidation


def test_blocks_with_the_same_title_add_up() -> None:
    twin = FIRST_BLOCK.replace(
        "<strong>Available Appointments:</strong>\n        124",
        "<strong>Available Appointments:</strong> 10",
    )
    assert twin != FIRST_BLOCK
    clinics = parse(MAY.replace(FIRST_BLOCK, FIRST_BLOCK + twin))
    assert len(clinics) == 3
    assert clinics[0].by_date == {dt.date(2021, 5, 13): 134}
    assert clinics[0].appointments == 134
    assert sum(c.appointments or 0 for c in clinics) == 236


def test_same_title_joins_products_and_keeps_the_link_of_the_block_that_has_one() -> None:
    # A full twin first (no link, so it counts 0) offering another vaccine and age group.
    twin = SIGN_UP.sub("", FIRST_BLOCK, count=1).replace(
        "Moderna COVID-19 Vaccine, Janssen COVID-19 Vaccine", "Pfizer-BioNTech COVID-19 Vaccine"
    )
    twin = re.sub(r"(Age groups served:</strong>)\s*Adults", r"\1 Seniors", twin)
    assert "registration?clinic_id" not in twin and "Seniors" in twin
    first, *_ = clinics = parse(_with_blocks_before_first(twin))
    assert len(clinics) == 3
    assert first.location.id == clinic_id(HAVERHILL, "2021-05-13")
    assert first.by_date == {dt.date(2021, 5, 13): 124}
    assert first.location.booking_url == f"{MAY_LINK}4470"
    assert first.products == ("Pfizer", "Moderna", "Janssen")
    assert first.age_groups == ("Seniors", "Adults")


def test_march_twin_blocks_merge_into_one_clinic_with_the_open_blocks_link() -> None:
    [first] = [c for c in parse(MARCH) if c.location.id == clinic_id(REGGIE, "2021-03-01")]
    assert first.by_date == {dt.date(2021, 3, 1): 100}
    assert first.location.booking_url == (
        "https://www.maimmunizations.org/client/registration?clinic_id=2530"
    )


def test_a_clinic_split_over_pages_is_one_location() -> None:
    scraper = PrepModScraper()
    page1 = page(with_nav(MAY, "/clinic/search?page=2"), SEARCH_URL)
    rest = FIRST_BLOCK.replace(
        "<strong>Available Appointments:</strong>\n        124",
        "<strong>Available Appointments:</strong> 6",
    ).replace("clinic_id=4470", "clinic_id=4471")
    page2 = page(MAY.replace(FIRST_BLOCK, rest), SEARCH_URL + "&page=2")
    clinics = scraper.parse_all([page1, page2])
    assert [c.appointments for c in clinics] == [130, 46, 158]
    assert clinics[0].location.booking_url == f"{MAY_LINK}4470"  # the first block's link


def test_clinics_come_out_grouped_by_site_and_in_date_order() -> None:
    other = (
        FIRST_BLOCK.replace("Citizen Center on", "Other Hall on")
        .replace("10 Welcome Street", "5 Main Street")
        .replace("clinic_id=4470", "clinic_id=9001")
    )
    june = MAY.replace("on 05/", "on 06/").replace("clinic_id=4", "clinic_id=5")
    scraper = PrepModScraper()
    # June is fetched first and Other Hall sits between two Citizen Center clinics.
    clinics = scraper.parse_all(
        [page(june, SEARCH_URL), page(_with_blocks_before_first(FIRST_BLOCK, other), SEARCH_URL)]
    )
    ids = [c.location.id for c in clinics]
    site = "other-hall-5-main-street-01830"
    days = ["2021-05-13", "2021-05-20", "2021-05-27", "2021-06-13", "2021-06-20", "2021-06-27"]
    assert ids == [clinic_id(HAVERHILL, d) for d in days] + [clinic_id(site, "2021-05-13")]
    assert len(set(ids)) == len(ids)


# --------------------------------------------------------------------------- site_key


def test_site_key_is_the_site_slug_of_every_clinic() -> None:
    scraper = PrepModScraper()
    assert {scraper.site_key(c.location) for c in parse(MAY)} == {HAVERHILL}
    assert {scraper.site_key(c.location) for c in parse(MARCH)} == {REGGIE}
    assert scraper.site_key(Location(id="citizen-center@2021-05-13", name="x")) == (
        "citizen-center"
    )
    assert scraper.site_key(Location(id="no-date", name="x")) == "no-date"
    # The base class keeps each location apart; PrepMod is what groups clinics.
    assert Scraper.site_key(scraper, Location(id=f"{HAVERHILL}@2021-05-13", name="x")) == (
        f"{HAVERHILL}@2021-05-13"
    )


def test_the_core_groups_a_sites_clinics_into_one_place() -> None:
    scraper = PrepModScraper()
    [(key, site)] = by_site("ma-prepmod", scraper, parse(MAY))
    assert key == f"ma-prepmod:{HAVERHILL}"
    assert site.location.name == "Citizen Center" and site.location.postal_code == "01830"
    assert {d.isoformat(): n for d, n in site.by_date.items()} == {
        "2021-05-13": 124, "2021-05-20": 23, "2021-05-27": 79,
    }  # fmt: skip
    assert site.appointments == 226 and site.status is Status.AVAILABLE
    assert site.products == ("Moderna", "Janssen")
    assert site.location.booking_url == f"{MAY_LINK}4470"

    [(_, march)] = by_site("ma-prepmod", scraper, parse(MARCH))
    assert len(march.by_date) == 7 and march.appointments == 102
    assert march.location.booking_url == (
        "https://www.maimmunizations.org/client/registration?clinic_id=2530"
    )


def test_the_grouped_site_links_to_its_earliest_open_clinic() -> None:
    closed = MAY.replace(
        "Available Appointments:</strong>\n        124", "Available Appointments:</strong> 0"
    )
    [(_, site)] = by_site("ma-prepmod", PrepModScraper(), parse(closed))
    assert site.by_date[dt.date(2021, 5, 13)] == 0
    assert site.location.booking_url == f"{MAY_LINK}4696"
    full = SIGN_UP.sub("", MAY)
    [(_, none)] = by_site("ma-prepmod", PrepModScraper(), parse(full))
    assert none.status is Status.NONE and none.location.booking_url is None
