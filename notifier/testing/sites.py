"""The Massachusetts mass vaccination sites the simulator replays.

Names and street addresses are the real 2021 sites; coordinates are approximate. ``source``
says which page format serves a site: the PrepMod clinic search (HTML) or a SMART Scheduling
Links feed. ``weight`` is the site's share of a release (Gillette and Fenway were the largest).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["MASS_VACCINATION_SITES", "Site", "SiteSource", "sites_by_id"]

SiteSource = Literal["prepmod", "smart"]


@dataclass(frozen=True, slots=True)
class Site:
    """One vaccination site; its clinics are one per clinic date."""

    id: str
    name: str
    street: str
    city: str
    postal_code: str
    lat: float
    lon: float
    source: SiteSource
    weight: float
    vaccine: str
    cvx: str
    county: str = ""
    state: str = "MA"
    age_groups: str = "Adults, Seniors"
    #: opening hours, local time, as "HH:MM"; SMART slots are cut from them
    opens: str = "08:00"
    closes: str = "20:00"
    slot_minutes: int = 15

    @property
    def address_line(self) -> str:
        """The address as PrepMod prints it: "10 Welcome Street, Haverhill MA, 01830"."""
        return f"{self.street}, {self.city} {self.state}, {self.postal_code}"


MASS_VACCINATION_SITES: tuple[Site, ...] = (
    Site(
        id="gillette-stadium",
        county="Norfolk",
        name="Gillette Stadium",
        street="1 Patriot Place",
        city="Foxborough",
        postal_code="02035",
        lat=42.0909,
        lon=-71.2643,
        source="prepmod",
        weight=0.26,
        vaccine="Pfizer-BioNTech COVID-19 Vaccine",
        cvx="208",
    ),
    Site(
        id="fenway-park",
        county="Suffolk",
        name="Fenway Park",
        street="4 Jersey Street",
        city="Boston",
        postal_code="02215",
        lat=42.3467,
        lon=-71.0972,
        source="prepmod",
        weight=0.18,
        vaccine="Pfizer-BioNTech COVID-19 Vaccine",
        cvx="208",
    ),
    Site(
        id="doubletree-danvers",
        county="Essex",
        name="DoubleTree by Hilton Hotel Boston North Shore",
        street="50 Ferncroft Road",
        city="Danvers",
        postal_code="01923",
        lat=42.5870,
        lon=-70.9870,
        source="prepmod",
        weight=0.12,
        vaccine="Pfizer-BioNTech COVID-19 Vaccine",
        cvx="208",
    ),
    Site(
        id="natick-mall",
        county="Middlesex",
        name="Natick Mall",
        street="1245 Worcester Street",
        city="Natick",
        postal_code="01760",
        lat=42.3003,
        lon=-71.3823,
        source="prepmod",
        weight=0.16,
        vaccine="Moderna COVID-19 Vaccine",
        cvx="207",
    ),
    Site(
        id="eastfield-mall",
        county="Hampden",
        name="Eastfield Mall",
        street="1655 Boston Road",
        city="Springfield",
        postal_code="01129",
        lat=42.1330,
        lon=-72.4830,
        source="smart",
        weight=0.14,
        vaccine="Pfizer-BioNTech COVID-19 Vaccine",
        cvx="208",
    ),
    Site(
        id="dartmouth-circuit-city",
        county="Bristol",
        name="Former Circuit City, Dartmouth",
        street="447 State Road",
        city="Dartmouth",
        postal_code="02747",
        lat=41.6370,
        lon=-70.9870,
        source="smart",
        weight=0.14,
        vaccine="Moderna COVID-19 Vaccine",
        cvx="207",
    ),
)


def sites_by_id(sites: Iterable[Site]) -> dict[str, Site]:
    """Sites keyed by id; a repeated id or a weight <= 0 is a configuration error."""
    index: dict[str, Site] = {}
    for site in sites:
        if site.id in index:
            raise ValueError(f"site id {site.id!r} is used twice")
        if site.weight <= 0:
            raise ValueError(f"site {site.id!r}: weight must be positive, got {site.weight}")
        index[site.id] = site
    return index
