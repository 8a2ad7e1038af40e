"""H-E-B (Texas): the ``vaccine_locations.json`` file H-E-B publishes for appointment finders.

One object lists every store::

    {"locations": [{"storeNumber": 591, "name": "Round Rock H-E-B plus!", "street": ...,
      "city": "ROUND ROCK", "state": "TX", "zip": "78664-4677", "latitude": 30.5177, ...,
      "url": "https://heb.secure.force.com/FlexibleScheduler/FSAppointment?event_ID=...",
      "openAppointmentSlots": 20, "openFluAppointmentSlots": 0,
      "availableImmunizations": ["Flu", "COVID-19 Pfizer_Updated_Booster", ...]}]}

``openAppointmentSlots`` counts open COVID-19 appointments (flu is counted apart); there are no
dates. A store with 0 has no link (``url`` null). ZIPs come as ``78664-4677`` and sometimes as a
broken ``75093-0``; only the first five digits are kept. The file has no time of its own: the
data is valid as of the HTTP ``Last-Modified``. Stores without a store number are skipped.

Rate limit: none published; the file sits on S3 behind CloudFront (``Cache-Control: max-age:0``)
and carries an ETag, so we send conditional requests instead of the random cache-busting query
older trackers added, poll every 5 minutes by default and at most once a minute.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from notifier.model import Location, LocationAvailability, Status
from notifier.scraping import Example, Request, Response, Scraper, Unparseable, UpstreamError
from scrapers._api_common import (
    as_dict,
    as_list,
    decode_json,
    finish_location,
    opt_float,
    opt_str,
    req_int,
)

__all__ = ["Heb", "HebSettings"]

FILE_URL = "https://heb-ecom-covid-vaccine.hebdigital-prd.com/vaccine_locations.json"
_ZIP = re.compile(r"^\s*(\d{5})")


class HebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_url: str = FILE_URL
    #: where people book when a store lists no link of its own
    booking_url: str = "https://vaccine.heb.com/scheduler"


def _valid_at(response: Response) -> dt.datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(response.header("last-modified") or "")
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _products(raw: object) -> list[str]:
    """``"COVID-19 Pediatric_Pfizer_Updated_Booster"`` -> ``"Pediatric Pfizer Updated Booster"``."""
    names = raw if isinstance(raw, list) else []
    return [
        name.removeprefix("COVID-19").strip().replace("_", " ")
        for name in names
        if isinstance(name, str) and name.startswith("COVID-19")
    ]


class Heb(Scraper[HebSettings]):
    """Every H-E-B pharmacy with its count of open COVID-19 appointments."""

    name = "heb"
    provider = "H-E-B"
    regions = ("US-TX",)
    maintainer = "Appointment Notifier maintainers"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "api"
    none_when = ("a store with no open slots (vaccine_locations-none.json)",)
    unknown_when = (
        "S3 XML errors served as the file",
        "a store with neither a ZIP nor coordinates",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("vaccine_locations.json",),
            expect={
                "locations": 297,
                "appointments": 23477,
                "by_location": {
                    "591": {
                        "name": "Round Rock H-E-B plus!",
                        "address": "1700 EAST PALM VALLEY BLVD",
                        "postal_code": "78664",
                        "status": "available",
                        "appointments": 20,
                        "valid_at": "2022-12-15T21:14:58+00:00",
                        "products": ["Pfizer Updated Booster", "Moderna Updated Booster"],
                    },
                    "593": {"status": "none", "appointments": 0, "postal_code": "76574"},
                    "790": {"postal_code": "75093"},  # sent as "75093-0"
                },
            },
            note="derived: 297 stores, 171 with open appointments (23477 in all), by hand",
        ),
        Example(
            files=("vaccine_locations.json",),
            expect={"locations": 297, "slots": 0},
            note="optional-fields: slots, products, phone",
        ),
        Example(
            files=("vaccine_locations-none.json",),
            expect={"locations": 3, "status": "none", "appointments": 0},
        ),
        Example(files=("access-denied.xml",), raises=UpstreamError),
        Example(files=("vaccine_locations.304.json",), raises=Unparseable),
    )

    def requests(self) -> list[Request]:
        return [Request(url=self.settings.file_url, label="H-E-B vaccine locations")]

    def parse(self, response: Response) -> list[LocationAvailability]:
        response.raise_for_status()
        code = re.search(rb"<Error>\s*<Code>([^<]*)</Code>", response.body[:2000])
        if code:  # S3/CloudFront answer errors as XML, sometimes with a 200
            raise UpstreamError(f"H-E-B's file host refused: {code[1].decode(errors='replace')}")
        document = as_dict(decode_json(response), response.url)
        stores = as_list(document.get("locations"), "locations")
        valid_at = _valid_at(response)
        results = []
        for i, raw in enumerate(stores):
            store = as_dict(raw, f"locations[{i}]")
            if not store.get("storeNumber"):
                continue  # a few entries lack a store number; they are not bookable stores
            results.append(self._store(store, valid_at))
        return results

    def _store(self, store: dict[str, Any], valid_at: dt.datetime | None) -> LocationAvailability:
        number = req_int(store, "storeNumber", "store", minimum=1)
        where = f"store {number}"
        open_slots = req_int(store, "openAppointmentSlots", where)
        link = opt_str(store.get("url"))
        zip_match = _ZIP.match(str(store.get("zip") or ""))
        state = opt_str(store.get("state"))
        location = finish_location(
            Location(
                id=str(number),
                name=opt_str(store.get("name")) or f"H-E-B #{number}",
                address=opt_str(store.get("street")),
                city=opt_str(store.get("city")),
                state=state.upper() if state else None,
                postal_code=zip_match.group(1) if zip_match else None,
                lat=opt_float(store.get("latitude")),
                lon=opt_float(store.get("longitude")),
                booking_url=link if link and link.startswith("http") else self.settings.booking_url,
            )
        )
        if location.postal_code is None and location.lat is None:
            raise Unparseable(f"{where}: neither a ZIP nor coordinates")
        return LocationAvailability(
            location=location,
            status=Status.AVAILABLE if open_slots else Status.NONE,
            appointments=open_slots,
            products=tuple(dict.fromkeys(_products(store.get("availableImmunizations"))))
            if open_slots
            else (),
            valid_at=valid_at,
        )
