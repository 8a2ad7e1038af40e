"""Reading a SMART ``Location`` resource into the project's ``Location``.

The postal code is repaired (ZIPs that lost a leading zero) and the coordinates, city, state and
time zone are filled offline from it when the source leaves them out.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.geo import complete_location
from notifier.model import Location
from scrapers._smart.fhir import extension_values

__all__ = ["as_dict", "number", "read_location", "telecom", "text", "zone"]


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_ZONES: dict[str, ZoneInfo | None] = {}


def zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    if name not in _ZONES:
        try:
            _ZONES[name] = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            _ZONES[name] = None
    return _ZONES[name]


def text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number else None  # NaN is not a coordinate


def telecom(resource: dict[str, Any], system: str) -> str | None:
    telecom = resource.get("telecom")
    for item in telecom if isinstance(telecom, list) else []:
        if isinstance(item, dict) and item.get("system") == system:
            value = text(item.get("value"))
            if value:
                return value
    return None


def read_location(resource: dict[str, Any]) -> tuple[Location, dict[str, Any]] | None:
    """A ``Location`` (ZIP repaired, centroid and time zone filled) and its extensions."""
    loc_id = text(resource.get("id"))
    if loc_id is None:
        return None
    address = as_dict(resource.get("address"))
    lines = address.get("line")
    if isinstance(lines, list):
        street = ", ".join(s.strip() for s in lines if isinstance(s, str) and s.strip())
    else:
        street = text(lines) or ""
    position = as_dict(resource.get("position"))
    lat, lon = number(position.get("latitude")), number(position.get("longitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    elif lat == 0 and lon == 0:
        lat = lon = None  # "0,0" is a missing position, not the Gulf of Guinea
    state = text(address.get("state"))
    location = Location(
        id=loc_id,
        name=text(resource.get("name")) or f"Location {loc_id}",
        address=street or None,
        city=text(address.get("city")),
        state=state.upper() if state else None,
        postal_code=text(address.get("postalCode")),
        lat=lat,
        lon=lon,
    )
    return complete_location(location), extension_values(resource)
