"""Reading a resident's search (postal code, radius, country) into a place, or a clear error.

Shared by the HTML ``/search`` page and ``/api/v1/availability``; pure apart from the offline
postal-code table. Inputs are bounded: a code of at most 10 characters, a radius of 1 to 100
miles, a known country.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from notifier.geo import PostalPlace, lookup_postal_code, normalize_postal_code
from notifier.web.public.snapshot import Place, Snapshot

__all__ = ["COUNTRIES", "MAX_RADIUS", "SearchError", "SearchQuery", "read_search", "run_search"]

COUNTRIES = ("US", "DE")
MAX_RADIUS = 100
DEFAULT_RADIUS = 10
MAX_CODE_LENGTH = 10


class SearchError(ValueError):
    """A search that cannot run; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class SearchQuery:
    place: PostalPlace
    radius_miles: int


def default_country(snapshot: Snapshot) -> str:
    """The country most places of this deployment are in (US when there are none)."""
    counts = Counter(p.row.country.upper() for p in snapshot.places)
    common = counts.most_common(1)
    return common[0][0] if common and common[0][0] in COUNTRIES else "US"


def read_search(
    postal_code: str | None, radius: str | None, country: str | None, *, fallback_country: str
) -> SearchQuery:
    code = (postal_code or "").strip()
    if not code:
        raise SearchError("Please enter a postal code (ZIP), for example 02139.")
    if len(code) > MAX_CODE_LENGTH:
        raise SearchError(f"A postal code has at most {MAX_CODE_LENGTH} characters.")
    chosen = (country or fallback_country).strip().upper()
    if chosen not in COUNTRIES:
        raise SearchError(f"Country must be one of {', '.join(COUNTRIES)}.")
    miles = DEFAULT_RADIUS
    if radius not in (None, ""):
        try:
            miles = int(str(radius).strip())
        except ValueError:
            raise SearchError(
                f"The distance must be a whole number of miles from 1 to {MAX_RADIUS}."
            ) from None
        if not 1 <= miles <= MAX_RADIUS:
            raise SearchError(f"The distance must be from 1 to {MAX_RADIUS} miles.")
    normalized = normalize_postal_code(code, chosen)
    if normalized is None:
        raise SearchError(f"{code!r} is not a postal code we can read, for example 02139.")
    place = lookup_postal_code(normalized, chosen)
    if place is None:
        raise SearchError(f"We do not know the postal code {normalized}.", status=404)
    return SearchQuery(place, miles)


def run_search(snapshot: Snapshot, query: SearchQuery) -> list[Place]:
    return snapshot.near(query.place.lat, query.place.lon, query.radius_miles)
