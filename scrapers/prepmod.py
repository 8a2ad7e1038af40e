"""PrepMod clinic search pages: clinics.maimmunizations.org and the other state PrepMod hosts.

PrepMod, by the Multi-State Partnership for Prevention, runs the public-health clinic sign-up
sites of many states. Its search page lists one block per *clinic*, and a PrepMod clinic is one
date at one site: "Citizen Center on 05/13/2021", its address, "Label: value" lines (vaccines,
age groups, "Available Appointments: 124") and a sign-up link that disappears when the clinic is
full. Results are paged (``nav.pagination``, "Next" disabled on the last page).

What a location is, and how clinics are counted
-----------------------------------------------
A location here is one *clinic*: one site on one date, as PrepMod itself counts them. Its id
is the site's slug (normalised venue name, street and ZIP) and the clinic's local date,
``citizen-center-10-welcome-street-01830@2021-05-13``; its name is the cleaned venue name
("Citizen Center"), its ``by_date`` holds that one date, and its booking link, products and
age groups are the clinic's own. Blocks with the same title ("<site> on <date>") are one
clinic, as PrepMod sometimes splits a clinic in two: their counts add, their products and age
groups are joined, and the clinic keeps the sign-up link of whichever block has one.

So the May 2021 page is 3 locations (05/13 = 124, 05/20 = 23, 05/27 = 79) and the March 2021
page, 8 blocks of which two share a title, is 7 (03/01 = 100, 03/02..03/05 = 0, 03/06 = 2,
03/07 = 0). People still get one alert per *site* listing its dates: ``site_key`` maps every
clinic to its site slug (the part before "@") and the core merges a site's clinics before it
diffs. Locations come out grouped by site, each site's clinics in date order, so the merged
site keeps the link of its earliest open clinic.

Counting rules
--------------
* ``appointments`` is the clinic's "Available Appointments"; ``slots`` is None (counts only).
* A block whose sign-up link is gone is full or closed to sign-up, whatever its count says:
  it counts 0 and gives no link. A block with a link but no count is open, count unknown.
* A clinic that counts 0 has no booking link (nobody can book it); otherwise the link is its
  absolute sign-up URL. Clinics offering only other vaccines (flu...) are left out unless
  ``include_non_covid`` is set.

Rate limit: PrepMod publishes none, and its state sites sat behind a Queue-it waiting room at
peak demand. One poll is every page of one search, so polls run every 120 s by default and
never closer than 60 s, follow at most ``max_pages`` pages, and a 429 or 403 raises ``Blocked``
carrying the server's Retry-After.

Anything that is not a recognisable search page raises: a waiting room or challenge is
``Blocked``, an error page ``UpstreamError``, a 5xx ``Unreachable``, anything else
``Unparseable``. An empty list comes only from a search page that says it found nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier.geo import complete_location, normalize_postal_code
from notifier.model import Location, LocationAvailability
from notifier.scraping import (
    Blocked,
    Example,
    Request,
    Response,
    Scraper,
    Unparseable,
    Unreachable,
    UpstreamError,
)
from scrapers._prepmod.html import ClinicBlock, next_page_href, read_search_page
from scrapers._prepmod.text import clean_venue_name, slugify

__all__ = ["PrepModScraper", "PrepModSettings"]

log = logging.getLogger(__name__)

_CHARSET = re.compile(r"charset=([\w-]+)", re.IGNORECASE)


class PrepModSettings(BaseModel):
    """Which PrepMod host to poll and what to search for (the search form's own fields)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://clinics.maimmunizations.org"
    #: "/appointment/en/clinic/search" on hosts that put the language in the path
    search_path: str = "/clinic/search"
    #: ZIP code to search around ("location"); empty searches the whole state
    zip_code: str = ""
    #: "All", "5 miles", "10 miles", "25 miles", "50 miles" or "100 miles"
    search_radius: str = "All"
    #: part of a venue name ("q[venue_search_name_or_venue_name_i_cont]")
    venue_name: str = ""
    #: part of a vaccine name, e.g. "Pfizer" ("q[vaccinations_name_i_cont]")
    vaccine: str = ""
    services: tuple[str, ...] = ("Vaccination",)
    age_groups: tuple[str, ...] = ()
    #: pages followed per poll at most; a runaway "Next" link must not hammer the provider
    max_pages: int = Field(default=50, ge=1, le=500)
    include_non_covid: bool = False

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http(s) URL, got {value!r}")
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("search_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        return "/" + value.strip().lstrip("/")

    @field_validator("zip_code")
    @classmethod
    def _zip(cls, value: str) -> str:
        if not value.strip():
            return ""
        code = normalize_postal_code(value)
        if code is None:
            raise ValueError(f"zip_code must be a US ZIP code, got {value!r}")
        return code


_HAVERHILL_SITE = "citizen-center-10-welcome-street-01830"
_MAY_LINK = "https://clinics.maimmunizations.org/appointment/en/client/registration?clinic_id="
_EXAMPLE_MAY = {
    "locations": 3,
    "appointments": 226,
    "status": "available",
    "by_location": {
        f"{_HAVERHILL_SITE}@{day}": {
            "name": "Citizen Center", "address": "10 Welcome Street", "city": "Haverhill",
            "state": "MA", "postal_code": "01830", "appointments": count,
            "by_date": {day: count}, "products": products, "booking_url": f"{_MAY_LINK}{clinic}",
        }
        for day, count, products, clinic in (
            ("2021-05-13", 124, ["Moderna", "Janssen"], 4470),
            ("2021-05-20", 23, ["Moderna"], 4696),
            ("2021-05-27", 79, ["Moderna"], 4920),
        )
    },
}  # fmt: skip
_REGGIE_LEWIS_SITE = "reggie-lewis-state-track-athletic-ctr-1350-tremont-street-02120"
_MARCH_LINK = "https://www.maimmunizations.org/client/registration?clinic_id="
#: the March clinics: date, open appointments, sign-up link (none for a full clinic)
_MARCH_CLINICS = (
    ("2021-03-01", 100, f"{_MARCH_LINK}2530"),
    *((f"2021-03-0{d}", 0, None) for d in (2, 3, 4, 5)),
    ("2021-03-06", 2, f"{_MARCH_LINK}2535"),
    ("2021-03-07", 0, None),
)
_EXAMPLE_MARCH = {
    "locations": 7,
    "appointments": 102,
    "by_location": {
        f"{_REGGIE_LEWIS_SITE}@{day}": {
            "name": "Reggie Lewis State Track Athletic Ctr", "address": "1350 Tremont Street",
            "city": "Boston", "state": "MA", "postal_code": "02120",
            "status": "available" if count else "none", "appointments": count,
            "by_date": {day: count}, "products": ["Pfizer"], "booking_url": link,
        }
        for day, count, link in _MARCH_CLINICS
    },
}  # fmt: skip
_EXAMPLE_ALL_FULL = {
    "locations": 7,
    "appointments": 0,
    "status": "none",
    "by_location": {
        f"{_REGGIE_LEWIS_SITE}@{day}": {"by_date": {day: 0}, "booking_url": None}
        for day, _, _ in _MARCH_CLINICS
    },
}


class PrepModScraper(Scraper[PrepModSettings]):
    """PrepMod clinic search (HTML): one location per clinic date, grouped by site for alerts."""

    name = "prepmod"
    provider = "PrepMod"
    regions = (
        "US-MA", "US-WA", "US-AK", "US-CA", "US-CO", "US-IA", "US-ID", "US-MD", "US-MN",
        "US-MT", "US-ND", "US-PA", "US-RI", "US-VA", "US-WY",
    )  # fmt: skip
    maintainer = "appointment-notifier core team"
    default_interval = 120.0
    min_interval = 60.0
    source_format = "html"
    none_when = (
        "a clinic whose count is 0 or whose sign-up link is gone (all-full-2021-03.html)",
        "a search that lists no clinics",
    )
    unknown_when = (
        "Queue-it waiting rooms and maintenance pages served with 200",
        "a page that is not the clinic search",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(files=("maimmunizations-2021-05.html",), expect=_EXAMPLE_MAY,
                note="real page, May 2021 layout"),
        Example(files=("maimmunizations-2021-03.html",), expect=_EXAMPLE_MARCH,
                note="real page, March 2021 layout; two blocks share the 03/01 title"),
        Example(
            files=("all-full-2021-03.html",),
            expect=_EXAMPLE_ALL_FULL,
            note="the March page with every clinic full (edited real page)",
        ),
        Example(
            files=("optional-fields-missing.html",),
            expect={"locations": 3, "appointments": 226,
                    "by_location": {f"{_HAVERHILL_SITE}@2021-05-20": {
                        "products": [], "postal_code": "01830", "by_date": {"2021-05-20": 23}}}},
            note="optional-fields: phone, products, age_groups",
        ),
        Example(files=("no-clinics-found.html",), expect={"locations": 0},
                note="synthetic: a search that matched nothing"),
        Example(files=("waiting-room.html",), raises=Blocked, note="synthetic Queue-it page"),
        Example(files=("error-page.html",), raises=UpstreamError, note="synthetic Rails 500"),
        Example(files=("error-page-503.html",), raises=Unreachable,
                note="synthetic maintenance page served with HTTP 503 (sidecar)"),
        Example(files=("unrecognised-layout.html",), raises=Unparseable,
                note="synthetic: clinic blocks without the 'Name on date' title"),
    )  # fmt: skip

    # ---------------------------------------------------------------- requests

    def requests(self) -> list[Request]:
        s = self.settings
        params = [("q[services_name_in][]", service) for service in s.services]
        params += [("q[age_groups_name_in][]", group) for group in s.age_groups]
        params += [
            ("location", s.zip_code),
            ("search_radius", s.search_radius),
            ("q[venue_search_name_or_venue_name_i_cont]", s.venue_name),
            ("q[vaccinations_name_i_cont]", s.vaccine),
            ("commit", "Search"),
        ]
        url = f"{s.base_url}{s.search_path}?{urlencode(params)}"
        return [Request(url=url, label="clinic search page 1")]

    def follow(self, response: Response) -> list[Request]:
        """The next results page, unless "Next" is disabled (the last page)."""
        href = next_page_href(response.text())
        url = self._absolute(response, href) if href else None
        if url is None or url == response.url:
            return []
        if urlsplit(url).netloc not in (urlsplit(response.url).netloc, self._base_host()):
            log.warning("prepmod: next-page link leaves the PrepMod host; not followed")
            return []
        page = _page_number(url)
        if page is not None and page > self.settings.max_pages:
            log.warning("prepmod: stopped at max_pages=%d", self.settings.max_pages)
            return []
        return [Request(url=url, label=f"clinic search page {page or '?'}", listed=True)]

    # ---------------------------------------------------------------- parsing

    def parse(self, response: Response) -> list[LocationAvailability]:
        return self.parse_all([response])

    def parse_all(self, responses: Sequence[Response]) -> list[LocationAvailability]:
        """Every page of one poll together, so a clinic split over pages is one location."""
        clinics: dict[str, _Clinic] = {}
        # Each site's place (address completed from the ZIP once, not once per clinic), in
        # order of first appearance.
        sites: dict[str, tuple[int, Location]] = {}
        for response in responses:
            response.raise_for_status()
            for block in read_search_page(_markup(response)):
                if block.non_covid and not self.settings.include_non_covid:
                    continue
                link = self._absolute(response, block.booking_href) if block.booking_href else None
                site_id = _site_id(block)
                if site_id not in sites:
                    sites[site_id] = (len(sites), _place(site_id, block))
                clinic_id = f"{site_id}@{block.date.isoformat()}"
                clinic = clinics.get(clinic_id)
                if clinic is None:
                    clinic = clinics[clinic_id] = _Clinic(clinic_id, block.date, sites[site_id])
                clinic.add(block, link)
        # Grouped by site, each site's clinics by date: when the core merges a site's clinics
        # (``site_key``), the first link it meets is that of the earliest open clinic.
        ordered = sorted(clinics.values(), key=lambda c: (c.site[0], c.date))
        return [clinic.availability() for clinic in ordered]

    def site_key(self, location: Location) -> str:
        """The site a clinic belongs to: its id without the "@<date>" part."""
        return location.id.partition("@")[0]

    # ---------------------------------------------------------------- helpers

    def _base_host(self) -> str:
        return urlsplit(self.settings.base_url).netloc

    def _absolute(self, response: Response, href: str) -> str | None:
        """An absolute http(s) URL; a stored page (file://) resolves against ``base_url``."""
        try:
            base = response.url
            if urlsplit(base).scheme not in ("http", "https"):
                base = self.settings.base_url + "/"
            url = urljoin(base, href)
            return url if urlsplit(url).scheme in ("http", "https") else None
        except ValueError:  # "http://[broken" and the like: not a usable link
            return None


@dataclass
class _Clinic:
    """One clinic (one site on one date): the blocks with its title, over all pages of a poll."""

    id: str
    date: dt.date
    #: (order of first appearance, place) of the clinic's site
    site: tuple[int, Location]
    counts: list[int | None] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    age_groups: list[str] = field(default_factory=list)
    link: str | None = None

    def add(self, block: ClinicBlock, link: str | None) -> None:
        # No sign-up link means nobody can book, whatever the count says.
        count = block.available if link else 0
        self.counts.append(count)
        self.products += block.products
        self.age_groups += block.age_groups
        if link and self.link is None and count != 0:
            self.link = link

    def availability(self) -> LocationAvailability:
        known = [n for n in self.counts if n is not None]
        count = sum(known) if known else None
        # A full clinic cannot be booked: no link, even if one of its blocks had one.
        link = self.link if count != 0 else None
        location = replace(self.site[1], id=self.id, booking_url=link)
        return LocationAvailability.from_counts(
            location,
            {self.date: count},
            slots=None,
            products=self.products,
            age_groups=self.age_groups,
        )


def _place(site_id: str, block: ClinicBlock) -> Location:
    """The site of a block as a completed location (ZIP repaired, lat/lon, time zone)."""
    address = block.address
    location = Location(
        id=site_id,
        name=clean_venue_name(block.name, address),
        address=address.street,
        city=address.city,
        state=address.state,
        postal_code=address.postal_code,
    )
    return complete_location(location)


def _site_id(block: ClinicBlock) -> str:
    address = block.address
    name = clean_venue_name(block.name, address)
    postal = normalize_postal_code(address.postal_code) if address.postal_code else None
    if address.street and postal:
        return slugify(f"{name} {address.street} {postal}")
    return slugify(f"{name} {block.address_line or ''}")


def _markup(response: Response) -> str | bytes:
    """The body for the HTML parser: UTF-8 bytes as they are, anything else decoded first."""
    match = _CHARSET.search(response.header("content-type") or "")
    if match is None or match.group(1).lower() in ("utf-8", "utf8", "us-ascii", "ascii"):
        return response.body
    return response.text()


def _page_number(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("page")
    return int(values[0]) if values and values[0].isdigit() else None
