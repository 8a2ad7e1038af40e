"""Hy-Vee pharmacies (Midwest): the GraphQL API behind Hy-Vee's own vaccine booking site.

One POST of ``SearchPharmaciesNearPointWithCovidVaccineAvailability`` around a point with a
large radius lists every pharmacy::

    {"data": {"searchPharmaciesNearPoint": [{"distance": 67.5, "location": {
        "locationId": "f3f2...", "name": "Kearney", "businessCode": "1323",
        "covidVaccineTimeSlotAndManufacturerAvailability": {"isCovidVaccineAvailable": true,
            "availableCovidVaccineManufacturers": [{"vaccineName": "Pfizer Bivalent", ...}]},
        "address": {"line1": ..., "zip": "68845", "latitude": 40.72, "longitude": -99.08}}}]}}

The API says yes or no per store, without counts or dates; the manufacturers list names the
products (flu shots are left out). A GraphQL ``errors`` array raises.

Rate limit: none published, and one query answers for every store (it took Hy-Vee 21 s in the
recording), so we poll every 10 minutes by default and never more than once every 2 minutes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from notifier.model import Location, LocationAvailability, Status
from notifier.scraping import Example, Request, Response, Scraper, Unparseable, UpstreamError
from scrapers._api_common import (
    as_dict,
    as_list,
    decode_json,
    finish_location,
    opt_float,
    opt_str,
    req_str,
)

__all__ = ["Hyvee", "HyveeSettings"]

API_URL = "https://www.hy-vee.com/my-pharmacy/api/graphql"
OPERATION = "SearchPharmaciesNearPointWithCovidVaccineAvailability"
QUERY = """
      query SearchPharmaciesNearPointWithCovidVaccineAvailability($latitude: Float!, $longitude: Float!, $radius: Int! = 10) {
        searchPharmaciesNearPoint(latitude: $latitude, longitude: $longitude, radius: $radius) {
          distance
          location {
            locationId
            name
            nickname
            phoneNumber
            businessCode
            covidVaccineTimeSlotAndManufacturerAvailability {
              isCovidVaccineAvailable
              availableCovidVaccineManufacturers {
                covidVaccineManufacturerId
                vaccineName
                doseTypes
                isSingleDose
                __typename
              }
              __typename
            }
            covidVaccineEligibilityTerms
            address {
              line1
              line2
              city
              state
              zip
              latitude
              longitude
              __typename
            }
            __typename
          }
          __typename
        }
      }
    """  # noqa: E501 - sent exactly as Hy-Vee's site sends it


class HyveeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the geographic centre of the contiguous US with a 5000-mile radius covers every store
    latitude: float = Field(39.8283, ge=-90, le=90)
    longitude: float = Field(-98.5795, ge=-180, le=180)
    radius_miles: int = Field(5000, ge=1)
    booking_url: str = "https://www.hy-vee.com/my-pharmacy/vaccine-consent"


class Hyvee(Scraper[HyveeSettings]):
    """Every Hy-Vee pharmacy, available when Hy-Vee says it has COVID-19 vaccine times."""

    name = "hyvee"
    provider = "Hy-Vee"
    regions = ("US-IA", "US-IL", "US-KS", "US-MN", "US-MO", "US-NE", "US-SD", "US-WI")
    maintainer = "Appointment Notifier maintainers"
    default_interval = 600.0
    min_interval = 120.0
    source_format = "api"
    none_when = ("a store with isCovidVaccineAvailable false (graphql-none.json)",)
    unknown_when = (
        "a GraphQL errors answer",
        "isCovidVaccineAvailable that is not true/false",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("graphql-response.json",),
            expect={
                "locations": 282,
                "by_location": {
                    "f3f24b44-4b61-4abd-abe1-d4a79ff966a3": {
                        "name": "Hy-Vee Kearney",
                        "address": "5212 3rd Ave",
                        "city": "Kearney",
                        "state": "NE",
                        "postal_code": "68845",
                        "lat": 40.7258167,
                        "lon": -99.087349,
                        "status": "available",
                        "appointments": None,
                        "products": ["Pfizer Bivalent", "Novavax"],
                    }
                },
            },
            note="derived: 282 pharmacies, 244 of them with COVID-19 times, read by hand",
        ),
        Example(
            files=("graphql-response.json",),
            expect={"locations": 282, "slots": 0, "appointments": 0},
            note="optional-fields: appointments, slots, valid_at",
        ),
        Example(files=("graphql-none.json",), expect={"locations": 3, "status": "none"}),
        Example(files=("graphql-error.json",), raises=UpstreamError),
    )

    def requests(self) -> list[Request]:
        body = {
            "operationName": OPERATION,
            "variables": {
                "radius": self.settings.radius_miles,
                "latitude": self.settings.latitude,
                "longitude": self.settings.longitude,
            },
            "query": QUERY,
        }
        return [Request(url=API_URL, method="POST", json=body, label="Hy-Vee pharmacies")]

    def parse(self, response: Response) -> list[LocationAvailability]:
        document = as_dict(decode_json(response), response.url)
        errors = document.get("errors")
        if errors:
            first = errors[0] if isinstance(errors, list) and errors else errors
            message = first.get("message") if isinstance(first, dict) else first
            raise UpstreamError(f"Hy-Vee GraphQL error: {message}")
        data = as_dict(document.get("data"), "data")
        results = as_list(data.get("searchPharmaciesNearPoint"), "data.searchPharmaciesNearPoint")
        by_id: dict[str, LocationAvailability] = {}
        for i, raw in enumerate(results):
            item = self._store(as_dict(as_dict(raw, f"result {i}").get("location"), f"result {i}"))
            by_id.setdefault(item.location.id, item)
        return list(by_id.values())

    def _store(self, store: dict[str, Any]) -> LocationAvailability:
        store_id = req_str(store, "locationId", "location")
        where = f"location {store_id}"
        address = as_dict(store.get("address"), f"{where} address")
        line1 = req_str(address, "line1", where)
        line2 = opt_str(address.get("line2"))
        place = req_str(store, "name", where)  # "Lincoln #4"; the nickname is the neighbourhood
        nickname = opt_str(store.get("nickname"))
        location = finish_location(
            Location(
                id=store_id,
                name=f"Hy-Vee {place} ({nickname})" if nickname else f"Hy-Vee {place}",
                address=f"{line1}, {line2}" if line2 else line1,
                city=opt_str(address.get("city")),
                state=opt_str(address.get("state")),
                postal_code=opt_str(str(address.get("zip") or "")),
                lat=opt_float(address.get("latitude")),
                lon=opt_float(address.get("longitude")),
                booking_url=self.settings.booking_url,
                phone=opt_str(store.get("phoneNumber")),
            )
        )
        vaccine = as_dict(
            store.get("covidVaccineTimeSlotAndManufacturerAvailability"), f"{where} availability"
        )
        available = vaccine.get("isCovidVaccineAvailable")
        if not isinstance(available, bool):
            raise Unparseable(f"{where}: isCovidVaccineAvailable is {available!r}")
        makers = vaccine.get("availableCovidVaccineManufacturers") or []
        products = [
            name
            for m in as_list(makers, f"{where} manufacturers")
            if (name := opt_str(as_dict(m, f"{where} manufacturer").get("vaccineName")))
            and "flu" not in name.lower()
        ]
        return LocationAvailability(
            location=location,
            status=Status.AVAILABLE if available else Status.NONE,
            products=tuple(dict.fromkeys(products)) if available else (),
        )
