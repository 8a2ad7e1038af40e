"""SignUpGenius sheets that clinics used as appointment books (one sheet per clinic day).

A sheet (``https://www.signupgenius.com/go/<id>``) shows its day once ("Date: 04/29/2021") and a
table of time rows. Each row offers an item with a capacity, "Vaccine Appointment (4)", and
says how full it is:

* "x of y slots filled" beside a sign-up button: y - x are open;
* a sign-up button alone: all N are open;
* "Already filled": none are.

A sheet with nothing left says "NO SLOTS AVAILABLE. SIGN UP IS FULL." and counts 0 for its day.
Clinics post new sheets every few days, so the scraper can start from the clinic's own page
(``index_url``) and follow every SignUpGenius link on it, besides any fixed ``sheet_urls``. An
index page with no sheet link, a sheet without a date, or a row whose state cannot be read
raises: none of them is a safe "no appointments". The defaults describe Whittier
Rehabilitation Hospital's Bradford clinic, whose sheets are in the fixtures.

Rate limit: SignUpGenius documents none for public sheets. A poll is the index page plus at most
``max_sheets`` sheets, and polls are at least a minute apart (five minutes by default).
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, Tag
from pydantic import BaseModel, ConfigDict, Field

from notifier.geo import complete_location
from notifier.model import Location, LocationAvailability
from notifier.scraping import (
    Example,
    Request,
    Response,
    ScrapeError,
    Scraper,
    Unparseable,
    UpstreamError,
)
from scrapers._html import (
    add_count,
    html_document,
    raise_unrecognised,
    response_date,
    squash,
)

__all__ = ["SignUpGeniusScraper", "SignUpGeniusSettings"]

_SHEET_LINK = re.compile(r"^https?://(www\.)?signupgenius\.com/go/[\w-]+", re.I)
_DATE = re.compile(r"Date:\s*(\d{1,2})/(\d{1,2})/(\d{4})")
_ITEM = re.compile(r"^(?P<label>.*?)\s*\((?P<capacity>\d{1,5})\)$")
_FILLED = re.compile(r"(\d{1,5})\s+of\s+(\d{1,5})\s+slots?\s+filled", re.I)
_FULL = "sign up is full"
_ERRORS = (
    "could not be found",
    "was not found",
    "no longer available",
    "has been deleted",
    "has been removed",
    "has expired",
)


class SignUpGeniusSettings(BaseModel):
    """The sheets of one clinic, and the clinic (SignUpGenius pages carry no address)."""

    model_config = ConfigDict(extra="forbid")

    index_url: str | None = Field(
        "https://www.whittierhealth.com/covid-vaccine-clinics/",
        description="A clinic page linking to its current sheets; every sheet link is followed.",
    )
    sheet_urls: list[str] = Field(default_factory=list, description="Sheets to poll always.")
    max_sheets: int = Field(20, ge=1, le=60, description="Sheets followed from the index page.")
    item_label: str | None = Field(
        "Vaccine Appointment", description="Count only items whose title starts with this."
    )
    location_id: str = "whittier-bradford"
    name: str = "Whittier Rehabilitation Hospital (Bradford)"
    address: str | None = "145 Ward Hill Ave"
    city: str | None = "Haverhill"
    state: str | None = "MA"
    postal_code: str | None = "01835"
    lat: float | None = None
    lon: float | None = None
    time_zone: str | None = None
    phone: str | None = None
    booking_url: str | None = Field(
        "https://www.whittierhealth.com/covid-vaccine-clinics/",
        description="Where people book; defaults to the sheet itself when unset.",
    )


def _sheet_day(doc: BeautifulSoup) -> dt.date | None:
    match = _DATE.search(squash(doc.get_text(" ")))
    if match is None:
        return None
    month, day, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _row_open(cell: Tag, capacity: int) -> int:
    """Open appointments in one time row (``cell`` is the row holding the item)."""
    text = squash(cell.get_text(" "))
    filled = _FILLED.search(text)
    if filled is not None:
        return max(0, int(filled.group(2)) - int(filled.group(1)))
    if "already filled" in text.lower():
        return 0
    if cell.select_one("input[name=siid], .SUGbutton") is not None:
        return capacity
    raise Unparseable(f"a SignUpGenius row says neither filled nor open: {text[:120]!r}")


def _is_sheet(doc: BeautifulSoup) -> bool:
    return doc.select_one(".SUGtable, .SUGmain, #submitfooter") is not None


class SignUpGeniusScraper(Scraper[SignUpGeniusSettings]):
    """SignUpGenius sign-up sheets used as clinic appointment books."""

    name = "signupgenius"
    provider = "SignUpGenius (clinic sign-up sheets)"
    regions = ("US-MA",)
    maintainer = "scrapers team <scrapers@appointment-notifier.org>"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "html"
    none_when = ("a slot row that says 'Already filled' or 'sign up is full'",)
    unknown_when = (
        "a sheet that could not be found, was deleted, removed or has expired "
        "(not-found-synthetic.html)",
        "a row that says neither filled nor open",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("whittier-2021-04-29.html",),
            expect={
                "locations": 1,
                "appointments": 49,
                "by_location": {
                    "whittier-bradford": {
                        "status": "available",
                        "appointments": 49,
                        "by_date": {"2021-04-29": 49},
                        "postal_code": "01835",
                    }
                },
            },
            note="optional-fields: phone, valid_at, products",
        ),
        Example(
            files=("whittier-2021-04-13.html",),
            expect={
                "locations": 1,
                "appointments": 0,
                "status": "none",
                "by_location": {"whittier-bradford": {"by_date": {"2021-04-13": 0}}},
            },
        ),
        Example(
            files=("whittier-2021-04-13.html", "whittier-2021-04-29.html"),
            expect={
                "locations": 1,
                "appointments": 49,
                "by_location": {
                    "whittier-bradford": {"by_date": {"2021-04-13": 0, "2021-04-29": 49}}
                },
            },
            note="one poll of two sheets of the same clinic",
        ),
        Example(files=("not-found-synthetic.html",), raises=UpstreamError),
    )

    # ------------------------------------------------------------------ requests

    def requests(self) -> list[Request]:
        c = self.settings
        found = [Request(url=c.index_url, label="clinic page")] if c.index_url else []
        return found + [Request(url=url, label="sign-up sheet") for url in c.sheet_urls]

    def _is_index(self, response: Response) -> bool:
        index = self.settings.index_url
        return bool(index) and response.request.url == index

    def follow(self, response: Response) -> list[Request]:
        """Every sheet linked from the clinic's page (sheets themselves lead nowhere)."""
        if not self._is_index(response):
            return []
        try:
            doc = html_document(response)
        except ScrapeError:
            return []  # parse() reports it
        known = set(self.settings.sheet_urls)
        links: list[str] = []
        for anchor in doc.select("a[href]"):
            href = urljoin(response.url, str(anchor.get("href", "")).strip())
            if _SHEET_LINK.match(href) and href not in known and href not in links:
                links.append(href)
        sheets = links[: self.settings.max_sheets]
        return [Request(url=u, label="sign-up sheet", listed=True) for u in sheets]

    # ------------------------------------------------------------------ parsing

    def location(self, sheet_url: str | None = None) -> Location:
        c = self.settings
        return complete_location(
            Location(
                id=c.location_id,
                name=c.name,
                address=c.address,
                city=c.city,
                state=c.state,
                postal_code=c.postal_code,
                lat=c.lat,
                lon=c.lon,
                time_zone=c.time_zone,
                booking_url=c.booking_url or sheet_url,
                phone=c.phone,
            )
        )

    def parse(self, response: Response) -> list[LocationAvailability]:
        doc = html_document(response)
        if self._is_index(response):
            if not self.follow(response):
                raise Unparseable(f"{response.url} links to no SignUpGenius sheet")
            return []  # the clinic page only lists sheets; each sheet is parsed on its own
        if not _is_sheet(doc):
            text = squash(doc.get_text(" ")).lower()
            error = next((e for e in _ERRORS if e in text), None)
            if error is not None:
                raise UpstreamError(f"SignUpGenius answered an error page ({error})")
            raise_unrecognised(response, "a SignUpGenius sheet")
        day = _sheet_day(doc)
        if day is None:
            raise Unparseable("the SignUpGenius sheet shows no 'Date: MM/DD/YYYY'")
        by_date: dict[dt.date, int | None] = {}
        open_rows = 0
        if _FULL in squash(doc.get_text(" ")).lower():
            add_count(by_date, day, 0)
        else:
            for count in self._row_counts(doc):
                add_count(by_date, day, count)
                open_rows += count > 0
            if not by_date:
                raise_unrecognised(response, "a SignUpGenius sheet with appointment rows")
        return [
            LocationAvailability.from_counts(
                self.location(self._sheet_url(response, doc)),
                by_date,
                slots=open_rows,
                valid_at=response_date(response),
            )
        ]

    def _row_counts(self, doc: BeautifulSoup) -> list[int]:
        counts: list[int] = []
        label = (self.settings.item_label or "").lower()
        for title in doc.select("p.SUGbigbold, .hrow"):
            match = _ITEM.match(squash(title.get_text(" ")))
            if match is None or not match.group("label").lower().startswith(label):
                continue
            row = title.find_parent("tr")
            if row is None:
                raise Unparseable("a SignUpGenius item is not inside a table row")
            counts.append(_row_open(row, int(match.group("capacity"))))
        return counts

    @staticmethod
    def _sheet_url(response: Response, doc: BeautifulSoup) -> str | None:
        if urlsplit(response.url).scheme in ("http", "https"):
            return response.url
        # Offline, the sheet's own links name it: "...&urlID=409054CA9AB2CA2FA7-429".
        for anchor in doc.select("a[href*='urlID=']"):
            match = re.search(r"urlID=([\w-]+)", str(anchor.get("href", "")))
            if match:
                return f"https://www.signupgenius.com/go/{match.group(1)}"
        return None
