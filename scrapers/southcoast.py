"""Southcoast Health (Fall River, North Dartmouth, Wareham MA): its online scheduling API.

The scheduling widget on southcoast.org talks to a small JSON API. A poll first GETs
``<api>/sessions`` for a session token (a bare JSON string), then, for each site, POSTs a slot
search to ``<api>/resourceTypes/slots/search`` with the token in a ``SessionToken`` header::

    {"ProviderCriteria": {"SpecialtyID": null, "ConcentrationID": null},
     "ResourceTypeId": "<COVID vaccine resource type>", "StartDate": "...Z", "EndDate": "...Z",
     "Location": "Fall River"}

The answer lists every day of the range in ``dateToSlots[date][departmentId].slots[]``, one
record per open slot (a day with nothing open is ``{}``), with the department's street address
in ``addressByDepartmentId``. Dates are the clinic's local dates. The address has no ZIP, so each
site's ZIP (and its name) come from the settings; the defaults describe the Fall River site,
whose answers are in the fixtures. An ASP.NET error body (``{"Message": ...}``) raises
``UpstreamError``; any other shape raises ``Unparseable``.

Rate limit: none published. A poll is one token GET plus one POST per configured site, and
polls are at least a minute apart (five minutes by default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

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
from scrapers._html import json_document, response_date, slugify, squash

__all__ = ["SouthcoastScraper", "SouthcoastSettings", "SouthcoastSite"]

_EXPECTED = "a Southcoast slot search answer"


class SouthcoastSite(BaseModel):
    """One vaccination site: the API's ``Location`` value and what the answers do not say."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(description="The API's Location filter, e.g. 'Fall River'.")
    name: str
    address: str | None = None
    city: str | None = None
    state: str | None = "MA"
    postal_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    phone: str | None = None

    @property
    def id(self) -> str:
        return slugify(self.location)


class SouthcoastSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_url: str = "https://southcoastapps.southcoast.org/OnlineAppointmentSchedulingApi/api"
    resource_type_id: str = Field(
        "98C5A8BE-25D1-4125-9AD5-1EE64AD164D2", description="The COVID-19 vaccine resource type."
    )
    days: int = Field(14, ge=1, le=60, description="Days searched, from the time of the poll.")
    booking_url: str = "https://www.southcoast.org/covid-19-vaccine-scheduling/"
    sites: list[SouthcoastSite] = Field(
        default_factory=lambda: [
            SouthcoastSite(
                location="Fall River",
                name="Southcoast Health Vaccination Site (Fall River)",
                address="20 Star St",
                city="Fall River",
                postal_code="02724",
            )
        ],
        description="Add North Dartmouth (375 Faunce Corner Rd, 02747) and Wareham "
        "(48 Marion Rd, 02571) to poll them too.",
    )


def _count_slots(date_to_slots: Mapping[str, Any]) -> tuple[dict[dt.date, int | None], int]:
    by_date: dict[dt.date, int | None] = {}
    for day_text, departments in date_to_slots.items():
        try:
            day = dt.date.fromisoformat(str(day_text)[:10])
        except ValueError as exc:
            raise Unparseable(f"Southcoast date {day_text!r} is not a date") from exc
        if not isinstance(departments, Mapping):
            raise Unparseable(f"Southcoast slots for {day_text} are not an object")
        count = 0
        for entry in departments.values():
            slots = entry.get("slots") if isinstance(entry, Mapping) else None
            if not isinstance(slots, list):
                raise Unparseable(f"Southcoast department slots for {day_text} are not a list")
            count += len(slots)
        if count:  # the API lists every day of the range; empty days are not clinic days
            by_date[day] = count
    return by_date, sum(n or 0 for n in by_date.values())


def _street_address(data: Mapping[str, Any]) -> Mapping[str, Any]:
    addresses = data.get("addressByDepartmentId")
    if isinstance(addresses, Mapping):
        for value in addresses.values():
            if isinstance(value, Mapping):
                return value
    return {}


class SouthcoastScraper(Scraper[SouthcoastSettings]):
    """Southcoast Health's online appointment scheduling API."""

    name = "southcoast"
    provider = "Southcoast Health"
    regions = ("US-MA",)
    maintainer = "scrapers team <scrapers@appointment-notifier.org>"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "api"
    none_when = ("a site whose dateToSlots holds no slot (none.json)",)
    unknown_when = (
        "a Southcoast API error message",
        "an answer without dateToSlots",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("fall-river.json",),
            expect={
                "locations": 1,
                "appointments": 95,
                "slots": 95,
                "by_location": {
                    "fall-river": {
                        "status": "available",
                        "address": "20 Star Street",
                        "city": "Fall River",
                        "postal_code": "02724",
                        "by_date": {"2021-05-10": 47, "2021-05-11": 24, "2021-05-12": 24},
                    }
                },
            },
            note="optional-fields: phone, valid_at, products",
        ),
        Example(
            files=("none.json",),
            expect={
                "locations": 1,
                "appointments": 0,
                "status": "none",
                "by_location": {"fall-river": {"by_date": {}, "postal_code": "02724"}},
            },
        ),
        Example(files=("error-synthetic.json",), raises=UpstreamError),
    )

    # ------------------------------------------------------------------ requests

    def requests(self) -> list[Request]:
        return [Request(url=f"{self.settings.api_url.rstrip('/')}/sessions", label="session token")]

    def follow(self, response: Response) -> list[Request]:
        """With the session token in hand, one slot search per site from the time of the poll."""
        try:
            token = json_document(response, "a Southcoast session token")
        except ScrapeError:
            return []
        if not isinstance(token, str) or not token.strip():
            return []  # a search answer, or a broken token: parse() tells which
        c = self.settings
        start = response.fetched_at.astimezone(dt.UTC)
        end = start + dt.timedelta(days=c.days)
        return [
            Request(
                url=f"{c.api_url.rstrip('/')}/resourceTypes/slots/search",
                method="POST",
                headers={
                    "SessionToken": token.strip(),
                    "Origin": "https://www.southcoast.org",
                    "Referer": c.booking_url,
                },
                json={
                    "ProviderCriteria": {"SpecialtyID": None, "ConcentrationID": None},
                    "ResourceTypeId": c.resource_type_id,
                    "StartDate": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "EndDate": end.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "Location": site.location,
                },
                label=f"southcoast slots at {site.location}",
            )
            for site in c.sites
        ]

    # ------------------------------------------------------------------ parsing

    def _site_for(self, response: Response, data: Mapping[str, Any]) -> SouthcoastSite:
        sites = self.settings.sites
        asked = response.request.json
        if isinstance(asked, Mapping) and isinstance(asked.get("Location"), str):
            wanted = asked["Location"].strip().lower()
            match = next((s for s in sites if s.location.lower() == wanted), None)
            if match is None:
                raise Unparseable(f"answer for site {asked['Location']!r}, which is not configured")
            return match
        if len(sites) == 1:
            return sites[0]
        # Replayed from disk the request is gone; the department's city still names the site.
        city = str(_street_address(data).get("city") or "").lower()
        matches = [s for s in sites if city and (s.city or s.location).lower() == city]
        if len(matches) != 1:
            raise Unparseable("cannot tell which configured Southcoast site this answer is for")
        return matches[0]

    def _location(self, site: SouthcoastSite, data: Mapping[str, Any]) -> Location:
        street = _street_address(data)

        def text(key: str) -> str | None:
            value = street.get(key)
            return squash(value) or None if isinstance(value, str) else None

        return complete_location(
            Location(
                id=site.id,
                name=site.name,
                address=text("address") or site.address,
                city=text("city") or site.city,
                state=text("state") or site.state,
                postal_code=site.postal_code,
                lat=site.lat,
                lon=site.lon,
                booking_url=self.settings.booking_url,
                phone=site.phone,
            )
        )

    def parse(self, response: Response) -> list[LocationAvailability]:
        data = json_document(response, _EXPECTED)
        if isinstance(data, str):
            return []  # the session token: it says nothing about appointments
        if not isinstance(data, Mapping):
            raise Unparseable(f"{response.url}: expected {_EXPECTED}, got {type(data).__name__}")
        date_to_slots = data.get("dateToSlots")
        if not isinstance(date_to_slots, Mapping):
            message = data.get("Message") or data.get("message") or data.get("ExceptionMessage")
            if isinstance(message, str) and message.strip():
                raise UpstreamError(f"Southcoast API error: {squash(message)[:200]}")
            raise Unparseable(f"{response.url}: no dateToSlots object in {_EXPECTED}")
        by_date, slots = _count_slots(date_to_slots)
        site = self._site_for(response, data)
        return [
            LocationAvailability.from_counts(
                self._location(site, data), by_date, slots=slots, valid_at=response_date(response)
            )
        ]

    def parse_all(self, responses: Sequence[Response]) -> list[LocationAvailability]:
        results = super().parse_all(responses)
        if not results:
            raise Unparseable("the poll holds no Southcoast slot search answer (only a token?)")
        return results
