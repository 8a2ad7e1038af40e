"""Mercy Medical Center (Trinity Health Of New England), Springfield MA: its own booking app.

The app at ``apps.sphp.com/THofNECOVIDVaccinations`` shows one day at a time. The page's script
posts ``ScheduleDay=MM/DD/YYYY`` to ``livesearch.php`` (with the site chosen by a ``SiteName``
cookie) and gets an HTML fragment back: the day in ``#CurrentDay[data-date]`` and one
"Reserve Appointment" button per open 15-minute slot. A day with nothing open says "There are
no open appointments on this day." A poll asks for each of the next ``days`` days.

A PHP error in place of the fragment raises ``UpstreamError``; a fragment without a day or
without either buttons or the "no open appointments" sentence raises ``Unparseable``.

Rate limit: none published. A poll is ``days`` small POSTs (8 by default, the app books about a
week and a half ahead) and polls are at least a minute apart (five minutes by default).
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup, Tag
from pydantic import BaseModel, ConfigDict, Field

from notifier.geo import complete_location
from notifier.model import Location, LocationAvailability
from notifier.scraping import (
    Example,
    Request,
    Response,
    Scraper,
    Unparseable,
    UpstreamError,
)
from scrapers._html import (
    FORM_HEADERS,
    form_body,
    html_document,
    raise_unrecognised,
    response_date,
    squash,
)

__all__ = ["MercyScraper", "MercySettings"]

_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_NO_APPOINTMENTS = "there are no open appointments on this day"
_PHP_ERROR = re.compile(
    r"(fatal error|parse error|warning)</b>:|uncaught \w*exception|sqlstate\[", re.I
)


class MercySettings(BaseModel):
    """Where the booking app lives, which of its sites to ask for, and how many days ahead."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://apps.sphp.com/THofNECOVIDVaccinations"
    site_name: str = Field("THOfNE Mercy Medical Center", description="The SiteName cookie.")
    days: int = Field(8, ge=1, le=21, description="Days polled, starting today.")
    start_date: dt.date | None = Field(None, description="First day polled; None is today.")
    location_id: str = "mercy-medical-center-springfield"
    name: str = "Mercy Medical Center"
    address: str | None = "299 Carew St"
    city: str | None = "Springfield"
    state: str | None = "MA"
    postal_code: str | None = "01104"
    lat: float | None = None
    lon: float | None = None
    time_zone: str = "America/New_York"
    phone: str | None = None
    booking_url: str | None = "https://apps.sphp.com/THofNECOVIDVaccinations/index.php"


def _us_date(text: str | None) -> dt.date | None:
    match = _US_DATE.search(text or "")
    if match is None:
        return None
    month, day, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _attr(tag: Tag | None, name: str) -> str | None:
    value = tag.get(name) if tag is not None else None
    return value if isinstance(value, str) else None


def _page_day(doc: BeautifulSoup, response: Response) -> dt.date | None:
    shown = _us_date(_attr(doc.select_one("#CurrentDay"), "data-date")) or _us_date(
        _attr(doc.select_one("#CurrentDayDisplay"), "value")
    )
    if shown is not None:
        return shown
    # A fragment that does not repeat its day is still the answer to the day we asked for.
    sent = (
        dict(parse_qsl(response.request.data.decode("ascii", "replace")))
        if response.request.data
        else {}
    )
    return _us_date(sent.get("ScheduleDay"))


def _reserve_buttons(doc: BeautifulSoup) -> int:
    return sum(
        1
        for button in doc.select("button")
        if "ReserveAppt" in (_attr(button, "onclick") or "")
        or squash(button.get_text(" ")).lower() == "reserve appointment"
    )


class MercyScraper(Scraper[MercySettings]):
    """Mercy Medical Center's own COVID-19 vaccination booking app."""

    name = "mercy"
    provider = "Mercy Medical Center, Trinity Health Of New England"
    regions = ("US-MA",)
    maintainer = "scrapers team <scrapers@appointment-notifier.org>"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "html"
    none_when = ("a day that says 'no open appointments' (none-synthetic.html)",)
    unknown_when = (
        "a PHP error page from the booking app",
        "a day with neither open slots nor 'no open appointments'",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("booking-page.html",),
            expect={
                "locations": 1,
                "appointments": 1,
                "slots": 1,
                "by_location": {
                    "mercy-medical-center-springfield": {
                        "status": "available",
                        "by_date": {"2021-03-12": 1},
                        "postal_code": "01104",
                    }
                },
            },
            note="optional-fields: phone, valid_at, products",
        ),
        Example(
            files=("none-synthetic.html",),
            expect={
                "locations": 1,
                "appointments": 0,
                "status": "none",
                "by_location": {"mercy-medical-center-springfield": {"by_date": {"2021-03-13": 0}}},
            },
        ),
        Example(files=("php-error-synthetic.html",), raises=UpstreamError),
    )

    def requests(self) -> list[Request]:
        c = self.settings
        first = c.start_date or dt.datetime.now(ZoneInfo(c.time_zone)).date()
        days = [first + dt.timedelta(days=n) for n in range(c.days)]
        return [
            Request(
                url=f"{c.base_url.rstrip('/')}/livesearch.php",
                method="POST",
                headers={**FORM_HEADERS, "Cookie": f"SiteName={c.site_name}"},
                data=form_body([("ScheduleDay", day.strftime("%m/%d/%Y"))]),
                label=f"mercy day {day.isoformat()}",
            )
            for day in days
        ]

    def location(self) -> Location:
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
                booking_url=c.booking_url or f"{c.base_url.rstrip('/')}/index.php",
                phone=c.phone,
            )
        )

    def parse(self, response: Response) -> list[LocationAvailability]:
        doc = html_document(response)
        text = squash(doc.get_text(" "))
        if _PHP_ERROR.search(response.text()):
            raise UpstreamError(f"the Mercy booking app failed: {text[:160]}")
        day = _page_day(doc, response)
        buttons = _reserve_buttons(doc)
        if day is None:
            raise_unrecognised(response, "a Mercy booking day (no #CurrentDay date)")
        if buttons == 0 and _NO_APPOINTMENTS not in text.lower():
            if doc.select_one("#CurrentDay") is None:
                raise_unrecognised(response, "a Mercy booking day")
            raise Unparseable("the Mercy day shows neither open slots nor 'no open appointments'")
        return [
            LocationAvailability.from_counts(
                self.location(), {day: buttons}, slots=buttons, valid_at=response_date(response)
            )
        ]
