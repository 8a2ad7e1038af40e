"""Small, strict readers shared by the JSON/CSV API scrapers (Rite Aid, CDC, NJVSS, ...).

Every reader raises a ``ScrapeError`` subclass instead of ``KeyError``/``TypeError``: an API
that changed shape, or a body cut short by a proxy, must make the provider "unknown", never
"no appointments" and never a crash of the poller.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from notifier.geo import complete_location
from notifier.model import Location
from notifier.scraping import Blocked, Response, Unparseable

__all__ = [
    "US_TIME_ZONE_ABBREVIATIONS",
    "as_dict",
    "as_list",
    "decode_json",
    "finish_location",
    "opt_float",
    "opt_str",
    "parse_day",
    "query_param",
    "refuse_html",
    "req_int",
    "req_str",
]

#: Markers of pages that turn robots away (Imperva/Incapsula, Cloudflare, Akamai, queue-it).
_BLOCK_MARKERS = re.compile(
    rb"captcha|incapsula|_incapsula_resource|cf-chl|attention required|access denied"
    rb"|queue-it|waiting room|request unsuccessful|too many requests",
    re.IGNORECASE,
)

#: Rite Aid and others give US time zones as abbreviations; a ZIP centroid is preferred.
US_TIME_ZONE_ABBREVIATIONS: dict[str, str] = {
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
}


def refuse_html(response: Response, body: bytes) -> None:
    """Raise on an HTML page where data belongs: ``Blocked`` for a block page."""
    if body[:1] == b"<":
        if _BLOCK_MARKERS.search(body[:20000]):
            raise Blocked(f"{response.url}: a block or waiting-room page instead of data")
        raise Unparseable(f"{response.url}: an HTML page instead of data")


def decode_json(response: Response) -> Any:
    """The body as JSON, after refusing error statuses, empty bodies and HTML pages."""
    response.raise_for_status()
    body = response.body.strip()
    if not body:
        raise Unparseable(f"{response.url}: empty body")
    refuse_html(response, body)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise Unparseable(f"{response.url}: not JSON: {exc}") from exc


def as_dict(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unparseable(f"{where}: expected an object, got {type(value).__name__}")
    return value


def as_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise Unparseable(f"{where}: expected a list, got {type(value).__name__}")
    return value


def opt_str(value: object) -> str | None:
    """A stripped non-empty string, or None for null/blank/non-strings."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def req_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = opt_str(obj.get(key))
    if value is None:
        raise Unparseable(f"{where}: {key!r} is missing or empty")
    return value


def req_int(obj: Mapping[str, Any], key: str, where: str, *, minimum: int = 0) -> int:
    value = obj.get(key)
    # bool is an int in Python; a true/false where a count belongs is a changed format
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Unparseable(f"{where}: {key!r} is {value!r}, not a whole number >= {minimum}")
    return value


def opt_float(value: object) -> float | None:
    """A finite number from a number or numeric string; None when absent or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):  # an int beyond float range overflows
        return None
    return number if math.isfinite(number) else None


def parse_day(value: object, where: str) -> dt.date:
    """An ISO ``YYYY-MM-DD`` date (a longer timestamp keeps its date part)."""
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d\d-\d\d", value):
        raise Unparseable(f"{where}: {value!r} is not a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError as exc:
        raise Unparseable(f"{where}: {value!r} is not a real date") from exc


def query_param(url: str, name: str) -> str | None:
    """The first value of one query parameter of ``url``."""
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def finish_location(location: Location, fallback_time_zone: str | None = None) -> Location:
    """Repair the postal code and fill coordinates/time zone offline from it.

    A coordinate pair outside the globe is dropped first (then the ZIP centroid fills in).
    """
    lat, lon = location.lat, location.lon
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        location = replace(location, lat=None, lon=None)
    completed = complete_location(location)
    if completed.time_zone is None and fallback_time_zone:
        completed = replace(completed, time_zone=fallback_time_zone)
    return completed
