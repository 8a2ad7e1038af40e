"""The JSON API: pydantic response models and pure builders from the snapshot.

``/api/v1/locations`` is a static file (every place); ``/api/v1/availability`` answers a
postal-code search from the in-memory snapshot. A place whose provider is down has status
``unknown`` and ``status_unknown_since``; its ``appointments`` are the last known count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from notifier.web.public.render_cache import RenderCache, content_key
from notifier.web.public.search import SearchQuery
from notifier.web.public.snapshot import Place, Snapshot

__all__ = [
    "AvailabilityDocument",
    "ErrorBody",
    "LocationOut",
    "LocationsDocument",
    "availability_document",
    "locations_document",
    "locations_json",
]


class LocationOut(BaseModel):
    id: str = Field(description="Stable id: '<provider>:<place>'.")
    name: str
    address: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str
    region: str = Field(description="Country and state, e.g. 'US-MA'.")
    lat: float | None
    lon: float | None
    booking_url: str | None
    status: Literal["available", "none", "unknown"]
    appointments: int | None = Field(
        description="Open appointments (last known when status is unknown; null: not given)."
    )
    by_date: dict[str, int | None] = Field(description="Local date -> open appointments.")
    products: list[str]
    checked_at: dt.datetime = Field(description="When we last polled the provider.")
    changed_at: dt.datetime = Field(description="When these numbers last changed.")
    status_unknown_since: dt.datetime | None = Field(
        description="The provider is not answering since then."
    )
    distance_miles: float | None = None


class LocationsDocument(BaseModel):
    generated_at: dt.datetime
    locations: list[LocationOut]


class AvailabilityDocument(BaseModel):
    generated_at: dt.datetime
    postal_code: str
    country: str
    radius_miles: int
    locations: list[LocationOut]


class ErrorBody(BaseModel):
    error: str = Field(description="What is wrong with the request, in plain words.")


def location_out(place: Place) -> LocationOut:
    row = place.row
    status = "unknown" if place.unknown_since is not None else row.status
    return LocationOut(
        id=row.id,
        name=row.name,
        address=row.address,
        city=row.city,
        state=row.state,
        postal_code=row.postal_code,
        country=row.country,
        region=place.region,
        lat=row.lat,
        lon=row.lon,
        booking_url=row.booking_url,
        status=status if status in ("available", "none") else "unknown",
        appointments=row.appointments,
        by_date=dict(sorted(row.by_date.items())),
        products=list(row.products),
        checked_at=row.checked_at,
        changed_at=row.changed_at,
        status_unknown_since=place.unknown_since,
        distance_miles=None if place.distance_miles is None else round(place.distance_miles, 1),
    )


def locations_json(snapshot: Snapshot, cache: RenderCache | None = None) -> bytes:
    """``locations_document(snapshot)`` as JSON bytes, reusing unchanged places' JSON.

    The same document as ``model_dump_json`` gives, assembled from per-place pieces: each
    place's JSON without ``checked_at`` (which changes on every poll) is cached by content.
    """
    parts = []
    for place in snapshot.places:

        def build(place: Place = place) -> str:
            return location_out(place).model_dump_json(exclude={"checked_at"})

        rest = cache.get(("json", content_key(place)), build) if cache else build()
        checked = _instant(place.row.checked_at)
        parts.append(f'{{"checked_at":"{checked}",{rest[1:]}')
    head = f'{{"generated_at":"{_instant(snapshot.generated_at)}","locations":['
    return (head + ",".join(parts) + "]}").encode()


def _instant(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def locations_document(snapshot: Snapshot) -> LocationsDocument:
    return LocationsDocument(
        generated_at=snapshot.generated_at,
        locations=[location_out(p) for p in snapshot.places],
    )


def availability_document(
    snapshot: Snapshot, query: SearchQuery, places: Sequence[Place]
) -> AvailabilityDocument:
    return AvailabilityDocument(
        generated_at=snapshot.generated_at,
        postal_code=query.place.postal_code,
        country=query.place.country,
        radius_miles=round(query.radius_miles),  # the API reads whole miles
        locations=[location_out(p) for p in places],
    )
