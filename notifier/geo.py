"""Offline region lookup: postal codes to coordinates and time zones, and distances.

Nothing here downloads data: US ZIP centroids come from the ``zipcodes`` package. Lookups are
pluggable by country through ``register_country``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from notifier.model import Location

__all__ = [
    "PostalPlace",
    "complete_location",
    "distance_miles",
    "lookup_postal_code",
    "normalize_postal_code",
    "register_country",
]

EARTH_RADIUS_MILES = 3958.8


@dataclass(frozen=True, slots=True)
class PostalPlace:
    country: str
    postal_code: str
    city: str | None
    state: str | None
    lat: float
    lon: float
    time_zone: str | None


_LOOKUPS: dict[str, Callable[[str], PostalPlace | None]] = {}
_NORMALIZERS: dict[str, Callable[[str], str | None]] = {}


def register_country(
    country: str,
    lookup: Callable[[str], PostalPlace | None],
    normalize: Callable[[str], str | None],
) -> None:
    """Plug in postal-code support for a country (ISO 3166 alpha-2)."""
    _LOOKUPS[country.upper()] = lookup
    _NORMALIZERS[country.upper()] = normalize


def normalize_postal_code(code: str | int | None, country: str = "US") -> str | None:
    """The canonical form of a postal code, or None if it cannot be one.

    US: ``"6811"`` (a ZIP that lost its leading zero as a number) becomes ``"06811"``, and
    ``"08332-3762"`` becomes ``"08332"``.
    """
    if code is None:
        return None
    normalize = _NORMALIZERS.get(country.upper())
    return normalize(str(code)) if normalize else str(code).strip() or None


def lookup_postal_code(code: str | int | None, country: str = "US") -> PostalPlace | None:
    """The centroid, city and time zone of a postal code, offline; None when unknown."""
    normalized = normalize_postal_code(code, country)
    lookup = _LOOKUPS.get(country.upper())
    if normalized is None or lookup is None:
        return None
    return lookup(normalized)


def distance_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(math.sqrt(a))


def complete_location(location: Location) -> Location:
    """Repair the postal code and fill coordinates, time zone, city and state from it.

    Values the source gave win; only missing ones are filled from the offline centroid.
    """
    code = normalize_postal_code(location.postal_code, location.country)
    place = lookup_postal_code(code, location.country) if code else None
    if place is None:
        return replace(location, postal_code=code) if code != location.postal_code else location
    has_coords = location.lat is not None and location.lon is not None
    return replace(
        location,
        postal_code=code,
        lat=location.lat if has_coords else place.lat,
        lon=location.lon if has_coords else place.lon,
        time_zone=location.time_zone or place.time_zone,
        city=location.city or place.city,
        state=location.state or place.state,
    )


# --------------------------------------------------------------------------- United States

_US_ZIP = re.compile(r"^\s*(\d{3,5})(?:[-\s]?\d{4})?\s*$")


def _normalize_us(code: str) -> str | None:
    match = _US_ZIP.match(code)
    return match.group(1).zfill(5) if match else None


@lru_cache(maxsize=1)
def _us_index() -> dict[str, PostalPlace]:
    import zipcodes  # imported lazily: loading its table takes half a second

    index: dict[str, PostalPlace] = {}
    for row in zipcodes.list_all():
        try:
            lat, lon = float(row["lat"]), float(row["long"])
        except (TypeError, ValueError):
            continue
        index[row["zip_code"]] = PostalPlace(
            country="US",
            postal_code=row["zip_code"],
            city=row.get("city"),
            state=row.get("state"),
            lat=lat,
            lon=lon,
            time_zone=row.get("timezone") or None,
        )
    return index


def _lookup_us(code: str) -> PostalPlace | None:
    return _us_index().get(code)


register_country("US", _lookup_us, _normalize_us)


# --------------------------------------------------------------------------- other countries


def _register_bundled_countries() -> None:
    # Imported here, not at the top: geo_de needs PostalPlace from this module, and its table
    # is only read on the first German lookup.
    from notifier import geo_de

    register_country("DE", geo_de.lookup, geo_de.normalize)


_register_bundled_countries()
