"""A SMART Scheduling Links publication in the format real publishers served.

Shaped like PrepMod's own feed (Washington DOH, 2021) and the specification's example: a
``$bulk-publish`` manifest with ``transactionTime`` and one output entry per NDJSON file;
Location, Schedule and one Slot file per location. Slots carry the booking deep link and the
``slot-capacity`` extension. Appointments are cut into fixed slots across opening hours and
booked from the earliest slot on, so the free capacities of a day add up to exactly the
simulator's truth for that day.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from notifier.testing.sites import Site

__all__ = [
    "SLOT_CAPACITY",
    "free_slot_count",
    "location_resource",
    "manifest",
    "ndjson",
    "schedule_resource",
    "slot_capacities",
    "slot_resources",
    "slots_file_name",
]

EASTERN = ZoneInfo("America/New_York")
#: what one slot holds before the day is too big for the grid (then slots grow)
SLOT_CAPACITY = 40
_REGISTRY = "http://fhir-registry.smarthealthit.org"
_SERVICE_TYPE = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/service-type",
                "code": "57",
                "display": "Immunization",
            },
            {
                "system": f"{_REGISTRY}/CodeSystem/service-type",
                "code": "covid19-immunization",
                "display": "COVID-19 Immunization Appointment",
            },
        ]
    }
]


def _instant(moment: dt.datetime) -> str:
    """FHIR instant as the spec example writes it: ``2021-04-22T14:28:21.582Z``."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def slots_file_name(site: Site) -> str:
    return f"slots-{site.id}.ndjson"


def manifest(
    *,
    base_url: str,
    request_url: str,
    transaction_time: dt.datetime,
    sites: Sequence[Site],
    include_static: bool = True,
) -> dict[str, Any]:
    """The ``$bulk-publish`` manifest; ``sites`` are those whose slot files are listed."""
    output: list[dict[str, Any]] = []
    if include_static:
        output.append({"type": "Location", "url": f"{base_url}/smart/locations.ndjson"})
        output.append({"type": "Schedule", "url": f"{base_url}/smart/schedules.ndjson"})
    for site in sites:
        output.append(
            {
                "type": "Slot",
                "url": f"{base_url}/smart/{slots_file_name(site)}",
                "extension": {"state": [site.state]},
            }
        )
    return {
        "transactionTime": _instant(transaction_time),
        "request": request_url,
        "output": output,
        "error": [],
    }


def location_resource(site: Site, base_url: str) -> dict[str, Any]:
    search = quote(site.name)
    return {
        "id": site.id,
        "resourceType": "Location",
        "name": site.name,
        "telecom": [
            {
                "system": "url",
                "value": f"{base_url}/clinic/search?q%5Bvenue_search_name_or_venue_name_i_cont%5D"
                f"={search}",
            }
        ],
        "address": {
            "line": [site.street],
            "city": site.city,
            "state": site.state,
            "postalCode": site.postal_code,
            "district": site.county,
        },
        "identifier": [
            {"system": "urn:https://clinics.maimmunizations.org/:prepmod:venue", "value": site.id}
        ],
        "position": {"latitude": site.lat, "longitude": site.lon},
    }


def schedule_resource(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "actor": [{"reference": f"Location/{site.id}"}],
        "resourceType": "Schedule",
        "serviceType": _SERVICE_TYPE,
        "extension": [
            {
                "url": f"{_REGISTRY}/StructureDefinition/vaccine-product",
                "valueCoding": {
                    "system": "http://hl7.org/fhir/sid/cvx",
                    "code": site.cvx,
                    "display": site.vaccine,
                },
            },
            {"url": f"{_REGISTRY}/StructureDefinition/vaccine-dose", "valueInteger": 1},
        ],
    }


def _slot_starts(site: Site, day: dt.date) -> list[dt.datetime]:
    opens = dt.datetime.combine(day, dt.time.fromisoformat(site.opens), EASTERN)
    closes = dt.datetime.combine(day, dt.time.fromisoformat(site.closes), EASTERN)
    count = int((closes - opens) / dt.timedelta(minutes=site.slot_minutes))
    return [opens + dt.timedelta(minutes=site.slot_minutes * i) for i in range(count)]


def slot_capacities(remaining: int, slots: int, per_slot: int = SLOT_CAPACITY) -> list[int]:
    """Free capacity of each slot of a day, earliest first, adding up to ``remaining``.

    People book the earliest times first, so the free capacity sits in the last slots.
    """
    if slots <= 0:
        raise ValueError("a day needs at least one slot")
    capacity = max(per_slot, math.ceil(remaining / slots))
    free = [0] * slots
    left = max(remaining, 0)
    for i in range(slots - 1, -1, -1):
        free[i] = min(capacity, left)
        left -= free[i]
    return free


def slot_resources(
    site: Site, by_date: Mapping[dt.date, int], booking_link: Callable[[dt.date], str]
) -> list[dict[str, Any]]:
    """Every slot of every listed day: ``free`` with its capacity, or ``busy`` when booked."""
    resources: list[dict[str, Any]] = []
    for day, remaining in sorted(by_date.items()):
        starts = _slot_starts(site, day)
        for start, free in zip(starts, slot_capacities(remaining, len(starts)), strict=True):
            end = start + dt.timedelta(minutes=site.slot_minutes)
            slot: dict[str, Any] = {
                "id": f"{site.id}-{start:%Y%m%dT%H%M}",
                "resourceType": "Slot",
                "schedule": {"reference": f"Schedule/{site.id}"},
                "status": "free" if free > 0 else "busy",
                "start": start.isoformat(timespec="milliseconds"),
                "end": end.isoformat(timespec="milliseconds"),
            }
            if free > 0:
                slot["extension"] = [
                    {
                        "url": f"{_REGISTRY}/StructureDefinition/booking-deep-link",
                        "valueUrl": booking_link(day),
                    },
                    {"url": f"{_REGISTRY}/StructureDefinition/slot-capacity", "valueInteger": free},
                ]
            resources.append(slot)
    return resources


def free_slot_count(site: Site, by_date: Mapping[dt.date, int]) -> int:
    """How many slot records are ``free`` (the ``slots`` a SMART parser should count)."""
    return sum(
        sum(1 for free in slot_capacities(n, len(_slot_starts(site, day))) if free > 0)
        for day, n in by_date.items()
    )


def ndjson(resources: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in resources)
