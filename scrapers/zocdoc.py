"""ZocDoc vaccine booking: its GraphQL API, a location search combined with availability.

A poll makes two POSTs to ``https://api.zocdoc.com/directory/v2/gql``:

1. a **search** for COVID-19 vaccination providers in a state, answered as
   ``data.search.searchResponse.providerLocations[]``: each provider-location's id, provider
   (name, profile URL) and location (address, ZIP, coordinates, phone), but no slots;
2. an **availability** query for a list of provider-location ids, answered as
   ``data.providerLocations[].availability.times[{date, timeslots[]}]``: one record per open
   slot, dated by the location's local date, but with no address.

How the two combine: the availability answer decides which locations exist in a poll and what
is open; the search answer only describes them. Each availability entry takes its metadata from
the search entry with the same provider-location id, else from ``sites`` in the settings (a
clinic can be bookable without appearing in the state search: Tufts MC's white-label site
did, so the defaults describe it), else from the little the availability answer carries
(state, phone). The availability query asks for the configured ids plus every id the search
found, so a newly listed clinic is polled without a config change. A search alone tells
nothing about appointments and raises; a GraphQL ``errors`` answer raises ``UpstreamError``.

Rate limit: none published for the public web app's API. A poll is two POSTs and polls are at
least a minute apart (five minutes by default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from notifier.geo import complete_location
from notifier.model import Location, LocationAvailability, Status
from notifier.scraping import (
    Example,
    Request,
    Response,
    ScrapeError,
    Scraper,
    Unparseable,
    UpstreamError,
)
from scrapers._html import json_document, response_date, squash

__all__ = ["ZocdocScraper", "ZocdocSettings", "ZocdocSite"]

_EXPECTED = "a ZocDoc GraphQL answer"
_AVAILABILITY_QUERY = """
query providerLocationsAvailability($directoryId: String, $insurancePlanId: String,
    $isNewPatient: Boolean, $jumpAhead: Boolean, $firstAvailabilityMaxDays: Int,
    $numDays: Int, $procedureId: String, $providerLocationIds: [String],
    $timeFilter: TimeFilter) {
  providerLocations(ids: $providerLocationIds) {
    id
    provider { id monolithId }
    location { id monolithId state phone }
    availability(directoryId: $directoryId, insurancePlanId: $insurancePlanId,
        isNewPatient: $isNewPatient, jumpAhead: $jumpAhead,
        firstAvailabilityMaxDays: $firstAvailabilityMaxDays, numDays: $numDays,
        procedureId: $procedureId, timeFilter: $timeFilter) {
      times { date timeslots { isResource startTime } }
      firstAvailability { startTime }
      today
    }
  }
}
"""
_SEARCH_QUERY = """
query vaccineSearch($directoryId: String, $procedureId: String, $specialtyId: String,
    $state: String, $flavor: String) {
  search(directoryId: $directoryId, procedureId: $procedureId, specialtyId: $specialtyId,
      state: $state, flavor: $flavor) {
    id
    searchResponse {
      totalCount
      providerLocations {
        id
        provider { id approvedFullName nameInSentence profileUrl }
        location { id address1 address2 city state zipCode latitude longitude name phone }
      }
    }
  }
}
"""


class ZocdocSite(BaseModel):
    """What the search does not say about a provider-location."""

    model_config = ConfigDict(extra="forbid")

    name: str
    address: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    phone: str | None = None
    booking_url: str | None = None


_TUFTS = "pr_fSHH-Tyvm0SZvoK3pfH8tx|lo_EMLPse6C60qr6_M2rJmilx"
#: The other provider-locations of the recorded poll (AFC Urgent Care sites and Holtzman).
_MA_SITES = (
    "pr_VUnpWUtg1k2WFBMK8IhZkx|lo_PhFQcSZjdUKZUHp63gDcmx",
    "pr_pEgrY3r5qEuYKsKvc4Kavx|lo_f3k2t812AUa9NTIYJpbuKx",
    "pr_TeD-JuoydUKqszEn2ATb8h|lo_jbrpfIgELEWWL2j5d3t6Sh",
    "pr_iXjD9x2P-0OrLNoIknFr8R|lo_xmpTUhghfUC2n6cs3ZGHhh",
    "pr_BDBebslqJU2vrCAvVMhYeh|lo_zDtK7NZWO0S_rgUqjxD1hB",
    "pr_4Vg_3ZeLY0aHJJxsCU-WhB|lo_VA_6br22m02Iu57vrHWtaB",
    "pr_CUmBnwtlz0C16bif5EU0IR|lo_X6zHHncQnkqyLp-rvpi1_R",
)


class ZocdocSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gql_url: str = "https://api.zocdoc.com/directory/v2/gql"
    state: str = Field("MA", description="The state searched for vaccination providers.")
    procedure_id: str = Field("5243", description="ZocDoc's COVID-19 vaccine procedure.")
    specialty_id: str = Field("510", description="ZocDoc's COVID-19 Vaccination Facility.")
    num_days: int = Field(14, ge=1, le=28)
    search: bool = Field(True, description="Search the state for providers and their addresses.")
    provider_location_ids: list[str] = Field(
        default_factory=lambda: [_TUFTS, *_MA_SITES],
        description="Provider-locations always polled (besides those the search finds).",
    )
    sites: dict[str, ZocdocSite] = Field(
        default_factory=lambda: {
            _TUFTS: ZocdocSite(
                name="Tufts MC Vaccine Site - Boston Location",
                address="279 Tremont St",
                city="Boston",
                state="MA",
                postal_code="02116",
                booking_url="https://www.zocdoc.com/wl/tuftscovid19vaccination/patientvaccine",
            )
        },
        description="Metadata for provider-locations the search does not list.",
    )

    @property
    def booking_url(self) -> str:
        return f"https://www.zocdoc.com/vaccine/screener?state={self.state}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    return squash(value) or None if isinstance(value, str) else None


def _number(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _graphql_data(response: Response) -> Mapping[str, Any]:
    document = json_document(response, _EXPECTED)
    if not isinstance(document, Mapping):
        raise Unparseable(f"{response.url}: expected {_EXPECTED}, got {type(document).__name__}")
    errors = document.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else errors
        message = _mapping(first).get("message") or str(first)
        raise UpstreamError(f"ZocDoc GraphQL error: {squash(str(message))[:200]}")
    data = document.get("data")
    if not isinstance(data, Mapping):
        raise Unparseable(f"{response.url}: {_EXPECTED} without a data object")
    return data


def _search_results(data: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """The search answer's provider-locations, or None when ``data`` is not a search answer."""
    if "search" not in data:
        return None
    found = _mapping(_mapping(data.get("search")).get("searchResponse")).get("providerLocations")
    if not isinstance(found, list):
        raise Unparseable("ZocDoc search answer without searchResponse.providerLocations")
    return [_mapping(item) for item in found]


def _by_date(entry: Mapping[str, Any]) -> tuple[dict[dt.date, int | None], int] | None:
    """Open slots per local date; None when ZocDoc gave no availability for this entry."""
    availability = entry.get("availability")
    if availability is None:
        return None
    times = _mapping(availability).get("times")
    if not isinstance(times, list):
        raise Unparseable(f"ZocDoc availability of {entry.get('id')!r} has no times list")
    by_date: dict[dt.date, int | None] = {}
    for day in times:
        slots = _mapping(day).get("timeslots")
        if not isinstance(slots, list):
            raise Unparseable(f"ZocDoc day of {entry.get('id')!r} has no timeslots list")
        if not slots:
            continue  # ZocDoc lists every day of the range; empty days are not openings
        try:
            date = dt.date.fromisoformat(str(_mapping(day).get("date"))[:10])
        except ValueError as exc:
            raise Unparseable(f"ZocDoc day {_mapping(day).get('date')!r} is not a date") from exc
        by_date[date] = (by_date.get(date) or 0) + len(slots)
    return by_date, sum(n or 0 for n in by_date.values())


class ZocdocScraper(Scraper[ZocdocSettings]):
    """ZocDoc vaccine providers: state search (metadata) plus availability (slots)."""

    name = "zocdoc"
    provider = "ZocDoc"
    regions = ("US-MA",)
    maintainer = "scrapers team <scrapers@appointment-notifier.org>"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "api"
    none_when = ("a provider location with no timeslots (the none example)",)
    unknown_when = (
        "a GraphQL error",
        "an answer without providerLocations or times lists",
        "HTTP errors, timeouts",
    )
    examples = (
        Example(
            files=("locations.json", "availability.json"),
            expect={
                "locations": 8,
                "appointments": 9,
                "slots": 9,
                "by_location": {
                    _TUFTS: {
                        "name": "Tufts MC Vaccine Site - Boston Location",
                        "status": "available",
                        "appointments": 9,
                        "by_date": {"2021-03-30": 2, "2021-03-31": 3, "2021-04-02": 4},
                        "postal_code": "02116",
                    },
                    "pr_CUmBnwtlz0C16bif5EU0IR|lo_X6zHHncQnkqyLp-rvpi1_R": {
                        "name": "AFC Urgent Care Springfield",
                        "address": "415 Cooley St, Unit 3",
                        "postal_code": "01128",
                        "status": "none",
                        "booking_url": "https://www.zocdoc.com/doctor/afc-springfield-312604",
                    },
                },
            },
            note="optional-fields: valid_at, products",
        ),
        Example(
            files=("locations.json", "availability.json"),
            expect={
                "by_location": {
                    pl: {"status": "none", "appointments": 0, "by_date": {}} for pl in _MA_SITES
                }
            },
            note="the seven providers besides Tufts: a real 'nothing open' for each",
        ),
        Example(files=("error-synthetic.json",), raises=UpstreamError),
        Example(files=("locations.json",), raises=Unparseable, note="a search has no slots"),
    )

    # ------------------------------------------------------------------ requests

    def _post(self, operation: str, query: str, variables: Mapping[str, Any]) -> Request:
        return Request(
            url=self.settings.gql_url,
            method="POST",
            headers={"Origin": "https://www.zocdoc.com", "Referer": "https://www.zocdoc.com/"},
            json={"operationName": operation, "variables": dict(variables), "query": query},
            label=f"zocdoc {operation}",
        )

    def _availability_request(self, ids: Sequence[str]) -> Request:
        c = self.settings
        return self._post(
            "providerLocationsAvailability",
            _AVAILABILITY_QUERY,
            {
                "directoryId": "-1",
                "insurancePlanId": "-1",
                "isNewPatient": True,
                "jumpAhead": True,
                "firstAvailabilityMaxDays": 30,
                "numDays": c.num_days,
                "procedureId": c.procedure_id,
                "providerLocationIds": list(dict.fromkeys(ids)),
                "timeFilter": "AnyTime",
            },
        )

    def requests(self) -> list[Request]:
        c = self.settings
        if not c.search:
            return [self._availability_request(c.provider_location_ids)]
        variables = {
            "directoryId": "-1",
            "procedureId": c.procedure_id,
            "specialtyId": c.specialty_id,
            "state": c.state,
            "flavor": "state-search",
        }
        return [self._post("vaccineSearch", _SEARCH_QUERY, variables)]

    def follow(self, response: Response) -> list[Request]:
        """After the search: availability for the configured ids plus every id it found."""
        try:
            found = _search_results(_graphql_data(response))
        except ScrapeError:
            return []
        if found is None:
            return []
        ids = [str(item["id"]) for item in found if isinstance(item.get("id"), str)]
        return [self._availability_request([*self.settings.provider_location_ids, *ids])]

    # ------------------------------------------------------------------ parsing

    def _location(self, entry: Mapping[str, Any], found: Mapping[str, Any] | None) -> Location:
        pl_id = str(entry["id"])
        site = self.settings.sites.get(pl_id)
        own = _mapping(entry.get("location"))
        if found is not None:
            where = _mapping(found.get("location"))
            who = _mapping(found.get("provider"))
            street = ", ".join(p for p in (_text(where, "address1"), _text(where, "address2")) if p)
            profile = _text(who, "profileUrl")
            location = Location(
                id=pl_id,
                name=_text(where, "name") or _text(who, "approvedFullName") or pl_id,
                address=street or None,
                city=_text(where, "city"),
                state=_text(where, "state"),
                postal_code=_text(where, "zipCode"),
                lat=_number(where, "latitude"),
                lon=_number(where, "longitude"),
                phone=_text(where, "phone") or _text(own, "phone"),
                booking_url=f"https://www.zocdoc.com{profile}" if profile else None,
            )
        elif site is not None:
            location = Location(
                id=pl_id,
                name=site.name,
                address=site.address,
                city=site.city,
                state=site.state or _text(own, "state"),
                postal_code=site.postal_code,
                lat=site.lat,
                lon=site.lon,
                phone=site.phone or _text(own, "phone"),
            )
        else:
            location = Location(
                id=pl_id,
                name=f"ZocDoc provider {pl_id.split('|')[0]}",
                state=_text(own, "state"),
                phone=_text(own, "phone"),
            )
        booking = (site.booking_url if site else None) or location.booking_url
        return complete_location(
            replace(location, booking_url=booking or self.settings.booking_url)
        )

    def parse(self, response: Response) -> list[LocationAvailability]:
        return self.parse_all([response])

    def parse_all(self, responses: Sequence[Response]) -> list[LocationAvailability]:
        described: dict[str, Mapping[str, Any]] = {}
        entries: list[tuple[Mapping[str, Any], Response]] = []
        answered = False
        for response in responses:
            data = _graphql_data(response)
            found = _search_results(data)
            if found is not None:
                described.update((str(f["id"]), f) for f in found if isinstance(f.get("id"), str))
                continue
            listed = data.get("providerLocations")
            if not isinstance(listed, list):
                raise Unparseable(f"{response.url}: neither a search nor an availability answer")
            answered = True
            entries.extend((_mapping(entry), response) for entry in listed)
        if not answered:
            raise Unparseable("the poll holds a ZocDoc search but no availability answer")
        results: list[LocationAvailability] = []
        for entry, response in entries:
            if not isinstance(entry.get("id"), str):
                raise Unparseable("a ZocDoc provider-location without an id")
            location = self._location(entry, described.get(entry["id"]))
            counted = _by_date(entry)
            if counted is None:  # listed, but ZocDoc would not say: unknown, not "none"
                results.append(LocationAvailability(location=location, status=Status.UNKNOWN))
                continue
            by_date, slots = counted
            results.append(
                LocationAvailability.from_counts(
                    location, by_date, slots=slots, valid_at=response_date(response)
                )
            )
        return _first_per_id(results)


def _first_per_id(results: list[LocationAvailability]) -> list[LocationAvailability]:
    """One result per provider-location: a repeated id in one answer is the same listing."""
    seen: dict[str, LocationAvailability] = {}
    for result in results:
        seen.setdefault(result.location.id, result)
    return list(seen.values())
