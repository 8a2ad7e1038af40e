"""The data every part of the pipeline speaks: locations and their availability.

These types are plain, immutable and free of I/O so that parsers and the diff policy can be
pure functions over them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

__all__ = [
    "MAX_DB_INT",
    "Alert",
    "Location",
    "LocationAvailability",
    "Status",
    "merge_availability",
]

#: the largest id the database stores (INTEGER primary keys on PostgreSQL; SQLite accepts
#: them too): alert and subscriber ids in links never exceed it
MAX_DB_INT = 2**31 - 1


class Status(StrEnum):
    """Outcome of one poll for one location.

    ``UNKNOWN`` means "we could not tell" (error page, timeout, changed layout). It never
    raises an alert and never overwrites the last good state.
    """

    AVAILABLE = "available"
    NONE = "none"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Location:
    """A place where appointments are offered.

    ``id`` is stable across polls and unique within one scraper (for example a store number or
    a slug of name and address); the core prefixes it with the provider id when storing it.
    """

    id: str
    name: str
    address: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str = "US"
    lat: float | None = None
    lon: float | None = None
    time_zone: str | None = None
    booking_url: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class LocationAvailability:
    """What one poll says about one location.

    * ``appointments`` counts open appointments, weighted by capacity where the source gives one.
    * ``slots`` counts open slot records (``None`` when the source only gives counts).
    * ``by_date`` maps a *local* date to its open appointments; ``None`` means "has openings,
      count unknown".
    * ``valid_at`` is when the source says the data was true (``None`` if it does not say).
    """

    location: Location
    status: Status
    appointments: int | None = None
    slots: int | None = None
    by_date: Mapping[dt.date, int | None] = field(default_factory=dict)
    products: tuple[str, ...] = ()
    age_groups: tuple[str, ...] = ()
    valid_at: dt.datetime | None = None

    @classmethod
    def from_counts(
        cls,
        location: Location,
        by_date: Mapping[dt.date, int | None],
        *,
        slots: int | None = None,
        products: Iterable[str] = (),
        age_groups: Iterable[str] = (),
        valid_at: dt.datetime | None = None,
    ) -> LocationAvailability:
        """Build an availability whose status and total follow from per-date counts.

        A date whose count is ``None`` (open, count unknown) makes the location available
        but leaves the total unknown only if no date has a count.
        """
        known = [n for n in by_date.values() if n is not None]
        any_unknown_open = any(n is None for n in by_date.values())
        total = sum(known)
        status = Status.AVAILABLE if total > 0 or any_unknown_open else Status.NONE
        appointments: int | None = total if (known or not any_unknown_open) else None
        return cls(
            location=location,
            status=status,
            appointments=appointments,
            slots=slots,
            by_date=dict(sorted(by_date.items())),
            products=tuple(dict.fromkeys(products)),
            age_groups=tuple(dict.fromkeys(age_groups)),
            valid_at=valid_at,
        )

    def to_json(self) -> dict[str, Any]:
        """The flat JSON shape of ``notifier scraper parse --json`` (a public contract)."""
        loc = self.location
        return {
            "id": loc.id,
            "name": loc.name,
            "address": loc.address,
            "city": loc.city,
            "state": loc.state,
            "postal_code": loc.postal_code,
            "lat": loc.lat,
            "lon": loc.lon,
            "booking_url": loc.booking_url,
            "status": self.status.value,
            "appointments": self.appointments,
            "slots": self.slots,
            "by_date": {day.isoformat(): n for day, n in sorted(self.by_date.items())},
            "products": list(self.products),
            "valid_at": self.valid_at.isoformat() if self.valid_at else None,
        }


def _add(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return a if b is None else b
    return a + b


def _merge_pair(a: LocationAvailability, b: LocationAvailability) -> LocationAvailability:
    by_date: dict[dt.date, int | None] = dict(a.by_date)
    for day, n in b.by_date.items():
        by_date[day] = _add(by_date[day], n) if day in by_date else n
    if Status.AVAILABLE in (a.status, b.status):
        status = Status.AVAILABLE
    elif Status.NONE in (a.status, b.status):
        status = Status.NONE
    else:
        status = Status.UNKNOWN
    valid = [v for v in (a.valid_at, b.valid_at) if v is not None]
    return replace(
        a,
        status=status,
        appointments=_add(a.appointments, b.appointments),
        slots=_add(a.slots, b.slots),
        by_date=dict(sorted(by_date.items())),
        products=tuple(dict.fromkeys(a.products + b.products)),
        age_groups=tuple(dict.fromkeys(a.age_groups + b.age_groups)),
        # Keep the location metadata that is more complete: a later page may lack a link.
        location=_richer(a.location, b.location),
        valid_at=min(valid) if valid else None,
    )


def _richer(a: Location, b: Location) -> Location:
    changes = {
        name: getattr(b, name)
        for name in Location.__slots__
        if getattr(a, name) is None and getattr(b, name) is not None
    }
    return replace(a, **changes) if changes else a


def merge_availability(items: Iterable[LocationAvailability]) -> list[LocationAvailability]:
    """Merge results that describe the same location (same ``location.id``).

    Counts add up for the same location and date, so a clinic split over several blocks or
    pages ("More Times") is reported once with its total. Order of first appearance is kept.
    """
    merged: dict[str, LocationAvailability] = {}
    for item in items:
        key = item.location.id
        merged[key] = _merge_pair(merged[key], item) if key in merged else item
    return list(merged.values())


@dataclass(frozen=True, slots=True)
class Alert:
    """News worth telling people: a location opened up, or gained appointments.

    Alerts are immutable facts; every delivery of one alert renders the same content.
    ``expires_at`` bounds how late a delivery may still go out: stale news sends people to a
    clinic that has already filled.
    """

    provider_id: str
    location: Location
    kind: str  # "opened" | "increased"
    appointments: int | None
    increase: int | None
    by_date: Mapping[dt.date, int | None]
    products: tuple[str, ...]
    age_groups: tuple[str, ...]
    detected_at: dt.datetime
    expires_at: dt.datetime
    valid_at: dt.datetime | None = None
    id: int | None = None
