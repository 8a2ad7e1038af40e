"""Rite Aid's website store search (``racloudgetavailablestores.json``), slot by slot.

One poll is a conversation of successive requests with the same search:

1. ``address=<ZIP>&radius=..&loadMoreFlag=true`` lists the stores near the ZIP, each with a
   summary only: ``availableSlots`` is empty and ``firstAvailableSlot`` says whether anything is
   open (``totalSlotCount`` > 0).
2. The same query plus ``storeNumbers=<up to 25 stores>`` fills ``availableSlots`` for those
   stores: ``[{date, available_slots, slots: {"<vaccine id>": [{appointmentId, apptDateTime}]}}]``.
   ``follow`` asks for these in chunks of 25, as the site does.

The same appointment is listed under every vaccine it can be used for (9 Moderna, 11 Pfizer,
13 J&J, 47 Pfizer 5–11, ...), so open appointments are counted by distinct ``appointmentId``.
Results of all the responses merge per store. ZIP codes come as numbers without their leading
zero (``"6811"`` is 06811) and are repaired.

Rate limit: the site publishes none; one poll per search ZIP costs 1 + ceil(stores / 25)
requests, so we poll at most once a minute and by default every 10 minutes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from notifier.model import Location, LocationAvailability, Status
from notifier.scraping import Example, Request, Response, Scraper, UpstreamError
from scrapers._api_common import (
    US_TIME_ZONE_ABBREVIATIONS,
    as_dict,
    as_list,
    decode_json,
    finish_location,
    opt_float,
    opt_str,
    parse_day,
    query_param,
    req_int,
    req_str,
)
from scrapers.riteaid_api import BOOKING_URL, RITE_AID_STATES, raise_for_rite_aid_error

__all__ = ["RiteAidWeb", "RiteAidWebSettings"]

API_URL = "https://www.riteaid.com/content/riteaid-web/en.racloudgetavailablestores.json"
#: What a product is called, by the number before "-PREF-" in a vaccine id.
VACCINE_NAMES = {"9": "Moderna", "11": "Pfizer", "13": "Johnson & Johnson", "47": "Pfizer 5–11"}
CHUNK = 25  # stores per slot request; the site itself asks for 25 at a time


class RiteAidWebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zip_codes: tuple[str, ...] = Field(("06126",), description="Search centres (ZIP codes).")
    radius_miles: int = Field(100, ge=1, le=100)
    vaccine_ids: str = "9-PREF-113,11-PREF-114,13-PREF-115,47-PREF-122,95-PREF-125,96-PREF-126"
    #: only keep stores in these states (a 100-mile radius crosses state lines); empty = all
    states: tuple[str, ...] = ()
    booking_url: str = BOOKING_URL


def _is_slot_request(url: str) -> bool:
    return bool(query_param(url, "storeNumbers"))


class RiteAidWeb(Scraper[RiteAidWebSettings]):
    """Rite Aid stores near one or more ZIP codes, with each open appointment."""

    name = "riteaid-web"
    provider = "Rite Aid"
    regions = tuple(f"US-{state}" for state in RITE_AID_STATES)
    maintainer = "Appointment Notifier maintainers"
    default_interval = 600.0
    min_interval = 60.0
    source_format = "api"
    none_when = ("stores with no open slot (ct-2023-03-17-none.json)",)
    unknown_when = (
        "an error answer or a shape the scraper does not know",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=(
                "ct-2023-03-17.response0.json",
                "ct-2023-03-17.response1.json",
                "ct-2023-03-17.response2.json",
            ),
            expect={
                "locations": 30,
                "status": "available",
                "appointments": 3880,
                "slots": 3880,
                "by_location": {
                    "4620": {
                        "name": "Rite Aid #4620",
                        "postal_code": "06716",
                        "city": "Wolcott",
                        "appointments": 218,
                        "slots": 218,
                        "products": ["Pfizer", "Johnson & Johnson", "Pfizer 5–11", "Moderna"],
                    },
                    "10384": {
                        "postal_code": "06811",
                        "city": "Danbury",
                        "appointments": 44,
                        "lat": 41.3919,
                        "lon": -73.5211,
                    },
                    "1882": {"appointments": 69},
                },
            },
            note="derived: 30 stores, all with slots (README); counts are distinct appointment "
            "ids per store, counted from the files.",
        ),
        Example(
            files=("ct-2023-03-17.response0.json",),
            expect={
                "locations": 30,
                "status": "available",
                "appointments": 0,
                "by_location": {"4620": {"appointments": None, "by_date": {"2023-03-17": None}}},
            },
            note="derived: the store list alone says 'open, count unknown' for each store",
        ),
        Example(
            files=("ct-2023-03-17.response0.json",),
            expect={"locations": 30, "slots": 0},
            note="optional-fields: slots, appointments",
        ),
        Example(
            files=("ct-2023-03-17-none.json",),
            expect={"locations": 2, "status": "none"},
        ),
        Example(files=("error-timed-out.json",), raises=UpstreamError),
    )

    def _search(self, zip_code: str, stores: list[int] | None = None) -> Request:
        params = {
            "address": zip_code,
            "radius": str(self.settings.radius_miles),
            "vaccineIds": self.settings.vaccine_ids,
            "showAllStoresWithAvailibility": "false",  # sic; false lists a superset of true
            "count": "100",
            "fetchMechanismVersion": "2",
        }
        if stores:
            params["storeNumbers"] = ",".join(str(n) for n in stores)
        params["loadMoreFlag"] = "true"  # needed with storeNumbers for slot detail
        label = f"Rite Aid stores near {zip_code}" + (
            f" ({len(stores)} with slots)" if stores else ""
        )
        return Request(url=API_URL, params=params, label=label)

    def requests(self) -> list[Request]:
        return [self._search(z) for z in self.settings.zip_codes]

    def follow(self, response: Response) -> list[Request]:
        if _is_slot_request(response.url) or response.request.params.get("storeNumbers"):
            return []
        zip_code = response.request.params.get("address") or query_param(response.url, "address")
        if not zip_code:
            return []
        numbers = [
            req_int(store, "storeNumber", "store", minimum=1) for store in self._stores(response)
        ]
        unique = list(dict.fromkeys(numbers))
        return [self._search(zip_code, unique[i : i + CHUNK]) for i in range(0, len(unique), CHUNK)]

    def _stores(self, response: Response) -> list[dict[str, Any]]:
        wrapper = raise_for_rite_aid_error(decode_json(response), response.url)
        data = as_dict(wrapper.get("data"), "data")
        # "stores": null means the search found no store at all
        raw = data.get("stores")
        stores = [] if raw is None else as_list(raw, "data.stores")
        wanted = {s.upper() for s in self.settings.states}
        found = [as_dict(s, f"data.stores[{i}]") for i, s in enumerate(stores)]
        return [s for s in found if not wanted or str(s.get("state", "")).upper() in wanted]

    def parse(self, response: Response) -> list[LocationAvailability]:
        return [self._store(store) for store in self._stores(response)]

    def _location(self, store: dict[str, Any], number: int) -> Location:
        zone = US_TIME_ZONE_ABBREVIATIONS.get(str(store.get("timeZone", "")).upper())
        location = Location(
            id=str(number),
            name=f"Rite Aid #{number}",  # every store is named just "Rite Aid"
            address=opt_str(store.get("address")),
            city=opt_str(store.get("city")),
            state=opt_str(store.get("state")),
            postal_code=opt_str(str(store.get("zipcode") or "")),
            lat=opt_float(store.get("latitude")),
            lon=opt_float(store.get("longitude")),
            booking_url=self.settings.booking_url,
            phone=opt_str(store.get("fullPhone")),
        )
        return finish_location(location, fallback_time_zone=zone)

    def _store(self, store: dict[str, Any]) -> LocationAvailability:
        number = req_int(store, "storeNumber", "store", minimum=1)
        location = self._location(store, number)
        days = as_list(store.get("availableSlots"), f"store {number} availableSlots")
        if not days:
            first = opt_str(store.get("firstAvailableSlot"))
            if first is None:
                return LocationAvailability.from_counts(location, {})
            # a summary: something is open from that day on, count unknown until detail
            day = parse_day(first, f"store {number} firstAvailableSlot")
            return LocationAvailability(
                location=location, status=Status.AVAILABLE, by_date={day: None}
            )
        ids_by_day: dict[dt.date, set[str]] = {}
        products: list[str] = []
        for i, raw in enumerate(days):
            where = f"store {number} availableSlots[{i}]"
            entry = as_dict(raw, where)
            day = parse_day(entry.get("date"), where)
            ids = ids_by_day.setdefault(day, set())
            for vaccine, slots in as_dict(entry.get("slots"), f"{where} slots").items():
                listed = as_list(slots, f"{where} slots[{vaccine}]")
                for j, slot in enumerate(listed):
                    ids.add(req_str(as_dict(slot, where), "appointmentId", f"{where}[{j}]"))
                if listed and vaccine in VACCINE_NAMES:
                    products.append(VACCINE_NAMES[vaccine])
        # the same id may sit under two dates if the API repeats a day: count it once
        seen: set[str] = set()
        by_date: dict[dt.date, int | None] = {}
        for day in sorted(ids_by_day):
            fresh = ids_by_day[day] - seen
            seen |= fresh
            by_date[day] = len(fresh)
        return LocationAvailability.from_counts(
            location, by_date, slots=len(seen), products=products
        )
