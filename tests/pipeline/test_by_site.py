"""The core groups a provider's clinics into places before diffing (``Scraper.site_key``)."""

from __future__ import annotations

import datetime as dt

from notifier.model import Location, LocationAvailability, Status
from notifier.pipeline.poll import by_site
from notifier.scraping import Scraper


class ClinicScraper(Scraper):
    """Locations "site@date"; no ``name`` so that it does not register."""

    def site_key(self, location: Location) -> str:
        return location.id.split("@")[0]


def clinic(day: int, n: int, product: str, link: str | None) -> LocationAvailability:
    date = dt.date(2021, 5, day)
    return LocationAvailability.from_counts(
        Location(id=f"citizen-center@{date}", name="Citizen Center", booking_url=link),
        {date: n},
        products=[product],
    )


def test_clinics_of_one_place_become_one_location_with_open_products_only() -> None:
    results = [clinic(13, 0, "Janssen", None), clinic(20, 23, "Moderna", "https://x/23")]
    [(key, place)] = by_site("ma-prepmod", ClinicScraper(), results)
    assert key == "ma-prepmod:citizen-center"
    assert place.status is Status.AVAILABLE and place.appointments == 23
    assert place.by_date == {dt.date(2021, 5, 13): 0, dt.date(2021, 5, 20): 23}
    assert place.products == ("Moderna",)
    assert place.location.booking_url == "https://x/23"


def test_default_site_key_keeps_locations_apart() -> None:
    results = [clinic(13, 5, "Moderna", "a"), clinic(20, 6, "Moderna", "b")]
    keys = [k for k, _ in by_site("p", Scraper(), results)]
    assert keys == ["p:citizen-center@2021-05-13", "p:citizen-center@2021-05-20"]
