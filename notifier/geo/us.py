"""United States ZIP codes: offline centroids and time zones from the ``zipcodes`` package."""

from __future__ import annotations

import re
from functools import lru_cache

from notifier.geo.places import PostalPlace

__all__ = ["lookup", "normalize"]

# ASCII digits only: "²" and "١" are digits to \d without re.ASCII
_US_ZIP = re.compile(r"^\s*([0-9]{3,5})(?:[-\s]?[0-9]{4})?\s*$")


def normalize(code: str) -> str | None:
    match = _US_ZIP.match(code)
    return match.group(1).zfill(5) if match else None


@lru_cache(maxsize=1)
def _index() -> dict[str, PostalPlace]:
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


def lookup(code: str) -> PostalPlace | None:
    return _index().get(code)
