"""Offline region lookup: postal codes to coordinates and time zones, and distances.

Nothing here downloads data: US ZIP centroids come from the ``zipcodes`` package. Lookups are
pluggable by country through ``register_country``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace

from notifier.geo import de, us
from notifier.geo.places import PostalPlace
from notifier.model import Location

__all__ = [
    "PostalPlace",
    "complete_location",
    "distance_miles",
    "lookup_postal_code",
    "normalize_postal_code",
    "phone_country",
    "region_problem",
    "register_country",
    "stored_postal_country",
]

EARTH_RADIUS_MILES = 3958.8
#: a stored centroid this close to a country's centroid of the code was read in that country
#: (the tables move a centroid a little when rebuilt; two countries' codes lie an ocean apart)
SAME_PLACE_MILES = 25.0


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


def phone_country(number: str | None) -> str | None:
    """The country (ISO 3166 alpha-2) of a phone number in E.164 form, or None.

    Every +1 number counts as US: the North American plan shares one numbering, and US ZIP
    codes are the postal codes we can read there.
    """
    if not number or not number.startswith("+"):
        return None
    import phonenumbers  # imported lazily, as in region_problem

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if parsed.country_code == 1:
        return "US"
    return phonenumbers.region_code_for_number(parsed)


def stored_postal_country(
    code: str | None,
    *,
    lat: float | None = None,
    lon: float | None = None,
    phone: str | None = None,
    time_zone: str | None = None,
    default: str = "US",
) -> str:
    """The country a subscriber's stored postal code was read in (pure, offline).

    No column records it, and the same five digits are a ZIP in Iowa and a PLZ in Köln. A
    sign-up read the code in one country (the phone number's, the form's choice, the page's
    language) and stored that country's centroid and time zone, so the stored data tells:
    the country whose centroid of the code is the stored one, else the phone number's
    country where the code exists, else the country whose time zone the code has, else the
    phone number's country, else ``default``.
    """
    known: dict[str, PostalPlace] = {}
    for country in _LOOKUPS:
        place = lookup_postal_code(code, country) if code else None
        if place is not None:
            known[country] = place
    if lat is not None and lon is not None and known:
        nearest = min(known, key=lambda c: distance_miles(lat, lon, known[c].lat, known[c].lon))
        place = known[nearest]
        if distance_miles(lat, lon, place.lat, place.lon) <= SAME_PLACE_MILES:
            return nearest
    hinted = phone_country(phone)
    if hinted is not None and hinted in known:
        return hinted
    for country, place in known.items():
        if time_zone and place.time_zone == time_zone:
            return country
    return hinted if hinted is not None and hinted in _LOOKUPS else default


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


# --------------------------------------------------------------------------- region codes

# ISO 3166-2 subdivisions of the countries the notifier has postal codes for.
US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "DC",
        "AS",
        "GU",
        "MP",
        "PR",
        "UM",
        "VI",
    ]
)
DE_STATES = frozenset(
    ["BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH"]
)
SUBDIVISIONS = {"US": US_STATES, "DE": DE_STATES}
_SUBDIVISION_PART = re.compile(r"^[A-Z0-9]{1,3}$")


def _is_country(code: str) -> bool:
    import phonenumbers  # its list of regions is ISO 3166-1 alpha-2

    return code in phonenumbers.SUPPORTED_REGIONS


def region_problem(code: object) -> str | None:
    """Why ``code`` is not an ISO 3166 region a scraper may declare, or None when it is.

    Regions are a country (``US``, ``DE``) or a subdivision (``US-MA``, ``DE-NW``). A bare
    US state code is the commonest slip: ``MA`` is Morocco to ISO, and ``CA`` is Canada.
    """
    if not isinstance(code, str) or not code.strip():
        return f"region {code!r} must be a code such as 'US' or 'US-MA'"
    text = code.strip()
    if text != code or not text.isascii() or text.upper() != text:
        return f"region {code!r}: write it upper case without spaces, e.g. {text.upper()!r}"
    country, dash, part = text.partition("-")
    if not dash:
        if country in _LOOKUPS:
            return None
        if country in US_STATES:
            also = " (a country code to ISO 3166)" if _is_country(country) else ""
            return (
                f"region {code!r}{also} has no postal codes here; a US scraper "
                f"probably means 'US-{country}'"
            )
        if len(country) == 2 and _is_country(country):
            return None
        return f"region {code!r} is not an ISO 3166 country: use e.g. 'US' or 'US-MA'"
    if len(country) != 2 or not _is_country(country):
        return f"region {code!r}: {country!r} is not an ISO 3166 country code"
    known = SUBDIVISIONS.get(country)
    if known is not None and part not in known:
        return f"region {code!r}: {part!r} is not a subdivision of {country} (ISO 3166-2)"
    if not _SUBDIVISION_PART.match(part):
        return f"region {code!r}: {part!r} is not an ISO 3166-2 subdivision code"
    return None


# --------------------------------------------------------------------------- bundled countries

register_country("US", us.lookup, us.normalize)
register_country("DE", de.lookup, de.normalize)  # its table is read on the first German lookup
