"""Lowell General Hospital's vaccination site, booked through HealthPost (JSONP widget).

Each vaccination "station" is a HealthPost doctor; its ``time_slots`` URL answers JSONP::

    HealthPost.server_response_for_update({"practice_location_id": 14110, "doctor_id": ...,
        "time_slots_div": "<div ...><table><tr><th>Fri <span class=day-date>Feb 19</span></th>..
                           <tr><td class=slots><ul><li class='tippy slot any'><a>10:10 am</a>..

The first table row heads 45 day columns ("Sat Mar 20", no year); the second holds one
``li.slot`` per open time in each column. The year comes from the ``start_at`` of the widget's
own "current" link. All stations share one site (the practice location), so their slots merge
into one location.

Rate limit: HealthPost publishes none; each station is one request, so we poll at most once a
minute and by default every 5 minutes (macovidvaccines.com polled this site about as often).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from selectolax.lexbor import LexborHTMLParser, LexborNode

from notifier.model import Location, LocationAvailability
from notifier.scraping import Example, Request, Response, Scraper, Unparseable
from scrapers._api_common import finish_location, query_param, refuse_html

__all__ = ["LowellGeneral", "LowellGeneralSettings", "Station"]

HOST = "https://lowell-general-hospital---covid---19-vaccination.healthpost.com"
SOURCE = "lowell-general-hospital---covid---19-vaccination"
TIME_ZONE = "America/New_York"
_JSONP = re.compile(r"^\s*[\w.$]+\s*\((?P<json>.*)\)\s*;?\s*$", re.DOTALL)
_HEADER = re.compile(r"(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# "Cross River Center - East 1001 Pawtucket Blvd  Lowell, MA 01854" (two spaces before the city)
_ADDRESS = re.compile(
    r"^(?P<street>.+?)\s{2,}(?P<city>[^,]+),\s*(?P<state>[A-Z]{2})\s+(?P<zip>\d{5})(?:-\d{4})?\s*$"
)
_TIME = re.compile(r"\d{1,2}:\d\d\s*[ap]m", re.IGNORECASE)
#: HealthPost shows this instead of a phone number when the site has none
_NO_PHONE = "000-000-0000"


class Station(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    doctor_id: int = Field(ge=1)
    number: int = Field(ge=1, description="The station number in the doctor's URL slug")


class LowellGeneralSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stations: tuple[Station, ...] = (Station(doctor_id=23431, number=16),)
    practice_location_id: int = 14110
    days: int = Field(45, ge=1, le=45, description="HealthPost shows at most 45 days")
    booking_url: str = "https://www.lowellgeneralvaccine.com/#schedule"


def _year_for(month: int, day: int, start: dt.date) -> dt.date:
    """The first date on or after ``start`` (less a week of slack) with this month and day."""
    for year in (start.year, start.year + 1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate >= start - dt.timedelta(days=7):
            return candidate
    raise Unparseable(f"column {month}/{day} does not follow the start date {start}")


class LowellGeneral(Scraper[LowellGeneralSettings]):
    """Open vaccination times at Lowell General's Cross River Center site."""

    name = "lowell-general"
    provider = "Lowell General Hospital (HealthPost)"
    regions = ("US-MA",)
    maintainer = "Appointment Notifier maintainers"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "api"
    none_when = ("a time-slot table with no open slot (none-response.jsonp.txt)",)
    unknown_when = (
        "an answer that is not the HealthPost JSONP callback or lacks the time-slot table",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("api-response.jsonp.txt",),
            expect={
                "locations": 1,
                "appointments": 1,
                "slots": 1,
                "status": "available",
                "by_location": {
                    "14110": {
                        "name": "Lowell General Hospital - MVP - Mass Vaccine Program",
                        "address": "Cross River Center - East 1001 Pawtucket Blvd",
                        "city": "Lowell",
                        "state": "MA",
                        "postal_code": "01854",
                        "appointments": 1,
                    }
                },
            },
            note="derived (README): 1 slot, in the column headed 'Sat Mar 20' (2021)",
        ),
        Example(
            files=("api-response.jsonp.txt",),
            expect={"locations": 1, "appointments": 1},
            note="optional-fields: phone, products, valid_at",
        ),
        Example(
            files=("none-response.jsonp.txt",),
            expect={"locations": 1, "status": "none", "appointments": 0, "slots": 0},
        ),
        Example(files=("cut-short.jsonp.txt",), raises=Unparseable),
    )

    def requests(self) -> list[Request]:
        # HealthPost wants midnight of the first day; start yesterday so no open time is missed
        start = dt.datetime.now(ZoneInfo(TIME_ZONE)).date() - dt.timedelta(days=1)
        end = start + dt.timedelta(days=self.settings.days)
        return [
            Request(
                url=f"{HOST}/doctors/{s.doctor_id}-covid-19-vaccination-station-{s.number}"
                "/time_slots",
                params={
                    "appointment_action": "new",
                    "embed": "1",
                    "end_at": f"{end.isoformat()} 00:00:00",
                    "hp_medium": "widget_provider",
                    "hp_source": SOURCE,
                    "html_container_id": "healthpost_appointments18",
                    "practice_location_id": str(self.settings.practice_location_id),
                    "start_at": f"{start.isoformat()} 00:00:00",
                    "num_of_days": str(self.settings.days),
                },
                label=f"HealthPost station {s.number}",
            )
            for s in self.settings.stations
        ]

    def parse(self, response: Response) -> list[LocationAvailability]:
        response.raise_for_status()
        refuse_html(response, response.body.lstrip())
        payload = self._payload(response)
        html = payload.get("time_slots_div")
        if not isinstance(html, str) or not html.strip():
            raise Unparseable(f"{response.url}: no time_slots_div in the HealthPost answer")
        page = LexborHTMLParser(html)
        location = self._location(page, payload)
        counts = self._columns(page, response)
        return [LocationAvailability.from_counts(location, counts, slots=sum(counts.values()))]

    @staticmethod
    def _payload(response: Response) -> dict[str, Any]:
        text = response.text()
        match = _JSONP.match(text)
        if match is None:
            raise Unparseable(f"{response.url}: not a HealthPost JSONP callback")
        try:
            payload = json.loads(match["json"])
        except (ValueError, RecursionError) as exc:
            raise Unparseable(f"{response.url}: the JSONP argument is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise Unparseable(f"{response.url}: the JSONP argument is not an object")
        return payload

    def _location(self, page: LexborHTMLParser, payload: dict[str, Any]) -> Location:
        site = payload.get("practice_location_id")
        if isinstance(site, bool) or not isinstance(site, int):
            raise Unparseable(f"practice_location_id is {site!r}, not a number")
        box = page.css_first(".availability_locations")
        name = (box.text(deep=False).strip() if box else "") or "Lowell General Hospital"
        address_node = page.css_first(".location-address")
        address = (address_node.text() if address_node else "").strip()
        match = _ADDRESS.match(address)
        phone_node = page.css_first(".location-phone")
        phone = phone_node.text().strip() if phone_node else ""
        location = Location(
            id=str(site),
            name=name,
            address=match["street"].strip() if match else (address or None),
            city=match["city"].strip() if match else None,
            state=match["state"] if match else None,
            postal_code=match["zip"] if match else None,
            time_zone=TIME_ZONE,
            booking_url=self.settings.booking_url,
            phone=phone if phone and phone != _NO_PHONE else None,
        )
        return finish_location(location)

    @staticmethod
    def _start(page: LexborHTMLParser, response: Response) -> dt.date:
        """The first column's date, from the widget's own link (or the fetch date)."""
        link = page.css_first("a.current_link")
        start_at = query_param(link.attributes.get("href") or "", "start_at") if link else None
        if start_at:
            try:
                return dt.date.fromisoformat(start_at[:10])
            except ValueError:
                pass
        return response.fetched_at.astimezone(ZoneInfo(TIME_ZONE)).date()

    def _columns(self, page: LexborHTMLParser, response: Response) -> dict[dt.date, int]:
        table = page.css_first(".time-slot-table-container table")
        if table is None:
            raise Unparseable(f"{response.url}: no time-slot table (layout changed?)")
        headers = table.css("th")
        cells = table.css("td.slots")
        if not headers or len(headers) != len(cells):
            raise Unparseable(f"{response.url}: {len(headers)} day headers, {len(cells)} columns")
        start = self._start(page, response)
        counts: dict[dt.date, int] = {}
        for header, cell in zip(headers, cells, strict=True):
            match = _HEADER.search(header.text())
            if match is None or match["month"] not in _MONTHS:
                raise Unparseable(f"{response.url}: day header {header.text()!r}")
            day = _year_for(_MONTHS[match["month"]], int(match["day"]), start)
            counts[day] = counts.get(day, 0) + sum(1 for li in _slots(cell))
        return counts


def _slots(cell: LexborNode) -> list[LexborNode]:
    """Open times: ``li.slot`` items that are not hidden and show a clock time."""
    found = []
    for li in cell.css("ul > li.slot"):
        link = li.css_first("a")
        hidden = "hidden" in (li.attributes.get("class") or "") or "none" in (
            li.attributes.get("style") or ""
        )
        if not hidden and link is not None and _TIME.search(link.text()):
            found.append(li)
    return found
