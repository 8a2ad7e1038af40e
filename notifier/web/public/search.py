"""Reading a resident's search (postal code, radius, country) into a place, or a clear error.

Shared by the HTML ``/search`` page and ``/api/v1/availability``; pure apart from the offline
postal-code table. Inputs are bounded: a code of at most 10 characters, a radius of whole
numbers in the reader's unit (1 to 100 miles, or 1 to 160 km on the German pages, as
``notifier.messaging.render.distance_unit`` decides for every text), a known country or
none: then the code is read in the page's country first (a PLZ on ``/de/``, a ZIP on the
English and Spanish pages), then in the others (``search_countries``). The
radius becomes miles here, once; everything after (``Snapshot.near``) works in miles. The API
always reads miles.

Errors carry a reason and values, not words: the page says them in its language
(``templates/strings/<locale>.json``, ``error_<code>``), the API in English.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from notifier.geo import PostalPlace, lookup_postal_code, normalize_postal_code
from notifier.messaging import render
from notifier.web.public.snapshot import Place, Snapshot

__all__ = [
    "COUNTRIES",
    "MAX_RADIUS",
    "RADIUS_RULES",
    "RadiusRule",
    "SearchError",
    "SearchQuery",
    "radius_rule",
    "read_search",
    "run_search",
    "search_countries",
]

COUNTRIES = ("US", "DE")
MAX_CODE_LENGTH = 10


@dataclass(frozen=True, slots=True)
class RadiusRule:
    """The radius a search takes in one unit: whole numbers from 1 to ``most``."""

    unit: str  # "mi" or "km"
    default: int
    most: int

    def to_miles(self, radius: int) -> float:
        return radius / render.KM_PER_MILE if self.unit == "km" else float(radius)


# The same distances as SMS sign-ups take (``notifier.messaging.render``): 160 km is 99.4 miles.
RADIUS_RULES = {
    unit: RadiusRule(unit, render.DEFAULT_RADIUS[unit], most)
    for unit, most in render.MAX_RADIUS.items()
}
#: the largest radius of the API, in miles
MAX_RADIUS = RADIUS_RULES["mi"].most


def radius_rule(locale: str) -> RadiusRule:
    """The radius rule of the pages in ``locale``: km in German, miles otherwise."""
    return RADIUS_RULES[render.distance_unit(locale)]


class SearchError(ValueError):
    """A search that cannot run: ``reason`` names the problem (``error_<reason>`` in the page
    strings), ``fields`` fill its placeholders, ``status`` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int = 400, **fields: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.fields = fields


@dataclass(frozen=True, slots=True)
class SearchQuery:
    place: PostalPlace
    #: as given, in ``unit``
    radius: int
    unit: str
    radius_miles: float


def default_country(snapshot: Snapshot) -> str:
    """The country most places of this deployment are in (US when there are none)."""
    counts = Counter(p.row.country.upper() for p in snapshot.places)
    common = counts.most_common(1)
    return common[0][0] if common and common[0][0] in COUNTRIES else "US"


def search_countries(snapshot: Snapshot, locale: str | None = None) -> tuple[str, ...]:
    """The countries a postal code given without a country is read in, in order.

    A page reads the code in its language's country first (``postal_country``: a PLZ on
    ``/de/``, a ZIP on the English and Spanish pages), whatever most places of the deployment
    are; the API (no ``locale``) starts with the deployment's country. Then the deployment's
    country, then the others: five digits that are no ZIP may still be a PLZ.
    """
    first = render.postal_country(locale) if locale is not None else None
    order = (first, default_country(snapshot), *COUNTRIES)
    return tuple(dict.fromkeys(c for c in order if c in COUNTRIES))


def read_search(
    postal_code: str | None,
    radius: str | None,
    country: str | None,
    *,
    countries: Sequence[str],
    unit: str = "mi",
) -> SearchQuery:
    """Read a search whose radius is given in ``unit`` (``"mi"`` or ``"km"``).

    A ``country`` that is given is the only one the code is read in; without it the code is
    tried in ``countries`` in order (``search_countries``) and the first that knows it wins.
    """
    rule = RADIUS_RULES[unit]
    code = (postal_code or "").strip()
    if not code:
        raise SearchError("postal_code_missing")
    if len(code) > MAX_CODE_LENGTH:
        raise SearchError("postal_code_long", most=MAX_CODE_LENGTH)
    chosen = (country or "").strip().upper()
    if chosen and chosen not in COUNTRIES:
        raise SearchError("country", countries=", ".join(COUNTRIES))
    given = rule.default
    if radius not in (None, ""):
        try:
            given = int(str(radius).strip())
        except ValueError:
            raise SearchError("radius_number", most=rule.most) from None
        if not 1 <= given <= rule.most:
            raise SearchError("radius_range", most=rule.most)
    readable: list[str] = []
    for candidate in (chosen,) if chosen else countries:
        normalized = normalize_postal_code(code, candidate)
        if normalized is None:
            continue
        readable.append(normalized)
        place = lookup_postal_code(normalized, candidate)
        if place is not None:
            return SearchQuery(place, given, rule.unit, rule.to_miles(given))
    if not readable:
        raise SearchError("postal_code_unreadable", code=code)
    raise SearchError("postal_code_unknown", status=404, code=readable[0])


def run_search(snapshot: Snapshot, query: SearchQuery) -> list[Place]:
    return snapshot.near(query.place.lat, query.place.lon, query.radius_miles)
